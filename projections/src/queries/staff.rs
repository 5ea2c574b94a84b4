//! `read.staff` (the `staff` projection): one person's entry and the
//! directory's lists a caller's scope covers. An entry is owned by the
//! person it describes (OWN) and located at their home location.

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "staff";
pub const TABLE: &str = "read.staff";
/// The columns of a [`StaffRow`].
pub const COLUMNS: &str = "id, user_id, display_name, crew_roles, home_location_id, phone, email, active, \
     created_by, created_at, updated_at, version";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    /// The entry's aggregate id (derived from the tenant and the user id).
    pub id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub crew_roles: Vec<String>,
    pub home_location_id: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The entry of user `user_id` in `tenant`'s directory.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: Uuid,
) -> Result<Option<StaffRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {TABLE} WHERE tenant_id = $1 AND user_id = $2"
    ))
    .bind(tenant.as_str())
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

/// What a directory list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct StaffFilter {
    pub location_id: Option<String>,
    /// A crew role's wire name (`DRIVER`, `FOREMAN`, `MOVER`).
    pub role: Option<String>,
    pub active: Option<bool>,
}

/// A page of the entries of `tenant` that `scope` covers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &StaffFilter,
    page: NewestFirst,
) -> Result<Vec<StaffRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        ("user_id", "home_location_id"),
        "AND ($8::text IS NULL OR home_location_id = $8)
         AND ($9::text IS NULL OR $9 = ANY (crew_roles))
         AND ($10::boolean IS NULL OR active = $10)",
        page,
        |q| {
            q.bind(filter.location_id.clone())
                .bind(filter.role.clone())
                .bind(filter.active)
        },
    )
    .await
}
