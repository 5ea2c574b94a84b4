//! The one place that decides who may do what.
//!
//! Every command route, every query route and every list filter asks
//! [`authorize`] or [`list_scope`], which ask [`Policy::scopes`]. Tenant
//! isolation is not decided here: it comes first and is absolute (another
//! tenant's id is simply not found).
//!
//! A permission is role × resource × action → scope (OWN, LOCATION, CLIENT,
//! ALL). Each tenant starts from the defaults below ([`default_scope`]);
//! admins override them and grant users extra permissions with an expiry
//! (events of the tenant's permission matrix, effective from the next
//! request; an expired grant simply stops counting).
//!
//! | role       | Customer                 | Lead                         | AuditLog | PersonalData | Permission |
//! |------------|--------------------------|------------------------------|----------|--------------|------------|
//! | admin      | all, CLIENT              | all, CLIENT                  | read     | delete       | all        |
//! | manager    | all, CLIENT              | all, CLIENT                  | read     | —            | read       |
//! | sales      | create/read/update CLIENT| create/read/update OWN       | —        | —            | —          |
//! | dispatcher | read CLIENT              | read CLIENT                  | —        | —            | —          |
//! | accountant | read CLIENT              | read CLIENT                  | —        | —            | —          |
//! | auditor    | read CLIENT              | read CLIENT                  | read     | —            | read       |
//! | crew       | —                        | —                            | —        | —            | —          |
//!
//! | role       | Quote (APPROVE: over the limit) | Invoice (APPROVE: issue, credit; DELETE: void) | Payment (UPDATE: refund) | FinancialTransaction | Report (UPDATE: sales settings) |
//! |------------|---------------------------|------------------------|--------------------|--------------|------------------|
//! | admin      | all, CLIENT               | all, CLIENT            | all, CLIENT        | all, CLIENT  | all, CLIENT (below) |
//! | manager    | all, CLIENT               | all, CLIENT            | all, CLIENT        | all, CLIENT  | all, CLIENT (below) |
//! | sales      | create/read/update OWN    | read OWN               | create/read OWN (deposits) | —    | —                |
//! | dispatcher | read CLIENT               | —                      | —                  | —            | —                |
//! | accountant | read CLIENT               | all, CLIENT            | all, CLIENT        | all, CLIENT  | read CLIENT      |
//! | auditor    | read CLIENT               | read CLIENT            | read CLIENT        | read CLIENT  | read CLIENT      |
//! | crew       | —                         | —                      | —                  | —            | —                |
//!
//! | role       | Equipment (DELETE: retire/sell) | EquipmentAssignment (DELETE: cancel) | Inventory |
//! |------------|---------------------|-------------------------|---------------------|
//! | admin      | all, CLIENT         | all, CLIENT             | all, CLIENT         |
//! | manager    | all, CLIENT         | all, CLIENT             | all, CLIENT         |
//! | dispatcher | create/read/update CLIENT | all but approve, CLIENT | create/read/update CLIENT |
//! | crew       | read CLIENT         | read/update OWN (their own: check out, return) | — |
//! | accountant | read CLIENT         | read CLIENT             | read CLIENT (valuation) |
//! | auditor    | read CLIENT         | read CLIENT             | read CLIENT         |
//! | sales      | —                   | —                       | —                   |
//!
//! | role       | TenantProfile | Staff (OWN: the caller's own entry) |
//! |------------|---------------|-------------------------------------|
//! | admin      | all, CLIENT   | all, CLIENT                         |
//! | manager    | —             | all, CLIENT                         |
//! | dispatcher | —             | read CLIENT                         |
//! | auditor    | —             | read CLIENT                         |
//! | crew       | —             | read OWN                            |
//! | sales, accountant | —      | —                                   |
//!
//! | role       | Schedule (OWN: on its crew; UPDATE: change, start, complete, reschedule; DELETE: cancel) | Availability (OWN: the caller's own) |
//! |------------|-----------------------------|-----------------------------|
//! | admin, manager, dispatcher | all, CLIENT | all, CLIENT                 |
//! | crew       | read OWN (and answer their own invitations) | create/read/delete OWN |
//! | auditor    | read CLIENT                 | read CLIENT                 |
//! | sales      | read OWN (their own leads' schedules) | —                 |
//! | accountant | —                           | —                           |
//!
//! | role       | Template      | Communication (OWN: about the caller's lead, or written by them; UPDATE: send, cancel) | CommunicationRule |
//! |------------|---------------|-----------------------------|-------------------|
//! | admin, manager | all, CLIENT | all, CLIENT               | all, CLIENT       |
//! | sales      | read CLIENT   | create/read/update OWN      | —                 |
//! | dispatcher, accountant | read CLIENT | create/read/update CLIENT | —       |
//! | auditor    | read CLIENT   | read CLIENT (metadata, not content) | read CLIENT |
//! | crew       | —             | —                           | —                 |
//!
//! | role       | Webhook (UPDATE: rotate, enable, disable, retry, recover) | Integration |
//! |------------|---------------|-------------|
//! | admin      | all, CLIENT   | all, CLIENT |
//! | auditor    | read CLIENT   | read CLIENT |
//! | others     | —             | —           |
//!
//! | role       | Report, saved and scheduled (CREATE: save and generate) and KPIs | Dashboard (OWN: the caller's own; public ones readable by all) |
//! |------------|---------------------------------|-----------------------------|
//! | admin, manager | all, CLIENT                 | all, CLIENT                 |
//! | accountant | create/read CLIENT              | create/read/update/delete OWN |
//! | sales      | read OWN (KPIs over their own leads, quotes, invoices) | create/read/update/delete OWN |
//! | dispatcher | —                               | create/read/update/delete OWN |
//! | auditor    | read CLIENT                     | read CLIENT                 |
//! | crew       | —                               | —                           |
//!
//! The operations reports need read on what they report: utilization and
//! maintenance due on Equipment, the inventory valuation on Inventory.
//!
//! OWN covers records assigned to the user, created by the user, or assigned
//! to no one (the open pool); LOCATION records of one of the user's
//! locations; CLIENT and ALL the whole tenant. "Delete" on a customer is
//! deactivation; on personal data it is forgetting the person.

use std::collections::HashMap;

use event_schemas::Role;
pub use event_schemas::permissions::{Action, Resource, Scope};
use uuid::Uuid;

use crate::auth::Principal;
use crate::problem::ApiError;

/// The built-in default of a new tenant.
pub fn default_scope(role: Role, resource: Resource, action: Action) -> Option<Scope> {
    use Action::*;
    use Resource::*;
    use Role::*;
    match (role, resource, action) {
        (Admin | Manager, Customer | Lead, _) => Some(Scope::Client),
        (Admin | Manager | Auditor, AuditLog, Read) => Some(Scope::Client),
        (Admin, PersonalData, Delete) => Some(Scope::Client),
        (Admin, Permission, _) => Some(Scope::Client),
        (Manager | Auditor, Permission, Read) => Some(Scope::Client),
        (Sales, Customer, Create | Read | Update) => Some(Scope::Client),
        (Sales, Lead, Create | Read | Update) => Some(Scope::Own),
        (Dispatcher | Accountant | Auditor, Customer | Lead, Read) => Some(Scope::Client),
        // Money. Managers approve quotes over the tenant's limit; accountants
        // own invoices, payments, refunds and the ledger; sales quote (their
        // own), see their own invoices, and take deposits, but never approve,
        // issue, void or refund; auditors read everything; crew nothing.
        (Admin | Manager, Quote | Invoice | Payment | FinancialTransaction, _) => {
            Some(Scope::Client)
        }
        (Admin | Manager, Report, _) => Some(Scope::Client),
        (Accountant, Report, Create) => Some(Scope::Client),
        (Sales, Report, Read) => Some(Scope::Own),
        (Sales, Quote, Create | Read | Update) => Some(Scope::Own),
        (Sales, Invoice, Read) => Some(Scope::Own),
        (Sales, Payment, Create | Read) => Some(Scope::Own),
        (Accountant, Invoice | Payment | FinancialTransaction, _) => Some(Scope::Client),
        (Accountant, Quote | Report, Read) => Some(Scope::Client),
        (Dispatcher, Quote, Read) => Some(Scope::Client),
        (Auditor, Quote | Invoice | Payment | FinancialTransaction | Report, Read) => {
            Some(Scope::Client)
        }
        // Operations. Dispatchers and managers run the fleet and assign it;
        // crews see and check out/return their own assignments; accountants
        // read the equipment and stock (valuations); auditors read all.
        (Admin | Manager, Equipment | EquipmentAssignment | Inventory, _) => Some(Scope::Client),
        (Dispatcher, Equipment | EquipmentAssignment | Inventory, Create | Read | Update) => {
            Some(Scope::Client)
        }
        (Dispatcher, EquipmentAssignment, Delete) => Some(Scope::Client),
        (Crew, EquipmentAssignment, Read | Update) => Some(Scope::Own),
        (Crew, Equipment, Read) => Some(Scope::Client),
        (Accountant | Auditor, Equipment | EquipmentAssignment | Inventory, Read) => {
            Some(Scope::Client)
        }
        // The tenant and its people. Admins keep the profile; admins and
        // managers keep the staff directory, dispatchers and auditors read
        // it, crew read their own entry.
        (Admin, TenantProfile, _) => Some(Scope::Client),
        (Admin | Manager, Staff, _) => Some(Scope::Client),
        (Dispatcher | Auditor, Staff, Read) => Some(Scope::Client),
        (Crew, Staff, Read) => Some(Scope::Own),
        // Scheduling. Dispatchers and managers schedule; crew see and
        // answer their own schedules and keep their own availability; sales
        // see the schedules of their own leads; auditors read everything.
        (Admin | Manager | Dispatcher, Schedule | Availability, _) => Some(Scope::Client),
        (Crew | Sales, Schedule, Read) => Some(Scope::Own),
        (Crew, Availability, Create | Read | Delete) => Some(Scope::Own),
        (Auditor, Schedule | Availability, Read) => Some(Scope::Client),
        // Communications. Managers and admins keep the templates and the
        // automated rules; sales write to their own customers; dispatchers
        // (move reminders, crews) and accountants (invoices) to anyone;
        // crew send nothing; auditors read the metadata, not the content.
        (Admin | Manager, Template | Communication | CommunicationRule, _) => Some(Scope::Client),
        (Sales | Dispatcher | Accountant | Auditor, Template, Read) => Some(Scope::Client),
        (Sales, Communication, Create | Read | Update) => Some(Scope::Own),
        (Dispatcher | Accountant, Communication, Create | Read | Update) => Some(Scope::Client),
        (Auditor, Communication | CommunicationRule, Read) => Some(Scope::Client),
        // Integrations and webhooks: admins manage them; auditors read
        // them and their logs.
        (Admin, Webhook | Resource::Integration, _) => Some(Scope::Client),
        (Auditor, Webhook | Resource::Integration, Read) => Some(Scope::Client),
        // Dashboards: everyone who reads reports keeps their own; admins
        // and managers keep the tenant's; auditors read them all.
        (Admin | Manager, Dashboard, _) => Some(Scope::Client),
        (Sales | Dispatcher | Accountant, Dashboard, Create | Read | Update | Delete) => {
            Some(Scope::Own)
        }
        (Auditor, Dashboard, Read) => Some(Scope::Client),
        _ => None,
    }
}

/// What a request's caller is allowed beyond the defaults: the tenant's
/// overrides for the caller's role, and the caller's active grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// (resource, action) → scope; `None` takes the default away.
    pub overrides: HashMap<(Resource, Action), Option<Scope>>,
    /// Active (not expired, not revoked) grants.
    pub grants: Vec<(Resource, Action, Scope)>,
    /// The tenant's permission matrix version this policy was read at.
    pub version: i64,
    /// When the earliest of `grants` expires (the policy is stale from then).
    pub valid_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl Policy {
    /// Every scope under which `role` may do `action` on `resource`: the
    /// role's (overridden or default) plus the grants. Empty: not allowed.
    pub fn scopes(&self, role: Role, resource: Resource, action: Action) -> Vec<Scope> {
        let role_scope = match self.overrides.get(&(resource, action)) {
            Some(overridden) => *overridden,
            None => default_scope(role, resource, action),
        };
        let mut scopes: Vec<Scope> = role_scope.into_iter().collect();
        for (r, a, s) in &self.grants {
            if (*r, *a) == (resource, action) && !scopes.contains(s) {
                scopes.push(*s);
            }
        }
        scopes
    }
}

/// The facts about a record that scopes look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordOwnership {
    pub assigned_to: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub location_id: Option<String>,
}

fn covers(scope: Scope, principal: &Principal, record: &RecordOwnership) -> bool {
    match scope {
        Scope::Client | Scope::All => true,
        Scope::Own => {
            record.assigned_to.is_none()
                || record.assigned_to == Some(principal.user_id)
                || record.created_by == Some(principal.user_id)
        }
        Scope::Location => record
            .location_id
            .as_ref()
            .is_some_and(|l| principal.locations.contains(l)),
    }
}

fn describe(resource: Resource, action: Action) -> String {
    format!("{action} on {resource}").to_lowercase()
}

/// Checks that `principal` may do `action` on `resource`, and when a record
/// is given, that one of the permission's scopes covers it.
pub fn authorize(
    principal: &Principal,
    resource: Resource,
    action: Action,
    record: Option<RecordOwnership>,
) -> Result<(), ApiError> {
    let scopes = principal.policy.scopes(principal.role, resource, action);
    if scopes.is_empty() {
        return Err(ApiError::forbidden(format!(
            "role {} may not {}",
            principal.role,
            describe(resource, action)
        )));
    }
    match record {
        Some(record) if !scopes.iter().any(|s| covers(*s, principal, &record)) => {
            Err(ApiError::forbidden(format!(
                "the {} scope of role {} for {} does not cover this record",
                scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("/"),
                principal.role,
                describe(resource, action)
            )))
        }
        _ => Ok(()),
    }
}

/// The facts of a record nobody is assigned and no location owns (a
/// customer): OWN covers it (the open pool), LOCATION does not.
pub fn unowned() -> Option<RecordOwnership> {
    Some(RecordOwnership::default())
}

/// For reads that cannot be narrowed to records (the audit history, exports):
/// only a tenant-wide scope (CLIENT, ALL) allows them.
pub fn authorize_tenant_wide(
    principal: &Principal,
    resource: Resource,
    action: Action,
) -> Result<(), ApiError> {
    authorize(principal, resource, action, None)?;
    if principal
        .policy
        .scopes(principal.role, resource, action)
        .iter()
        .any(|s| s.is_tenant_wide())
    {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{} needs a tenant-wide (CLIENT) scope",
            describe(resource, action)
        )))
    }
}

/// How a list must be filtered for `principal`; `Err` if they may not read
/// the resource at all.
pub fn list_scope(principal: &Principal, resource: Resource) -> Result<ListScope, ApiError> {
    authorize(principal, resource, Action::Read, None)?;
    let scopes = principal
        .policy
        .scopes(principal.role, resource, Action::Read);
    if scopes.iter().any(|s| s.is_tenant_wide()) {
        return Ok(ListScope::Tenant);
    }
    Ok(ListScope::Limited {
        own: scopes.contains(&Scope::Own).then_some(principal.user_id),
        locations: scopes
            .contains(&Scope::Location)
            .then(|| principal.locations.clone()),
    })
}

/// A filter for list queries (always within the caller's tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListScope {
    Tenant,
    /// Records matching any of: OWN for this user, one of these locations.
    Limited {
        own: Option<Uuid>,
        locations: Option<Vec<String>>,
    },
}

impl ListScope {
    /// The user whose own (and unassigned) records are visible, if limited.
    pub fn own(&self) -> Option<Uuid> {
        match self {
            Self::Limited { own, .. } => *own,
            Self::Tenant => None,
        }
    }

    /// The locations whose records are visible, if limited by location.
    pub fn locations(&self) -> Option<&[String]> {
        match self {
            Self::Limited { locations, .. } => locations.as_deref(),
            Self::Tenant => None,
        }
    }

    pub fn is_limited(&self) -> bool {
        matches!(self, Self::Limited { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_schemas::TenantId;

    fn who(role: Role, policy: Policy) -> Principal {
        Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user_id: Uuid::from_u128(1),
            role,
            locations: vec!["mtl".into()],
            policy: std::sync::Arc::new(policy),
        }
    }

    /// The default table, written out independently of `default_scope`.
    #[test]
    fn the_defaults_hold_for_every_role_resource_and_action() {
        use Action::*;
        use Resource::*;
        for role in Role::ALL {
            for resource in Resource::ALL {
                for action in Action::ALL {
                    let expected = match (role, resource) {
                        (Role::Admin | Role::Manager, Customer | Lead) => Some(Scope::Client),
                        (Role::Admin | Role::Manager | Role::Auditor, AuditLog) => {
                            (*action == Read).then_some(Scope::Client)
                        }
                        (Role::Admin, PersonalData) => (*action == Delete).then_some(Scope::Client),
                        (Role::Admin, Permission) => Some(Scope::Client),
                        (Role::Manager | Role::Auditor, Permission) => {
                            (*action == Read).then_some(Scope::Client)
                        }
                        (Role::Sales, Customer) => {
                            matches!(action, Create | Read | Update).then_some(Scope::Client)
                        }
                        (Role::Sales, Lead) => {
                            matches!(action, Create | Read | Update).then_some(Scope::Own)
                        }
                        (Role::Dispatcher | Role::Accountant | Role::Auditor, Customer | Lead) => {
                            (*action == Read).then_some(Scope::Client)
                        }
                        (
                            Role::Admin | Role::Manager | Role::Accountant,
                            Invoice | Payment | FinancialTransaction,
                        ) => Some(Scope::Client),
                        (Role::Admin | Role::Manager, Quote) => Some(Scope::Client),
                        (Role::Admin | Role::Manager, Report | Dashboard) => Some(Scope::Client),
                        (Role::Accountant, Report) if *action == Create => Some(Scope::Client),
                        (Role::Sales, Report) => (*action == Read).then_some(Scope::Own),
                        (Role::Sales | Role::Dispatcher | Role::Accountant, Dashboard) => {
                            matches!(action, Create | Read | Update | Delete).then_some(Scope::Own)
                        }
                        (Role::Auditor, Dashboard) => (*action == Read).then_some(Scope::Client),
                        (Role::Sales, Quote) => {
                            matches!(action, Create | Read | Update).then_some(Scope::Own)
                        }
                        (Role::Sales, Invoice) => (*action == Read).then_some(Scope::Own),
                        (Role::Sales, Payment) => {
                            matches!(action, Create | Read).then_some(Scope::Own)
                        }
                        (Role::Accountant | Role::Dispatcher, Quote)
                        | (Role::Accountant, Report) => (*action == Read).then_some(Scope::Client),
                        (
                            Role::Auditor,
                            Quote | Invoice | Payment | FinancialTransaction | Report,
                        ) => (*action == Read).then_some(Scope::Client),
                        (
                            Role::Admin | Role::Manager,
                            Equipment | EquipmentAssignment | Inventory,
                        ) => Some(Scope::Client),
                        (Role::Dispatcher, EquipmentAssignment) => {
                            (*action != Approve).then_some(Scope::Client)
                        }
                        (Role::Dispatcher, Equipment | Inventory) => {
                            matches!(action, Create | Read | Update).then_some(Scope::Client)
                        }
                        (Role::Crew, EquipmentAssignment) => {
                            matches!(action, Read | Update).then_some(Scope::Own)
                        }
                        (Role::Crew, Equipment) => (*action == Read).then_some(Scope::Client),
                        (
                            Role::Accountant | Role::Auditor,
                            Equipment | EquipmentAssignment | Inventory,
                        ) => (*action == Read).then_some(Scope::Client),
                        (Role::Admin, TenantProfile) => Some(Scope::Client),
                        (Role::Admin | Role::Manager, Staff) => Some(Scope::Client),
                        (Role::Dispatcher | Role::Auditor, Staff) => {
                            (*action == Read).then_some(Scope::Client)
                        }
                        (Role::Crew, Staff) => (*action == Read).then_some(Scope::Own),
                        (
                            Role::Admin | Role::Manager | Role::Dispatcher,
                            Schedule | Availability,
                        ) => Some(Scope::Client),
                        (Role::Crew | Role::Sales, Schedule) => {
                            (*action == Read).then_some(Scope::Own)
                        }
                        (Role::Crew, Availability) => {
                            matches!(action, Create | Read | Delete).then_some(Scope::Own)
                        }
                        (Role::Auditor, Schedule | Availability) => {
                            (*action == Read).then_some(Scope::Client)
                        }
                        (
                            Role::Admin | Role::Manager,
                            Template | Communication | CommunicationRule,
                        ) => Some(Scope::Client),
                        (
                            Role::Sales | Role::Dispatcher | Role::Accountant | Role::Auditor,
                            Template,
                        ) => (*action == Read).then_some(Scope::Client),
                        (Role::Sales, Communication) => {
                            matches!(action, Create | Read | Update).then_some(Scope::Own)
                        }
                        (Role::Dispatcher | Role::Accountant, Communication) => {
                            matches!(action, Create | Read | Update).then_some(Scope::Client)
                        }
                        (Role::Auditor, Communication | CommunicationRule) => {
                            (*action == Read).then_some(Scope::Client)
                        }
                        (Role::Admin, Webhook | Integration) => Some(Scope::Client),
                        (Role::Auditor, Webhook | Integration) => {
                            (*action == Read).then_some(Scope::Client)
                        }
                        _ => None,
                    };
                    assert_eq!(
                        default_scope(*role, *resource, *action),
                        expected,
                        "{role} {resource} {action}"
                    );
                }
            }
        }
    }

    /// Every scope against records it must and must not cover.
    #[test]
    fn each_scope_covers_exactly_its_records() {
        let me = Uuid::from_u128(1);
        let other = Uuid::from_u128(2);
        let record = |assigned: Option<Uuid>, created: Option<Uuid>, location: Option<&str>| {
            RecordOwnership {
                assigned_to: assigned,
                created_by: created,
                location_id: location.map(str::to_owned),
            }
        };
        let p = who(Role::Sales, Policy::default());
        let cases = [
            (Scope::Own, record(Some(me), None, None), true),
            (Scope::Own, record(Some(other), Some(me), None), true),
            (Scope::Own, record(None, Some(other), None), true),
            (
                Scope::Own,
                record(Some(other), Some(other), Some("mtl")),
                false,
            ),
            (
                Scope::Location,
                record(Some(other), None, Some("mtl")),
                true,
            ),
            (Scope::Location, record(Some(me), None, Some("qc")), false),
            (Scope::Location, record(Some(me), None, None), false),
            (
                Scope::Client,
                record(Some(other), Some(other), Some("qc")),
                true,
            ),
            (Scope::All, record(Some(other), Some(other), None), true),
        ];
        for (scope, record, expected) in cases {
            assert_eq!(covers(scope, &p, &record), expected, "{scope} {record:?}");
        }
    }

    /// Every role × resource × action × scope: with the role's permission set
    /// to that scope, exactly the records the scope covers are allowed; with
    /// it taken away, nothing is; a grant of the scope restores exactly it.
    #[test]
    fn every_role_resource_action_and_scope_decides_as_its_scope_says() {
        let me = Uuid::from_u128(1);
        let records = [
            (
                "mine",
                RecordOwnership {
                    assigned_to: Some(me),
                    ..Default::default()
                },
                [true, false, true, true],
            ),
            (
                "another's, at my location",
                RecordOwnership {
                    assigned_to: Some(Uuid::from_u128(2)),
                    location_id: Some("mtl".into()),
                    ..Default::default()
                },
                [false, true, true, true],
            ),
            (
                "another's, elsewhere",
                RecordOwnership {
                    assigned_to: Some(Uuid::from_u128(2)),
                    location_id: Some("qc".into()),
                    ..Default::default()
                },
                [false, false, true, true],
            ),
        ];
        for role in Role::ALL {
            for resource in Resource::ALL {
                for action in Action::ALL {
                    for (i, scope) in Scope::ALL.iter().enumerate() {
                        let mut policy = Policy::default();
                        policy.overrides.insert((*resource, *action), Some(*scope));
                        let p = who(*role, policy);
                        for (name, record, allowed) in &records {
                            assert_eq!(
                                authorize(&p, *resource, *action, Some(record.clone())).is_ok(),
                                allowed[i],
                                "{role} {resource} {action} {scope} on {name}"
                            );
                        }
                        let mut none = Policy::default();
                        none.overrides.insert((*resource, *action), None);
                        assert!(
                            authorize(&who(*role, none.clone()), *resource, *action, None).is_err()
                        );
                        none.grants.push((*resource, *action, *scope));
                        let granted = who(*role, none);
                        for (name, record, allowed) in &records {
                            assert_eq!(
                                authorize(&granted, *resource, *action, Some(record.clone()))
                                    .is_ok(),
                                allowed[i],
                                "granted {scope}: {role} {resource} {action} on {name}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unowned_records_are_own_but_in_no_location_and_tenant_wide_reads_need_client() {
        let mut policy = Policy::default();
        policy
            .overrides
            .insert((Resource::Customer, Action::Read), Some(Scope::Location));
        policy
            .overrides
            .insert((Resource::AuditLog, Action::Read), Some(Scope::Own));
        let p = who(Role::Manager, policy);
        assert!(authorize(&p, Resource::Customer, Action::Read, unowned()).is_err());
        assert!(
            authorize(&p, Resource::Customer, Action::Update, unowned()).is_ok(),
            "default CLIENT"
        );
        assert!(authorize_tenant_wide(&p, Resource::AuditLog, Action::Read).is_err());
        assert!(
            authorize_tenant_wide(
                &who(Role::Auditor, Policy::default()),
                Resource::AuditLog,
                Action::Read
            )
            .is_ok()
        );
    }

    #[test]
    fn overrides_replace_defaults_and_grants_add_to_them() {
        let mut policy = Policy::default();
        policy
            .overrides
            .insert((Resource::Lead, Action::Read), Some(Scope::Location));
        policy
            .overrides
            .insert((Resource::Customer, Action::Update), None);
        policy
            .grants
            .push((Resource::Lead, Action::Read, Scope::Own));
        policy
            .grants
            .push((Resource::AuditLog, Action::Read, Scope::Client));
        let sales = who(Role::Sales, policy);
        assert_eq!(
            sales
                .policy
                .scopes(Role::Sales, Resource::Lead, Action::Read),
            vec![Scope::Location, Scope::Own]
        );
        assert!(
            authorize(&sales, Resource::Customer, Action::Update, None).is_err(),
            "taken away"
        );
        assert!(
            authorize(&sales, Resource::AuditLog, Action::Read, None).is_ok(),
            "granted"
        );
        assert_eq!(
            list_scope(&sales, Resource::Lead).unwrap(),
            ListScope::Limited {
                own: Some(Uuid::from_u128(1)),
                locations: Some(vec!["mtl".into()])
            }
        );
        assert_eq!(
            list_scope(&sales, Resource::AuditLog).unwrap(),
            ListScope::Tenant
        );
    }

    #[test]
    fn sales_may_change_their_own_and_unassigned_leads_only() {
        let sales = who(Role::Sales, Policy::default());
        let theirs = RecordOwnership {
            assigned_to: Some(Uuid::from_u128(2)),
            ..Default::default()
        };
        assert!(
            authorize(
                &sales,
                Resource::Lead,
                Action::Update,
                Some(RecordOwnership::default())
            )
            .is_ok()
        );
        let err = authorize(&sales, Resource::Lead, Action::Update, Some(theirs)).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::FORBIDDEN);
        assert!(list_scope(&who(Role::Crew, Policy::default()), Resource::Customer).is_err());
        assert_eq!(
            list_scope(&who(Role::Manager, Policy::default()), Resource::Lead).unwrap(),
            ListScope::Tenant
        );
    }
}
