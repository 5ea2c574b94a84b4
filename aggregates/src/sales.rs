//! Input rules shared by quotes and invoices: line items, currency,
//! payments. Each returns the normalized value, recording field errors
//! (`items[2].quantity`) on the caller's [`Validator`].

use chrono::{DateTime, Utc};
use event_schemas::money::{LineItem, PaymentDetails, PaymentMethod, QuoteItemCategory};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::Validator;
use crate::pricing::line_total;
use crate::values;

pub const MAX_ITEMS: usize = 200;
/// Sort orders stay well inside `i32` (a derived item is placed after them).
pub const MAX_SORT_ORDER: i32 = 1_000_000;
/// 1 000 000 units.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// The longest payment term, in days.
pub const MAX_PAYMENT_TERMS_DAYS: u32 = 365;

/// A line item as a client sends it (no totals: the server computes them).
#[derive(Clone, Debug, PartialEq)]
pub struct ItemInput {
    /// Kept when editing an existing item; new items get a fresh id.
    pub item_id: Option<Uuid>,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub category: QuoteItemCategory,
    pub subcategory: Option<String>,
    pub optional: bool,
    pub sort_order: Option<i32>,
    pub notes: Option<String>,
}

impl From<&LineItem> for ItemInput {
    /// The input that reproduces a priced item (edits, copies, recurring cycles).
    fn from(item: &LineItem) -> Self {
        Self {
            item_id: Some(item.item_id),
            description: item.description.clone(),
            quantity: item.quantity,
            unit_price: item.unit_price,
            category: item.category,
            subcategory: item.subcategory.clone(),
            optional: item.optional,
            sort_order: Some(item.sort_order),
            notes: item.notes.clone(),
        }
    }
}

/// A payment as a client reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentInput {
    pub payment_id: Uuid,
    pub amount: Decimal,
    pub method: PaymentMethod,
    pub transaction_id: Option<String>,
    pub gateway: Option<String>,
    pub gateway_data: Option<serde_json::Value>,
    pub processing_fee: Option<Decimal>,
    pub receipt_url: Option<String>,
    pub notes: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
}

/// Quantity: positive, at most 3 decimals, at most [`MAX_QUANTITY`].
pub fn quantity(value: Decimal) -> Result<Decimal, String> {
    if value <= Decimal::ZERO {
        return Err("must be greater than 0".into());
    }
    if value.normalize().scale() > 3 {
        return Err("must have at most 3 decimal places".into());
    }
    if value > MAX_QUANTITY {
        return Err(format!("must be at most {MAX_QUANTITY}"));
    }
    Ok(value.normalize())
}

/// A money amount that must be more than zero.
pub fn positive_money(value: Decimal) -> Result<Decimal, String> {
    let v = values::money(value)?;
    if v.is_zero() {
        return Err("must be greater than 0".into());
    }
    Ok(v)
}

/// ISO 4217 code: three capital letters; `CAD` when absent.
pub fn currency(value: Option<&str>) -> Result<String, String> {
    match value.map(str::trim) {
        None | Some("") => Ok("CAD".into()),
        Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) => Ok(c.into()),
        Some(_) => Err("must be a three-letter ISO 4217 code like CAD".into()),
    }
}

/// Days from issue to due date: 0 (due on issue) to [`MAX_PAYMENT_TERMS_DAYS`].
pub fn payment_terms_days(days: u32) -> Result<u32, String> {
    if days > MAX_PAYMENT_TERMS_DAYS {
        return Err(format!(
            "must be between 0 and {MAX_PAYMENT_TERMS_DAYS} days"
        ));
    }
    Ok(days)
}

/// Validates and prices `items`, keeping the ids of items that have one.
pub fn line_items(v: &mut Validator, items: Vec<ItemInput>) -> Vec<LineItem> {
    if items.len() > MAX_ITEMS {
        v.error("items", format!("must have at most {MAX_ITEMS} items"));
        return vec![];
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let field = |name: &str| format!("items[{i}].{name}");
        let description = v.check(
            &field("description"),
            values::required_text(&item.description, values::MAX_SHORT_TEXT),
        );
        let quantity = v.check(&field("quantity"), quantity(item.quantity));
        let unit_price = v.check(&field("unit_price"), values::money(item.unit_price));
        let subcategory = v.check(
            &field("subcategory"),
            values::optional_text(item.subcategory.as_deref(), values::MAX_NAME),
        );
        let notes = v.check(
            &field("notes"),
            values::optional_text(item.notes.as_deref(), values::MAX_LONG_TEXT),
        );
        if item
            .sort_order
            .is_some_and(|o| !(-MAX_SORT_ORDER..=MAX_SORT_ORDER).contains(&o))
        {
            v.error(
                &field("sort_order"),
                format!("must be between -{MAX_SORT_ORDER} and {MAX_SORT_ORDER}"),
            );
        }
        let item_id = item.item_id.unwrap_or_else(Uuid::now_v7);
        if !seen.insert(item_id) {
            v.error(&field("item_id"), "appears twice");
        }
        if let (
            Some(description),
            Some(quantity),
            Some(unit_price),
            Some(subcategory),
            Some(notes),
        ) = (description, quantity, unit_price, subcategory, notes)
        {
            out.push(LineItem {
                item_id,
                description,
                quantity,
                unit_price,
                line_total: line_total(quantity, unit_price),
                category: item.category,
                subcategory,
                optional: item.optional,
                sort_order: item.sort_order.unwrap_or(i as i32),
                notes,
            });
        }
    }
    out.sort_by_key(|i| i.sort_order);
    out
}

/// An `http(s)://` URL of at most 2 000 characters.
fn url(value: Option<&str>) -> Result<Option<String>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(u) if u.len() <= 2000 && (u.starts_with("https://") || u.starts_with("http://")) => {
            Ok(Some(u.to_owned()))
        }
        Some(_) => Err("must be an http(s) URL of at most 2000 characters".into()),
    }
}

/// Validates a payment (amount > 0, fee ≤ amount, URL, gateway data).
pub fn payment(
    v: &mut Validator,
    input: PaymentInput,
    at: DateTime<Utc>,
    actor: Uuid,
) -> Option<PaymentDetails> {
    let amount = v.check("amount", positive_money(input.amount));
    let fee = input
        .processing_fee
        .map(|f| v.check("processing_fee", values::money(f)));
    if let (Some(a), Some(Some(f))) = (amount, fee)
        && f > a
    {
        v.error("processing_fee", "must not exceed the payment amount");
    }
    let transaction_id = v.check(
        "transaction_id",
        values::optional_text(input.transaction_id.as_deref(), values::MAX_SHORT_TEXT),
    );
    let gateway = v.check(
        "gateway",
        values::optional_text(input.gateway.as_deref(), values::MAX_NAME),
    );
    let receipt_url = v.check("receipt_url", url(input.receipt_url.as_deref()));
    let notes = v.check(
        "notes",
        values::optional_text(input.notes.as_deref(), values::MAX_LONG_TEXT),
    );
    match &input.gateway_data {
        Some(serde_json::Value::Object(data)) => {
            v.check("gateway_data", values::free_json(data));
        }
        Some(_) => v.error("gateway_data", "must be a JSON object"),
        None => {}
    }
    if input
        .received_at
        .is_some_and(|r| r > at + chrono::Duration::minutes(5))
    {
        v.error("received_at", "must not be in the future");
    }
    Some(PaymentDetails {
        payment_id: input.payment_id,
        amount: amount?,
        method: input.method,
        transaction_id: transaction_id?,
        gateway: gateway?,
        gateway_data: input.gateway_data,
        processing_fee: fee.flatten(),
        receipt_url: receipt_url?,
        notes: notes?,
        received_at: input.received_at.unwrap_or(at),
        recorded_by: actor,
    })
}

/// A required reason (void, refund, credit note, rejection).
pub fn reason(v: &mut Validator, value: &str) -> Option<String> {
    v.check(
        "reason",
        values::required_text(value, values::MAX_LONG_TEXT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn item(q: Decimal, p: Decimal) -> ItemInput {
        ItemInput {
            item_id: None,
            description: "Two movers".into(),
            quantity: q,
            unit_price: p,
            category: QuoteItemCategory::MovingServices,
            subcategory: None,
            optional: false,
            sort_order: None,
            notes: None,
        }
    }

    #[test]
    fn item_errors_name_the_item_and_field() {
        let mut v = Validator::new();
        let out = line_items(
            &mut v,
            vec![item(dec!(1), dec!(10)), item(dec!(0), dec!(-1))],
        );
        assert_eq!(out.len(), 1);
        let errors = v.finish().unwrap_err();
        let fields: Vec<_> = errors.fields().collect();
        assert_eq!(fields, ["items[1].quantity", "items[1].unit_price"]);
    }

    #[test]
    fn payment_terms_run_from_zero_to_a_year() {
        assert_eq!(payment_terms_days(0), Ok(0));
        assert_eq!(payment_terms_days(365), Ok(365));
        assert!(payment_terms_days(366).is_err());
    }

    #[test]
    fn currency_defaults_to_cad() {
        assert_eq!(currency(None).unwrap(), "CAD");
        assert_eq!(currency(Some("USD")).unwrap(), "USD");
        assert!(currency(Some("usd")).is_err());
        assert!(quantity(dec!(0.0001)).is_err());
        assert_eq!(quantity(dec!(2.500)).unwrap(), dec!(2.5));
    }
}
