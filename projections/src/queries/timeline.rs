//! `read.lead_timeline` (the `lead_timeline` projection): a lead's or a
//! customer's activities, changes and messages, newest first (commit
//! order).

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
pub const COLUMNS: &str = "position, sequence, lead_id, communication_id, kind, event_type, occurred_at, actor, \
     actor_role, summary, data";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineRow {
    /// The entry's place in commit order (the list's key).
    pub position: i64,
    /// The lead event's sequence (none for a message).
    pub sequence: Option<i64>,
    pub lead_id: Option<Uuid>,
    pub communication_id: Option<Uuid>,
    pub kind: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub summary: String,
    pub data: Value,
}

/// Whose timeline.
#[derive(Debug, Clone, Copy)]
pub enum Of {
    Lead(Uuid),
    Customer(Uuid),
}

/// A page of the entries of a lead or a customer of `tenant` (of `kind`
/// only, when given), newest first, before the position `page.after`.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    of: Of,
    kind: Option<&str>,
    page: Page<i64>,
) -> Result<Vec<TimelineRow>, sqlx::Error> {
    let (column, id) = match of {
        Of::Lead(id) => ("lead_id", id),
        Of::Customer(id) => ("customer_id", id),
    };
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}
           FROM {TABLE}
          WHERE tenant_id = $1 AND {column} = $2
            AND ($3::text IS NULL OR kind = $3)
            AND ($4::bigint IS NULL OR position < $4)
          ORDER BY position DESC
          LIMIT $5"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .bind(kind)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(pool)
    .await
}
