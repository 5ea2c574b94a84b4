//! `read.inventory_items` and `read.inventory_transactions` (the
//! `inventory` projection): one item with its latest transactions, lists a
//! caller's scope covers, and the stock's valuation.
//!
//! Items are owned by whoever created them and located by `location_id`.

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::TenantId;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`] and [`TRANSACTIONS`].
pub const PROJECTION: &str = "inventory";
pub const TABLE: &str = "read.inventory_items";
pub const TRANSACTIONS: &str = "read.inventory_transactions";
/// The columns of an [`ItemRow`].
pub const COLUMNS: &str = "id, location_id, sku, barcode, name, description, category, subcategory, quantity, min_quantity, \
     max_quantity, unit_cost, average_cost, unit_price, supplier, expiry_date, low_stock, last_transaction_at, \
     created_by, version, created_at, updated_at";
/// The columns of a [`TransactionRow`].
pub const TRANSACTION_COLUMNS: &str = "transaction_id, transaction_type, quantity_change, unit_cost, quantity_after, \
     average_cost_after, reference, notes, transfer_id, counterpart_item_id, counterpart_location_id, recorded_by, \
     recorded_at, sequence";
/// How many transactions [`transactions`] returns.
pub const TRANSACTIONS_SHOWN: i64 = 100;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub id: Uuid,
    pub location_id: String,
    pub sku: String,
    pub barcode: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub category: String,
    pub subcategory: Option<String>,
    pub quantity: Decimal,
    pub min_quantity: Decimal,
    pub max_quantity: Option<Decimal>,
    pub unit_cost: Decimal,
    pub average_cost: Decimal,
    pub unit_price: Decimal,
    pub supplier: Option<Value>,
    pub expiry_date: Option<NaiveDate>,
    pub low_stock: bool,
    pub last_transaction_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransactionRow {
    pub transaction_id: Uuid,
    pub transaction_type: String,
    pub quantity_change: Decimal,
    pub unit_cost: Option<Decimal>,
    pub quantity_after: Decimal,
    pub average_cost_after: Decimal,
    pub reference: Option<String>,
    pub notes: Option<String>,
    pub transfer_id: Option<Uuid>,
    pub counterpart_item_id: Option<Uuid>,
    pub counterpart_location_id: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub sequence: i64,
}

/// The item `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<ItemRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// The latest [`TRANSACTIONS_SHOWN`] transactions of item `item_id`,
/// newest first.
pub async fn transactions(
    pool: &PgPool,
    tenant: &TenantId,
    item_id: Uuid,
) -> Result<Vec<TransactionRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {TRANSACTION_COLUMNS}
               FROM {TRANSACTIONS}
              -- A transfer leg whose other side is not projected yet is shown with it.
              WHERE tenant_id = $1 AND item_id = $2 AND NOT pending
              ORDER BY sequence DESC LIMIT {TRANSACTIONS_SHOWN}"
        ),
        item_id,
    )
    .await
}

/// What an item list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub location_id: Option<String>,
    /// `true`: only items low on stock; `false`: only the others.
    pub low_stock: Option<bool>,
    pub category: Option<String>,
}

/// A page of the items of `tenant` that `scope` covers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &ItemFilter,
    page: NewestFirst,
) -> Result<Vec<ItemRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        ("created_by", "location_id"),
        "AND ($8::text IS NULL OR location_id = $8)
         AND ($9::boolean IS NULL OR low_stock = $9)
         AND ($10::text IS NULL OR category = $10)",
        page,
        |q| {
            q.bind(filter.location_id.clone())
                .bind(filter.low_stock)
                .bind(filter.category.clone())
        },
    )
    .await
}

/// One row of the valuation: a location's category (`level` 0), a
/// location (1), or the grand total (2).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ValuationRow {
    pub location_id: Option<String>,
    pub category: Option<String>,
    pub items: i64,
    pub quantity: Decimal,
    /// Σ quantity × average cost, rounded to the cent.
    pub value: Decimal,
    pub level: i32,
}

/// `tenant`'s stock at its weighted average cost per location and
/// category, per location and in total, by level, location, category.
pub async fn valuation(pool: &PgPool, tenant: &TenantId) -> Result<Vec<ValuationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT location_id, category, count(*) AS items, coalesce(sum(quantity), 0) AS quantity,
                coalesce(round(sum(quantity * average_cost), 2), 0)::numeric(14, 2) AS value,
                (GROUPING(location_id) + GROUPING(category))::integer AS level
           FROM {TABLE}
          WHERE tenant_id = $1
          GROUP BY GROUPING SETS ((location_id, category), (location_id), ())
          ORDER BY level, location_id, category"
    ))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
}
