//! History for auditors: events with hashes, state as of a time or version,
//! exports recorded as events.

use crm_tests::TestApp;
use event_schemas::Role;
use event_schemas::integrity::verify_export;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entitys_history_lists_every_event_with_metadata_and_chained_hashes() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "history@example.com").await;
    app.patch(
        &format!("/v1/customers/{customer}"),
        &admin,
        json!({"last_name": "Renamed"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/customers/{customer}/tags"),
        &admin,
        json!({"tag": "vip"}),
    )
    .await
    .expect(200);

    let auditor = app.token("acme", Role::Auditor);
    let history = app
        .get(&format!("/v1/audit/Customer/{customer}/history"), &auditor)
        .await;
    history.expect(200);
    let items = history.body["items"].as_array().unwrap();
    let types: Vec<&str> = items
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "CustomerRegistered",
            "CustomerContactDetailsUpdated",
            "CustomerTagged"
        ]
    );
    assert_eq!(items[0]["prev_hash"], "0".repeat(64));
    for pair in items.windows(2) {
        assert_eq!(
            pair[1]["prev_hash"], pair[0]["hash"],
            "each event chains to the previous one"
        );
    }
    assert_eq!(items[0]["metadata"]["role"], "admin");
    assert_eq!(
        items[0]["payload"]["CustomerRegistered"]["last_name"]["$sealed"], "A256GCM",
        "stored form"
    );

    let page = app
        .get(
            &format!("/v1/audit/customers/{customer}/history?limit=2"),
            &auditor,
        )
        .await;
    page.expect(200);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/v1/audit/customers/{customer}/history?limit=2&cursor={cursor}"),
            &auditor,
        )
        .await;
    assert_eq!(rest.body["items"][0]["event_type"], "CustomerTagged");
    assert!(rest.body["next_cursor"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_of_an_entity_is_rebuilt_as_it_stood_at_a_version_or_time() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "state@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    app.post(
        &format!("/v1/leads/{lead}/transition"),
        &admin,
        json!({"to": "QUALIFIED"}),
    )
    .await
    .expect(200);
    let between: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(recorded_at) FROM events WHERE aggregate_id = $1")
            .bind(&lead)
            .fetch_one(app.pool())
            .await
            .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.post(
        &format!("/v1/leads/{lead}/transition"),
        &admin,
        json!({"to": "LOST", "reason": "price"}),
    )
    .await
    .expect(200);

    let auditor = app.token("acme", Role::Auditor);
    let first = app
        .get(&format!("/v1/audit/Lead/{lead}/state?version=1"), &auditor)
        .await;
    first.expect(200);
    assert_eq!(first.body["version"], 1);
    assert_eq!(first.body["state"]["status"], "NEW");
    let then = app
        .get(
            &format!(
                "/v1/audit/Lead/{lead}/state?as_of={}",
                between.to_rfc3339().replace('+', "%2B")
            ),
            &auditor,
        )
        .await;
    then.expect(200);
    assert_eq!(then.body["state"]["status"], "QUALIFIED");
    let now = app
        .get(&format!("/v1/audit/Lead/{lead}/state"), &auditor)
        .await;
    assert_eq!(now.body["state"]["status"], "LOST");
    assert!(now.body["version"].as_u64().unwrap() > then.body["version"].as_u64().unwrap());

    // Before the entity existed, or past its last event: not found.
    app.get(
        &format!("/v1/audit/Lead/{lead}/state?as_of=2000-01-01T00:00:00Z"),
        &auditor,
    )
    .await
    .expect_problem(404, "not-found");
    app.get(&format!("/v1/audit/Lead/{lead}/state?version=99"), &auditor)
        .await
        .expect_problem(404, "not-found");
    app.get(
        &format!("/v1/audit/Lead/{lead}/state?version=1&as_of=2030-01-01T00:00:00Z"),
        &auditor,
    )
    .await
    .expect_problem(422, "validation");
    app.get(&format!("/v1/audit/Quote/{lead}/state"), &auditor)
        .await
        .expect_problem(404, "not-found");

    // A customer's state shows personal data, and erased once forgotten.
    let registered = app
        .get(
            &format!("/v1/audit/Customer/{customer}/state?version=1"),
            &auditor,
        )
        .await;
    assert_eq!(registered.body["state"]["email"], "state@example.com");
    app.post(
        &format!("/v1/customers/{customer}/forget"),
        &admin,
        json!({"reason": "request"}),
    )
    .await
    .expect(200);
    let after = app
        .get(
            &format!("/v1/audit/Customer/{customer}/state?version=1"),
            &auditor,
        )
        .await;
    assert_eq!(after.body["state"]["first_name"], "[erased]");
    assert!(after.body["state"]["email"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_is_verifiable_ndjson_of_the_tenant_and_is_itself_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "export@example.com").await;
    app.lead(&admin, &customer).await;
    let other = app.token("globex", Role::Admin);
    let theirs = app.customer(&other, "theirs@example.com").await;
    app.settle().await;

    let auditor = app.token("acme", Role::Auditor);
    let response = app
        .client
        .get(format!("{}/v1/audit/export", app.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.unwrap();
    let report = verify_export(body.as_bytes()).unwrap();
    assert_eq!(
        report.events, 3,
        "registration, lead, and the export's own record"
    );
    assert!(!body.contains(&theirs), "only the caller's tenant");
    assert!(body.contains("AuditExportRecorded"));

    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'AuditExportRecorded' AND tenant_id = 'acme'
           AND metadata->>'role' = 'auditor'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(recorded, 1, "the export is an audit event");
    app.settle().await;
    let trail = app
        .get("/v1/audit/events?aggregate_type=AuditExport", &admin)
        .await;
    assert_eq!(trail.body["items"].as_array().unwrap().len(), 1);

    // Sales and crew may not export; nothing is recorded for them.
    for role in [Role::Sales, Role::Crew, Role::Dispatcher] {
        app.get("/v1/audit/export", &app.token("acme", role))
            .await
            .expect_problem(403, "forbidden");
    }
    app.get(
        "/v1/audit/export?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        &auditor,
    )
    .await
    .expect_problem(422, "validation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_entities_are_404_on_every_audit_route_and_auditors_only_read() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "mine@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let globex = app.token("globex", Role::Auditor);
    for path in [
        format!("/v1/audit/Customer/{customer}/history"),
        format!("/v1/audit/Lead/{lead}/history"),
        format!("/v1/audit/Customer/{customer}/state"),
        format!("/v1/audit/Lead/{lead}/state?version=1"),
    ] {
        app.get(&path, &globex)
            .await
            .expect_problem(404, "not-found");
    }
    // An auditor reads everything and changes nothing.
    let auditor = app.token("acme", Role::Auditor);
    app.get(&format!("/v1/audit/Lead/{lead}/history"), &auditor)
        .await
        .expect(200);
    app.get(&format!("/v1/customers/{customer}?min_version=1"), &auditor)
        .await
        .expect(200);
    app.post(
        &format!("/v1/customers/{customer}/forget"),
        &auditor,
        json!({"reason": "x"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        &format!("/v1/leads/{lead}/transition"),
        &auditor,
        json!({"to": "CONTACTED"}),
    )
    .await
    .expect_problem(403, "forbidden");
    // Sales reps and crew do not read the history.
    for role in [Role::Sales, Role::Crew] {
        app.get(
            &format!("/v1/audit/Lead/{lead}/history"),
            &app.token("acme", role),
        )
        .await
        .expect_problem(403, "forbidden");
    }
}
