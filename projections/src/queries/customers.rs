//! `read.customers` (the `customers` projection): one customer by id, and
//! lists filtered by email, a search text, activity and tag.

use chrono::{DateTime, Utc};
use event_schemas::{Address, TenantId};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use super::{NewestFirst, Scope, like_escape};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "customers";
pub const TABLE: &str = "read.customers";
/// The columns of a [`CustomerRow`].
pub const COLUMNS: &str = "id, first_name, last_name, email, phone, address, lead_source, tags, preferences, notes, \
     active, forgotten, lead_count, consents, version, created_at, updated_at";

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
    /// Per channel: kind, given_on, source, expires_on, withdrawn, …
    pub consents: Value,
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
    // Customers are in nobody's charge and at no location: the caller
    // decides who sees the list at all; everyone who does sees all of it.
    super::newest_first(
        pool,
        tenant,
        &Scope::default(),
        (TABLE, COLUMNS),
        ("NULL::uuid", "NULL::text"),
        "AND ($8::text IS NULL OR lower(email) = lower($8))
         AND ($9::text IS NULL OR lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, ''))
                                  LIKE '%' || lower($9) || '%')
         AND ($10::boolean IS NULL OR active = $10)
         AND ($11::text IS NULL OR $11 = ANY(tags))",
        page,
        |q| {
            q.bind(filter.email.clone())
                .bind(filter.q.as_deref().map(like_escape))
                .bind(filter.active)
                .bind(filter.tag.clone())
        },
    )
    .await
}
