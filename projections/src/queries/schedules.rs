//! `read.schedules` (the `schedules` projection): one schedule, and the
//! calendar's lists in start order that a caller's scope covers. A schedule
//! is "owned" (OWN) by everyone on its crew and by whoever owns its lead
//! (the lead's OWN rule: assigned to them, created by them, or unassigned;
//! `read.leads`), and located at its location.

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Page, Scope};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "schedules";
pub const TABLE: &str = "read.schedules";
/// The columns of a [`ScheduleRow`].
pub const COLUMNS: &str = "id, location_id, title, description, schedule_type, priority, status, starts_at, ends_at, \
     utc_offset_seconds, crew, equipment_ids, vehicle_ids, lead_id, quote_id, journey_id, rescheduled_at, started_at, \
     completed_at, notes, cancelled_at, cancel_reason, created_by, created_at, updated_at, version";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: Uuid,
    pub location_id: String,
    pub title: String,
    pub description: Option<String>,
    pub schedule_type: String,
    pub priority: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub utc_offset_seconds: i32,
    /// `[{user_id, role, response}]`.
    pub crew: Value,
    pub equipment_ids: Vec<Uuid>,
    pub vehicle_ids: Vec<Uuid>,
    pub lead_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
    pub rescheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The schedule `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<ScheduleRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// OWN through the schedule's lead (`$1` the tenant, `$3` the caller).
const LEAD_OWNED: &str = "EXISTS (SELECT 1 FROM read.leads l
     WHERE l.tenant_id = $1 AND l.id = lead_id
       AND (l.assigned_to IS NULL OR l.assigned_to = $3 OR l.created_by = $3))";

/// Whether `user` owns lead `lead` by the lead's OWN rule.
pub async fn lead_is_own(
    pool: &PgPool,
    tenant: &TenantId,
    lead: Uuid,
    user: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {} l WHERE l.tenant_id = $1 AND l.id = $2
                          AND (l.assigned_to IS NULL OR l.assigned_to = $3 OR l.created_by = $3))",
        super::leads::TABLE
    ))
    .bind(tenant.as_str())
    .bind(lead)
    .bind(user)
    .fetch_one(pool)
    .await
}

/// What a calendar list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct ScheduleFilter {
    /// Schedules ending after `from`…
    pub from: Option<DateTime<Utc>>,
    /// …and starting before `to`.
    pub to: Option<DateTime<Utc>>,
    /// Schedules with this person on the crew.
    pub user_id: Option<Uuid>,
    pub location_id: Option<String>,
    pub schedule_type: Option<String>,
    pub status: Option<String>,
}

/// A calendar list's keyset: by start, then id.
pub type EarliestFirst = Page<(DateTime<Utc>, Uuid)>;

/// A page of the schedules of `tenant` that `scope` covers, earliest
/// start first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &ScheduleFilter,
    page: EarliestFirst,
) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {TABLE}
          WHERE tenant_id = $1
            AND (NOT $2 OR ($3::uuid IS NOT NULL AND ($3 = ANY(crew_ids) OR {LEAD_OWNED}))
                        OR ($4::text[] IS NOT NULL AND location_id = ANY($4)))
            AND ($5::timestamptz IS NULL OR (starts_at, id) > ($5, $6))
            AND ($8::timestamptz IS NULL OR ends_at > $8)
            AND ($9::timestamptz IS NULL OR starts_at < $9)
            AND ($10::uuid IS NULL OR $10 = ANY(crew_ids))
            AND ($11::text IS NULL OR location_id = $11)
            AND ($12::text IS NULL OR schedule_type = $12)
            AND ($13::text IS NULL OR status = $13)
          ORDER BY starts_at, id
          LIMIT $7"
    ))
    .bind(tenant.as_str())
    .bind(scope.limited)
    .bind(scope.own)
    .bind(scope.locations.clone())
    .bind(page.after.map(|(t, _)| t))
    .bind(page.after.map(|(_, id)| id).unwrap_or_default())
    .bind(page.fetch())
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.user_id)
    .bind(filter.location_id.clone())
    .bind(filter.schedule_type.clone())
    .bind(filter.status.clone())
    .fetch_all(pool)
    .await
}
