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
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json as SqlJson;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
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
    pub qualification: SqlJson<BTreeMap<String, bool>>,
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

const COLUMNS: &str = "id, customer_id, customer_name, source, status, priority, estimated_move_date, estimated_value, \
     notes, follow_up_date, score, qualification, assigned_to, location_id, lost_reason, first_contacted_at, response_seconds, \
     last_contact_at, last_activity_at, last_activity_type, activity_count, created_by, version, created_at, updated_at";

pub use crate::wait::GetParams;

async fn fetch_lead(
    state: &QueryState,
    principal: &Principal,
    id: Uuid,
) -> Result<Option<LeadView>, ApiError> {
    let sql = format!("SELECT {COLUMNS} FROM read.leads WHERE tenant_id = $1 AND id = $2");
    Ok(sqlx::query_as(&sql)
        .bind(principal.tenant.as_str())
        .bind(id)
        .fetch_optional(&state.pool)
        .await?)
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
    let lead = state
        .watch
        .until(
            crate::wait::owners::LEADS,
            params.min_version()?,
            || async {
                Ok(fetch_lead(&state, &principal, id).await?.map(|l| {
                    let version = l.version as u64;
                    (l, version)
                }))
            },
            || crate::wait::store_version(&state, &principal, "Lead", id),
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no lead with id {id}")))?;
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
    let sql = format!(
        "SELECT {COLUMNS} FROM read.leads
          WHERE tenant_id = $1
            AND (NOT $12 OR ($2::uuid IS NOT NULL AND (assigned_to = $2 OR created_by = $2 OR assigned_to IS NULL))
                           OR ($13::text[] IS NOT NULL AND location_id = ANY($13)))
            AND ($14::text IS NULL OR location_id = $14)
            AND ($3::text IS NULL OR status = $3)
            AND ($4::uuid IS NULL OR assigned_to = $4)
            AND ($5::text IS NULL OR priority = $5)
            AND ($6::text IS NULL OR lower(source) = lower($6))
            AND ($7::uuid IS NULL OR customer_id = $7)
            AND ($8::timestamptz IS NULL OR follow_up_date < $8)
            AND ($9::timestamptz IS NULL OR (created_at, id) < ($9, $10))
          ORDER BY created_at DESC, id DESC
          LIMIT $11"
    );
    let rows: Vec<LeadView> = sqlx::query_as(&sql)
        .bind(principal.tenant.as_str())
        .bind(scope.own())
        .bind(params.status.map(LeadStatus::as_str))
        .bind(params.assigned_to)
        .bind(params.priority.map(LeadPriority::as_str))
        .bind(params.source.as_deref().map(str::trim))
        .bind(params.customer_id)
        .bind(params.follow_up_before)
        .bind(after.map(|(t, _)| t))
        .bind(after.map(|(_, id)| id).unwrap_or_default())
        .bind(i64::from(limit) + 1)
        .bind(scope.is_limited())
        .bind(scope.locations())
        .bind(params.location_id.as_deref())
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(pagination::page(rows, limit, |l| {
        (l.created_at, l.id)
    })))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TimelineEntry {
    /// The lead event's sequence.
    pub sequence: i64,
    /// `created`, `status_changed`, `assigned`, `first_contacted`,
    /// `details_updated` or `activity`.
    pub kind: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub summary: String,
    /// The event's payload.
    #[schema(value_type = Object)]
    pub data: SqlJson<Value>,
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
        (status = 200, description = "The lead's activities and changes, newest first", body = ListResponse<TimelineEntry>),
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
    let rows: Vec<TimelineEntry> = sqlx::query_as(
        "SELECT sequence, kind, event_type, occurred_at, actor, actor_role, summary, data
           FROM read.lead_timeline
          WHERE tenant_id = $1 AND lead_id = $2
            AND ($3::text IS NULL OR kind = $3)
            AND ($4::bigint IS NULL OR sequence < $4)
          ORDER BY sequence DESC
          LIMIT $5",
    )
    .bind(principal.tenant.as_str())
    .bind(id)
    .bind(params.kind.as_deref())
    .bind(after)
    .bind(i64::from(limit) + 1)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(pagination::page(rows, limit, |e| e.sequence)))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_lead))
        .checked_routes(routes!(list_leads))
        .checked_routes(routes!(lead_timeline))
}
