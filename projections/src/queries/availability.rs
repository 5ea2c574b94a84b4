//! `read.availability` and `read.availability_occurrences` (the
//! `availability` projection): the occurrences of a person's (or everyone's)
//! availability entries in a window, each with its entry. An entry is owned
//! by the person it is about (OWN).

use chrono::{DateTime, NaiveDateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Page, Scope};

/// The projection that owns [`TABLE`] and [`OCCURRENCES`].
pub const PROJECTION: &str = "availability";
pub const TABLE: &str = "read.availability";
pub const OCCURRENCES: &str = "read.availability_occurrences";
/// The columns of an [`OccurrenceRow`] (`o`: the occurrence, `a`: its entry).
pub const COLUMNS: &str = "o.availability_id, o.user_id, o.starts_at, o.ends_at, a.is_available, a.availability_type, \
     a.reason, a.notes, a.rule, a.local_start, a.duration_minutes, a.time_zone, a.version";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OccurrenceRow {
    pub availability_id: Uuid,
    pub user_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub is_available: bool,
    pub availability_type: String,
    pub reason: Option<String>,
    pub notes: Option<String>,
    pub rule: Option<String>,
    pub local_start: Option<NaiveDateTime>,
    pub duration_minutes: Option<i32>,
    pub time_zone: Option<String>,
    pub version: i64,
}

/// A page of the occurrences overlapping `[from, to)` of `tenant`'s entries
/// that `scope` covers (of `user` only, when given), earliest first.
pub async fn occurrences(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    user: Option<Uuid>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    page: Page<(DateTime<Utc>, Uuid)>,
) -> Result<Vec<OccurrenceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}
           FROM {OCCURRENCES} o JOIN {TABLE} a ON a.tenant_id = o.tenant_id AND a.id = o.availability_id
          WHERE o.tenant_id = $1
            AND (NOT $2 OR ($3::uuid IS NOT NULL AND o.user_id = $3))
            AND ($4::uuid IS NULL OR o.user_id = $4)
            AND o.ends_at > $5 AND o.starts_at < $6
            AND ($7::timestamptz IS NULL OR (o.starts_at, o.availability_id) > ($7, $8))
          ORDER BY o.starts_at, o.availability_id
          LIMIT $9"
    ))
    .bind(tenant.as_str())
    .bind(scope.limited)
    .bind(scope.own)
    .bind(user)
    .bind(from)
    .bind(to)
    .bind(page.after.map(|(t, _)| t))
    .bind(page.after.map(|(_, id)| id).unwrap_or_default())
    .bind(page.fetch())
    .fetch_all(pool)
    .await
}
