//! Lead commands: open a lead, move it along the pipeline, assign it,
//! record sales activities, edit its details.

use aggregates::customer::Customer;
use api_common::openapi::CheckedRoutes;
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aggregates::Patch;
use aggregates::lead::{
    CreateLead, CustomerFacts, Lead, LeadAction, LeadCommand, RecordActivity, UpdateLead,
};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::{LeadPriority, LeadStatus, Role, SalesActivityType};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, created, ok};
use event_store::Committed;

/// Open a lead for an existing, active customer. A sales rep's new lead is
/// assigned to them unless they say otherwise.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLeadRequest {
    pub customer_id: Uuid,
    #[schema(example = "website")]
    pub source: String,
    #[serde(default)]
    pub priority: Option<LeadPriority>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date, example = "2026-07-01")]
    pub estimated_move_date: Option<NaiveDate>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "4500.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub estimated_value: Option<Decimal>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub follow_up_date: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub score: Option<i32>,
    /// Qualification checklist: criterion → met.
    #[serde(default)]
    pub qualification: BTreeMap<String, bool>,
    #[serde(default)]
    pub assigned_to: Option<Uuid>,
    /// The branch handling the move (LOCATION-scoped permissions).
    #[serde(default)]
    #[schema(example = "mtl-1")]
    pub location_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLeadRequest {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub priority: Option<LeadPriority>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub estimated_move_date: Patch<NaiveDate>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "5200.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub estimated_value: Patch<Decimal>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub notes: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub follow_up_date: Patch<DateTime<Utc>>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub score: Option<i32>,
    #[serde(default)]
    pub qualification: Option<BTreeMap<String, bool>>,
}

/// Move the lead to another status. `reason` is required for `LOST`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: LeadStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Assign the lead to a sales rep, or unassign it with `null`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignLeadRequest {
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordActivityRequest {
    #[serde(rename = "type")]
    pub activity_type: SalesActivityType,
    #[serde(default)]
    pub subject: Option<String>,
    pub description: String,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub next_action: Option<String>,
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_minutes: Option<i32>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "12.50", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub cost: Option<Decimal>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityRecorded {
    /// The new activity's id.
    pub id: Uuid,
    pub lead_id: Uuid,
    /// The lead's version after recording it.
    pub version: u64,
}

fn ownership(lead: &Lead) -> RecordOwnership {
    RecordOwnership {
        assigned_to: lead.assigned_to,
        created_by: lead.created_by,
        location_id: lead.location_id.clone(),
    }
}

/// Runs `action` on a lead the caller may change: load it (404 for another
/// tenant's), check the role's scope on it, check `If-Match`, commit.
async fn act(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: IfMatch,
    action: LeadAction,
) -> ApiResult<Committed> {
    crate::act::act(
        &state.store::<Lead>(),
        ctx,
        id,
        &if_match,
        (Resource::Lead, Action::Update),
        ownership,
        |_| command(ctx, action.clone()),
    )
    .await
}

fn command(ctx: &CommandContext, action: LeadAction) -> LeadCommand {
    LeadCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

/// Sales reps may only give leads to themselves (or take themselves off).
fn check_assignee(ctx: &CommandContext, assignee: Option<Uuid>) -> ApiResult<()> {
    if ctx.principal.role == Role::Sales && assignee.is_some_and(|u| u != ctx.principal.user_id) {
        return Err(ApiError::forbidden(
            "a sales rep may assign leads only to themselves; ask a manager to hand a lead over",
        ));
    }
    Ok(())
}

#[utoipa::path(
    post, path = "/v1/leads", tag = "leads",
    request_body = CreateLeadRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Lead opened", body = CommandResponse),
        (status = 409, description = "The customer is inactive", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateLeadRequest>,
) -> ApiResult<Response> {
    let assigned_to = match (ctx.principal.role, body.assigned_to) {
        (Role::Sales, None) => Some(ctx.principal.user_id),
        (_, assignee) => assignee,
    };
    // The new lead must fall within the caller's scope (e.g. their location).
    let facts = RecordOwnership {
        assigned_to,
        created_by: Some(ctx.principal.user_id),
        location_id: body
            .location_id
            .as_deref()
            .map(str::trim)
            .map(str::to_owned),
    };
    authz::authorize(&ctx.principal, Resource::Lead, Action::Create, Some(facts))?;
    check_assignee(&ctx, assigned_to)?;
    let customer = state
        .store::<Customer>()
        .find(&ctx.principal.tenant, body.customer_id)
        .await?
        .ok_or_else(|| ApiError::invalid_field("customer_id", "no customer with this id"))?;
    let id = Uuid::now_v7();
    let action = LeadAction::Create(CreateLead {
        lead_id: id,
        tenant_id: ctx.principal.tenant.clone(),
        customer: CustomerFacts {
            id: body.customer_id,
            active: customer.state().active,
        },
        source: body.source,
        priority: body.priority,
        estimated_move_date: body.estimated_move_date,
        estimated_value: body.estimated_value,
        notes: body.notes,
        follow_up_date: body.follow_up_date,
        score: body.score,
        qualification: body.qualification,
        assigned_to,
        location_id: body.location_id,
    });
    let committed =
        crate::act::create(&state.store::<Lead>(), &ctx, id, command(&ctx, action)).await?;
    Ok(created(&format!("/v1/leads/{}", committed.id), committed))
}

#[utoipa::path(
    patch, path = "/v1/leads/{id}", tag = "leads",
    request_body = UpdateLeadRequest,
    params(("id" = Uuid, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Updated (or unchanged)", body = CommandResponse),
        (status = 409, description = "The lead is archived, or a concurrent write", body = api_common::Problem),
        (status = 412, description = "Stale If-Match", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateLeadRequest>,
) -> ApiResult<Response> {
    let action = LeadAction::Update(UpdateLead {
        source: body.source,
        priority: body.priority,
        estimated_move_date: body.estimated_move_date,
        estimated_value: body.estimated_value,
        notes: body.notes,
        follow_up_date: body.follow_up_date,
        score: body.score,
        qualification: body.qualification,
    });
    let committed = act(&state, &ctx, id, if_match, action).await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/leads/{id}/transition", tag = "leads",
    request_body = TransitionRequest,
    params(("id" = Uuid, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Moved", body = CommandResponse),
        (status = 409, description = "Illegal move (rule `lead.illegal-transition`, naming both states)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn transition(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<TransitionRequest>,
) -> ApiResult<Response> {
    let action = LeadAction::Transition {
        to: body.to,
        reason: body.reason,
    };
    let committed = act(&state, &ctx, id, if_match, action).await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/leads/{id}/assign", tag = "leads",
    request_body = AssignLeadRequest,
    params(("id" = Uuid, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Assigned", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn assign(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<AssignLeadRequest>,
) -> ApiResult<Response> {
    check_assignee(&ctx, body.user_id)?;
    let action = LeadAction::Assign {
        user_id: body.user_id,
    };
    let committed = act(&state, &ctx, id, if_match, action).await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/leads/{id}/activities", tag = "leads",
    request_body = RecordActivityRequest,
    params(
        ("id" = Uuid, Path, description = "Lead id"),
        ("If-Match" = Option<String>, Header, description = "Expected version"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    responses((status = 201, description = "Activity recorded", body = ActivityRecorded)),
    security(("bearer" = []))
)]
async fn record_activity(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<RecordActivityRequest>,
) -> ApiResult<Response> {
    let activity_id = Uuid::now_v7();
    let action = LeadAction::RecordActivity(RecordActivity {
        activity_id,
        activity_type: body.activity_type,
        subject: body.subject,
        description: body.description,
        outcome: body.outcome,
        next_action: body.next_action,
        scheduled_at: body.scheduled_at,
        completed_at: body.completed_at,
        duration_minutes: body.duration_minutes,
        cost: body.cost,
        notes: body.notes,
    });
    let committed = act(&state, &ctx, id, if_match, action).await?;
    let body = ActivityRecorded {
        id: activity_id,
        lead_id: committed.id,
        version: committed.version,
    };
    Ok(crate::respond(
        axum::http::StatusCode::CREATED,
        Some(&format!("/v1/leads/{}/timeline", committed.id)),
        committed.version,
        &body,
    ))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(update))
        .checked_routes(routes!(transition))
        .checked_routes(routes!(assign))
        .checked_routes(routes!(record_activity))
}
