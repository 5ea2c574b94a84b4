//! Saved and scheduled reports: the same ledger read back from each format
//! (CSV, JSON, Excel through calamine, PDF through pdftotext) against the
//! API's own ledger; the PDF cap; parameters named when wrong; tenancy;
//! a run cut off by a stopped worker generated again; schedules asked for
//! once per due time across two workers, in the tenant's time zone across
//! DST, emailing the file; files deleted past the tenant's retention.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use aggregates::report::{Report, ReportAction, ReportCommand};
use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Utc};
use crm_tests::TestApp;
use event_schemas::{EventMetadata, Role, SYSTEM_USER, TenantId};
use event_store::{CommandError, Run, Stores, Target};
use outbound::ManualClock;
use serde_json::{Value, json};
use uuid::Uuid;

const TENANT: &str = "acme";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Records a manual ledger entry through the API.
async fn entry(app: &TestApp, token: &str, body: Value) {
    app.post("/v1/financial-transactions", token, body)
        .await
        .expect(201);
}

/// Saves a report and asks for a run; the report's id.
async fn requested(app: &TestApp, token: &str, body: Value) -> String {
    let report = app.post("/v1/reports", token, body).await;
    report.expect(201);
    let id = report.id();
    app.post(&format!("/v1/reports/{id}/generate"), token, json!({}))
        .await
        .expect(202);
    id
}

async fn run_worker(app: &TestApp, clock: Arc<ManualClock>) -> processes::reports::Round {
    app.settle().await;
    let round = app
        .report_worker(clock)
        .run_once()
        .await
        .expect("a report round");
    app.settle().await;
    round
}

/// The bytes of the report's latest file, with its content type.
async fn download(app: &TestApp, token: &str, id: &str) -> (String, Vec<u8>) {
    let (status, headers, body) = app.bytes(&format!("/v1/reports/{id}/file"), token).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let disposition = headers["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    (headers["content-type"].to_str().unwrap().to_owned(), body)
}

/// pdftotext's text of a PDF (a missing tool fails the test).
fn pdf_text(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, bytes).unwrap();
    let output = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap_or_else(|e| {
            panic!("pdftotext could not run ({e}): run scripts/test-peers.sh, which installs poppler-utils")
        });
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_ledger_report_reads_the_same_in_every_format_as_the_ledger_itself() {
    let app = TestApp::spawn().await;
    let admin = app.token(TENANT, Role::Admin);
    app.request(
        reqwest::Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(json!({"company_name": "Déménagements Tremblay", "time_zone": "America/Toronto"})),
        &[],
    )
    .await
    .expect(200);
    // In the period, in CAD: three entries, one of them text a spreadsheet
    // would run as a formula.
    entry(&app, &admin, json!({"type": "EXPENSE", "amount": "182.40", "description": "Diesel, truck 3", "category": "fuel", "transaction_date": "2026-11-03", "reference": "R-1"})).await;
    entry(&app, &admin, json!({"type": "INCOME", "amount": "1250.00", "description": "=Storage fee", "category": "storage", "transaction_date": "2026-11-15"})).await;
    entry(&app, &admin, json!({"type": "EXPENSE", "amount": "64.05", "description": "Tape and boxes", "category": "supplies", "transaction_date": "2026-11-30"})).await;
    // Left out: another currency, another month, another tenant.
    entry(&app, &admin, json!({"type": "EXPENSE", "amount": "99.00", "currency": "USD", "description": "Tolls", "category": "road", "transaction_date": "2026-11-10"})).await;
    entry(&app, &admin, json!({"type": "EXPENSE", "amount": "10.00", "description": "October", "category": "misc", "transaction_date": "2026-10-31"})).await;
    let globex = app.token("globex", Role::Admin);
    entry(&app, &globex, json!({"type": "EXPENSE", "amount": "7.00", "description": "Globex", "category": "misc", "transaction_date": "2026-11-05"})).await;
    app.settle().await;

    // What the ledger itself says of November in CAD, oldest first.
    let ledger = app
        .get(
            "/v1/financial-transactions?from=2026-11-01&to=2026-11-30&limit=200",
            &admin,
        )
        .await;
    ledger.expect(200);
    let mut expected: Vec<(String, String, String, String)> = ledger.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["currency"] == "CAD")
        .map(|t| {
            (
                t["transaction_date"].as_str().unwrap().to_owned(),
                t["type"]
                    .as_str()
                    .unwrap_or(t["transaction_type"].as_str().unwrap_or(""))
                    .to_owned(),
                t["description"].as_str().unwrap().to_owned(),
                t["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 3, "{expected:?}");

    let params =
        json!({"report": "ledger", "from": "2026-11-01", "to": "2026-11-30", "currency": "CAD"});
    let mut ids = BTreeMap::new();
    for format in ["CSV", "JSON", "EXCEL", "PDF"] {
        let id = requested(
            &app,
            &admin,
            json!({"name": "November ledger", "parameters": params, "format": format}),
        )
        .await;
        ids.insert(format, id);
    }
    let clock = Arc::new(ManualClock::new(Utc::now()));
    assert_eq!(run_worker(&app, clock).await.generated, 4);
    for id in ids.values() {
        let report = app.get(&format!("/v1/reports/{id}"), &admin).await;
        report.expect(200);
        assert_eq!(report.body["status"], "COMPLETED", "{}", report.body);
        assert_eq!(report.body["file"]["rows"], 3);
    }

    // CSV: the header, then the rows; the formula guarded.
    let (content_type, csv_bytes) = download(&app, &admin, &ids["CSV"]).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let mut csv = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        &header[..5],
        ["Date", "Type", "Description", "Category", "Amount"]
    );
    let mut rows: Vec<(String, String, String, String)> = csv
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_owned(),
                r[1].to_owned(),
                r[2].trim_start_matches('\'').to_owned(),
                r[4].to_owned(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(rows, expected);
    assert!(String::from_utf8_lossy(&csv_bytes).contains("'=Storage fee"));

    // JSON: the same rows, amounts as strings.
    let (content_type, json_bytes) = download(&app, &admin, &ids["JSON"]).await;
    assert_eq!(content_type, "application/json");
    let doc: Value = serde_json::from_slice(&json_bytes).unwrap();
    assert_eq!(doc["row_count"], 3);
    assert_eq!(doc["company"], "Déménagements Tremblay");
    let mut rows: Vec<(String, String, String, String)> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_owned(),
                r["type"].as_str().unwrap().to_owned(),
                r["description"].as_str().unwrap().to_owned(),
                r["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(rows, expected);

    // Excel: real numbers and dates, read back with calamine.
    let (_, xlsx) = download(&app, &admin, &ids["EXCEL"]).await;
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let header_row = sheet
        .rows()
        .position(|r| r.first().is_some_and(|c| *c == "Date"))
        .expect("a header row");
    let mut rows: Vec<(String, String, String, String)> = sheet
        .rows()
        .skip(header_row + 1)
        .filter(|r| !r.iter().all(|c| matches!(c, Data::Empty)))
        .map(|r| {
            let date = match &r[0] {
                Data::DateTime(d) => d.as_datetime().unwrap().date().to_string(),
                other => panic!("a date cell, not {other:?}"),
            };
            let amount = match &r[4] {
                Data::Float(f) => format!("{f:.2}"),
                other => panic!("a number cell, not {other:?}"),
            };
            (date, r[1].to_string(), r[2].to_string(), amount)
        })
        .collect();
    rows.sort();
    assert_eq!(rows, expected);

    // PDF: the heading and every row's text.
    let (content_type, pdf) = download(&app, &admin, &ids["PDF"]).await;
    assert_eq!(content_type, "application/pdf");
    let text = pdf_text(&pdf);
    for needle in [
        "Déménagements Tremblay",
        "November ledger",
        "2026-11-01 – 2026-11-30",
        "Diesel, truck 3",
        "182.40",
        "1,250.00",
        "Tape and boxes",
        "Page 1 of 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    for absent in ["Tolls", "October", "Globex"] {
        assert!(
            !text.contains(absent),
            "{absent} is not in the period:\n{text}"
        );
    }

    // Each run is kept, with its file.
    let runs = app
        .get(&format!("/v1/reports/{}/runs", ids["PDF"]), &admin)
        .await;
    runs.expect(200);
    let run = &runs.body["items"][0];
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["attempts"], 1);
    assert_eq!(run["trigger"], "MANUAL");
    let (status, _, again) = app
        .bytes(run["file"]["url"].as_str().unwrap(), &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(again, pdf);
}

#[tokio::test]
async fn a_pdf_over_its_row_cap_is_refused_and_a_spreadsheet_takes_the_rows() {
    let app = TestApp::spawn().await;
    let admin = app.token(TENANT, Role::Admin);
    let cap = report_formats::PDF_MAX_ROWS as i64;
    // The read model seeded directly: 10,001 entries (the API would take
    // minutes); the report reads the read model.
    sqlx::query(
        "INSERT INTO read.financial_transactions
             (tenant_id, id, source, transaction_type, amount, cash_effect, currency, description, category,
              transaction_date, occurred_at, source_event_id, recorded_by, recorded_at)
         SELECT $1, gen_random_uuid(), 'manual', 'EXPENSE', 1.00, -1.00, 'CAD', 'entry ' || n, 'misc',
                DATE '2026-11-01' + (n % 30)::int, now(), gen_random_uuid(), gen_random_uuid(), now()
           FROM generate_series(1, $2::int) AS n",
    )
    .bind(TENANT)
    .bind(cap + 1)
    .execute(app.pool())
    .await
    .unwrap();
    let params =
        json!({"report": "ledger", "from": "2026-11-01", "to": "2026-11-30", "currency": "CAD"});
    let pdf = app
        .post(
            "/v1/reports",
            &admin,
            json!({"name": "Too long", "parameters": params, "format": "PDF"}),
        )
        .await;
    pdf.expect(201);
    let refused = app
        .post(
            &format!("/v1/reports/{}/generate", pdf.id()),
            &admin,
            json!({}),
        )
        .await;
    refused
        .expect_problem(422, "validation")
        .expect_field("format");
    assert!(
        refused.body.to_string().contains("10000") || refused.body.to_string().contains("10,000"),
        "{}",
        refused.body
    );
    let excel = requested(
        &app,
        &admin,
        json!({"name": "Long", "parameters": params, "format": "EXCEL"}),
    )
    .await;
    assert_eq!(
        run_worker(&app, Arc::new(ManualClock::new(Utc::now())))
            .await
            .generated,
        1
    );
    let report = app.get(&format!("/v1/reports/{excel}"), &admin).await;
    assert_eq!(report.body["status"], "COMPLETED", "{}", report.body);
    assert_eq!(report.body["file"]["rows"], cap + 1);
}

#[tokio::test]
async fn bad_parameters_are_named_other_tenants_see_nothing_and_roles_hold() {
    let app = TestApp::spawn().await;
    let admin = app.token(TENANT, Role::Admin);
    let cases = [
        (json!({"report": "nope"}), "parameters.report"),
        (
            json!({"report": "revenue", "from": "2026-11-30", "to": "2026-11-01"}),
            "parameters.to",
        ),
        (
            json!({"report": "revenue", "as_of": "2026-11-01"}),
            "parameters.as_of",
        ),
        (
            json!({"report": "maintenance_due", "within_days": -1}),
            "parameters.within_days",
        ),
        (
            json!({"report": "ledger", "currency": "cad"}),
            "parameters.currency",
        ),
    ];
    for (parameters, field) in cases {
        let r = app
            .post(
                "/v1/reports",
                &admin,
                json!({"name": "x", "parameters": parameters, "format": "CSV"}),
            )
            .await;
        r.expect_problem(422, "validation").expect_field(field);
    }
    let r = app
        .post(
            "/v1/reports",
            &admin,
            json!({"name": "x", "parameters": {"report": "quotes"}, "schedule": {"cron": "every day"}}),
        )
        .await;
    r.expect_problem(422, "validation")
        .expect_field("schedule.cron");
    let r = app
        .post(
            "/v1/reports",
            &admin,
            json!({"name": "x", "parameters": {"report": "quotes"}, "format": "DOCX"}),
        )
        .await;
    r.expect(422);
    // Nothing was written.
    let list = app.get("/v1/reports", &admin).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);

    let sales = app.token(TENANT, Role::Sales);
    app.post(
        "/v1/reports",
        &sales,
        json!({"name": "x", "parameters": {"report": "quotes"}}),
    )
    .await
    .expect(403);

    let id = requested(
        &app,
        &admin,
        json!({"name": "Quotes", "parameters": {"report": "quotes", "period": "LAST_MONTH"}, "format": "JSON"}),
    )
    .await;
    let crew = requested(
        &app,
        &admin,
        json!({"name": "Crew", "parameters": {"report": "crew_utilization", "period": "LAST_7_DAYS"}, "format": "PDF"}),
    )
    .await;
    let round = run_worker(&app, Arc::new(ManualClock::new(Utc::now()))).await;
    assert_eq!(round.generated, 2);
    for report in [&id, &crew] {
        let r = app.get(&format!("/v1/reports/{report}"), &admin).await;
        assert_eq!(r.body["status"], "COMPLETED", "{}", r.body);
    }
    let runs = app.get(&format!("/v1/reports/{id}/runs"), &admin).await;
    let run_id = runs.body["items"][0]["run_id"].as_str().unwrap().to_owned();
    let globex = app.token("globex", Role::Admin);
    for path in [
        format!("/v1/reports/{id}"),
        format!("/v1/reports/{id}/runs"),
        format!("/v1/reports/{id}/file"),
        format!("/v1/reports/{id}/runs/{run_id}/file"),
    ] {
        app.get(&path, &globex).await.expect(404);
    }
    app.patch(
        &format!("/v1/reports/{id}"),
        &globex,
        json!({"name": "mine"}),
    )
    .await
    .expect(404);
    app.post(&format!("/v1/reports/{id}/generate"), &globex, json!({}))
        .await
        .expect(404);
    app.delete(&format!("/v1/reports/{id}"), &globex)
        .await
        .expect(404);
    // The catalogue lists every report with a schema.
    let catalogue = app.get("/v1/reports/catalogue", &admin).await;
    catalogue.expect(200);
    let keys: Vec<&str> = catalogue.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    for key in [
        "ar_aging",
        "revenue",
        "ledger",
        "sales_pipeline",
        "quotes",
        "customers",
    ] {
        assert!(keys.contains(&key), "{key}");
    }
    assert_eq!(
        catalogue.body["items"][0]["parameters"]["additionalProperties"],
        false
    );
    // Deleted: gone from the list and the reads.
    app.delete(&format!("/v1/reports/{id}"), &admin)
        .await
        .expect(200);
    app.settle().await;
    app.get(&format!("/v1/reports/{id}"), &admin)
        .await
        .expect(404);
}

/// Starts run `run_id` of report `id` as a worker would, then "stops":
/// the run is left GENERATING with no file.
async fn start_and_stop(app: &TestApp, id: Uuid, run_id: Uuid) {
    let stores = Stores::new(app.pool().clone(), app.env.infra.keystore.clone());
    let tenant = TenantId::parse(TENANT).unwrap();
    stores
        .get::<Report>()
        .run(
            Run::new(&tenant, Target::Existing(id)),
            || EventMetadata::system(&tenant, "a worker that stops"),
            |_| {
                Ok::<_, CommandError<aggregates::report::ReportError>>(ReportCommand {
                    at: Utc::now(),
                    actor: SYSTEM_USER,
                    action: ReportAction::StartRun { run_id },
                })
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_run_left_generating_by_a_stopped_worker_is_generated_again() {
    let app = TestApp::spawn().await;
    let admin = app.token(TENANT, Role::Admin);
    let id = requested(
        &app,
        &admin,
        json!({"name": "Customers", "parameters": {"report": "customers"}, "format": "CSV"}),
    )
    .await;
    app.settle().await;
    let runs = app.get(&format!("/v1/reports/{id}/runs"), &admin).await;
    let run_id: Uuid = runs.body["items"][0]["run_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    start_and_stop(&app, id.parse().unwrap(), run_id).await;
    app.settle().await;
    let report = app.get(&format!("/v1/reports/{id}"), &admin).await;
    assert_eq!(report.body["status"], "GENERATING");
    assert!(report.body["file"].is_null());

    assert_eq!(
        run_worker(&app, Arc::new(ManualClock::new(Utc::now())))
            .await
            .generated,
        1
    );
    let runs = app.get(&format!("/v1/reports/{id}/runs"), &admin).await;
    let run = &runs.body["items"][0];
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["attempts"], 2);
    let (_, csv) = download(&app, &admin, &id).await;
    assert!(
        String::from_utf8(csv)
            .unwrap()
            .starts_with("Month,Source,New customers")
    );
    // Nothing left to do.
    assert!(
        run_worker(&app, Arc::new(ManualClock::new(Utc::now())))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_schedule_runs_once_per_due_time_in_the_tenants_zone_and_emails_its_file() {
    let app = TestApp::spawn().await;
    let admin = app.token(TENANT, Role::Admin);
    app.request(
        reqwest::Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(json!({"company_name": "Acme Moving", "time_zone": "America/Toronto"})),
        &[],
    )
    .await
    .expect(200);
    // 02:30 every day: on 2027-03-14 that local time does not exist in
    // Toronto (02:00 EST → 03:00 EDT).
    let report = app
        .post(
            "/v1/reports",
            &admin,
            json!({
                "name": "Daily quotes",
                "parameters": {"report": "quotes", "period": "YESTERDAY"},
                "format": "CSV",
                "schedule": {"cron": "30 2 * * *"},
                "recipients": [{"email": "owner@example.com"}, {"email": "books@example.com"}],
            }),
        )
        .await;
    report.expect(201);
    let id = report.id();
    app.settle().await;
    // The report was made "now"; a clock a year on sees many due times
    // missed and asks for the latest only.
    let clock = Arc::new(ManualClock::new(utc("2027-03-14T06:00:00Z")));
    // Two workers (two processes) see the same due time: one run.
    let (a, b) = (
        app.report_worker(clock.clone()),
        app.report_worker(clock.clone()),
    );
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.requested + rb.requested >= 1);
    app.settle().await;
    let runs = app.get(&format!("/v1/reports/{id}/runs"), &admin).await;
    let due: Vec<&str> = runs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["due_at"].as_str().unwrap())
        .collect();
    // 02:30 EST on 2027-03-13 = 07:30 UTC.
    assert_eq!(due, vec!["2027-03-13T07:30:00Z"]);
    // Again at the same time: nothing new.
    run_worker(&app, clock.clone()).await;
    // The spring gap: due when the gap ends, 03:00 EDT = 07:00 UTC.
    clock.advance(std::time::Duration::from_secs(3600 * 2));
    run_worker(&app, clock.clone()).await;
    run_worker(&app, clock.clone()).await;
    let runs = app.get(&format!("/v1/reports/{id}/runs"), &admin).await;
    let items = runs.body["items"].as_array().unwrap();
    let due: Vec<&str> = items
        .iter()
        .map(|r| r["due_at"].as_str().unwrap())
        .collect();
    assert_eq!(due, vec!["2027-03-14T07:00:00Z", "2027-03-13T07:30:00Z"]);
    for run in items {
        assert_eq!(run["status"], "COMPLETED", "{run}");
        assert_eq!(run["trigger"], "SCHEDULE");
        assert_eq!(
            run["communication_ids"].as_array().unwrap().len(),
            2,
            "{run}"
        );
    }
    // Each recipient's message carries the file.
    let file = &items[0]["file"];
    let message_id = items[0]["communication_ids"][0].as_str().unwrap();
    let message = app
        .get(&format!("/v1/communications/{message_id}"), &admin)
        .await;
    message.expect(200);
    assert_eq!(message.body["status"], "QUEUED", "{}", message.body);
    let attachments = message.body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{}", message.body);
    assert_eq!(attachments[0]["sha256"], file["sha256"]);
    assert_eq!(attachments[0]["size"], file["size"]);
    let report = app.get(&format!("/v1/reports/{id}"), &admin).await;
    // The next due time: 02:30 EDT on 2027-03-15 = 06:30 UTC.
    assert_eq!(report.body["schedule"]["cron"], "30 2 * * *");
    assert!(report.body["scheduled_at"].is_string());
}

#[tokio::test]
async fn files_past_the_tenants_retention_are_deleted_and_read_gone() {
    let app = TestApp::spawn().await;
    let admin = app.token(TENANT, Role::Admin);
    app.request(
        reqwest::Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(json!({"company_name": "Acme Moving", "report_retention_days": 2})),
        &[],
    )
    .await
    .expect(200);
    let id = requested(
        &app,
        &admin,
        json!({"name": "Stock", "parameters": {"report": "inventory_valuation"}, "format": "JSON"}),
    )
    .await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    run_worker(&app, clock.clone()).await;
    let runs = app.get(&format!("/v1/reports/{id}/runs"), &admin).await;
    let url = runs.body["items"][0]["file"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.bytes(&url, &admin).await.0, 200);
    // A day on: kept.
    clock.advance(std::time::Duration::from_secs(86_400));
    assert_eq!(run_worker(&app, clock.clone()).await.expired, 0);
    // Three days on: deleted, and that is recorded.
    clock.advance(std::time::Duration::from_secs(2 * 86_400));
    assert_eq!(run_worker(&app, clock.clone()).await.expired, 1);
    assert_eq!(app.bytes(&url, &admin).await.0, 410);
    let runs = app.get(&format!("/v1/reports/{id}/runs"), &admin).await;
    assert!(runs.body["items"][0]["expired_at"].is_string());
    assert!(runs.body["items"][0]["file"].is_null());
    let report = app.get(&format!("/v1/reports/{id}"), &admin).await;
    assert!(report.body["file"].is_null());
    app.get(&format!("/v1/reports/{id}/file"), &admin)
        .await
        .expect(404);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM report_files")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
