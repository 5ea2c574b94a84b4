//! Schedules: the dispatch board's commands. Dispatchers, managers and
//! admins create, change, reschedule, start, complete and cancel them;
//! each crew member accepts or declines their own invitation. The database
//! refuses a person in two overlapping schedules, a person scheduled over
//! their unavailability and a truck booked twice (decision 0025); the 409
//! names every conflict. Reads are in `query_api::schedules`.

use std::collections::HashMap;

use aggregates::Patch;
use aggregates::schedule::{
    CrewFact, Schedule, ScheduleAction, ScheduleCommand, ScheduleFacts, ScheduleInput,
    SchedulePatch,
};
use aggregates::staff::StaffMember;
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, FixedOffset, Utc};
use event_schemas::schedule::{CrewResponse, ScheduleLink, SchedulePriority, ScheduleType};
use event_schemas::staff::{CrewRole, staff_id};
use event_store::{CommandError, Committed, Target};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, act, created, ok};

/// The rule of the 409 the event store's exclusion constraints answer.
const OVERLAP: &str = "booking.overlap";

/// Who a schedule belongs to for OWN (its creator; crew reads are checked
/// against the crew list) and LOCATION scopes.
pub fn ownership(schedule: &Schedule) -> RecordOwnership {
    RecordOwnership {
        assigned_to: schedule.created_by(),
        created_by: schedule.created_by(),
        location_id: schedule.location_id().map(str::to_owned),
    }
}

/// A person on the crew and the role they fill.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrewRequest {
    pub user_id: Uuid,
    pub role: CrewRole,
}

/// What a schedule is linked to.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    #[serde(default)]
    pub lead_id: Option<Uuid>,
    #[serde(default)]
    pub quote_id: Option<Uuid>,
    #[serde(default)]
    pub journey_id: Option<Uuid>,
}

/// Create a schedule. Everyone on the crew is invited; the crew, equipment
/// and vehicles are booked at once, or nothing is written.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScheduleRequest {
    #[schema(example = "tor-1")]
    pub location_id: String,
    #[schema(example = "Smith move, 12 Elm St")]
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub schedule_type: ScheduleType,
    #[serde(default)]
    pub priority: Option<SchedulePriority>,
    /// An instant with its offset, e.g. `2027-05-10T08:00:00-04:00`.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub crew: Vec<CrewRequest>,
    #[serde(default)]
    pub equipment_ids: Vec<Uuid>,
    #[serde(default)]
    pub vehicle_ids: Vec<Uuid>,
    #[serde(default)]
    pub link: LinkRequest,
}

/// Change a schedule: absent fields stay; a new `crew` replaces the crew
/// (people kept keep their answer, new people are invited).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateScheduleRequest {
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    #[serde(default)]
    pub priority: Option<SchedulePriority>,
    #[serde(default)]
    pub crew: Option<Vec<CrewRequest>>,
    #[serde(default)]
    pub equipment_ids: Option<Vec<Uuid>>,
    #[serde(default)]
    pub vehicle_ids: Option<Vec<Uuid>>,
}

/// Move a schedule; its crew and equipment move with it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleScheduleRequest {
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteScheduleRequest {
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelScheduleRequest {
    pub reason: String,
}

/// What a schedule command needs to know from outside the aggregate: the
/// directory entries of the people named, and the tenant's locations.
async fn facts(
    state: &CommandState,
    ctx: &CommandContext,
    people: impl IntoIterator<Item = Uuid>,
) -> ApiResult<ScheduleFacts> {
    let tenant = &ctx.principal.tenant;
    let profile = crate::profile::current(state, tenant).await?;
    let mut staff = HashMap::new();
    let store = state.store::<StaffMember>();
    for user in people {
        if staff.contains_key(&user) {
            continue;
        }
        if let Some(loaded) = store.find(tenant, staff_id(tenant, user)).await?
            && let Some(details) = &loaded.state().details
        {
            staff.insert(
                user,
                CrewFact {
                    active: details.active,
                    roles: details.crew_roles.clone(),
                },
            );
        }
    }
    Ok(ScheduleFacts {
        staff,
        locations: profile
            .locations()
            .iter()
            .map(|l| l.location_id.clone())
            .collect(),
    })
}

/// The 409 of a schedule refused by the database: every booking of its
/// crew and equipment that overlaps its period.
async fn conflicts(
    state: &CommandState,
    ctx: &CommandContext,
    schedule: Uuid,
    crew: &[Uuid],
    equipment: &[Uuid],
    period: (DateTime<Utc>, DateTime<Utc>),
) -> ApiResult<ApiError> {
    let tenant = &ctx.principal.tenant;
    let people = event_store::lookups::overlapping_crew_bookings(
        &state.pool,
        tenant,
        crew,
        period,
        Some(schedule),
    )
    .await?;
    let things = event_store::lookups::overlapping_equipment_bookings(
        &state.pool,
        tenant,
        equipment,
        period,
        Some(schedule),
    )
    .await?;
    let mut described: Vec<String> = people
        .iter()
        .map(|b| {
            let what = if b.kind == "unavailable" {
                format!("is unavailable (availability {})", b.source_id)
            } else {
                format!("is on schedule {}", b.source_id)
            };
            format!("{} {what} from {} to {}", b.user_id, b.starts_at, b.ends_at)
        })
        .collect();
    described.extend(things.iter().map(|b| {
        format!(
            "equipment {} is booked by {} {} from {} to {}",
            b.equipment_id, b.kind, b.holder, b.starts_at, b.ends_at
        )
    }));
    let detail = if described.is_empty() {
        "the schedule overlaps another booking of its crew or equipment".to_owned()
    } else {
        format!("the schedule overlaps: {}", described.join("; "))
    };
    Ok(ApiError::conflict("schedule.conflict", detail))
}

/// Runs `action` on schedule `id` (authorized for `action_kind` on the
/// loaded schedule), answering an overlap with every conflict.
async fn run_schedule(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    action_kind: Action,
    action: ScheduleAction,
    people: Vec<Uuid>,
) -> ApiResult<Committed> {
    let facts = facts(state, ctx, people).await?;
    let store = state.store::<Schedule>();
    let result = act::run(&store, ctx, Target::Existing(id), if_match, |loaded| {
        authz::authorize(
            &ctx.principal,
            Resource::Schedule,
            action_kind,
            Some(ownership(loaded.state())),
        )?;
        Ok(ScheduleCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            facts: facts.clone(),
            action: action.clone(),
        })
    })
    .await;
    match result {
        Err(e) if e.is_conflict_rule(OVERLAP) => {
            // The schedule as it would have been: its crew and equipment over
            // the period the refused command asked for.
            let loaded = store.load(&ctx.principal.tenant, id).await?;
            let schedule = loaded.state();
            let (crew, period) = match &action {
                ScheduleAction::Reschedule {
                    starts_at, ends_at, ..
                } => (
                    people_of(&action, schedule),
                    (starts_at.to_utc(), ends_at.to_utc()),
                ),
                _ => {
                    let (s, e) = schedule.period().unwrap_or_default();
                    (people_of(&action, schedule), (s.to_utc(), e.to_utc()))
                }
            };
            let equipment = match &action {
                ScheduleAction::Update(p)
                    if p.equipment_ids.is_some() || p.vehicle_ids.is_some() =>
                {
                    p.equipment_ids
                        .iter()
                        .chain(p.vehicle_ids.iter())
                        .flatten()
                        .copied()
                        .collect()
                }
                _ => schedule.equipment(),
            };
            Err(conflicts(state, ctx, id, &crew, &equipment, period).await?)
        }
        other => other,
    }
}

/// The people a refused command would have booked: a declined person holds
/// nothing (and keeps their answer on a new crew), so their other bookings
/// are no conflict.
fn people_of(action: &ScheduleAction, schedule: &Schedule) -> Vec<Uuid> {
    let holding = |user: &Uuid| {
        schedule
            .crew()
            .iter()
            .find(|m| m.user_id == *user)
            .is_none_or(|m| m.holds_slot())
    };
    match action {
        ScheduleAction::Update(SchedulePatch {
            crew: Some(crew), ..
        }) => crew.iter().map(|(u, _)| *u).filter(holding).collect(),
        ScheduleAction::Respond { user_id, .. } => vec![*user_id],
        _ => schedule
            .crew()
            .iter()
            .filter(|m| m.holds_slot())
            .map(|m| m.user_id)
            .collect(),
    }
}

#[utoipa::path(
    post, path = "/v1/schedules", tag = "schedules",
    request_body = CreateScheduleRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Scheduled; crew and equipment booked", body = CommandResponse),
        (status = 403, description = "Not allowed", body = api_common::Problem),
        (status = 409, description = "A person or piece of equipment is booked then, or a person is unavailable (`schedule.conflict`, naming every conflict); or equipment cannot be booked", body = api_common::Problem),
        (status = 422, description = "Invalid field (named): crew not in the directory, inactive or unable to fill the role, unknown location …", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateScheduleRequest>,
) -> ApiResult<Response> {
    authz::authorize(
        &ctx.principal,
        Resource::Schedule,
        Action::Create,
        Some(RecordOwnership {
            assigned_to: Some(ctx.principal.user_id),
            created_by: Some(ctx.principal.user_id),
            location_id: Some(body.location_id.clone()),
        }),
    )?;
    let crew: Vec<(Uuid, CrewRole)> = body.crew.iter().map(|c| (c.user_id, c.role)).collect();
    let people: Vec<Uuid> = crew.iter().map(|(u, _)| *u).collect();
    let facts = facts(&state, &ctx, people.iter().copied()).await?;
    let id = Uuid::now_v7();
    let equipment: Vec<Uuid> = body
        .equipment_ids
        .iter()
        .chain(&body.vehicle_ids)
        .copied()
        .collect();
    let period = (body.starts_at.to_utc(), body.ends_at.to_utc());
    let command = ScheduleCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        facts,
        action: ScheduleAction::Create {
            tenant_id: ctx.principal.tenant.clone(),
            schedule_id: id,
            input: ScheduleInput {
                location_id: body.location_id,
                title: body.title,
                description: body.description,
                schedule_type: body.schedule_type,
                priority: body.priority.unwrap_or(SchedulePriority::Normal),
                starts_at: body.starts_at,
                ends_at: body.ends_at,
                crew,
                equipment_ids: body.equipment_ids,
                vehicle_ids: body.vehicle_ids,
                link: ScheduleLink {
                    lead_id: body.link.lead_id,
                    quote_id: body.link.quote_id,
                    journey_id: body.link.journey_id,
                },
            },
            cause: None,
        },
    };
    match act::create(&state.store::<Schedule>(), &ctx, id, command).await {
        Ok(committed) => Ok(created(&format!("/v1/schedules/{id}"), committed)),
        Err(CommandError::Excluded(_)) => {
            Err(conflicts(&state, &ctx, id, &people, &equipment, period).await?)
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    patch, path = "/v1/schedules/{id}", tag = "schedules",
    request_body = UpdateScheduleRequest,
    params(("id" = Uuid, Path, description = "Schedule id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Changed (or unchanged)", body = CommandResponse),
        (status = 404, description = "No such schedule in this tenant", body = api_common::Problem),
        (status = 409, description = "A new crew member or piece of equipment is booked then (`schedule.conflict`), or the schedule is over", body = api_common::Problem),
        (status = 412, description = "Stale If-Match", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateScheduleRequest>,
) -> ApiResult<Response> {
    let crew: Option<Vec<(Uuid, CrewRole)>> = body
        .crew
        .map(|c| c.into_iter().map(|c| (c.user_id, c.role)).collect());
    let people: Vec<Uuid> = crew.iter().flatten().map(|(u, _)| *u).collect();
    let action = ScheduleAction::Update(SchedulePatch {
        location_id: body.location_id,
        title: body.title,
        description: body.description,
        priority: body.priority,
        crew,
        equipment_ids: body.equipment_ids,
        vehicle_ids: body.vehicle_ids,
    });
    Ok(ok(run_schedule(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
        people,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/schedules/{id}/reschedule", tag = "schedules",
    request_body = RescheduleScheduleRequest,
    params(("id" = Uuid, Path, description = "Schedule id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Moved (RESCHEDULED in its history); crew and equipment moved with it", body = CommandResponse),
        (status = 404, description = "No such schedule in this tenant", body = api_common::Problem),
        (status = 409, description = "Someone or something on it is booked at the new time (`schedule.conflict`), or it is not SCHEDULED", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn reschedule(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<RescheduleScheduleRequest>,
) -> ApiResult<Response> {
    let action = ScheduleAction::Reschedule {
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        reason: body.reason,
    };
    Ok(ok(run_schedule(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
        vec![],
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/schedules/{id}/start", tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "IN_PROGRESS", body = CommandResponse),
        (status = 404, description = "No such schedule in this tenant", body = api_common::Problem),
        (status = 409, description = "Not SCHEDULED", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn start(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    Ok(ok(run_schedule(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        ScheduleAction::Start,
        vec![],
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/schedules/{id}/complete", tag = "schedules",
    request_body = CompleteScheduleRequest,
    params(("id" = Uuid, Path, description = "Schedule id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "COMPLETED; its crew and equipment are free from now", body = CommandResponse),
        (status = 404, description = "No such schedule in this tenant", body = api_common::Problem),
        (status = 409, description = "Not IN_PROGRESS", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn complete(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    crate::JsonOrEmpty(body): crate::JsonOrEmpty<CompleteScheduleRequest>,
) -> ApiResult<Response> {
    Ok(ok(run_schedule(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        ScheduleAction::Complete { notes: body.notes },
        vec![],
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/schedules/{id}/cancel", tag = "schedules",
    request_body = CancelScheduleRequest,
    params(("id" = Uuid, Path, description = "Schedule id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "CANCELLED; everything it held is free", body = CommandResponse),
        (status = 404, description = "No such schedule in this tenant", body = api_common::Problem),
        (status = 409, description = "Already COMPLETED or CANCELLED", body = api_common::Problem),
        (status = 422, description = "A reason is required", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn cancel(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<CancelScheduleRequest>,
) -> ApiResult<Response> {
    Ok(ok(run_schedule(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Delete,
        ScheduleAction::Cancel {
            reason: body.reason,
        },
        vec![],
    )
    .await?))
}

fn two_ids(raw: (String, String)) -> ApiResult<(Uuid, Uuid)> {
    let parse = |s: &str, what: &str| {
        s.parse()
            .map_err(|_| ApiError::not_found(format!("no {what} with id `{s}`")))
    };
    Ok((parse(&raw.0, "schedule")?, parse(&raw.1, "crew member")?))
}

/// A crew member's own answer: only they may give it; they must be on the
/// crew (404 otherwise, like another tenant's schedule).
async fn respond(
    state: &CommandState,
    ctx: &CommandContext,
    raw: (String, String),
    if_match: &IfMatch,
    response: CrewResponse,
) -> ApiResult<Response> {
    let (id, user_id) = two_ids(raw)?;
    if user_id != ctx.principal.user_id {
        return Err(ApiError::forbidden(
            "only the crew member answers their own invitation",
        ));
    }
    let store = state.store::<Schedule>();
    let action = ScheduleAction::Respond { user_id, response };
    let result = act::run(&store, ctx, Target::Existing(id), if_match, |loaded| {
        if !loaded.state().on_crew(user_id) {
            return Err(ApiError::not_found(format!(
                "no schedule {id} with {user_id} on its crew"
            )));
        }
        Ok(ScheduleCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            facts: ScheduleFacts::default(),
            action: action.clone(),
        })
    })
    .await;
    match result {
        Err(e) if e.is_conflict_rule(OVERLAP) => {
            let loaded = store.load(&ctx.principal.tenant, id).await?;
            let (s, e) = loaded.state().period().unwrap_or_default();
            Err(conflicts(state, ctx, id, &[user_id], &[], (s.to_utc(), e.to_utc())).await?)
        }
        other => Ok(ok(other?)),
    }
}

#[utoipa::path(
    post, path = "/v1/schedules/{id}/crew/{user_id}/accept", tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id"), ("user_id" = Uuid, Path, description = "The caller's own user id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Accepted (or already)", body = CommandResponse),
        (status = 403, description = "Not the caller's own invitation", body = api_common::Problem),
        (status = 404, description = "No such schedule with the caller on its crew", body = api_common::Problem),
        (status = 409, description = "Declined earlier and booked elsewhere since (`schedule.conflict`), or the schedule is over", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn accept(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path(raw): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    respond(&state, &ctx, raw, &if_match, CrewResponse::Accepted).await
}

#[utoipa::path(
    post, path = "/v1/schedules/{id}/crew/{user_id}/decline", tag = "schedules",
    params(("id" = Uuid, Path, description = "Schedule id"), ("user_id" = Uuid, Path, description = "The caller's own user id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Declined (or already): the slot is released", body = CommandResponse),
        (status = 403, description = "Not the caller's own invitation", body = api_common::Problem),
        (status = 404, description = "No such schedule with the caller on its crew", body = api_common::Problem),
        (status = 409, description = "The schedule is over", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn decline(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path(raw): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    respond(&state, &ctx, raw, &if_match, CrewResponse::Declined).await
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(update))
        .checked_routes(routes!(reschedule))
        .checked_routes(routes!(start))
        .checked_routes(routes!(complete))
        .checked_routes(routes!(cancel))
        .checked_routes(routes!(accept))
        .checked_routes(routes!(decline))
}
