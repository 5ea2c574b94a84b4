//! `GET /v1/leads/{id}`, `GET /v1/leads`, `GET /v1/leads/{id}/timeline`.
//!
//! A sales rep sees only leads assigned to them or unassigned: in lists the
//! filter is part of the query; for one lead outside that scope the answer
//! is 403.

use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::{LeadPriority, LeadStatus};
use projections::queries::leads::{self as query, LeadFilter, LeadRow};
use projections::queries::timeline::{self, TimelineRow};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub customer_name: Option<String>,
    pub source: String,
    #[schema(value_type = LeadStatus)]
    pub status: String,
    #[schema(value_type = LeadPriority)]
    pub priority: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub estimated_move_date: Option<NaiveDate>,
    /// Decimal string.
    #[schema(value_type = Option<String>, example = "4500.00")]
    pub estimated_value: Option<Decimal>,
    pub notes: Option<String>,
    pub follow_up_date: Option<DateTime<Utc>>,
    pub score: i32,
    #[schema(value_type = BTreeMap<String, bool>)]
    pub qualification: BTreeMap<String, bool>,
    pub assigned_to: Option<Uuid>,
    /// The branch handling the move.
    pub location_id: Option<String>,
    /// Why the lead was lost (status LOST).
    pub lost_reason: Option<String>,
    /// Speed-to-lead: when the customer was first reached, and how long after
    /// the lead was opened.
    pub first_contacted_at: Option<DateTime<Utc>>,
    pub response_seconds: Option<i64>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_activity_type: Option<String>,
    pub activity_count: i32,
    pub created_by: Uuid,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn ownership(lead: &LeadView) -> RecordOwnership {
    RecordOwnership {
        assigned_to: lead.assigned_to,
        created_by: Some(lead.created_by),
        location_id: lead.location_id.clone(),
    }
}

crate::view_from_row!(LeadRow => LeadView {
    id,
    customer_id,
    customer_name,
    source,
    status,
    priority,
    estimated_move_date,
    estimated_value,
    notes,
    follow_up_date,
    score,
    qualification: qualification.0,
    assigned_to,
    location_id,
    lost_reason,
    first_contacted_at,
    response_seconds,
    last_contact_at,
    last_activity_at,
    last_activity_type,
    activity_count,
    created_by,
    version,
    created_at,
    updated_at,
});

pub use crate::wait::GetParams;

async fn fetch_lead(
    state: &QueryState,
    principal: &Principal,
    id: Uuid,
) -> Result<Option<LeadView>, ApiError> {
    Ok(query::get(&state.pool, &principal.tenant, id)
        .await?
        .map(LeadView::from))
}

#[utoipa::path(
    get, path = "/v1/leads/{id}", tag = "leads",
    params(("id" = Uuid, Path, description = "Lead id"), GetParams),
    responses(
        (status = 200, description = "The lead", body = LeadView),
        (status = 403, description = "A sales rep asking for another rep's lead", body = api_common::Problem),
        (status = 404, description = "No such lead in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the entity's version in the event store (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_lead(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<GetParams>,
) -> ApiResult<WithETag<LeadView>> {
    authz::authorize(&principal, Resource::Lead, Action::Read, None)?;
    let lead: LeadView = crate::wait::fetch_versioned(
        &state,
        &principal,
        ("Lead", id),
        crate::wait::owners::LEADS,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |l: &LeadRow| l.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no lead with id {id}")))?
    .into();
    authz::authorize(
        &principal,
        Resource::Lead,
        Action::Read,
        Some(ownership(&lead)),
    )?;
    Ok(WithETag::new(lead.version, lead))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub status: Option<LeadStatus>,
    /// Leads assigned to this user.
    pub assigned_to: Option<Uuid>,
    /// Leads of this location.
    pub location_id: Option<String>,
    pub priority: Option<LeadPriority>,
    /// Exact source (case-insensitive).
    pub source: Option<String>,
    pub customer_id: Option<Uuid>,
    /// Leads with a follow-up date before this time (RFC 3339).
    pub follow_up_before: Option<DateTime<Utc>>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/leads", tag = "leads",
    params(ListParams),
    responses((status = 200, description = "Leads the caller may see, newest first", body = ListResponse<LeadView>)),
    security(("bearer" = []))
)]
async fn list_leads(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<LeadView>>> {
    let scope = authz::list_scope(&principal, Resource::Lead)?;
    let limit = pagination::limit(params.limit)?;
    let after: Option<(DateTime<Utc>, Uuid)> = pagination::decode_cursor(params.cursor.as_deref())?;
    let filter = LeadFilter {
        status: params.status,
        assigned_to: params.assigned_to,
        location_id: params.location_id,
        priority: params.priority,
        source: params.source.as_deref().map(|s| s.trim().to_owned()),
        customer_id: params.customer_id,
        follow_up_before: params.follow_up_before,
    };
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        &filter,
        projections::queries::Page { limit, after },
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(LeadView::from).collect(),
        limit,
        |l| (l.created_at, l.id),
    )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// The entry's place in commit order (timelines are newest first).
    pub position: i64,
    /// The lead event's sequence (`null` for a message).
    pub sequence: Option<i64>,
    pub lead_id: Option<Uuid>,
    /// A message's id (`kind` = `communication`): `data` holds its type,
    /// subject, purpose and current `status` with each status's time.
    pub communication_id: Option<Uuid>,
    /// `created`, `status_changed`, `assigned`, `first_contacted`,
    /// `details_updated`, `activity` or `communication`.
    pub kind: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub summary: String,
    /// The event's payload.
    #[schema(value_type = Object)]
    pub data: Value,
}

crate::view_from_row!(TimelineRow => TimelineEntry {
    position,
    sequence,
    lead_id,
    communication_id,
    kind,
    event_type,
    occurred_at,
    actor,
    actor_role,
    summary,
    data,
});

impl TimelineEntry {
    /// A message entry as a caller who may not write messages sees it
    /// (auditors): its channel and status, not its recipient or subject.
    pub(crate) fn redacted_for(mut self, principal: &Principal) -> Self {
        if self.kind == "communication"
            && authz::authorize(principal, Resource::Communication, Action::Create, None).is_err()
        {
            let kind = self.data["type"].as_str().unwrap_or("message").to_owned();
            self.summary = format!("{kind} message");
            if let Some(data) = self.data.as_object_mut() {
                data.remove("subject");
            }
        }
        self
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// Only entries of this kind (e.g. `activity`, `status_changed`).
    pub kind: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/leads/{id}/timeline", tag = "leads",
    params(("id" = Uuid, Path, description = "Lead id"), TimelineParams),
    responses(
        (status = 200, description = "The lead's activities, changes and messages, newest first", body = ListResponse<TimelineEntry>),
        (status = 404, description = "No such lead in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn lead_timeline(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<TimelineParams>,
) -> ApiResult<Json<ListResponse<TimelineEntry>>> {
    authz::authorize(&principal, Resource::Lead, Action::Read, None)?;
    let limit = pagination::limit(params.limit)?;
    let after: Option<i64> = pagination::decode_cursor(params.cursor.as_deref())?;
    let lead = fetch_lead(&state, &principal, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no lead with id {id}")))?;
    authz::authorize(
        &principal,
        Resource::Lead,
        Action::Read,
        Some(ownership(&lead)),
    )?;
    let rows = timeline::list(
        &state.pool,
        &principal.tenant,
        timeline::Of::Lead(id),
        params.kind.as_deref(),
        projections::queries::Page { limit, after },
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter()
            .map(|row| TimelineEntry::from(row).redacted_for(&principal))
            .collect(),
        limit,
        |e| e.position,
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_lead))
        .checked_routes(routes!(list_leads))
        .checked_routes(routes!(lead_timeline))
}
