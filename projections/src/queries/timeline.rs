//! `read.lead_timeline` (the `lead_timeline` projection): a lead's
//! activities and changes, newest first.

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::Page;

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "lead_timeline";
pub const TABLE: &str = "read.lead_timeline";
/// The columns of a [`TimelineRow`].
pub const COLUMNS: &str =
    "sequence, kind, event_type, occurred_at, actor, actor_role, summary, data";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineRow {
    /// The lead event's sequence (the list's key).
    pub sequence: i64,
    pub kind: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub summary: String,
    pub data: Value,
}

/// A page of the entries of lead `lead_id` of `tenant` (of `kind` only,
/// when given), newest first, after the sequence `page.after`.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    lead_id: Uuid,
    kind: Option<&str>,
    page: Page<i64>,
) -> Result<Vec<TimelineRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}
           FROM {TABLE}
          WHERE tenant_id = $1 AND lead_id = $2
            AND ($3::text IS NULL OR kind = $3)
            AND ($4::bigint IS NULL OR sequence < $4)
          ORDER BY sequence DESC
          LIMIT $5"
    ))
    .bind(tenant.as_str())
    .bind(lead_id)
    .bind(kind)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(pool)
    .await
}
