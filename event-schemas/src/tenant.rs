//! Events of a tenant's profile: the company, its branches (locations), its
//! time zone and locale, the sender of its emails, its working hours and the
//! default length of a job. One profile per tenant, its id derived from the
//! tenant ([`profile_id`]).

use chrono::{DateTime, NaiveTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{Address, TenantId};

/// The aggregate type of a tenant's profile.
pub const AGGREGATE_TYPE: &str = "TenantProfile";

/// The id of `tenant`'s profile (one per tenant, derived from it).
pub fn profile_id(tenant: &TenantId) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6d6f_7665_7273_2d63_726d_2d70_726f_6669);
    Uuid::new_v5(&NAMESPACE, tenant.as_str().as_bytes())
}

crate::common::wire_enum! {
    /// A day of the week (ISO 8601 order).
    Weekday {
        Monday => "MONDAY",
        Tuesday => "TUESDAY",
        Wednesday => "WEDNESDAY",
        Thursday => "THURSDAY",
        Friday => "FRIDAY",
        Saturday => "SATURDAY",
        Sunday => "SUNDAY",
    }
}

impl Weekday {
    /// chrono's weekday of the same name.
    pub fn to_chrono(self) -> chrono::Weekday {
        match self {
            Self::Monday => chrono::Weekday::Mon,
            Self::Tuesday => chrono::Weekday::Tue,
            Self::Wednesday => chrono::Weekday::Wed,
            Self::Thursday => chrono::Weekday::Thu,
            Self::Friday => chrono::Weekday::Fri,
            Self::Saturday => chrono::Weekday::Sat,
            Self::Sunday => chrono::Weekday::Sun,
        }
    }

    /// The weekday of chrono's of the same name.
    pub fn from_chrono(day: chrono::Weekday) -> Self {
        match day {
            chrono::Weekday::Mon => Self::Monday,
            chrono::Weekday::Tue => Self::Tuesday,
            chrono::Weekday::Wed => Self::Wednesday,
            chrono::Weekday::Thu => Self::Thursday,
            chrono::Weekday::Fri => Self::Friday,
            chrono::Weekday::Sat => Self::Saturday,
            chrono::Weekday::Sun => Self::Sunday,
        }
    }
}

/// A branch of the company. Its `location_id` is the one leads, equipment,
/// inventory, staff and schedules name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct Location {
    pub location_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// The hours of one working day, in the tenant's time zone (`opens` before
/// `closes`). A day that is not listed is not a working day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct WorkingDay {
    pub day: Weekday,
    /// Wall-clock time, e.g. `08:00:00`.
    #[schema(value_type = String, example = "08:00:00")]
    pub opens: NaiveTime,
    #[schema(value_type = String, example = "17:00:00")]
    pub closes: NaiveTime,
}

/// The tenant's profile changed: the complete profile after the change, and
/// the names of the fields that changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantProfileChanged {
    pub tenant_id: TenantId,
    pub company_name: String,
    pub address: Option<Address>,
    pub locations: Vec<Location>,
    /// An IANA time zone, e.g. `America/Toronto`.
    pub time_zone: String,
    /// A BCP 47 language tag, e.g. `en-CA`.
    pub locale: String,
    pub email_sender_name: Option<String>,
    pub email_sender_address: Option<String>,
    pub working_hours: Vec<WorkingDay>,
    /// How long a job is planned for when nothing else says (minutes).
    pub default_job_duration_minutes: u32,
    /// Emails carry an open-tracking pixel (READ when it loads); off by
    /// default (1.1).
    #[serde(default)]
    pub email_open_tracking: bool,
    /// How long report runs keep their files (days; `None`: 90). 1.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_retention_days: Option<u32>,
    pub changed_fields: Vec<String>,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of a tenant's profile.
    TenantProfileEvent for AGGREGATE_TYPE {
        TenantProfileChanged("1.2", "The company's name, address, locations, time zone, locale, email sender, working hours, default job duration, email open tracking or report retention changed (the complete profile after the change; 1.1: email_open_tracking; 1.2: report_retention_days)."),
    }
}
