//! The `Equipment` aggregate: trucks, trailers, dollies and the rest, with
//! their defects, scheduled maintenance, depreciation, retirement and sale.
//!
//! ```text
//!   Register
//!      │
//!      ▼
//!   ACTIVE ──StartMaintenance──▶ MAINTENANCE ──CompleteMaintenance / CancelMaintenance──▶ ACTIVE
//!      │  ▲                          │
//!      │  └──────── Repair ──────────┤ (back to MAINTENANCE if one is still in progress)
//!      │ ReportDefect                ▼ ReportDefect
//!      └──────────────────────────▶ REPAIR (while any defect is open)
//!
//!   any of them ──Retire──▶ RETIRED (final)      ──Sell──▶ SOLD (final)
//! ```
//!
//! The status is never stored: RETIRED / SOLD once retired or sold, else
//! REPAIR while a reported defect is open, else MAINTENANCE while a
//! maintenance is in progress, else ACTIVE. A final equipment refuses every
//! command (`equipment.final`). Maintenance goes SCHEDULED → STARTED →
//! COMPLETED (or CANCELLED from either of the first two); one at a time is
//! in progress. Maintenance windows and assignments must not overlap: the
//! database's exclusion constraint enforces that, not this aggregate.
//! Serial numbers are unique per tenant by a database claim; the aggregate
//! only checks their format.
//!
//! ## Depreciation ([`current_value`])
//!
//! Elapsed years = whole days since the purchase date ÷ 365.25 (0 before it).
//! - STRAIGHT_LINE: `price − (price − salvage) × years ÷ useful_life_years`.
//! - DECLINING_BALANCE: `price × (1 − annual_rate)^years` (fractional
//!   years included).
//!
//! Both are floored at the salvage value (itself capped at the price) and
//! rounded half-up to the cent.
//!
//! ```
//! use aggregates::equipment::current_value;
//! use chrono::NaiveDate;
//! use event_schemas::equipment::{Depreciation, DepreciationMethod};
//! use rust_decimal_macros::dec;
//! let bought = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
//! let straight = Depreciation {
//!     method: DepreciationMethod::StraightLine,
//!     annual_rate: None,
//!     useful_life_years: Some(10),
//!     salvage_value: dec!(10000),
//! };
//! let almost_half_life = bought + chrono::Days::new(1826); // 5 years are 1826.25 days
//! assert_eq!(current_value(dec!(110000), bought, &straight, bought), dec!(110000.00));
//! assert_eq!(current_value(dec!(110000), bought, &straight, almost_half_life), dec!(60006.84));
//! let declining = Depreciation {
//!     method: DepreciationMethod::DecliningBalance,
//!     annual_rate: Some(dec!(0.2)),
//!     useful_life_years: None,
//!     salvage_value: dec!(0),
//! };
//! // 1000 × 0.8^(731 / 365.25) = 639.8045…
//! let two_years = bought + chrono::Days::new(731);
//! assert_eq!(current_value(dec!(1000), bought, &declining, two_years), dec!(639.80));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::equipment::{
    DefectReported, EquipmentEvent, EquipmentRegistered, EquipmentRepaired, EquipmentRetired,
    EquipmentSold, EquipmentUpdated, MaintenanceCancelled, MaintenanceCompleted,
    MaintenanceScheduled, MaintenanceStarted,
};
pub use event_schemas::equipment::{
    DefectSeverity, Depreciation, DepreciationMethod, EquipmentDetails, EquipmentStatus,
    EquipmentType, MaintenancePart, MaintenanceSchedule, MaintenanceType,
};
use rust_decimal::{Decimal, MathematicalOps};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::pricing::round_money;
use crate::sales;
use crate::values;

/// The most parts one maintenance lists.
pub const MAX_PARTS: usize = 100;
/// The longest useful life, in years.
pub const MAX_USEFUL_LIFE_YEARS: u32 = 100;
/// The longest maintenance interval: 10 years, or 1 000 000 km.
pub const MAX_INTERVAL_DAYS: u32 = 3653;
pub const MAX_INTERVAL_KM: u32 = 1_000_000;
/// The most labour hours one maintenance records.
pub const MAX_LABOUR_HOURS: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// Where a maintenance stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaintenanceState {
    Scheduled,
    Started,
    Completed,
    Cancelled,
}

/// A maintenance of this equipment, as scheduled and since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    pub maintenance_type: MaintenanceType,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub description: String,
    pub technician: Option<Uuid>,
    pub state: MaintenanceState,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cost: Option<Decimal>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Equipment {
    pub id: Option<Uuid>,
    pub tenant_id: Option<TenantId>,
    pub details: Option<EquipmentDetails>,
    pub registered_at: Option<DateTime<Utc>>,
    /// RETIRED or SOLD, once it is.
    pub final_status: Option<EquipmentStatus>,
    pub defects: BTreeSet<Uuid>,
    pub open_defects: BTreeSet<Uuid>,
    pub maintenances: BTreeMap<Uuid, Maintenance>,
    pub last_maintenance: Option<DateTime<Utc>>,
    pub next_maintenance_due: Option<NaiveDate>,
    pub maintenance_cost: Decimal,
    pub repair_cost: Decimal,
    pub sale_price: Option<Decimal>,
}

// ---------------------------------------------------------------- commands

/// The details of a piece of equipment as a client sends them.
#[derive(Clone, Debug, PartialEq)]
pub struct EquipmentDetailsInput {
    pub location_id: String,
    pub name: String,
    pub equipment_type: EquipmentType,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub year: Option<i32>,
    pub capacity: Option<String>,
    pub specifications: Map<String, Value>,
    pub purchase_date: Option<NaiveDate>,
    pub purchase_price: Option<Decimal>,
    pub depreciation: Option<Depreciation>,
    pub maintenance_schedule: MaintenanceSchedule,
    pub current_location: Option<String>,
    pub assigned_user: Option<Uuid>,
    pub odometer_km: Option<u32>,
}

impl From<&EquipmentDetails> for EquipmentDetailsInput {
    /// The input that reproduces stored details (to merge a partial edit).
    fn from(d: &EquipmentDetails) -> Self {
        Self {
            location_id: d.location_id.clone(),
            name: d.name.clone(),
            equipment_type: d.equipment_type,
            serial_number: d.serial_number.clone(),
            manufacturer: d.manufacturer.clone(),
            model: d.model.clone(),
            year: d.year,
            capacity: d.capacity.clone(),
            specifications: d.specifications.clone(),
            purchase_date: d.purchase_date,
            purchase_price: d.purchase_price,
            depreciation: d.depreciation.clone(),
            maintenance_schedule: d.maintenance_schedule.clone(),
            current_location: d.current_location.clone(),
            assigned_user: d.assigned_user,
            odometer_km: d.odometer_km,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RegisterEquipment {
    pub equipment_id: Uuid,
    pub tenant_id: TenantId,
    pub details: EquipmentDetailsInput,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleMaintenance {
    pub maintenance_id: Uuid,
    pub maintenance_type: MaintenanceType,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub description: String,
    pub technician: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CompleteMaintenance {
    pub maintenance_id: Uuid,
    pub cost: Decimal,
    pub parts: Vec<MaintenancePart>,
    pub labour_hours: Decimal,
    /// The scheduled technician when absent.
    pub technician: Option<Uuid>,
    pub odometer_km: Option<u32>,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EquipmentAction {
    Register(RegisterEquipment),
    /// Replaces the details; the same details again produce no event.
    Update(EquipmentDetailsInput),
    Retire {
        reason: String,
    },
    Sell {
        price: Decimal,
        buyer: String,
    },
    ReportDefect {
        defect_id: Uuid,
        description: String,
        severity: Option<DefectSeverity>,
    },
    /// Repairs one open defect, or every open one when `defect_id` is `None`.
    Repair {
        defect_id: Option<Uuid>,
        notes: Option<String>,
        cost: Decimal,
    },
    ScheduleMaintenance(ScheduleMaintenance),
    /// A scheduled maintenance, while no other is in progress.
    StartMaintenance {
        maintenance_id: Uuid,
    },
    /// A started maintenance.
    CompleteMaintenance(CompleteMaintenance),
    /// A scheduled or started maintenance.
    CancelMaintenance {
        maintenance_id: Uuid,
        reason: String,
    },
}

/// An equipment command: the action, who asked, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct EquipmentCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: EquipmentAction,
}

// ---------------------------------------------------------------- errors

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EquipmentError {
    #[error("invalid equipment: {0}")]
    Invalid(ValidationErrors),
    #[error("equipment {0} already exists")]
    AlreadyExists(Uuid),
    #[error("equipment not found")]
    NotFound,
    #[error("equipment is {0}; it can no longer change")]
    Final(EquipmentStatus),
    #[error("defect {0} is already reported")]
    DuplicateDefect(Uuid),
    #[error("defect {0} was never reported")]
    UnknownDefect(Uuid),
    #[error("defect {0} is already repaired")]
    DefectAlreadyRepaired(Uuid),
    #[error("equipment has no open defect")]
    NoOpenDefect,
    #[error("maintenance {0} is already scheduled")]
    DuplicateMaintenance(Uuid),
    #[error("maintenance {0} is not a maintenance of this equipment")]
    UnknownMaintenance(Uuid),
    #[error("maintenance {id} is {state:?}; only a scheduled one can start")]
    MaintenanceNotStartable { id: Uuid, state: MaintenanceState },
    #[error("maintenance {id} is {state:?}; only a started one can be completed")]
    MaintenanceNotStarted { id: Uuid, state: MaintenanceState },
    #[error("maintenance {id} is already {state:?}")]
    MaintenanceClosed { id: Uuid, state: MaintenanceState },
    #[error("maintenance {0} is already in progress")]
    MaintenanceInProgress(Uuid),
}

impl DomainError for EquipmentError {
    fn kind(&self) -> ErrorKind<'_> {
        let rule = match self {
            Self::Invalid(errors) => return ErrorKind::Invalid(errors),
            Self::NotFound => return ErrorKind::NotFound,
            Self::AlreadyExists(_) => "equipment.already-exists",
            Self::Final(_) => "equipment.final",
            Self::DuplicateDefect(_) => "equipment.duplicate-defect",
            Self::UnknownDefect(_) => "equipment.unknown-defect",
            Self::DefectAlreadyRepaired(_) => "equipment.defect-already-repaired",
            Self::NoOpenDefect => "equipment.no-open-defect",
            Self::DuplicateMaintenance(_) => "equipment.duplicate-maintenance",
            Self::UnknownMaintenance(_) => "equipment.unknown-maintenance",
            Self::MaintenanceNotStartable { .. } => "equipment.maintenance-not-startable",
            Self::MaintenanceNotStarted { .. } => "equipment.maintenance-not-started",
            Self::MaintenanceClosed { .. } => "equipment.maintenance-closed",
            Self::MaintenanceInProgress(_) => "equipment.maintenance-in-progress",
        };
        ErrorKind::Conflict { rule }
    }
}

impl From<ValidationErrors> for EquipmentError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

// ---------------------------------------------------------------- pure functions

/// The book value on `as_of` (see the module docs): half-up to the cent,
/// never below the salvage value (capped at the price), never above the
/// price.
pub fn current_value(
    purchase_price: Decimal,
    purchase_date: NaiveDate,
    depreciation: &Depreciation,
    as_of: NaiveDate,
) -> Decimal {
    let floor = depreciation.salvage_value.min(purchase_price);
    let days = (as_of - purchase_date).num_days().max(0);
    let years = Decimal::from(days) / Decimal::new(36525, 2);
    let value = match depreciation.method {
        DepreciationMethod::StraightLine => match depreciation.useful_life_years {
            Some(life) if life > 0 => {
                purchase_price - (purchase_price - floor) * years / Decimal::from(life)
            }
            Some(_) => floor,
            None => purchase_price,
        },
        DepreciationMethod::DecliningBalance => {
            let rate = depreciation
                .annual_rate
                .unwrap_or_default()
                .clamp(Decimal::ZERO, Decimal::ONE);
            let base = Decimal::ONE - rate;
            // base ∈ [0, 1] and years ≥ 0, so the factor is in [0, 1]; a
            // result too small to represent is 0.
            let whole = years.trunc();
            let factor = if base.is_zero() {
                if years.is_zero() {
                    Decimal::ONE
                } else {
                    Decimal::ZERO
                }
            } else {
                let whole_part = i64::try_from(whole)
                    .ok()
                    .and_then(|n| base.checked_powi(n))
                    .unwrap_or(Decimal::ZERO);
                let fraction = years - whole;
                let fraction_part = if fraction.is_zero() {
                    Decimal::ONE
                } else {
                    base.checked_powd(fraction).unwrap_or(Decimal::ZERO)
                };
                whole_part
                    .checked_mul(fraction_part)
                    .unwrap_or(Decimal::ZERO)
                    .clamp(Decimal::ZERO, Decimal::ONE)
            };
            purchase_price * factor
        }
    };
    round_money(value.clamp(floor, purchase_price.max(floor)))
}

/// When the next maintenance falls due after one completed on `completed_on`:
/// that date + the schedule's `interval_days` (`None` without one).
pub fn next_due_date(completed_on: NaiveDate, schedule: &MaintenanceSchedule) -> Option<NaiveDate> {
    completed_on.checked_add_days(Days::new(u64::from(schedule.interval_days?)))
}

// ---------------------------------------------------------------- read helpers

impl Equipment {
    pub fn is_created(&self) -> bool {
        self.id.is_some() && self.details.is_some()
    }

    pub fn status(&self) -> EquipmentStatus {
        if let Some(status) = self.final_status {
            status
        } else if !self.open_defects.is_empty() {
            EquipmentStatus::Repair
        } else if self.maintenance_in_progress().is_some() {
            EquipmentStatus::Maintenance
        } else {
            EquipmentStatus::Active
        }
    }

    pub fn maintenance(&self, maintenance_id: Uuid) -> Option<&Maintenance> {
        self.maintenances.get(&maintenance_id)
    }

    /// The started, not completed maintenance, if any.
    pub fn maintenance_in_progress(&self) -> Option<Uuid> {
        self.maintenances
            .iter()
            .find(|(_, m)| m.state == MaintenanceState::Started)
            .map(|(id, _)| *id)
    }

    pub fn location_id(&self) -> Option<&str> {
        self.details.as_ref().map(|d| d.location_id.as_str())
    }

    pub fn serial_number(&self) -> Option<&str> {
        self.details.as_ref()?.serial_number.as_deref()
    }

    pub fn odometer_km(&self) -> Option<u32> {
        self.details.as_ref()?.odometer_km
    }

    /// The book value on `as_of`, when the purchase and depreciation are known.
    pub fn current_value(&self, as_of: NaiveDate) -> Option<Decimal> {
        let d = self.details.as_ref()?;
        Some(current_value(
            d.purchase_price?,
            d.purchase_date?,
            d.depreciation.as_ref()?,
            as_of,
        ))
    }
}

// ---------------------------------------------------------------- deciding

/// A serial number: 1 to 64 characters of letters, digits, `-`, `_`, `.`
/// and `/`. Uniqueness per tenant is a database claim.
pub fn serial_number(value: &str) -> Result<String, String> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err("must be 1 to 64 characters of letters, digits, -, _, . and /".into())
    }
}

fn text(v: &mut Validator, field: &str, value: Option<&str>, max: usize) -> Option<Option<String>> {
    v.check(field, values::optional_text(value, max))
}

fn validate_details(
    v: &mut Validator,
    input: EquipmentDetailsInput,
    at: DateTime<Utc>,
) -> Option<EquipmentDetails> {
    let location_id = v.check("location_id", values::identifier(&input.location_id));
    let name = v.check(
        "name",
        values::required_text(&input.name, values::MAX_SHORT_TEXT),
    );
    let serial = match input.serial_number.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(s) => v.check("serial_number", serial_number(s)).map(Some),
    };
    let manufacturer = text(
        v,
        "manufacturer",
        input.manufacturer.as_deref(),
        values::MAX_NAME,
    );
    let model = text(v, "model", input.model.as_deref(), values::MAX_NAME);
    if input
        .year
        .is_some_and(|y| !(1900..=at.year() + 1).contains(&y))
    {
        v.error(
            "year",
            format!("must be between 1900 and {}", at.year() + 1),
        );
    }
    let capacity = text(
        v,
        "capacity",
        input.capacity.as_deref(),
        values::MAX_SHORT_TEXT,
    );
    let specifications = v.check("specifications", values::free_json(&input.specifications));
    if input.purchase_date.is_some_and(|d| d > at.date_naive()) {
        v.error("purchase_date", "must not be in the future");
    }
    let price = match input.purchase_price {
        None => Some(None),
        Some(p) => v.check("purchase_price", values::money(p)).map(Some),
    };
    let depreciation = match input.depreciation {
        None => Some(None),
        Some(d) => depreciation(v, d, price.flatten(), input.purchase_date).map(Some),
    };
    let schedule = &input.maintenance_schedule;
    if schedule
        .interval_days
        .is_some_and(|d| d == 0 || d > MAX_INTERVAL_DAYS)
    {
        v.error(
            "maintenance_schedule.interval_days",
            format!("must be between 1 and {MAX_INTERVAL_DAYS}"),
        );
    }
    if schedule
        .interval_km
        .is_some_and(|k| k == 0 || k > MAX_INTERVAL_KM)
    {
        v.error(
            "maintenance_schedule.interval_km",
            format!("must be between 1 and {MAX_INTERVAL_KM}"),
        );
    }
    let current_location = text(
        v,
        "current_location",
        input.current_location.as_deref(),
        values::MAX_SHORT_TEXT,
    );
    Some(EquipmentDetails {
        location_id: location_id?,
        name: name?,
        equipment_type: input.equipment_type,
        serial_number: serial?,
        manufacturer: manufacturer?,
        model: model?,
        year: input.year,
        capacity: capacity?,
        specifications: specifications?,
        purchase_date: input.purchase_date,
        purchase_price: price?,
        depreciation: depreciation?,
        maintenance_schedule: input.maintenance_schedule,
        current_location: current_location?,
        assigned_user: input.assigned_user,
        odometer_km: input.odometer_km,
    })
}

fn depreciation(
    v: &mut Validator,
    d: Depreciation,
    price: Option<Decimal>,
    purchase_date: Option<NaiveDate>,
) -> Option<Depreciation> {
    let mut local = Validator::new();
    if price.is_none() {
        local.error("purchase_price", "is required to depreciate the equipment");
    }
    if purchase_date.is_none() {
        local.error("purchase_date", "is required to depreciate the equipment");
    }
    let salvage = local.check("depreciation.salvage_value", values::money(d.salvage_value));
    if let (Some(s), Some(p)) = (salvage, price)
        && s > p
    {
        local.error(
            "depreciation.salvage_value",
            "must not exceed the purchase price",
        );
    }
    match d.method {
        DepreciationMethod::StraightLine => {
            if d.annual_rate.is_some() {
                local.error(
                    "depreciation.annual_rate",
                    "applies to declining balance only",
                );
            }
            if !d
                .useful_life_years
                .is_some_and(|y| (1..=MAX_USEFUL_LIFE_YEARS).contains(&y))
            {
                local.error(
                    "depreciation.useful_life_years",
                    format!("must be between 1 and {MAX_USEFUL_LIFE_YEARS} years"),
                );
            }
        }
        DepreciationMethod::DecliningBalance => {
            if d.useful_life_years.is_some() {
                local.error(
                    "depreciation.useful_life_years",
                    "applies to straight line only",
                );
            }
            if !d.annual_rate.is_some_and(|r| {
                r > Decimal::ZERO && r < Decimal::ONE && r.normalize().scale() <= 4
            }) {
                local.error(
                    "depreciation.annual_rate",
                    "must be a fraction above 0 and below 1 with at most 4 decimals",
                );
            }
        }
    }
    match local.finish() {
        Ok(()) => Some(Depreciation {
            salvage_value: salvage?,
            annual_rate: d.annual_rate.map(|r| r.normalize()),
            ..d
        }),
        Err(errors) => {
            for e in errors.0 {
                v.error(&e.field, e.message);
            }
            None
        }
    }
}

fn reason(value: &str) -> Result<String, EquipmentError> {
    values::required_text(value, values::MAX_LONG_TEXT)
        .map_err(|m| ValidationErrors::single("reason", m).into())
}

impl Equipment {
    fn register(
        cmd: RegisterEquipment,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<EquipmentRegistered, EquipmentError> {
        let mut v = Validator::new();
        let details = validate_details(&mut v, cmd.details, at);
        v.finish()?;
        let Some(details) = details else {
            unreachable!("every field was validated");
        };
        Ok(EquipmentRegistered {
            tenant_id: cmd.tenant_id,
            equipment_id: cmd.equipment_id,
            details,
            registered_by: actor,
            registered_at: at,
        })
    }

    fn update(
        current: &EquipmentDetails,
        input: EquipmentDetailsInput,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<Option<EquipmentUpdated>, EquipmentError> {
        let mut v = Validator::new();
        let details = validate_details(&mut v, input, at);
        v.finish()?;
        let Some(details) = details else {
            unreachable!("every field was validated");
        };
        let d = &details;
        let changed: Vec<String> = [
            ("location_id", d.location_id != current.location_id),
            ("name", d.name != current.name),
            ("equipment_type", d.equipment_type != current.equipment_type),
            ("serial_number", d.serial_number != current.serial_number),
            ("manufacturer", d.manufacturer != current.manufacturer),
            ("model", d.model != current.model),
            ("year", d.year != current.year),
            ("capacity", d.capacity != current.capacity),
            ("specifications", d.specifications != current.specifications),
            ("purchase_date", d.purchase_date != current.purchase_date),
            ("purchase_price", d.purchase_price != current.purchase_price),
            ("depreciation", d.depreciation != current.depreciation),
            (
                "maintenance_schedule",
                d.maintenance_schedule != current.maintenance_schedule,
            ),
            (
                "current_location",
                d.current_location != current.current_location,
            ),
            ("assigned_user", d.assigned_user != current.assigned_user),
            ("odometer_km", d.odometer_km != current.odometer_km),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(field, _)| field.to_owned())
        .collect();
        if changed.is_empty() {
            return Ok(None);
        }
        Ok(Some(EquipmentUpdated {
            details,
            changed_fields: changed,
            updated_by: actor,
            updated_at: at,
        }))
    }

    fn repair(
        &self,
        defect_id: Option<Uuid>,
        notes: Option<String>,
        cost: Decimal,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<EquipmentRepaired, EquipmentError> {
        let mut v = Validator::new();
        let cost = v.check("cost", values::money(cost));
        let notes = text(&mut v, "notes", notes.as_deref(), values::MAX_LONG_TEXT);
        v.finish()?;
        let (Some(cost), Some(notes)) = (cost, notes) else {
            unreachable!("every field was validated");
        };
        let repaired: Vec<Uuid> = match defect_id {
            Some(id) if self.open_defects.contains(&id) => vec![id],
            Some(id) if self.defects.contains(&id) => {
                return Err(EquipmentError::DefectAlreadyRepaired(id));
            }
            Some(id) => return Err(EquipmentError::UnknownDefect(id)),
            None if self.open_defects.is_empty() => return Err(EquipmentError::NoOpenDefect),
            None => self.open_defects.iter().copied().collect(),
        };
        let status_after = if self.open_defects.len() > repaired.len() {
            EquipmentStatus::Repair
        } else if self.maintenance_in_progress().is_some() {
            EquipmentStatus::Maintenance
        } else {
            EquipmentStatus::Active
        };
        Ok(EquipmentRepaired {
            defect_id,
            repaired_defects: repaired,
            notes,
            cost,
            repaired_by: actor,
            repaired_at: at,
            status_after,
        })
    }

    fn schedule_maintenance(
        &self,
        cmd: ScheduleMaintenance,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<MaintenanceScheduled, EquipmentError> {
        let mut v = Validator::new();
        if cmd.window_start >= cmd.window_end {
            v.error("window_end", "must be after window_start");
        }
        let description = v.check(
            "description",
            values::required_text(&cmd.description, values::MAX_LONG_TEXT),
        );
        v.finish()?;
        if self.maintenances.contains_key(&cmd.maintenance_id) {
            return Err(EquipmentError::DuplicateMaintenance(cmd.maintenance_id));
        }
        Ok(MaintenanceScheduled {
            maintenance_id: cmd.maintenance_id,
            maintenance_type: cmd.maintenance_type,
            window_start: cmd.window_start,
            window_end: cmd.window_end,
            description: description.unwrap_or_default(),
            technician: cmd.technician,
            scheduled_by: actor,
            scheduled_at: at,
        })
    }

    fn find_maintenance(&self, id: Uuid) -> Result<&Maintenance, EquipmentError> {
        self.maintenances
            .get(&id)
            .ok_or(EquipmentError::UnknownMaintenance(id))
    }

    fn start_maintenance(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<MaintenanceStarted, EquipmentError> {
        let m = self.find_maintenance(id)?;
        if m.state != MaintenanceState::Scheduled {
            return Err(EquipmentError::MaintenanceNotStartable { id, state: m.state });
        }
        if let Some(other) = self.maintenance_in_progress() {
            return Err(EquipmentError::MaintenanceInProgress(other));
        }
        Ok(MaintenanceStarted {
            maintenance_id: id,
            started_by: actor,
            started_at: at,
        })
    }

    fn complete_maintenance(
        &self,
        cmd: CompleteMaintenance,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<MaintenanceCompleted, EquipmentError> {
        let mut v = Validator::new();
        let cost = v.check("cost", values::money(cmd.cost));
        if cmd.parts.len() > MAX_PARTS {
            v.error("parts", format!("must list at most {MAX_PARTS} parts"));
        }
        let mut parts = Vec::with_capacity(cmd.parts.len());
        for (i, part) in cmd.parts.into_iter().enumerate() {
            let name = v.check(
                &format!("parts[{i}].name"),
                values::required_text(&part.name, values::MAX_SHORT_TEXT),
            );
            let quantity = v.check(
                &format!("parts[{i}].quantity"),
                sales::quantity(part.quantity),
            );
            let unit_cost = v.check(
                &format!("parts[{i}].unit_cost"),
                values::money(part.unit_cost),
            );
            if let (Some(name), Some(quantity), Some(unit_cost)) = (name, quantity, unit_cost) {
                parts.push(MaintenancePart {
                    name,
                    quantity,
                    unit_cost,
                });
            }
        }
        let hours = cmd.labour_hours;
        if hours < Decimal::ZERO || hours > MAX_LABOUR_HOURS || hours.normalize().scale() > 2 {
            v.error(
                "labour_hours",
                format!("must be between 0 and {MAX_LABOUR_HOURS} with at most 2 decimals"),
            );
        }
        if let (Some(now), Some(read)) = (self.odometer_km(), cmd.odometer_km)
            && read < now
        {
            v.error(
                "odometer_km",
                format!("must not be less than the current {now} km"),
            );
        }
        let notes = text(&mut v, "notes", cmd.notes.as_deref(), values::MAX_LONG_TEXT);
        v.finish()?;
        let (Some(cost), Some(notes)) = (cost, notes) else {
            unreachable!("every field was validated");
        };
        let id = cmd.maintenance_id;
        let m = self.find_maintenance(id)?;
        if m.state != MaintenanceState::Started {
            return Err(EquipmentError::MaintenanceNotStarted { id, state: m.state });
        }
        let schedule = self
            .details
            .as_ref()
            .map(|d| d.maintenance_schedule.clone())
            .unwrap_or_default();
        let mut labour_hours = hours.normalize();
        labour_hours.rescale(2);
        Ok(MaintenanceCompleted {
            maintenance_id: id,
            completed_at: at,
            completed_by: actor,
            cost,
            parts,
            labour_hours,
            technician: cmd.technician.or(m.technician),
            odometer_km: cmd.odometer_km,
            notes,
            next_due_date: next_due_date(at.date_naive(), &schedule),
        })
    }

    fn cancel_maintenance(
        &self,
        id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<MaintenanceCancelled, EquipmentError> {
        let reason = self::reason(reason)?;
        let m = self.find_maintenance(id)?;
        if matches!(
            m.state,
            MaintenanceState::Completed | MaintenanceState::Cancelled
        ) {
            return Err(EquipmentError::MaintenanceClosed { id, state: m.state });
        }
        Ok(MaintenanceCancelled {
            maintenance_id: id,
            reason,
            cancelled_by: actor,
            cancelled_at: at,
        })
    }

    /// The events `command` produces against the current state.
    pub fn decide(&self, command: EquipmentCommand) -> Result<Vec<EquipmentEvent>, EquipmentError> {
        let EquipmentCommand { at, actor, action } = command;
        if let EquipmentAction::Register(cmd) = action {
            if let Some(id) = self.id {
                return Err(EquipmentError::AlreadyExists(id));
            }
            return Ok(vec![Self::register(cmd, at, actor)?.into()]);
        }
        let (Some(current), true) = (self.details.as_ref(), self.id.is_some()) else {
            return Err(EquipmentError::NotFound);
        };
        if let Some(status) = self.final_status {
            return Err(EquipmentError::Final(status));
        }
        let event: EquipmentEvent = match action {
            EquipmentAction::Register(_) => unreachable!("handled above"),
            EquipmentAction::Update(input) => match Self::update(current, input, at, actor)? {
                Some(e) => e.into(),
                None => return Ok(vec![]),
            },
            EquipmentAction::Retire { reason } => EquipmentRetired {
                reason: self::reason(&reason)?,
                retired_by: actor,
                at,
            }
            .into(),
            EquipmentAction::Sell { price, buyer } => {
                let mut v = Validator::new();
                let price = v.check("price", values::money(price));
                let buyer = v.check(
                    "buyer",
                    values::required_text(&buyer, values::MAX_SHORT_TEXT),
                );
                v.finish()?;
                let (Some(price), Some(buyer)) = (price, buyer) else {
                    unreachable!("every field was validated");
                };
                EquipmentSold {
                    price,
                    buyer,
                    sold_by: actor,
                    at,
                }
                .into()
            }
            EquipmentAction::ReportDefect {
                defect_id,
                description,
                severity,
            } => {
                let description = values::required_text(&description, values::MAX_LONG_TEXT)
                    .map_err(|m| ValidationErrors::single("description", m))?;
                if self.defects.contains(&defect_id) {
                    return Err(EquipmentError::DuplicateDefect(defect_id));
                }
                DefectReported {
                    defect_id,
                    description,
                    severity,
                    reported_by: actor,
                    reported_at: at,
                }
                .into()
            }
            EquipmentAction::Repair {
                defect_id,
                notes,
                cost,
            } => self.repair(defect_id, notes, cost, at, actor)?.into(),
            EquipmentAction::ScheduleMaintenance(cmd) => {
                self.schedule_maintenance(cmd, at, actor)?.into()
            }
            EquipmentAction::StartMaintenance { maintenance_id } => {
                self.start_maintenance(maintenance_id, at, actor)?.into()
            }
            EquipmentAction::CompleteMaintenance(cmd) => {
                self.complete_maintenance(cmd, at, actor)?.into()
            }
            EquipmentAction::CancelMaintenance {
                maintenance_id,
                reason,
            } => self
                .cancel_maintenance(maintenance_id, &reason, at, actor)?
                .into(),
        };
        Ok(vec![event])
    }
}

impl Aggregate for Equipment {
    const TYPE: &'static str = event_schemas::equipment::AGGREGATE_TYPE;
    type Command = EquipmentCommand;
    type Event = EquipmentEvent;
    type Error = EquipmentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            EquipmentEvent::EquipmentRegistered(e) => {
                *self = Self {
                    id: Some(e.equipment_id),
                    tenant_id: Some(e.tenant_id),
                    details: Some(e.details),
                    registered_at: Some(e.registered_at),
                    ..Self::default()
                }
            }
            EquipmentEvent::EquipmentUpdated(e) => self.details = Some(e.details),
            EquipmentEvent::EquipmentRetired(_) => {
                self.final_status = Some(EquipmentStatus::Retired);
            }
            EquipmentEvent::EquipmentSold(e) => {
                self.final_status = Some(EquipmentStatus::Sold);
                self.sale_price = Some(e.price);
            }
            EquipmentEvent::DefectReported(e) => {
                self.defects.insert(e.defect_id);
                self.open_defects.insert(e.defect_id);
            }
            EquipmentEvent::EquipmentRepaired(e) => {
                for id in &e.repaired_defects {
                    self.open_defects.remove(id);
                }
                self.repair_cost += e.cost;
            }
            EquipmentEvent::MaintenanceScheduled(e) => {
                self.maintenances.insert(
                    e.maintenance_id,
                    Maintenance {
                        maintenance_type: e.maintenance_type,
                        window_start: e.window_start,
                        window_end: e.window_end,
                        description: e.description,
                        technician: e.technician,
                        state: MaintenanceState::Scheduled,
                        started_at: None,
                        completed_at: None,
                        cost: None,
                    },
                );
            }
            EquipmentEvent::MaintenanceStarted(e) => {
                if let Some(m) = self.maintenances.get_mut(&e.maintenance_id) {
                    m.state = MaintenanceState::Started;
                    m.started_at = Some(e.started_at);
                }
            }
            EquipmentEvent::MaintenanceCompleted(e) => {
                if let Some(m) = self.maintenances.get_mut(&e.maintenance_id) {
                    m.state = MaintenanceState::Completed;
                    m.completed_at = Some(e.completed_at);
                    m.cost = Some(e.cost);
                    m.technician = e.technician;
                }
                if let (Some(d), Some(km)) = (self.details.as_mut(), e.odometer_km) {
                    d.odometer_km = Some(km);
                }
                self.last_maintenance = Some(e.completed_at);
                self.next_maintenance_due = e.next_due_date;
                self.maintenance_cost += e.cost;
            }
            EquipmentEvent::MaintenanceCancelled(e) => {
                if let Some(m) = self.maintenances.get_mut(&e.maintenance_id) {
                    m.state = MaintenanceState::Cancelled;
                }
            }
        }
    }
}
