//! Request shapes shared by quotes and invoices: line items and payments.
//! Amounts travel as strings (`"1234.50"`); totals are never accepted from
//! the client.

use aggregates::sales::{ItemInput, PaymentInput};
use chrono::{DateTime, Utc};
use event_schemas::money::{PaymentMethod, QuoteItemCategory};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One line item. The server computes `line_total = round(quantity ×
/// unit_price, 2)`, half-up.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// Keep an existing item's id when editing; new items get one.
    #[serde(default)]
    pub item_id: Option<Uuid>,
    #[schema(example = "3 movers, 26 ft truck")]
    pub description: String,
    /// More than 0, at most 3 decimals.
    #[schema(value_type = String, example = "1", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub quantity: Decimal,
    /// At least 0, at most 2 decimals.
    #[schema(value_type = String, example = "1450.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub unit_price: Decimal,
    pub category: QuoteItemCategory,
    #[serde(default)]
    pub subcategory: Option<String>,
    /// Listed, but counted only when selected on acceptance (quotes).
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub sort_order: Option<i32>,
    #[serde(default)]
    pub notes: Option<String>,
}

impl From<ItemRequest> for ItemInput {
    fn from(i: ItemRequest) -> Self {
        Self {
            item_id: i.item_id,
            description: i.description,
            quantity: i.quantity,
            unit_price: i.unit_price,
            category: i.category,
            subcategory: i.subcategory,
            optional: i.optional,
            sort_order: i.sort_order,
            notes: i.notes,
        }
    }
}

pub fn items(items: Vec<ItemRequest>) -> Vec<ItemInput> {
    items.into_iter().map(Into::into).collect()
}

/// A payment received (the seed's Payment).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// More than 0; never more than the balance.
    #[schema(value_type = String, example = "250.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub amount: Decimal,
    pub method: PaymentMethod,
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Stripe, PayPal, Square, …
    #[serde(default)]
    pub gateway: Option<String>,
    /// The gateway's response (a JSON object, at most 16 KiB).
    #[serde(default)]
    pub gateway_data: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "7.55", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub processing_fee: Option<Decimal>,
    #[serde(default)]
    pub receipt_url: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// When the money was received (default: now).
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
}

impl PaymentRequest {
    /// The aggregate's input, under a new payment id.
    pub fn into_input(self, payment_id: Uuid) -> PaymentInput {
        PaymentInput {
            payment_id,
            amount: self.amount,
            method: self.method,
            transaction_id: self.transaction_id,
            gateway: self.gateway,
            gateway_data: self.gateway_data,
            processing_fee: self.processing_fee,
            receipt_url: self.receipt_url,
            notes: self.notes,
            received_at: self.received_at,
        }
    }
}

/// A required reason (rejection, void, refund, credit note).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}
