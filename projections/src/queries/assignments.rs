//! `read.equipment_assignments` (the `equipment_assignments` projection):
//! one assignment by id, a piece of equipment's assignments, and lists a
//! caller's scope covers.
//!
//! An assignment is owned by its crew member (`user_id`), or without one by
//! whoever assigned it; it has no location of its own.

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use event_schemas::assignment::AssignmentStatus;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "equipment_assignments";
pub const TABLE: &str = "read.equipment_assignments";
/// The columns of an [`AssignmentRow`].
pub const COLUMNS: &str = "id, equipment_id, journey_id, user_id, starts_at, ends_at, booked_until, \
     status, purpose, notes, assigned_by, assigned_at, checked_out_at, checked_out_by, checkout_odometer_km, \
     returned_at, returned_by, return_odometer_km, condition_notes, cancelled_at, cancelled_by, cancel_reason, \
     reschedules, version, created_at, updated_at";
/// How many assignments [`of_equipment`] returns.
pub const OF_EQUIPMENT_SHOWN: i64 = 200;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub id: Uuid,
    pub equipment_id: Uuid,
    pub journey_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub booked_until: Option<DateTime<Utc>>,
    pub status: String,
    pub purpose: Option<String>,
    pub notes: Option<String>,
    pub assigned_by: Uuid,
    pub assigned_at: DateTime<Utc>,
    pub checked_out_at: Option<DateTime<Utc>>,
    pub checked_out_by: Option<Uuid>,
    pub checkout_odometer_km: Option<i32>,
    pub returned_at: Option<DateTime<Utc>>,
    pub returned_by: Option<Uuid>,
    pub return_odometer_km: Option<i32>,
    pub condition_notes: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancelled_by: Option<Uuid>,
    pub cancel_reason: Option<String>,
    pub reschedules: i32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The assignment `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<AssignmentRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// The assignments of equipment `equipment_id` that `scope` covers (a
/// limited scope: its owner's only), by period, newest first, at most
/// [`OF_EQUIPMENT_SHOWN`].
pub async fn of_equipment(
    pool: &PgPool,
    tenant: &TenantId,
    equipment_id: Uuid,
    scope: &Scope,
) -> Result<Vec<AssignmentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {TABLE}
          WHERE tenant_id = $1 AND equipment_id = $2 AND (NOT $3 OR coalesce(user_id, assigned_by) = $4)
          ORDER BY starts_at DESC, id DESC LIMIT {OF_EQUIPMENT_SHOWN}"
    ))
    .bind(tenant.as_str())
    .bind(equipment_id)
    .bind(scope.limited)
    .bind(scope.own)
    .fetch_all(pool)
    .await
}

/// What an assignment list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub equipment_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// Periods ending after this.
    pub from: Option<DateTime<Utc>>,
    /// Periods starting before this.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<AssignmentStatus>,
}

/// A page of the assignments of `tenant` that `scope` covers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &AssignmentFilter,
    page: NewestFirst,
) -> Result<Vec<AssignmentRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        // Assignments have no location of their own.
        ("coalesce(user_id, assigned_by)", "NULL::text"),
        "AND ($8::uuid IS NULL OR equipment_id = $8)
         AND ($9::uuid IS NULL OR journey_id = $9)
         AND ($10::uuid IS NULL OR user_id = $10)
         AND ($11::timestamptz IS NULL OR ends_at > $11)
         AND ($12::timestamptz IS NULL OR starts_at < $12)
         AND ($13::text IS NULL OR status = $13)",
        page,
        |q| {
            q.bind(filter.equipment_id)
                .bind(filter.journey_id)
                .bind(filter.user_id)
                .bind(filter.from)
                .bind(filter.to)
                .bind(filter.status.map(AssignmentStatus::as_str))
        },
    )
    .await
}
