//! Invoices over HTTP: gapless numbers under concurrency, payments that never
//! overdraw the balance, refunds and credit notes, voids, the overdue and
//! recurring policies, permissions and tenancy.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, Utc};
use crm_tests::TestApp;
use event_schemas::Role;
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// 1000.00 in Ontario: 1130.00 with HST.
fn invoice_body(customer: &str) -> Value {
    json!({
        "customer_id": customer,
        "province": "ON",
        "payment_terms_days": 15,
        "items": [{"description": "Local move", "quantity": "1", "unit_price": "1000.00", "category": "MOVING_SERVICES"}]
    })
}

async fn invoice_state(app: &TestApp, token: &str, id: &str) -> Value {
    let state = app
        .get(&format!("/v1/audit/invoice/{id}/state"), token)
        .await;
    state.expect(200);
    state.body["state"].clone()
}

fn money(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a money string"))
        .parse()
        .expect("a decimal")
}

async fn issued_invoice(app: &TestApp, token: &str, customer: &str) -> String {
    let id = app
        .post("/v1/invoices", token, invoice_body(customer))
        .await;
    id.expect(201);
    let id = id.id();
    app.post(&format!("/v1/invoices/{id}/issue"), token, json!({}))
        .await
        .expect(200);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_issues_get_thirty_two_consecutive_numbers() {
    let app = TestApp::spawn().await;
    let accountant = app.token("acme", Role::Accountant);
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "inv1@example.com").await;
    let mut drafts = Vec::new();
    for _ in 0..32 {
        let r = app
            .post("/v1/invoices", &accountant, invoice_body(&customer))
            .await;
        r.expect(201);
        drafts.push(r.id());
    }
    // Another tenant's numbers are its own.
    let globex = app.token("globex", Role::Admin);
    let other_customer = app.customer(&globex, "inv1@example.com").await;
    let other = issued_invoice(&app, &globex, &other_customer).await;

    let issues = drafts.iter().map(|id| {
        let (app, token) = (&app, &accountant);
        async move {
            app.post(&format!("/v1/invoices/{id}/issue"), token, json!({}))
                .await
        }
    });
    let responses = join_all(issues).await;
    let year = Utc::now().year();
    let mut numbers = BTreeSet::new();
    for r in &responses {
        r.expect(200);
        numbers.insert(r.body["invoice_number"].as_str().unwrap().to_owned());
    }
    let expected: BTreeSet<String> = (1..=32).map(|n| format!("INV-{year}-{n:06}")).collect();
    assert_eq!(numbers, expected);
    // Each invoice's own events carry its number; the numbers table agrees.
    for (id, r) in drafts.iter().zip(&responses) {
        let state = invoice_state(&app, &admin, id).await;
        assert_eq!(state["invoice_number"], r.body["invoice_number"]);
    }
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invoice_numbers WHERE tenant_id = 'acme' AND sequence BETWEEN 1 AND 32",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(rows, 32);
    assert_eq!(
        invoice_state(&app, &globex, &other).await["invoice_number"],
        format!("INV-{year}-000001")
    );
    // Issuing again is refused and takes no number.
    app.post(
        &format!("/v1/invoices/{}/issue", drafts[0]),
        &accountant,
        json!({}),
    )
    .await
    .expect_problem(409, "conflict");
    let last: i64 = sqlx::query_scalar(
        "SELECT last_sequence FROM invoice_number_counters WHERE tenant_id = 'acme'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(last, 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_payments_never_take_the_balance_below_zero() {
    let app = TestApp::spawn().await;
    let accountant = app.token("acme", Role::Accountant);
    let customer = app
        .customer(&app.token("acme", Role::Admin), "inv2@example.com")
        .await;
    let id = issued_invoice(&app, &accountant, &customer).await;
    // 10 × 150.00 = 1500.00 against a balance of 1130.00.
    let payments = (0..10).map(|_| {
        let (app, token, id) = (&app, &accountant, &id);
        async move {
            app.post(
                &format!("/v1/invoices/{id}/payments"),
                token,
                json!({"amount": "150.00", "method": "CREDIT_CARD"}),
            )
            .await
        }
    });
    let responses = join_all(payments).await;
    let accepted = responses.iter().filter(|r| r.status == 201).count();
    for r in responses.iter().filter(|r| r.status != 201) {
        r.expect_problem(409, "conflict");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains("exceeds the balance of 80.00"), "{detail}");
    }
    // 7 × 150.00 = 1050.00 fit; 80.00 remains.
    assert_eq!(accepted, 7);
    let state = invoice_state(&app, &app.token("acme", Role::Auditor), &id).await;
    let paid: Decimal = state["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| money(&p["details"]["amount"]))
        .sum();
    assert_eq!(paid, Decimal::new(105000, 2));
    // The rest is paid exactly; then nothing more is taken.
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        &accountant,
        json!({"amount": "80.00", "method": "CASH"}),
    )
    .await
    .expect(201);
    let over = app
        .post(
            &format!("/v1/invoices/{id}/payments"),
            &accountant,
            json!({"amount": "0.01", "method": "CASH"}),
        )
        .await;
    over.expect_problem(409, "conflict");
    assert!(over.body["detail"].as_str().unwrap().contains("0.00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_reopen_the_balance_and_credit_notes_and_voids_follow_their_rules() {
    let app = TestApp::spawn().await;
    let accountant = app.token("acme", Role::Accountant);
    let customer = app
        .customer(&app.token("acme", Role::Admin), "inv3@example.com")
        .await;
    let id = issued_invoice(&app, &accountant, &customer).await;
    let paid = app
        .post(
            &format!("/v1/invoices/{id}/payments"),
            &accountant,
            json!({"amount": "1130.00", "method": "BANK_TRANSFER", "transaction_id": "wire-1"}),
        )
        .await;
    paid.expect(201);
    let payment = paid.body["payment_id"].as_str().unwrap().to_owned();
    assert_eq!(
        invoice_state(&app, &app.token("acme", Role::Auditor), &id).await["voided"],
        false
    );
    // Paid invoices cannot be voided.
    app.post(
        &format!("/v1/invoices/{id}/void"),
        &accountant,
        json!({"reason": "entered twice"}),
    )
    .await
    .expect_problem(409, "conflict");
    // Refund part of it: the balance reopens.
    app.post(
        &format!("/v1/invoices/{id}/payments/{payment}/refunds"),
        &accountant,
        json!({"amount": "130.00", "reason": "damaged lamp"}),
    )
    .await
    .expect(201);
    let too_much = app
        .post(
            &format!("/v1/invoices/{id}/payments/{payment}/refunds"),
            &accountant,
            json!({"amount": "1000.01", "reason": "x"}),
        )
        .await;
    too_much.expect_problem(409, "conflict");
    assert!(
        too_much.body["detail"]
            .as_str()
            .unwrap()
            .contains("1000.00")
    );
    // A credit note is bounded by the balance (130.00).
    app.post(
        &format!("/v1/invoices/{id}/credit-notes"),
        &accountant,
        json!({"amount": "130.01", "reason": "goodwill"}),
    )
    .await
    .expect_problem(409, "conflict");
    let credit = app
        .post(
            &format!("/v1/invoices/{id}/credit-notes"),
            &accountant,
            json!({"amount": "30.00", "reason": "goodwill"}),
        )
        .await;
    credit.expect(201);
    let state = invoice_state(&app, &app.token("acme", Role::Auditor), &id).await;
    assert_eq!(money(&state["credited"]), Decimal::new(3000, 2));
    // Issued invoices are never edited.
    app.patch(
        &format!("/v1/invoices/{id}"),
        &accountant,
        json!({"notes": "x"}),
    )
    .await
    .expect_problem(409, "conflict");
    // A payment id the invoice does not have is refused, naming the rule.
    let unknown = uuid::Uuid::new_v4();
    let r = app
        .post(
            &format!("/v1/invoices/{id}/payments/{unknown}/refunds"),
            &accountant,
            json!({"amount": "1.00", "reason": "x"}),
        )
        .await;
    r.expect_problem(409, "conflict");
    assert_eq!(r.body["rule"], "invoice.unknown-payment", "{}", r.body);

    // With nothing paid, an issued invoice can be voided, keeping its number.
    let other = issued_invoice(&app, &accountant, &customer).await;
    app.post(
        &format!("/v1/invoices/{other}/void"),
        &accountant,
        json!({"reason": "  "}),
    )
    .await
    .expect_problem(422, "validation");
    app.post(
        &format!("/v1/invoices/{other}/void"),
        &accountant,
        json!({"reason": "customer cancelled"}),
    )
    .await
    .expect(200);
    let voided = invoice_state(&app, &app.token("acme", Role::Auditor), &other).await;
    assert_eq!(voided["voided"], true);
    assert!(
        voided["invoice_number"]
            .as_str()
            .unwrap()
            .ends_with("000002")
    );
    app.post(
        &format!("/v1/invoices/{other}/payments"),
        &accountant,
        json!({"amount": "1.00", "method": "CASH"}),
    )
    .await
    .expect_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overdue_and_recurring_policies_raise_events_once() {
    let app = TestApp::spawn().await;
    let accountant = app.token("acme", Role::Accountant);
    let customer = app
        .customer(&app.token("acme", Role::Admin), "inv4@example.com")
        .await;
    let due = issued_invoice(&app, &accountant, &customer).await;
    let paid = issued_invoice(&app, &accountant, &customer).await;
    app.post(
        &format!("/v1/invoices/{paid}/payments"),
        &accountant,
        json!({"amount": "1130.00", "method": "CASH"}),
    )
    .await
    .expect(201);
    let today = Utc::now().date_naive();
    let mut storage = invoice_body(&customer);
    storage["items"][0] = json!({"description": "Storage unit, monthly", "quantity": "1", "unit_price": "200.00", "category": "STORAGE_SERVICES"});
    storage["recurring"] = json!({"interval": "MONTHLY", "start_date": today.to_string()});
    let parent = app.post("/v1/invoices", &accountant, storage).await;
    parent.expect(201);
    let parent = parent.id();
    app.post(
        &format!("/v1/invoices/{parent}/issue"),
        &accountant,
        json!({}),
    )
    .await
    .expect(200);
    app.settle().await;

    let stores =
        processes::policies::PolicyStores::new(app.pool().clone(), app.env.infra.keystore.clone());
    // On the due date itself nothing is overdue, and no cycle is due.
    let report = processes::policies::run_once(&stores, today + Duration::days(15))
        .await
        .unwrap();
    assert_eq!(report, processes::policies::PolicyReport::default());
    // The day after: the unpaid invoice is overdue (the paid one is not).
    let report = processes::policies::run_once(&stores, today + Duration::days(16))
        .await
        .unwrap();
    assert_eq!(report.invoices_overdue, 2, "{report:?}"); // `due` and the storage invoice
    assert_eq!(
        invoice_state(&app, &app.token("acme", Role::Auditor), &due).await["overdue"],
        true
    );
    assert_eq!(
        invoice_state(&app, &app.token("acme", Role::Auditor), &paid).await["overdue"],
        false
    );
    app.settle().await;
    let again = processes::policies::run_once(&stores, today + Duration::days(16))
        .await
        .unwrap();
    assert_eq!(again.invoices_overdue, 0);

    // A payment that clears an overdue invoice makes it PAID.
    app.post(
        &format!("/v1/invoices/{due}/payments"),
        &accountant,
        json!({"amount": "1130.00", "method": "CASH"}),
    )
    .await
    .expect(201);

    // Two months on, two cycles have fallen due: both are generated and issued.
    let later = today.checked_add_months(chrono::Months::new(2)).unwrap();
    let report = processes::policies::run_once(&stores, later).await.unwrap();
    assert_eq!(report.cycles_generated, 2, "{report:?}");
    app.settle().await;
    let parent_state = invoice_state(&app, &app.token("acme", Role::Auditor), &parent).await;
    for cycle in [2u32, 3] {
        let child = processes::policies::cycle_invoice_id(parent.parse().unwrap(), cycle);
        let child =
            invoice_state(&app, &app.token("acme", Role::Auditor), &child.to_string()).await;
        assert_eq!(child["recurring_origin"]["cycle"], cycle);
        assert!(
            child["invoice_number"]
                .as_str()
                .unwrap()
                .starts_with("INV-")
        );
        assert_eq!(child["customer_id"], parent_state["customer_id"]);
    }
    let again = processes::policies::run_once(&stores, later).await.unwrap();
    assert_eq!(again.cycles_generated, 0);
    assert_eq!(again.cycle_invoices_issued, 0);
    // Stopped schedules generate nothing more.
    app.post(
        &format!("/v1/invoices/{parent}/recurring/stop"),
        &accountant,
        json!({"reason": "moved out"}),
    )
    .await
    .expect(200);
    app.settle().await;
    let much_later = today.checked_add_months(chrono::Months::new(6)).unwrap();
    let report = processes::policies::run_once(&stores, much_later)
        .await
        .unwrap();
    assert_eq!(report.cycles_generated, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_issues_voids_and_refunds() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "inv5@example.com").await;
    let sales = app.token("acme", Role::Sales);
    for role in [Role::Sales, Role::Crew, Role::Dispatcher, Role::Auditor] {
        app.post(
            "/v1/invoices",
            &app.token("acme", role),
            invoice_body(&customer),
        )
        .await
        .expect_problem(403, "forbidden");
    }
    let draft = app
        .post("/v1/invoices", &admin, invoice_body(&customer))
        .await
        .id();
    app.post(&format!("/v1/invoices/{draft}/issue"), &sales, json!({}))
        .await
        .expect_problem(403, "forbidden");
    let accountant = app.token("acme", Role::Accountant);
    app.post(
        &format!("/v1/invoices/{draft}/issue"),
        &accountant,
        json!({}),
    )
    .await
    .expect(200);
    let payment = app
        .post(
            &format!("/v1/invoices/{draft}/payments"),
            &accountant,
            json!({"amount": "10.00", "method": "CASH"}),
        )
        .await;
    payment.expect(201);
    let payment = payment.body["payment_id"].as_str().unwrap().to_owned();
    // Sales reps take deposits on quotes, but do not settle invoices.
    app.post(
        &format!("/v1/invoices/{draft}/payments"),
        &sales,
        json!({"amount": "10.00", "method": "CASH"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        &format!("/v1/invoices/{draft}/payments/{payment}/refunds"),
        &sales,
        json!({"amount": "1.00", "reason": "x"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        &format!("/v1/invoices/{draft}/void"),
        &sales,
        json!({"reason": "x"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        &format!("/v1/invoices/{draft}/credit-notes"),
        &sales,
        json!({"amount": "1.00", "reason": "x"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        "/v1/financial-transactions",
        &sales,
        json!({"type": "EXPENSE", "amount": "10.00", "description": "fuel", "category": "fuel"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        "/v1/financial-transactions",
        &accountant,
        json!({"type": "EXPENSE", "amount": "10.00", "description": "fuel", "category": "fuel"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/financial-transactions",
        &accountant,
        json!({"type": "EXPENSE", "amount": "-10.00", "description": "fuel", "category": "fuel"}),
    )
    .await
    .expect_problem(422, "validation");
    // Only admins and managers change the approval limit.
    app.request(
        reqwest::Method::PUT,
        "/v1/settings/sales",
        Some(&accountant),
        Some(json!({"quote_approval_threshold": "5000.00"})),
        &[],
    )
    .await
    .expect_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approval_limit_holds_quotes_until_a_manager_approves() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    app.request(
        reqwest::Method::PUT,
        "/v1/settings/sales",
        Some(&admin),
        Some(json!({"quote_approval_threshold": "500.00", "default_province": "AB"})),
        &[],
    )
    .await
    .expect(200);
    let settings = app.get("/v1/settings/sales", &admin).await;
    settings.expect(200);
    assert_eq!(settings.body["quote_approval_threshold"], "500.00");
    assert_eq!(settings.body["default_province"], "AB");

    let customer = app.customer(&admin, "inv6@example.com").await;
    let sales = app.token("acme", Role::Sales);
    let quote = app
        .post(
            "/v1/quotes",
            &sales,
            json!({"customer_id": customer, "valid_until": (Utc::now().date_naive() + Duration::days(10)).to_string(),
                   "items": [{"description": "Move", "quantity": "1", "unit_price": "600.00", "category": "MOVING_SERVICES"}]}),
        )
        .await;
    quote.expect(201);
    let quote = quote.id();
    let held = app
        .post(&format!("/v1/quotes/{quote}/send"), &sales, json!({}))
        .await;
    held.expect_problem(409, "conflict");
    // AB (the default province): 600.00 + GST 30.00.
    assert!(held.body["detail"].as_str().unwrap().contains("630.00"));
    assert!(held.body["detail"].as_str().unwrap().contains("500.00"));
    app.post(
        &format!("/v1/quotes/{quote}/approve"),
        &app.token("acme", Role::Manager),
        json!({}),
    )
    .await
    .expect(200);
    app.post(&format!("/v1/quotes/{quote}/send"), &sales, json!({}))
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_invoice_is_not_found_on_every_route() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "inv7@example.com").await;
    let id = issued_invoice(&app, &admin, &customer).await;
    let payment = app
        .post(
            &format!("/v1/invoices/{id}/payments"),
            &admin,
            json!({"amount": "10.00", "method": "CASH"}),
        )
        .await;
    let payment = payment.body["payment_id"].as_str().unwrap().to_owned();
    let other = app.token("globex", Role::Admin);
    let routes = [
        ("issue", json!({})),
        ("void", json!({"reason": "x"})),
        ("payments", json!({"amount": "1.00", "method": "CASH"})),
        (
            &format!("payments/{payment}/refunds") as &str,
            json!({"amount": "1.00", "reason": "x"}),
        ),
        ("credit-notes", json!({"amount": "1.00", "reason": "x"})),
        ("recurring/stop", json!({})),
    ];
    for (route, body) in routes {
        app.post(&format!("/v1/invoices/{id}/{route}"), &other, body)
            .await
            .expect_problem(404, "not-found");
    }
    app.patch(&format!("/v1/invoices/{id}"), &other, json!({"notes": "x"}))
        .await
        .expect_problem(404, "not-found");
    app.get(&format!("/v1/audit/invoice/{id}/state"), &other)
        .await
        .expect_problem(404, "not-found");
    // Nor may another tenant invoice this tenant's customer or attach its entries.
    app.post("/v1/invoices", &other, invoice_body(&customer))
        .await
        .expect_problem(422, "validation");
    app.post(
        "/v1/financial-transactions",
        &other,
        json!({"type": "ADJUSTMENT", "amount": "-5.00", "description": "x", "category": "x", "invoice_id": id}),
    )
    .await
    .expect_problem(422, "validation");
}
