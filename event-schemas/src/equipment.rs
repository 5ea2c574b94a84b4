//! Events of the `Equipment` aggregate (the seed's Equipment and
//! EquipmentMaintenance): registration, edits, defects and repairs,
//! scheduled maintenance, retirement and sale.
//!
//! The status is carried where it is not obvious from the event type
//! (`EquipmentRepaired.status_after`); the rest follow the state machine
//! documented in `aggregates::equipment`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name stored with every equipment event.
pub const AGGREGATE_TYPE: &str = "Equipment";

crate::common::wire_enum! {
    /// The seed's `EquipmentType`.
    EquipmentType {
        Truck => "TRUCK",
        Trailer => "TRAILER",
        Forklift => "FORKLIFT",
        Dolly => "DOLLY",
        Straps => "STRAPS",
        Blankets => "BLANKETS",
        Tools => "TOOLS",
        Other => "OTHER",
    }
}

crate::common::wire_enum! {
    /// The seed's `EquipmentStatus`. RETIRED and SOLD are final.
    EquipmentStatus {
        /// Available for assignments.
        Active => "ACTIVE",
        /// A maintenance is in progress.
        Maintenance => "MAINTENANCE",
        /// A reported defect is not repaired yet.
        Repair => "REPAIR",
        Retired => "RETIRED",
        Sold => "SOLD",
    }
}

impl EquipmentStatus {
    /// RETIRED and SOLD: no command changes the equipment any more.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Retired | Self::Sold)
    }

    /// Only ACTIVE equipment can be assigned.
    pub const fn is_assignable(self) -> bool {
        matches!(self, Self::Active)
    }
}

crate::common::wire_enum! {
    /// The seed's `MaintenanceType`.
    MaintenanceType {
        Preventive => "PREVENTIVE",
        Corrective => "CORRECTIVE",
        Emergency => "EMERGENCY",
        Inspection => "INSPECTION",
    }
}

crate::common::wire_enum! {
    /// How the book value of equipment decreases (see
    /// `aggregates::equipment::current_value`).
    DepreciationMethod {
        /// Linear from the purchase price to the salvage value over the useful life.
        StraightLine => "STRAIGHT_LINE",
        /// A fixed fraction of the remaining value each year.
        DecliningBalance => "DECLINING_BALANCE",
    }
}

crate::common::wire_enum! {
    /// How serious a reported defect is.
    DefectSeverity {
        Low => "LOW",
        Medium => "MEDIUM",
        High => "HIGH",
        Critical => "CRITICAL",
    }
}

/// How the equipment depreciates. `annual_rate` (a fraction, `0.2` = 20 % a
/// year) is present exactly for DECLINING_BALANCE, `useful_life_years`
/// exactly for STRAIGHT_LINE.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Depreciation {
    pub method: DepreciationMethod,
    #[schemars(with = "Option<String>")]
    pub annual_rate: Option<Decimal>,
    pub useful_life_years: Option<u32>,
    /// The value is never depreciated below this.
    #[schemars(with = "String")]
    pub salvage_value: Decimal,
}

/// How often the equipment needs maintenance (either, both or neither).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MaintenanceSchedule {
    pub interval_days: Option<u32>,
    pub interval_km: Option<u32>,
}

/// The editable details of a piece of equipment: what registration sets and
/// what an edit replaces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EquipmentDetails {
    pub location_id: String,
    pub name: String,
    pub equipment_type: EquipmentType,
    /// Unique per tenant (a database claim, not the aggregate's rule).
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub year: Option<i32>,
    /// Weight capacity, volume, … as free text.
    pub capacity: Option<String>,
    pub specifications: Map<String, Value>,
    pub purchase_date: Option<NaiveDate>,
    #[schemars(with = "Option<String>")]
    pub purchase_price: Option<Decimal>,
    pub depreciation: Option<Depreciation>,
    pub maintenance_schedule: MaintenanceSchedule,
    /// GPS coordinates or a description of where it is.
    pub current_location: Option<String>,
    pub assigned_user: Option<Uuid>,
    pub odometer_km: Option<u32>,
}

/// A piece of equipment was registered (status ACTIVE).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EquipmentRegistered {
    pub tenant_id: TenantId,
    pub equipment_id: Uuid,
    #[serde(flatten)]
    pub details: EquipmentDetails,
    pub registered_by: Uuid,
    pub registered_at: DateTime<Utc>,
}

/// The equipment's details changed (complete details after the change).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EquipmentUpdated {
    #[serde(flatten)]
    pub details: EquipmentDetails,
    pub changed_fields: Vec<String>,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

/// The equipment was retired (final).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EquipmentRetired {
    pub reason: String,
    pub retired_by: Uuid,
    pub at: DateTime<Utc>,
}

/// The equipment was sold (final).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EquipmentSold {
    #[schemars(with = "String")]
    pub price: Decimal,
    pub buyer: String,
    pub sold_by: Uuid,
    pub at: DateTime<Utc>,
}

/// A defect was reported; the equipment is in REPAIR until it is repaired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DefectReported {
    pub defect_id: Uuid,
    pub description: String,
    pub severity: Option<DefectSeverity>,
    pub reported_by: Uuid,
    pub reported_at: DateTime<Utc>,
}

/// A defect (`defect_id`) or every open defect (`null`) was repaired.
/// `status_after` is REPAIR while other defects are open, MAINTENANCE while
/// a maintenance is in progress, ACTIVE otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EquipmentRepaired {
    pub defect_id: Option<Uuid>,
    /// The defects this repair closed.
    pub repaired_defects: Vec<Uuid>,
    pub notes: Option<String>,
    #[schemars(with = "String")]
    pub cost: Decimal,
    pub repaired_by: Uuid,
    pub repaired_at: DateTime<Utc>,
    pub status_after: EquipmentStatus,
}

/// A maintenance was planned in the half-open window `[window_start, window_end)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MaintenanceScheduled {
    pub maintenance_id: Uuid,
    pub maintenance_type: MaintenanceType,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub description: String,
    pub technician: Option<Uuid>,
    pub scheduled_by: Uuid,
    pub scheduled_at: DateTime<Utc>,
}

/// A scheduled maintenance started (status MAINTENANCE unless in REPAIR).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MaintenanceStarted {
    pub maintenance_id: Uuid,
    pub started_by: Uuid,
    pub started_at: DateTime<Utc>,
}

/// One part used by a maintenance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MaintenancePart {
    pub name: String,
    #[schemars(with = "String")]
    pub quantity: Decimal,
    #[schemars(with = "String")]
    pub unit_cost: Decimal,
}

/// A started maintenance was completed. `next_due_date` = the completion
/// date + the schedule's `interval_days` (`null` without one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MaintenanceCompleted {
    pub maintenance_id: Uuid,
    pub completed_at: DateTime<Utc>,
    pub completed_by: Uuid,
    #[schemars(with = "String")]
    pub cost: Decimal,
    pub parts: Vec<MaintenancePart>,
    #[schemars(with = "String")]
    pub labour_hours: Decimal,
    pub technician: Option<Uuid>,
    pub odometer_km: Option<u32>,
    pub notes: Option<String>,
    pub next_due_date: Option<NaiveDate>,
}

/// A scheduled or started maintenance was called off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MaintenanceCancelled {
    pub maintenance_id: Uuid,
    pub reason: String,
    pub cancelled_by: Uuid,
    pub cancelled_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of the `Equipment` aggregate.
    EquipmentEvent for AGGREGATE_TYPE {
        EquipmentRegistered("1.0", "A piece of equipment was registered (status ACTIVE): type, serial number, purchase, depreciation and maintenance schedule."),
        EquipmentUpdated("1.0", "The equipment's details changed (complete details after the change)."),
        EquipmentRetired("1.0", "The equipment was retired (final)."),
        EquipmentSold("1.0", "The equipment was sold: price and buyer (final)."),
        DefectReported("1.0", "A defect was reported; the equipment is in REPAIR."),
        EquipmentRepaired("1.0", "A defect (or every open one) was repaired, with its cost; status_after says where the equipment stands."),
        MaintenanceScheduled("1.0", "A maintenance was planned for a window [window_start, window_end)."),
        MaintenanceStarted("1.0", "A scheduled maintenance started (status MAINTENANCE)."),
        MaintenanceCompleted("1.0", "A maintenance was completed: cost, parts, labour, odometer and the next due date."),
        MaintenanceCancelled("1.0", "A scheduled or started maintenance was called off."),
    }
}
