//! `read.templates` and `read.template_versions` (the `templates`
//! projection): one template, a tenant's templates, and the text of one of
//! a template's versions. Templates belong to the tenant (CLIENT scope).

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`] and [`VERSIONS_TABLE`].
pub const PROJECTION: &str = "templates";
pub const TABLE: &str = "read.templates";
/// The columns of a [`TemplateRow`].
pub const COLUMNS: &str = "id, name, template_type, subject, content, variables, description, category, tags, \
     purpose, active, template_version, created_by, created_at, updated_at, version";
pub const VERSIONS_TABLE: &str = "read.template_versions";
/// The columns of a [`TemplateVersionRow`].
pub const VERSION_COLUMNS: &str = "template_id, template_version, name, subject, content, variables, purpose, \
     changed_fields, created_by, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: Uuid,
    pub name: String,
    pub template_type: String,
    pub subject: Option<String>,
    pub content: String,
    pub variables: serde_json::Value,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub purpose: String,
    pub active: bool,
    pub template_version: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateVersionRow {
    pub template_id: Uuid,
    pub template_version: i32,
    pub name: String,
    pub subject: Option<String>,
    pub content: String,
    pub variables: serde_json::Value,
    pub purpose: String,
    pub changed_fields: Vec<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Template `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// Version `template_version` of template `id` of `tenant`.
pub async fn get_version(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    template_version: i32,
) -> Result<Option<TemplateVersionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM {VERSIONS_TABLE}
          WHERE tenant_id = $1 AND template_id = $2 AND template_version = $3"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .bind(template_version)
    .fetch_optional(pool)
    .await
}

/// Every version of template `id`, oldest first.
pub async fn versions(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Vec<TemplateVersionRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {VERSION_COLUMNS} FROM {VERSIONS_TABLE}
              WHERE tenant_id = $1 AND template_id = $2 ORDER BY template_version"
        ),
        id,
    )
    .await
}

/// What a template list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    /// A TemplateType's wire name.
    pub template_type: Option<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub active: Option<bool>,
}

/// A page of `tenant`'s templates, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &TemplateFilter,
    page: NewestFirst,
) -> Result<Vec<TemplateRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        ("created_by", "NULL::text"),
        "AND ($8::text IS NULL OR template_type = $8)
         AND ($9::text IS NULL OR category = $9)
         AND ($10::text IS NULL OR $10 = ANY (tags))
         AND ($11::boolean IS NULL OR active = $11)",
        page,
        |q| {
            q.bind(filter.template_type.clone())
                .bind(filter.category.clone())
                .bind(filter.tag.clone())
                .bind(filter.active)
        },
    )
    .await
}
