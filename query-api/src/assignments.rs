//! `GET /v1/equipment-assignments/{id}` and `GET /v1/equipment-assignments`.
//!
//! An assignment belongs to its `user_id`, the crew member (one without a
//! user to whoever assigned it): a crew member (scope OWN) reads and lists
//! only their own. `from`/`to` keep the assignments whose period
//! `[starts_at, ends_at)` overlaps `[from, to)`.

use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use event_schemas::assignment::AssignmentStatus;
use projections::queries::assignments::{self as query, AssignmentFilter, AssignmentRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    pub id: Uuid,
    pub equipment_id: Uuid,
    pub journey_id: Option<Uuid>,
    /// The crew member (the assignment's owner).
    pub user_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    /// The period is `[starts_at, ends_at)`.
    pub ends_at: DateTime<Utc>,
    /// Until when it holds the equipment (`ends_at`, or an early return);
    /// `null` once cancelled.
    pub booked_until: Option<DateTime<Utc>>,
    #[schema(value_type = AssignmentStatus)]
    pub status: String,
    pub purpose: Option<String>,
    pub notes: Option<String>,
    pub assigned_by: Uuid,
    pub assigned_at: DateTime<Utc>,
    pub checked_out_at: Option<DateTime<Utc>>,
    pub checked_out_by: Option<Uuid>,
    pub checkout_odometer_km: Option<i32>,
    pub returned_at: Option<DateTime<Utc>>,
    pub returned_by: Option<Uuid>,
    pub return_odometer_km: Option<i32>,
    pub condition_notes: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancelled_by: Option<Uuid>,
    pub cancel_reason: Option<String>,
    /// How often the period moved.
    pub reschedules: i32,
    /// The assignment's version (events applied).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::view_from_row!(AssignmentRow => AssignmentView {
    id,
    equipment_id,
    journey_id,
    user_id,
    starts_at,
    ends_at,
    booked_until,
    status,
    purpose,
    notes,
    assigned_by,
    assigned_at,
    checked_out_at,
    checked_out_by,
    checkout_odometer_km,
    returned_at,
    returned_by,
    return_odometer_km,
    condition_notes,
    cancelled_at,
    cancelled_by,
    cancel_reason,
    reschedules,
    version,
    created_at,
    updated_at,
});

fn ownership(a: &AssignmentView) -> RecordOwnership {
    RecordOwnership {
        assigned_to: Some(a.user_id.unwrap_or(a.assigned_by)),
        created_by: None,
        location_id: None,
    }
}

#[utoipa::path(
    get, path = "/v1/equipment-assignments/{id}", tag = "equipment",
    params(("id" = Uuid, Path, description = "Assignment id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The assignment", body = AssignmentView),
        (status = 403, description = "A crew member asking for someone else's assignment", body = api_common::Problem),
        (status = 404, description = "No such assignment in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the entity's version in the event store (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_assignment(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<AssignmentView>> {
    authz::authorize(
        &principal,
        Resource::EquipmentAssignment,
        Action::Read,
        None,
    )?;
    let assignment: AssignmentView = crate::wait::fetch_versioned(
        &state,
        &principal,
        ("EquipmentAssignment", id),
        crate::wait::owners::ASSIGNMENTS,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |a: &AssignmentRow| a.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no equipment assignment with id {id}")))?
    .into();
    authz::authorize(
        &principal,
        Resource::EquipmentAssignment,
        Action::Read,
        Some(ownership(&assignment)),
    )?;
    Ok(WithETag::new(assignment.version, assignment))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub equipment_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// Assignments whose period ends after this (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Assignments whose period starts before this, after `from`.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<AssignmentStatus>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/equipment-assignments", tag = "equipment",
    params(ListParams),
    responses(
        (status = 200, description = "Assignments the caller may see (a crew member: their own), newest first", body = ListResponse<AssignmentView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_assignments(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<AssignmentView>>> {
    let scope = authz::list_scope(&principal, Resource::EquipmentAssignment)?;
    if let (Some(from), Some(to)) = (params.from, params.to)
        && from >= to
    {
        return Err(ApiError::invalid_field("to", "must be after `from`"));
    }
    // A crew member asking for someone else's assignments gets a 403, not
    // an empty list.
    if let (Some(own), Some(user)) = (scope.own(), params.user_id)
        && own != user
        && scope.locations().is_none()
    {
        return Err(ApiError::forbidden(
            "the OWN scope for read on equipmentassignment covers only your own assignments",
        ));
    }
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let filter = AssignmentFilter {
        equipment_id: params.equipment_id,
        journey_id: params.journey_id,
        user_id: params.user_id,
        from: params.from,
        to: params.to,
        status: params.status,
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
        rows.into_iter().map(AssignmentView::from).collect(),
        page.limit,
        |a| (a.created_at, a.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_assignment))
        .checked_routes(routes!(list_assignments))
}
