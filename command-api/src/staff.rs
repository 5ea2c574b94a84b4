//! The staff directory's commands: add a person (by their user id, the JWT
//! `sub`) and change their entry. Phone and email are sealed with the
//! person's own data key when stored. Reads are in `query_api::staff`.

use aggregates::Patch;
use aggregates::staff::{StaffAction, StaffCommand, StaffInput, StaffMember, StaffPatch};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use event_schemas::staff::{CrewRole, staff_id};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, act, respond};

/// Who a staff record belongs to, for OWN (the person) and LOCATION (their
/// home branch) scopes.
pub fn ownership(member: &StaffMember) -> RecordOwnership {
    RecordOwnership {
        assigned_to: member.user_id,
        created_by: None,
        location_id: member
            .details
            .as_ref()
            .and_then(|d| d.home_location_id.clone()),
    }
}

/// Add a person to the staff directory.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddStaffRequest {
    /// The person's user id: the `sub` of their JWT.
    pub user_id: Uuid,
    #[schema(example = "Dana Driver")]
    pub display_name: String,
    #[serde(default)]
    pub crew_roles: Vec<CrewRole>,
    /// One of the tenant profile's locations (when it lists any).
    #[serde(default)]
    #[schema(example = "tor-1")]
    pub home_location_id: Option<String>,
    /// Personal data (sealed); stored in E.164.
    #[serde(default)]
    #[schema(example = "+14165550101")]
    pub phone: Option<String>,
    /// Personal data (sealed).
    #[serde(default)]
    #[schema(example = "dana@acme-movers.example")]
    pub email: Option<String>,
    /// Only active staff can be scheduled; default true.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Change a person's entry: absent fields stay, `null` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStaffRequest {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub crew_roles: Option<Vec<CrewRole>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub home_location_id: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub phone: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub email: Patch<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// The location ids of the tenant's profile (a home location must be one).
async fn known_locations(state: &CommandState, ctx: &CommandContext) -> ApiResult<Vec<String>> {
    let profile = crate::profile::current(state, &ctx.principal.tenant).await?;
    Ok(profile
        .locations()
        .iter()
        .map(|l| l.location_id.clone())
        .collect())
}

/// The answer of a staff command: the person's user id and the entry's
/// version.
fn answer(status: StatusCode, user_id: Uuid, version: u64) -> Response {
    let location = format!("/v1/staff/{user_id}");
    respond(
        status,
        (status == StatusCode::CREATED).then_some(location.as_str()),
        version,
        &CommandResponse {
            id: user_id,
            version,
        },
    )
}

#[utoipa::path(
    post, path = "/v1/staff", tag = "staff",
    request_body = AddStaffRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Added; `id` is the user id", body = CommandResponse),
        (status = 403, description = "Not allowed", body = api_common::Problem),
        (status = 409, description = "The user is in the directory already", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn add(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<AddStaffRequest>,
) -> ApiResult<Response> {
    authz::authorize(
        &ctx.principal,
        Resource::Staff,
        Action::Create,
        Some(RecordOwnership {
            assigned_to: Some(body.user_id),
            created_by: None,
            location_id: body.home_location_id.clone(),
        }),
    )?;
    let command = StaffCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        known_locations: known_locations(&state, &ctx).await?,
        action: StaffAction::Add {
            tenant_id: ctx.principal.tenant.clone(),
            user_id: body.user_id,
            input: StaffInput {
                display_name: body.display_name,
                crew_roles: body.crew_roles,
                home_location_id: body.home_location_id,
                phone: body.phone,
                email: body.email,
                active: body.active,
            },
        },
    };
    let id = staff_id(&ctx.principal.tenant, body.user_id);
    // Target::Any: a person added twice is refused by the aggregate (409
    // naming the rule), not by a lost race.
    let committed = act::run(
        &state.store::<StaffMember>(),
        &ctx,
        event_store::Target::Any(id),
        &IfMatch(None),
        |_| Ok(command.clone()),
    )
    .await?;
    Ok(answer(StatusCode::CREATED, body.user_id, committed.version))
}

#[utoipa::path(
    patch, path = "/v1/staff/{user_id}", tag = "staff",
    request_body = UpdateStaffRequest,
    params(
        ("user_id" = Uuid, Path, description = "The person's user id"),
        ("If-Match" = Option<String>, Header, description = "Expected version; a stale one answers 412"),
    ),
    responses(
        (status = 200, description = "Changed (or unchanged)", body = CommandResponse),
        (status = 404, description = "Not in this tenant's directory", body = api_common::Problem),
        (status = 412, description = "Stale If-Match", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(user_id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateStaffRequest>,
) -> ApiResult<Response> {
    let known_locations = known_locations(&state, &ctx).await?;
    let patch = StaffPatch {
        display_name: body.display_name,
        crew_roles: body.crew_roles,
        home_location_id: body.home_location_id,
        phone: body.phone,
        email: body.email,
        active: body.active,
    };
    let committed = act::act(
        &state.store::<StaffMember>(),
        &ctx,
        staff_id(&ctx.principal.tenant, user_id),
        &if_match,
        (Resource::Staff, Action::Update),
        ownership,
        |_| StaffCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            known_locations: known_locations.clone(),
            action: StaffAction::Update(patch.clone()),
        },
    )
    .await?;
    Ok(answer(StatusCode::OK, user_id, committed.version))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new().checked_routes(routes!(add, update))
}
