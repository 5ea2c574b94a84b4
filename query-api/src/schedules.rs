//! `GET /v1/schedules/{id}` and `GET /v1/schedules`: the dispatch board.
//!
//! A schedule is visible to dispatchers, managers, admins and auditors
//! (CLIENT), to the people on its crew and the owner of its lead (OWN: crew
//! see their own, sales the schedules of their own leads) and, with a
//! LOCATION scope, at its location. Times are shown in the offset they were given in.

use api_common::authz::{self, Action, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, FixedOffset, Utc};
use event_schemas::schedule::{CrewMember, SchedulePriority, ScheduleStatus, ScheduleType};
use projections::queries::schedules::{self as query, ScheduleFilter, ScheduleRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

/// A person on the crew: role and answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CrewView {
    pub user_id: Uuid,
    #[schema(value_type = event_schemas::staff::CrewRole)]
    pub role: String,
    #[schema(value_type = event_schemas::schedule::CrewResponse)]
    pub response: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: Uuid,
    pub location_id: String,
    pub title: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    #[schema(value_type = ScheduleType)]
    pub schedule_type: String,
    #[schema(value_type = SchedulePriority)]
    pub priority: String,
    /// SCHEDULED, IN_PROGRESS, COMPLETED or CANCELLED (a move is
    /// `rescheduled_at`; the history records RESCHEDULED).
    #[schema(value_type = ScheduleStatus)]
    pub status: String,
    /// In the offset it was given in.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: DateTime<FixedOffset>,
    pub crew: Vec<CrewView>,
    pub equipment_ids: Vec<Uuid>,
    pub vehicle_ids: Vec<Uuid>,
    pub lead_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
    pub rescheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The schedule's version (events applied); see `min_version`.
    pub version: i64,
}

impl From<ScheduleRow> for ScheduleView {
    fn from(row: ScheduleRow) -> Self {
        let ScheduleRow {
            id,
            location_id,
            title,
            description,
            schedule_type,
            priority,
            status,
            starts_at,
            ends_at,
            utc_offset_seconds,
            crew,
            equipment_ids,
            vehicle_ids,
            lead_id,
            quote_id,
            journey_id,
            rescheduled_at,
            started_at,
            completed_at,
            notes,
            cancelled_at,
            cancel_reason,
            created_by,
            created_at,
            updated_at,
            version,
        } = row;
        let offset = FixedOffset::east_opt(utc_offset_seconds)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
        let crew: Vec<CrewMember> = serde_json::from_value(crew).unwrap_or_default();
        Self {
            id,
            location_id,
            title,
            description,
            schedule_type,
            priority,
            status,
            starts_at: starts_at.with_timezone(&offset),
            ends_at: ends_at.with_timezone(&offset),
            crew: crew
                .into_iter()
                .map(|m| CrewView {
                    user_id: m.user_id,
                    role: m.role.as_str().to_owned(),
                    response: m.response.as_str().to_owned(),
                })
                .collect(),
            equipment_ids,
            vehicle_ids,
            lead_id,
            quote_id,
            journey_id,
            rescheduled_at,
            started_at,
            completed_at,
            notes,
            cancelled_at,
            cancel_reason,
            created_by,
            created_at,
            updated_at,
            version,
        }
    }
}

/// Whether `principal` may read `schedule`: a tenant-wide scope, OWN when on
/// its crew or owning its lead, LOCATION at its location.
async fn visible(
    state: &QueryState,
    principal: &Principal,
    schedule: &ScheduleView,
) -> ApiResult<()> {
    let scope = authz::list_scope(principal, Resource::Schedule)?;
    let own = match (scope.own(), schedule.lead_id) {
        (Some(me), _) if schedule.crew.iter().any(|m| m.user_id == me) => true,
        (Some(me), Some(lead)) => {
            query::lead_is_own(&state.pool, &principal.tenant, lead, me).await?
        }
        _ => false,
    };
    let covered = !scope.is_limited()
        || own
        || scope
            .locations()
            .is_some_and(|l| l.contains(&schedule.location_id));
    if covered {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "the caller's scope for read on schedule does not cover this schedule",
        ))
    }
}

#[utoipa::path(
    get, path = "/v1/schedules/{id}", tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The schedule with its crew and equipment", body = ScheduleView),
        (status = 403, description = "The caller's scope does not cover it", body = api_common::Problem),
        (status = 404, description = "No such schedule in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the schedule's version in the event store (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_schedule(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<ScheduleView>> {
    authz::authorize(&principal, Resource::Schedule, Action::Read, None)?;
    let schedule: ScheduleView = crate::wait::fetch_versioned(
        &state,
        &principal,
        (event_schemas::schedule::AGGREGATE_TYPE, id),
        crate::wait::owners::SCHEDULES,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |s: &ScheduleRow| s.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no schedule with id {id}")))?
    .into();
    visible(&state, &principal, &schedule).await?;
    Ok(WithETag::new(schedule.version, schedule))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Schedules ending after this instant…
    pub from: Option<DateTime<Utc>>,
    /// …and starting before this one.
    pub to: Option<DateTime<Utc>>,
    /// Schedules with this person on the crew.
    pub user_id: Option<Uuid>,
    pub location_id: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub schedule_type: Option<ScheduleType>,
    pub status: Option<ScheduleStatus>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/schedules", tag = "schedules",
    params(ListParams),
    responses(
        (status = 200, description = "Schedules the caller may see, earliest start first", body = ListResponse<ScheduleView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_schedules(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<ScheduleView>>> {
    let scope = authz::list_scope(&principal, Resource::Schedule)?;
    if let (Some(from), Some(to)) = (params.from, params.to)
        && to <= from
    {
        return Err(ApiError::invalid_field("to", "must be after from"));
    }
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let filter = ScheduleFilter {
        from: params.from,
        to: params.to,
        user_id: params.user_id,
        location_id: params.location_id,
        schedule_type: params.schedule_type.map(|t| t.as_str().to_owned()),
        status: params.status.map(|s| s.as_str().to_owned()),
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
        rows.into_iter().map(ScheduleView::from).collect(),
        page.limit,
        |s| (s.starts_at.to_utc(), s.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_schedule))
        .checked_routes(routes!(list_schedules))
}
