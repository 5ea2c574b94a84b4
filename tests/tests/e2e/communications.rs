//! Communications end to end (before the sender): messages written from
//! templates with the records they are about, sealed in the event store and
//! opened in the read model, drafts sent and cancelled, the marketing
//! consent rule and the public unsubscribe link, forgetting a customer
//! erasing every message's text, auditors reading metadata only, roles and
//! tenancy.

use crm_tests::TestApp;
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn template(app: &TestApp, token: &str, body: Value) -> String {
    let created = app.post("/v1/templates", token, body).await;
    created.expect(201);
    created.id()
}

fn follow_up(purpose: &str) -> Value {
    json!({
        "name": "Follow-up",
        "type": "EMAIL",
        "purpose": purpose,
        "subject": "{{ company.name }}: your move on {{ lead.move_date }}",
        "content": "<p>Hello {{ customer.first_name }}, {{ note }}</p>",
        "variables": [{"name": "note", "required": true}]
    })
}

async fn setup(app: &TestApp) -> (String, String, String) {
    let admin = app.token("acme", Role::Admin);
    app.request(
        Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(json!({"company_name": "Acme Movers"})),
        &[],
    )
    .await
    .expect(200);
    let customer = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "514 555 0123"}),
        )
        .await;
    customer.expect(201);
    let customer = customer.id();
    let lead = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "website", "estimated_move_date": "2027-06-30"}),
        )
        .await;
    lead.expect(201);
    (admin, customer, lead.id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_a_template_records_its_version_is_sealed_when_stored_and_read_back_opened()
{
    let app = TestApp::spawn().await;
    let (admin, customer, lead) = setup(&app).await;
    let manager = app.token("acme", Role::Manager);
    let tpl = template(&app, &manager, follow_up("TRANSACTIONAL")).await;
    let created = app
        .post(
            "/v1/communications",
            &manager,
            json!({"type": "EMAIL", "customer_id": customer, "lead_id": lead, "template_id": tpl,
                   "variables": {"note": "<see you soon>"}, "tags": ["follow-up"]}),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let read = app
        .get(&format!("/v1/communications/{id}?min_version=1"), &manager)
        .await;
    read.expect(200);
    assert_eq!(read.body["status"], "DRAFT");
    assert_eq!(read.body["type"], "EMAIL");
    assert_eq!(read.body["recipient"], "jane@example.com");
    assert_eq!(read.body["subject"], "Acme Movers: your move on 2027-06-30");
    assert_eq!(
        read.body["content"],
        "<p>Hello Jane, &lt;see you soon&gt;</p>"
    );
    assert_eq!(read.body["template_id"].as_str(), Some(tpl.as_str()));
    assert_eq!(read.body["template_version"], 1);
    assert_eq!(read.body["variables"]["note"], "<see you soon>");
    assert_eq!(read.body["lead_id"].as_str(), Some(lead.as_str()));

    // Stored sealed: neither the address nor the text is in the events table.
    let stored: String = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'Communication' AND aggregate_id = $1",
    )
    .bind(&id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(!stored.contains("jane@example.com"), "{stored}");
    assert!(!stored.contains("see you soon"), "{stored}");
    assert!(stored.contains("$sealed"), "{stored}");

    // Sent: queued for the sender; sending again changes nothing.
    let sent = app
        .post(
            &format!("/v1/communications/{id}/send"),
            &manager,
            json!({}),
        )
        .await;
    sent.expect(200);
    assert_eq!(sent.version(), 2);
    let again = app
        .post(
            &format!("/v1/communications/{id}/send"),
            &manager,
            json!({}),
        )
        .await;
    assert_eq!(again.version(), 2);
    let read = app
        .get(&format!("/v1/communications/{id}?min_version=2"), &manager)
        .await;
    assert_eq!(read.body["status"], "QUEUED");
    assert!(read.body["queued_at"].is_string());
    // Listed by customer and status.
    let listed = app
        .get(
            &format!("/v1/communications?customer_id={customer}&status=QUEUED&type=EMAIL"),
            &admin,
        )
        .await;
    assert_eq!(listed.body["items"][0]["id"].as_str(), Some(id.as_str()));
    let none = app
        .get(
            &format!("/v1/communications?customer_id={customer}&status=SENT"),
            &admin,
        )
        .await;
    assert_eq!(none.body["items"], json!([]));

    // A queued message is cancelled; a cancelled one is never sent.
    app.post(
        &format!("/v1/communications/{id}/cancel"),
        &manager,
        json!({"reason": "wrong day"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/communications/{id}/send"),
        &manager,
        json!({}),
    )
    .await
    .expect_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_name_their_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (admin, customer, _) = setup(&app).await;
    let tpl = template(&app, &admin, follow_up("TRANSACTIONAL")).await;
    let cases = [
        (
            json!({"type": "EMAIL", "customer_id": customer, "template_id": tpl}),
            "variables.note",
        ),
        (
            json!({"type": "EMAIL", "customer_id": customer, "template_id": tpl, "variables": {"note": "x", "coupon": 1}}),
            "variables.coupon",
        ),
        (
            json!({"type": "SMS", "customer_id": customer, "template_id": tpl, "variables": {"note": "x"}}),
            "type",
        ),
        (
            json!({"type": "EMAIL", "customer_id": uuid::Uuid::new_v4(), "subject": "s", "content": "c"}),
            "customer_id",
        ),
        (
            json!({"type": "EMAIL", "recipient": "nope", "subject": "s", "content": "c"}),
            "recipient",
        ),
        (
            json!({"type": "EMAIL", "subject": "s", "content": "c"}),
            "recipient",
        ),
        (
            json!({"type": "EMAIL", "customer_id": customer, "content": "c"}),
            "subject",
        ),
        (
            json!({"type": "EMAIL", "customer_id": customer, "template_id": uuid::Uuid::new_v4()}),
            "template_id",
        ),
    ];
    for (body, field) in cases {
        let refused = app.post("/v1/communications", &admin, body.clone()).await;
        refused.expect_problem(422, "validation");
        assert_eq!(refused.problem_fields(), vec![field], "{body}");
    }
    // A deactivated template makes no new message.
    app.post(
        &format!("/v1/templates/{tpl}/deactivate"),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/communications",
        &admin,
        json!({"type": "EMAIL", "customer_id": customer, "template_id": tpl, "variables": {"note": "x"}}),
    )
    .await
    .expect_problem(409, "conflict");
    app.settle().await;
    let listed = app.get("/v1/communications", &admin).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketing_needs_consent_carries_an_unsubscribe_link_and_the_link_withdraws_it() {
    let app = TestApp::spawn().await;
    let (admin, customer, lead) = setup(&app).await;
    let tpl = template(&app, &admin, follow_up("MARKETING")).await;
    let offer = json!({"type": "EMAIL", "customer_id": customer, "lead_id": lead, "template_id": tpl, "variables": {"note": "10% off"}, "send": true});

    // No consent: refused, naming the rule. Transactional mail still goes.
    let refused = app.post("/v1/communications", &admin, offer.clone()).await;
    refused.expect_problem(409, "conflict");
    assert_eq!(refused.body["rule"], "communication.no-consent");
    app.post(
        "/v1/communications",
        &admin,
        json!({"type": "EMAIL", "customer_id": customer, "subject": "Your invoice", "content": "Attached.", "send": true}),
    )
    .await
    .expect(201);

    // Express consent recorded: the offer goes, with its unsubscribe link.
    app.post(
        &format!("/v1/customers/{customer}/consent"),
        &admin,
        json!({"channel": "EMAIL", "kind": "EXPRESS", "given_on": "2026-01-15", "source": "website form"}),
    )
    .await
    .expect(200);
    let sent = app.post("/v1/communications", &admin, offer.clone()).await;
    sent.expect(201);
    let message = app
        .get(
            &format!("/v1/communications/{}?min_version=2", sent.id()),
            &admin,
        )
        .await;
    assert_eq!(message.body["status"], "QUEUED");
    let content = message.body["content"].as_str().unwrap();
    let link_start = content
        .find("/v1/unsubscribe/")
        .expect("an unsubscribe link");
    let token: String = content[link_start + "/v1/unsubscribe/".len()..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let customer_view = app.get(&format!("/v1/customers/{customer}"), &admin).await;
    assert_eq!(customer_view.body["consents"]["EMAIL"]["kind"], "EXPRESS");

    // The link works without a login; a forged one does not.
    let forged = app
        .request(
            Method::GET,
            &format!("/v1/unsubscribe/{}x", &token[..token.len() - 1]),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(forged.status, 404);
    let page = app
        .request(
            Method::GET,
            &format!("/v1/unsubscribe/{token}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.to_string().contains("unsubscribed"),
        "{}",
        page.body
    );
    let again = app
        .request(
            Method::POST,
            &format!("/v1/unsubscribe/{token}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(again.status, 200, "one-click: idempotent");

    // Withdrawn: marketing refused again; the read model shows it.
    let refused = app.post("/v1/communications", &admin, offer).await;
    refused.expect_problem(409, "conflict");
    assert!(
        refused.body.to_string().contains("unsubscribed"),
        "{}",
        refused.body
    );
    app.settle().await;
    let customer_view = app.get(&format!("/v1/customers/{customer}"), &admin).await;
    assert_eq!(customer_view.body["consents"]["EMAIL"]["withdrawn"], true);
    assert_eq!(
        customer_view.body["consents"]["EMAIL"]["withdrawn_via"],
        "LINK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_a_customer_erases_their_messages_text_everywhere() {
    let app = TestApp::spawn().await;
    let (admin, customer, _) = setup(&app).await;
    let created = app
        .post(
            "/v1/communications",
            &admin,
            json!({"type": "SMS", "customer_id": customer, "content": "Your movers arrive at 8, Jane."}),
        )
        .await;
    created.expect(201);
    let id = created.id();
    app.post(
        &format!("/v1/customers/{customer}/forget"),
        &admin,
        json!({"reason": "erasure request"}),
    )
    .await
    .expect(200);
    app.settle().await;
    let read = app.get(&format!("/v1/communications/{id}"), &admin).await;
    read.expect(200);
    assert_eq!(read.body["recipient"], "[erased]");
    assert_eq!(read.body["content"], "[erased]");
    // The audit history reads the events erased too (the key is gone).
    let history = app
        .get(&format!("/v1/audit/Communication/{id}/history"), &admin)
        .await;
    history.expect(200);
    assert!(
        !history.body.to_string().contains("arrive at 8"),
        "{}",
        history.body
    );
    assert!(
        history.body.to_string().contains("$sealed"),
        "{}",
        history.body
    );
    // Replayed, the message's state has nothing left to read.
    let state = app
        .get(&format!("/v1/audit/Communication/{id}/state"), &admin)
        .await;
    state.expect(200);
    assert!(
        !state.body.to_string().contains("arrive at 8"),
        "{}",
        state.body
    );
    assert!(
        state.body.to_string().contains("[erased]"),
        "{}",
        state.body
    );
    let rows: Vec<String> = sqlx::query_scalar("SELECT content FROM read.communications")
        .fetch_all(app.pool())
        .await
        .unwrap();
    assert!(rows.iter().all(|c| c == "[erased]"), "{rows:?}");
    // Nothing more can be written to them.
    app.post(
        "/v1/communications",
        &admin,
        json!({"type": "SMS", "customer_id": customer, "content": "hello?"}),
    )
    .await
    .expect_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_write_to_their_own_customers_crew_to_no_one_auditors_read_metadata_and_tenants_are_apart()
 {
    let app = TestApp::spawn().await;
    let (admin, customer, lead) = setup(&app).await;
    let rep = uuid::Uuid::new_v4();
    let sales = app.token_for("acme", rep, Role::Sales);
    let other_rep = app.token_for("acme", uuid::Uuid::new_v4(), Role::Sales);
    app.post(
        &format!("/v1/leads/{lead}/assign"),
        &admin,
        json!({"user_id": rep}),
    )
    .await
    .expect(200);
    app.settle().await;
    let message =
        json!({"type": "EMAIL", "customer_id": customer, "subject": "Hi", "content": "Hello Jane"});
    let mine = app
        .post("/v1/communications", &sales, message.clone())
        .await;
    mine.expect(201);
    app.post("/v1/communications", &other_rep, message.clone())
        .await
        .expect_problem(403, "forbidden");
    app.post(
        "/v1/communications",
        &app.token("acme", Role::Crew),
        message.clone(),
    )
    .await
    .expect_problem(403, "forbidden");
    app.settle().await;
    let id = mine.id();
    app.get(&format!("/v1/communications/{id}"), &sales)
        .await
        .expect(200);
    app.get(&format!("/v1/communications/{id}"), &other_rep)
        .await
        .expect_problem(403, "forbidden");

    let auditor = app.token("acme", Role::Auditor);
    let seen = app.get(&format!("/v1/communications/{id}"), &auditor).await;
    seen.expect(200);
    assert_eq!(seen.body["status"], "DRAFT");
    assert_eq!(seen.body["content"], Value::Null);
    assert_eq!(seen.body["recipient"], Value::Null);
    assert_eq!(seen.body["subject"], Value::Null);
    let listed = app.get("/v1/communications", &auditor).await;
    assert_eq!(listed.body["items"][0]["content"], Value::Null);
    app.post(
        &format!("/v1/communications/{id}/send"),
        &auditor,
        json!({}),
    )
    .await
    .expect_problem(403, "forbidden");

    let other = app.token("globex", Role::Admin);
    for (method, path) in [
        (Method::GET, format!("/v1/communications/{id}")),
        (Method::POST, format!("/v1/communications/{id}/send")),
        (Method::POST, format!("/v1/communications/{id}/cancel")),
        (
            Method::POST,
            format!("/v1/customers/{customer}/unsubscribe"),
        ),
    ] {
        let body = (method != Method::GET).then(|| json!({"channel": "EMAIL"}));
        let body = if path.ends_with("cancel") || path.ends_with("send") {
            Some(json!({}))
        } else {
            body
        };
        app.request(method.clone(), &path, Some(&other), body, &[])
            .await
            .expect_problem(404, "not-found");
    }
    app.post(
        &format!("/v1/customers/{customer}/consent"),
        &other,
        json!({"channel": "EMAIL", "kind": "EXPRESS", "given_on": "2026-01-15", "source": "x"}),
    )
    .await
    .expect_problem(404, "not-found");
    app.post(
        "/v1/communications",
        &other,
        json!({"type": "EMAIL", "customer_id": customer, "subject": "Hi", "content": "x"}),
    )
    .await
    .expect_problem(422, "validation");
    assert_eq!(
        app.get("/v1/communications", &other).await.body["items"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_and_customer_timelines_show_messages_with_their_status() {
    let app = TestApp::spawn().await;
    let (admin, customer, lead) = setup(&app).await;
    let about_lead = app
        .post(
            "/v1/communications",
            &admin,
            json!({"type": "EMAIL", "customer_id": customer, "lead_id": lead, "subject": "Your move", "content": "Hi"}),
        )
        .await;
    about_lead.expect(201);
    let customer_only = app
        .post(
            "/v1/communications",
            &admin,
            json!({"type": "SMS", "customer_id": customer, "content": "Call us back", "send": true}),
        )
        .await;
    customer_only.expect(201);
    app.post(
        &format!("/v1/communications/{}/send", about_lead.id()),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    app.settle().await;

    let lead_timeline = app.get(&format!("/v1/leads/{lead}/timeline"), &admin).await;
    lead_timeline.expect(200);
    let items = lead_timeline.body["items"].as_array().unwrap();
    assert_eq!(items[0]["kind"], "communication", "newest first: {items:?}");
    assert_eq!(
        items[0]["communication_id"].as_str(),
        Some(about_lead.id().as_str())
    );
    assert_eq!(items[0]["data"]["status"], "QUEUED");
    assert_eq!(items[0]["summary"], "EMAIL to jane@example.com: Your move");
    assert_eq!(items.last().unwrap()["kind"], "created");
    assert!(
        items
            .iter()
            .all(|i| i["communication_id"].as_str() != Some(customer_only.id().as_str())),
        "a message not about the lead is not on its timeline"
    );

    let customer_timeline = app
        .get(&format!("/v1/customers/{customer}/timeline"), &admin)
        .await;
    customer_timeline.expect(200);
    let items = customer_timeline.body["items"].as_array().unwrap();
    let messages: Vec<&Value> = items
        .iter()
        .filter(|i| i["kind"] == "communication")
        .collect();
    assert_eq!(messages.len(), 2, "{items:?}");
    assert!(
        items.iter().any(|i| i["kind"] == "created"),
        "the lead's events too"
    );
    let only = app
        .get(
            &format!("/v1/customers/{customer}/timeline?kind=communication&limit=1"),
            &admin,
        )
        .await;
    assert_eq!(only.body["items"].as_array().unwrap().len(), 1);
    let next = only.body["next_cursor"].as_str().expect("a second page");
    let second = app
        .get(
            &format!("/v1/customers/{customer}/timeline?kind=communication&limit=1&cursor={next}"),
            &admin,
        )
        .await;
    assert_ne!(
        second.body["items"][0]["communication_id"],
        only.body["items"][0]["communication_id"]
    );

    // Auditors see that messages went, not to whom or what.
    let auditor = app.token("acme", Role::Auditor);
    let seen = app
        .get(
            &format!("/v1/customers/{customer}/timeline?kind=communication"),
            &auditor,
        )
        .await;
    seen.expect(200);
    assert!(
        !seen.body.to_string().contains("jane@example.com"),
        "{}",
        seen.body
    );
    assert!(
        !seen.body.to_string().contains("Your move"),
        "{}",
        seen.body
    );
    app.get(
        &format!("/v1/customers/{customer}/timeline"),
        &app.token("globex", Role::Admin),
    )
    .await
    .expect_problem(404, "not-found");
}
