//! Quotes over HTTP: server-side pricing, the lifecycle with revisions,
//! templates, deposits, the sales process moving leads, the expiry policy,
//! permissions and tenancy.

use chrono::{Duration, Utc};
use crm_tests::TestApp;
use event_schemas::Role;
use serde_json::{Value, json};

fn in_days(days: i64) -> String {
    (Utc::now().date_naive() + Duration::days(days)).to_string()
}

/// A QC quote: 2.5 × 266.67 = 666.675 → 666.68, and an optional 100.00 packing item.
fn quote_body(lead: &str) -> Value {
    json!({
        "lead_id": lead,
        "valid_until": in_days(30),
        "province": "QC",
        "items": [
            {"description": "Movers", "quantity": "2.5", "unit_price": "266.67", "category": "MOVING_SERVICES"},
            {"description": "Packing", "quantity": "1", "unit_price": "100.00", "category": "PACKING_SERVICES", "optional": true}
        ]
    })
}

async fn quote_state(app: &TestApp, token: &str, id: &str) -> Value {
    let state = app.get(&format!("/v1/audit/quote/{id}/state"), token).await;
    state.expect(200);
    state.body["state"].clone()
}

async fn lead_status(app: &TestApp, token: &str, lead: &str) -> String {
    let state = app
        .get(&format!("/v1/audit/lead/{lead}/state"), token)
        .await;
    state.expect(200);
    state.body["state"]["status"]
        .as_str()
        .expect("a status")
        .to_owned()
}

async fn lead_events(app: &TestApp, token: &str, lead: &str) -> Vec<Value> {
    let history = app
        .get(&format!("/v1/audit/lead/{lead}/history"), token)
        .await;
    history.expect(200);
    history.body["items"].as_array().expect("items").clone()
}

/// The id of the quote's event `event_type` (the newest one).
async fn quote_event_id(app: &TestApp, token: &str, quote: &str, event_type: &str) -> String {
    let history = app
        .get(&format!("/v1/audit/quote/{quote}/history"), token)
        .await;
    history.expect(200);
    history.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .rev()
        .find(|e| e["event_type"] == event_type)
        .map(|e| e["event_id"].as_str().expect("an id").to_owned())
        .expect("the event exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_is_priced_by_the_server_revised_accepted_and_wins_its_lead() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "q1@example.com").await;
    let lead = app.lead(&admin, &customer).await;

    let created = app.post("/v1/quotes", &admin, quote_body(&lead)).await;
    created.expect(201);
    let id = created.id();
    let state = quote_state(&app, &admin, &id).await;
    let totals = &state["terms"]["totals"];
    // 666.68 subtotal (the optional item is not counted); GST 33.33, QST 66.50.
    assert_eq!(totals["subtotal"], "666.68");
    assert_eq!(totals["tax_lines"][0]["code"], "GST");
    assert_eq!(totals["tax_lines"][0]["amount"], "33.33");
    assert_eq!(totals["tax_lines"][1]["code"], "QST");
    assert_eq!(totals["tax_lines"][1]["amount"], "66.50");
    assert_eq!(totals["total"], "766.51");
    assert_eq!(state["customer_id"], customer.as_str());
    assert_eq!(state["terms"]["currency"], "CAD");

    // Totals from the client are refused, not ignored.
    let mut with_total = quote_body(&lead);
    with_total["total"] = json!("1.00");
    let refused = app.post("/v1/quotes", &admin, with_total).await;
    refused.expect_problem(400, "bad-request");
    assert_eq!(refused.problem_fields(), ["total"]);

    app.post(&format!("/v1/quotes/{id}/send"), &admin, json!({}))
        .await
        .expect(200);
    app.settle().await;
    assert_eq!(lead_status(&app, &admin, &lead).await, "PROPOSAL_SENT");

    // The move names its cause: the QuoteSent event, by the system.
    let sent_event = quote_event_id(&app, &admin, &id, "QuoteSent").await;
    let events = lead_events(&app, &admin, &lead).await;
    let moved = events
        .iter()
        .find(|e| e["event_type"] == "LeadStatusChanged")
        .expect("the lead moved");
    assert_eq!(moved["metadata"]["causation_id"], sent_event.as_str());
    assert_eq!(moved["metadata"]["role"], "system");
    assert_eq!(
        moved["payload"]["LeadStatusChanged"]["cause"]["rule"],
        "quote-sent"
    );

    // Only a draft is edited.
    app.patch(&format!("/v1/quotes/{id}"), &admin, json!({"notes": "x"}))
        .await
        .expect_problem(409, "conflict");
    app.post(&format!("/v1/quotes/{id}/view"), &admin, json!({}))
        .await
        .expect(200);
    app.post(&format!("/v1/quotes/{id}/revise"), &admin, json!({}))
        .await
        .expect(200);
    app.patch(
        &format!("/v1/quotes/{id}"),
        &admin,
        json!({"notes": "Revised after the visit"}),
    )
    .await
    .expect(200);
    app.post(&format!("/v1/quotes/{id}/send"), &admin, json!({}))
        .await
        .expect(200);

    // Revision 1 can no longer be accepted.
    let old = app
        .post(
            &format!("/v1/quotes/{id}/accept"),
            &admin,
            json!({"revision": 1, "accepted_by_name": "Jeanne Tremblay"}),
        )
        .await;
    old.expect_problem(409, "conflict");
    assert!(old.body["detail"].as_str().unwrap().contains("superseded"));

    let state = quote_state(&app, &admin, &id).await;
    let optional = state["terms"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["optional"] == true)
        .unwrap()["item_id"]
        .clone();
    app.post(
        &format!("/v1/quotes/{id}/accept"),
        &admin,
        json!({"revision": 2, "accepted_by_name": "Jeanne Tremblay",
               "accepted_ip": "203.0.113.7", "selected_optional_items": [optional]}),
    )
    .await
    .expect(200);
    let state = quote_state(&app, &admin, &id).await;
    assert_eq!(state["status"], "ACCEPTED");
    assert_eq!(state["accepted"]["revision"], 2);
    assert_eq!(state["accepted"]["accepted_ip"], "203.0.113.7");
    // 766.68 + GST 38.33 + QST 76.48.
    assert_eq!(state["accepted"]["totals"]["total"], "881.49");

    app.settle().await;
    assert_eq!(lead_status(&app, &admin, &lead).await, "WON");

    let journey = uuid::Uuid::new_v4();
    let converted = app
        .post(
            &format!("/v1/quotes/{id}/convert"),
            &admin,
            json!({"journey_id": journey}),
        )
        .await;
    converted.expect(200);
    // The lead has no move date: no journey on the board, and the answer says so.
    assert_eq!(converted.body["journey_schedule"], Value::Null);
    assert!(
        converted.body["journey_schedule_note"]
            .as_str()
            .unwrap()
            .contains("no move date")
    );
    let state = quote_state(&app, &admin, &id).await;
    assert_eq!(state["status"], "CONVERTED");
    assert_eq!(state["journey_id"], journey.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_every_open_quote_moves_a_proposed_lead_to_negotiation_once() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "q2@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let mut quotes = Vec::new();
    for _ in 0..2 {
        let q = app.post("/v1/quotes", &admin, quote_body(&lead)).await;
        q.expect(201);
        let id = q.id();
        app.post(&format!("/v1/quotes/{id}/send"), &admin, json!({}))
            .await
            .expect(200);
        quotes.push(id);
    }
    app.post(
        &format!("/v1/quotes/{}/reject", quotes[0]),
        &admin,
        json!({"reason": "too expensive"}),
    )
    .await
    .expect(200);
    app.settle().await;
    // One quote is still open: the lead stays.
    assert_eq!(lead_status(&app, &admin, &lead).await, "PROPOSAL_SENT");
    app.post(
        &format!("/v1/quotes/{}/reject", quotes[1]),
        &admin,
        json!({"reason": "went with another mover"}),
    )
    .await
    .expect(200);
    app.settle().await;
    assert_eq!(lead_status(&app, &admin, &lead).await, "NEGOTIATION");

    // Replaying the whole stream into the process manager moves nothing twice.
    let before = lead_events(&app, &admin, &lead).await.len();
    let pipeline = app
        .env
        .infra
        .select_consumers(&["lead-pipeline".to_owned()])
        .unwrap();
    projections::rebuild(
        app.pool(),
        app.env.js(),
        &projections::ProjectorConfig::new(
            &app.env.config.nats_stream,
            &app.env.config.subject_prefix,
        ),
        pipeline[0].as_ref(),
        &|_, _| {},
    )
    .await
    .expect("the process manager replays");
    app.settle().await;
    assert_eq!(lead_events(&app, &admin, &lead).await.len(), before);
    let moves: Vec<Value> = lead_events(&app, &admin, &lead)
        .await
        .into_iter()
        .filter(|e| e["event_type"] == "LeadStatusChanged")
        .collect();
    assert_eq!(moves.len(), 2, "PROPOSAL_SENT once, NEGOTIATION once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_policy_expires_sent_quotes_once_their_validity_has_passed() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "q3@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let sent = app.post("/v1/quotes", &admin, quote_body(&lead)).await.id();
    app.post(&format!("/v1/quotes/{sent}/send"), &admin, json!({}))
        .await
        .expect(200);
    let draft = app.post("/v1/quotes", &admin, quote_body(&lead)).await.id();
    app.settle().await;

    let stores =
        processes::policies::PolicyStores::new(app.pool().clone(), app.env.infra.keystore.clone());
    let today = Utc::now().date_naive();
    // On its last valid day nothing happens.
    let report = processes::policies::run_once(&stores, today + Duration::days(30))
        .await
        .unwrap();
    assert_eq!(report.quotes_expired, 0);
    let report = processes::policies::run_once(&stores, today + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(report.quotes_expired, 1);
    assert_eq!(quote_state(&app, &admin, &sent).await["status"], "EXPIRED");
    // A draft awaits no answer and does not expire.
    assert_eq!(quote_state(&app, &admin, &draft).await["status"], "DRAFT");
    app.settle().await;
    // Running again changes nothing.
    let report = processes::policies::run_once(&stores, today + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(report.quotes_expired, 0);
    // An expired quote is no longer accepted, but may be revised.
    app.post(
        &format!("/v1/quotes/{sent}/accept"),
        &admin,
        json!({"revision": 1, "accepted_by_name": "J"}),
    )
    .await
    .expect_problem(409, "conflict");
    app.post(&format!("/v1/quotes/{sent}/revise"), &admin, json!({}))
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_copied_into_new_drafts_for_another_lead() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "q4@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let mut body = quote_body(&lead);
    body["is_template"] = json!(true);
    app.post("/v1/quotes", &admin, body.clone())
        .await
        .expect_problem(422, "validation");
    body["template_name"] = json!("Two-bedroom, QC");
    let template = app.post("/v1/quotes", &admin, body).await.id();
    app.post(&format!("/v1/quotes/{template}/send"), &admin, json!({}))
        .await
        .expect_problem(409, "conflict");

    let other_customer = app.customer(&admin, "q5@example.com").await;
    let other_lead = app.lead(&admin, &other_customer).await;
    let copy = app
        .post(
            &format!("/v1/quotes/{template}/copy"),
            &admin,
            json!({"lead_id": other_lead}),
        )
        .await;
    copy.expect(201);
    let state = quote_state(&app, &admin, &copy.id()).await;
    assert_eq!(state["customer_id"], other_customer.as_str());
    assert_eq!(state["lead_id"], other_lead.as_str());
    assert_eq!(state["copied_from"], template.as_str());
    assert_eq!(state["is_template"], false);
    assert_eq!(state["terms"]["totals"]["total"], "766.51");
    let template_state = quote_state(&app, &admin, &template).await;
    assert_ne!(
        state["terms"]["items"][0]["item_id"],
        template_state["terms"]["items"][0]["item_id"]
    );
    // Templates are shared: a sales rep sees and copies the admin's.
    let sales = app.token("acme", Role::Sales);
    app.settle().await;
    let listed = app.get("/v1/quotes?is_template=true", &sales).await;
    listed.expect(200);
    assert_eq!(listed.body["items"][0]["id"], template.as_str());
    app.get(&format!("/v1/quotes/{template}"), &sales)
        .await
        .expect(200);
    app.post(
        &format!("/v1/quotes/{template}/copy"),
        &sales,
        json!({"lead_id": other_lead}),
    )
    .await
    .expect(201);
    // But not the admin's ordinary quotes.
    app.get(&format!("/v1/quotes/{}", copy.id()), &sales)
        .await
        .expect_problem(403, "forbidden");
    // Only templates are copied.
    app.post(
        &format!("/v1/quotes/{}/copy", copy.id()),
        &admin,
        json!({"lead_id": lead}),
    )
    .await
    .expect_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_quotes_are_refused_with_the_field_named_and_nothing_written() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "q6@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let cases = [
        (
            json!({"lead_id": lead, "valid_until": in_days(30), "items": [{"description": "x", "quantity": "0", "unit_price": "1", "category": "OTHER"}]}),
            "items[0].quantity",
        ),
        (
            json!({"lead_id": lead, "valid_until": in_days(30), "items": [{"description": "x", "quantity": "1", "unit_price": "-1", "category": "OTHER"}]}),
            "items[0].unit_price",
        ),
        (
            json!({"lead_id": lead, "valid_until": in_days(-1), "items": [{"description": "x", "quantity": "1", "unit_price": "1", "category": "OTHER"}]}),
            "valid_until",
        ),
        (
            json!({"lead_id": lead, "valid_until": in_days(30), "items": []}),
            "items",
        ),
        (
            json!({"lead_id": lead, "valid_until": in_days(30), "pricing_type": "HOURLY"}),
            "hourly",
        ),
        (
            json!({"lead_id": lead, "valid_until": in_days(30), "currency": "cad", "items": [{"description": "x", "quantity": "1", "unit_price": "1", "category": "OTHER"}]}),
            "currency",
        ),
        (
            json!({"lead_id": lead, "valid_until": in_days(30), "items": [{"description": "x", "quantity": "1", "unit_price": "1", "category": "FOOD"}]}),
            "items[0].category",
        ),
        (
            json!({"lead_id": uuid::Uuid::new_v4(), "valid_until": in_days(30), "items": [{"description": "x", "quantity": "1", "unit_price": "1", "category": "OTHER"}]}),
            "lead_id",
        ),
        (
            json!({"valid_until": in_days(30), "items": [{"description": "x", "quantity": "1", "unit_price": "1", "category": "OTHER"}]}),
            "customer_id",
        ),
    ];
    for (body, field) in cases {
        let response = app.post("/v1/quotes", &admin, body).await;
        assert_eq!(response.status, 422, "{field}: {:?}", response.body);
        assert!(
            response.problem_fields().iter().any(|f| f == field),
            "{field} not named in {:?}",
            response.body
        );
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_are_bounded_by_the_accepted_total() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "q7@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let id = app.post("/v1/quotes", &admin, quote_body(&lead)).await.id();
    // No deposit before acceptance.
    app.post(
        &format!("/v1/quotes/{id}/deposits"),
        &admin,
        json!({"amount": "100.00", "method": "CASH"}),
    )
    .await
    .expect_problem(409, "conflict");
    app.post(&format!("/v1/quotes/{id}/send"), &admin, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/quotes/{id}/accept"),
        &admin,
        json!({"revision": 1, "accepted_by_name": "J"}),
    )
    .await
    .expect(200);
    let deposit = app
        .post(
            &format!("/v1/quotes/{id}/deposits"),
            &admin,
            json!({"amount": "700.00", "method": "CREDIT_CARD", "gateway": "Stripe", "transaction_id": "ch_1"}),
        )
        .await;
    deposit.expect(201);
    assert!(deposit.body["payment_id"].is_string());
    let over = app
        .post(
            &format!("/v1/quotes/{id}/deposits"),
            &admin,
            json!({"amount": "66.52", "method": "CASH"}),
        )
        .await;
    over.expect_problem(409, "conflict");
    assert!(over.body["detail"].as_str().unwrap().contains("766.51"));
    app.post(
        &format!("/v1/quotes/{id}/deposits"),
        &admin,
        json!({"amount": "66.51", "method": "CASH"}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_quotes_and_who_approves() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "q8@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    for role in [
        Role::Crew,
        Role::Dispatcher,
        Role::Accountant,
        Role::Auditor,
    ] {
        app.post("/v1/quotes", &app.token("acme", role), quote_body(&lead))
            .await
            .expect_problem(403, "forbidden");
    }
    let sales_user = uuid::Uuid::new_v4();
    let sales = app.token_for("acme", sales_user, Role::Sales);
    let mine = app.post("/v1/quotes", &sales, quote_body(&lead)).await;
    mine.expect(201);
    let mine = mine.id();
    // Sales may not approve; a manager may.
    app.post(&format!("/v1/quotes/{mine}/approve"), &sales, json!({}))
        .await
        .expect_problem(403, "forbidden");
    app.post(
        &format!("/v1/quotes/{mine}/approve"),
        &app.token("acme", Role::Manager),
        json!({}),
    )
    .await
    .expect(200);
    // Another rep's quote is outside a sales rep's OWN scope.
    let other = app.token("acme", Role::Sales);
    app.patch(
        &format!("/v1/quotes/{mine}"),
        &other,
        json!({"notes": "mine now"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(&format!("/v1/quotes/{mine}/send"), &sales, json!({}))
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_quote_is_not_found_on_every_route() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "q9@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let id = app.post("/v1/quotes", &admin, quote_body(&lead)).await.id();
    let other = app.token("globex", Role::Admin);
    for action in [
        "send", "view", "accept", "reject", "revise", "approve", "convert", "copy", "deposits",
        "invoice",
    ] {
        let body = match action {
            "accept" => json!({"revision": 1, "accepted_by_name": "J"}),
            "reject" => json!({"reason": "no"}),
            "convert" => json!({"journey_id": uuid::Uuid::new_v4()}),
            "deposits" => json!({"amount": "1.00", "method": "CASH"}),
            _ => json!({}),
        };
        app.post(&format!("/v1/quotes/{id}/{action}"), &other, body)
            .await
            .expect_problem(404, "not-found");
    }
    app.patch(&format!("/v1/quotes/{id}"), &other, json!({"notes": "x"}))
        .await
        .expect_problem(404, "not-found");
    app.get(&format!("/v1/audit/quote/{id}/history"), &other)
        .await
        .expect_problem(404, "not-found");
    // Nor can a quote name another tenant's lead or customer.
    app.post("/v1/quotes", &other, quote_body(&lead))
        .await
        .expect_problem(422, "validation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converting_a_quote_puts_its_journey_on_the_board_on_the_move_date_once() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "journey@example.com").await;
    let move_date = (chrono::Utc::now() + chrono::Duration::days(30)).date_naive();
    let lead = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "website", "estimated_move_date": move_date}),
        )
        .await;
    lead.expect(201);
    let lead = lead.id();
    let q = app.post("/v1/quotes", &admin, quote_body(&lead)).await;
    q.expect(201);
    let id = q.id();
    app.post(&format!("/v1/quotes/{id}/send"), &admin, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/quotes/{id}/accept"),
        &admin,
        json!({"revision": 1, "accepted_by_name": "Jeanne Tremblay"}),
    )
    .await
    .expect(200);
    let journey = uuid::Uuid::new_v4();
    let converted = app
        .post(
            &format!("/v1/quotes/{id}/convert"),
            &admin,
            json!({"journey_id": journey}),
        )
        .await;
    converted.expect(200);
    let plan = &converted.body["journey_schedule"];
    let schedule_id = plan["schedule_id"].as_str().unwrap().to_owned();
    // 08:00 in Toronto (the default working hours and zone), 4 hours.
    let starts_at = plan["starts_at"].as_str().unwrap();
    assert!(
        starts_at.starts_with(&format!("{move_date}T08:00:00-0")),
        "{starts_at}"
    );
    app.settle().await;
    let board = app
        .get(&format!("/v1/schedules/{schedule_id}"), &admin)
        .await;
    board.expect(200);
    assert_eq!(board.body["type"], "JOURNEY");
    assert_eq!(board.body["status"], "SCHEDULED");
    assert_eq!(board.body["crew"], json!([]), "unstaffed");
    assert_eq!(board.body["journey_id"], journey.to_string());
    assert_eq!(board.body["lead_id"], lead.as_str());
    assert_eq!(board.body["starts_at"], plan["starts_at"]);
    assert_eq!(board.body["ends_at"], plan["ends_at"]);
    // Created by the system, caused by the conversion event.
    let converted_event = quote_event_id(&app, &admin, &id, "QuoteConverted").await;
    let history = app
        .get(&format!("/v1/audit/schedule/{schedule_id}/history"), &admin)
        .await;
    history.expect(200);
    let created = &history.body["items"][0];
    assert_eq!(created["event_type"], "ScheduleCreated");
    assert_eq!(
        created["metadata"]["causation_id"],
        converted_event.as_str()
    );
    assert_eq!(created["metadata"]["role"], "system");
    assert_eq!(
        created["payload"]["ScheduleCreated"]["cause"]["rule"],
        "quote-converted"
    );
    let journeys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Schedule' AND event_type = 'ScheduleCreated'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(journeys, 1, "one journey schedule per conversion");

    // Sales see the schedules of their own leads, and no one else's.
    let (rep, other_rep) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    app.post(
        &format!("/v1/leads/{lead}/assign"),
        &admin,
        json!({"user_id": rep}),
    )
    .await
    .expect(200);
    app.settle().await;
    let rep_token = app.token_for("acme", rep, Role::Sales);
    let other_token = app.token_for("acme", other_rep, Role::Sales);
    app.get(&format!("/v1/schedules/{schedule_id}"), &rep_token)
        .await
        .expect(200);
    let listed = app.get("/v1/schedules", &rep_token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    app.get(&format!("/v1/schedules/{schedule_id}"), &other_token)
        .await
        .expect_problem(403, "forbidden");
    let listed = app.get("/v1/schedules", &other_token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 0);
}
