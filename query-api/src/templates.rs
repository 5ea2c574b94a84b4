//! `GET /v1/templates`, `GET /v1/templates/{id}` and
//! `GET /v1/templates/{id}/versions[/{n}]`: message templates and the text
//! of each of their versions (a message records the version it used).

use api_common::authz::{self, Action, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use event_schemas::template::{MessagePurpose, TemplateType, TemplateVariable};
use projections::queries::templates::{
    self as query, TemplateFilter, TemplateRow, TemplateVersionRow,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = TemplateType)]
    pub template_type: String,
    pub subject: Option<String>,
    pub content: String,
    #[schema(value_type = Vec<TemplateVariable>)]
    pub variables: serde_json::Value,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = MessagePurpose)]
    pub purpose: String,
    /// Inactive templates can't be used for new messages.
    pub active: bool,
    /// The current version's number (1, 2, … one per edit).
    pub template_version: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The template's version (events applied; its ETag); see `min_version`.
    pub version: i64,
}

crate::view_from_row!(TemplateRow => TemplateView {
    id,
    name,
    template_type,
    subject,
    content,
    variables,
    description,
    category,
    tags,
    purpose,
    active,
    template_version,
    created_by,
    created_at,
    updated_at,
    version,
});

/// One version's text, as a message rendered from it saw it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateVersionView {
    pub template_id: Uuid,
    pub template_version: i32,
    pub name: String,
    pub subject: Option<String>,
    pub content: String,
    #[schema(value_type = Vec<TemplateVariable>)]
    pub variables: serde_json::Value,
    #[schema(value_type = MessagePurpose)]
    pub purpose: String,
    /// The fields this version changed (empty for version 1).
    pub changed_fields: Vec<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

crate::view_from_row!(TemplateVersionRow => TemplateVersionView {
    template_id,
    template_version,
    name,
    subject,
    content,
    variables,
    purpose,
    changed_fields,
    created_by,
    created_at,
});

#[utoipa::path(
    get, path = "/v1/templates/{id}", tag = "communications",
    params(("id" = Uuid, Path, description = "Template id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The template's current version", body = TemplateView),
        (status = 404, description = "No such template in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the template's version (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_template(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<TemplateView>> {
    authz::authorize(&principal, Resource::Template, Action::Read, None)?;
    let template: TemplateView = crate::wait::fetch_versioned(
        &state,
        &principal,
        (event_schemas::template::AGGREGATE_TYPE, id),
        crate::wait::owners::TEMPLATES,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |t: &TemplateRow| t.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no template {id}")))?
    .into();
    Ok(WithETag::new(template.version, template))
}

#[utoipa::path(
    get, path = "/v1/templates/{id}/versions", tag = "communications",
    params(("id" = Uuid, Path, description = "Template id")),
    responses(
        (status = 200, description = "Every version's text, oldest first", body = Vec<TemplateVersionView>),
        (status = 404, description = "No such template in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_versions(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<TemplateVersionView>>> {
    authz::authorize(&principal, Resource::Template, Action::Read, None)?;
    let rows = query::versions(&state.pool, &principal.tenant, id).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("no template {id}")));
    }
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(
    get, path = "/v1/templates/{id}/versions/{template_version}", tag = "communications",
    params(
        ("id" = Uuid, Path, description = "Template id"),
        ("template_version" = i32, Path, description = "Version number (1, 2, …)"),
    ),
    responses(
        (status = 200, description = "That version's text", body = TemplateVersionView),
        (status = 404, description = "No such template or version in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_version(
    State(state): State<QueryState>,
    principal: Principal,
    Path((id, template_version)): Path<(String, String)>,
) -> ApiResult<Json<TemplateVersionView>> {
    authz::authorize(&principal, Resource::Template, Action::Read, None)?;
    let (Ok(id), Ok(template_version)) = (id.parse::<Uuid>(), template_version.parse::<i32>())
    else {
        return Err(ApiError::not_found(format!(
            "no version `{template_version}` of template `{id}`"
        )));
    };
    let row = query::get_version(&state.pool, &principal.tenant, id, template_version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no version {template_version} of template {id}"))
        })?;
    Ok(Json(row.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub template_type: Option<TemplateType>,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub active: Option<bool>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/templates", tag = "communications",
    params(ListParams),
    responses(
        (status = 200, description = "The tenant's templates, newest first", body = ListResponse<TemplateView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_templates(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<TemplateView>>> {
    let scope = authz::list_scope(&principal, Resource::Template)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let filter = TemplateFilter {
        template_type: params.template_type.map(|t| t.as_str().to_owned()),
        category: params.category,
        tag: params.tag,
        active: params.active,
    };
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        &filter,
        page,
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(TemplateView::from).collect(),
        page.limit,
        |t| (t.created_at, t.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_template))
        .checked_routes(routes!(list_templates))
        .checked_routes(routes!(list_versions))
        .checked_routes(routes!(get_version))
}
