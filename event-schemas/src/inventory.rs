//! Events of the `InventoryItem` aggregate (the seed's Inventory and
//! InventoryTransaction): a stocked item at one location, its transactions,
//! the weighted average cost, and the reorder signals.
//!
//! Every transaction carries `quantity_after` and `average_cost_after`, so
//! readers never recompute stock or cost.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name stored with every inventory event.
pub const AGGREGATE_TYPE: &str = "InventoryItem";

crate::common::wire_enum! {
    /// The seed's `InventoryTransactionType`.
    InventoryTransactionType {
        /// Stock in, at a unit cost (changes the average cost).
        Purchase => "PURCHASE",
        /// Stock out.
        Sale => "SALE",
        /// A count correction, in or out (never changes the average cost).
        Adjustment => "ADJUSTMENT",
        /// Between two items (locations): out of one, into the other.
        Transfer => "TRANSFER",
        /// Stock out.
        Damage => "DAMAGE",
        /// Stock out.
        Expiry => "EXPIRY",
    }
}

/// The supplier an item is reordered from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Supplier {
    pub name: String,
    pub contact: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub lead_time_days: Option<u32>,
}

/// The editable details of an item (never its quantity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryItemDetails {
    /// Unique per location (a database claim, not the aggregate's rule).
    pub sku: String,
    pub barcode: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub category: String,
    pub subcategory: Option<String>,
    /// The reorder point: at or below it the item is low on stock.
    #[schemars(with = "String")]
    pub min_quantity: Decimal,
    #[schemars(with = "Option<String>")]
    pub max_quantity: Option<Decimal>,
    /// The list cost (the average cost is tracked by transactions).
    #[schemars(with = "String")]
    pub unit_cost: Decimal,
    #[schemars(with = "String")]
    pub unit_price: Decimal,
    pub supplier: Option<Supplier>,
    pub expiry_date: Option<NaiveDate>,
}

/// An item was created at a location with quantity 0 (so at or below its
/// reorder point: it starts low on stock, without a `LowStockReached`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryItemCreated {
    pub tenant_id: TenantId,
    pub item_id: Uuid,
    pub location_id: String,
    #[serde(flatten)]
    pub details: InventoryItemDetails,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The item's details changed (complete details after the change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryItemUpdated {
    #[serde(flatten)]
    pub details: InventoryItemDetails,
    pub changed_fields: Vec<String>,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

/// The other side of a transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TransferLeg {
    pub transfer_id: Uuid,
    pub counterpart_item_id: Uuid,
    pub counterpart_location_id: String,
}

/// Stock moved. `quantity_change` is signed (in > 0, out < 0, at most 3
/// decimals); `unit_cost` is present for purchases and transfers (a transfer
/// out carries the average cost it leaves at); `average_cost_after` is the
/// weighted average cost (4 decimals, half-up).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryTransactionRecorded {
    pub transaction_id: Uuid,
    pub transaction_type: InventoryTransactionType,
    #[schemars(with = "String")]
    pub quantity_change: Decimal,
    #[schemars(with = "Option<String>")]
    pub unit_cost: Option<Decimal>,
    #[schemars(with = "String")]
    pub quantity_after: Decimal,
    #[schemars(with = "String")]
    pub average_cost_after: Decimal,
    /// PO number, invoice number, …
    pub reference: Option<String>,
    pub notes: Option<String>,
    pub transfer: Option<TransferLeg>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// The quantity fell to or below the reorder point (once per crossing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LowStockReached {
    #[schemars(with = "String")]
    pub quantity: Decimal,
    #[schemars(with = "String")]
    pub reorder_point: Decimal,
}

/// The quantity went back above the reorder point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockReplenished {
    #[schemars(with = "String")]
    pub quantity: Decimal,
    #[schemars(with = "String")]
    pub reorder_point: Decimal,
}

crate::event_enum! {
    /// Every event of the `InventoryItem` aggregate.
    InventoryItemEvent for AGGREGATE_TYPE {
        InventoryItemCreated("1.0", "An item was created at a location (SKU, reorder point, costs, supplier), quantity 0."),
        InventoryItemUpdated("1.0", "The item's details changed (complete details after the change; never the quantity)."),
        InventoryTransactionRecorded("1.0", "Stock moved: signed change, quantity and weighted average cost after, transfer leg if any."),
        LowStockReached("1.0", "The quantity fell to or below the reorder point (once per crossing)."),
        StockReplenished("1.0", "The quantity went back above the reorder point."),
    }
}
