//! `read.communications` (the `communications` projection): one message,
//! and the messages a caller's scope covers (OWN: the ones they wrote).

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "communications";
pub const TABLE: &str = "read.communications";
/// The columns of a [`CommunicationRow`].
pub const COLUMNS: &str = "id, channel, purpose, status, customer_id, staff_user_id, recipient, subject, content, \
     template_id, template_version, variables, attachments, metadata, tags, lead_id, quote_id, invoice_id, \
     schedule_id, rule_id, cause_event_id, attempts, next_attempt_at, last_error, provider_message_id, queued_at, \
     sent_at, delivered_at, read_at, failed_at, failure_reason, cancelled_at, created_by, created_at, updated_at, \
     version";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommunicationRow {
    pub id: Uuid,
    pub channel: String,
    pub purpose: String,
    pub status: String,
    pub customer_id: Option<Uuid>,
    pub staff_user_id: Option<Uuid>,
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
    pub template_id: Option<Uuid>,
    pub template_version: Option<i32>,
    pub variables: Option<serde_json::Value>,
    pub attachments: serde_json::Value,
    pub metadata: Option<serde_json::Value>,
    pub tags: Vec<String>,
    pub lead_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
    pub schedule_id: Option<Uuid>,
    pub rule_id: Option<Uuid>,
    pub cause_event_id: Option<Uuid>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Message `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<CommunicationRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// What a message list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct CommunicationFilter {
    pub customer_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// A CommunicationStatus's wire name.
    pub status: Option<String>,
    /// A CommunicationType's wire name.
    pub channel: Option<String>,
}

/// A page of the messages of `tenant` that `scope` covers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &CommunicationFilter,
    page: NewestFirst,
) -> Result<Vec<CommunicationRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        ("created_by", "NULL::text"),
        "AND ($8::uuid IS NULL OR customer_id = $8)
         AND ($9::uuid IS NULL OR lead_id = $9)
         AND ($10::text IS NULL OR status = $10)
         AND ($11::text IS NULL OR channel = $11)",
        page,
        |q| {
            q.bind(filter.customer_id)
                .bind(filter.lead_id)
                .bind(filter.status.clone())
                .bind(filter.channel.clone())
        },
    )
    .await
}
