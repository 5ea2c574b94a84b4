//! # event-schemas: the public contract of the Movers CRM
//!
//! Everything another process may depend on lives here: every event payload
//! with its stable type name and version, the metadata recorded with each
//! event, the CloudEvents envelope events travel in on NATS, and the JSON
//! Schema of each (generated into `event-schemas/schemas/`, checked by a test).
//!
//! ```text
//!  aggregate.handle() ──▶ CustomerEvent / LeadEvent ──▶ events table (payload = {"<Type>": {...}})
//!                                                          │ relay
//!                                                          ▼
//!                                  CloudEvent { type, data, tenant, … } on <prefix>.events.<tenant>.<Aggregate>.<Type>
//! ```
//!
//! ```
//! use event_schemas::{customer::CustomerEvent, TypedEvent};
//! let info = CustomerEvent::catalogue();
//! assert!(info.iter().any(|e| e.event_type == "CustomerRegistered" && e.version == "2.0"));
//! ```
//!
//! Rules: a stored event is never edited. A compatible change (a new optional
//! field) bumps the minor version; an incompatible one is a new version with
//! an upcaster from the old one.

pub mod assignment;
pub mod audit;
pub mod availability;
pub mod calendar;
pub mod common;
pub mod communication;
pub mod customer;
pub mod dashboard;
pub mod envelope;
pub mod equipment;
pub mod finance;
pub mod integration;
pub mod integrity;
pub mod inventory;
pub mod invoice;
pub mod lead;
pub mod metadata;
pub mod money;
pub mod permissions;
pub mod personal;
pub mod quote;
pub mod report;
pub mod rule;
pub mod schedule;
pub mod staff;
pub mod template;
pub mod tenant;
pub mod webhook;

pub use common::{
    Address, InvalidTenantId, LeadPriority, LeadStatus, Role, SYSTEM_USER, SalesActivityType,
    TenantId, UnknownVariant,
};
pub use envelope::CloudEvent;
pub use metadata::{EventMetadata, MetadataError};

use schemars::schema::RootSchema;

/// One entry of the event catalogue.
#[derive(Clone, Copy)]
pub struct EventInfo {
    pub aggregate_type: &'static str,
    pub event_type: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub schema: fn() -> RootSchema,
}

impl std::fmt::Debug for EventInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventInfo")
            .field("aggregate_type", &self.aggregate_type)
            .field("event_type", &self.event_type)
            .field("version", &self.version)
            .finish()
    }
}

impl EventInfo {
    /// File name of the committed schema: `<Type>.v<version>.json`.
    pub fn schema_file_name(&self) -> String {
        format!("{}.v{}.json", self.event_type, self.version)
    }
}

/// An aggregate's event enum: typed decoding from `(type, data)` and its part
/// of the catalogue.
pub trait TypedEvent: Sized {
    const AGGREGATE_TYPE: &'static str;
    fn from_parts(event_type: &str, data: serde_json::Value) -> Result<Self, serde_json::Error>;
    fn catalogue() -> &'static [EventInfo];
}

/// Every event of every aggregate.
pub fn catalogue() -> Vec<EventInfo> {
    [
        customer::CustomerEvent::catalogue(),
        lead::LeadEvent::catalogue(),
        quote::QuoteEvent::catalogue(),
        invoice::InvoiceEvent::catalogue(),
        finance::FinancialTransactionEvent::catalogue(),
        finance::SalesSettingsEvent::catalogue(),
        permissions::PermissionEvent::catalogue(),
        audit::AuditExportEvent::catalogue(),
        equipment::EquipmentEvent::catalogue(),
        assignment::EquipmentAssignmentEvent::catalogue(),
        inventory::InventoryItemEvent::catalogue(),
        tenant::TenantProfileEvent::catalogue(),
        staff::StaffMemberEvent::catalogue(),
        schedule::ScheduleEvent::catalogue(),
        availability::AvailabilityEvent::catalogue(),
        calendar::CalendarFeedTokenEvent::catalogue(),
        template::MessageTemplateEvent::catalogue(),
        communication::CommunicationEvent::catalogue(),
        rule::CommunicationRuleEvent::catalogue(),
        webhook::WebhookEvent::catalogue(),
        webhook::WebhookDeliveryEvent::catalogue(),
        integration::IntegrationEvent::catalogue(),
        integration::IntegrationSyncEvent::catalogue(),
        report::ReportEvent::catalogue(),
        dashboard::DashboardEvent::catalogue(),
        dashboard::DashboardDefaultEvent::catalogue(),
    ]
    .concat()
}

/// Declares an aggregate's event enum: one variant per payload struct (named
/// like the struct, which is the stable type name), `DomainEvent` with the
/// type name and version, `From` for each payload, and the catalogue.
#[macro_export]
#[doc(hidden)]
macro_rules! event_enum {
    ($(#[$meta:meta])* $name:ident for $aggregate:ident {
        $($variant:ident($version:literal, $description:literal)),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($variant($variant)),+
        }

        impl ::cqrs_es::DomainEvent for $name {
            fn event_type(&self) -> String {
                match self { $(Self::$variant(_) => stringify!($variant).to_owned()),+ }
            }
            fn event_version(&self) -> String {
                match self { $(Self::$variant(_) => $version.to_owned()),+ }
            }
        }

        $(impl From<$variant> for $name {
            fn from(event: $variant) -> Self { Self::$variant(event) }
        })+

        impl $crate::TypedEvent for $name {
            const AGGREGATE_TYPE: &'static str = $aggregate;

            fn from_parts(event_type: &str, data: ::serde_json::Value) -> Result<Self, ::serde_json::Error> {
                match event_type {
                    $(stringify!($variant) => ::serde_json::from_value(data).map(Self::$variant),)+
                    other => Err(<::serde_json::Error as ::serde::de::Error>::custom(
                        format!("unknown {} event type `{other}`", $aggregate),
                    )),
                }
            }

            fn catalogue() -> &'static [$crate::EventInfo] {
                &[$($crate::EventInfo {
                    aggregate_type: $aggregate,
                    event_type: stringify!($variant),
                    version: $version,
                    description: $description,
                    schema: || ::schemars::schema_for!($variant),
                }),+]
            }
        }
    };
}
