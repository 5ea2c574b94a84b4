//! Equipment, assignments and inventory over HTTP: no double-booking under
//! concurrency, maintenance and repairs block assignments, stock never goes
//! negative under concurrency, transfers, permissions and tenancy.

use chrono::{DateTime, Duration, Utc};
use crm_tests::TestApp;
use event_schemas::Role;
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn at(hours_from_now: i64) -> String {
    let t: DateTime<Utc> = Utc::now() + Duration::hours(hours_from_now);
    t.to_rfc3339()
}

fn truck_body(serial: &str) -> Value {
    json!({
        "location_id": "mtl-1", "name": "Truck 7", "equipment_type": "TRUCK",
        "serial_number": serial, "manufacturer": "Isuzu", "model": "NPR", "year": 2022,
        "purchase_date": "2022-05-01", "purchase_price": "85000.00",
        "depreciation": {"method": "STRAIGHT_LINE", "useful_life_years": 10, "salvage_value": "5000.00"},
        "maintenance_schedule": {"interval_days": 90}
    })
}

async fn register(app: &TestApp, token: &str, serial: &str) -> String {
    let r = app.post("/v1/equipment", token, truck_body(serial)).await;
    r.expect(201);
    r.id()
}

/// Metadata of a command a dispatcher issues straight to a store (the tests
/// that stage what a request stopped halfway through, or a stale decision).
fn dispatcher_metadata(tenant: &event_schemas::TenantId) -> event_schemas::EventMetadata {
    event_schemas::EventMetadata {
        tenant_id: tenant.clone(),
        user_id: uuid::Uuid::new_v4(),
        role: Role::Dispatcher,
        correlation_id: "test".into(),
        causation_id: "test".into(),
        command_id: uuid::Uuid::new_v4(),
        recorded_at: Utc::now(),
        policy_version: None,
        policy_valid_until: None,
    }
}

fn assignment(equipment: &str, from: i64, to: i64) -> Value {
    json!({"equipment_id": equipment, "journey_id": uuid::Uuid::new_v4(),
           "starts_at": at(from), "ends_at": at(to), "purpose": "Local move"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_requests_for_one_truck_give_one_booking_and_nineteen_conflicts_naming_it() {
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let truck = register(&app, &dispatcher, "SN-RACE-1").await;
    // 20 periods that all overlap: [24 h + i min, 30 h + i min) from now.
    let requests = (0..20).map(|i| {
        let mut body = assignment(&truck, 24, 30);
        body["starts_at"] =
            json!((Utc::now() + Duration::hours(24) + Duration::minutes(i)).to_rfc3339());
        body["ends_at"] =
            json!((Utc::now() + Duration::hours(30) + Duration::minutes(i)).to_rfc3339());
        let (app, token) = (&app, &dispatcher);
        async move { app.post("/v1/equipment-assignments", token, body).await }
    });
    let responses = join_all(requests).await;
    let winners: Vec<_> = responses.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let winner = winners[0].id();
    for r in responses.iter().filter(|r| r.status != 201) {
        r.expect_problem(409, "conflict");
        assert!(
            r.body["detail"].as_str().unwrap().contains(&winner),
            "names the assignment it overlaps: {}",
            r.body
        );
    }
    let bookings: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM equipment_bookings WHERE tenant_id = 'acme' AND equipment_id = $1",
    )
    .bind(&truck)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(bookings, 1);
    // Back to back is fine ([) periods); another truck is free.
    app.post(
        "/v1/equipment-assignments",
        &dispatcher,
        assignment(&truck, 30 + 19, 60),
    )
    .await
    .expect(201);
    let other = register(&app, &dispatcher, "SN-RACE-2").await;
    app.post(
        "/v1/equipment-assignments",
        &dispatcher,
        assignment(&other, 24, 30),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_windows_repairs_and_reschedules_obey_the_same_rule() {
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let truck = register(&app, &dispatcher, "SN-MAINT").await;
    // A maintenance window tomorrow, 8:00 for 8 hours from now + 24 h.
    let window = app
        .post(
            &format!("/v1/equipment/{truck}/maintenance"),
            &dispatcher,
            json!({"maintenance_type": "PREVENTIVE", "window_start": at(24), "window_end": at(32),
                   "description": "Oil and brakes"}),
        )
        .await;
    window.expect(201);
    let maintenance = window.body["maintenance_id"].as_str().unwrap().to_owned();
    let refused = app
        .post(
            "/v1/equipment-assignments",
            &dispatcher,
            assignment(&truck, 30, 40),
        )
        .await;
    refused.expect_problem(409, "conflict");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains(&maintenance)
    );
    // Before the window is fine; stretching into it is not.
    let booked = app
        .post(
            "/v1/equipment-assignments",
            &dispatcher,
            assignment(&truck, 10, 20),
        )
        .await;
    booked.expect(201);
    let booked = booked.id();
    app.post(
        &format!("/v1/equipment-assignments/{booked}/reschedule"),
        &dispatcher,
        json!({"starts_at": at(10), "ends_at": at(26)}),
    )
    .await
    .expect_problem(409, "conflict");
    app.post(
        &format!("/v1/equipment-assignments/{booked}/reschedule"),
        &dispatcher,
        json!({"starts_at": at(8), "ends_at": at(22)}),
    )
    .await
    .expect(200);
    // A defect puts the truck in REPAIR: no assignment until repaired.
    app.post(
        &format!("/v1/equipment/{truck}/report-defect"),
        &dispatcher,
        json!({"description": "Brake light out"}),
    )
    .await
    .expect(200);
    let repair = app
        .post(
            "/v1/equipment-assignments",
            &dispatcher,
            assignment(&truck, 50, 60),
        )
        .await;
    repair.expect_problem(409, "conflict");
    assert!(repair.body["detail"].as_str().unwrap().contains("REPAIR"));
    app.post(
        &format!("/v1/equipment/{truck}/repair"),
        &dispatcher,
        json!({"notes": "Bulb replaced", "cost": "12.50"}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/equipment-assignments",
        &dispatcher,
        assignment(&truck, 50, 60),
    )
    .await
    .expect(201);
    // Cancelling frees the period.
    app.post(
        &format!("/v1/equipment-assignments/{booked}/cancel"),
        &dispatcher,
        json!({"reason": "customer postponed"}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/equipment-assignments",
        &dispatcher,
        assignment(&truck, 9, 21),
    )
    .await
    .expect(201);
    // Serial numbers are unique per tenant.
    let dup = app
        .post("/v1/equipment", &dispatcher, truck_body("sn-maint"))
        .await;
    dup.expect_problem(409, "conflict");
    assert_eq!(dup.problem_fields(), ["serial_number"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crews_see_and_check_out_only_their_own_assignments() {
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let truck = register(&app, &dispatcher, "SN-CREW").await;
    let mover = uuid::Uuid::new_v4();
    let crew = app.token_for("acme", mover, Role::Crew);
    let other_crew = app.token("acme", Role::Crew);
    let mut body = assignment(&truck, 1, 8);
    body["user_id"] = json!(mover);
    let mine = app
        .post("/v1/equipment-assignments", &dispatcher, body)
        .await;
    mine.expect(201);
    let mine = mine.id();
    app.post(
        "/v1/equipment-assignments",
        &crew,
        assignment(&truck, 10, 12),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        &format!("/v1/equipment-assignments/{mine}/checkout"),
        &other_crew,
        json!({}),
    )
    .await
    .expect_problem(403, "forbidden");
    // Return before checkout is refused; checkout then return completes it.
    app.post(
        &format!("/v1/equipment-assignments/{mine}/return"),
        &crew,
        json!({}),
    )
    .await
    .expect_problem(409, "conflict");
    app.post(
        &format!("/v1/equipment-assignments/{mine}/checkout"),
        &crew,
        json!({"odometer_km": 42000}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/equipment-assignments/{mine}/cancel"),
        &dispatcher,
        json!({"reason": "too late"}),
    )
    .await
    .expect_problem(409, "conflict");
    app.post(
        &format!("/v1/equipment-assignments/{mine}/return"),
        &crew,
        json!({"odometer_km": 42080, "condition_notes": "clean"}),
    )
    .await
    .expect(200);
}

fn blankets(location: &str) -> Value {
    json!({"location_id": location, "sku": "BLK-01", "name": "Moving blankets", "category": "PACKING",
           "min_quantity": "20", "unit_cost": "8.00", "unit_price": "15.00"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_sales_never_sell_more_than_the_stock() {
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let item = app
        .post("/v1/inventory", &dispatcher, blankets("mtl-1"))
        .await;
    item.expect(201);
    let item = item.id();
    app.post(
        &format!("/v1/inventory/{item}/transactions"),
        &dispatcher,
        json!({"transaction_type": "PURCHASE", "quantity": "50", "unit_cost": "8.00", "reference": "PO-1"}),
    )
    .await
    .expect(201);
    // 10 × 7 = 70 against 50 in stock.
    let sales = (0..10).map(|_| {
        let (app, token, item) = (&app, &dispatcher, &item);
        async move {
            app.post(
                &format!("/v1/inventory/{item}/transactions"),
                token,
                json!({"transaction_type": "SALE", "quantity": "7"}),
            )
            .await
        }
    });
    let responses = join_all(sales).await;
    let sold = responses.iter().filter(|r| r.status == 201).count();
    assert_eq!(sold, 7, "7 × 7 = 49 fit in 50");
    for r in responses.iter().filter(|r| r.status != 201) {
        r.expect_problem(409, "conflict");
        assert!(
            r.body["detail"].as_str().unwrap().contains('1'),
            "{}",
            r.body
        );
    }
    let state = app
        .get(
            &format!("/v1/audit/inventory/{item}/state"),
            &app.token("acme", Role::Auditor),
        )
        .await;
    state.expect(200);
    let quantity: Decimal = state.body["state"]["quantity"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(quantity, Decimal::ONE);
    // SKUs are unique per location, not across locations.
    app.post("/v1/inventory", &dispatcher, blankets("mtl-1"))
        .await
        .expect_problem(409, "conflict");
    let other = app
        .post("/v1/inventory", &dispatcher, blankets("qc-2"))
        .await;
    other.expect(201);
    // A transfer larger than the stock is refused; a fitting one moves stock.
    app.post(
        "/v1/inventory/transfers",
        &dispatcher,
        json!({"from_item_id": item, "to_item_id": other.id(), "quantity": "2"}),
    )
    .await
    .expect_problem(409, "conflict");
    let transfer = app
        .post(
            "/v1/inventory/transfers",
            &dispatcher,
            json!({"from_item_id": item, "to_item_id": other.id(), "quantity": "1"}),
        )
        .await;
    transfer.expect(201);
    let other_state = app
        .get(
            &format!("/v1/audit/inventory/{}/state", other.id()),
            &app.token("acme", Role::Auditor),
        )
        .await;
    assert_eq!(other_state.body["state"]["quantity"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_equipment_assignments_and_stock_are_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let truck = register(&app, &admin, "SN-TENANT").await;
    let booked = app
        .post(
            "/v1/equipment-assignments",
            &admin,
            assignment(&truck, 5, 9),
        )
        .await;
    booked.expect(201);
    let booked = booked.id();
    let item = app
        .post("/v1/inventory", &admin, blankets("mtl-1"))
        .await
        .id();
    let other = app.token("globex", Role::Admin);
    for (path, body) in [
        (
            format!("/v1/equipment/{truck}/retire"),
            json!({"reason": "x"}),
        ),
        (
            format!("/v1/equipment/{truck}/sell"),
            json!({"price": "1.00", "buyer": "x"}),
        ),
        (
            format!("/v1/equipment/{truck}/report-defect"),
            json!({"description": "x"}),
        ),
        (format!("/v1/equipment/{truck}/repair"), json!({})),
        (
            format!("/v1/equipment/{truck}/maintenance"),
            json!({"maintenance_type": "INSPECTION", "window_start": at(100), "window_end": at(101), "description": "x"}),
        ),
        (
            format!("/v1/equipment-assignments/{booked}/checkout"),
            json!({}),
        ),
        (
            format!("/v1/equipment-assignments/{booked}/return"),
            json!({}),
        ),
        (
            format!("/v1/equipment-assignments/{booked}/cancel"),
            json!({"reason": "x"}),
        ),
        (
            format!("/v1/equipment-assignments/{booked}/reschedule"),
            json!({"starts_at": at(5), "ends_at": at(6)}),
        ),
        (
            format!("/v1/inventory/{item}/transactions"),
            json!({"transaction_type": "PURCHASE", "quantity": "1", "unit_cost": "1.00"}),
        ),
    ] {
        app.post(&path, &other, body)
            .await
            .expect_problem(404, "not-found");
    }
    app.patch(
        &format!("/v1/equipment/{truck}"),
        &other,
        json!({"name": "x"}),
    )
    .await
    .expect_problem(404, "not-found");
    // Nor can another tenant book this tenant's truck or move its stock.
    app.post(
        "/v1/equipment-assignments",
        &other,
        assignment(&truck, 50, 51),
    )
    .await
    .expect_problem(422, "validation");
    let theirs = app.post("/v1/inventory", &other, blankets("mtl-1")).await;
    theirs.expect(201);
    app.post(
        "/v1/inventory/transfers",
        &other,
        json!({"from_item_id": theirs.id(), "to_item_id": item, "quantity": "1"}),
    )
    .await
    .expect_problem(422, "validation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_left_halfway_is_completed_by_the_policy_once() {
    use aggregates::inventory::{InventoryAction, InventoryCommand, TransferOut};
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let from = app
        .post("/v1/inventory", &dispatcher, blankets("mtl-1"))
        .await
        .id();
    let to = app
        .post("/v1/inventory", &dispatcher, blankets("qc-2"))
        .await
        .id();
    app.post(
        &format!("/v1/inventory/{from}/transactions"),
        &dispatcher,
        json!({"transaction_type": "PURCHASE", "quantity": "30", "unit_cost": "9.50"}),
    )
    .await
    .expect(201);
    // The out side only, as if the request had died before the in side.
    let store: event_store::Store<aggregates::inventory::InventoryItem> =
        event_store::Store::new(app.pool().clone(), app.env.infra.keystore.clone());
    let tenant = event_schemas::TenantId::parse("acme").unwrap();
    let source = event_store::Target::Existing(from.parse().unwrap());
    let command = InventoryCommand {
        at: Utc::now(),
        actor: uuid::Uuid::new_v4(),
        action: InventoryAction::TransferOut(TransferOut {
            transaction_id: uuid::Uuid::new_v4(),
            transfer_id: uuid::Uuid::new_v4(),
            quantity: Decimal::new(12, 0),
            to_item_id: to.parse().unwrap(),
            to_location_id: "qc-2".into(),
            reference: None,
            notes: None,
        }),
    };
    let metadata = dispatcher_metadata(&tenant);
    let run = event_store::Run::new(&tenant, source);
    store
        .run(
            run,
            || metadata.clone(),
            |_| Ok::<_, event_store::CommandError<_>>(command.clone()),
        )
        .await
        .unwrap();
    app.settle().await;
    let stores =
        processes::policies::PolicyStores::new(app.pool().clone(), app.env.infra.keystore.clone());
    let today = Utc::now().date_naive();
    // Not before a minute has passed (the request may still be running).
    let early = processes::policies::run_at(&stores, today, Utc::now())
        .await
        .unwrap();
    assert_eq!(early.transfers_completed, 0);
    let later = Utc::now() + Duration::minutes(2);
    let report = processes::policies::run_at(&stores, today, later)
        .await
        .unwrap();
    assert_eq!(report.transfers_completed, 1);
    let auditor = app.token("acme", Role::Auditor);
    let state = app
        .get(&format!("/v1/audit/inventory/{to}/state"), &auditor)
        .await;
    assert_eq!(state.body["state"]["quantity"], "12");
    assert_eq!(state.body["state"]["average_cost"], "9.5000");
    app.settle().await;
    let again = processes::policies::run_at(&stores, today, later)
        .await
        .unwrap();
    assert_eq!(again.transfers_completed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_the_read_models_availability_low_stock_and_transfers() {
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let booked = register(&app, &dispatcher, "SN-READ-1").await;
    let free = register(&app, &dispatcher, "SN-READ-2").await;
    app.post(
        "/v1/equipment-assignments",
        &dispatcher,
        assignment(&booked, 20, 30),
    )
    .await
    .expect(201);
    let from = app
        .post("/v1/inventory", &dispatcher, blankets("mtl-1"))
        .await
        .id();
    let to = app
        .post("/v1/inventory", &dispatcher, blankets("qc-2"))
        .await
        .id();
    for (item, body) in [
        (
            &from,
            json!({"transaction_type": "PURCHASE", "quantity": "30", "unit_cost": "8.00"}),
        ),
        (&from, json!({"transaction_type": "SALE", "quantity": "5"})),
    ] {
        app.post(
            &format!("/v1/inventory/{item}/transactions"),
            &dispatcher,
            body,
        )
        .await
        .expect(201);
    }
    app.post(
        "/v1/inventory/transfers",
        &dispatcher,
        json!({"from_item_id": from, "to_item_id": to, "quantity": "10"}),
    )
    .await
    .expect(201);
    app.settle().await;

    // The booked truck is not available during its booking; the other is.
    let (a, b) = (urlencode(&at(22)), urlencode(&at(24)));
    let available = app
        .get(
            &format!("/v1/equipment?available_from={a}&available_to={b}"),
            &dispatcher,
        )
        .await;
    available.expect(200);
    let ids: Vec<&str> = available.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [free.as_str()], "{}", available.body);
    // 30 − 5 − 10 = 15 ≤ 20 (the reorder point): listed for reordering.
    let low = app.get("/v1/inventory?low_stock=true", &dispatcher).await;
    low.expect(200);
    let low: Vec<(&str, &str)> = low.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["quantity"].as_str().unwrap()))
        .collect();
    assert!(low.contains(&(from.as_str(), "15.000")), "{low:?}");
    assert!(low.contains(&(to.as_str(), "10.000")), "{low:?}");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_a_booking_of_equipment_that_went_to_repair_in_the_same_instant() {
    use aggregates::assignment::{AssignEquipment, AssignmentAction, AssignmentCommand};
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let truck = register(&app, &dispatcher, "SN-STALE").await;
    app.post(
        &format!("/v1/equipment/{truck}/report-defect"),
        &dispatcher,
        json!({"description": "Flat tyre"}),
    )
    .await
    .expect(200);
    // A command decided on a stale read (the truck still ACTIVE) is refused
    // at commit by the trigger, which sees the defect.
    let store: event_store::Store<aggregates::assignment::EquipmentAssignment> =
        event_store::Store::new(app.pool().clone(), app.env.infra.keystore.clone());
    let tenant = event_schemas::TenantId::parse("acme").unwrap();
    let id = uuid::Uuid::now_v7();
    let command = AssignmentCommand {
        at: Utc::now(),
        actor: uuid::Uuid::new_v4(),
        action: AssignmentAction::Assign(AssignEquipment {
            assignment_id: id,
            tenant_id: tenant.clone(),
            equipment_id: truck.parse().unwrap(),
            equipment_status: Some(event_schemas::equipment::EquipmentStatus::Active),
            journey_id: Some(uuid::Uuid::new_v4()),
            user_id: None,
            starts_at: Utc::now() + Duration::hours(5),
            ends_at: Utc::now() + Duration::hours(9),
            purpose: None,
            notes: None,
        }),
    };
    let metadata = dispatcher_metadata(&tenant);
    let run = event_store::Run::new(&tenant, event_store::Target::New(id));
    let decided = store
        .run(run, || metadata.clone(), |_| Ok(command.clone()))
        .await;
    match decided {
        Err(event_store::CommandError::Refused(detail)) => {
            assert!(detail.contains("REPAIR"), "{detail}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let bookings: i64 = sqlx::query_scalar("SELECT count(*) FROM equipment_bookings")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(bookings, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_windows_early_returns_and_item_edits_behave() {
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let truck = register(&app, &dispatcher, "SN-EDGE").await;
    let window = app
        .post(
            &format!("/v1/equipment/{truck}/maintenance"),
            &dispatcher,
            json!({"maintenance_type": "INSPECTION", "window_start": at(10), "window_end": at(12), "description": "Safety"}),
        )
        .await;
    window.expect(201);
    let mid = window.body["maintenance_id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/v1/equipment/{truck}/maintenance/{mid}/cancel"),
        &dispatcher,
        json!({"reason": "inspector sick"}),
    )
    .await
    .expect(200);
    // The window is free again.
    let mover = uuid::Uuid::new_v4();
    let mut body = assignment(&truck, 10, 12);
    body["user_id"] = json!(mover);
    let booked = app
        .post("/v1/equipment-assignments", &dispatcher, body)
        .await;
    booked.expect(201);
    let booked = booked.id();
    // Crews check out and return their assignments but never move them.
    let crew = app.token_for("acme", mover, Role::Crew);
    app.post(
        &format!("/v1/equipment-assignments/{booked}/reschedule"),
        &crew,
        json!({"starts_at": at(10), "ends_at": at(40)}),
    )
    .await
    .expect_problem(403, "forbidden");
    // Taken and brought back before the period began: nothing stays booked.
    app.post(
        &format!("/v1/equipment-assignments/{booked}/checkout"),
        &crew,
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/equipment-assignments/{booked}/return"),
        &crew,
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/equipment-assignments",
        &dispatcher,
        assignment(&truck, 10, 12),
    )
    .await
    .expect(201);

    // Items are edited (never their quantity); a SKU stays unique per location.
    let item = app
        .post("/v1/inventory", &dispatcher, blankets("mtl-1"))
        .await
        .id();
    let mut tape = blankets("mtl-1");
    tape["sku"] = json!("TAPE-1");
    tape["name"] = json!("Tape");
    app.post("/v1/inventory", &dispatcher, tape)
        .await
        .expect(201);
    app.patch(
        &format!("/v1/inventory/{item}"),
        &dispatcher,
        json!({"sku": "tape-1"}),
    )
    .await
    .expect_problem(409, "conflict");
    app.patch(
        &format!("/v1/inventory/{item}"),
        &dispatcher,
        json!({"min_quantity": "5", "unit_price": "16.00"}),
    )
    .await
    .expect(200);
    let state = app
        .get(
            &format!("/v1/audit/inventory/{item}/state"),
            &app.token("acme", Role::Auditor),
        )
        .await;
    assert_eq!(state.body["state"]["details"]["min_quantity"], "5");
    assert_eq!(state.body["state"]["quantity"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truck_reported_defective_after_it_was_booked_is_not_sent_out() {
    let app = TestApp::spawn().await;
    let dispatcher = app.token("acme", Role::Dispatcher);
    let truck = register(&app, &dispatcher, "SN-DEFECT").await;
    let booked = app
        .post(
            "/v1/equipment-assignments",
            &dispatcher,
            assignment(&truck, 1, 5),
        )
        .await;
    booked.expect(201);
    let booked = booked.id();
    app.post(
        &format!("/v1/equipment/{truck}/report-defect"),
        &dispatcher,
        json!({"description": "Brakes"}),
    )
    .await
    .expect(200);
    let refused = app
        .post(
            &format!("/v1/equipment-assignments/{booked}/checkout"),
            &dispatcher,
            json!({}),
        )
        .await;
    refused.expect_problem(409, "conflict");
    assert!(
        refused.body["detail"].as_str().unwrap().contains("REPAIR"),
        "{}",
        refused.body
    );
    app.post(
        &format!("/v1/equipment/{truck}/repair"),
        &dispatcher,
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/equipment-assignments/{booked}/checkout"),
        &dispatcher,
        json!({}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equipment_leaves_the_fleet_only_once_nothing_books_it() {
    let app = TestApp::spawn().await;
    let manager = app.token("acme", Role::Manager);
    let truck = register(&app, &manager, "SN-RETIRE").await;
    let booked = app
        .post(
            "/v1/equipment-assignments",
            &manager,
            assignment(&truck, 48, 52),
        )
        .await;
    booked.expect(201);
    let booked = booked.id();
    let refused = app
        .post(
            &format!("/v1/equipment/{truck}/retire"),
            &manager,
            json!({"reason": "old"}),
        )
        .await;
    refused.expect_problem(409, "conflict");
    assert!(
        refused.body["detail"].as_str().unwrap().contains(&booked),
        "{}",
        refused.body
    );
    app.post(
        &format!("/v1/equipment/{truck}/sell"),
        &manager,
        json!({"price": "20000.00", "buyer": "Fleet Ltd"}),
    )
    .await
    .expect_problem(409, "conflict");
    app.post(
        &format!("/v1/equipment-assignments/{booked}/cancel"),
        &manager,
        json!({"reason": "truck sold"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/equipment/{truck}/sell"),
        &manager,
        json!({"price": "20000.00", "buyer": "Fleet Ltd"}),
    )
    .await
    .expect(200);
    // Sold is final: no booking, no edit.
    let after = app
        .post(
            "/v1/equipment-assignments",
            &manager,
            assignment(&truck, 60, 62),
        )
        .await;
    after.expect_problem(409, "conflict");
    assert!(
        after.body["detail"].as_str().unwrap().contains("SOLD"),
        "{}",
        after.body
    );
}
