//! `read.audit_events` (the `audit_trail` projection): the audit trail,
//! newest first.

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::Page;

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "audit_trail";
pub const TABLE: &str = "read.audit_events";
/// The columns of an [`AuditRow`].
pub const COLUMNS: &str = "event_id, stream_seq, position, event_type, event_version, aggregate_type, aggregate_id, sequence, \
     actor, actor_role, correlation_id, causation_id, command_id, recorded_at, payload";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub event_id: Uuid,
    /// Position in the stream (the list's key).
    pub stream_seq: i64,
    pub position: i64,
    pub event_type: String,
    pub event_version: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub actor: String,
    pub actor_role: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub command_id: String,
    pub recorded_at: DateTime<Utc>,
    pub payload: Value,
}

/// What an audit list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub to: Option<DateTime<Utc>>,
}

/// A page of `tenant`'s events, newest first, after the stream sequence
/// `page.after`.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &AuditFilter,
    page: Page<i64>,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}
           FROM {TABLE}
          WHERE tenant_id = $1
            AND ($2::text IS NULL OR aggregate_type = $2)
            AND ($3::text IS NULL OR aggregate_id = $3)
            AND ($4::timestamptz IS NULL OR recorded_at >= $4)
            AND ($5::timestamptz IS NULL OR recorded_at < $5)
            AND ($6::bigint IS NULL OR stream_seq < $6)
          ORDER BY stream_seq DESC
          LIMIT $7"
    ))
    .bind(tenant.as_str())
    .bind(filter.aggregate_type.as_deref())
    .bind(filter.aggregate_id.as_deref())
    .bind(filter.from)
    .bind(filter.to)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(pool)
    .await
}
