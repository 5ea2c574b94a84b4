//! `read.communication_rules` (the `communication_rules` projection): one
//! rule, and a tenant's rules (CLIENT scope).

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "communication_rules";
pub const TABLE: &str = "read.communication_rules";
/// The columns of a [`RuleRow`].
pub const COLUMNS: &str = "id, name, trigger, template_id, channel, timing, unless, active, deleted_at, \
     created_by, created_at, updated_at, version";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub id: Uuid,
    pub name: String,
    pub trigger: String,
    pub template_id: Uuid,
    pub channel: String,
    pub timing: serde_json::Value,
    pub unless: Vec<String>,
    pub active: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Rule `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<RuleRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// A page of `tenant`'s rules, newest first (`active`: only active or
/// only deleted ones).
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    active: Option<bool>,
    page: NewestFirst,
) -> Result<Vec<RuleRow>, sqlx::Error> {
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
