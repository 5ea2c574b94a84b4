//! `read.equipment`, `read.equipment_maintenance` and
//! `read.equipment_defects` (the `equipment` projection): one piece of
//! equipment with its maintenance and defects, lists a caller's scope
//! covers (with the availability search), and the maintenance due.
//!
//! Equipment is owned by its `assigned_user` and located by `location_id`.

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::TenantId;
use event_schemas::equipment::{EquipmentStatus, EquipmentType};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`], [`MAINTENANCE`] and [`DEFECTS`].
pub const PROJECTION: &str = "equipment";
pub const TABLE: &str = "read.equipment";
pub const MAINTENANCE: &str = "read.equipment_maintenance";
pub const DEFECTS: &str = "read.equipment_defects";
/// The columns of an [`EquipmentRow`].
pub const COLUMNS: &str = "id, location_id, name, equipment_type, serial_number, manufacturer, model, year, \
     capacity, specifications, purchase_date, purchase_price, depreciation_method, depreciation_rate, \
     useful_life_years, salvage_value, maintenance_interval_days, maintenance_interval_km, current_location, \
     assigned_user, odometer_km, status, open_defects, last_maintenance_date, next_due_date, \
     maintenance_cost_total, repair_cost_total, retired_at, retired_by, retire_reason, sold_at, sold_by, \
     sale_price, buyer, created_by, version, created_at, updated_at";
/// The columns of a [`MaintenanceRow`].
pub const MAINTENANCE_COLUMNS: &str = "maintenance_id, maintenance_type, status, window_start, window_end, booked_until, description, \
     technician, scheduled_by, scheduled_at, started_by, started_at, completed_by, completed_at, cost, \
     parts, labour_hours, odometer_km, notes, next_due_date, cancelled_by, cancelled_at, cancel_reason";
/// The columns of a [`DefectRow`].
pub const DEFECT_COLUMNS: &str = "defect_id, description, severity, reported_by, reported_at, repaired_by, repaired_at, repair_cost, \
     repair_notes";
/// The columns of a [`MaintenanceDueRow`] read as they are (`id` is read
/// as `equipment_id`; the others are computed).
pub const MAINTENANCE_DUE_COLUMNS: &str = "name, equipment_type, location_id, status, serial_number, last_maintenance_date, \
     next_due_date, odometer_km, maintenance_interval_days, maintenance_interval_km";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EquipmentRow {
    pub id: Uuid,
    pub location_id: String,
    pub name: String,
    pub equipment_type: String,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub year: Option<i32>,
    pub capacity: Option<String>,
    pub specifications: Value,
    pub purchase_date: Option<NaiveDate>,
    pub purchase_price: Option<Decimal>,
    pub depreciation_method: Option<String>,
    pub depreciation_rate: Option<Decimal>,
    pub useful_life_years: Option<i32>,
    pub salvage_value: Option<Decimal>,
    pub maintenance_interval_days: Option<i32>,
    pub maintenance_interval_km: Option<i32>,
    pub current_location: Option<String>,
    pub assigned_user: Option<Uuid>,
    pub odometer_km: Option<i32>,
    pub status: String,
    pub open_defects: i32,
    pub last_maintenance_date: Option<NaiveDate>,
    pub next_due_date: Option<NaiveDate>,
    pub maintenance_cost_total: Decimal,
    pub repair_cost_total: Decimal,
    pub retired_at: Option<DateTime<Utc>>,
    pub retired_by: Option<Uuid>,
    pub retire_reason: Option<String>,
    pub sold_at: Option<DateTime<Utc>>,
    pub sold_by: Option<Uuid>,
    pub sale_price: Option<Decimal>,
    pub buyer: Option<String>,
    pub created_by: Uuid,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MaintenanceRow {
    pub maintenance_id: Uuid,
    pub maintenance_type: String,
    pub status: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub booked_until: Option<DateTime<Utc>>,
    pub description: String,
    pub technician: Option<Uuid>,
    pub scheduled_by: Uuid,
    pub scheduled_at: DateTime<Utc>,
    pub started_by: Option<Uuid>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_by: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cost: Option<Decimal>,
    pub parts: Option<Value>,
    pub labour_hours: Option<Decimal>,
    pub odometer_km: Option<i32>,
    pub notes: Option<String>,
    pub next_due_date: Option<NaiveDate>,
    pub cancelled_by: Option<Uuid>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DefectRow {
    pub defect_id: Uuid,
    pub description: String,
    pub severity: Option<String>,
    pub reported_by: Uuid,
    pub reported_at: DateTime<Utc>,
    pub repaired_by: Option<Uuid>,
    pub repaired_at: Option<DateTime<Utc>>,
    pub repair_cost: Option<Decimal>,
    pub repair_notes: Option<String>,
}

/// The equipment `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<EquipmentRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// The maintenance of equipment `equipment_id`, by window, newest first.
pub async fn maintenance(
    pool: &PgPool,
    tenant: &TenantId,
    equipment_id: Uuid,
) -> Result<Vec<MaintenanceRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {MAINTENANCE_COLUMNS}
               FROM {MAINTENANCE} WHERE tenant_id = $1 AND equipment_id = $2
              ORDER BY window_start DESC, maintenance_id"
        ),
        equipment_id,
    )
    .await
}

/// The defects of equipment `equipment_id`, newest first.
pub async fn defects(
    pool: &PgPool,
    tenant: &TenantId,
    equipment_id: Uuid,
) -> Result<Vec<DefectRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {DEFECT_COLUMNS}
               FROM {DEFECTS} WHERE tenant_id = $1 AND equipment_id = $2
              ORDER BY reported_at DESC, defect_id"
        ),
        equipment_id,
    )
    .await
}

/// What an equipment list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct EquipmentFilter {
    pub equipment_type: Option<EquipmentType>,
    pub status: Option<EquipmentStatus>,
    pub location_id: Option<String>,
    /// Only equipment that can be assigned over `[from, to)`: ACTIVE now,
    /// held by no non-cancelled assignment or maintenance window at any
    /// moment of the range.
    pub available: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A page of the equipment of `tenant` that `scope` covers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &EquipmentFilter,
    page: NewestFirst,
) -> Result<Vec<EquipmentRow>, sqlx::Error> {
    let assignments = super::assignments::TABLE;
    let window = filter.available;
    let location = filter.location_id.clone();
    super::newest_first(
        pool,
        tenant,
        scope,
        (&format!("{TABLE} e"), COLUMNS),
        ("e.assigned_user", "e.location_id"),
        &format!(
            "AND ($8::text IS NULL OR e.equipment_type = $8)
         AND ($9::text IS NULL OR e.status = $9)
         AND ($10::text IS NULL OR e.location_id = $10)
         AND ($11::timestamptz IS NULL OR (
              e.status = 'ACTIVE'
              AND NOT EXISTS (SELECT 1 FROM {assignments} a
                               WHERE a.tenant_id = $1 AND a.equipment_id = e.id AND a.status <> 'CANCELLED'
                                 AND a.starts_at < $12 AND a.booked_until > $11)
              AND NOT EXISTS (SELECT 1 FROM {MAINTENANCE} m
                               WHERE m.tenant_id = $1 AND m.equipment_id = e.id AND m.status <> 'CANCELLED'
                                 AND m.window_start < $12 AND m.booked_until > $11)))"
        ),
        page,
        |q| {
            q.bind(filter.equipment_type.map(EquipmentType::as_str))
                .bind(filter.status.map(EquipmentStatus::as_str))
                .bind(location)
                .bind(window.map(|w| w.0))
                .bind(window.map(|w| w.1))
        },
    )
    .await
}

/// Equipment whose maintenance is due.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MaintenanceDueRow {
    pub equipment_id: Uuid,
    pub name: String,
    pub equipment_type: String,
    pub location_id: String,
    pub status: String,
    pub serial_number: Option<String>,
    pub last_maintenance_date: Option<NaiveDate>,
    pub next_due_date: NaiveDate,
    /// Days from `as_of` to the due date (negative: overdue).
    pub days_until_due: i32,
    pub overdue: bool,
    pub odometer_km: Option<i32>,
    pub maintenance_interval_days: Option<i32>,
    pub maintenance_interval_km: Option<i32>,
}

/// `tenant`'s equipment, not retired or sold, whose next maintenance is
/// due on or before `as_of` + `within_days` (overdue included), by due
/// date, then name.
pub async fn maintenance_due(
    pool: &PgPool,
    tenant: &TenantId,
    as_of: NaiveDate,
    within_days: i32,
) -> Result<Vec<MaintenanceDueRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id AS equipment_id, {MAINTENANCE_DUE_COLUMNS},
                (next_due_date - $2::date) AS days_until_due, next_due_date < $2::date AS overdue
           FROM {TABLE}
          WHERE tenant_id = $1 AND status NOT IN ('RETIRED', 'SOLD') AND next_due_date <= $2::date + $3::integer
          ORDER BY next_due_date, name, id"
    ))
    .bind(tenant.as_str())
    .bind(as_of)
    .bind(within_days)
    .fetch_all(pool)
    .await
}
