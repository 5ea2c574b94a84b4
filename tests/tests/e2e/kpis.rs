//! `GET /v1/kpis` over a data set built through the API: five leads (two a
//! rep's), two quotes sent (one accepted, one rejected), an invoice issued
//! from the accepted one and partly paid; another tenant's lead. Every
//! figure is checked exactly, over the default period and, through a
//! period after today, as the previous period; a rep's are their own.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate, Utc};
use crm_tests::TestApp;
use event_schemas::Role;
use serde_json::{Value, json};
use uuid::Uuid;

/// The KPIs of an answer by key: (value, previous).
fn figures(body: &Value) -> BTreeMap<String, (Value, Value)> {
    body["kpis"]
        .as_array()
        .expect("kpis")
        .iter()
        .map(|k| {
            (
                k["key"].as_str().unwrap().to_owned(),
                (k["value"].clone(), k["previous"].clone()),
            )
        })
        .collect()
}

/// `(key, value)` pairs as the map [`figures`] gives for one side.
fn side(map: &BTreeMap<String, (Value, Value)>, previous: bool) -> BTreeMap<&str, Value> {
    map.iter()
        .map(|(k, (v, p))| (k.as_str(), if previous { p.clone() } else { v.clone() }))
        .collect()
}

fn expected(pairs: &[(&'static str, Value)]) -> BTreeMap<&'static str, Value> {
    pairs.iter().cloned().collect()
}

/// A quote of one Ontario line of `price` for `lead`, sent; its id.
async fn sent_quote(app: &TestApp, token: &str, lead: &str, price: &str) -> String {
    let valid_until = (Utc::now().date_naive() + Days::new(20)).to_string();
    let quote = app
        .post(
            "/v1/quotes",
            token,
            json!({"lead_id": lead, "valid_until": valid_until, "province": "ON",
                   "items": [{"description": "Move", "quantity": "1", "unit_price": price, "category": "MOVING_SERVICES"}]}),
        )
        .await;
    quote.expect(201);
    let quote = quote.id();
    app.post(&format!("/v1/quotes/{quote}/send"), token, json!({}))
        .await
        .expect(200);
    quote
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_over_a_known_data_set_with_the_previous_period_and_a_reps_own() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let rep = Uuid::new_v4();
    let sales = app.token_for("acme", rep, Role::Sales);
    let mut leads = Vec::new();
    for (i, token) in [&admin, &admin, &admin, &sales, &sales]
        .into_iter()
        .enumerate()
    {
        let customer = app.customer(&admin, &format!("k{i}@example.com")).await;
        let lead = app
            .post(
                "/v1/leads",
                token,
                json!({"customer_id": customer, "source": "website"}),
            )
            .await;
        lead.expect(201);
        let lead = lead.id();
        // Contacted, as recorded, before the lead was opened: 0 s to lead.
        app.post(
            &format!("/v1/leads/{lead}/activities"),
            token,
            json!({"type": "PHONE_CALL", "description": "Called", "completed_at": "2024-01-01T00:00:00Z"}),
        )
        .await
        .expect(201);
        leads.push(lead);
    }
    // Another tenant's lead counts nowhere here.
    let globex = app.token("globex", Role::Admin);
    let customer = app.customer(&globex, "g@example.com").await;
    app.lead(&globex, &customer).await;

    // The admin's quote: 1000.00 + 13 % HST = 1130.00, accepted (the lead is won).
    let accepted = sent_quote(&app, &admin, &leads[0], "1000.00").await;
    app.post(
        &format!("/v1/quotes/{accepted}/accept"),
        &admin,
        json!({"revision": 1, "accepted_by_name": "Jeanne Tremblay"}),
    )
    .await
    .expect(200);
    // The rep's quote: 500.00, rejected.
    let rejected = sent_quote(&app, &sales, &leads[3], "500.00").await;
    app.post(
        &format!("/v1/quotes/{rejected}/reject"),
        &sales,
        json!({"reason": "Too dear"}),
    )
    .await
    .expect(200);
    // Invoiced (subtotal 1000.00, total 1130.00), issued, 300.00 paid: 830.00 open.
    let invoice = app
        .post(
            &format!("/v1/quotes/{accepted}/invoice"),
            &admin,
            json!({"payment_terms_days": 30}),
        )
        .await;
    invoice.expect(201);
    let invoice = invoice.id();
    app.post(&format!("/v1/invoices/{invoice}/issue"), &admin, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/invoices/{invoice}/payments"),
        &admin,
        json!({"amount": "300.00", "method": "CASH"}),
    )
    .await
    .expect(201);
    app.settle().await;

    // The default period: the last 30 days, today (the tenant's) included.
    let now = app.get("/v1/kpis", &admin).await;
    now.expect(200);
    let to: NaiveDate = now.body["to"].as_str().unwrap().parse().unwrap();
    let from: NaiveDate = now.body["from"].as_str().unwrap().parse().unwrap();
    assert_eq!((to - from).num_days(), 29);
    assert_eq!(
        now.body["previous_to"],
        (from - Days::new(1)).to_string(),
        "the previous period ends the day before"
    );
    assert_eq!(
        now.body["previous_from"],
        (from - Days::new(30)).to_string()
    );
    assert_eq!(now.body["location_id"], Value::Null);
    let today = Utc::now().date_naive();
    assert!(
        (to - today).num_days().abs() <= 1,
        "today in the tenant's zone"
    );
    for k in now.body["kpis"].as_array().unwrap() {
        assert!(k["label"].as_str().is_some_and(|l| !l.is_empty()));
        assert!(k["definition"].as_str().is_some_and(|d| d.len() > 20));
        let unit = k["unit"].as_str().unwrap();
        assert!(["count", "money", "percent", "seconds", "days"].contains(&unit));
        assert_eq!(
            k["currency"].is_string(),
            unit == "money",
            "a currency for money only: {k}"
        );
    }
    let tenant = [
        ("new_leads", json!("5")),
        ("speed_to_lead", json!("0")),
        ("lead_conversion_rate", json!("0.2")),
        ("quotes_sent", json!("2")),
        ("quote_acceptance_rate", json!("0.5")),
        ("booked_moves", json!("1")),
        ("average_move_value", json!("1130.00")),
        ("revenue", json!("1000.00")),
        ("ar_outstanding", json!("830.00")),
        ("days_sales_outstanding", json!("24.9")),
        ("overdue_invoices", json!("0")),
        ("truck_utilization", Value::Null),
        ("low_stock_items", json!("0")),
    ];
    let got = figures(&now.body);
    assert_eq!(got.len(), 13, "every KPI of the catalogue");
    assert_eq!(side(&got, false), expected(&tenant));
    let before = [
        ("new_leads", json!("0")),
        ("speed_to_lead", Value::Null),
        ("lead_conversion_rate", Value::Null),
        ("quotes_sent", json!("0")),
        ("quote_acceptance_rate", Value::Null),
        ("booked_moves", json!("0")),
        ("average_move_value", Value::Null),
        ("revenue", json!("0.00")),
        ("ar_outstanding", json!("830.00")),
        ("days_sales_outstanding", Value::Null),
        ("overdue_invoices", json!("0")),
        ("truck_utilization", Value::Null),
        ("low_stock_items", json!("0")),
    ];
    assert_eq!(side(&got, true), expected(&before));

    // A period after today: everything above is its previous period.
    let later = app
        .get(
            &format!(
                "/v1/kpis?from={}&to={}",
                to + Days::new(1),
                to + Days::new(30)
            ),
            &admin,
        )
        .await;
    later.expect(200);
    assert_eq!(later.body["previous_from"], from.to_string());
    assert_eq!(later.body["previous_to"], to.to_string());
    let got = figures(&later.body);
    assert_eq!(side(&got, true), expected(&tenant));
    assert_eq!(side(&got, false), expected(&before));

    // The rep: their two leads and their rejected quote; the invoice is the admin's.
    let theirs = app.get("/v1/kpis", &sales).await;
    theirs.expect(200);
    let rep_figures = [
        ("new_leads", json!("2")),
        ("speed_to_lead", json!("0")),
        ("lead_conversion_rate", json!("0")),
        ("quotes_sent", json!("1")),
        ("quote_acceptance_rate", json!("0")),
        ("booked_moves", json!("0")),
        ("average_move_value", Value::Null),
        ("revenue", json!("0.00")),
        ("ar_outstanding", json!("0.00")),
        ("days_sales_outstanding", Value::Null),
        ("overdue_invoices", json!("0")),
        ("truck_utilization", Value::Null),
        ("low_stock_items", json!("0")),
    ];
    assert_eq!(side(&figures(&theirs.body), false), expected(&rep_figures));

    // Another tenant sees only its own lead.
    let other = app.get("/v1/kpis", &globex).await;
    other.expect(200);
    assert_eq!(figures(&other.body)["new_leads"].0, "1");
    assert_eq!(figures(&other.body)["quotes_sent"].0, "0");
    // A location nobody uses: nothing.
    let nowhere = app.get("/v1/kpis?location_id=nowhere", &admin).await;
    nowhere.expect(200);
    assert_eq!(nowhere.body["location_id"], "nowhere");
    assert_eq!(figures(&nowhere.body)["new_leads"].0, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpi_periods_are_checked_and_roles_without_reports_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    app.get("/v1/kpis?from=2026-02-01&to=2026-01-31", &admin)
        .await
        .expect_problem(422, "validation")
        .expect_field("to");
    app.get("/v1/kpis?from=2025-01-01&to=2026-01-02", &admin)
        .await
        .expect_problem(422, "validation")
        .expect_field("from");
    let year = app
        .get("/v1/kpis?from=2024-01-01&to=2024-12-31", &admin)
        .await;
    year.expect(200);
    assert_eq!(year.body["previous_from"], "2022-12-31", "366 days before");
    assert_eq!(year.body["previous_to"], "2023-12-31");
    let only_to = app.get("/v1/kpis?to=2026-03-31", &admin).await;
    only_to.expect(200);
    assert_eq!(only_to.body["from"], "2026-03-02", "30 days ending at `to`");
    app.get("/v1/kpis?from=someday", &admin)
        .await
        .expect_problem(422, "validation")
        .expect_field("from");
    app.get("/v1/kpis?period=month", &admin)
        .await
        .expect_problem(400, "bad-request");
    for role in [Role::Dispatcher, Role::Crew] {
        app.get("/v1/kpis", &app.token("acme", role))
            .await
            .expect_problem(403, "forbidden");
    }
    for role in [Role::Manager, Role::Accountant, Role::Auditor, Role::Sales] {
        app.get("/v1/kpis", &app.token("acme", role))
            .await
            .expect(200);
    }
}
