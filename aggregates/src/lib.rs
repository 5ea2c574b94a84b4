//! # aggregates: the pure domain of the Movers CRM
//!
//! Each aggregate implements [`cqrs_es::Aggregate`]: `handle` decides which
//! events a command produces (or returns a typed domain error), `apply` folds
//! events into state. No I/O, no clock, no HTTP: commands carry the time and
//! the actor, and facts the command layer looked up (e.g. whether the
//! customer of a new lead is active).
//!
//! ```
//! use aggregates::lead::transition_allowed;
//! use event_schemas::LeadStatus::*;
//! assert!(transition_allowed(New, Qualified));
//! assert!(!transition_allowed(Qualified, Contacted));
//! assert!(transition_allowed(Lost, Contacted));
//! assert!(!transition_allowed(Won, Lost));
//! ```

pub mod assignment;
pub mod audit_export;
pub mod availability;
pub mod calendar_feed;
pub mod communication;
pub mod customer;
pub mod dashboard;
pub mod equipment;
pub mod error;
pub mod finance;
pub mod integration;
pub mod inventory;
pub mod invoice;
pub mod lead;
pub mod message_vars;
pub mod patch;
pub mod permissions;
pub mod pricing;
pub mod quote;
pub mod recurrence;
pub mod report;
pub mod rule;
pub mod sales;
pub mod schedule;
pub mod settings;
pub mod staff;
pub mod template;
pub mod tenant_profile;
pub mod values;
pub mod webhook;

pub use error::{DomainError, ErrorKind, FieldError, ValidationErrors, Validator};
pub use patch::Patch;

use event_schemas::TenantId;

/// Every aggregate belongs to exactly one tenant, fixed by its first event.
pub trait TenantOwned {
    /// `None` until the aggregate's first event.
    fn tenant(&self) -> Option<&TenantId>;
}

impl TenantOwned for customer::Customer {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for tenant_profile::TenantProfile {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for integration::Integration {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for integration::IntegrationSync {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for webhook::Webhook {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for webhook::WebhookDelivery {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for rule::CommunicationRule {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for communication::Communication {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for template::MessageTemplate {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for calendar_feed::CalendarFeedToken {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for schedule::Schedule {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for staff::StaffMember {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for availability::Availability {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for lead::Lead {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for quote::Quote {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for invoice::Invoice {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for finance::FinancialTransaction {
    fn tenant(&self) -> Option<&TenantId> {
        self.entry.as_ref().map(|e| &e.tenant_id)
    }
}

impl TenantOwned for settings::SalesSettings {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for equipment::Equipment {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for assignment::EquipmentAssignment {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for inventory::InventoryItem {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

impl TenantOwned for report::Report {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}
