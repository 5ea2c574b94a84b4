//! `read.integrations`, `read.integration_api_keys` and
//! `read.integration_syncs` (the `integrations` projection).

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`], [`KEYS`] and [`SYNCS`].
pub const PROJECTION: &str = "integrations";
pub const TABLE: &str = "read.integrations";
pub const KEYS: &str = "read.integration_api_keys";
pub const SYNCS: &str = "read.integration_syncs";
/// The columns of an [`IntegrationRow`].
pub const COLUMNS: &str = "id, name, integration_type, description, integration_version, config, \
     secret_names, lead_source, sync_interval_minutes, auto_sync, active, syncs_running, error_count, \
     last_error, last_sync_status, last_sync_at, created_by, created_at, updated_at, version";
/// The columns of a [`KeyRow`].
pub const KEY_COLUMNS: &str = "key_id, hint, issued_by, issued_at, revoked_at";
/// The columns of a [`SyncRow`].
pub const SYNC_COLUMNS: &str = "id, integration_id, sync_type, source, reference, status, processed, \
     created_count, updated_count, failed_count, total, failures, result, error, queued_at, started_at, \
     ended_at, duration_ms, created_at, updated_at, version";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IntegrationRow {
    pub id: Uuid,
    pub name: String,
    pub integration_type: String,
    pub description: Option<String>,
    pub integration_version: Option<String>,
    pub config: serde_json::Value,
    pub secret_names: Vec<String>,
    pub lead_source: String,
    pub sync_interval_minutes: Option<i32>,
    pub auto_sync: bool,
    pub active: bool,
    pub syncs_running: i32,
    pub error_count: i64,
    pub last_error: Option<String>,
    pub last_sync_status: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub key_id: Uuid,
    pub hint: String,
    pub issued_by: Uuid,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SyncRow {
    pub id: Uuid,
    pub integration_id: Uuid,
    pub sync_type: String,
    pub source: String,
    pub reference: Option<String>,
    pub status: String,
    pub processed: i64,
    pub created_count: i64,
    pub updated_count: i64,
    pub failed_count: i64,
    pub total: Option<i64>,
    pub failures: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Integration `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<IntegrationRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// A page of `tenant`'s integrations, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    active: Option<bool>,
    page: NewestFirst,
) -> Result<Vec<IntegrationRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        ("created_by", "NULL::text"),
        "AND ($8::boolean IS NULL OR active = $8)",
        page,
        |q| q.bind(active),
    )
    .await
}

/// Every API key of integration `id`, oldest first.
pub async fn keys(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Vec<KeyRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {KEY_COLUMNS} FROM {KEYS} WHERE tenant_id = $1 AND integration_id = $2 ORDER BY issued_at"
        ),
        id,
    )
    .await
}

/// The API keys of every integration of `ids`, oldest first, with the
/// integration each belongs to (a page of integrations in one query).
pub async fn keys_of(
    pool: &PgPool,
    tenant: &TenantId,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, KeyRow)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        integration_id: Uuid,
        #[sqlx(flatten)]
        key: KeyRow,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT integration_id, {KEY_COLUMNS} FROM {KEYS}
          WHERE tenant_id = $1 AND integration_id = ANY($2) ORDER BY issued_at"
    ))
    .bind(tenant.as_str())
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.integration_id, r.key))
        .collect())
}

/// Sync log entry `id` of `tenant`.
pub async fn sync(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<SyncRow>, sqlx::Error> {
    super::by_id(pool, (SYNCS, SYNC_COLUMNS), tenant, id).await
}

/// A page of integration `integration`'s sync log, newest first
/// (`status`: only those).
pub async fn syncs(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    integration: Uuid,
    status: Option<String>,
    page: NewestFirst,
) -> Result<Vec<SyncRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (SYNCS, SYNC_COLUMNS),
        ("NULL::uuid", "NULL::text"),
        "AND integration_id = $8 AND ($9::text IS NULL OR status = $9)",
        page,
        |q| q.bind(integration).bind(status),
    )
    .await
}
