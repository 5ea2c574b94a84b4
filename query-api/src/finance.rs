//! `GET /v1/financial-transactions`: the ledger (see `projections::ledger`
//! for what becomes an entry and the sign of `cash_effect`).

use api_common::authz::{self, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiQuery, ApiResult, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::money::FinancialTransactionType;
use projections::queries::ledger::{self as query, TransactionFilter, TransactionRow};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionView {
    /// Stable across rebuilds: a manual entry's own id, else derived from
    /// the payment, refund or credit note.
    pub id: Uuid,
    /// `QUOTE_DEPOSIT`, `PAYMENT`, `PROCESSING_FEE`, `REFUND`,
    /// `CREDIT_NOTE` or `MANUAL`.
    pub source: String,
    #[schema(value_type = FinancialTransactionType)]
    pub transaction_type: String,
    /// As entered (positive, except manual adjustments).
    #[schema(value_type = String, example = "250.00")]
    #[serde(serialize_with = "crate::money")]
    pub amount: Decimal,
    /// The signed effect on cash: income +, expenses and refunds −,
    /// transfers and credit notes 0.
    #[schema(value_type = String, example = "-250.00")]
    #[serde(serialize_with = "crate::money")]
    pub cash_effect: Decimal,
    pub currency: String,
    pub description: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub reference: Option<String>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = String, format = Date)]
    pub transaction_date: NaiveDate,
    pub occurred_at: DateTime<Utc>,
    pub customer_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

crate::view_from_row!(TransactionRow => TransactionView {
    id,
    source,
    transaction_type,
    amount,
    cash_effect,
    currency,
    description,
    category,
    subcategory,
    reference,
    notes,
    tags,
    transaction_date,
    occurred_at,
    customer_id,
    quote_id,
    invoice_id,
    journey_id,
    payment_id,
    recorded_by,
    recorded_at,
});

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// First transaction date (inclusive), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Last transaction date (inclusive), not before `from`.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    #[serde(rename = "type")]
    pub transaction_type: Option<FinancialTransactionType>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/financial-transactions", tag = "finance",
    params(ListParams),
    responses((status = 200, description = "Ledger entries, newest transaction date first", body = ListResponse<TransactionView>)),
    security(("bearer" = []))
)]
async fn list_transactions(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<TransactionView>>> {
    // Entries belong to whoever recorded them and to no location.
    let scope = authz::list_scope(&principal, Resource::FinancialTransaction)?;
    crate::check_range(params.from, params.to)?;
    let limit = pagination::limit(params.limit)?;
    let after: Option<(NaiveDate, Uuid)> = pagination::decode_cursor(params.cursor.as_deref())?;
    let filter = TransactionFilter {
        from: params.from,
        to: params.to,
        transaction_type: params.transaction_type,
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
        rows.into_iter().map(TransactionView::from).collect(),
        limit,
        |t| (t.transaction_date, t.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new().checked_routes(routes!(list_transactions))
}
