//! Events of the `EquipmentAssignment` aggregate (the seed's
//! EquipmentAssignment): a piece of equipment booked for a journey or a user
//! over the half-open period `[starts_at, ends_at)`.
//!
//! Two assignments (or an assignment and a maintenance window) of the same
//! equipment never overlap: a Postgres exclusion constraint enforces it when
//! the event is stored.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name stored with every assignment event.
pub const AGGREGATE_TYPE: &str = "EquipmentAssignment";

crate::common::wire_enum! {
    /// The seed's `AssignmentStatus`.
    AssignmentStatus {
        Active => "ACTIVE",
        Completed => "COMPLETED",
        Cancelled => "CANCELLED",
    }
}

/// Equipment was booked for a journey and/or a user (at least one of them)
/// over `[starts_at, ends_at)` (status ACTIVE).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EquipmentAssigned {
    pub tenant_id: TenantId,
    pub assignment_id: Uuid,
    pub equipment_id: Uuid,
    pub journey_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub purpose: Option<String>,
    pub notes: Option<String>,
    pub assigned_by: Uuid,
    pub assigned_at: DateTime<Utc>,
}

/// The crew took the equipment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AssignmentCheckedOut {
    pub checked_out_at: DateTime<Utc>,
    pub checked_out_by: Uuid,
    pub odometer_km: Option<u32>,
}

/// The equipment came back (status COMPLETED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AssignmentReturned {
    pub returned_at: DateTime<Utc>,
    pub returned_by: Uuid,
    pub odometer_km: Option<u32>,
    pub condition_notes: Option<String>,
}

/// The booking was called off before checkout (status CANCELLED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AssignmentCancelled {
    pub reason: String,
    pub cancelled_by: Uuid,
    pub cancelled_at: DateTime<Utc>,
}

/// The period moved (after checkout only its end).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AssignmentRescheduled {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub previous_starts_at: DateTime<Utc>,
    pub previous_ends_at: DateTime<Utc>,
    pub rescheduled_by: Uuid,
    pub rescheduled_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of the `EquipmentAssignment` aggregate.
    EquipmentAssignmentEvent for AGGREGATE_TYPE {
        EquipmentAssigned("1.0", "Equipment was booked for a journey and/or a user over [starts_at, ends_at) (status ACTIVE)."),
        AssignmentCheckedOut("1.0", "The crew took the equipment (odometer reading)."),
        AssignmentReturned("1.0", "The equipment came back, with its condition (status COMPLETED)."),
        AssignmentCancelled("1.0", "The booking was called off before checkout (status CANCELLED)."),
        AssignmentRescheduled("1.0", "The booked period moved (after checkout only its end)."),
    }
}
