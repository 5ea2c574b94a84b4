//! The whole pipeline, as a user sees it.

use crm_tests::TestApp;
use event_schemas::Role;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_becomes_a_won_lead_visible_in_read_models_and_the_audit_trail() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);

    let customer = app
        .post(
            "/v1/customers",
            &admin,
            json!({
                "first_name": "Jeanne", "last_name": "Tremblay",
                "email": "Jeanne@Example.com", "phone": "(514) 555-0123",
                "address": {"line1": "123 Rue Principale", "city": "Montréal", "province": "qc", "postal_code": "h2x1y4"},
                "lead_source": "referral", "tags": ["VIP"]
            }),
        )
        .await;
    customer.expect(201);
    let customer_id = customer.id();
    assert_eq!(
        customer.header("location"),
        Some(format!("/v1/customers/{customer_id}").as_str())
    );
    assert_eq!(customer.header("etag"), Some("\"1\""));

    let lead = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer_id, "source": "website", "priority": "HIGH",
                   "estimated_value": "4500", "estimated_move_date": "2099-07-01",
                   "qualification": {"budget_confirmed": true}}),
        )
        .await;
    lead.expect(201);
    let lead_id = lead.id();

    let call = app
        .post(
            &format!("/v1/leads/{lead_id}/activities"),
            &admin,
            json!({"type": "PHONE_CALL", "description": "Discussed the move", "outcome": "interested",
                   "completed_at": "2026-01-01T10:00:00Z", "duration_minutes": 15, "cost": "1.50"}),
        )
        .await;
    call.expect(201);
    assert_eq!(call.body["lead_id"], lead_id.as_str());

    for to in ["QUALIFIED", "PROPOSAL_SENT", "NEGOTIATION", "WON"] {
        app.post(
            &format!("/v1/leads/{lead_id}/transition"),
            &admin,
            json!({"to": to}),
        )
        .await
        .expect(200);
    }
    // WON is final.
    app.post(
        &format!("/v1/leads/{lead_id}/transition"),
        &admin,
        json!({"to": "LOST", "reason": "x"}),
    )
    .await
    .expect_problem(409, "conflict");

    app.settle().await;

    let read = app.get(&format!("/v1/leads/{lead_id}"), &admin).await;
    read.expect(200);
    assert_eq!(read.body["status"], "WON");
    assert_eq!(read.body["priority"], "HIGH");
    assert_eq!(read.body["estimated_value"], "4500.00");
    assert_eq!(read.body["customer_name"], "Jeanne Tremblay");
    assert_eq!(read.body["activity_count"], 1);
    assert_eq!(read.body["last_activity_type"], "PHONE_CALL");
    assert_eq!(read.body["last_contact_at"], "2026-01-01T10:00:00Z");
    assert!(
        read.body["first_contacted_at"].is_string(),
        "speed-to-lead is stamped: {}",
        read.body
    );

    let customer = app
        .get(&format!("/v1/customers/{customer_id}"), &admin)
        .await;
    customer.expect(200);
    assert_eq!(customer.body["email"], "Jeanne@example.com");
    assert_eq!(customer.body["phone"], "+15145550123");
    assert_eq!(customer.body["address"]["postal_code"], "H2X 1Y4");
    assert_eq!(customer.body["tags"], json!(["vip"]));
    assert_eq!(customer.body["lead_count"], 1);

    let timeline = app
        .get(&format!("/v1/leads/{lead_id}/timeline"), &admin)
        .await;
    timeline.expect(200);
    let kinds: Vec<&str> = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.first(),
        Some(&"status_changed"),
        "newest first: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"created"));
    assert_eq!(kinds.iter().filter(|k| **k == "status_changed").count(), 4);
    assert!(kinds.contains(&"activity") && kinds.contains(&"first_contacted"));

    let audit = app
        .get(
            &format!("/v1/audit/events?aggregate_type=Lead&aggregate_id={lead_id}&limit=200"),
            &admin,
        )
        .await;
    audit.expect(200);
    let events = audit.body["items"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .rev()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "LeadCreated",
            "SalesActivityRecorded",
            "LeadFirstContacted",
            "LeadStatusChanged",
            "LeadStatusChanged",
            "LeadStatusChanged",
            "LeadStatusChanged"
        ]
    );
    for event in events {
        assert_eq!(event["actor_role"], "admin");
        assert!(!event["correlation_id"].as_str().unwrap().is_empty());
        assert!(!event["command_id"].as_str().unwrap().is_empty());
    }
    // The activity and the first contact it caused share one command.
    assert_eq!(
        events[events.len() - 2]["command_id"],
        events[events.len() - 3]["command_id"]
    );
}
