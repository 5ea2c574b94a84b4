//! `read.webhooks`, `read.webhook_deliveries` and
//! `read.webhook_delivery_attempts` (the `webhooks` projection): endpoints
//! with their figures, and the delivery log (CLIENT scope).

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`], [`DELIVERIES`] and [`ATTEMPTS`].
pub const PROJECTION: &str = "webhooks";
pub const TABLE: &str = "read.webhooks";
pub const DELIVERIES: &str = "read.webhook_deliveries";
pub const ATTEMPTS: &str = "read.webhook_delivery_attempts";
/// The columns of a [`WebhookRow`].
pub const COLUMNS: &str = "id, name, description, url, event_types, header_names, active, \
     disabled_reason, disabled_detail, disabled_at, secret_rotated_at, deleted_at, last_triggered_at, \
     success_count, failure_count, last_error, last_status_code, created_by, created_at, updated_at, version";
/// The columns of a [`DeliveryRow`].
pub const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, event_type, status, attempts, \
     last_status_code, last_error, last_response, last_duration_ms, next_attempt_at, queued_at, \
     last_attempt_at, delivered_at, failed_at, created_at, updated_at, version";
/// The columns of an [`AttemptRow`].
pub const ATTEMPT_COLUMNS: &str =
    "attempt, started_at, finished_at, outcome, status_code, response_excerpt, duration_ms, error";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub event_types: Vec<String>,
    pub header_names: Vec<String>,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub disabled_detail: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub last_triggered_at: Option<DateTime<Utc>>,
    pub success_count: i64,
    pub failure_count: i64,
    pub last_error: Option<String>,
    pub last_status_code: Option<i32>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_response: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub queued_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub status_code: Option<i32>,
    pub response_excerpt: Option<String>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

/// Endpoint `id` of `tenant` (deleted ones too).
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// A page of `tenant`'s endpoints, newest first, without the deleted ones
/// (`active`: only active or only disabled ones).
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    active: Option<bool>,
    page: NewestFirst,
) -> Result<Vec<WebhookRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        ("created_by", "NULL::text"),
        "AND deleted_at IS NULL AND ($8::boolean IS NULL OR active = $8)",
        page,
        |q| q.bind(active),
    )
    .await
}

/// Delivery `id` of `tenant`.
pub async fn delivery(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<DeliveryRow>, sqlx::Error> {
    super::by_id(pool, (DELIVERIES, DELIVERY_COLUMNS), tenant, id).await
}

/// A page of the deliveries to endpoint `webhook`, newest first
/// (`status`: only those).
pub async fn deliveries(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    webhook: Uuid,
    status: Option<String>,
    page: NewestFirst,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (DELIVERIES, DELIVERY_COLUMNS),
        ("NULL::uuid", "NULL::text"),
        "AND webhook_id = $8 AND ($9::text IS NULL OR status = $9)",
        page,
        |q| q.bind(webhook).bind(status),
    )
    .await
}

/// Every attempt of delivery `id`, first first.
pub async fn attempts(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Vec<AttemptRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {ATTEMPT_COLUMNS} FROM {ATTEMPTS} WHERE tenant_id = $1 AND delivery_id = $2 ORDER BY attempt"
        ),
        id,
    )
    .await
}

/// The ids of the deliveries to endpoint `webhook` that FAILED at or after
/// `since` (a recovery queues each again).
pub async fn failed_since(
    pool: &PgPool,
    tenant: &TenantId,
    webhook: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT id FROM {DELIVERIES}
          WHERE tenant_id = $1 AND webhook_id = $2 AND status = 'FAILED' AND failed_at >= $3
          ORDER BY failed_at"
    ))
    .bind(tenant.as_str())
    .bind(webhook)
    .bind(since)
    .fetch_all(pool)
    .await
}
