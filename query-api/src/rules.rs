//! `GET /v1/communication-rules` and `GET /v1/communication-rules/{id}`:
//! the tenant's automated-message rules (deleted ones stay, inactive).

use api_common::authz::{self, Action, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use event_schemas::communication::CommunicationType;
use event_schemas::rule::{RuleCondition, RuleTiming, RuleTrigger};
use projections::queries::rules::{self as query, RuleRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunicationRuleView {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = RuleTrigger)]
    pub trigger: String,
    pub template_id: Uuid,
    #[schema(value_type = CommunicationType)]
    pub channel: String,
    #[schema(value_type = RuleTiming)]
    pub timing: serde_json::Value,
    #[schema(value_type = Vec<RuleCondition>)]
    pub unless: Vec<String>,
    /// False once deleted.
    pub active: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

crate::view_from_row!(RuleRow => CommunicationRuleView {
    id,
    name,
    trigger,
    template_id,
    channel,
    timing,
    unless,
    active,
    deleted_at,
    created_by,
    created_at,
    updated_at,
    version,
});

#[utoipa::path(
    get, path = "/v1/communication-rules/{id}", tag = "communications",
    params(("id" = Uuid, Path, description = "Rule id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The rule", body = CommunicationRuleView),
        (status = 404, description = "No such rule in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the rule's version (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_rule(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<CommunicationRuleView>> {
    authz::authorize(&principal, Resource::CommunicationRule, Action::Read, None)?;
    let rule: CommunicationRuleView = crate::wait::fetch_versioned(
        &state,
        &principal,
        (event_schemas::rule::AGGREGATE_TYPE, id),
        crate::wait::owners::RULES,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |r: &RuleRow| r.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no rule {id}")))?
    .into();
    Ok(WithETag::new(rule.version, rule))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only active (true) or only deleted (false) rules.
    pub active: Option<bool>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/communication-rules", tag = "communications",
    params(ListParams),
    responses(
        (status = 200, description = "The tenant's rules, newest first", body = ListResponse<CommunicationRuleView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_rules(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<CommunicationRuleView>>> {
    let scope = authz::list_scope(&principal, Resource::CommunicationRule)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        params.active,
        page,
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(CommunicationRuleView::from).collect(),
        page.limit,
        |r| (r.created_at, r.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_rule))
        .checked_routes(routes!(list_rules))
}
