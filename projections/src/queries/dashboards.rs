//! `read.dashboards` and `read.dashboard_defaults` (the `dashboards`
//! projection): the dashboards a user sees (their own and the public ones;
//! every one of the tenant for a tenant-wide scope), one dashboard, and a
//! user's default.

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`] and [`DEFAULTS`].
pub const PROJECTION: &str = "dashboards";
pub const TABLE: &str = "read.dashboards";
/// Each user's default dashboard.
pub const DEFAULTS: &str = "read.dashboard_defaults";
/// The stored columns of a [`DashboardRow`] (`is_default` is computed for
/// the reader).
pub const COLUMNS: &str = "id, owner_id, name, description, widgets, layout, is_public, \
     refresh_interval_seconds, theme, deleted_at, created_at, updated_at, version";
/// The columns [`default_of`] reads.
pub const DEFAULT_COLUMNS: &str = "tenant_id, user_id, dashboard_id";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DashboardRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `Vec<event_schemas::dashboard::Widget>` as JSON.
    pub widgets: serde_json::Value,
    /// `Vec<event_schemas::dashboard::LayoutItem>` as JSON.
    pub layout: serde_json::Value,
    pub is_public: bool,
    pub refresh_interval_seconds: Option<i32>,
    pub theme: String,
    /// Set once deleted (lists leave deleted ones out; [`get`] returns
    /// them so that a wait for the deletion's version ends).
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// Whether it is the reading user's default.
    pub is_default: bool,
}

/// `{COLUMNS}` and `is_default` for the user bound at `$user`.
fn select(user: &str) -> String {
    format!(
        "SELECT {COLUMNS},
                EXISTS (SELECT 1 FROM {DEFAULTS} f
                         WHERE f.tenant_id = d.tenant_id AND f.user_id = {user} AND f.dashboard_id = d.id) AS is_default
           FROM {TABLE} d"
    )
}

/// Dashboard `id` of `tenant` (deleted or not), with `is_default` for `user`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    user: Uuid,
    id: Uuid,
) -> Result<Option<DashboardRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{} WHERE d.tenant_id = $1 AND d.id = $2",
        select("$3")
    ))
    .bind(tenant.as_str())
    .bind(id)
    .bind(user)
    .fetch_optional(pool)
    .await
}

/// A page of the dashboards of `tenant` that `user` sees, newest first: a
/// limited scope sees its own (`scope.own`) and the public ones; deleted
/// ones are left out.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    user: Uuid,
    scope: &Scope,
    page: NewestFirst,
) -> Result<Vec<DashboardRow>, sqlx::Error> {
    let (after_at, after_id) = page.after.unzip();
    sqlx::query_as(&format!(
        "{} WHERE d.tenant_id = $1 AND d.deleted_at IS NULL
            AND (NOT $2 OR d.is_public OR ($4::uuid IS NOT NULL AND d.owner_id = $4))
            AND ($5::timestamptz IS NULL OR (d.created_at, d.id) < ($5, $6))
          ORDER BY d.created_at DESC, d.id DESC
          LIMIT $7",
        select("$3")
    ))
    .bind(tenant.as_str())
    .bind(scope.limited)
    .bind(user)
    .bind(scope.own)
    .bind(after_at)
    .bind(after_id)
    .bind(page.fetch())
    .fetch_all(pool)
    .await
}

/// `user`'s default dashboard, when they chose one that still exists.
pub async fn default_of(
    pool: &PgPool,
    tenant: &TenantId,
    user: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT f.dashboard_id FROM {DEFAULTS} f
           JOIN {TABLE} d ON d.tenant_id = f.tenant_id AND d.id = f.dashboard_id AND d.deleted_at IS NULL
          WHERE f.tenant_id = $1 AND f.user_id = $2"
    ))
    .bind(tenant.as_str())
    .bind(user)
    .fetch_optional(pool)
    .await
}
