//! `GET /v1/staff/{user_id}` and `GET /v1/staff`: the staff directory.
//!
//! An entry is owned by the person it describes (OWN: crew see their own)
//! and located at their home location (LOCATION scopes). Phone and email
//! read `null` once the person's data key is destroyed.

use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use event_schemas::staff::{CrewRole, staff_id};
use projections::queries::staff::{self as query, StaffFilter, StaffRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    /// The person's user id (the JWT `sub`).
    pub user_id: Uuid,
    pub display_name: String,
    #[schema(value_type = Vec<CrewRole>)]
    pub crew_roles: Vec<String>,
    pub home_location_id: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Only active staff can be scheduled.
    pub active: bool,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The entry's version (events applied); see `min_version`.
    pub version: i64,
    /// The entry's aggregate id, for the audit history.
    pub id: Uuid,
}

crate::view_from_row!(StaffRow => StaffView {
    id,
    user_id,
    display_name,
    crew_roles,
    home_location_id,
    phone,
    email,
    active,
    created_by,
    created_at,
    updated_at,
    version,
});

fn ownership(entry: &StaffView) -> RecordOwnership {
    RecordOwnership {
        assigned_to: Some(entry.user_id),
        created_by: None,
        location_id: entry.home_location_id.clone(),
    }
}

#[utoipa::path(
    get, path = "/v1/staff/{user_id}", tag = "staff",
    params(("user_id" = Uuid, Path, description = "The person's user id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The person's entry", body = StaffView),
        (status = 403, description = "The caller's scope does not cover it", body = api_common::Problem),
        (status = 404, description = "Not in this tenant's directory", body = api_common::Problem),
        (status = 422, description = "min_version beyond the entry's version in the event store (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_staff(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(user_id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<StaffView>> {
    authz::authorize(&principal, Resource::Staff, Action::Read, None)?;
    let entry: StaffView = crate::wait::fetch_versioned(
        &state,
        &principal,
        (
            event_schemas::staff::AGGREGATE_TYPE,
            staff_id(&principal.tenant, user_id),
        ),
        crate::wait::owners::STAFF,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, user_id),
        |s: &StaffRow| s.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no staff member with user id {user_id}")))?
    .into();
    authz::authorize(
        &principal,
        Resource::Staff,
        Action::Read,
        Some(ownership(&entry)),
    )?;
    Ok(WithETag::new(entry.version, entry))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Home location.
    pub location_id: Option<String>,
    /// Staff who can fill this crew role.
    pub role: Option<CrewRole>,
    pub active: Option<bool>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/staff", tag = "staff",
    params(ListParams),
    responses(
        (status = 200, description = "Staff the caller may see, newest first", body = ListResponse<StaffView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_staff(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<StaffView>>> {
    let scope = authz::list_scope(&principal, Resource::Staff)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let filter = StaffFilter {
        location_id: params.location_id,
        role: params.role.map(|r| r.as_str().to_owned()),
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
        rows.into_iter().map(StaffView::from).collect(),
        page.limit,
        |s| (s.created_at, s.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_staff))
        .checked_routes(routes!(list_staff))
}
