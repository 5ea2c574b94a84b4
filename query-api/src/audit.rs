//! `GET /v1/audit/events`: the audit trail.

use api_common::authz::{self, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use projections::queries::audit::{self as query, AuditFilter, AuditRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub event_id: Uuid,
    /// Position in the stream (the cursor key).
    pub stream_seq: i64,
    /// Global position in the event store.
    pub position: i64,
    pub event_type: String,
    pub event_version: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The event's sequence within its aggregate.
    pub sequence: i64,
    /// The acting user id.
    pub actor: String,
    pub actor_role: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub command_id: String,
    pub recorded_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub payload: Value,
}

crate::view_from_row!(AuditRow => AuditEvent {
    event_id,
    stream_seq,
    position,
    event_type,
    event_version,
    aggregate_type,
    aggregate_id,
    sequence,
    actor,
    actor_role,
    correlation_id,
    causation_id,
    command_id,
    recorded_at,
    payload,
});

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `Customer` or `Lead`.
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    /// Recorded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/audit/events", tag = "audit",
    params(ListParams),
    responses(
        (status = 200, description = "Events with their metadata, newest first", body = ListResponse<AuditEvent>),
        (status = 403, description = "Only admin, manager and auditor read the audit trail", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_events(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<AuditEvent>>> {
    authz::authorize_tenant_wide(&principal, Resource::AuditLog, authz::Action::Read)?;
    let limit = pagination::limit(params.limit)?;
    let after: Option<i64> = pagination::decode_cursor(params.cursor.as_deref())?;
    if let (Some(from), Some(to)) = (params.from, params.to)
        && from > to
    {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    let filter = AuditFilter {
        aggregate_type: params.aggregate_type,
        aggregate_id: params.aggregate_id,
        from: params.from,
        to: params.to,
    };
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &filter,
        projections::queries::Page { limit, after },
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(AuditEvent::from).collect(),
        limit,
        |e| e.stream_seq,
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new().checked_routes(routes!(list_events))
}
