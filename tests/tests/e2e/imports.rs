//! CSV imports end to end: a file posted to an integration is staged,
//! worked through by the import job (in the app), each row creating or
//! updating a customer (matched by email) and opening a lead when it names
//! a source; bad rows are reported with their row, field and reason in the
//! sync log; the same import id posted again does nothing; a bad header is
//! refused before anything is written.

use std::time::Duration;

use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn integration(app: &TestApp, admin: &str) -> String {
    let created = app
        .post(
            "/v1/integrations",
            admin,
            json!({"name": "Old CRM", "type": "CRM"}),
        )
        .await;
    created.expect(201);
    created.id()
}

async fn import(
    app: &TestApp,
    admin: &str,
    integration: &str,
    id: &str,
    csv: &str,
) -> TestResponse {
    app.raw(
        Method::POST,
        &format!("/v1/integrations/{integration}/imports?import_id={id}"),
        Some(admin),
        &[("content-type", "text/csv")],
        csv.as_bytes(),
    )
    .await
}

async fn finished(app: &TestApp, admin: &str, integration: &str, sync: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let read = app
            .get(
                &format!("/v1/integrations/{integration}/sync-logs/{sync}"),
                admin,
            )
            .await;
        if read.status == 200
            && (read.body["status"] == "COMPLETED" || read.body["status"] == "FAILED")
        {
            return read.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the import never finished: {} {}",
            read.status,
            read.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_creates_and_updates_customers_opens_leads_and_reports_each_bad_row() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let existing = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "Ann", "last_name": "Old", "email": "ann@example.com"}),
        )
        .await;
    existing.expect(201);
    let integration = integration(&app, &admin).await;
    let csv = "\u{feff}First_Name,Last_Name,Email,Phone,Source,Estimated_Move_Date,Notes\n\
               Ann,Newname,ANN@example.com,,,,\n\
               Bob,Roy,bob@example.com,514 555 0101,website,2027-08-01,\"2 bedrooms, \"\"piano\"\"\"\n\
               Cat,Lee,not-an-email,,,,\n\
               Dan,Poe,,,,,\n\
               Eve,Ray,eve@example.com,,,31/12/2027,\n\
               Fay,\"Multi\nLine\",fay@example.com,,,,\n";
    let accepted = import(&app, &admin, &integration, "batch-1", csv).await;
    accepted.expect(202);
    assert_eq!(accepted.body["rows"], 6);
    assert_eq!(accepted.body["accepted"], true);
    let sync = accepted.body["sync_id"].as_str().unwrap().to_owned();
    app.settle().await;
    let log = finished(&app, &admin, &integration, &sync).await;
    assert_eq!(log["status"], "COMPLETED", "{log}");
    assert_eq!(log["source"], "CSV_IMPORT");
    assert_eq!(log["total"], 6);
    assert_eq!(log["records_processed"], 6);
    assert_eq!(log["records_created"], 2, "Bob and Fay: {log}");
    assert_eq!(log["records_updated"], 1, "Ann, matched by email: {log}");
    assert_eq!(log["records_failed"], 3, "{log}");
    let failures = log["failures"].as_array().unwrap();
    let named = |row: &str, field: &str| {
        failures
            .iter()
            .any(|f| f["record"] == row && f["field"] == field)
    };
    assert!(named("3", "email"), "{failures:?}");
    assert!(named("4", "email"), "{failures:?}");
    assert!(named("5", "estimated_move_date"), "{failures:?}");
    app.settle().await;
    // Ann was updated, not duplicated.
    let ann = app
        .get(&format!("/v1/customers/{}", existing.id()), &admin)
        .await;
    assert_eq!(ann.body["last_name"], "Newname");
    let customers = app.get("/v1/customers?limit=50", &admin).await;
    assert_eq!(customers.body["items"].as_array().unwrap().len(), 3);
    // Bob's row opened a lead with its source and date.
    let leads = app.get("/v1/leads", &admin).await;
    let items = leads.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["source"], "website");
    assert_eq!(items[0]["estimated_move_date"], "2027-08-01");
    // The staging rows are gone.
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM import_rows")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);

    // The same import id again: nothing.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let again = import(&app, &admin, &integration, "batch-1", csv).await;
    again.expect(200);
    assert_eq!(again.body["accepted"], false);
    assert_eq!(again.body["sync_id"], sync.as_str());
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(after, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_header_or_import_id_is_refused_and_nothing_is_staged() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let integration = integration(&app, &admin).await;
    import(
        &app,
        &admin,
        &integration,
        "x",
        "first_name,last_name\nA,B\n",
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("body");
    import(
        &app,
        &admin,
        &integration,
        "y",
        "first_name,last_name,email,shoe_size\nA,B,a@b.c,9\n",
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("body");
    import(
        &app,
        &admin,
        &integration,
        "%20",
        "first_name,last_name,email\n",
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("import_id");
    import(
        &app,
        &app.token("acme", Role::Manager),
        &integration,
        "z",
        "first_name,last_name,email\n",
    )
    .await
    .expect_problem(403, "forbidden");
    import(
        &app,
        &app.token("globex", Role::Admin),
        &integration,
        "z",
        "first_name,last_name,email\n",
    )
    .await
    .expect_problem(404, "not-found");
    let staged: i64 = sqlx::query_scalar("SELECT count(*) FROM import_rows")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(staged, 0);
    let syncs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'IntegrationSync'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(syncs, 0);
}
