//! Availability: periods (or recurring ones, an RFC 5545 RRULE in the
//! tenant's time zone) in which a person is unavailable, or available
//! beyond working hours. Crew record and remove their own; dispatchers,
//! managers and admins anyone's. An unavailability that covers one of the
//! person's schedules is refused (409 naming the schedules): the database's
//! exclusion constraint keeps them apart, also under concurrency (decision
//! 0025). Reads are in `query_api::availability`.

use aggregates::availability::{Availability, AvailabilityAction, AvailabilityCommand, Window};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use event_schemas::availability::AvailabilityType;
use event_store::CommandError;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, act, created, ok};

/// An entry is owned by the person it is about.
pub fn ownership(entry: &Availability) -> RecordOwnership {
    RecordOwnership {
        assigned_to: entry.user_id(),
        created_by: entry.user_id(),
        location_id: None,
    }
}

/// A recurrence: an RRULE expanded in the tenant's time zone.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurrenceRequest {
    /// The RRULE value, e.g. `FREQ=WEEKLY;BYDAY=MO,TU` (DAILY, WEEKLY,
    /// MONTHLY or YEARLY; `COUNT` or `UNTIL` (local time) optional).
    #[schema(example = "FREQ=WEEKLY;BYDAY=MO,TU")]
    pub rule: String,
    /// The first occurrence's wall-clock start in the tenant's time zone.
    #[schema(value_type = String, example = "2027-03-01T08:00:00")]
    pub local_start: NaiveDateTime,
    #[schema(minimum = 1, maximum = 1440, example = 540)]
    pub duration_minutes: u32,
}

/// Record availability: one period (`starts_at`, `ends_at`) or a
/// `recurrence`, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAvailabilityRequest {
    /// Whose availability (default: the caller).
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// `false` (the default): unavailable, nobody may schedule the person
    /// then. `true`: available beyond working hours (counts for capacity).
    #[serde(default)]
    pub is_available: bool,
    #[serde(rename = "type", default)]
    pub availability_type: Option<AvailabilityType>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub recurrence: Option<RecurrenceRequest>,
}

fn window(body: &RecordAvailabilityRequest) -> ApiResult<Window> {
    match (&body.recurrence, body.starts_at, body.ends_at) {
        (Some(r), None, None) => Ok(Window::Recurring {
            rule: r.rule.clone(),
            local_start: r.local_start,
            duration_minutes: r.duration_minutes,
        }),
        (None, Some(starts_at), Some(ends_at)) => Ok(Window::Once { starts_at, ends_at }),
        (Some(_), _, _) => Err(ApiError::invalid_field(
            "recurrence",
            "give either a recurrence or starts_at and ends_at, not both",
        )),
        (None, None, _) => Err(ApiError::invalid_field(
            "starts_at",
            "required (or a recurrence)",
        )),
        (None, Some(_), None) => Err(ApiError::invalid_field(
            "ends_at",
            "required (or a recurrence)",
        )),
    }
}

#[utoipa::path(
    post, path = "/v1/availability", tag = "availability",
    request_body = RecordAvailabilityRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Recorded; an unavailability's occurrences are booked", body = CommandResponse),
        (status = 403, description = "Not allowed (crew record their own only)", body = api_common::Problem),
        (status = 409, description = "The unavailability covers the person's schedules (`availability.conflict`, naming them)", body = api_common::Problem),
        (status = 422, description = "Invalid field (named): window, recurrence, duration, texts", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn record(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<RecordAvailabilityRequest>,
) -> ApiResult<Response> {
    let user_id = body.user_id.unwrap_or(ctx.principal.user_id);
    authz::authorize(
        &ctx.principal,
        Resource::Availability,
        Action::Create,
        Some(RecordOwnership {
            assigned_to: Some(user_id),
            created_by: Some(user_id),
            location_id: None,
        }),
    )?;
    let window = window(&body)?;
    let profile = crate::profile::current(&state, &ctx.principal.tenant).await?;
    let id = Uuid::now_v7();
    let command = AvailabilityCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action: AvailabilityAction::Record {
            tenant_id: ctx.principal.tenant.clone(),
            availability_id: id,
            user_id,
            is_available: body.is_available,
            availability_type: body.availability_type.unwrap_or(AvailabilityType::Personal),
            reason: body.reason,
            notes: body.notes,
            window,
            time_zone: profile.time_zone(),
        },
    };
    let store = state.store::<Availability>();
    match act::create(&store, &ctx, id, command.clone()).await {
        Ok(committed) => Ok(created(&format!("/v1/availability/{id}"), committed)),
        Err(CommandError::Excluded(_)) => {
            // What the entry would have covered: decide it again, unstored.
            let periods: Vec<(DateTime<Utc>, DateTime<Utc>)> = Availability::default()
                .decide(command)
                .ok()
                .into_iter()
                .flatten()
                .flat_map(|event| match event {
                    event_schemas::availability::AvailabilityEvent::AvailabilityRecorded(e) => {
                        e.occurrences
                    }
                    _ => vec![],
                })
                .map(|p| (p.starts_at, p.ends_at))
                .collect();
            let schedules = event_store::lookups::schedules_overlapping(
                &state.pool,
                &ctx.principal.tenant,
                user_id,
                &periods,
            )
            .await?;
            let named: Vec<String> = schedules
                .iter()
                .map(|b| {
                    format!(
                        "schedule {} from {} to {}",
                        b.source_id, b.starts_at, b.ends_at
                    )
                })
                .collect();
            Err(ApiError::conflict(
                "availability.conflict",
                if named.is_empty() {
                    format!("{user_id} is scheduled during this unavailability")
                } else {
                    format!("{user_id} is scheduled then: {}", named.join("; "))
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    delete, path = "/v1/availability/{id}", tag = "availability",
    params(("id" = Uuid, Path, description = "Availability entry id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Removed (or already): its occurrences no longer count", body = CommandResponse),
        (status = 403, description = "Not allowed (crew remove their own only)", body = api_common::Problem),
        (status = 404, description = "No such entry in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn remove(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    Ok(ok(act::act(
        &state.store::<Availability>(),
        &ctx,
        id,
        &if_match,
        (Resource::Availability, Action::Delete),
        ownership,
        |_| AvailabilityCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            action: AvailabilityAction::Remove,
        },
    )
    .await?))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(record))
        .checked_routes(routes!(remove))
}
