//! Events of an `Availability` entry (the seed's Availability): a period,
//! or a recurring one (an RFC 5545 RRULE in the tenant's time zone), in
//! which a person is unavailable (`is_available = false`: nobody may
//! schedule them then) or available beyond their working hours
//! (`is_available = true`: counts for capacity). Staff are available by
//! default.
//!
//! A recurring entry carries its concrete occurrences, expanded up to a
//! horizon (`aggregates::recurrence`); a rule without an end is extended
//! by a policy (`AvailabilityExtended`). The database keeps an unavailable
//! person's occurrences as crew bookings, which no schedule may overlap
//! (decision 0025).

use chrono::{DateTime, NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name stored with every availability event.
pub const AGGREGATE_TYPE: &str = "Availability";

crate::common::wire_enum! {
    /// The seed's AvailabilityType.
    AvailabilityType {
        Personal => "PERSONAL",
        Sick => "SICK",
        Vacation => "VACATION",
        Training => "TRAINING",
        Maintenance => "MAINTENANCE",
        Other => "OTHER",
    }
}

/// One concrete period `[starts_at, ends_at)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Period {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A recurrence: an RRULE expanded in wall-clock time from `local_start`,
/// each occurrence lasting `duration_minutes`, placed in `time_zone`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecurrenceRule {
    /// The RRULE value, e.g. `FREQ=WEEKLY;BYDAY=MO,TU`.
    pub rule: String,
    /// The first occurrence's wall-clock start (DTSTART).
    pub local_start: NaiveDateTime,
    pub duration_minutes: u32,
    /// The IANA time zone the rule was expanded in (the tenant's when it
    /// was recorded).
    pub time_zone: String,
}

/// An availability entry was recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AvailabilityRecorded {
    pub tenant_id: TenantId,
    pub availability_id: Uuid,
    pub user_id: Uuid,
    pub is_available: bool,
    pub availability_type: AvailabilityType,
    pub reason: Option<String>,
    pub notes: Option<String>,
    /// `None`: one period, the only occurrence.
    pub recurrence: Option<RecurrenceRule>,
    /// The concrete occurrences, earliest first (up to `materialized_until`
    /// for an open-ended rule).
    pub occurrences: Vec<Period>,
    /// An open-ended rule's occurrences are known up to here.
    pub materialized_until: Option<DateTime<Utc>>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// An open-ended rule's occurrences were expanded further (by the horizon
/// policy): the new occurrences only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AvailabilityExtended {
    pub occurrences: Vec<Period>,
    pub materialized_until: DateTime<Utc>,
    pub extended_at: DateTime<Utc>,
}

/// The entry was removed: its occurrences no longer count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AvailabilityRemoved {
    pub removed_by: Uuid,
    pub removed_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of an `Availability` entry.
    AvailabilityEvent for AGGREGATE_TYPE {
        AvailabilityRecorded("1.0", "A period (or a recurring one, with its occurrences) in which a person is unavailable, or available beyond working hours."),
        AvailabilityExtended("1.0", "An open-ended rule's occurrences were expanded further (the new ones only)."),
        AvailabilityRemoved("1.0", "The entry was removed; its occurrences no longer count."),
    }
}
