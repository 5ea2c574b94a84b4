//! Vocabulary shared by events, aggregates and the APIs: tenants, roles, the
//! seed's enums and the postal address.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A tenant (a moving company) id.
///
/// Tenants appear in NATS subjects (`<prefix>.events.<tenant>.…`), so the id is
/// restricted to characters that are a single subject token: lowercase ASCII
/// letters, digits, `-` and `_`, 1 to 63 characters, starting with a letter or
/// digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct TenantId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a tenant id is 1 to 63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"
)]
pub struct InvalidTenantId;

impl TenantId {
    pub fn parse(value: &str) -> Result<Self, InvalidTenantId> {
        let valid = !value.is_empty()
            && value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && value
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidTenantId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = InvalidTenantId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Declares a string-valued enum with its wire names, `as_str`, `ALL`,
/// `Display` and `FromStr`, so the wire spelling lives in one place.
///
/// `$wire` is a `tt`, not a `literal`: a `literal` fragment reaches derive
/// macros wrapped in an invisible group, which utoipa's serde-attribute
/// parser skips, so the OpenAPI schema listed the Rust variant names instead
/// of the wire names (serde and schemars see through the group; utoipa did
/// not). `wire_enums` and the OpenAPI test keep them in step.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize, ::schemars::JsonSchema, ::utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl $name {
            /// The enum's name and wire names, and whether serde accepts a string.
            pub fn wire_info() -> $crate::common::WireEnumInfo {
                $crate::common::WireEnumInfo {
                    name: stringify!($name),
                    wire: &[$($wire),+],
                    variants: &[$(stringify!($variant)),+],
                    accepts: |s| ::serde_json::from_value::<$name>(::serde_json::Value::String(s.to_owned())).is_ok(),
                    schema: <$name as ::utoipa::PartialSchema>::schema,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::common::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::common::UnknownVariant {
                        value: s.to_owned(),
                        expected: &[$($wire),+],
                    }),
                }
            }
        }
    };
}

pub(crate) use wire_enum;

/// What a [`wire_enum!`] enum looks like on the wire: its schema name, its
/// wire names, its Rust variant names, and serde's verdict on a string.
#[derive(Clone, Copy)]
pub struct WireEnumInfo {
    pub name: &'static str,
    pub wire: &'static [&'static str],
    pub variants: &'static [&'static str],
    pub accepts: fn(&str) -> bool,
    /// The OpenAPI schema utoipa derives for it.
    pub schema: fn() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
}

impl fmt::Debug for WireEnumInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireEnumInfo")
            .field("name", &self.name)
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

/// Every enum declared with [`wire_enum!`] (a test checks the OpenAPI
/// document's enum schemas against these).
pub fn wire_enums() -> Vec<WireEnumInfo> {
    use crate::{
        assignment, availability, communication, dashboard, equipment, integration, inventory,
        money, permissions, report, rule, schedule, staff, template, tenant, webhook,
    };
    vec![
        Role::wire_info(),
        LeadStatus::wire_info(),
        LeadPriority::wire_info(),
        SalesActivityType::wire_info(),
        inventory::InventoryTransactionType::wire_info(),
        equipment::EquipmentType::wire_info(),
        equipment::EquipmentStatus::wire_info(),
        equipment::MaintenanceType::wire_info(),
        equipment::DepreciationMethod::wire_info(),
        equipment::DefectSeverity::wire_info(),
        permissions::Resource::wire_info(),
        permissions::Action::wire_info(),
        permissions::Scope::wire_info(),
        money::QuoteItemCategory::wire_info(),
        money::PricingType::wire_info(),
        money::QuoteStatus::wire_info(),
        money::InvoiceStatus::wire_info(),
        money::PaymentMethod::wire_info(),
        money::Province::wire_info(),
        money::TaxCode::wire_info(),
        money::FinancialTransactionType::wire_info(),
        money::RecurringInterval::wire_info(),
        assignment::AssignmentStatus::wire_info(),
        tenant::Weekday::wire_info(),
        staff::CrewRole::wire_info(),
        schedule::ScheduleType::wire_info(),
        schedule::SchedulePriority::wire_info(),
        schedule::ScheduleStatus::wire_info(),
        schedule::CrewResponse::wire_info(),
        availability::AvailabilityType::wire_info(),
        template::TemplateType::wire_info(),
        template::MessagePurpose::wire_info(),
        communication::CommunicationType::wire_info(),
        communication::CommunicationStatus::wire_info(),
        communication::ConsentKind::wire_info(),
        communication::UnsubscribeSource::wire_info(),
        rule::RuleTrigger::wire_info(),
        rule::RuleCondition::wire_info(),
        webhook::DeliveryStatus::wire_info(),
        webhook::DisableReason::wire_info(),
        webhook::RetryReason::wire_info(),
        integration::IntegrationType::wire_info(),
        integration::IntegrationStatus::wire_info(),
        integration::SyncType::wire_info(),
        integration::SyncStatus::wire_info(),
        integration::SyncSource::wire_info(),
        integration::InboundOutcome::wire_info(),
        report::ReportType::wire_info(),
        report::ReportFormat::wire_info(),
        report::ReportStatus::wire_info(),
        report::RunTrigger::wire_info(),
        dashboard::WidgetKind::wire_info(),
        dashboard::DashboardTheme::wire_info(),
    ]
}

/// A string that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{value}`, expected one of {}", expected.join(", "))]
pub struct UnknownVariant {
    pub value: String,
    pub expected: &'static [&'static str],
}

wire_enum! {
    /// A user's role, carried in the JWT and in every event's metadata.
    Role {
        Admin => "admin",
        Manager => "manager",
        Sales => "sales",
        Dispatcher => "dispatcher",
        Accountant => "accountant",
        Auditor => "auditor",
        Crew => "crew",
        /// The backend's own processes (the sales process manager, the
        /// expiry, overdue and recurring-invoice policies). Only in event
        /// metadata: never in a token, never in the permission matrix.
        System => "system",
        /// An integration acting through its API key (an inbound lead):
        /// the event's `user_id` is the integration's id. Only in event
        /// metadata, like `system`.
        Integration => "integration",
    }
}

impl Role {
    /// The roles people have (every role but `system` and `integration`).
    pub fn is_person(self) -> bool {
        !matches!(self, Role::System | Role::Integration)
    }
}

/// The user id the backend's own processes act as (with role `system`).
pub const SYSTEM_USER: uuid::Uuid =
    uuid::Uuid::from_u128(0x5359_5354_454d_0000_0000_0000_0000_0001);

wire_enum! {
    /// The seed's `LeadStatus`: the sales pipeline.
    LeadStatus {
        New => "NEW",
        Contacted => "CONTACTED",
        Qualified => "QUALIFIED",
        ProposalSent => "PROPOSAL_SENT",
        Negotiation => "NEGOTIATION",
        Won => "WON",
        Lost => "LOST",
        Archived => "ARCHIVED",
    }
}

wire_enum! {
    /// The seed's `LeadPriority`.
    LeadPriority {
        Low => "LOW",
        Medium => "MEDIUM",
        High => "HIGH",
        Urgent => "URGENT",
    }
}

wire_enum! {
    /// The seed's `SalesActivityType`.
    SalesActivityType {
        PhoneCall => "PHONE_CALL",
        Email => "EMAIL",
        Meeting => "MEETING",
        ProposalSent => "PROPOSAL_SENT",
        FollowUp => "FOLLOW_UP",
        Demo => "DEMO",
        SiteVisit => "SITE_VISIT",
        Other => "OTHER",
    }
}

impl SalesActivityType {
    /// Activities in which the sales rep actually reached the customer; the
    /// first completed one stamps the lead's first contact (speed-to-lead).
    pub const fn is_contact(self) -> bool {
        !matches!(self, Self::Other)
    }
}

/// A postal address. `country` is an ISO 3166-1 alpha-2 code (default `CA`);
/// for Canada `province` is a two-letter province or territory code and
/// `postal_code` is normalized to `A1A 1A1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub province: String,
    pub postal_code: String,
    pub country: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_must_be_one_subject_token() {
        assert!(TenantId::parse("acme-movers_2").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("a.b").is_err());
        assert!(TenantId::parse("a*").is_err());
        assert!(TenantId::parse("-a").is_err());
        assert!(TenantId::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn the_openapi_schema_of_every_wire_enum_lists_its_wire_names() {
        for info in wire_enums() {
            for wire in info.wire {
                assert!((info.accepts)(wire), "{}: serde accepts {wire}", info.name);
            }
            for (variant, wire) in info.variants.iter().zip(info.wire) {
                assert_eq!(
                    (info.accepts)(variant),
                    variant == wire,
                    "{}: serde refuses the Rust name {variant}",
                    info.name
                );
            }
            let json = serde_json::to_value((info.schema)()).unwrap();
            let listed: Vec<&str> = json["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: an enum schema: {json}", info.name))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(listed, info.wire, "{}", info.name);
        }
    }

    #[test]
    fn wire_enums_round_trip_through_their_wire_names() {
        for status in LeadStatus::ALL {
            assert_eq!(status.as_str().parse::<LeadStatus>().unwrap(), *status);
            let json = serde_json::to_string(status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        let err = "DONE".parse::<LeadStatus>().unwrap_err();
        assert!(err.to_string().contains("NEGOTIATION"), "{err}");
    }
}
