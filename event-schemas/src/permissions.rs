//! The permission vocabulary (the seed's RolePermission, UserPermission and
//! PermissionScope) and the events of a tenant's permission matrix.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{Role, TenantId};

/// The aggregate type of a tenant's permission matrix.
pub const AGGREGATE_TYPE: &str = "TenantPermissions";

/// The id of `tenant`'s permission matrix (one per tenant, derived from it).
pub fn matrix_id(tenant: &TenantId) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6d6f_7665_7273_2d63_726d_2d70_6572_6d73);
    Uuid::new_v5(&NAMESPACE, tenant.as_str().as_bytes())
}

crate::common::wire_enum! {
    /// What a permission is about.
    Resource {
        Customer => "CUSTOMER",
        Lead => "LEAD",
        AuditLog => "AUDIT_LOG",
        /// A customer's personal data as such; deleting it forgets the person.
        PersonalData => "PERSONAL_DATA",
        /// The permission matrix and grants themselves.
        Permission => "PERMISSION",
        /// Quotes; APPROVE lets a quote over the tenant's threshold be sent.
        Quote => "QUOTE",
        /// Invoices; APPROVE issues them and writes credit notes, DELETE voids.
        Invoice => "INVOICE",
        /// Payments on invoices and deposits on quotes; UPDATE refunds.
        Payment => "PAYMENT",
        /// The financial ledger and its manual entries.
        FinancialTransaction => "FINANCIAL_TRANSACTION",
        /// Financial reports (AR aging, revenue) and sales settings; the
        /// operations reports (utilization, maintenance due, valuation);
        /// saved and scheduled reports (CREATE also generates) and the KPIs
        /// (OWN: over the caller's own leads, quotes and invoices).
        Report => "REPORT",
        /// Trucks, trailers and tools, and their maintenance (UPDATE also
        /// schedules, starts and completes maintenance; DELETE retires or sells).
        Equipment => "EQUIPMENT",
        /// Equipment assigned to jobs and crews (UPDATE checks out, returns,
        /// reschedules; DELETE cancels).
        EquipmentAssignment => "EQUIPMENT_ASSIGNMENT",
        /// Stock items and their transactions and transfers.
        Inventory => "INVENTORY",
        /// The tenant's profile: company, locations, time zone, locale,
        /// email sender, working hours, default job duration.
        TenantProfile => "TENANT_PROFILE",
        /// The staff directory (OWN: the caller's own entry).
        Staff => "STAFF",
        /// Schedules (OWN: the caller is on the crew; UPDATE also starts,
        /// completes and reschedules; DELETE cancels).
        Schedule => "SCHEDULE",
        /// Availability entries (OWN: the caller's own).
        Availability => "AVAILABILITY",
        /// Message templates (UPDATE: edit, deactivate, activate).
        Template => "TEMPLATE",
        /// Messages to customers and staff (OWN: about a lead assigned to
        /// the caller, or written by the caller; CREATE also records a
        /// customer's consent; UPDATE sends and cancels). Who may READ but
        /// not CREATE sees a message's metadata, not its content.
        Communication => "COMMUNICATION",
        /// The automated messages' rules.
        CommunicationRule => "COMMUNICATION_RULE",
        /// Outbound webhooks, their deliveries and their log (UPDATE also
        /// rotates the secret, enables, disables, retries and recovers).
        Webhook => "WEBHOOK",
        /// Integrations, their API keys and sync logs.
        Integration => "INTEGRATION",
        /// Dashboards (OWN: the caller's own; public ones are read by the
        /// whole tenant).
        Dashboard => "DASHBOARD",
    }
}

crate::common::wire_enum! {
    Action {
        Create => "CREATE",
        Read => "READ",
        Update => "UPDATE",
        Delete => "DELETE",
        Approve => "APPROVE",
    }
}

crate::common::wire_enum! {
    /// Which records a permission covers.
    Scope {
        /// Records assigned to the user, created by the user, or assigned to
        /// no one (the open pool).
        Own => "OWN",
        /// Records of one of the user's locations (JWT `locations`).
        Location => "LOCATION",
        /// Every record of the tenant.
        Client => "CLIENT",
        /// Reserved for platform administrators; within this API (which is
        /// always one tenant's) it means the same as CLIENT.
        All => "ALL",
    }
}

/// A role's permission for one resource and action was set by an admin;
/// `scope: null` takes it away. Overrides the built-in default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RolePermissionSet {
    pub tenant_id: TenantId,
    pub role: Role,
    pub resource: Resource,
    pub action: Action,
    pub scope: Option<Scope>,
    pub reason: String,
}

/// A user was granted a permission beyond their role's, until `expires_at`
/// (for good when absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserPermissionGranted {
    pub tenant_id: TenantId,
    pub grant_id: Uuid,
    pub user_id: Uuid,
    pub resource: Resource,
    pub action: Action,
    pub scope: Scope,
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: String,
}

/// A grant was revoked before it expired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserPermissionRevoked {
    pub grant_id: Uuid,
    pub reason: String,
}

crate::event_enum! {
    /// Every event of a tenant's permission matrix.
    PermissionEvent for AGGREGATE_TYPE {
        RolePermissionSet("1.6", "(1.1: sales resources; 1.2: equipment, assignments, inventory; 1.3: tenant profile, staff, schedules, availability; 1.4: templates, communications, communication rules; 1.5: webhooks, integrations; 1.6: dashboards, saved reports) A role's scope for a resource and action was set (or taken away) by an admin."),
        UserPermissionGranted("1.6", "(1.1: sales resources; 1.2: equipment, assignments, inventory; 1.3: tenant profile, staff, schedules, availability; 1.4: templates, communications, communication rules; 1.5: webhooks, integrations; 1.6: dashboards, saved reports) A user was granted a permission, with a reason and an optional expiry."),
        UserPermissionRevoked("1.0", "A user's grant was revoked."),
    }
}

impl Scope {
    /// CLIENT and ALL cover the whole tenant.
    pub fn is_tenant_wide(self) -> bool {
        matches!(self, Self::Client | Self::All)
    }
}
