//! `read.customers` (the `customers` projection): one customer by id, and
//! lists filtered by email, a search text, activity and tag.

use chrono::{DateTime, Utc};
use event_schemas::{Address, TenantId};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use super::{NewestFirst, like_escape};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "customers";
pub const TABLE: &str = "read.customers";
/// The columns of a [`CustomerRow`].
pub const COLUMNS: &str = "id, first_name, last_name, email, phone, address, lead_source, tags, preferences, notes, \
     active, forgotten, lead_count, version, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Json<Address>>,
    pub lead_source: Option<String>,
    pub tags: Vec<String>,
    pub preferences: Value,
    pub notes: Option<String>,
    pub active: bool,
    pub forgotten: bool,
    pub lead_count: i32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The customer `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<CustomerRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// What a customer list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Exact email, case-insensitive.
    pub email: Option<String>,
    /// A substring of the names, email and phone, case-insensitive
    /// (wildcards are matched literally).
    pub q: Option<String>,
    pub active: Option<bool>,
    /// Customers carrying this tag (tags are stored lower case).
    pub tag: Option<String>,
}

/// A page of `tenant`'s customers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &CustomerFilter,
    page: NewestFirst,
) -> Result<Vec<CustomerRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {TABLE}
          WHERE tenant_id = $1
            AND ($2::text IS NULL OR lower(email) = lower($2))
            AND ($3::text IS NULL OR lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, ''))
                                     LIKE '%' || lower($3) || '%')
            AND ($4::boolean IS NULL OR active = $4)
            AND ($5::text IS NULL OR $5 = ANY(tags))
            AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
          ORDER BY created_at DESC, id DESC
          LIMIT $8"
    );
    sqlx::query_as(&sql)
        .bind(tenant.as_str())
        .bind(filter.email.as_deref())
        .bind(filter.q.as_deref().map(like_escape))
        .bind(filter.active)
        .bind(filter.tag.as_deref())
        .bind(page.after.map(|(t, _)| t))
        .bind(page.after.map(|(_, id)| id).unwrap_or_default())
        .bind(page.fetch())
        .fetch_all(pool)
        .await
}
