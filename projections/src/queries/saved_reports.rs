//! `read.reports` and `read.report_runs` (the `reports` projection): saved
//! reports, their runs, and what the report worker looks for (runs to do,
//! schedules, files past their retention).

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Page, Scope};

/// The projection that owns [`TABLE`] and [`RUNS`].
pub const PROJECTION: &str = "reports";
pub const TABLE: &str = "read.reports";
pub const RUNS: &str = "read.report_runs";
/// The columns of a [`ReportRow`].
pub const COLUMNS: &str = "id, report_type, name, description, catalogue_key, parameters, format, \
     schedule_cron, recipients, status, latest_run_id, last_error, last_generated_at, last_file, \
     last_due_at, created_by, created_at, updated_at, version";
/// The columns of a [`RunRow`].
pub const RUN_COLUMNS: &str = "report_id, run_id, trigger, due_at, status, attempts, file, period, \
     error, communication_ids, requested_by, requested_at, started_at, completed_at, sent_at, expired_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: Uuid,
    pub report_type: String,
    pub name: String,
    pub description: Option<String>,
    pub catalogue_key: String,
    pub parameters: serde_json::Value,
    pub format: String,
    pub schedule_cron: Option<String>,
    pub recipients: serde_json::Value,
    pub status: String,
    pub latest_run_id: Option<Uuid>,
    pub last_error: Option<String>,
    pub last_generated_at: Option<DateTime<Utc>>,
    /// The latest completed run's file (with its `run_id`), until it expires.
    pub last_file: Option<serde_json::Value>,
    pub last_due_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub report_id: Uuid,
    pub run_id: Uuid,
    pub trigger: String,
    pub due_at: Option<DateTime<Utc>>,
    pub status: String,
    pub attempts: i32,
    pub file: Option<serde_json::Value>,
    pub period: Option<String>,
    pub error: Option<String>,
    pub communication_ids: Option<serde_json::Value>,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
}

/// Report `id` of `tenant` (not deleted).
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<ReportRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {TABLE} WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A page of `tenant`'s reports (not deleted), newest first; a limited
/// scope sees the reports its user created.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    page: NewestFirst,
) -> Result<Vec<ReportRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        ("created_by", "NULL::text"),
        "AND deleted_at IS NULL",
        page,
        |q| q,
    )
    .await
}

/// A page of report `id`'s runs, newest first (`after`: the last run's
/// request time and id).
pub async fn runs(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    page: Page<(DateTime<Utc>, Uuid)>,
) -> Result<Vec<RunRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM {RUNS}
          WHERE tenant_id = $1 AND report_id = $2
            AND ($3::timestamptz IS NULL OR (requested_at, run_id) < ($3, $4))
          ORDER BY requested_at DESC, run_id DESC
          LIMIT $5"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .bind(page.after.map(|(t, _)| t))
    .bind(page.after.map(|(_, id)| id).unwrap_or_default())
    .bind(page.fetch())
    .fetch_all(pool)
    .await
}

/// Run `run_id` of report `id`.
pub async fn run(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    run_id: Uuid,
) -> Result<Option<RunRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM {RUNS} WHERE tenant_id = $1 AND report_id = $2 AND run_id = $3"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .bind(run_id)
    .fetch_optional(pool)
    .await
}

/// A run waiting for the worker (PENDING), or left GENERATING by a
/// worker that stopped.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunToDo {
    pub tenant_id: String,
    pub report_id: Uuid,
    pub run_id: Uuid,
}

/// Up to `limit` runs to do, across tenants, oldest request first.
pub async fn runs_to_do(pool: &PgPool, limit: i64) -> Result<Vec<RunToDo>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT r.tenant_id, r.report_id, r.run_id FROM {RUNS} r
          WHERE r.status IN ('PENDING', 'GENERATING')
          ORDER BY r.requested_at, r.run_id
          LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A report with a schedule.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Scheduled {
    pub tenant_id: String,
    pub id: Uuid,
    pub schedule_cron: String,
    /// The latest due instant a run was asked for.
    pub last_due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Every scheduled report of every tenant (not deleted).
pub async fn scheduled(pool: &PgPool) -> Result<Vec<Scheduled>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT tenant_id, id, schedule_cron, last_due_at, created_at FROM {TABLE}
          WHERE schedule_cron IS NOT NULL AND deleted_at IS NULL
          ORDER BY tenant_id, id"
    ))
    .fetch_all(pool)
    .await
}

/// A run whose file is still stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredFile {
    pub tenant_id: String,
    pub report_id: Uuid,
    pub run_id: Uuid,
    pub completed_at: Option<DateTime<Utc>>,
    /// The report was deleted: the file goes whatever its age.
    pub report_deleted: bool,
}

/// The tenants with stored report files.
pub async fn tenants_with_files(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT DISTINCT tenant_id FROM {RUNS} WHERE file IS NOT NULL AND expired_at IS NULL"
    ))
    .fetch_all(pool)
    .await
}

/// Up to `limit` of `tenant`'s runs whose files were completed before
/// `before`, or belong to a deleted report, oldest first.
pub async fn files_to_expire(
    pool: &PgPool,
    tenant: &str,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<StoredFile>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT r.tenant_id, r.report_id, r.run_id, r.completed_at,
                (p.deleted_at IS NOT NULL) AS report_deleted
           FROM {RUNS} r JOIN {TABLE} p ON p.tenant_id = r.tenant_id AND p.id = r.report_id
          WHERE r.tenant_id = $1 AND r.file IS NOT NULL AND r.expired_at IS NULL
            AND (r.completed_at < $2 OR p.deleted_at IS NOT NULL)
          ORDER BY r.completed_at
          LIMIT $3"
    ))
    .bind(tenant)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}
