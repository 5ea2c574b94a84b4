//! Events of a `Schedule` (the seed's Schedule): an entry of the dispatch
//! board: a job, maintenance, training or meeting at a location, from
//! `starts_at` to `ends_at`, with its crew (a role each; each person
//! invited, accepted or declined), its equipment and vehicles, and an
//! optional link to a lead, quote or journey.
//!
//! The database keeps what an active schedule holds (decision 0025): one
//! crew booking per invited or accepted person, one equipment booking per
//! piece of equipment or vehicle, refused when they overlap another.

use chrono::{DateTime, FixedOffset, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;
use crate::staff::CrewRole;

/// The aggregate type name stored with every schedule event.
pub const AGGREGATE_TYPE: &str = "Schedule";

crate::common::wire_enum! {
    /// What a schedule is for (the seed's ScheduleType).
    ScheduleType {
        Journey => "JOURNEY",
        Maintenance => "MAINTENANCE",
        Training => "TRAINING",
        Meeting => "MEETING",
        Other => "OTHER",
    }
}

crate::common::wire_enum! {
    /// The seed's SchedulePriority.
    SchedulePriority {
        Low => "LOW",
        Normal => "NORMAL",
        High => "HIGH",
        Urgent => "URGENT",
    }
}

crate::common::wire_enum! {
    /// The seed's ScheduleStatus. An entry is SCHEDULED, IN_PROGRESS,
    /// COMPLETED or CANCELLED; RESCHEDULED is what its history records when
    /// it moved (`ScheduleRescheduled`), while the entry stays SCHEDULED.
    ScheduleStatus {
        Scheduled => "SCHEDULED",
        InProgress => "IN_PROGRESS",
        Completed => "COMPLETED",
        Cancelled => "CANCELLED",
        Rescheduled => "RESCHEDULED",
    }
}

crate::common::wire_enum! {
    /// A crew member's answer. Invited and accepted people hold the slot; a
    /// declined person releases it.
    CrewResponse {
        Invited => "INVITED",
        Accepted => "ACCEPTED",
        Declined => "DECLINED",
    }
}

/// A person on a schedule's crew.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrewMember {
    pub user_id: Uuid,
    pub role: CrewRole,
    pub response: CrewResponse,
}

impl CrewMember {
    /// Whether the person holds the slot (invited or accepted).
    pub fn holds_slot(&self) -> bool {
        self.response != CrewResponse::Declined
    }
}

/// What a schedule is linked to (each optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleLink {
    pub lead_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
}

/// Why the sales process created a schedule: the event that caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleCause {
    /// The id of the triggering event (also the event's causation id).
    pub event_id: String,
    /// `quote-converted`.
    pub rule: String,
}

/// A schedule was created, SCHEDULED.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleCreated {
    pub tenant_id: TenantId,
    pub schedule_id: Uuid,
    pub location_id: String,
    pub title: String,
    pub description: Option<String>,
    pub schedule_type: ScheduleType,
    pub priority: SchedulePriority,
    /// An instant with the offset it was given in.
    pub starts_at: DateTime<FixedOffset>,
    pub ends_at: DateTime<FixedOffset>,
    pub crew: Vec<CrewMember>,
    pub equipment_ids: Vec<Uuid>,
    pub vehicle_ids: Vec<Uuid>,
    pub link: ScheduleLink,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// Set when the sales process created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<ScheduleCause>,
}

/// Title, description, priority or location changed (all after the change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleDetailsUpdated {
    pub location_id: String,
    pub title: String,
    pub description: Option<String>,
    pub priority: SchedulePriority,
    pub changed_fields: Vec<String>,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

/// The crew changed: the whole crew after the change (people kept keep
/// their answer; new people are invited).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleCrewChanged {
    pub crew: Vec<CrewMember>,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

/// The equipment or vehicles changed (both lists after the change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleEquipmentChanged {
    pub equipment_ids: Vec<Uuid>,
    pub vehicle_ids: Vec<Uuid>,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

/// The schedule moved (RESCHEDULED in its history); it stays SCHEDULED and
/// its crew and equipment move with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleRescheduled {
    pub previous_starts_at: DateTime<FixedOffset>,
    pub previous_ends_at: DateTime<FixedOffset>,
    pub starts_at: DateTime<FixedOffset>,
    pub ends_at: DateTime<FixedOffset>,
    pub reason: Option<String>,
    pub rescheduled_by: Uuid,
    pub rescheduled_at: DateTime<Utc>,
}

/// Work began: IN_PROGRESS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleStarted {
    pub started_by: Uuid,
    pub started_at: DateTime<Utc>,
}

/// Work finished: COMPLETED. What it held is released from `completed_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleCompleted {
    pub notes: Option<String>,
    pub completed_by: Uuid,
    pub completed_at: DateTime<Utc>,
}

/// Called off: CANCELLED. Everything it held is released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleCancelled {
    pub reason: String,
    pub cancelled_by: Uuid,
    pub cancelled_at: DateTime<Utc>,
}

/// A crew member accepted or declined (declining releases the slot;
/// accepting after a decline takes it again, if still free).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrewMemberResponded {
    pub user_id: Uuid,
    pub response: CrewResponse,
    pub responded_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of a `Schedule`.
    // Events live for one command or one message; boxing the creation
    // would cost every reader an indirection for nothing.
    #[allow(clippy::large_enum_variant)]
    ScheduleEvent for AGGREGATE_TYPE {
        ScheduleCreated("1.0", "A schedule was created (SCHEDULED) with its crew, equipment and vehicles."),
        ScheduleDetailsUpdated("1.0", "Title, description, priority or location changed."),
        ScheduleCrewChanged("1.0", "The crew changed (the whole crew after the change)."),
        ScheduleEquipmentChanged("1.0", "The equipment or vehicles changed (both lists after the change)."),
        ScheduleRescheduled("1.0", "The schedule moved to new times (RESCHEDULED in its history; it stays SCHEDULED)."),
        ScheduleStarted("1.0", "Work began (IN_PROGRESS)."),
        ScheduleCompleted("1.0", "Work finished (COMPLETED); what it held is released from then."),
        ScheduleCancelled("1.0", "The schedule was called off (CANCELLED); what it held is released."),
        CrewMemberResponded("1.0", "A crew member accepted or declined."),
    }
}
