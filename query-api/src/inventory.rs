//! `GET /v1/inventory/{id}` and `GET /v1/inventory`.
//!
//! Items are located by `location_id` (LOCATION scopes) and owned by whoever
//! created them (OWN scopes). Quantities are decimal strings as stored (3
//! places), costs 4 places (the weighted average), prices 2.

use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::inventory::InventoryTransactionType;
use projections::queries::inventory::{self as query, ItemFilter, ItemRow, TransactionRow};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryItemView {
    pub id: Uuid,
    pub location_id: String,
    pub sku: String,
    pub barcode: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub category: String,
    pub subcategory: Option<String>,
    #[schema(value_type = String, example = "12.000")]
    #[serde(serialize_with = "crate::quantity")]
    pub quantity: Decimal,
    /// The reorder point: at or below it the item is low on stock.
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::quantity")]
    pub min_quantity: Decimal,
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::quantity_opt")]
    pub max_quantity: Option<Decimal>,
    /// The list cost.
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::unit_cost")]
    pub unit_cost: Decimal,
    /// The weighted average cost of the stock.
    #[schema(value_type = String, example = "4.2500")]
    #[serde(serialize_with = "crate::unit_cost")]
    pub average_cost: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub unit_price: Decimal,
    /// `{name, contact, email, phone, lead_time_days}`.
    #[schema(value_type = Option<Object>)]
    pub supplier: Option<Value>,
    #[schema(value_type = Option<String>, format = Date)]
    pub expiry_date: Option<NaiveDate>,
    /// Set by `LowStockReached`, cleared by `StockReplenished` (true for a
    /// new item: its quantity is 0).
    pub low_stock: bool,
    pub last_transaction_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    /// The item's version (events applied); see `min_version`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::view_from_row!(ItemRow => InventoryItemView {
    id,
    location_id,
    sku,
    barcode,
    name,
    description,
    category,
    subcategory,
    quantity,
    min_quantity,
    max_quantity,
    unit_cost,
    average_cost,
    unit_price,
    supplier,
    expiry_date,
    low_stock,
    last_transaction_at,
    created_by,
    version,
    created_at,
    updated_at,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryTransactionView {
    pub transaction_id: Uuid,
    #[schema(value_type = InventoryTransactionType)]
    pub transaction_type: String,
    /// Signed: in > 0, out < 0.
    #[schema(value_type = String, example = "-2.000")]
    #[serde(serialize_with = "crate::quantity")]
    pub quantity_change: Decimal,
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::unit_cost_opt")]
    pub unit_cost: Option<Decimal>,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::quantity")]
    pub quantity_after: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::unit_cost")]
    pub average_cost_after: Decimal,
    pub reference: Option<String>,
    pub notes: Option<String>,
    pub transfer_id: Option<Uuid>,
    pub counterpart_item_id: Option<Uuid>,
    pub counterpart_location_id: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
    /// The item's version this transaction made.
    pub sequence: i64,
}

crate::view_from_row!(TransactionRow => InventoryTransactionView {
    transaction_id,
    transaction_type,
    quantity_change,
    unit_cost,
    quantity_after,
    average_cost_after,
    reference,
    notes,
    transfer_id,
    counterpart_item_id,
    counterpart_location_id,
    recorded_by,
    recorded_at,
    sequence,
});

/// An item with its latest transactions.
#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryItemDetail {
    #[serde(flatten)]
    pub item: InventoryItemView,
    /// Newest first, the last 100.
    pub transactions: Vec<InventoryTransactionView>,
}

/// How many transactions the item's detail shows.
pub const TRANSACTIONS_SHOWN: i64 = query::TRANSACTIONS_SHOWN;

fn ownership(item: &InventoryItemView) -> RecordOwnership {
    RecordOwnership {
        assigned_to: Some(item.created_by),
        created_by: Some(item.created_by),
        location_id: Some(item.location_id.clone()),
    }
}

#[utoipa::path(
    get, path = "/v1/inventory/{id}", tag = "inventory",
    params(("id" = Uuid, Path, description = "Inventory item id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The item with its stock, costs and latest transactions", body = InventoryItemDetail),
        (status = 403, description = "The caller's scope does not cover it", body = api_common::Problem),
        (status = 404, description = "No such item in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the entity's version in the event store (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_item(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<InventoryItemDetail>> {
    authz::authorize(&principal, Resource::Inventory, Action::Read, None)?;
    let item: InventoryItemView = crate::wait::fetch_versioned(
        &state,
        &principal,
        ("InventoryItem", id),
        crate::wait::owners::INVENTORY,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |i: &ItemRow| i.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no inventory item with id {id}")))?
    .into();
    authz::authorize(
        &principal,
        Resource::Inventory,
        Action::Read,
        Some(ownership(&item)),
    )?;
    let transactions = query::transactions(&state.pool, &principal.tenant, id)
        .await?
        .into_iter()
        .map(InventoryTransactionView::from)
        .collect();
    Ok(WithETag::new(
        item.version,
        InventoryItemDetail { item, transactions },
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub location_id: Option<String>,
    /// `true`: only items low on stock; `false`: only the others.
    pub low_stock: Option<bool>,
    pub category: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/inventory", tag = "inventory",
    params(ListParams),
    responses(
        (status = 200, description = "Inventory items the caller may see, newest first", body = ListResponse<InventoryItemView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_items(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<InventoryItemView>>> {
    let scope = authz::list_scope(&principal, Resource::Inventory)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let filter = ItemFilter {
        location_id: params.location_id,
        low_stock: params.low_stock,
        category: params.category,
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
        rows.into_iter().map(InventoryItemView::from).collect(),
        page.limit,
        |i| (i.created_at, i.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_item))
        .checked_routes(routes!(list_items))
}
