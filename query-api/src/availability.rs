//! `GET /v1/availability?user_id=&from=&to=`: the occurrences of people's
//! availability entries in a window (recurring entries expanded), each
//! pointing to its entry and rule. Crew see their own.

use api_common::authz::{self, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use event_schemas::availability::AvailabilityType;
use projections::queries::availability::{self as query, OccurrenceRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

/// The longest window one request lists.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// The window when `to` is left out.
pub const DEFAULT_WINDOW_DAYS: i64 = 31;

/// An entry's recurrence rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    #[schema(example = "FREQ=WEEKLY;BYDAY=MO,TU")]
    pub rule: String,
    #[schema(value_type = String, example = "2027-03-01T08:00:00")]
    pub local_start: NaiveDateTime,
    pub duration_minutes: i32,
    #[schema(example = "America/Toronto")]
    pub time_zone: String,
}

/// One occurrence, with its entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct OccurrenceView {
    pub availability_id: Uuid,
    pub user_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `false`: unavailable (blocks scheduling); `true`: extra availability.
    pub is_available: bool,
    #[serde(rename = "type")]
    #[schema(value_type = AvailabilityType)]
    pub availability_type: String,
    pub reason: Option<String>,
    pub notes: Option<String>,
    /// `null` for a single period.
    pub recurrence: Option<RuleView>,
    /// The entry's version.
    pub version: i64,
}

impl From<OccurrenceRow> for OccurrenceView {
    fn from(row: OccurrenceRow) -> Self {
        let OccurrenceRow {
            availability_id,
            user_id,
            starts_at,
            ends_at,
            is_available,
            availability_type,
            reason,
            notes,
            rule,
            local_start,
            duration_minutes,
            time_zone,
            version,
        } = row;
        let recurrence = match (rule, local_start, duration_minutes, time_zone) {
            (Some(rule), Some(local_start), Some(duration_minutes), Some(time_zone)) => {
                Some(RuleView {
                    rule,
                    local_start,
                    duration_minutes,
                    time_zone,
                })
            }
            _ => None,
        };
        Self {
            availability_id,
            user_id,
            starts_at,
            ends_at,
            is_available,
            availability_type,
            reason,
            notes,
            recurrence,
            version,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Whose availability (default: everyone the caller may see).
    pub user_id: Option<Uuid>,
    /// Occurrences ending after this instant (default: now)…
    pub from: Option<DateTime<Utc>>,
    /// …and starting before this one (default: 31 days after `from`; at most 366 days after it).
    pub to: Option<DateTime<Utc>>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/availability", tag = "availability",
    params(ListParams),
    responses(
        (status = 200, description = "Occurrences in the window, earliest first, each with its entry", body = ListResponse<OccurrenceView>),
        (status = 403, description = "Not allowed", body = api_common::Problem),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_availability(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<OccurrenceView>>> {
    let scope = authz::list_scope(&principal, Resource::Availability)?;
    let from = params.from.unwrap_or_else(Utc::now);
    let to = params
        .to
        .unwrap_or(from + Duration::days(DEFAULT_WINDOW_DAYS));
    if to <= from {
        return Err(ApiError::invalid_field("to", "must be after from"));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::invalid_field(
            "to",
            format!("the window is at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::occurrences(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        params.user_id,
        (from, to),
        page,
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(OccurrenceView::from).collect(),
        page.limit,
        |o| (o.starts_at, o.availability_id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new().checked_routes(routes!(list_availability))
}
