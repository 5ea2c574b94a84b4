//! `GET /v1/communications` and `GET /v1/communications/{id}`: messages
//! with their status and the time of each status.
//!
//! OWN scopes cover the messages the caller wrote. Who may READ messages
//! but not write them (auditors, by default) sees their metadata only:
//! recipient, subject, content, variables, metadata and the providers'
//! answers read `null`.

use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use event_schemas::communication::{AttachmentRef, CommunicationStatus, CommunicationType};
use event_schemas::template::MessagePurpose;
use projections::queries::communications::{self as query, CommunicationFilter, CommunicationRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunicationView {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = CommunicationType)]
    pub channel: String,
    #[schema(value_type = MessagePurpose)]
    pub purpose: String,
    #[schema(value_type = CommunicationStatus)]
    pub status: String,
    pub customer_id: Option<Uuid>,
    pub staff_user_id: Option<Uuid>,
    /// `[erased]` once the customer is forgotten; `null` for metadata-only readers.
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub content: Option<String>,
    pub template_id: Option<Uuid>,
    pub template_version: Option<i32>,
    #[schema(value_type = Option<Object>)]
    pub variables: Option<serde_json::Value>,
    #[schema(value_type = Vec<AttachmentRef>)]
    pub attachments: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub tags: Vec<String>,
    pub lead_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
    pub schedule_id: Option<Uuid>,
    /// The automated rule that made it, and the event that set it off.
    pub rule_id: Option<Uuid>,
    pub cause_event_id: Option<Uuid>,
    /// The sender's attempts so far.
    pub attempts: i32,
    /// When the sender tries again (after a failure that may pass).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last failed attempt's answer.
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The message's version (events applied); see `min_version`.
    pub version: i64,
}

impl From<CommunicationRow> for CommunicationView {
    fn from(r: CommunicationRow) -> Self {
        Self {
            id: r.id,
            channel: r.channel,
            purpose: r.purpose,
            status: r.status,
            customer_id: r.customer_id,
            staff_user_id: r.staff_user_id,
            recipient: Some(r.recipient),
            subject: r.subject,
            content: Some(r.content),
            template_id: r.template_id,
            template_version: r.template_version,
            variables: r.variables,
            attachments: r.attachments,
            metadata: r.metadata,
            tags: r.tags,
            lead_id: r.lead_id,
            quote_id: r.quote_id,
            invoice_id: r.invoice_id,
            schedule_id: r.schedule_id,
            rule_id: r.rule_id,
            cause_event_id: r.cause_event_id,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            provider_message_id: r.provider_message_id,
            queued_at: r.queued_at,
            sent_at: r.sent_at,
            delivered_at: r.delivered_at,
            read_at: r.read_at,
            failed_at: r.failed_at,
            failure_reason: r.failure_reason,
            cancelled_at: r.cancelled_at,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

fn ownership(c: &CommunicationView) -> RecordOwnership {
    RecordOwnership {
        assigned_to: Some(c.created_by),
        created_by: Some(c.created_by),
        location_id: None,
    }
}

impl CommunicationView {
    /// The metadata only, for a caller who may not write this message.
    fn redacted_for(mut self, principal: &Principal) -> Self {
        let writes = authz::authorize(
            principal,
            Resource::Communication,
            Action::Create,
            Some(ownership(&self)),
        )
        .is_ok();
        if !writes {
            self.recipient = None;
            self.subject = None;
            self.content = None;
            self.variables = None;
            self.metadata = None;
            self.last_error = None;
            self.failure_reason = None;
        }
        self
    }
}

#[utoipa::path(
    get, path = "/v1/communications/{id}", tag = "communications",
    params(("id" = Uuid, Path, description = "Communication id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The message and its status", body = CommunicationView),
        (status = 403, description = "The caller's scope does not cover it", body = api_common::Problem),
        (status = 404, description = "No such message in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the message's version (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_communication(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<CommunicationView>> {
    authz::authorize(&principal, Resource::Communication, Action::Read, None)?;
    let message: CommunicationView = crate::wait::fetch_versioned(
        &state,
        &principal,
        (event_schemas::communication::AGGREGATE_TYPE, id),
        crate::wait::owners::COMMUNICATIONS,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |c: &CommunicationRow| c.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no communication {id}")))?
    .into();
    authz::authorize(
        &principal,
        Resource::Communication,
        Action::Read,
        Some(ownership(&message)),
    )?;
    let version = message.version;
    Ok(WithETag::new(version, message.redacted_for(&principal)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub customer_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub status: Option<CommunicationStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub channel: Option<CommunicationType>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/communications", tag = "communications",
    params(ListParams),
    responses(
        (status = 200, description = "Messages the caller may see, newest first", body = ListResponse<CommunicationView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_communications(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<CommunicationView>>> {
    let scope = authz::list_scope(&principal, Resource::Communication)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let filter = CommunicationFilter {
        customer_id: params.customer_id,
        lead_id: params.lead_id,
        status: params.status.map(|s| s.as_str().to_owned()),
        channel: params.channel.map(|c| c.as_str().to_owned()),
    };
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        &filter,
        page,
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter()
            .map(|r| CommunicationView::from(r).redacted_for(&principal))
            .collect(),
        page.limit,
        |c| (c.created_at, c.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_communication))
        .checked_routes(routes!(list_communications))
}
