//! `GET /v1/webhooks[/{id}]`: the tenant's outbound endpoints with their
//! delivery figures (last triggered, successes, failures, last error); and
//! the delivery log: `GET /v1/webhooks/{id}/deliveries?status=` and
//! `GET /v1/webhooks/{id}/deliveries/{delivery_id}` with every attempt.
//! Secrets and header values are never shown (header names are).

use api_common::authz::{self, Action, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use event_schemas::webhook::{DeliveryStatus, DisableReason};
use projections::queries::webhooks::{self as query, AttemptRow, DeliveryRow, WebhookRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    /// Exact event types, `Prefix*` or `*`.
    pub event_types: Vec<String>,
    /// The custom headers' names (their values are sealed).
    pub header_names: Vec<String>,
    pub active: bool,
    #[schema(value_type = Option<DisableReason>)]
    pub disabled_reason: Option<String>,
    pub disabled_detail: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The last attempt's start.
    pub last_triggered_at: Option<DateTime<Utc>>,
    /// Deliveries answered 2xx.
    pub success_count: i64,
    /// Failed attempts.
    pub failure_count: i64,
    pub last_error: Option<String>,
    pub last_status_code: Option<i32>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

crate::view_from_row!(WebhookRow => WebhookView {
    id,
    name,
    description,
    url,
    event_types,
    header_names,
    active,
    disabled_reason,
    disabled_detail,
    disabled_at,
    secret_rotated_at,
    deleted_at,
    last_triggered_at,
    success_count,
    failure_count,
    last_error,
    last_status_code,
    created_by,
    created_at,
    updated_at,
    version,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Also the `webhook-id` header of every attempt.
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    #[schema(value_type = DeliveryStatus)]
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// The last answer's first 4 KB.
    pub last_response: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub queued_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

crate::view_from_row!(DeliveryRow => DeliveryView {
    id,
    webhook_id,
    event_id,
    event_type,
    status,
    attempts,
    last_status_code,
    last_error,
    last_response,
    last_duration_ms,
    next_attempt_at,
    queued_at,
    last_attempt_at,
    delivered_at,
    failed_at,
    created_at,
    updated_at,
    version,
});

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// DELIVERED, RETRY or FAILED; ABANDONED when its worker stopped
    /// before the answer (a later attempt took over); `null` while awaiting
    /// the answer.
    #[schema(example = "DELIVERED")]
    pub outcome: Option<String>,
    pub status_code: Option<i32>,
    /// The answer's first 4 KB.
    pub response_excerpt: Option<String>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

crate::view_from_row!(AttemptRow => AttemptView {
    attempt,
    started_at,
    finished_at,
    outcome,
    status_code,
    response_excerpt,
    duration_ms,
    error,
});

/// A delivery with every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetailView {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    pub attempt_log: Vec<AttemptView>,
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The endpoint and its delivery figures", body = WebhookView),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the webhook's version (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_webhook(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<WebhookView>> {
    authz::authorize(&principal, Resource::Webhook, Action::Read, None)?;
    let webhook: WebhookView = crate::wait::fetch_versioned(
        &state,
        &principal,
        (event_schemas::webhook::AGGREGATE_TYPE, id),
        crate::wait::owners::WEBHOOKS,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |r: &WebhookRow| r.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no webhook {id}")))?
    .into();
    Ok(WithETag::new(webhook.version, webhook))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only active (true) or only disabled (false) endpoints.
    pub active: Option<bool>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    params(ListParams),
    responses(
        (status = 200, description = "The tenant's endpoints (not the deleted ones), newest first", body = ListResponse<WebhookView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_webhooks(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<WebhookView>>> {
    let scope = authz::list_scope(&principal, Resource::Webhook)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        params.active,
        page,
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(WebhookView::from).collect(),
        page.limit,
        |r| (r.created_at, r.id),
    )))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), DeliveryListParams),
    responses(
        (status = 200, description = "The endpoint's deliveries, newest first", body = ListResponse<DeliveryView>),
        (status = 404, description = "No such webhook in this tenant", body = api_common::Problem),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_deliveries(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<DeliveryListParams>,
) -> ApiResult<Json<ListResponse<DeliveryView>>> {
    let scope = authz::list_scope(&principal, Resource::Webhook)?;
    if query::get(&state.pool, &principal.tenant, id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no webhook {id}")));
    }
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::deliveries(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        id,
        params.status.map(|s| s.as_str().to_owned()),
        page,
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(DeliveryView::from).collect(),
        page.limit,
        |r| (r.created_at, r.id),
    )))
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries/{delivery_id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "The delivery and every attempt", body = DeliveryDetailView),
        (status = 404, description = "No such delivery of this webhook in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_delivery(
    State(state): State<QueryState>,
    principal: Principal,
    Path((id, delivery_id)): Path<(String, String)>,
) -> ApiResult<Json<DeliveryDetailView>> {
    authz::authorize(&principal, Resource::Webhook, Action::Read, None)?;
    let not_found =
        || ApiError::not_found(format!("no delivery `{delivery_id}` of webhook `{id}`"));
    let (Ok(id), Ok(delivery_id)) = (id.parse::<Uuid>(), delivery_id.parse::<Uuid>()) else {
        return Err(not_found());
    };
    let delivery = query::delivery(&state.pool, &principal.tenant, delivery_id)
        .await?
        .filter(|d| d.webhook_id == id)
        .ok_or_else(not_found)?;
    let attempts = query::attempts(&state.pool, &principal.tenant, delivery_id).await?;
    Ok(Json(DeliveryDetailView {
        delivery: delivery.into(),
        attempt_log: attempts.into_iter().map(AttemptView::from).collect(),
    }))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_webhook))
        .checked_routes(routes!(list_webhooks))
        .checked_routes(routes!(list_deliveries))
        .checked_routes(routes!(get_delivery))
}
