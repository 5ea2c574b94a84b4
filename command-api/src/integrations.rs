//! Integrations (admins manage them; auditors read them and their sync
//! logs): create, edit (secret settings are write-only: shown as `"***"`),
//! enable, disable, and API keys (issued and shown once, stored as a
//! digest, revoked, rotated). Reads are in `query_api::integrations`;
//! `command_api::inbound` takes the leads the keys post.

use std::collections::BTreeMap;

use aggregates::integration::{
    Integration, IntegrationAction, IntegrationCommand, IntegrationSettings,
};
use api_common::authz::{Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use event_schemas::integration::IntegrationType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, JsonOrEmpty, act, ok, respond};

/// What a secret setting reads as.
pub const MASK: &str = "***";

/// A new integration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegrationRequest {
    #[schema(example = "Website quote form")]
    pub name: String,
    #[serde(rename = "type")]
    pub integration_type: IntegrationType,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// Settings that are not secret.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Secret settings: stored sealed, never shown (`"***"`).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// The `source` of the leads it posts (default: the name).
    #[serde(default)]
    pub lead_source: Option<String>,
    #[serde(default)]
    pub sync_interval_minutes: Option<u32>,
    #[serde(default)]
    pub auto_sync: bool,
}

/// Changes (fields left out stay; in `secrets`, a value of `"***"` keeps
/// that secret, a missing one removes it).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegrationRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub config: Option<BTreeMap<String, String>>,
    pub secrets: Option<BTreeMap<String, String>>,
    pub lead_source: Option<String>,
    pub sync_interval_minutes: Option<u32>,
    pub auto_sync: Option<bool>,
}

/// Issue an API key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueKeyRequest {
    /// Rotate: this key is revoked as the new one is issued.
    #[serde(default)]
    pub replaces: Option<Uuid>,
}

/// A new API key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub key_id: Uuid,
    /// `crmk_…`: send it as `Authorization: Bearer …` to
    /// `POST /v1/inbound/leads`. Only its digest is kept.
    pub key: String,
    pub version: u64,
}

fn command(ctx: &CommandContext, action: IntegrationAction) -> IntegrationCommand {
    IntegrationCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

#[utoipa::path(
    post, path = "/v1/integrations", tag = "integrations",
    request_body = CreateIntegrationRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Created (active, no API key yet)", body = CommandResponse),
        (status = 403, description = "Admins only", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateIntegrationRequest>,
) -> ApiResult<Response> {
    api_common::authz::authorize(&ctx.principal, Resource::Integration, Action::Create, None)?;
    let id = Uuid::now_v7();
    let committed = act::create(
        &state.store::<Integration>(),
        &ctx,
        id,
        command(
            &ctx,
            IntegrationAction::Create {
                tenant_id: ctx.principal.tenant.clone(),
                integration_id: id,
                integration_type: body.integration_type,
                settings: IntegrationSettings {
                    name: body.name,
                    description: body.description,
                    version: body.version,
                    config: body.config,
                    secrets: body.secrets,
                    lead_source: body.lead_source,
                    sync_interval_minutes: body.sync_interval_minutes,
                    auto_sync: body.auto_sync,
                },
            },
        ),
    )
    .await?;
    Ok(respond(
        StatusCode::CREATED,
        Some(&format!("/v1/integrations/{id}")),
        committed.version,
        &CommandResponse {
            id,
            version: committed.version,
        },
    ))
}

#[utoipa::path(
    patch, path = "/v1/integrations/{id}", tag = "integrations",
    request_body = UpdateIntegrationRequest,
    params(("id" = Uuid, Path, description = "Integration id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Changed (or nothing to change)", body = CommandResponse),
        (status = 404, description = "No such integration in this tenant", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateIntegrationRequest>,
) -> ApiResult<Response> {
    let committed = act::act(
        &state.store::<Integration>(),
        &ctx,
        id,
        &if_match,
        (Resource::Integration, Action::Update),
        act::unowned,
        |current| {
            let secrets = match &body.secrets {
                None => current.secrets.clone(),
                Some(given) => given
                    .iter()
                    .map(|(k, v)| {
                        let kept = (v == MASK)
                            .then(|| current.secrets.get(k).cloned())
                            .flatten();
                        (k.clone(), kept.unwrap_or_else(|| v.clone()))
                    })
                    .collect(),
            };
            command(
                &ctx,
                IntegrationAction::Update(IntegrationSettings {
                    name: body.name.clone().unwrap_or_else(|| current.name.clone()),
                    description: match &body.description {
                        Some(d) => Some(d.clone()),
                        None => current.description.clone(),
                    },
                    version: match &body.version {
                        Some(v) => Some(v.clone()),
                        None => current.version.clone(),
                    },
                    config: body
                        .config
                        .clone()
                        .unwrap_or_else(|| current.config.clone()),
                    secrets,
                    lead_source: Some(
                        body.lead_source
                            .clone()
                            .unwrap_or_else(|| current.lead_source.clone()),
                    ),
                    sync_interval_minutes: body
                        .sync_interval_minutes
                        .or(current.sync_interval_minutes),
                    auto_sync: body.auto_sync.unwrap_or(current.auto_sync),
                }),
            )
        },
    )
    .await?;
    Ok(ok(committed))
}

async fn simple(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    action: IntegrationAction,
) -> ApiResult<Response> {
    let committed = act::act(
        &state.store::<Integration>(),
        ctx,
        id,
        if_match,
        (Resource::Integration, Action::Update),
        act::unowned,
        |_| command(ctx, action.clone()),
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/integrations/{id}/enable", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Active (or already): its keys are accepted", body = CommandResponse),
        (status = 404, description = "No such integration in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn enable(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    simple(&state, &ctx, id, &if_match, IntegrationAction::Enable).await
}

#[utoipa::path(
    post, path = "/v1/integrations/{id}/disable", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Off (or already): its keys are refused (401)", body = CommandResponse),
        (status = 404, description = "No such integration in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn disable(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    simple(&state, &ctx, id, &if_match, IntegrationAction::Disable).await
}

#[utoipa::path(
    post, path = "/v1/integrations/{id}/api-keys", tag = "integrations",
    request_body = IssueKeyRequest,
    params(("id" = Uuid, Path, description = "Integration id")),
    responses(
        (status = 201, description = "The key, shown this once", body = ApiKeyResponse),
        (status = 404, description = "No such integration (or key to replace) in this tenant", body = api_common::Problem),
        (status = 409, description = "`integration.too-many-keys` (10 live keys)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn issue_key(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    JsonOrEmpty(body): JsonOrEmpty<IssueKeyRequest>,
) -> ApiResult<Response> {
    let key_id = Uuid::now_v7();
    let secret = keystore::random_secret();
    let key = crate::inbound::make_key(id, key_id, &secret);
    let hint: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let committed = act::act(
        &state.store::<Integration>(),
        &ctx,
        id,
        &IfMatch(None),
        (Resource::Integration, Action::Update),
        act::unowned,
        |_| {
            command(
                &ctx,
                IntegrationAction::IssueKey {
                    key_id,
                    digest: keystore::secret_digest(&secret),
                    hint: hint.clone(),
                    replaces: body.replaces,
                },
            )
        },
    )
    .await?;
    Ok(respond(
        StatusCode::CREATED,
        None,
        committed.version,
        &ApiKeyResponse {
            key_id,
            key,
            version: committed.version,
        },
    ))
}

#[utoipa::path(
    post, path = "/v1/integrations/{id}/api-keys/{key_id}/revoke", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id"), ("key_id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 200, description = "Revoked (or already): refused from the next request", body = CommandResponse),
        (status = 404, description = "No such integration or key in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn revoke_key(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path((id, key_id)): Path<(String, String)>,
    JsonOrEmpty(_body): JsonOrEmpty<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found(format!("no key `{key_id}` of integration `{id}`"));
    let (Ok(id), Ok(key_id)) = (id.parse::<Uuid>(), key_id.parse::<Uuid>()) else {
        return Err(not_found());
    };
    simple(
        &state,
        &ctx,
        id,
        &IfMatch(None),
        IntegrationAction::RevokeKey { key_id },
    )
    .await
}

/// The import upload path (its body limit is `CRM_MAX_IMPORT_BYTES`).
pub const IMPORT_PATH: &str = "/v1/integrations/*/imports";

/// An import's id.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// The sender's id for this import: posting it again does nothing.
    #[param(example = "customers-2027-01")]
    pub import_id: String,
}

/// An import accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    /// Its sync log entry (`/v1/integrations/{id}/sync-logs/{sync_id}`).
    pub sync_id: Uuid,
    /// Rows after the header (0 when it was posted before).
    pub rows: u64,
    /// False: this import id was posted before; nothing was done.
    pub accepted: bool,
}

#[utoipa::path(
    post, path = "/v1/integrations/{id}/imports", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id"), ImportParams),
    request_body(content = String, content_type = "text/csv", description = "UTF-8 CSV with a header row: first_name, last_name, email (required), phone, notes, source (opens a lead), estimated_move_date; at most `CRM_MAX_IMPORT_BYTES` (50 MB)"),
    responses(
        (status = 202, description = "Staged and queued: the job's progress is in the sync log", body = ImportResponse),
        (status = 200, description = "This import id was posted before: nothing done", body = ImportResponse),
        (status = 404, description = "No such integration in this tenant", body = api_common::Problem),
        (status = 409, description = "`integration.inactive`", body = api_common::Problem),
        (status = 413, description = "Larger than `CRM_MAX_IMPORT_BYTES`", body = api_common::Problem),
        (status = 422, description = "A bad import id, header row or CSV (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn import(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    api_common::ApiQuery(params): api_common::ApiQuery<ImportParams>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let loaded = act::load_authorized(
        &state.store::<Integration>(),
        &ctx,
        id,
        (Resource::Integration, Action::Update),
        act::unowned,
    )
    .await?;
    if !loaded.state().active {
        return Err(ApiError::conflict(
            "integration.inactive",
            "the integration is disabled: enable it to import",
        ));
    }
    let import_id = params.import_id.trim().to_owned();
    if import_id.is_empty()
        || import_id.chars().count() > 100
        || import_id.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_field("import_id", "1 to 100 characters"));
    }
    let tenant = &ctx.principal.tenant;
    let sync = processes::imports::sync_id(id, &import_id);
    let runner = state.import_runner();
    if state
        .store::<aggregates::integration::IntegrationSync>()
        .find(tenant, sync)
        .await?
        .is_some()
    {
        return Ok(respond(
            StatusCode::OK,
            Some(&format!("/v1/integrations/{id}/sync-logs/{sync}")),
            0,
            &ImportResponse {
                sync_id: sync,
                rows: 0,
                accepted: false,
            },
        ));
    }
    use futures::TryStreamExt;
    let reader = tokio_util::io::StreamReader::new(body.into_data_stream().map_err(|e| {
        std::io::Error::other(api_common::extract::read_error(&e).detail().to_owned())
    }));
    let rows = match processes::imports::stage(&state.pool, tenant, id, sync, reader).await {
        Ok(rows) => rows,
        Err(processes::imports::StageError::Header(why)) => {
            return Err(ApiError::invalid_field("body", why));
        }
        Err(processes::imports::StageError::Csv(why)) if why.contains("larger than") => {
            return Err(ApiError::payload_too_large());
        }
        Err(processes::imports::StageError::Csv(why)) => {
            return Err(ApiError::invalid_field(
                "body",
                format!("not a readable CSV: {why}"),
            ));
        }
        Err(processes::imports::StageError::Db(e)) => return Err(e.into()),
    };
    match runner.queue(tenant, id, sync, &import_id).await {
        Ok(()) | Err(event_store::CommandError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(integration = %id, %sync, rows, "import staged");
    Ok(respond(
        StatusCode::ACCEPTED,
        Some(&format!("/v1/integrations/{id}/sync-logs/{sync}")),
        0,
        &ImportResponse {
            sync_id: sync,
            rows,
            accepted: true,
        },
    ))
}

pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(update))
        .checked_routes(routes!(enable))
        .checked_routes(routes!(disable))
        .checked_routes(routes!(issue_key))
        .checked_routes(routes!(revoke_key))
        .checked_routes(routes!(import))
}
