//! `read.inventory_items`: one row per stocked item at a location: SKU,
//! barcode, name, category, quantity, reorder point (`min_quantity`),
//! `max_quantity`, list unit cost, weighted average cost, unit price,
//! supplier, expiry, `low_stock` and the last transaction. `stock_quantity`
//! and average cost are the last transaction's `quantity_after` and
//! `average_cost_after`, never recomputed; the `quantity` readers see is
//! `stock_quantity - pending_delta` (see transfers below). `low_stock` starts
//! true (an item is created with quantity 0), `LowStockReached` sets it and
//! `StockReplenished` clears it. `version` is the item's aggregate sequence.
//!
//! `read.inventory_transactions`: one row per transaction (transfer legs
//! name their transfer and counterpart; `pending` while the leg is unpaired).
//!
//! `read.inventory_transfers`: one row per transfer, and what makes a
//! transfer atomic for readers. A transfer is two events on two items (out
//! of the source, into the destination, one `transfer_id`), which may reach
//! the projection in different batches, in either order. Every event is
//! applied to its item as it arrives (nothing is held, so transfers crossing
//! in opposite directions cannot block each other). The first leg seen makes
//! the row (status PENDING, `pending_item_id`, `pending_change`) and adds its
//! `quantity_change` to its item's `pending_delta`, so the visible
//! `quantity` stays as it was. The batch that sees the other leg takes the
//! first one's change back out of its item's `pending_delta` and applies the
//! second without one, in one transaction (status COMPLETED): readers see
//! both quantities changed or neither.

use event_schemas::inventory::{
    InventoryItemCreated, InventoryItemDetails, InventoryItemEvent, InventoryTransactionRecorded,
    TransferLeg,
};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{ProjectedEvent, Projection, ProjectionError, Statement, on_aggregate, placeholders};

pub struct Inventory;

const DDL: &str = r#"
CREATE TABLE inventory_items (
    tenant_id           text           NOT NULL,
    id                  uuid           NOT NULL,
    location_id         text           NOT NULL,
    sku                 text           NOT NULL,
    barcode             text,
    name                text           NOT NULL,
    description         text,
    category            text           NOT NULL,
    subcategory         text,
    min_quantity        numeric(14, 3) NOT NULL,
    max_quantity        numeric(14, 3),
    unit_cost           numeric(14, 4) NOT NULL,
    unit_price          numeric(14, 2) NOT NULL,
    supplier            jsonb,
    expiry_date         date,
    quantity            numeric(14, 3) NOT NULL DEFAULT 0,
    stock_quantity      numeric(14, 3) NOT NULL DEFAULT 0,
    pending_delta       numeric(14, 3) NOT NULL DEFAULT 0,
    average_cost        numeric(14, 4) NOT NULL DEFAULT 0,
    low_stock           boolean        NOT NULL DEFAULT true,
    last_transaction_at timestamptz,
    created_by          uuid           NOT NULL,
    created_at          timestamptz    NOT NULL,
    updated_at          timestamptz    NOT NULL,
    version             bigint         NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX inventory_items_newest ON inventory_items (tenant_id, created_at DESC, id DESC);
CREATE INDEX inventory_items_by_location ON inventory_items (tenant_id, location_id, category);
CREATE INDEX inventory_items_low_stock ON inventory_items (tenant_id) WHERE low_stock;
CREATE TABLE inventory_transactions (
    tenant_id               text           NOT NULL,
    item_id                 uuid           NOT NULL,
    transaction_id          uuid           NOT NULL,
    transaction_type        text           NOT NULL,
    quantity_change         numeric(14, 3) NOT NULL,
    unit_cost               numeric(14, 4),
    quantity_after          numeric(14, 3) NOT NULL,
    average_cost_after      numeric(14, 4) NOT NULL,
    reference               text,
    notes                   text,
    transfer_id             uuid,
    counterpart_item_id     uuid,
    counterpart_location_id text,
    pending                 boolean        NOT NULL DEFAULT false,
    recorded_by             uuid           NOT NULL,
    recorded_at             timestamptz    NOT NULL,
    sequence                bigint         NOT NULL,
    PRIMARY KEY (tenant_id, item_id, transaction_id)
);
CREATE INDEX inventory_transactions_newest ON inventory_transactions (tenant_id, item_id, sequence DESC);
CREATE TABLE inventory_transfers (
    tenant_id        text           NOT NULL,
    transfer_id      uuid           NOT NULL,
    status           text           NOT NULL,
    from_item_id     uuid           NOT NULL,
    from_location_id text,
    to_item_id       uuid           NOT NULL,
    to_location_id   text,
    quantity         numeric(14, 3) NOT NULL,
    unit_cost        numeric(14, 4),
    out_recorded_at  timestamptz,
    in_recorded_at   timestamptz,
    pending_item_id  uuid,
    pending_change   numeric(14, 3),
    PRIMARY KEY (tenant_id, transfer_id)
);
CREATE INDEX inventory_transfers_pending ON inventory_transfers (tenant_id, pending_item_id) WHERE status = 'PENDING';
"#;

/// The columns [`bind_details`] fills, in its order.
const DETAILS_COLUMNS: &str = "sku, barcode, name, description, category, subcategory, min_quantity, max_quantity, \
     unit_cost, unit_price, supplier, expiry_date";
const DETAILS_COUNT: usize = 12;

fn bind_details<'q>(query: Statement<'q>, d: &InventoryItemDetails) -> Statement<'q> {
    query
        .bind(d.sku.clone())
        .bind(d.barcode.clone())
        .bind(d.name.clone())
        .bind(d.description.clone())
        .bind(d.category.clone())
        .bind(d.subcategory.clone())
        .bind(d.min_quantity)
        .bind(d.max_quantity)
        .bind(d.unit_cost)
        .bind(d.unit_price)
        .bind(d.supplier.clone().map(Json))
        .bind(d.expiry_date)
}

#[async_trait::async_trait]
impl Projection for Inventory {
    fn name(&self) -> &'static str {
        "inventory"
    }

    fn version(&self) -> i32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "inventory_items",
            "inventory_transactions",
            "inventory_transfers",
        ]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<InventoryItemEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, InventoryItemEvent::InventoryItemCreated(_));
        if crate::applies(conn, "inventory_items", ev, first).await? {
            apply_event(conn, ev, event).await?;
        }
        Ok(())
    }
}

/// Records a transfer leg of the event's item, before the caller applies the
/// event. `false` for the first leg seen (the caller makes its change
/// pending); `true` for the second, whose transfer is now complete: the
/// first leg's pending change is taken out of its item here.
async fn record_leg(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    tx: &InventoryTransactionRecorded,
    leg: &TransferLeg,
) -> Result<bool, ProjectionError> {
    let tenant = ev.event.tenant.as_str();
    let item = ev.aggregate_uuid()?;
    let out = tx.quantity_change < Decimal::ZERO;
    type First = (String, Option<Uuid>, Option<Decimal>);
    let first: Option<First> = sqlx::query_as(
        "SELECT status, pending_item_id, pending_change FROM inventory_transfers
          WHERE tenant_id = $1 AND transfer_id = $2",
    )
    .bind(tenant)
    .bind(leg.transfer_id)
    .fetch_optional(&mut *conn)
    .await?;
    match first {
        None => {
            start_transfer(conn, ev, tx, leg, item).await?;
            Ok(false)
        }
        Some((status, Some(other), Some(change)))
            if status == "PENDING" && other != item && (change < Decimal::ZERO) != out =>
        {
            // The other leg's item: its change becomes visible now, with ours.
            sqlx::query(
                "UPDATE inventory_items
                    SET pending_delta = pending_delta - $3, quantity = stock_quantity - (pending_delta - $3)
                  WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(other)
            .bind(change)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE inventory_transactions SET pending = false
                  WHERE tenant_id = $1 AND item_id = $2 AND transfer_id = $3",
            )
            .bind(tenant)
            .bind(other)
            .bind(leg.transfer_id)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE inventory_transfers
                    SET status = 'COMPLETED', pending_item_id = NULL, pending_change = NULL,
                        out_recorded_at = coalesce(out_recorded_at, $3),
                        in_recorded_at = coalesce(in_recorded_at, $3)
                  WHERE tenant_id = $1 AND transfer_id = $2",
            )
            .bind(tenant)
            .bind(leg.transfer_id)
            .bind(tx.recorded_at)
            .execute(&mut *conn)
            .await?;
            Ok(true)
        }
        Some(_) => Err(ProjectionError::Decode(format!(
            "transfer {} (stream seq {}): a second leg on item {item}, in the same direction, or a third leg",
            leg.transfer_id, ev.stream_seq
        ))),
    }
}

/// Makes the row of a transfer whose first leg (on `item`) this is.
async fn start_transfer(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    tx: &InventoryTransactionRecorded,
    leg: &TransferLeg,
    item: Uuid,
) -> Result<(), ProjectionError> {
    let location: Option<String> = sqlx::query_scalar(
        "SELECT location_id FROM inventory_items WHERE tenant_id = $1 AND id = $2",
    )
    .bind(ev.event.tenant.as_str())
    .bind(item)
    .fetch_optional(&mut *conn)
    .await?;
    let out = tx.quantity_change < Decimal::ZERO;
    let (from, from_location, to, to_location) = if out {
        (
            item,
            location,
            leg.counterpart_item_id,
            Some(leg.counterpart_location_id.clone()),
        )
    } else {
        (
            leg.counterpart_item_id,
            Some(leg.counterpart_location_id.clone()),
            item,
            location,
        )
    };
    sqlx::query(
        "INSERT INTO inventory_transfers (tenant_id, transfer_id, status, from_item_id, from_location_id, to_item_id,
                                          to_location_id, quantity, unit_cost, out_recorded_at, in_recorded_at,
                                          pending_item_id, pending_change)
         VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(ev.event.tenant.as_str())
    .bind(leg.transfer_id)
    .bind(from)
    .bind(from_location)
    .bind(to)
    .bind(to_location)
    .bind(tx.quantity_change.abs())
    .bind(tx.unit_cost)
    .bind(out.then_some(tx.recorded_at))
    .bind((!out).then_some(tx.recorded_at))
    .bind(item)
    .bind(tx.quantity_change)
    .execute(conn)
    .await?;
    Ok(())
}

/// The aggregate's first event inserts its row.
async fn create(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    d: &InventoryItemCreated,
) -> Result<(), ProjectionError> {
    let e = &ev.event;
    let sql = format!(
        "INSERT INTO inventory_items (tenant_id, id, {DETAILS_COLUMNS}, location_id, created_by, created_at,
                                      version, updated_at)
         VALUES ($1, $2, {})",
        placeholders(3, DETAILS_COUNT + 5),
    );
    bind_details(on_aggregate(&sql, ev)?, &d.details)
        .bind(&d.location_id)
        .bind(d.created_by)
        .bind(d.created_at)
        .bind(e.sequence)
        .bind(e.time)
        .execute(conn)
        .await?;
    Ok(())
}

/// The first event inserts the row, a later one updates it (its version
/// was advanced already).
async fn apply_event(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: &InventoryItemEvent,
) -> Result<(), ProjectionError> {
    match event {
        InventoryItemEvent::InventoryItemCreated(d) => create(conn, ev, d).await?,
        InventoryItemEvent::InventoryItemUpdated(d) => {
            let sql = format!(
                "UPDATE inventory_items SET ({DETAILS_COLUMNS}) = ({}) WHERE tenant_id = $1 AND id = $2",
                placeholders(3, DETAILS_COUNT)
            );
            bind_details(on_aggregate(&sql, ev)?, &d.details)
                .execute(conn)
                .await?;
        }
        InventoryItemEvent::InventoryTransactionRecorded(d) => {
            let leg = d.transfer.as_ref();
            // An unpaired transfer leg's change stays out of the visible quantity.
            let pending = match leg {
                Some(leg) => !record_leg(conn, ev, d, leg).await?,
                None => false,
            };
            let delta = if pending {
                d.quantity_change
            } else {
                Decimal::ZERO
            };
            on_aggregate(
                "INSERT INTO inventory_transactions (tenant_id, item_id, transaction_id, transaction_type,
                        quantity_change, unit_cost, quantity_after, average_cost_after, reference, notes,
                        transfer_id, counterpart_item_id, counterpart_location_id, pending, recorded_by,
                        recorded_at, sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                ev,
            )?
            .bind(d.transaction_id)
            .bind(d.transaction_type.as_str())
            .bind(d.quantity_change)
            .bind(d.unit_cost)
            .bind(d.quantity_after)
            .bind(d.average_cost_after)
            .bind(&d.reference)
            .bind(&d.notes)
            .bind(leg.map(|l| l.transfer_id))
            .bind(leg.map(|l| l.counterpart_item_id))
            .bind(leg.map(|l| l.counterpart_location_id.clone()))
            .bind(pending)
            .bind(d.recorded_by)
            .bind(d.recorded_at)
            .bind(ev.event.sequence)
            .execute(&mut *conn)
            .await?;
            on_aggregate(
                "UPDATE inventory_items
                    SET stock_quantity = $3, pending_delta = pending_delta + $4,
                        quantity = $3 - (pending_delta + $4), average_cost = $5, last_transaction_at = $6
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.quantity_after)
            .bind(delta)
            .bind(d.average_cost_after)
            .bind(d.recorded_at)
            .execute(conn)
            .await?;
        }
        InventoryItemEvent::LowStockReached(_) | InventoryItemEvent::StockReplenished(_) => {
            on_aggregate(
                "UPDATE inventory_items SET low_stock = $3 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(matches!(event, InventoryItemEvent::LowStockReached(_)))
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}
