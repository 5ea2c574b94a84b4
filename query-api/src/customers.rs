//! `GET /v1/customers/{id}` and `GET /v1/customers`.

use api_common::authz::{self, Action, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use event_schemas::Address;
use projections::queries::customers::{self as query, CustomerFilter, CustomerRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[schema(value_type = Option<Address>)]
    pub address: Option<Address>,
    pub lead_source: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub preferences: Value,
    pub notes: Option<String>,
    pub active: bool,
    /// The person's data was forgotten: names read `[erased]`, contact details are gone.
    pub forgotten: bool,
    /// Leads opened for this customer.
    pub lead_count: i32,
    /// Consent to messages per channel (`EMAIL`, `SMS`, …): `kind`
    /// (EXPRESS, IMPLIED), `given_on`, `source`, `expires_on`, `withdrawn`
    /// (with `withdrawn_at` and `withdrawn_via`).
    #[schema(value_type = Object)]
    pub consents: Value,
    /// The customer's version (events applied); see `min_version`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::view_from_row!(CustomerRow => CustomerView {
    id,
    first_name,
    last_name,
    email,
    phone,
    address: address.map(|a| a.0),
    lead_source,
    tags,
    preferences,
    notes,
    active,
    forgotten,
    lead_count,
    consents,
    version,
    created_at,
    updated_at,
});

pub use crate::wait::GetParams;

#[utoipa::path(
    get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id"), GetParams),
    responses(
        (status = 200, description = "The customer", body = CustomerView),
        (status = 404, description = "No such customer in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the entity's version in the event store (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_customer(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<GetParams>,
) -> ApiResult<WithETag<CustomerView>> {
    authz::authorize(
        &principal,
        Resource::Customer,
        Action::Read,
        authz::unowned(),
    )?;
    let found = crate::wait::fetch_versioned(
        &state,
        &principal,
        ("Customer", id),
        crate::wait::owners::CUSTOMERS,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |c: &CustomerRow| c.version,
    )
    .await?;
    found
        .map(|c| WithETag::new(c.version, CustomerView::from(c)))
        .ok_or_else(|| ApiError::not_found(format!("no customer with id {id}")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Exact email (case-insensitive).
    pub email: Option<String>,
    /// Search in names, email and phone (substring, case-insensitive).
    pub q: Option<String>,
    pub active: Option<bool>,
    /// Customers carrying this tag.
    pub tag: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/customers", tag = "customers",
    params(ListParams),
    responses((status = 200, description = "Customers, newest first", body = ListResponse<CustomerView>)),
    security(("bearer" = []))
)]
async fn list_customers(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<CustomerView>>> {
    let scope = authz::list_scope(&principal, Resource::Customer)?;
    // Customers are in nobody's charge and at no location: OWN sees them
    // all (the open pool), LOCATION alone sees none.
    if scope.is_limited() && scope.own().is_none() {
        return Ok(Json(ListResponse {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
    let limit = pagination::limit(params.limit)?;
    let after: Option<(DateTime<Utc>, Uuid)> = pagination::decode_cursor(params.cursor.as_deref())?;
    let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::invalid_field(
            "q",
            "must be at most 200 characters",
        ));
    }
    let filter = CustomerFilter {
        email: params.email.as_deref().map(|e| e.trim().to_owned()),
        q: q.map(str::to_owned),
        active: params.active,
        tag: params.tag.as_deref().map(|t| t.trim().to_lowercase()),
    };
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &filter,
        projections::queries::Page { limit, after },
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(CustomerView::from).collect(),
        limit,
        |c| (c.created_at, c.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_customer))
        .checked_routes(routes!(list_customers))
        .checked_routes(routes!(customer_timeline))
}

#[utoipa::path(
    get, path = "/v1/customers/{id}/timeline", tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id"), crate::leads::TimelineParams),
    responses(
        (status = 200, description = "The customer's leads' activities and changes and the messages to them, newest first", body = ListResponse<crate::leads::TimelineEntry>),
        (status = 404, description = "No such customer in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn customer_timeline(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::leads::TimelineParams>,
) -> ApiResult<Json<ListResponse<crate::leads::TimelineEntry>>> {
    use projections::queries::timeline;
    authz::authorize(
        &principal,
        Resource::Customer,
        Action::Read,
        authz::unowned(),
    )?;
    let limit = pagination::limit(params.limit)?;
    let after: Option<i64> = pagination::decode_cursor(params.cursor.as_deref())?;
    query::get(&state.pool, &principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no customer with id {id}")))?;
    let rows = timeline::list(
        &state.pool,
        &principal.tenant,
        timeline::Of::Customer(id),
        params.kind.as_deref(),
        projections::queries::Page { limit, after },
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter()
            .map(|row| crate::leads::TimelineEntry::from(row).redacted_for(&principal))
            .collect(),
        limit,
        |e| e.position,
    )))
}
