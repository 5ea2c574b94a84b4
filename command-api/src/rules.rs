//! Automated messages' rules: `POST /v1/communication-rules` creates one,
//! `DELETE /v1/communication-rules/{id}` removes it (its messages not yet
//! made are not made). Managers and admins keep them; the processes crate
//! (`processes::rules`) makes their messages. Reads are in
//! `query_api::rules`.

use aggregates::rule::{CommunicationRule, RuleAction, RuleCommand, RuleInput, TemplateFacts};
use aggregates::template::MessageTemplate;
use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use event_schemas::communication::CommunicationType;
use event_schemas::rule::{RuleCondition, RuleTiming, RuleTrigger};
use event_store::CommandError;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, act, ok, respond};

/// A new rule: when `trigger` happens, send `template_id` on `channel`
/// per `timing`, unless one of `unless` holds by then.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    #[schema(example = "Quote follow-up after 3 days")]
    pub name: String,
    pub trigger: RuleTrigger,
    pub template_id: Uuid,
    /// EMAIL or SMS (the template must make it).
    pub channel: CommunicationType,
    /// `{"kind": "AFTER_EVENT", "minutes": 4320}` or
    /// `{"kind": "BEFORE_START", "days": 1, "at": "18:00:00"}` (tenant time; JOURNEY_SCHEDULED).
    pub timing: RuleTiming,
    /// Conditions that stop the message when its time comes (each must
    /// apply to the trigger).
    #[serde(default)]
    pub unless: Vec<RuleCondition>,
}

#[utoipa::path(
    post, path = "/v1/communication-rules", tag = "communications",
    request_body = CreateRuleRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Created (active)", body = CommandResponse),
        (status = 403, description = "Not allowed (managers and admins)", body = api_common::Problem),
        (status = 422, description = "Invalid field (named): a template that doesn't exist, is inactive or doesn't fit the channel; a timing or condition that doesn't fit the trigger", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateRuleRequest>,
) -> ApiResult<Response> {
    authz::authorize(
        &ctx.principal,
        Resource::CommunicationRule,
        Action::Create,
        None,
    )?;
    let template = match state
        .store::<MessageTemplate>()
        .load(&ctx.principal.tenant, body.template_id)
        .await
    {
        Ok(loaded) => {
            let t = loaded.state();
            t.template_type.map(|template_type| TemplateFacts {
                template_type,
                active: t.active,
                required_variables: t
                    .content
                    .iter()
                    .flat_map(|c| &c.variables)
                    .filter(|v| v.required)
                    .map(|v| v.name.clone())
                    .collect(),
            })
        }
        Err(CommandError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let id = Uuid::now_v7();
    let command = RuleCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action: RuleAction::Create {
            tenant_id: ctx.principal.tenant.clone(),
            rule_id: id,
            input: RuleInput {
                name: body.name,
                trigger: body.trigger,
                template_id: body.template_id,
                template,
                channel: body.channel,
                timing: body.timing,
                unless: body.unless,
            },
        },
    };
    let committed = act::create(&state.store::<CommunicationRule>(), &ctx, id, command).await?;
    let location = format!("/v1/communication-rules/{id}");
    Ok(respond(
        StatusCode::CREATED,
        Some(&location),
        committed.version,
        &CommandResponse {
            id,
            version: committed.version,
        },
    ))
}

#[utoipa::path(
    delete, path = "/v1/communication-rules/{id}", tag = "communications",
    params(("id" = Uuid, Path, description = "Rule id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Deleted (or already): its pending messages are not made", body = CommandResponse),
        (status = 404, description = "No such rule in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn delete(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let committed = act::act(
        &state.store::<CommunicationRule>(),
        &ctx,
        id,
        &if_match,
        (Resource::CommunicationRule, Action::Delete),
        act::unowned,
        |_| RuleCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            action: RuleAction::Delete,
        },
    )
    .await?;
    Ok(ok(committed))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(delete))
}
