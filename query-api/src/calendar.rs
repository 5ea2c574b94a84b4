//! The dispatch board's figures, in the tenant's time zone (its profile;
//! America/Toronto until set):
//!
//! **Capacity** (`GET /v1/calendar/capacity?from=&to=&location_id=`): per
//! day `[from, to)` (dates, at most 62 days):
//! - `jobs`: JOURNEY schedules starting that day, not cancelled;
//!   `unstaffed_jobs`: those nobody holds a crew slot on;
//! - `trucks_committed`: distinct vehicles on schedules touching the day;
//!   `active_trucks`: trucks ACTIVE now;
//! - `crew_committed`: distinct people holding a slot on schedules touching
//!   the day; `crew_available`: active staff with a crew role not
//!   unavailable for the whole of the day's working hours (on a day off:
//!   those who recorded extra availability that day).
//!
//! `location_id` counts that location's schedules and trucks, and the staff
//! whose home it is.
//!
//! **Crew utilization** (`GET /v1/reports/crew-utilization?from=&to=`, JSON
//! or, with `Accept: text/csv`, CSV): per active crew member over the days
//! `[from, to)` (at most 366):
//! - `available_hours`: the tenant's working hours of those days, less the
//!   person's unavailability, plus their extra availability (`is_available`
//!   entries), each hour counted once;
//! - `scheduled_hours`: the hours of schedules holding them (not cancelled,
//!   not declined; a completed one up to its completion), each hour once;
//! - `utilization_percent` = scheduled ÷ available × 100, 2 places (`null`
//!   with nothing available).
//!
//! Both need read on schedules with a tenant-wide scope (dispatchers,
//! managers, admins, auditors).

use aggregates::tenant_profile::TenantProfile;
use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiQuery, ApiResult, Principal};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use event_schemas::TenantId;
use projections::queries::calendar::{self as query, CapacityRow, Day};
use projections::queries::crew_utilization as utilization;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;
use crate::reports::{Cell, csv_body, respond};

/// The longest capacity window, in days.
pub const MAX_CAPACITY_DAYS: i64 = 62;
/// The longest utilization window, in days.
pub const MAX_UTILIZATION_DAYS: i64 = 366;

/// `tenant`'s profile as the read side holds it (the defaults until set).
async fn profile(state: &QueryState, tenant: &TenantId) -> ApiResult<TenantProfile> {
    utilization::profile(&state.pool, tenant)
        .await
        .map_err(|e| ApiError::internal(format!("a stored tenant profile does not read: {e}")))
}

/// `tenant`'s time zone (the default until the profile sets one).
pub(crate) async fn time_zone(state: &QueryState, tenant: &TenantId) -> ApiResult<chrono_tz::Tz> {
    Ok(profile(state, tenant).await?.time_zone())
}

/// The days `[from, to)` in the profile's zone, with their working hours.
fn days(profile: &TenantProfile, from: NaiveDate, to: NaiveDate) -> Vec<Day> {
    utilization::days(profile, from, to)
}

fn window(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    max_days: i64,
) -> ApiResult<(NaiveDate, NaiveDate)> {
    let from = from.ok_or_else(|| ApiError::invalid_field("from", "is required"))?;
    let to = to.ok_or_else(|| ApiError::invalid_field("to", "is required"))?;
    if to <= from {
        return Err(ApiError::invalid_field("to", "must be after `from`"));
    }
    if to - from > Duration::days(max_days) {
        return Err(ApiError::invalid_field(
            "to",
            format!("the window is at most {max_days} days"),
        ));
    }
    Ok((from, to))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CapacityDay {
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    pub jobs: i64,
    pub unstaffed_jobs: i64,
    pub trucks_committed: i64,
    pub active_trucks: i64,
    pub crew_committed: i64,
    pub crew_available: i64,
}

crate::view_from_row!(CapacityRow => CapacityDay {
    day,
    jobs,
    unstaffed_jobs,
    trucks_committed,
    active_trucks,
    crew_committed,
    crew_available,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct CapacityCalendar {
    #[schema(example = "America/Toronto")]
    pub time_zone: String,
    pub location_id: Option<String>,
    pub days: Vec<CapacityDay>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CapacityParams {
    /// First day (inclusive), `YYYY-MM-DD`, in the tenant's time zone.
    #[param(value_type = String, format = Date)]
    pub from: Option<NaiveDate>,
    /// The day after the last (exclusive); at most 62 days after `from`.
    #[param(value_type = String, format = Date)]
    pub to: Option<NaiveDate>,
    pub location_id: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/calendar/capacity", tag = "schedules",
    params(CapacityParams),
    responses(
        (status = 200, description = "Per day: jobs, unstaffed jobs, trucks committed / active, crew committed / available", body = CapacityCalendar),
        (status = 403, description = "Needs a tenant-wide read on schedules", body = api_common::Problem),
        (status = 422, description = "A parameter is missing or invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn capacity(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<CapacityParams>,
) -> ApiResult<Json<CapacityCalendar>> {
    authz::authorize_tenant_wide(&principal, Resource::Schedule, Action::Read)?;
    let (from, to) = window(params.from, params.to, MAX_CAPACITY_DAYS)?;
    let profile = profile(&state, &principal.tenant).await?;
    let rows = query::capacity(
        &state.pool,
        &principal.tenant,
        &days(&profile, from, to),
        params.location_id.as_deref(),
    )
    .await?;
    Ok(Json(CapacityCalendar {
        time_zone: profile.time_zone_name().to_owned(),
        location_id: params.location_id,
        days: rows.into_iter().map(CapacityDay::from).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrewUtilizationRow {
    pub user_id: Uuid,
    pub display_name: String,
    pub home_location_id: Option<String>,
    #[schema(value_type = String, example = "32.00")]
    #[serde(serialize_with = "crate::money")]
    pub scheduled_hours: Decimal,
    #[schema(value_type = String, example = "40.00")]
    #[serde(serialize_with = "crate::money")]
    pub available_hours: Decimal,
    /// scheduled ÷ available × 100; `null` when nothing was available.
    #[schema(value_type = Option<String>, example = "80.00")]
    #[serde(serialize_with = "crate::money_opt")]
    pub utilization_percent: Option<Decimal>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrewUtilizationReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Exclusive.
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    #[schema(example = "America/Toronto")]
    pub time_zone: String,
    /// By name.
    pub crew: Vec<CrewUtilizationRow>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CrewUtilizationParams {
    /// First day (inclusive), `YYYY-MM-DD`, in the tenant's time zone.
    #[param(value_type = String, format = Date)]
    pub from: Option<NaiveDate>,
    /// The day after the last (exclusive); at most 366 days after `from`.
    #[param(value_type = String, format = Date)]
    pub to: Option<NaiveDate>,
}

#[utoipa::path(
    get, path = "/v1/reports/crew-utilization", tag = "reports",
    params(CrewUtilizationParams),
    responses(
        (status = 200, description = "Scheduled hours ÷ available hours per crew member (CSV with `Accept: text/csv`)",
         content((CrewUtilizationReport = "application/json"), (String = "text/csv"))),
        (status = 403, description = "Needs a tenant-wide read on schedules", body = api_common::Problem),
        (status = 422, description = "A parameter is missing or invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn crew_utilization(
    State(state): State<QueryState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<CrewUtilizationParams>,
) -> ApiResult<Response> {
    authz::authorize_tenant_wide(&principal, Resource::Schedule, Action::Read)?;
    let (from, to) = window(params.from, params.to, MAX_UTILIZATION_DAYS)?;
    let profile = profile(&state, &principal.tenant).await?;
    let rows = utilization::crew_utilization(&state.pool, &principal.tenant, &profile, from, to)
        .await?
        .into_iter()
        .map(|r| CrewUtilizationRow {
            user_id: r.user_id,
            display_name: r.display_name,
            home_location_id: r.home_location_id,
            scheduled_hours: r.scheduled_hours,
            available_hours: r.available_hours,
            utilization_percent: r.utilization_percent,
        })
        .collect();
    let report = CrewUtilizationReport {
        from,
        to,
        time_zone: profile.time_zone_name().to_owned(),
        crew: rows,
    };
    let number = |d: Decimal| Cell::Number(format!("{d:.2}"));
    Ok(respond(
        &headers,
        report,
        &format!("crew-utilization-{from}-{to}.csv"),
        |r| {
            csv_body(
                &[
                    "user_id",
                    "display_name",
                    "home_location_id",
                    "scheduled_hours",
                    "available_hours",
                    "utilization_percent",
                ],
                r.crew.iter().map(|row| {
                    vec![
                        Cell::Text(row.user_id.to_string()),
                        Cell::Text(row.display_name.clone()),
                        Cell::Text(row.home_location_id.clone().unwrap_or_default()),
                        number(row.scheduled_hours),
                        number(row.available_hours),
                        row.utilization_percent
                            .map_or(Cell::Number(String::new()), number),
                    ]
                }),
            )
        },
    ))
}

/// How far back a feed reaches.
pub const FEED_PAST_DAYS: i64 = 30;
/// The most schedules one feed carries.
pub const FEED_MAX_EVENTS: i64 = 1000;

/// `user`'s schedules as an iCalendar feed (RFC 5545): title, times (UTC),
/// location name, crew names and roles; no customer data. A schedule the
/// person declined, or that was cancelled, is `STATUS:CANCELLED` (so
/// subscribed calendars drop it); an accepted one CONFIRMED, an open
/// invitation TENTATIVE.
async fn feed(state: &QueryState, tenant: &TenantId, user: Uuid) -> ApiResult<Response> {
    use icalendar::{Calendar, Component, EventLike, EventStatus};
    let profile = profile(state, tenant).await?;
    let entries = query::feed_entries(
        &state.pool,
        tenant,
        user,
        Utc::now() - Duration::days(FEED_PAST_DAYS),
        FEED_MAX_EVENTS,
    )
    .await?;
    let mut calendar = Calendar::new();
    calendar.name(&format!(
        "{} schedule",
        profile.company_name().unwrap_or("Movers CRM")
    ));
    for e in entries {
        let location = profile
            .location(&e.location_id)
            .map_or(e.location_id.clone(), |l| l.name.clone());
        let crew: Vec<(String, String, String)> =
            serde_json::from_value(e.crew).unwrap_or_default();
        let crew = crew
            .iter()
            .map(|(name, role, answer)| format!("{name} ({role}, {answer})"))
            .collect::<Vec<_>>()
            .join("\n");
        let status = match (e.status.as_str(), e.response.as_str()) {
            ("CANCELLED", _) | (_, "DECLINED") => EventStatus::Cancelled,
            (_, "ACCEPTED") => EventStatus::Confirmed,
            _ => EventStatus::Tentative,
        };
        calendar.push(
            icalendar::Event::new()
                .uid(&format!("{}@movers-crm", e.id))
                .summary(&e.title)
                .starts(e.starts_at)
                .ends(e.ends_at)
                .timestamp(e.updated_at)
                .sequence(u32::try_from(e.version).unwrap_or(u32::MAX))
                .location(&location)
                .description(&format!("Crew:\n{crew}"))
                .status(status)
                .done(),
        );
    }
    let body = calendar.done().to_string();
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/calendar; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Whose schedules (default: the caller).
    pub user_id: Option<Uuid>,
}

#[utoipa::path(
    get, path = "/v1/calendar/feed.ics", tag = "schedules",
    params(FeedParams),
    responses(
        (status = 200, description = "The person's schedules as iCalendar (RFC 5545)", content_type = "text/calendar", body = String),
        (status = 403, description = "Not allowed (crew read their own only)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn own_feed(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<FeedParams>,
) -> ApiResult<Response> {
    let user = params.user_id.unwrap_or(principal.user_id);
    authz::authorize(
        &principal,
        Resource::Schedule,
        Action::Read,
        Some(api_common::authz::RecordOwnership {
            assigned_to: Some(user),
            created_by: Some(user),
            location_id: None,
        }),
    )?;
    feed(&state, &principal.tenant, user).await
}

#[utoipa::path(
    get, path = "/v1/calendar/feeds/{token}", tag = "schedules",
    params(("token" = String, Path, description = "`<id>.<secret>.ics`, as issued by POST /v1/calendar/feed-tokens")),
    responses(
        (status = 200, description = "The person's schedules as iCalendar (RFC 5545), without a bearer header", content_type = "text/calendar", body = String),
        (status = 404, description = "No such feed: unknown, revoked or forged", body = api_common::Problem),
    )
)]
async fn token_feed(
    State(state): State<QueryState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("no such calendar feed");
    let (id, secret) = token
        .strip_suffix(".ics")
        .and_then(|t| t.split_once('.'))
        .ok_or_else(not_found)?;
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let row = query::feed_token(&state.pool, id)
        .await?
        .ok_or_else(not_found)?;
    if keystore::secret_digest(secret) != row.secret_digest {
        return Err(not_found());
    }
    let tenant = TenantId::parse(&row.tenant_id).map_err(|_| not_found())?;
    feed(&state, &tenant, row.user_id).await
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(capacity))
        .checked_routes(routes!(crew_utilization))
        .checked_routes(routes!(own_feed))
}

/// The feed behind a secret URL: no bearer token (merged outside the
/// authentication layer; the secret is the credential).
pub(crate) fn public_router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new().checked_routes(routes!(token_feed))
}
