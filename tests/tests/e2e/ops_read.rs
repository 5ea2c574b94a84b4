//! The read side of equipment, assignments and inventory.
//!
//! As in `sales_read`, the events go straight into the event store (the
//! write side is built elsewhere), consistent with its booking trigger (no
//! overlapping assignments or maintenance windows per piece of equipment;
//! serial numbers unique per tenant, SKUs per location); the relay publishes
//! them, the projectors apply them, and everything is read back through the
//! real router.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use crm_tests::{TestApp, TestResponse};
use event_schemas::assignment::{self, EquipmentAssignmentEvent};
use event_schemas::equipment::{
    self, Depreciation, DepreciationMethod, EquipmentDetails, EquipmentEvent, EquipmentType,
    MaintenanceSchedule, MaintenanceType,
};
use event_schemas::inventory::{
    self, InventoryItemDetails, InventoryItemEvent, InventoryTransactionType, TransferLeg,
};
use event_schemas::{Role, TenantId};
use rust_decimal::Decimal;
use serde_json::Map;
use uuid::Uuid;

use crate::sales_read::Feed;

fn m(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

fn day(y: i32, mo: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, mo, d).unwrap()
}

fn details(
    name: &str,
    kind: EquipmentType,
    location: &str,
    serial: &str,
    interval_days: Option<u32>,
) -> EquipmentDetails {
    EquipmentDetails {
        location_id: location.to_owned(),
        name: name.to_owned(),
        equipment_type: kind,
        serial_number: Some(serial.to_owned()),
        manufacturer: Some("Isuzu".to_owned()),
        model: None,
        year: Some(2023),
        capacity: None,
        specifications: Map::new(),
        purchase_date: None,
        purchase_price: None,
        depreciation: None,
        maintenance_schedule: MaintenanceSchedule {
            interval_days,
            interval_km: None,
        },
        current_location: None,
        assigned_user: None,
        odometer_km: None,
    }
}

/// Registered on `d` January 2026 (so lists, newest first, have an order).
fn registered(tenant: &str, id: Uuid, d: u32, details: EquipmentDetails) -> EquipmentEvent {
    equipment::EquipmentRegistered {
        tenant_id: TenantId::parse(tenant).unwrap(),
        equipment_id: id,
        details,
        registered_by: Uuid::nil(),
        registered_at: at(2026, 1, d, 9),
    }
    .into()
}

fn assigned(
    tenant: &str,
    id: Uuid,
    equipment: Uuid,
    (journey, user): (Option<Uuid>, Option<Uuid>),
    (starts, ends): (DateTime<Utc>, DateTime<Utc>),
    assigned_at: DateTime<Utc>,
) -> EquipmentAssignmentEvent {
    assignment::EquipmentAssigned {
        tenant_id: TenantId::parse(tenant).unwrap(),
        assignment_id: id,
        equipment_id: equipment,
        journey_id: journey,
        user_id: user,
        starts_at: starts,
        ends_at: ends,
        purpose: Some("move".to_owned()),
        notes: None,
        assigned_by: Uuid::nil(),
        assigned_at,
    }
    .into()
}

fn item_details(sku: &str, category: &str, min: &str) -> InventoryItemDetails {
    InventoryItemDetails {
        sku: sku.to_owned(),
        barcode: None,
        name: format!("{category} {sku}"),
        description: None,
        category: category.to_owned(),
        subcategory: None,
        min_quantity: m(min),
        max_quantity: None,
        unit_cost: m("2.50"),
        unit_price: m("4.00"),
        supplier: None,
        expiry_date: None,
    }
}

/// Created on 2 January 2026 at `hour` (so lists have an order).
fn created(
    tenant: &str,
    id: Uuid,
    (location, hour): (&str, u32),
    d: InventoryItemDetails,
) -> InventoryItemEvent {
    inventory::InventoryItemCreated {
        tenant_id: TenantId::parse(tenant).unwrap(),
        item_id: id,
        location_id: location.to_owned(),
        details: d,
        created_by: Uuid::nil(),
        created_at: at(2026, 1, 2, hour),
    }
    .into()
}

fn transaction(
    kind: InventoryTransactionType,
    change: &str,
    after: &str,
    cost: &str,
    transfer: Option<TransferLeg>,
) -> InventoryItemEvent {
    inventory::InventoryTransactionRecorded {
        transaction_id: Uuid::new_v4(),
        transaction_type: kind,
        quantity_change: m(change),
        unit_cost: Some(m(cost)),
        quantity_after: m(after),
        average_cost_after: m(cost),
        reference: None,
        notes: None,
        transfer,
        recorded_by: Uuid::nil(),
        recorded_at: at(2026, 2, 1, 9),
    }
    .into()
}

fn replenished(quantity: &str, point: &str) -> InventoryItemEvent {
    inventory::StockReplenished {
        quantity: m(quantity),
        reorder_point: m(point),
    }
    .into()
}

fn leg(transfer: Uuid, counterpart: Uuid, location: &str) -> Option<TransferLeg> {
    Some(TransferLeg {
        transfer_id: transfer,
        counterpart_item_id: counterpart,
        counterpart_location_id: location.to_owned(),
    })
}

/// The fleet and stock every test here (and the rebuild test) reads.
pub(crate) struct Fleet {
    pub truck1: Uuid,
    pub truck2: Uuid,
    pub truck3: Uuid,
    pub trailer: Uuid,
    pub dolly: Uuid,
    pub a1: Uuid,
    pub a2: Uuid,
    pub a3: Uuid,
    pub journey: Uuid,
    pub crew1: Uuid,
    pub crew2: Uuid,
    pub boxes_yyz: Uuid,
    pub boxes_yul: Uuid,
    pub tape: Uuid,
    pub blankets: Uuid,
}

/// Equipment (with a completed maintenance, a defect, a retirement),
/// assignments (one returned early, one cancelled) and stock (purchases,
/// a sale, low-stock signals and one completed transfer).
pub(crate) async fn feed_operations(app: &TestApp, tenant: &'static str) -> Fleet {
    let feed = Feed { app, tenant };
    let f = Fleet {
        truck1: Uuid::new_v4(),
        truck2: Uuid::new_v4(),
        truck3: Uuid::new_v4(),
        trailer: Uuid::new_v4(),
        dolly: Uuid::new_v4(),
        a1: Uuid::new_v4(),
        a2: Uuid::new_v4(),
        a3: Uuid::new_v4(),
        journey: Uuid::new_v4(),
        crew1: Uuid::new_v4(),
        crew2: Uuid::new_v4(),
        boxes_yyz: Uuid::new_v4(),
        boxes_yul: Uuid::new_v4(),
        tape: Uuid::new_v4(),
        blankets: Uuid::new_v4(),
    };
    let mut t1 = details("Truck 1", EquipmentType::Truck, "yyz", "T-1", Some(90));
    t1.purchase_date = Some(day(2024, 1, 1));
    t1.purchase_price = Some(m("100000"));
    t1.depreciation = Some(straight_line());
    feed.append(
        equipment::AGGREGATE_TYPE,
        f.truck1,
        [registered(tenant, f.truck1, 1, t1)],
    )
    .await;
    let maintenance = Uuid::new_v4();
    feed.append(
        equipment::AGGREGATE_TYPE,
        f.truck2,
        [
            registered(
                tenant,
                f.truck2,
                2,
                details("Truck 2", EquipmentType::Truck, "yyz", "T-2", Some(30)),
            ),
            equipment::MaintenanceScheduled {
                maintenance_id: maintenance,
                maintenance_type: MaintenanceType::Preventive,
                window_start: at(2026, 3, 10, 8),
                window_end: at(2026, 3, 10, 16),
                description: "oil".to_owned(),
                technician: None,
                scheduled_by: Uuid::nil(),
                scheduled_at: at(2026, 3, 1, 9),
            }
            .into(),
            equipment::MaintenanceStarted {
                maintenance_id: maintenance,
                started_by: Uuid::nil(),
                started_at: at(2026, 3, 10, 8),
            }
            .into(),
            equipment::MaintenanceCompleted {
                maintenance_id: maintenance,
                completed_at: at(2026, 3, 10, 16),
                completed_by: Uuid::nil(),
                cost: m("180.00"),
                parts: vec![equipment::MaintenancePart {
                    name: "oil filter".to_owned(),
                    quantity: m("1"),
                    unit_cost: m("30.00"),
                }],
                labour_hours: m("2.5"),
                technician: None,
                odometer_km: Some(120_000),
                notes: None,
                next_due_date: Some(day(2026, 4, 9)),
            }
            .into(),
        ],
    )
    .await;
    feed.append(
        equipment::AGGREGATE_TYPE,
        f.truck3,
        [registered(
            tenant,
            f.truck3,
            3,
            details("Truck 3", EquipmentType::Truck, "yyz", "T-3", None),
        )],
    )
    .await;
    let mut trailer = details("Trailer", EquipmentType::Trailer, "yul", "TR-1", Some(365));
    trailer.purchase_date = Some(day(2025, 6, 1));
    feed.append(
        equipment::AGGREGATE_TYPE,
        f.trailer,
        [
            registered(tenant, f.trailer, 4, trailer),
            equipment::DefectReported {
                defect_id: Uuid::new_v4(),
                description: "flat tyre".to_owned(),
                severity: Some(equipment::DefectSeverity::High),
                reported_by: Uuid::nil(),
                reported_at: at(2026, 3, 2, 9),
            }
            .into(),
        ],
    )
    .await;
    feed.append(
        equipment::AGGREGATE_TYPE,
        f.dolly,
        [
            registered(
                tenant,
                f.dolly,
                5,
                details("Dolly", EquipmentType::Dolly, "yyz", "D-1", Some(10)),
            ),
            equipment::EquipmentRetired {
                reason: "worn".to_owned(),
                retired_by: Uuid::nil(),
                at: at(2026, 3, 5, 0),
            }
            .into(),
        ],
    )
    .await;

    // Truck 1: 10 h on 10 March; 4 h booked on 11 March, returned after 3.
    feed.append(
        assignment::AGGREGATE_TYPE,
        f.a1,
        [assigned(
            tenant,
            f.a1,
            f.truck1,
            (Some(f.journey), Some(f.crew1)),
            (at(2026, 3, 10, 8), at(2026, 3, 10, 18)),
            at(2026, 3, 1, 9),
        )],
    )
    .await;
    feed.append(
        assignment::AGGREGATE_TYPE,
        f.a2,
        [
            assigned(
                tenant,
                f.a2,
                f.truck1,
                (None, Some(f.crew2)),
                (at(2026, 3, 11, 8), at(2026, 3, 11, 12)),
                at(2026, 3, 2, 9),
            ),
            assignment::AssignmentCheckedOut {
                checked_out_at: at(2026, 3, 11, 8),
                checked_out_by: f.crew2,
                odometer_km: Some(1000),
            }
            .into(),
            assignment::AssignmentReturned {
                returned_at: at(2026, 3, 11, 11),
                returned_by: f.crew2,
                odometer_km: Some(1080),
                condition_notes: Some("fine".to_owned()),
            }
            .into(),
        ],
    )
    .await;
    // Truck 2: booked on 11 March, then cancelled.
    feed.append(
        assignment::AGGREGATE_TYPE,
        f.a3,
        [
            assigned(
                tenant,
                f.a3,
                f.truck2,
                (None, Some(f.crew1)),
                (at(2026, 3, 11, 8), at(2026, 3, 11, 16)),
                at(2026, 3, 3, 9),
            ),
            assignment::AssignmentCancelled {
                reason: "job moved".to_owned(),
                cancelled_by: Uuid::nil(),
                cancelled_at: at(2026, 3, 4, 9),
            }
            .into(),
        ],
    )
    .await;

    use InventoryTransactionType::*;
    feed.append(
        inventory::AGGREGATE_TYPE,
        f.boxes_yyz,
        [
            created(
                tenant,
                f.boxes_yyz,
                ("yyz", 9),
                item_details("BOX-S", "Boxes", "10"),
            ),
            transaction(Purchase, "100", "100", "2.50", None),
            replenished("100", "10"),
        ],
    )
    .await;
    feed.append(
        inventory::AGGREGATE_TYPE,
        f.boxes_yul,
        [created(
            tenant,
            f.boxes_yul,
            ("yul", 10),
            item_details("BOX-S", "Boxes", "10"),
        )],
    )
    .await;
    let mut tape = item_details("TAPE", "Tape", "5");
    tape.unit_cost = m("1.25");
    feed.append(
        inventory::AGGREGATE_TYPE,
        f.tape,
        [
            created(tenant, f.tape, ("yyz", 11), tape),
            transaction(Purchase, "20", "20", "1.25", None),
            replenished("20", "5"),
            transaction(Sale, "-17", "3", "1.25", None),
            inventory::LowStockReached {
                quantity: m("3"),
                reorder_point: m("5"),
            }
            .into(),
        ],
    )
    .await;
    feed.append(
        inventory::AGGREGATE_TYPE,
        f.blankets,
        [created(
            tenant,
            f.blankets,
            ("yyz", 12),
            item_details("BLK", "Blankets", "5"),
        )],
    )
    .await;
    f
}

fn straight_line() -> Depreciation {
    Depreciation {
        method: DepreciationMethod::StraightLine,
        annual_rate: None,
        useful_life_years: Some(10),
        salvage_value: m("10000"),
    }
}

/// Moves `quantity` boxes out of `from` into `to` (the out leg first,
/// committed on its own, as two aggregates' events may be published).
pub(crate) async fn transfer_out(
    feed: &Feed<'_>,
    transfer: Uuid,
    (from, from_after): (Uuid, &str),
    (to, to_location): (Uuid, &str),
    quantity: &str,
) {
    feed.append(
        inventory::AGGREGATE_TYPE,
        from,
        [transaction(
            InventoryTransactionType::Transfer,
            &format!("-{quantity}"),
            from_after,
            "2.50",
            leg(transfer, to, to_location),
        )],
    )
    .await;
}

pub(crate) async fn transfer_in(
    feed: &Feed<'_>,
    transfer: Uuid,
    (to, to_after): (Uuid, &str),
    (from, from_location): (Uuid, &str),
    quantity: &str,
    more: Vec<InventoryItemEvent>,
) {
    let mut events = vec![transaction(
        InventoryTransactionType::Transfer,
        quantity,
        to_after,
        "2.50",
        leg(transfer, from, from_location),
    )];
    events.extend(more);
    feed.append(inventory::AGGREGATE_TYPE, to, events).await;
}

/// A completed transfer of 30 boxes yyz → yul (for the rebuild test).
pub(crate) async fn feed_a_transfer(app: &TestApp, tenant: &'static str, f: &Fleet) {
    let feed = Feed { app, tenant };
    let t = Uuid::new_v4();
    transfer_out(&feed, t, (f.boxes_yyz, "70"), (f.boxes_yul, "yul"), "30").await;
    transfer_in(
        &feed,
        t,
        (f.boxes_yul, "30"),
        (f.boxes_yyz, "yyz"),
        "30",
        vec![replenished("30", "10")],
    )
    .await;
}

fn ids(r: &TestResponse) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", r.body))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn strs(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

#[track_caller]
fn assert_invalid(r: &TestResponse, field: &str) {
    r.expect_problem(422, "validation");
    assert_eq!(r.problem_fields(), vec![field.to_owned()], "{}", r.body);
}

async fn quantity(app: &TestApp, token: &str, item: Uuid) -> (String, i64) {
    let r = app.get(&format!("/v1/inventory/{item}"), token).await;
    r.expect(200);
    (
        r.body["quantity"].as_str().unwrap().to_owned(),
        r.body["version"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equipment_availability_detail_assignments_and_scopes() {
    let app = TestApp::spawn().await;
    let f = feed_operations(&app, "acme").await;
    app.settle().await;
    let admin = app.token("acme", Role::Admin);

    // Availability: booked, in maintenance, in repair and retired are out.
    let available =
        |from: &str, to: &str| format!("/v1/equipment?available_from={from}&available_to={to}");
    let r = app
        .get(
            &available("2026-03-10T09:00:00Z", "2026-03-10T10:00:00Z"),
            &admin,
        )
        .await;
    r.expect(200);
    assert_eq!(ids(&r), strs(&[f.truck3]), "{}", r.body);
    // Truck 2's assignment on the 11th was cancelled; truck 1 is booked.
    let r = app
        .get(
            &available("2026-03-11T08:00:00Z", "2026-03-11T09:00:00Z"),
            &admin,
        )
        .await;
    assert_eq!(ids(&r), strs(&[f.truck3, f.truck2]));
    // Truck 1 came back at 11:00: free again after.
    let r = app
        .get(
            &available("2026-03-11T11:00:00Z", "2026-03-11T12:00:00Z"),
            &admin,
        )
        .await;
    assert_eq!(ids(&r), strs(&[f.truck3, f.truck2, f.truck1]));
    // A window ending exactly when a booking starts does not overlap it.
    let r = app
        .get(
            &available("2026-03-10T06:00:00Z", "2026-03-10T08:00:00Z"),
            &admin,
        )
        .await;
    assert_eq!(ids(&r), strs(&[f.truck3, f.truck2, f.truck1]));
    let r = app
        .get(
            &format!(
                "{}&type=TRUCK&limit=1",
                available("2026-03-11T11:00:00Z", "2026-03-11T12:00:00Z")
            ),
            &admin,
        )
        .await;
    assert_eq!(ids(&r), strs(&[f.truck3]));
    let next = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(
            &format!(
                "{}&type=TRUCK&limit=5&cursor={next}",
                available("2026-03-11T11:00:00Z", "2026-03-11T12:00:00Z")
            ),
            &admin,
        )
        .await;
    assert_eq!(ids(&r), strs(&[f.truck2, f.truck1]));

    // Plain filters.
    let r = app.get("/v1/equipment?type=TRUCK", &admin).await;
    assert_eq!(ids(&r), strs(&[f.truck3, f.truck2, f.truck1]));
    let r = app.get("/v1/equipment?status=REPAIR", &admin).await;
    assert_eq!(ids(&r), strs(&[f.trailer]));
    let r = app.get("/v1/equipment?location_id=yul", &admin).await;
    assert_eq!(ids(&r), strs(&[f.trailer]));
    let r = app.get("/v1/equipment?status=RETIRED", &admin).await;
    assert_eq!(ids(&r), strs(&[f.dolly]));

    // 422s name the parameter.
    assert_invalid(
        &app.get("/v1/equipment?available_from=2026-03-10T09:00:00Z", &admin)
            .await,
        "available_to",
    );
    assert_invalid(
        &app.get(
            &available("2026-03-10T10:00:00Z", "2026-03-10T10:00:00Z"),
            &admin,
        )
        .await,
        "available_to",
    );
    assert_invalid(
        &app.get("/v1/equipment?type=SPACESHIP", &admin).await,
        "type",
    );
    let r = app.get("/v1/equipment?colour=red", &admin).await;
    r.expect_problem(400, "bad-request");
    assert_eq!(r.problem_fields(), ["colour"]);

    // Detail: book value today, maintenance, defects, assignments.
    let r = app
        .get(&format!("/v1/equipment/{}?min_version=1", f.truck1), &admin)
        .await;
    r.expect(200);
    let today = Utc::now().date_naive();
    let value =
        aggregates::equipment::current_value(m("100000"), day(2024, 1, 1), &straight_line(), today);
    assert_eq!(r.body["current_value"], format!("{value:.2}"));
    assert!(value < m("100000") && value >= m("10000"));
    assert_eq!(r.body["purchase_price"], "100000.00");
    assert_eq!(r.body["status"], "ACTIVE");
    assert_eq!(r.body["next_due_date"], "2024-03-31");
    let assignments: Vec<&str> = r.body["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(assignments, vec![f.a2.to_string(), f.a1.to_string()]);
    let r = app
        .get(&format!("/v1/equipment/{}", f.truck2), &admin)
        .await;
    assert_eq!(r.body["current_value"], serde_json::Value::Null);
    assert_eq!(r.body["last_maintenance_date"], "2026-03-10");
    assert_eq!(r.body["next_due_date"], "2026-04-09");
    assert_eq!(r.body["odometer_km"], 120_000);
    assert_eq!(r.body["maintenance_cost_total"], "180.00");
    let mt = &r.body["maintenance"][0];
    assert_eq!(mt["status"], "COMPLETED");
    assert_eq!(mt["cost"], "180.00");
    assert_eq!(mt["labour_hours"], "2.50");
    assert_eq!(mt["parts"][0]["name"], "oil filter");
    let r = app
        .get(&format!("/v1/equipment/{}", f.trailer), &admin)
        .await;
    assert_eq!(r.body["status"], "REPAIR");
    assert_eq!(r.body["open_defects"], 1);
    assert_eq!(r.body["defects"][0]["severity"], "HIGH");

    // Assignments: filters.
    let list = |q: &str| format!("/v1/equipment-assignments?{q}");
    let r = app
        .get(&list(&format!("equipment_id={}", f.truck1)), &admin)
        .await;
    assert_eq!(ids(&r), strs(&[f.a2, f.a1]));
    let r = app
        .get(&list(&format!("journey_id={}", f.journey)), &admin)
        .await;
    assert_eq!(ids(&r), strs(&[f.a1]));
    let r = app
        .get(&list(&format!("user_id={}", f.crew1)), &admin)
        .await;
    assert_eq!(ids(&r), strs(&[f.a3, f.a1]));
    let r = app
        .get(
            &list("from=2026-03-11T00:00:00Z&to=2026-03-12T00:00:00Z"),
            &admin,
        )
        .await;
    assert_eq!(ids(&r), strs(&[f.a3, f.a2]));
    let r = app
        .get(
            &list("from=2026-03-11T00:00:00Z&to=2026-03-12T00:00:00Z&status=CANCELLED"),
            &admin,
        )
        .await;
    assert_eq!(ids(&r), strs(&[f.a3]));
    let r = app
        .get(&format!("/v1/equipment-assignments/{}", f.a2), &admin)
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "COMPLETED");
    assert_eq!(r.body["booked_until"], "2026-03-11T11:00:00Z");
    assert_eq!(r.body["return_odometer_km"], 1080);
    assert_invalid(
        &app.get(
            &list("from=2026-03-12T00:00:00Z&to=2026-03-11T00:00:00Z"),
            &admin,
        )
        .await,
        "to",
    );
    assert_invalid(&app.get(&list("status=LOST"), &admin).await, "status");

    // A crew member reads their own assignments only.
    let crew = app.token_for("acme", f.crew1, Role::Crew);
    let r = app.get("/v1/equipment-assignments", &crew).await;
    assert_eq!(ids(&r), strs(&[f.a3, f.a1]));
    app.get(&list(&format!("user_id={}", f.crew2)), &crew)
        .await
        .expect_problem(403, "forbidden");
    app.get(&format!("/v1/equipment-assignments/{}", f.a2), &crew)
        .await
        .expect_problem(403, "forbidden");
    app.get(&format!("/v1/equipment-assignments/{}", f.a1), &crew)
        .await
        .expect(200);
    let r = app.get(&format!("/v1/equipment/{}", f.truck1), &crew).await;
    r.expect(200);
    assert_eq!(r.body["assignments"].as_array().unwrap().len(), 1);
    // Crews have no inventory.
    app.get("/v1/inventory", &crew)
        .await
        .expect_problem(403, "forbidden");

    // Another tenant sees none of it.
    let other = app.token("globex", Role::Admin);
    app.get(&format!("/v1/equipment/{}", f.truck1), &other)
        .await
        .expect(404);
    app.get(&format!("/v1/equipment-assignments/{}", f.a1), &other)
        .await
        .expect(404);
    app.get(&format!("/v1/inventory/{}", f.tape), &other)
        .await
        .expect(404);
    assert!(ids(&app.get("/v1/equipment", &other).await).is_empty());
    assert!(ids(&app.get("/v1/equipment-assignments", &other).await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_changes_both_quantities_at_once_and_stock_is_valued() {
    let app = TestApp::spawn().await;
    let f = feed_operations(&app, "acme").await;
    app.settle().await;
    let admin = app.token("acme", Role::Admin);
    let feed = Feed {
        app: &app,
        tenant: "acme",
    };

    let (yyz_before, yyz_version) = quantity(&app, &admin, f.boxes_yyz).await;
    assert_eq!(yyz_before, "100.000");
    assert_eq!(quantity(&app, &admin, f.boxes_yul).await.0, "0.000");

    // The out leg alone changes nothing a reader sees; a later sale of the
    // same item is not held behind it (it shows at once, without the leg).
    let t1 = Uuid::new_v4();
    transfer_out(&feed, t1, (f.boxes_yyz, "70"), (f.boxes_yul, "yul"), "30").await;
    feed.append(
        inventory::AGGREGATE_TYPE,
        f.boxes_yyz,
        [transaction(
            InventoryTransactionType::Sale,
            "-10",
            "60",
            "2.50",
            None,
        )],
    )
    .await;
    app.settle().await;
    assert_eq!(
        quantity(&app, &admin, f.boxes_yyz).await,
        ("90.000".to_owned(), yyz_version + 2)
    );
    assert_eq!(quantity(&app, &admin, f.boxes_yul).await.0, "0.000");
    let status: String = sqlx::query_scalar(
        "SELECT status FROM read.inventory_transfers WHERE tenant_id = 'acme' AND transfer_id = $1",
    )
    .bind(t1)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(status, "PENDING");

    // The in leg: both sides at once.
    transfer_in(
        &feed,
        t1,
        (f.boxes_yul, "30"),
        (f.boxes_yyz, "yyz"),
        "30",
        vec![replenished("30", "10")],
    )
    .await;
    app.settle().await;
    assert_eq!(
        quantity(&app, &admin, f.boxes_yyz).await,
        ("60.000".to_owned(), yyz_version + 2)
    );
    assert_eq!(quantity(&app, &admin, f.boxes_yul).await.0, "30.000");

    // The in leg first: symmetric.
    let t2 = Uuid::new_v4();
    transfer_in(
        &feed,
        t2,
        (f.boxes_yyz, "65"),
        (f.boxes_yul, "yul"),
        "5",
        vec![],
    )
    .await;
    app.settle().await;
    assert_eq!(quantity(&app, &admin, f.boxes_yyz).await.0, "60.000");
    assert_eq!(quantity(&app, &admin, f.boxes_yul).await.0, "30.000");
    transfer_out(&feed, t2, (f.boxes_yul, "25"), (f.boxes_yyz, "yyz"), "5").await;
    app.settle().await;
    assert_eq!(quantity(&app, &admin, f.boxes_yyz).await.0, "65.000");
    assert_eq!(quantity(&app, &admin, f.boxes_yul).await.0, "25.000");

    // The item's transactions, newest first, name the transfer.
    let r = app
        .get(
            &format!("/v1/inventory/{}?min_version=1", f.boxes_yyz),
            &admin,
        )
        .await;
    let kinds: Vec<(&str, &str)> = r.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["transaction_type"].as_str().unwrap(),
                t["quantity_change"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("TRANSFER", "5.000"),
            ("SALE", "-10.000"),
            ("TRANSFER", "-30.000"),
            ("PURCHASE", "100.000")
        ]
    );
    assert_eq!(r.body["transactions"][0]["transfer_id"], t2.to_string());
    assert_eq!(r.body["unit_price"], "4.00");

    // Lists.
    let r = app.get("/v1/inventory?low_stock=true", &admin).await;
    assert_eq!(ids(&r), strs(&[f.blankets, f.tape]));
    let r = app
        .get("/v1/inventory?location_id=yyz&category=Boxes", &admin)
        .await;
    assert_eq!(ids(&r), strs(&[f.boxes_yyz]));
    assert_invalid(
        &app.get("/v1/inventory?low_stock=maybe", &admin).await,
        "low_stock",
    );

    // Valuation: 25 × 2.50 in yul; 65 × 2.50 + 3 × 1.25 + 0 in yyz.
    let accountant = app.token("acme", Role::Accountant);
    let r = app
        .get("/v1/reports/inventory-valuation", &accountant)
        .await;
    r.expect(200);
    let rows: Vec<(String, String, String, String)> = r.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["location_id"].as_str().unwrap().to_owned(),
                row["category"].as_str().unwrap().to_owned(),
                row["quantity"].as_str().unwrap().to_owned(),
                row["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |l: &str, c: &str, q: &str, v: &str| {
        (l.to_owned(), c.to_owned(), q.to_owned(), v.to_owned())
    };
    assert_eq!(
        rows,
        vec![
            row("yul", "Boxes", "25.000", "62.50"),
            row("yyz", "Blankets", "0.000", "0.00"),
            row("yyz", "Boxes", "65.000", "162.50"),
            row("yyz", "Tape", "3.000", "3.75"),
        ]
    );
    assert_eq!(r.body["locations"][0]["value"], "62.50");
    assert_eq!(r.body["locations"][1]["value"], "166.25");
    assert_eq!(r.body["total"], "228.75");
    let csv = app
        .request(
            reqwest::Method::GET,
            "/v1/reports/inventory-valuation",
            Some(&accountant),
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    csv.expect(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.as_str().unwrap().lines().collect();
    assert_eq!(
        lines,
        vec![
            "location_id,category,items,quantity,value",
            "yul,Boxes,1,25,62.50",
            "yyz,Blankets,1,0,0.00",
            "yyz,Boxes,1,65,162.50",
            "yyz,Tape,1,3,3.75",
            "yul,TOTAL,1,25,62.50",
            "yyz,TOTAL,3,68,166.25",
            "TOTAL,TOTAL,4,93,228.75",
        ]
    );
    // Crews may not read stock.
    let crew = app.token("acme", Role::Crew);
    app.get("/v1/reports/inventory-valuation", &crew)
        .await
        .expect_problem(403, "forbidden");
}

/// Two transfers crossing in opposite directions, their legs read in the
/// order that would deadlock a projection holding the first leg of each:
/// T1-out(yyz), T2-out(yul), T1-in(yul), T2-in(yyz).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_transfers_complete_in_any_order() {
    let app = TestApp::spawn().await;
    let f = feed_operations(&app, "acme").await;
    let admin = app.token("acme", Role::Admin);
    let feed = Feed {
        app: &app,
        tenant: "acme",
    };
    feed.append(
        inventory::AGGREGATE_TYPE,
        f.boxes_yul,
        [transaction(
            InventoryTransactionType::Purchase,
            "50",
            "50",
            "2.50",
            None,
        )],
    )
    .await;
    app.settle().await;
    let (yyz, yyz_version) = quantity(&app, &admin, f.boxes_yyz).await;
    let (yul, yul_version) = quantity(&app, &admin, f.boxes_yul).await;
    assert_eq!((yyz.as_str(), yul.as_str()), ("100.000", "50.000"));

    let (t1, t2) = (Uuid::new_v4(), Uuid::new_v4());
    // T1: 30 yyz → yul; T2: 20 yul → yyz. Both out legs: nothing visible
    // moves (the events are applied: the versions advance).
    transfer_out(&feed, t1, (f.boxes_yyz, "70"), (f.boxes_yul, "yul"), "30").await;
    transfer_out(&feed, t2, (f.boxes_yul, "30"), (f.boxes_yyz, "yyz"), "20").await;
    app.settle().await;
    assert_eq!(
        quantity(&app, &admin, f.boxes_yyz).await,
        ("100.000".to_owned(), yyz_version + 1)
    );
    assert_eq!(
        quantity(&app, &admin, f.boxes_yul).await,
        ("50.000".to_owned(), yul_version + 1)
    );

    // T1's in leg completes T1 (both sides), T2 still pending.
    transfer_in(
        &feed,
        t1,
        (f.boxes_yul, "60"),
        (f.boxes_yyz, "yyz"),
        "30",
        vec![],
    )
    .await;
    app.settle().await;
    assert_eq!(quantity(&app, &admin, f.boxes_yyz).await.0, "70.000");
    assert_eq!(quantity(&app, &admin, f.boxes_yul).await.0, "80.000");

    // T2's in leg completes T2.
    transfer_in(
        &feed,
        t2,
        (f.boxes_yyz, "90"),
        (f.boxes_yul, "yul"),
        "20",
        vec![],
    )
    .await;
    app.settle().await;
    assert_eq!(
        quantity(&app, &admin, f.boxes_yyz).await,
        ("90.000".to_owned(), yyz_version + 2)
    );
    assert_eq!(
        quantity(&app, &admin, f.boxes_yul).await,
        ("60.000".to_owned(), yul_version + 2)
    );
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM read.inventory_transfers
          WHERE tenant_id = 'acme' AND transfer_id = ANY($1) ORDER BY status",
    )
    .bind(vec![t1, t2])
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(statuses, vec!["COMPLETED", "COMPLETED"]);
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM read.inventory_transactions WHERE tenant_id = 'acme' AND pending",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utilization_and_maintenance_due_at_fixed_dates_as_json_and_csv() {
    let app = TestApp::spawn().await;
    let f = feed_operations(&app, "acme").await;
    app.settle().await;
    let manager = app.token("acme", Role::Manager);

    // 10–12 March (48 h). Truck 1: 10 h + 3 h (returned early) of 48;
    // truck 2: 8 h maintenance, its assignment cancelled; the dolly was
    // retired before.
    let r = app
        .get(
            "/v1/reports/equipment-utilization?from=2026-03-10&to=2026-03-12",
            &manager,
        )
        .await;
    r.expect(200);
    let rows: Vec<(String, String, String, String, String, serde_json::Value)> =
        r.body["equipment"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["name"].as_str().unwrap().to_owned(),
                    row["range_hours"].as_str().unwrap().to_owned(),
                    row["maintenance_hours"].as_str().unwrap().to_owned(),
                    row["available_hours"].as_str().unwrap().to_owned(),
                    row["assigned_hours"].as_str().unwrap().to_owned(),
                    row["utilization_percent"].clone(),
                )
            })
            .collect();
    let row = |n: &str, r: &str, mh: &str, a: &str, h: &str, p: &str| {
        (
            n.to_owned(),
            r.to_owned(),
            mh.to_owned(),
            a.to_owned(),
            h.to_owned(),
            serde_json::Value::String(p.to_owned()),
        )
    };
    assert_eq!(
        rows,
        vec![
            row("Trailer", "48.00", "0.00", "48.00", "0.00", "0.00"),
            row("Truck 1", "48.00", "0.00", "48.00", "13.00", "27.08"),
            row("Truck 2", "48.00", "8.00", "40.00", "0.00", "0.00"),
            row("Truck 3", "48.00", "0.00", "48.00", "0.00", "0.00"),
        ]
    );
    let types = r.body["types"].as_array().unwrap();
    assert_eq!(types.len(), 2);
    assert_eq!(types[1]["equipment_type"], "TRUCK");
    assert_eq!(types[1]["equipment"], 3);
    assert_eq!(types[1]["available_hours"], "136.00");
    assert_eq!(types[1]["assigned_hours"], "13.00");
    assert_eq!(types[1]["utilization_percent"], "9.56");

    let csv = app
        .request(
            reqwest::Method::GET,
            "/v1/reports/equipment-utilization?from=2026-03-10&to=2026-03-12",
            Some(&manager),
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    csv.expect(200);
    let lines: Vec<&str> = csv.body.as_str().unwrap().lines().collect();
    assert_eq!(
        lines[0],
        "equipment_id,name,equipment_type,location_id,status,range_hours,maintenance_hours,available_hours,assigned_hours,utilization_percent"
    );
    assert_eq!(
        lines[2],
        format!(
            "{},Truck 1,TRUCK,yyz,ACTIVE,48.00,0.00,48.00,13.00,27.08",
            f.truck1
        )
    );
    assert_eq!(lines[6], ",TOTAL,TRUCK,,,144.00,8.00,136.00,13.00,9.56");

    // Due by 19 April as of 20 March: truck 1 (90 days after its purchase
    // in 2024: long overdue) and truck 2 (30 days after its maintenance).
    let r = app
        .get(
            "/v1/reports/maintenance-due?within_days=30&as_of=2026-03-20",
            &manager,
        )
        .await;
    r.expect(200);
    let due: Vec<(String, String, i64, bool)> = r.body["equipment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["equipment_id"].as_str().unwrap().to_owned(),
                row["next_due_date"].as_str().unwrap().to_owned(),
                row["days_until_due"].as_i64().unwrap(),
                row["overdue"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        due,
        vec![
            (f.truck1.to_string(), "2024-03-31".to_owned(), -719, true),
            (f.truck2.to_string(), "2026-04-09".to_owned(), 20, false),
        ]
    );
    let r = app
        .get(
            "/v1/reports/maintenance-due?within_days=10&as_of=2026-03-20",
            &manager,
        )
        .await;
    assert_eq!(r.body["equipment"].as_array().unwrap().len(), 1);
    let csv = app
        .request(
            reqwest::Method::GET,
            "/v1/reports/maintenance-due?within_days=30&as_of=2026-03-20",
            Some(&manager),
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    let lines: Vec<&str> = csv.body.as_str().unwrap().lines().collect();
    assert_eq!(
        lines[2],
        format!(
            "{},Truck 2,TRUCK,yyz,ACTIVE,T-2,2026-03-10,2026-04-09,20,false",
            f.truck2
        )
    );

    // 422s.
    assert_invalid(
        &app.get("/v1/reports/equipment-utilization?to=2026-03-12", &manager)
            .await,
        "from",
    );
    assert_invalid(
        &app.get(
            "/v1/reports/equipment-utilization?from=2026-03-12&to=2026-03-12",
            &manager,
        )
        .await,
        "to",
    );
    assert_invalid(
        &app.get("/v1/reports/maintenance-due?within_days=5000", &manager)
            .await,
        "within_days",
    );
    assert_invalid(
        &app.get("/v1/reports/maintenance-due?within_days=-1", &manager)
            .await,
        "within_days",
    );
    // Sales has no equipment rights.
    let sales = app.token("acme", Role::Sales);
    app.get("/v1/reports/maintenance-due", &sales)
        .await
        .expect_problem(403, "forbidden");
}
