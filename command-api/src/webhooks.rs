//! Outbound webhooks (admins manage them): create (the secret is shown
//! once), edit, delete, rotate the secret (the old one keeps signing for
//! 24 h), send a test, enable, disable; retry one delivery, or recover
//! every failed delivery since an instant. Reads are in
//! `query_api::webhooks`; the worker (`processes::webhooks`) delivers.
//!
//! A URL is checked by the SSRF guard (`outbound::guard`) when written:
//! https only, and no name or address that is loopback, private,
//! link-local or a metadata service, unless the deployment allows private
//! destinations (`CRM_WEBHOOK_ALLOW_PRIVATE`). The worker checks again at
//! every delivery.

use std::collections::BTreeMap;
use std::sync::Arc;

use aggregates::webhook::{
    DeliveryAction, DeliveryCommand, Webhook, WebhookAction, WebhookCommand, WebhookDelivery,
    WebhookSettings,
};
use api_common::authz::{Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use event_schemas::webhook::{DisableReason, RetryReason};
use event_store::Target;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandState, JsonOrEmpty, act, ok, respond};

/// Where webhooks may point: the deployment's policy and the resolver the
/// guard asks (tests inject their own).
#[derive(Clone)]
pub struct WebhookGuard {
    pub policy: outbound::Policy,
    pub resolver: Arc<dyn outbound::Resolver>,
}

impl Default for WebhookGuard {
    fn default() -> Self {
        Self {
            policy: outbound::Policy::default(),
            resolver: Arc::new(outbound::SystemResolver),
        }
    }
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    #[schema(example = "Accounting sync")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `https://…`; checked against private and metadata addresses.
    #[schema(example = "https://hooks.example.com/crm")]
    pub url: String,
    /// Exact event types (`InvoiceIssued`), prefixes (`Invoice*`) or `*`.
    /// The webhook system's own events (`Webhook*`) are never delivered.
    #[schema(example = json!(["Invoice*", "LeadCreated"]))]
    pub event_types: Vec<String>,
    /// Sent with every delivery (no hop-by-hop, credential or `webhook-*`
    /// headers); stored sealed.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
}

/// Changes to an endpoint (fields left out stay as they are).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    pub name: Option<String>,
    /// An empty text removes it.
    pub description: Option<String>,
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// Replaces every custom header.
    pub headers: Option<BTreeMap<String, String>>,
}

/// The endpoint and its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecretResponse {
    pub id: Uuid,
    pub version: u64,
    /// `whsec_…`: verify the `webhook-signature` header with it (Standard
    /// Webhooks). It is never shown again.
    pub secret: String,
    /// After a rotation: until when the previous secret also signs.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
}

/// A test delivery was queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestDeliveryResponse {
    /// Follow it at `/v1/webhooks/{id}/deliveries/{delivery_id}`.
    pub delivery_id: Uuid,
    pub version: u64,
}

/// Recover the failed deliveries.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Every delivery that FAILED at or after this instant is tried again
    /// (at most 30 days back).
    pub since: DateTime<Utc>,
}

fn field(name: impl Into<String>, message: impl Into<String>) -> api_common::problem::ProblemField {
    api_common::problem::ProblemField {
        field: name.into(),
        message: message.into(),
    }
}

/// The settings' URL, patterns and headers checked (every problem named);
/// the aggregate checks the rest.
async fn checked(guard: &WebhookGuard, settings: WebhookSettings) -> ApiResult<WebhookSettings> {
    let mut errors = Vec::new();
    match outbound::guard::check_url(&settings.url, &guard.policy) {
        Ok(url) => {
            if let Err(e) =
                outbound::guard::resolve_checked(&url, &guard.policy, guard.resolver.as_ref()).await
            {
                errors.push(field("url", e.to_string()));
            }
        }
        Err(e) => errors.push(field("url", e.to_string())),
    }
    for (i, pattern) in settings.event_types.iter().enumerate() {
        if let Err(e) = outbound::EventPattern::parse(pattern) {
            errors.push(field(format!("event_types[{i}]"), e.to_string()));
        }
    }
    let headers: Vec<(String, String)> = settings
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Err(e) = outbound::headers::validate_headers(&headers) {
        errors.push(field("headers", e.to_string()));
    }
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(ApiError::validation(errors))
    }
}

fn command(ctx: &CommandContext, action: WebhookAction) -> WebhookCommand {
    WebhookCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhookRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = WebhookSecretResponse),
        (status = 403, description = "Admins only", body = api_common::Problem),
        (status = 422, description = "Invalid field (named): a refused URL, a bad pattern or header", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateWebhookRequest>,
) -> ApiResult<Response> {
    api_common::authz::authorize(&ctx.principal, Resource::Webhook, Action::Create, None)?;
    let settings = checked(
        &state.webhooks,
        WebhookSettings {
            name: body.name,
            description: body.description,
            url: body.url,
            event_types: body.event_types,
            headers: body.headers,
        },
    )
    .await?;
    let id = Uuid::now_v7();
    let secret = outbound::signing::new_secret();
    let committed = act::create(
        &state.store::<Webhook>(),
        &ctx,
        id,
        command(
            &ctx,
            WebhookAction::Create {
                tenant_id: ctx.principal.tenant.clone(),
                webhook_id: id,
                settings,
                secret: secret.clone(),
                active: body.active.unwrap_or(true),
            },
        ),
    )
    .await?;
    tracing::info!(%id, "webhook created");
    Ok(respond(
        StatusCode::CREATED,
        Some(&format!("/v1/webhooks/{id}")),
        committed.version,
        &WebhookSecretResponse {
            id,
            version: committed.version,
            secret,
            previous_secret_valid_until: None,
        },
    ))
}

#[utoipa::path(
    patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    request_body = UpdateWebhookRequest,
    params(("id" = Uuid, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Changed (or nothing to change)", body = crate::CommandResponse),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateWebhookRequest>,
) -> ApiResult<Response> {
    let loaded = act::load_authorized(
        &state.store::<Webhook>(),
        &ctx,
        id,
        (Resource::Webhook, Action::Update),
        act::unowned,
    )
    .await?;
    let current = loaded.state();
    if !current.exists() {
        return Err(ApiError::not_found(format!("no webhook {id}")));
    }
    let settings = checked(
        &state.webhooks,
        WebhookSettings {
            name: body.name.unwrap_or_else(|| current.name.clone()),
            description: match body.description {
                Some(d) => Some(d),
                None => current.description.clone(),
            },
            url: body.url.unwrap_or_else(|| current.url.clone()),
            event_types: body
                .event_types
                .unwrap_or_else(|| current.event_types.clone()),
            headers: body.headers.unwrap_or_else(|| current.headers.clone()),
        },
    )
    .await?;
    let committed = act::act(
        &state.store::<Webhook>(),
        &ctx,
        id,
        &if_match,
        (Resource::Webhook, Action::Update),
        act::unowned,
        |_| command(&ctx, WebhookAction::Update(settings.clone())),
    )
    .await?;
    Ok(ok(committed))
}

/// One of the simple actions on an endpoint.
async fn simple(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    action: Action,
    webhook_action: WebhookAction,
) -> ApiResult<Response> {
    let committed = act::act(
        &state.store::<Webhook>(),
        ctx,
        id,
        if_match,
        (Resource::Webhook, action),
        act::unowned,
        |_| command(ctx, webhook_action.clone()),
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Deleted: nothing more is delivered to it", body = crate::CommandResponse),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn delete(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    simple(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Delete,
        WebhookAction::Delete,
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/enable", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Active (or already); waiting deliveries resume", body = crate::CommandResponse),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn enable(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    simple(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        WebhookAction::Enable,
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/disable", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Disabled (or already): nothing new is queued for it", body = crate::CommandResponse),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn disable(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    simple(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        WebhookAction::Disable {
            reason: DisableReason::Manual,
            detail: None,
        },
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "The new secret, shown this once; the previous one keeps signing for 24 h", body = WebhookSecretResponse),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn rotate_secret(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let secret = outbound::signing::new_secret();
    let committed = act::act(
        &state.store::<Webhook>(),
        &ctx,
        id,
        &if_match,
        (Resource::Webhook, Action::Update),
        act::unowned,
        |_| {
            command(
                &ctx,
                WebhookAction::RotateSecret {
                    secret: secret.clone(),
                },
            )
        },
    )
    .await?;
    Ok(respond(
        StatusCode::OK,
        None,
        committed.version,
        &WebhookSecretResponse {
            id,
            version: committed.version,
            secret,
            previous_secret_valid_until: Some(
                ctx.now + chrono::Duration::hours(aggregates::webhook::SECRET_OVERLAP_HOURS),
            ),
        },
    ))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/recover", tag = "webhooks",
    request_body = RecoverRequest,
    params(("id" = Uuid, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Recorded: every delivery that failed since then is queued again", body = crate::CommandResponse),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
        (status = 422, description = "`since` in the future or more than 30 days back", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn recover(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<RecoverRequest>,
) -> ApiResult<Response> {
    simple(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        WebhookAction::Recover { since: body.since },
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 202, description = "A signed test event (`WebhookTest`) is queued for the endpoint", body = TestDeliveryResponse),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
        (status = 409, description = "`webhook.inactive`: enable it first", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn test(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    JsonOrEmpty(_body): JsonOrEmpty<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Response> {
    let loaded = act::load_authorized(
        &state.store::<Webhook>(),
        &ctx,
        id,
        (Resource::Webhook, Action::Update),
        act::unowned,
    )
    .await?;
    if !loaded.state().exists() {
        return Err(ApiError::not_found(format!("no webhook {id}")));
    }
    if !loaded.state().active {
        return Err(ApiError::conflict(
            "webhook.inactive",
            "the webhook is disabled: enable it to test it",
        ));
    }
    let delivery_id = Uuid::now_v7();
    let committed = act::create(
        &state.store::<WebhookDelivery>(),
        &ctx,
        delivery_id,
        DeliveryCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            action: DeliveryAction::Queue {
                tenant_id: ctx.principal.tenant.clone(),
                delivery_id,
                webhook_id: id,
                event_id: delivery_id,
                event_type: event_schemas::webhook::TEST_EVENT_TYPE.to_owned(),
            },
        },
    )
    .await?;
    Ok(respond(
        StatusCode::ACCEPTED,
        Some(&format!("/v1/webhooks/{id}/deliveries/{delivery_id}")),
        committed.version,
        &TestDeliveryResponse {
            delivery_id,
            version: committed.version,
        },
    ))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "Queued again from the start of the schedule (on its way already: unchanged)", body = crate::CommandResponse),
        (status = 404, description = "No such delivery of this webhook in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn retry(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path((id, delivery_id)): Path<(String, String)>,
    JsonOrEmpty(_body): JsonOrEmpty<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Response> {
    let not_found =
        || ApiError::not_found(format!("no delivery `{delivery_id}` of webhook `{id}`"));
    let (Ok(id), Ok(delivery)) = (id.parse::<Uuid>(), delivery_id.parse::<Uuid>()) else {
        return Err(not_found());
    };
    api_common::authz::authorize(&ctx.principal, Resource::Webhook, Action::Update, None)?;
    let committed = act::run(
        &state.store::<WebhookDelivery>(),
        &ctx,
        Target::Existing(delivery),
        &IfMatch(None),
        |loaded| {
            if loaded.state().webhook_id != Some(id) {
                return Err(not_found());
            }
            Ok(DeliveryCommand {
                at: ctx.now,
                actor: ctx.principal.user_id,
                action: DeliveryAction::RequestRetry {
                    reason: RetryReason::Manual,
                },
            })
        },
    )
    .await?;
    Ok(ok(committed))
}

pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(update, delete))
        .checked_routes(routes!(enable))
        .checked_routes(routes!(disable))
        .checked_routes(routes!(rotate_secret))
        .checked_routes(routes!(recover))
        .checked_routes(routes!(test))
        .checked_routes(routes!(retry))
}
