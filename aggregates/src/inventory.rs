//! The `InventoryItem` aggregate: a stocked item (boxes, tape, blankets for
//! sale) at one location, its transactions, its weighted average cost, and
//! the reorder signals.
//!
//! ```text
//!   Create (quantity 0: at or below the reorder point, "low")
//!      │
//!      ▼
//!   STOCKED ◀── Update (details, never the quantity)
//!      │  Record PURCHASE (+, at a unit cost) │ SALE / DAMAGE / EXPIRY (−) │ ADJUSTMENT (±)
//!      │  TransferOut (−, to another item)    │ TransferIn (+, at a unit cost; once per transfer)
//!      ▼
//!   low  ──quantity > reorder point──▶ StockReplenished ──▶ not low
//!   not low ──quantity ≤ reorder point──▶ LowStockReached ──▶ low
//! ```
//!
//! Rules:
//! - Stock never goes negative: an outflow larger than the stock is refused
//!   (`inventory.insufficient-stock`, naming the stock).
//! - Weighted average cost: stock coming in at a unit cost (a purchase or a
//!   transfer in) moves the average to
//!   `(quantity × average + incoming × unit cost) / (quantity + incoming)`,
//!   rounded half-up to 4 decimals; outflows and adjustments leave it as is.
//! - `LowStockReached` and `StockReplenished` strictly alternate: each is
//!   raised when the quantity (or, on an update, the reorder point) moves
//!   the item across its reorder point, never twice in a row.
//! - SKU uniqueness per location is a database claim, not this aggregate's.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::inventory::{
    InventoryItemCreated, InventoryItemEvent, InventoryItemUpdated, InventoryTransactionRecorded,
    LowStockReached, StockReplenished,
};
pub use event_schemas::inventory::{
    InventoryItemDetails, InventoryTransactionType, Supplier, TransferLeg,
};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::sales;
use crate::values;

/// The most an item may hold: 1 000 000 000 units.
pub const MAX_STOCK: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryItem {
    pub id: Option<Uuid>,
    pub tenant_id: Option<TenantId>,
    pub location_id: Option<String>,
    pub details: Option<InventoryItemDetails>,
    pub quantity: Decimal,
    pub average_cost: Decimal,
    /// At or below the reorder point (as last signalled).
    pub low: bool,
    pub transactions: BTreeSet<Uuid>,
    pub transfers_out: BTreeSet<Uuid>,
    pub transfers_in: BTreeSet<Uuid>,
    pub last_transaction_at: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------- commands

/// The details of an item as a client sends them.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemDetailsInput {
    pub sku: String,
    pub barcode: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub category: String,
    pub subcategory: Option<String>,
    pub min_quantity: Decimal,
    pub max_quantity: Option<Decimal>,
    pub unit_cost: Decimal,
    pub unit_price: Decimal,
    pub supplier: Option<Supplier>,
    pub expiry_date: Option<NaiveDate>,
}

impl From<&InventoryItemDetails> for ItemDetailsInput {
    fn from(d: &InventoryItemDetails) -> Self {
        Self {
            sku: d.sku.clone(),
            barcode: d.barcode.clone(),
            name: d.name.clone(),
            description: d.description.clone(),
            category: d.category.clone(),
            subcategory: d.subcategory.clone(),
            min_quantity: d.min_quantity,
            max_quantity: d.max_quantity,
            unit_cost: d.unit_cost,
            unit_price: d.unit_price,
            supplier: d.supplier.clone(),
            expiry_date: d.expiry_date,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateItem {
    pub item_id: Uuid,
    pub tenant_id: TenantId,
    pub location_id: String,
    pub details: ItemDetailsInput,
}

/// A transaction other than a transfer. `quantity` is positive, except for
/// ADJUSTMENT where its sign is the direction (never zero).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordTransaction {
    pub transaction_id: Uuid,
    pub transaction_type: InventoryTransactionType,
    pub quantity: Decimal,
    /// Required for PURCHASE; ignored otherwise.
    pub unit_cost: Option<Decimal>,
    pub reference: Option<String>,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TransferOut {
    pub transaction_id: Uuid,
    pub transfer_id: Uuid,
    pub quantity: Decimal,
    pub to_item_id: Uuid,
    pub to_location_id: String,
    pub reference: Option<String>,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TransferIn {
    pub transaction_id: Uuid,
    pub transfer_id: Uuid,
    pub quantity: Decimal,
    /// The cost the stock left the other item at (its average cost).
    pub unit_cost: Decimal,
    pub from_item_id: Uuid,
    pub from_location_id: String,
    pub reference: Option<String>,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum InventoryAction {
    Create(CreateItem),
    /// Replaces the details; the same details again produce no event.
    Update(ItemDetailsInput),
    Record(RecordTransaction),
    /// A TRANSFER with a negative change and the `transfer` leg.
    TransferOut(TransferOut),
    /// A TRANSFER with a positive change; nothing if `transfer_id` was
    /// already received.
    TransferIn(TransferIn),
}

/// An inventory command: the action, who asked, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct InventoryCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: InventoryAction,
}

// ---------------------------------------------------------------- errors

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InventoryError {
    #[error("invalid inventory item: {0}")]
    Invalid(ValidationErrors),
    #[error("inventory item {0} already exists")]
    AlreadyExists(Uuid),
    #[error("inventory item not found")]
    NotFound,
    #[error("only {in_stock} in stock, {requested} requested")]
    InsufficientStock {
        in_stock: Decimal,
        requested: Decimal,
    },
    #[error("the stock would exceed {MAX_STOCK} ({in_stock} in stock, {incoming} incoming)")]
    StockLimit {
        in_stock: Decimal,
        incoming: Decimal,
    },
    #[error("transaction {0} is already recorded")]
    DuplicateTransaction(Uuid),
    #[error("transfer {0} already left this item")]
    DuplicateTransfer(Uuid),
}

impl DomainError for InventoryError {
    fn kind(&self) -> ErrorKind<'_> {
        let rule = match self {
            Self::Invalid(errors) => return ErrorKind::Invalid(errors),
            Self::NotFound => return ErrorKind::NotFound,
            Self::AlreadyExists(_) => "inventory.already-exists",
            Self::InsufficientStock { .. } => "inventory.insufficient-stock",
            Self::StockLimit { .. } => "inventory.stock-limit",
            Self::DuplicateTransaction(_) => "inventory.duplicate-transaction",
            Self::DuplicateTransfer(_) => "inventory.duplicate-transfer",
        };
        ErrorKind::Conflict { rule }
    }
}

impl From<ValidationErrors> for InventoryError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

// ---------------------------------------------------------------- arithmetic

/// Rounds half-up (away from zero) to 4 decimals: the precision of costs.
pub fn round_cost(value: Decimal) -> Decimal {
    let mut v = value.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(4);
    v
}

/// The weighted average cost after `incoming` units at `unit_cost` join
/// `quantity` units at `average`. With nothing in stock it is the unit cost.
pub fn weighted_average(
    quantity: Decimal,
    average: Decimal,
    incoming: Decimal,
    unit_cost: Decimal,
) -> Decimal {
    let total = quantity + incoming;
    if quantity <= Decimal::ZERO || total <= Decimal::ZERO {
        return round_cost(unit_cost);
    }
    round_cost((quantity * average + incoming * unit_cost) / total)
}

/// The signed change of a transaction type for a quantity as entered:
/// PURCHASE in, SALE / DAMAGE / EXPIRY out, ADJUSTMENT as signed, TRANSFER
/// `None` (use the transfer commands).
pub fn signed_change(kind: InventoryTransactionType, quantity: Decimal) -> Option<Decimal> {
    use InventoryTransactionType::*;
    match kind {
        Purchase => Some(quantity),
        Sale | Damage | Expiry => Some(-quantity),
        Adjustment => Some(quantity),
        Transfer => None,
    }
}

// ---------------------------------------------------------------- read helpers

impl InventoryItem {
    pub fn is_created(&self) -> bool {
        self.id.is_some() && self.details.is_some()
    }

    pub fn quantity(&self) -> Decimal {
        self.quantity
    }

    pub fn average_cost(&self) -> Decimal {
        self.average_cost
    }

    /// The reorder point (`min_quantity`).
    pub fn reorder_point(&self) -> Option<Decimal> {
        self.details.as_ref().map(|d| d.min_quantity)
    }

    pub fn is_low(&self) -> bool {
        self.low
    }

    pub fn location_id(&self) -> Option<&str> {
        self.location_id.as_deref()
    }

    pub fn sku(&self) -> Option<&str> {
        self.details.as_ref().map(|d| d.sku.as_str())
    }

    /// The value of the stock at the average cost, to the cent.
    pub fn stock_value(&self) -> Decimal {
        crate::pricing::round_money(self.quantity * self.average_cost)
    }

    pub fn has_received(&self, transfer_id: Uuid) -> bool {
        self.transfers_in.contains(&transfer_id)
    }
}

// ---------------------------------------------------------------- deciding

/// A stock level: ≥ 0, at most 3 decimals, at most [`MAX_STOCK`].
fn stock_level(value: Decimal) -> Result<Decimal, String> {
    if value < Decimal::ZERO {
        return Err("must not be negative".into());
    }
    if value.normalize().scale() > 3 {
        return Err("must have at most 3 decimal places".into());
    }
    if value > MAX_STOCK {
        return Err(format!("must be at most {MAX_STOCK}"));
    }
    Ok(value.normalize())
}

/// A unit cost: ≥ 0, at most 4 decimals (average costs have 4), at most
/// [`values::MAX_MONEY`].
fn unit_cost(value: Decimal) -> Result<Decimal, String> {
    if value < Decimal::ZERO {
        return Err("must not be negative".into());
    }
    if value.normalize().scale() > 4 {
        return Err("must have at most 4 decimal places".into());
    }
    if value > values::MAX_MONEY {
        return Err(format!("must be at most {}", values::MAX_MONEY));
    }
    Ok(round_cost(value))
}

fn text(v: &mut Validator, field: &str, value: Option<&str>, max: usize) -> Option<Option<String>> {
    v.check(field, values::optional_text(value, max))
}

fn validate_details(v: &mut Validator, input: ItemDetailsInput) -> Option<InventoryItemDetails> {
    let sku = v.check("sku", values::required_text(&input.sku, 64));
    let barcode = text(v, "barcode", input.barcode.as_deref(), 64);
    let name = v.check(
        "name",
        values::required_text(&input.name, values::MAX_SHORT_TEXT),
    );
    let description = text(
        v,
        "description",
        input.description.as_deref(),
        values::MAX_LONG_TEXT,
    );
    let category = v.check(
        "category",
        values::required_text(&input.category, values::MAX_NAME),
    );
    let subcategory = text(
        v,
        "subcategory",
        input.subcategory.as_deref(),
        values::MAX_NAME,
    );
    let min_quantity = v.check("min_quantity", stock_level(input.min_quantity));
    let max_quantity = match input.max_quantity {
        None => Some(None),
        Some(m) => v.check("max_quantity", stock_level(m)).map(Some),
    };
    if let (Some(min), Some(Some(max))) = (min_quantity, max_quantity)
        && max < min
    {
        v.error("max_quantity", "must not be less than min_quantity");
    }
    let unit_cost = v.check("unit_cost", values::money(input.unit_cost));
    let unit_price = v.check("unit_price", values::money(input.unit_price));
    let supplier = match input.supplier {
        None => Some(None),
        Some(s) => {
            let name = v.check(
                "supplier.name",
                values::required_text(&s.name, values::MAX_NAME),
            );
            let contact = text(
                v,
                "supplier.contact",
                s.contact.as_deref(),
                values::MAX_NAME,
            );
            let email = match s.email.as_deref().map(str::trim) {
                None | Some("") => Some(None),
                Some(e) => v.check("supplier.email", values::email(e)).map(Some),
            };
            let phone = match s.phone.as_deref().map(str::trim) {
                None | Some("") => Some(None),
                Some(p) => v.check("supplier.phone", values::phone(p)).map(Some),
            };
            if s.lead_time_days.is_some_and(|d| d > 365) {
                v.error("supplier.lead_time_days", "must be at most 365 days");
            }
            (|| {
                Some(Some(Supplier {
                    name: name?,
                    contact: contact?,
                    email: email?,
                    phone: phone?,
                    lead_time_days: s.lead_time_days,
                }))
            })()
        }
    };
    Some(InventoryItemDetails {
        sku: sku?,
        barcode: barcode?,
        name: name?,
        description: description?,
        category: category?,
        subcategory: subcategory?,
        min_quantity: min_quantity?,
        max_quantity: max_quantity?,
        unit_cost: unit_cost?,
        unit_price: unit_price?,
        supplier: supplier?,
        expiry_date: input.expiry_date,
    })
}

/// One stock movement before it becomes an event.
struct Movement {
    transaction_id: Uuid,
    transaction_type: InventoryTransactionType,
    change: Decimal,
    unit_cost: Option<Decimal>,
    /// Whether `unit_cost` moves the average (stock coming in at a cost).
    costed: bool,
    reference: Option<String>,
    notes: Option<String>,
    transfer: Option<TransferLeg>,
}

impl InventoryItem {
    fn create(
        cmd: CreateItem,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<InventoryItemCreated, InventoryError> {
        let mut v = Validator::new();
        let location_id = v.check("location_id", values::identifier(&cmd.location_id));
        let details = validate_details(&mut v, cmd.details);
        v.finish()?;
        let (Some(location_id), Some(details)) = (location_id, details) else {
            unreachable!("every field was validated");
        };
        Ok(InventoryItemCreated {
            tenant_id: cmd.tenant_id,
            item_id: cmd.item_id,
            location_id,
            details,
            created_by: actor,
            created_at: at,
        })
    }

    fn update(
        &self,
        current: &InventoryItemDetails,
        input: ItemDetailsInput,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<Vec<InventoryItemEvent>, InventoryError> {
        let mut v = Validator::new();
        let details = validate_details(&mut v, input);
        v.finish()?;
        let Some(details) = details else {
            unreachable!("every field was validated");
        };
        let changed: Vec<String> = [
            ("sku", details.sku != current.sku),
            ("barcode", details.barcode != current.barcode),
            ("name", details.name != current.name),
            ("description", details.description != current.description),
            ("category", details.category != current.category),
            ("subcategory", details.subcategory != current.subcategory),
            ("min_quantity", details.min_quantity != current.min_quantity),
            ("max_quantity", details.max_quantity != current.max_quantity),
            ("unit_cost", details.unit_cost != current.unit_cost),
            ("unit_price", details.unit_price != current.unit_price),
            ("supplier", details.supplier != current.supplier),
            ("expiry_date", details.expiry_date != current.expiry_date),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(field, _)| field.to_owned())
        .collect();
        if changed.is_empty() {
            return Ok(vec![]);
        }
        let reorder_point = details.min_quantity;
        let mut events = vec![
            InventoryItemUpdated {
                details,
                changed_fields: changed,
                updated_by: actor,
                updated_at: at,
            }
            .into(),
        ];
        events.extend(self.crossing(self.quantity, reorder_point));
        Ok(events)
    }

    /// The reorder signal, if the item ends on the other side of its
    /// reorder point than it was last signalled on.
    fn crossing(&self, quantity: Decimal, reorder_point: Decimal) -> Option<InventoryItemEvent> {
        let low = quantity <= reorder_point;
        match (self.low, low) {
            (false, true) => Some(
                LowStockReached {
                    quantity,
                    reorder_point,
                }
                .into(),
            ),
            (true, false) => Some(
                StockReplenished {
                    quantity,
                    reorder_point,
                }
                .into(),
            ),
            _ => None,
        }
    }

    fn movement(
        &self,
        m: Movement,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<Vec<InventoryItemEvent>, InventoryError> {
        if self.transactions.contains(&m.transaction_id) {
            return Err(InventoryError::DuplicateTransaction(m.transaction_id));
        }
        let quantity_after = (self.quantity + m.change).normalize();
        if quantity_after < Decimal::ZERO {
            return Err(InventoryError::InsufficientStock {
                in_stock: self.quantity.normalize(),
                requested: (-m.change).normalize(),
            });
        }
        if quantity_after > MAX_STOCK {
            return Err(InventoryError::StockLimit {
                in_stock: self.quantity.normalize(),
                incoming: m.change.normalize(),
            });
        }
        let average_cost_after = match (m.costed, m.unit_cost) {
            (true, Some(cost)) => {
                weighted_average(self.quantity, self.average_cost, m.change, cost)
            }
            _ => round_cost(self.average_cost),
        };
        let reorder_point = self.reorder_point().unwrap_or_default();
        let mut events = vec![
            InventoryTransactionRecorded {
                transaction_id: m.transaction_id,
                transaction_type: m.transaction_type,
                quantity_change: m.change.normalize(),
                unit_cost: m.unit_cost,
                quantity_after,
                average_cost_after,
                reference: m.reference,
                notes: m.notes,
                transfer: m.transfer,
                recorded_by: actor,
                recorded_at: at,
            }
            .into(),
        ];
        events.extend(self.crossing(quantity_after, reorder_point));
        Ok(events)
    }

    fn record(
        &self,
        cmd: RecordTransaction,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<Vec<InventoryItemEvent>, InventoryError> {
        use InventoryTransactionType::*;
        let mut v = Validator::new();
        let quantity = match cmd.transaction_type {
            Transfer => {
                v.error(
                    "transaction_type",
                    "record transfers with the transfer commands",
                );
                None
            }
            Adjustment => v
                .check("quantity", sales::quantity(cmd.quantity.abs()))
                .map(|q| if cmd.quantity < Decimal::ZERO { -q } else { q }),
            _ => v.check("quantity", sales::quantity(cmd.quantity)),
        };
        let cost = match (cmd.transaction_type, cmd.unit_cost) {
            (Purchase, None) => {
                v.error("unit_cost", "is required for a purchase");
                None
            }
            (Purchase, Some(c)) => v.check("unit_cost", unit_cost(c)).map(Some),
            _ => Some(None),
        };
        let reference = text(
            &mut v,
            "reference",
            cmd.reference.as_deref(),
            values::MAX_SHORT_TEXT,
        );
        let notes = text(&mut v, "notes", cmd.notes.as_deref(), values::MAX_LONG_TEXT);
        v.finish()?;
        let (Some(quantity), Some(cost), Some(reference), Some(notes)) =
            (quantity, cost, reference, notes)
        else {
            unreachable!("every field was validated");
        };
        let change = signed_change(cmd.transaction_type, quantity).unwrap_or_default();
        self.movement(
            Movement {
                transaction_id: cmd.transaction_id,
                transaction_type: cmd.transaction_type,
                change,
                unit_cost: cost,
                costed: cmd.transaction_type == Purchase,
                reference,
                notes,
                transfer: None,
            },
            at,
            actor,
        )
    }

    fn transfer_out(
        &self,
        cmd: TransferOut,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<Vec<InventoryItemEvent>, InventoryError> {
        let mut v = Validator::new();
        let quantity = v.check("quantity", sales::quantity(cmd.quantity));
        let to_location_id = v.check("to_location_id", values::identifier(&cmd.to_location_id));
        if Some(cmd.to_item_id) == self.id {
            v.error("to_item_id", "must be another item");
        }
        let reference = text(
            &mut v,
            "reference",
            cmd.reference.as_deref(),
            values::MAX_SHORT_TEXT,
        );
        let notes = text(&mut v, "notes", cmd.notes.as_deref(), values::MAX_LONG_TEXT);
        v.finish()?;
        let (Some(quantity), Some(to_location_id), Some(reference), Some(notes)) =
            (quantity, to_location_id, reference, notes)
        else {
            unreachable!("every field was validated");
        };
        if self.transfers_out.contains(&cmd.transfer_id) {
            return Err(InventoryError::DuplicateTransfer(cmd.transfer_id));
        }
        self.movement(
            Movement {
                transaction_id: cmd.transaction_id,
                transaction_type: InventoryTransactionType::Transfer,
                change: -quantity,
                unit_cost: Some(round_cost(self.average_cost)),
                costed: false,
                reference,
                notes,
                transfer: Some(TransferLeg {
                    transfer_id: cmd.transfer_id,
                    counterpart_item_id: cmd.to_item_id,
                    counterpart_location_id: to_location_id,
                }),
            },
            at,
            actor,
        )
    }

    fn transfer_in(
        &self,
        cmd: TransferIn,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<Vec<InventoryItemEvent>, InventoryError> {
        let mut v = Validator::new();
        let quantity = v.check("quantity", sales::quantity(cmd.quantity));
        let cost = v.check("unit_cost", unit_cost(cmd.unit_cost));
        let from_location_id = v.check(
            "from_location_id",
            values::identifier(&cmd.from_location_id),
        );
        if Some(cmd.from_item_id) == self.id {
            v.error("from_item_id", "must be another item");
        }
        let reference = text(
            &mut v,
            "reference",
            cmd.reference.as_deref(),
            values::MAX_SHORT_TEXT,
        );
        let notes = text(&mut v, "notes", cmd.notes.as_deref(), values::MAX_LONG_TEXT);
        v.finish()?;
        let (Some(quantity), Some(cost), Some(from_location_id), Some(reference), Some(notes)) =
            (quantity, cost, from_location_id, reference, notes)
        else {
            unreachable!("every field was validated");
        };
        if self.has_received(cmd.transfer_id) {
            // A redelivered transfer: already applied.
            return Ok(vec![]);
        }
        self.movement(
            Movement {
                transaction_id: cmd.transaction_id,
                transaction_type: InventoryTransactionType::Transfer,
                change: quantity,
                unit_cost: Some(cost),
                costed: true,
                reference,
                notes,
                transfer: Some(TransferLeg {
                    transfer_id: cmd.transfer_id,
                    counterpart_item_id: cmd.from_item_id,
                    counterpart_location_id: from_location_id,
                }),
            },
            at,
            actor,
        )
    }

    /// The events `command` produces against the current state.
    pub fn decide(
        &self,
        command: InventoryCommand,
    ) -> Result<Vec<InventoryItemEvent>, InventoryError> {
        let InventoryCommand { at, actor, action } = command;
        if let InventoryAction::Create(cmd) = action {
            if let Some(id) = self.id {
                return Err(InventoryError::AlreadyExists(id));
            }
            return Ok(vec![Self::create(cmd, at, actor)?.into()]);
        }
        let (Some(current), true) = (self.details.as_ref(), self.id.is_some()) else {
            return Err(InventoryError::NotFound);
        };
        match action {
            InventoryAction::Create(_) => unreachable!("handled above"),
            InventoryAction::Update(input) => self.update(current, input, at, actor),
            InventoryAction::Record(cmd) => self.record(cmd, at, actor),
            InventoryAction::TransferOut(cmd) => self.transfer_out(cmd, at, actor),
            InventoryAction::TransferIn(cmd) => self.transfer_in(cmd, at, actor),
        }
    }
}

impl Aggregate for InventoryItem {
    const TYPE: &'static str = event_schemas::inventory::AGGREGATE_TYPE;
    type Command = InventoryCommand;
    type Event = InventoryItemEvent;
    type Error = InventoryError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            InventoryItemEvent::InventoryItemCreated(e) => {
                *self = Self {
                    id: Some(e.item_id),
                    tenant_id: Some(e.tenant_id),
                    location_id: Some(e.location_id),
                    low: Decimal::ZERO <= e.details.min_quantity,
                    average_cost: round_cost(e.details.unit_cost),
                    details: Some(e.details),
                    ..Self::default()
                }
            }
            InventoryItemEvent::InventoryItemUpdated(e) => self.details = Some(e.details),
            InventoryItemEvent::InventoryTransactionRecorded(e) => {
                self.transactions.insert(e.transaction_id);
                if let Some(leg) = &e.transfer {
                    if e.quantity_change < Decimal::ZERO {
                        self.transfers_out.insert(leg.transfer_id);
                    } else {
                        self.transfers_in.insert(leg.transfer_id);
                    }
                }
                self.quantity = e.quantity_after;
                self.average_cost = e.average_cost_after;
                self.last_transaction_at = Some(e.recorded_at);
            }
            InventoryItemEvent::LowStockReached(_) => self.low = true,
            InventoryItemEvent::StockReplenished(_) => self.low = false,
        }
    }
}
