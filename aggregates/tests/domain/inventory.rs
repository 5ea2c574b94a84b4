//! Given/when/then tests of the `InventoryItem` aggregate, and properties of
//! its stock: never negative, the sum of the accepted changes, and reorder
//! signals that alternate.

use aggregates::inventory::{
    CreateItem, InventoryAction, InventoryCommand, InventoryError, InventoryItem, ItemDetailsInput,
    RecordTransaction, TransferIn, TransferOut, weighted_average,
};
use aggregates::{DomainError, ErrorKind, TenantOwned, ValidationErrors};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::inventory::{
    InventoryItemCreated, InventoryItemDetails, InventoryItemEvent, InventoryItemUpdated,
    InventoryTransactionRecorded, InventoryTransactionType, LowStockReached, StockReplenished,
    Supplier, TransferLeg,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

use InventoryTransactionType::*;

const ITEM_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_7001);
const OTHER_ITEM: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_7002);
const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);
const TX_1: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_8001);
const TX_2: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_8002);
const TRANSFER: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_9001);
const AT: &str = "2026-05-01T08:00:00Z";

fn ts(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339 timestamp")
        .to_utc()
}

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").expect("valid tenant id")
}

fn command(action: InventoryAction) -> InventoryCommand {
    InventoryCommand {
        at: ts(AT),
        actor: ACTOR,
        action,
    }
}

fn run(
    history: &[InventoryItemEvent],
    action: InventoryAction,
) -> Result<Vec<InventoryItemEvent>, InventoryError> {
    TestFramework::<InventoryItem>::with(())
        .given(history.to_vec())
        .when(command(action))
        .inspect_result()
}

fn expect(
    history: &[InventoryItemEvent],
    action: InventoryAction,
    events: Vec<InventoryItemEvent>,
) {
    TestFramework::<InventoryItem>::with(())
        .given(history.to_vec())
        .when(command(action))
        .then_expect_events(events);
}

fn rule(error: &InventoryError) -> &'static str {
    match error.kind() {
        ErrorKind::Conflict { rule } => rule,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn state(events: &[InventoryItemEvent]) -> InventoryItem {
    let mut item = InventoryItem::default();
    for e in events {
        item.apply(e.clone());
    }
    item
}

fn details_input() -> ItemDetailsInput {
    ItemDetailsInput {
        sku: "BOX-M".into(),
        barcode: Some("0123456789012".into()),
        name: " Medium box ".into(),
        description: None,
        category: "Boxes".into(),
        subcategory: None,
        min_quantity: dec!(10),
        max_quantity: Some(dec!(500)),
        unit_cost: dec!(1.2),
        unit_price: dec!(3.5),
        supplier: Some(Supplier {
            name: "Cartons Québec".into(),
            contact: Some("Marie".into()),
            email: Some("ventes@Cartons.QC.ca".into()),
            phone: Some("(514) 555-0123".into()),
            lead_time_days: Some(5),
        }),
        expiry_date: None,
    }
}

fn details() -> InventoryItemDetails {
    InventoryItemDetails {
        sku: "BOX-M".into(),
        barcode: Some("0123456789012".into()),
        name: "Medium box".into(),
        description: None,
        category: "Boxes".into(),
        subcategory: None,
        min_quantity: dec!(10),
        max_quantity: Some(dec!(500)),
        unit_cost: dec!(1.20),
        unit_price: dec!(3.50),
        supplier: Some(Supplier {
            name: "Cartons Québec".into(),
            contact: Some("Marie".into()),
            email: Some("ventes@cartons.qc.ca".into()),
            phone: Some("+15145550123".into()),
            lead_time_days: Some(5),
        }),
        expiry_date: None,
    }
}

fn created() -> InventoryItemEvent {
    InventoryItemCreated {
        tenant_id: tenant(),
        item_id: ITEM_ID,
        location_id: "montreal-east".into(),
        details: details(),
        created_by: ACTOR,
        created_at: ts(AT),
    }
    .into()
}

fn record(id: Uuid, kind: InventoryTransactionType, quantity: Decimal) -> InventoryAction {
    InventoryAction::Record(RecordTransaction {
        transaction_id: id,
        transaction_type: kind,
        quantity,
        unit_cost: (kind == Purchase).then_some(dec!(1.00)),
        reference: None,
        notes: None,
    })
}

fn tx(
    id: Uuid,
    kind: InventoryTransactionType,
    change: Decimal,
    unit_cost: Option<Decimal>,
    after: Decimal,
    average: Decimal,
) -> InventoryItemEvent {
    InventoryTransactionRecorded {
        transaction_id: id,
        transaction_type: kind,
        quantity_change: change,
        unit_cost,
        quantity_after: after,
        average_cost_after: average,
        reference: None,
        notes: None,
        transfer: None,
        recorded_by: ACTOR,
        recorded_at: ts(AT),
    }
    .into()
}

/// 40 bought at 1.00: stock 40 (above the reorder point of 10).
fn stocked() -> Vec<InventoryItemEvent> {
    vec![
        created(),
        tx(
            TX_1,
            Purchase,
            dec!(40),
            Some(dec!(1.0000)),
            dec!(40),
            dec!(1.0000),
        ),
        StockReplenished {
            quantity: dec!(40),
            reorder_point: dec!(10),
        }
        .into(),
    ]
}

// ---------------------------------------------------------------- create and update

#[test]
fn creating_an_item_normalizes_its_details_and_starts_at_zero() {
    expect(
        &[],
        InventoryAction::Create(CreateItem {
            item_id: ITEM_ID,
            tenant_id: tenant(),
            location_id: "montreal-east".into(),
            details: details_input(),
        }),
        vec![created()],
    );
    let item = state(&[created()]);
    assert!(item.is_created());
    assert_eq!(item.quantity(), Decimal::ZERO);
    assert!(item.is_low(), "0 is at or below any reorder point");
    assert_eq!(item.location_id(), Some("montreal-east"));
    assert_eq!(item.tenant(), Some(&tenant()));
}

#[test]
fn every_invalid_detail_is_reported_at_once() {
    let input = ItemDetailsInput {
        sku: " ".into(),
        min_quantity: dec!(-1),
        max_quantity: Some(dec!(0.0001)),
        unit_price: dec!(-2),
        supplier: Some(Supplier {
            name: "".into(),
            contact: None,
            email: Some("nope".into()),
            phone: None,
            lead_time_days: Some(400),
        }),
        ..details_input()
    };
    let err = run(
        &[],
        InventoryAction::Create(CreateItem {
            item_id: ITEM_ID,
            tenant_id: tenant(),
            location_id: "a b".into(),
            details: input,
        }),
    )
    .unwrap_err();
    let InventoryError::Invalid(errors) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        [
            "location_id",
            "sku",
            "min_quantity",
            "max_quantity",
            "unit_price",
            "supplier.name",
            "supplier.email",
            "supplier.lead_time_days"
        ]
    );
}

#[test]
fn max_quantity_may_not_be_below_the_reorder_point() {
    let input = ItemDetailsInput {
        max_quantity: Some(dec!(5)),
        ..details_input()
    };
    let err = run(&[created()], InventoryAction::Update(input)).unwrap_err();
    assert_eq!(
        err,
        InventoryError::Invalid(ValidationErrors::single(
            "max_quantity",
            "must not be less than min_quantity"
        ))
    );
}

#[test]
fn creating_twice_is_refused() {
    let err = run(
        &[created()],
        InventoryAction::Create(CreateItem {
            item_id: ITEM_ID,
            tenant_id: tenant(),
            location_id: "montreal-east".into(),
            details: details_input(),
        }),
    )
    .unwrap_err();
    assert_eq!(err, InventoryError::AlreadyExists(ITEM_ID));
    assert_eq!(rule(&err), "inventory.already-exists");
}

#[test]
fn commands_on_a_missing_item_are_not_found() {
    let err = run(&[], record(TX_1, Sale, dec!(1))).unwrap_err();
    assert_eq!(err, InventoryError::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn updating_lists_the_changed_fields_and_the_same_details_do_nothing() {
    let input = ItemDetailsInput {
        unit_price: dec!(3.75),
        ..details_input()
    };
    expect(
        &[created()],
        InventoryAction::Update(input),
        vec![
            InventoryItemUpdated {
                details: InventoryItemDetails {
                    unit_price: dec!(3.75),
                    ..details()
                },
                changed_fields: vec!["unit_price".into()],
                updated_by: ACTOR,
                updated_at: ts(AT),
            }
            .into(),
        ],
    );
    expect(
        &[created()],
        InventoryAction::Update(details_input()),
        vec![],
    );
}

#[test]
fn raising_the_reorder_point_above_the_stock_signals_low_stock() {
    let input = ItemDetailsInput {
        min_quantity: dec!(50),
        max_quantity: None,
        ..details_input()
    };
    let events = run(&stocked(), InventoryAction::Update(input)).unwrap();
    assert_eq!(
        events[1],
        LowStockReached {
            quantity: dec!(40),
            reorder_point: dec!(50)
        }
        .into()
    );
}

// ---------------------------------------------------------------- transactions

#[test]
fn a_purchase_adds_stock_at_its_cost_and_replenishes() {
    expect(
        &[created()],
        InventoryAction::Record(RecordTransaction {
            transaction_id: TX_1,
            transaction_type: Purchase,
            quantity: dec!(40),
            unit_cost: Some(dec!(1)),
            reference: Some("PO-118".into()),
            notes: None,
        }),
        vec![
            InventoryTransactionRecorded {
                reference: Some("PO-118".into()),
                ..match tx(
                    TX_1,
                    Purchase,
                    dec!(40),
                    Some(dec!(1.0000)),
                    dec!(40),
                    dec!(1.0000),
                ) {
                    InventoryItemEvent::InventoryTransactionRecorded(e) => e,
                    _ => unreachable!(),
                }
            }
            .into(),
            StockReplenished {
                quantity: dec!(40),
                reorder_point: dec!(10),
            }
            .into(),
        ],
    );
}

#[test]
fn a_purchase_needs_a_unit_cost() {
    let err = run(
        &[created()],
        InventoryAction::Record(RecordTransaction {
            transaction_id: TX_1,
            transaction_type: Purchase,
            quantity: dec!(1),
            unit_cost: None,
            reference: None,
            notes: None,
        }),
    )
    .unwrap_err();
    assert_eq!(
        err,
        InventoryError::Invalid(ValidationErrors::single(
            "unit_cost",
            "is required for a purchase"
        ))
    );
}

#[test]
fn purchases_move_the_weighted_average_and_sales_do_not() {
    let mut history = stocked();
    // 40 at 1.00 + 20 at 2.50 = 60 at (40 + 50) / 60 = 1.5000.
    let events = run(
        &history,
        InventoryAction::Record(RecordTransaction {
            transaction_id: TX_2,
            transaction_type: Purchase,
            quantity: dec!(20),
            unit_cost: Some(dec!(2.50)),
            reference: None,
            notes: None,
        }),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![tx(
            TX_2,
            Purchase,
            dec!(20),
            Some(dec!(2.5000)),
            dec!(60),
            dec!(1.5000)
        )]
    );
    history.extend(events);
    let sale = Uuid::from_u128(3);
    let events = run(&history, record(sale, Sale, dec!(15))).unwrap();
    assert_eq!(
        events,
        vec![tx(sale, Sale, dec!(-15), None, dec!(45), dec!(1.5000))]
    );
    assert_eq!(
        state(&[history, events].concat()).average_cost(),
        dec!(1.5000)
    );
}

#[test]
fn the_average_cost_rounds_half_up_to_four_decimals() {
    // (1 × 1 + 2 × 0.5) / 3 = 0.6666… → 0.6667.
    assert_eq!(
        weighted_average(dec!(1), dec!(1), dec!(2), dec!(0.5)),
        dec!(0.6667)
    );
    assert_eq!(
        weighted_average(dec!(0), dec!(9), dec!(2), dec!(0.5)),
        dec!(0.5000)
    );
}

#[test]
fn an_outflow_larger_than_the_stock_is_refused_and_names_the_stock() {
    for kind in [Sale, Damage, Expiry] {
        let err = run(&stocked(), record(TX_2, kind, dec!(41))).unwrap_err();
        assert_eq!(
            err,
            InventoryError::InsufficientStock {
                in_stock: dec!(40),
                requested: dec!(41)
            }
        );
        assert_eq!(rule(&err), "inventory.insufficient-stock");
        assert_eq!(err.to_string(), "only 40 in stock, 41 requested");
    }
    let err = run(&stocked(), record(TX_2, Adjustment, dec!(-41))).unwrap_err();
    assert_eq!(rule(&err), "inventory.insufficient-stock");
}

#[test]
fn falling_to_the_reorder_point_signals_low_stock_once() {
    let mut history = stocked();
    let events = run(&history, record(TX_2, Sale, dec!(30))).unwrap();
    assert_eq!(
        events,
        vec![
            tx(TX_2, Sale, dec!(-30), None, dec!(10), dec!(1.0000)),
            LowStockReached {
                quantity: dec!(10),
                reorder_point: dec!(10)
            }
            .into()
        ]
    );
    history.extend(events);
    let again = Uuid::from_u128(4);
    let events = run(&history, record(again, Damage, dec!(2))).unwrap();
    assert_eq!(
        events,
        vec![tx(again, Damage, dec!(-2), None, dec!(8), dec!(1.0000))],
        "no second signal while still low"
    );
}

#[test]
fn adjustments_go_either_way_without_touching_the_average() {
    let events = run(&stocked(), record(TX_2, Adjustment, dec!(2.5))).unwrap();
    assert_eq!(
        events,
        vec![tx(
            TX_2,
            Adjustment,
            dec!(2.5),
            None,
            dec!(42.5),
            dec!(1.0000)
        )]
    );
    let events = run(&stocked(), record(TX_2, Adjustment, dec!(-0.125))).unwrap();
    assert_eq!(
        events,
        vec![tx(
            TX_2,
            Adjustment,
            dec!(-0.125),
            None,
            dec!(39.875),
            dec!(1.0000)
        )]
    );
}

#[test]
fn quantities_are_positive_with_at_most_three_decimals_and_transfers_use_their_commands() {
    for (kind, q, field) in [
        (Sale, dec!(0), "quantity"),
        (Sale, dec!(-1), "quantity"),
        (Purchase, dec!(1.0001), "quantity"),
        (Adjustment, dec!(0), "quantity"),
        (Transfer, dec!(1), "transaction_type"),
    ] {
        let err = run(&stocked(), record(TX_2, kind, q)).unwrap_err();
        let InventoryError::Invalid(errors) = err else {
            panic!("expected Invalid for {kind} {q}, got {err:?}");
        };
        assert_eq!(errors.fields().collect::<Vec<_>>(), [field], "{kind} {q}");
    }
}

#[test]
fn a_transaction_id_is_recorded_once() {
    let err = run(&stocked(), record(TX_1, Sale, dec!(1))).unwrap_err();
    assert_eq!(err, InventoryError::DuplicateTransaction(TX_1));
    assert_eq!(rule(&err), "inventory.duplicate-transaction");
}

// ---------------------------------------------------------------- transfers

fn transfer_out(quantity: Decimal) -> InventoryAction {
    InventoryAction::TransferOut(TransferOut {
        transaction_id: TX_2,
        transfer_id: TRANSFER,
        quantity,
        to_item_id: OTHER_ITEM,
        to_location_id: "laval".into(),
        reference: None,
        notes: None,
    })
}

fn transfer_in(quantity: Decimal, unit_cost: Decimal) -> InventoryAction {
    InventoryAction::TransferIn(TransferIn {
        transaction_id: TX_2,
        transfer_id: TRANSFER,
        quantity,
        unit_cost,
        from_item_id: OTHER_ITEM,
        from_location_id: "laval".into(),
        reference: None,
        notes: None,
    })
}

#[test]
fn a_transfer_out_leaves_at_the_average_cost_with_its_leg() {
    expect(
        &stocked(),
        transfer_out(dec!(5)),
        vec![
            InventoryTransactionRecorded {
                transaction_id: TX_2,
                transaction_type: Transfer,
                quantity_change: dec!(-5),
                unit_cost: Some(dec!(1.0000)),
                quantity_after: dec!(35),
                average_cost_after: dec!(1.0000),
                reference: None,
                notes: None,
                transfer: Some(TransferLeg {
                    transfer_id: TRANSFER,
                    counterpart_item_id: OTHER_ITEM,
                    counterpart_location_id: "laval".into(),
                }),
                recorded_by: ACTOR,
                recorded_at: ts(AT),
            }
            .into(),
        ],
    );
}

#[test]
fn a_transfer_out_needs_the_stock_and_happens_once() {
    let err = run(&stocked(), transfer_out(dec!(50))).unwrap_err();
    assert_eq!(
        err,
        InventoryError::InsufficientStock {
            in_stock: dec!(40),
            requested: dec!(50)
        }
    );
    let mut history = stocked();
    history.extend(run(&history, transfer_out(dec!(5))).unwrap());
    let again = InventoryAction::TransferOut(TransferOut {
        transaction_id: Uuid::from_u128(9),
        transfer_id: TRANSFER,
        quantity: dec!(5),
        to_item_id: OTHER_ITEM,
        to_location_id: "laval".into(),
        reference: None,
        notes: None,
    });
    let err = run(&history, again).unwrap_err();
    assert_eq!(err, InventoryError::DuplicateTransfer(TRANSFER));
    assert_eq!(rule(&err), "inventory.duplicate-transfer");
}

#[test]
fn a_transfer_to_itself_is_invalid() {
    let action = InventoryAction::TransferOut(TransferOut {
        transaction_id: TX_2,
        transfer_id: TRANSFER,
        quantity: dec!(1),
        to_item_id: ITEM_ID,
        to_location_id: "laval".into(),
        reference: None,
        notes: None,
    });
    let err = run(&stocked(), action).unwrap_err();
    assert_eq!(
        err,
        InventoryError::Invalid(ValidationErrors::single(
            "to_item_id",
            "must be another item"
        ))
    );
}

#[test]
fn a_transfer_in_moves_the_average_and_is_applied_once() {
    // 40 at 1.00 + 10 at 2.00 = 50 at 1.2000.
    let events = run(&stocked(), transfer_in(dec!(10), dec!(2))).unwrap();
    let InventoryItemEvent::InventoryTransactionRecorded(e) = &events[0] else {
        panic!("expected a transaction");
    };
    assert_eq!(
        (
            e.quantity_change,
            e.quantity_after,
            e.average_cost_after,
            e.unit_cost
        ),
        (dec!(10), dec!(50), dec!(1.2000), Some(dec!(2.0000)))
    );
    assert_eq!(
        e.transfer.as_ref().map(|t| t.counterpart_item_id),
        Some(OTHER_ITEM)
    );
    let history = [stocked(), events].concat();
    assert!(state(&history).has_received(TRANSFER));
    expect(&history, transfer_in(dec!(10), dec!(2)), vec![]);
}

#[test]
fn a_transfer_in_from_empty_stock_replenishes() {
    let events = run(&[created()], transfer_in(dec!(11), dec!(0.5))).unwrap();
    assert_eq!(
        events[1],
        StockReplenished {
            quantity: dec!(11),
            reorder_point: dec!(10)
        }
        .into()
    );
}

// ---------------------------------------------------------------- property

#[derive(Clone, Debug)]
enum Op {
    Record(InventoryTransactionType, Decimal),
    Out(Decimal),
    In(Decimal, Decimal),
}

fn qty() -> impl Strategy<Value = Decimal> {
    (1i64..=60_000).prop_map(|milli| Decimal::new(milli, 3))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        qty().prop_map(|q| Op::Record(Purchase, q)),
        qty().prop_map(|q| Op::Record(Sale, q)),
        qty().prop_map(|q| Op::Record(Damage, q)),
        qty().prop_map(|q| Op::Record(Expiry, q)),
        (qty(), any::<bool>())
            .prop_map(|(q, neg)| Op::Record(Adjustment, if neg { -q } else { q })),
        qty().prop_map(Op::Out),
        (qty(), 0i64..1000).prop_map(|(q, c)| Op::In(q, Decimal::new(c, 2))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn stock_is_never_negative_equals_the_accepted_changes_and_signals_alternate(
        ops in prop::collection::vec(op(), 0..60),
        reorder in 0i64..40,
    ) {
        let created = InventoryItemCreated {
            details: InventoryItemDetails { min_quantity: Decimal::from(reorder), max_quantity: None, ..details() },
            ..match created() { InventoryItemEvent::InventoryItemCreated(e) => e, _ => unreachable!() }
        };
        let mut item = InventoryItem::default();
        item.apply(created.into());
        let mut sum = Decimal::ZERO;
        // The item starts low (0 ≤ reorder point): the first signal is a replenishment.
        let mut low = true;
        for (i, op) in ops.into_iter().enumerate() {
            let id = Uuid::from_u128(1000 + i as u128);
            let action = match op {
                Op::Record(kind, q) => InventoryAction::Record(RecordTransaction {
                    transaction_id: id,
                    transaction_type: kind,
                    quantity: q,
                    unit_cost: (kind == Purchase).then_some(dec!(1.25)),
                    reference: None,
                    notes: None,
                }),
                Op::Out(q) => InventoryAction::TransferOut(TransferOut {
                    transaction_id: id, transfer_id: Uuid::from_u128(5000 + i as u128), quantity: q,
                    to_item_id: OTHER_ITEM, to_location_id: "laval".into(), reference: None, notes: None,
                }),
                Op::In(q, c) => InventoryAction::TransferIn(TransferIn {
                    transaction_id: id, transfer_id: Uuid::from_u128(5000 + i as u128), quantity: q, unit_cost: c,
                    from_item_id: OTHER_ITEM, from_location_id: "laval".into(), reference: None, notes: None,
                }),
            };
            let before = item.quantity();
            match item.decide(command(action)) {
                Ok(events) => {
                    for event in events {
                        match &event {
                            InventoryItemEvent::InventoryTransactionRecorded(e) => {
                                sum += e.quantity_change;
                                prop_assert_eq!(e.quantity_after, before + e.quantity_change);
                                prop_assert!(e.quantity_change.normalize().scale() <= 3);
                                prop_assert_eq!(e.average_cost_after.scale(), 4);
                            }
                            InventoryItemEvent::LowStockReached(e) => {
                                prop_assert!(!low, "LowStockReached twice in a row");
                                prop_assert!(e.quantity <= e.reorder_point);
                                low = true;
                            }
                            InventoryItemEvent::StockReplenished(e) => {
                                prop_assert!(low, "StockReplenished twice in a row");
                                prop_assert!(e.quantity > e.reorder_point);
                                low = false;
                            }
                            other => prop_assert!(false, "unexpected {:?}", other),
                        }
                        item.apply(event);
                    }
                }
                Err(InventoryError::InsufficientStock { in_stock, requested }) => {
                    prop_assert_eq!(in_stock, before);
                    prop_assert!(requested > before);
                }
                Err(other) => prop_assert!(false, "unexpected refusal {:?}", other),
            }
            prop_assert!(item.quantity() >= Decimal::ZERO);
            prop_assert_eq!(item.quantity(), sum);
            prop_assert_eq!(item.is_low(), item.quantity() <= Decimal::from(reorder));
            prop_assert_eq!(item.is_low(), low);
        }
    }
}
