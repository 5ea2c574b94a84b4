//! `GET /v1/quotes/{id}` and `GET /v1/quotes`.
//!
//! A quote belongs to its author (`created_by`): a sales rep (scope OWN)
//! sees their own quotes only; LOCATION scopes look at `location_id`.

use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::money::{PaymentMethod, PricingType, Province, QuoteStatus};
use projections::queries::quotes::{self as query, PaymentRow, QuoteFilter, QuoteRow, RevisionRow};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

/// A quote as it stands: its current revision's terms, items and totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    #[schema(value_type = QuoteStatus)]
    pub status: String,
    /// The current revision (1, 2, …).
    pub revision: i32,
    pub is_template: bool,
    pub template_name: Option<String>,
    /// The template this quote was copied from.
    pub copied_from: Option<Uuid>,
    pub currency: String,
    #[schema(value_type = String, format = Date)]
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub notes: Option<String>,
    #[schema(value_type = PricingType)]
    pub pricing_type: String,
    /// Rate, estimated and minimum hours, labour total (HOURLY pricing).
    #[schema(value_type = Option<Object>)]
    pub hourly: Option<Value>,
    #[schema(value_type = Province)]
    pub province: String,
    pub tax_exempt: bool,
    /// The line items (`item_id`, `description`, `quantity`, `unit_price`,
    /// `line_total`, `category`, `optional`, …).
    #[schema(value_type = Vec<Object>)]
    pub items: Value,
    /// Of the required items (optional ones excluded).
    #[schema(value_type = String, example = "1250.00")]
    #[serde(serialize_with = "crate::money")]
    pub subtotal: Decimal,
    #[schema(value_type = String, example = "162.50")]
    #[serde(serialize_with = "crate::money")]
    pub tax_total: Decimal,
    #[schema(value_type = String, example = "1412.50")]
    #[serde(serialize_with = "crate::money")]
    pub total: Decimal,
    /// Each tax component: `code`, `rate`, `taxable`, `amount`.
    #[schema(value_type = Vec<Object>)]
    pub tax_lines: Value,
    /// The date whose tax rates were used.
    #[schema(value_type = Option<String>, format = Date)]
    pub tax_date: Option<NaiveDate>,
    pub approved_by: Option<Uuid>,
    pub approved_at: Option<DateTime<Utc>>,
    pub sent_by: Option<Uuid>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The customer's first view of the current revision.
    pub viewed_at: Option<DateTime<Utc>>,
    pub accepted_by_name: Option<String>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_ip: Option<String>,
    pub accepted_revision: Option<i32>,
    pub selected_optional_items: Option<Vec<Uuid>>,
    /// The totals accepted, selected optional items included.
    #[schema(value_type = Option<Object>)]
    pub accepted_totals: Option<Value>,
    pub rejection_reason: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    /// The job the quote became.
    pub journey_id: Option<Uuid>,
    pub converted_at: Option<DateTime<Utc>>,
    /// The invoice opened for the accepted quote.
    pub invoice_id: Option<Uuid>,
    pub invoiced_at: Option<DateTime<Utc>>,
    /// Deposits taken on the quote.
    #[schema(value_type = String, example = "200.00")]
    #[serde(serialize_with = "crate::money")]
    pub deposit_total: Decimal,
    pub created_by: Uuid,
    /// The quote's version (events applied); see `min_version`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::view_from_row!(QuoteRow => QuoteView {
    id,
    customer_id,
    lead_id,
    location_id,
    status,
    revision,
    is_template,
    template_name,
    copied_from,
    currency,
    valid_until,
    terms,
    notes,
    pricing_type,
    hourly,
    province,
    tax_exempt,
    items,
    subtotal,
    tax_total,
    total,
    tax_lines,
    tax_date,
    approved_by,
    approved_at,
    sent_by,
    sent_at,
    viewed_at,
    accepted_by_name,
    accepted_at,
    accepted_ip,
    accepted_revision,
    selected_optional_items,
    accepted_totals,
    rejection_reason,
    rejected_at,
    expired_at,
    journey_id,
    converted_at,
    invoice_id,
    invoiced_at,
    deposit_total,
    created_by,
    version,
    created_at,
    updated_at,
});

/// A payment as recorded (a deposit on a quote, a payment on an invoice).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub payment_id: Uuid,
    #[schema(value_type = String, example = "200.00")]
    #[serde(serialize_with = "crate::money")]
    pub amount: Decimal,
    #[schema(value_type = PaymentMethod)]
    pub method: String,
    /// The gateway's transaction id.
    pub transaction_id: Option<String>,
    pub gateway: Option<String>,
    /// The gateway's response, as it sent it.
    #[schema(value_type = Option<Object>)]
    pub gateway_data: Option<Value>,
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::money_opt")]
    pub processing_fee: Option<Decimal>,
    pub receipt_url: Option<String>,
    pub notes: Option<String>,
    pub received_at: DateTime<Utc>,
    pub recorded_by: Uuid,
}

crate::view_from_row!(PaymentRow => PaymentView {
    payment_id,
    amount,
    method,
    transaction_id,
    gateway,
    gateway_data,
    processing_fee,
    receipt_url,
    notes,
    received_at,
    recorded_by,
});

/// One revision of a quote.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub revision: i32,
    /// The status the revision is in, or ended in when superseded.
    #[schema(value_type = QuoteStatus)]
    pub status: String,
    #[schema(value_type = Vec<Object>)]
    pub items: Value,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub subtotal: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub tax_total: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub total: Decimal,
    #[schema(value_type = Vec<Object>)]
    pub tax_lines: Value,
    /// When the revision was drafted (revision 1) or reopened.
    pub opened_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When the next revision replaced it.
    pub superseded_at: Option<DateTime<Utc>>,
}

crate::view_from_row!(RevisionRow => RevisionView {
    revision,
    status,
    items,
    subtotal,
    tax_total,
    total,
    tax_lines,
    opened_at,
    sent_at,
    superseded_at,
});

/// A quote with its deposits and revision history.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteDetail {
    #[serde(flatten)]
    pub quote: QuoteView,
    /// Oldest first.
    pub deposits: Vec<PaymentView>,
    /// Oldest first; the last is the current revision.
    pub revisions: Vec<RevisionView>,
}

fn ownership(quote: &QuoteView) -> RecordOwnership {
    if quote.is_template {
        // Templates are shared models, read by every rep (the open pool).
        return RecordOwnership::default();
    }
    RecordOwnership {
        assigned_to: Some(quote.created_by),
        created_by: Some(quote.created_by),
        location_id: quote.location_id.clone(),
    }
}

pub use crate::wait::GetParams;

#[utoipa::path(
    get, path = "/v1/quotes/{id}", tag = "quotes",
    params(("id" = Uuid, Path, description = "Quote id"), GetParams),
    responses(
        (status = 200, description = "The quote with its items, totals, tax lines, deposits and revisions", body = QuoteDetail),
        (status = 403, description = "A sales rep asking for another rep's quote", body = api_common::Problem),
        (status = 404, description = "No such quote in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the entity's version in the event store (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_quote(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<GetParams>,
) -> ApiResult<WithETag<QuoteDetail>> {
    authz::authorize(&principal, Resource::Quote, Action::Read, None)?;
    let quote: QuoteView = crate::wait::fetch_versioned(
        &state,
        &principal,
        ("Quote", id),
        crate::wait::owners::QUOTES,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |q: &QuoteRow| q.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no quote with id {id}")))?
    .into();
    authz::authorize(
        &principal,
        Resource::Quote,
        Action::Read,
        Some(ownership(&quote)),
    )?;
    let deposits = query::deposits(&state.pool, &principal.tenant, id)
        .await?
        .into_iter()
        .map(PaymentView::from)
        .collect();
    let revisions = query::revisions(&state.pool, &principal.tenant, id)
        .await?
        .into_iter()
        .map(RevisionView::from)
        .collect();
    Ok(WithETag::new(
        quote.version,
        QuoteDetail {
            quote,
            deposits,
            revisions,
        },
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub status: Option<QuoteStatus>,
    pub customer_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// Templates only (`true`) or real quotes only (`false`).
    pub is_template: Option<bool>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/quotes", tag = "quotes",
    params(ListParams),
    responses((status = 200, description = "Quotes the caller may see, newest first", body = ListResponse<QuoteView>)),
    security(("bearer" = []))
)]
async fn list_quotes(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<QuoteView>>> {
    let scope = authz::list_scope(&principal, Resource::Quote)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let filter = QuoteFilter {
        status: params.status,
        customer_id: params.customer_id,
        lead_id: params.lead_id,
        is_template: params.is_template,
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
        rows.into_iter().map(QuoteView::from).collect(),
        page.limit,
        |q| (q.created_at, q.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_quote))
        .checked_routes(routes!(list_quotes))
}
