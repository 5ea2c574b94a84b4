//! `GET /v1/integrations[/{id}]`: the tenant's integrations (secret
//! settings read `"***"`; the status is ACTIVE, INACTIVE, SYNCING while a
//! sync runs, or ERROR when the last one failed) with their API keys
//! (hints only); `GET /v1/integrations/{id}/sync-logs[/{sync_id}]`: the
//! sync log, each entry's counts and failed records with their reasons.

use std::collections::BTreeMap;

use api_common::authz::{self, Action, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use event_schemas::integration::{
    InboundResult, IntegrationStatus, IntegrationType, RecordFailure, SyncSource, SyncStatus,
    SyncType,
};
use projections::queries::integrations::{self as query, IntegrationRow, KeyRow, SyncRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

/// An API key, without the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub key_id: Uuid,
    /// The key's last four characters.
    pub hint: String,
    pub issued_by: Uuid,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

crate::view_from_row!(KeyRow => ApiKeyView { key_id, hint, issued_by, issued_at, revoked_at });

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = IntegrationType)]
    pub integration_type: String,
    pub description: Option<String>,
    pub version_label: Option<String>,
    /// Settings that are not secret, and each secret one as `"***"`.
    pub config: BTreeMap<String, String>,
    pub lead_source: String,
    pub sync_interval_minutes: Option<i32>,
    pub auto_sync: bool,
    #[schema(value_type = IntegrationStatus)]
    pub status: String,
    /// Failed syncs.
    pub error_count: i64,
    pub last_error: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub api_keys: Vec<ApiKeyView>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl IntegrationView {
    fn new(row: IntegrationRow, keys: Vec<KeyRow>) -> Self {
        let status = if !row.active {
            IntegrationStatus::Inactive
        } else if row.syncs_running > 0 {
            IntegrationStatus::Syncing
        } else if row.last_sync_status.as_deref() == Some("FAILED") {
            IntegrationStatus::Error
        } else {
            IntegrationStatus::Active
        };
        let mut config: BTreeMap<String, String> =
            serde_json::from_value(row.config).unwrap_or_default();
        for name in row.secret_names {
            config.insert(name, "***".to_owned());
        }
        Self {
            id: row.id,
            name: row.name,
            integration_type: row.integration_type,
            description: row.description,
            version_label: row.integration_version,
            config,
            lead_source: row.lead_source,
            sync_interval_minutes: row.sync_interval_minutes,
            auto_sync: row.auto_sync,
            status: status.as_str().to_owned(),
            error_count: row.error_count,
            last_error: row.last_error,
            last_sync_at: row.last_sync_at,
            api_keys: keys.into_iter().map(ApiKeyView::from).collect(),
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// One sync log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncLogView {
    pub id: Uuid,
    pub integration_id: Uuid,
    #[schema(value_type = SyncType)]
    pub sync_type: String,
    #[schema(value_type = SyncSource)]
    pub source: String,
    pub reference: Option<String>,
    #[schema(value_type = SyncStatus)]
    pub status: String,
    pub records_processed: i64,
    pub records_created: i64,
    pub records_updated: i64,
    pub records_failed: i64,
    /// The records known in all (a CSV's rows), when known.
    pub total: Option<i64>,
    #[schema(value_type = Vec<RecordFailure>)]
    pub failures: serde_json::Value,
    /// An inbound lead's outcome.
    #[schema(value_type = Option<InboundResult>)]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub version: i64,
}

impl From<SyncRow> for SyncLogView {
    fn from(r: SyncRow) -> Self {
        Self {
            id: r.id,
            integration_id: r.integration_id,
            sync_type: r.sync_type,
            source: r.source,
            reference: r.reference,
            status: r.status,
            records_processed: r.processed,
            records_created: r.created_count,
            records_updated: r.updated_count,
            records_failed: r.failed_count,
            total: r.total,
            failures: r.failures,
            result: r.result,
            error: r.error,
            queued_at: r.queued_at,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_ms: r.duration_ms,
            version: r.version,
        }
    }
}

#[utoipa::path(
    get, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The integration, its status and API keys (hints)", body = IntegrationView),
        (status = 404, description = "No such integration in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the integration's version (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_integration(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<IntegrationView>> {
    authz::authorize(&principal, Resource::Integration, Action::Read, None)?;
    let row = crate::wait::fetch_versioned(
        &state,
        &principal,
        (event_schemas::integration::AGGREGATE_TYPE, id),
        crate::wait::owners::INTEGRATIONS,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |r: &IntegrationRow| r.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no integration {id}")))?;
    let keys = query::keys(&state.pool, &principal.tenant, id).await?;
    let view = IntegrationView::new(row, keys);
    Ok(WithETag::new(view.version, view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only active (true) or only disabled (false) integrations.
    pub active: Option<bool>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/integrations", tag = "integrations",
    params(ListParams),
    responses(
        (status = 200, description = "The tenant's integrations, newest first", body = ListResponse<IntegrationView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_integrations(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<IntegrationView>>> {
    let scope = authz::list_scope(&principal, Resource::Integration)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        params.active,
        page,
    )
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut keys: std::collections::HashMap<Uuid, Vec<KeyRow>> = std::collections::HashMap::new();
    for (integration, key) in query::keys_of(&state.pool, &principal.tenant, &ids).await? {
        keys.entry(integration).or_default().push(key);
    }
    let views: Vec<IntegrationView> = rows
        .into_iter()
        .map(|row| {
            let own = keys.remove(&row.id).unwrap_or_default();
            IntegrationView::new(row, own)
        })
        .collect();
    Ok(Json(pagination::page(views, page.limit, |r| {
        (r.created_at, r.id)
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SyncListParams {
    pub status: Option<SyncStatus>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/integrations/{id}/sync-logs", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id"), SyncListParams),
    responses(
        (status = 200, description = "The integration's sync log, newest first", body = ListResponse<SyncLogView>),
        (status = 404, description = "No such integration in this tenant", body = api_common::Problem),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_syncs(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<SyncListParams>,
) -> ApiResult<Json<ListResponse<SyncLogView>>> {
    let scope = authz::list_scope(&principal, Resource::Integration)?;
    if query::get(&state.pool, &principal.tenant, id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no integration {id}")));
    }
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::syncs(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        id,
        params.status.map(|s| s.as_str().to_owned()),
        page,
    )
    .await?;
    let views: Vec<SyncLogView> = rows.into_iter().map(SyncLogView::from).collect();
    Ok(Json(pagination::page(views, page.limit, |r| {
        (r.queued_at, r.id)
    })))
}

#[utoipa::path(
    get, path = "/v1/integrations/{id}/sync-logs/{sync_id}", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id"), ("sync_id" = Uuid, Path, description = "Sync log entry id")),
    responses(
        (status = 200, description = "The sync log entry", body = SyncLogView),
        (status = 404, description = "No such entry of this integration in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_sync(
    State(state): State<QueryState>,
    principal: Principal,
    Path((id, sync_id)): Path<(String, String)>,
) -> ApiResult<Json<SyncLogView>> {
    authz::authorize(&principal, Resource::Integration, Action::Read, None)?;
    let not_found = || ApiError::not_found(format!("no sync `{sync_id}` of integration `{id}`"));
    let (Ok(id), Ok(sync_id)) = (id.parse::<Uuid>(), sync_id.parse::<Uuid>()) else {
        return Err(not_found());
    };
    let row = query::sync(&state.pool, &principal.tenant, sync_id)
        .await?
        .filter(|s| s.integration_id == id)
        .ok_or_else(not_found)?;
    Ok(Json(row.into()))
}

pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_integration))
        .checked_routes(routes!(list_integrations))
        .checked_routes(routes!(list_syncs))
        .checked_routes(routes!(get_sync))
}
