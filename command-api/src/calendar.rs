//! Calendar feed tokens: `POST /v1/calendar/feed-tokens` issues a secret URL
//! for one person's schedule feed (shown once; only its SHA-256 is stored),
//! `DELETE /v1/calendar/feed-tokens/{id}` revokes it. Crew issue and revoke
//! their own; dispatchers, managers and admins anyone's (read on schedules
//! with a scope covering the person). The feed itself is served by
//! `query_api::calendar`.

use aggregates::calendar_feed::{CalendarFeedAction, CalendarFeedCommand, CalendarFeedToken};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiResult, IfMatch, PathId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, act, ok, respond};

/// Whose feed a token serves: theirs (OWN).
fn covering(user_id: Uuid) -> Option<RecordOwnership> {
    Some(RecordOwnership {
        assigned_to: Some(user_id),
        created_by: Some(user_id),
        location_id: None,
    })
}

fn ownership(token: &CalendarFeedToken) -> RecordOwnership {
    covering(token.user_id.unwrap_or_default()).unwrap_or_default()
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueFeedTokenRequest {
    /// Whose schedules (default: the caller).
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

/// A new feed URL. The secret is in `path` and `token`, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedFeedToken {
    pub id: Uuid,
    pub user_id: Uuid,
    /// `<id>.<secret>`: keep it secret; revoke it if it leaks.
    pub token: String,
    /// The feed's path, e.g. to subscribe with `webcal://host` + path.
    #[schema(example = "/v1/calendar/feeds/0196….Zx3….ics")]
    pub path: String,
    pub version: u64,
}

#[utoipa::path(
    post, path = "/v1/calendar/feed-tokens", tag = "schedules",
    request_body = IssueFeedTokenRequest,
    responses(
        (status = 201, description = "Issued: the secret URL, shown once", body = IssuedFeedToken),
        (status = 403, description = "Not allowed (crew issue their own only)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn issue(
    State(state): State<CommandState>,
    ctx: CommandContext,
    crate::JsonOrEmpty(body): crate::JsonOrEmpty<IssueFeedTokenRequest>,
) -> ApiResult<Response> {
    let user_id = body.user_id.unwrap_or(ctx.principal.user_id);
    authz::authorize(
        &ctx.principal,
        Resource::Schedule,
        Action::Read,
        covering(user_id),
    )?;
    let id = Uuid::now_v7();
    let secret = keystore::random_secret();
    let command = CalendarFeedCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action: CalendarFeedAction::Issue {
            tenant_id: ctx.principal.tenant.clone(),
            token_id: id,
            user_id,
            secret_digest: keystore::secret_digest(&secret),
        },
    };
    let committed = act::create(&state.store::<CalendarFeedToken>(), &ctx, id, command).await?;
    let token = format!("{}.{secret}", id.simple());
    let path = format!("/v1/calendar/feeds/{token}.ics");
    Ok(respond(
        StatusCode::CREATED,
        Some(&path),
        committed.version,
        &IssuedFeedToken {
            id,
            user_id,
            token,
            path: path.clone(),
            version: committed.version,
        },
    ))
}

#[utoipa::path(
    delete, path = "/v1/calendar/feed-tokens/{id}", tag = "schedules",
    params(("id" = Uuid, Path, description = "Feed token id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Revoked (or already): its URL answers 404", body = CommandResponse),
        (status = 403, description = "Not allowed (crew revoke their own only)", body = api_common::Problem),
        (status = 404, description = "No such token in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn revoke(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    Ok(ok(act::act(
        &state.store::<CalendarFeedToken>(),
        &ctx,
        id,
        &if_match,
        (Resource::Schedule, Action::Read),
        ownership,
        |_| CalendarFeedCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            action: CalendarFeedAction::Revoke,
        },
    )
    .await?))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(issue))
        .checked_routes(routes!(revoke))
}
