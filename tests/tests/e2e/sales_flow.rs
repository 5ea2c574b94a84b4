//! The whole sales process as users drive it: lead → quote → revise → accept
//! (with a deposit) → invoice → issue → partial payment → refund → payment →
//! PAID, checked in every read model, the ledger, AR aging, the lead's
//! status and the audit trail.

use chrono::{Duration, Utc};
use crm_tests::TestApp;
use event_schemas::Role;
use serde_json::{Value, json};

fn find<'a>(items: &'a Value, key: &str, value: &str) -> Vec<&'a Value> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .filter(|i| i[key] == value)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_quoted_won_invoiced_and_paid_and_every_view_agrees() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let rep = uuid::Uuid::new_v4();
    let sales = app.token_for("acme", rep, Role::Sales);
    let accountant = app.token("acme", Role::Accountant);
    let auditor = app.token("acme", Role::Auditor);
    let customer = app.customer(&admin, "flow@example.com").await;
    let lead = app
        .post(
            "/v1/leads",
            &sales,
            json!({"customer_id": customer, "source": "referral"}),
        )
        .await;
    lead.expect(201);
    let lead = lead.id();

    // The rep quotes an Ontario move: 3 movers × 6 h at 55.00 + truck 250.00.
    let valid_until = (Utc::now().date_naive() + Duration::days(20)).to_string();
    let quote = app
        .post(
            "/v1/quotes",
            &sales,
            json!({"lead_id": lead, "valid_until": valid_until, "province": "ON",
                   "items": [
                       {"description": "Movers (3 × 6 h)", "quantity": "18", "unit_price": "55.00", "category": "MOVING_SERVICES"},
                       {"description": "26 ft truck", "quantity": "1", "unit_price": "250.00", "category": "EQUIPMENT_RENTAL"},
                       {"description": "Wardrobe boxes", "quantity": "4", "unit_price": "12.50", "category": "PACKING_SERVICES", "optional": true}
                   ]}),
        )
        .await;
    quote.expect(201);
    let quote = quote.id();
    app.post(&format!("/v1/quotes/{quote}/send"), &sales, json!({}))
        .await
        .expect(200);
    // The customer asks for a change: revision 2, with a discount line.
    app.post(&format!("/v1/quotes/{quote}/revise"), &sales, json!({}))
        .await
        .expect(200);
    let read = app
        .get(&format!("/v1/quotes/{quote}?min_version=3"), &sales)
        .await;
    read.expect(200);
    let mut items: Vec<Value> = read.body["items"].as_array().unwrap().clone();
    for item in &mut items {
        let object = item.as_object_mut().unwrap();
        object.retain(|k, _| {
            [
                "item_id",
                "description",
                "quantity",
                "unit_price",
                "category",
                "optional",
            ]
            .contains(&k.as_str())
        });
    }
    items[0]["unit_price"] = json!("50.00");
    app.patch(
        &format!("/v1/quotes/{quote}"),
        &sales,
        json!({"items": items}),
    )
    .await
    .expect(200);
    app.post(&format!("/v1/quotes/{quote}/send"), &sales, json!({}))
        .await
        .expect(200);
    let read = app
        .get(&format!("/v1/quotes/{quote}?min_version=5"), &sales)
        .await;
    read.expect(200);
    let boxes = read.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["optional"] == true)
        .map(|i| i["item_id"].clone())
        .expect("an optional item");
    app.post(
        &format!("/v1/quotes/{quote}/accept"),
        &sales,
        json!({"revision": 2, "accepted_by_name": "Jeanne Tremblay", "accepted_ip": "198.51.100.4",
               "selected_optional_items": [boxes]}),
    )
    .await
    .expect(200);
    // 18 × 50 + 250 + 50 = 1200.00; HST 156.00; 1356.00. A 300.00 deposit.
    let deposit = app
        .post(
            &format!("/v1/quotes/{quote}/deposits"),
            &sales,
            json!({"amount": "300.00", "method": "CREDIT_CARD", "processing_fee": "8.70", "gateway": "Stripe"}),
        )
        .await;
    deposit.expect(201);

    let quote_read = app
        .get(&format!("/v1/quotes/{quote}?min_version=7"), &sales)
        .await;
    quote_read.expect(200);
    let q = &quote_read.body;
    assert_eq!(q["status"], "ACCEPTED");
    assert_eq!(q["revision"], 2);
    assert_eq!(q["accepted_totals"]["total"], "1356.00", "{q}");
    assert_eq!(q["accepted_revision"], 2);
    assert_eq!(q["deposit_total"], "300.00");
    assert_eq!(q["revisions"].as_array().unwrap().len(), 2);

    // A bad request to invoice the quote writes nothing, not even on the quote.
    app.post(
        &format!("/v1/quotes/{quote}/invoice"),
        &accountant,
        json!({"payment_terms_days": 400}),
    )
    .await
    .expect_problem(422, "validation");
    let history = app
        .get(&format!("/v1/audit/quote/{quote}/history"), &auditor)
        .await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 7);
    // The accountant invoices the quote and issues the invoice.
    let invoice = app
        .post(
            &format!("/v1/quotes/{quote}/invoice"),
            &accountant,
            json!({"payment_terms_days": 10}),
        )
        .await;
    invoice.expect(201);
    let invoice = invoice.id();
    // Invoicing twice is refused; deposits now go to the invoice.
    app.post(
        &format!("/v1/quotes/{quote}/invoice"),
        &accountant,
        json!({}),
    )
    .await
    .expect_problem(409, "conflict");
    app.post(
        &format!("/v1/quotes/{quote}/deposits"),
        &admin,
        json!({"amount": "1.00", "method": "CASH"}),
    )
    .await
    .expect_problem(409, "conflict");
    let issued = app
        .post(
            &format!("/v1/invoices/{invoice}/issue"),
            &accountant,
            json!({}),
        )
        .await;
    issued.expect(200);
    let number = issued.body["invoice_number"].as_str().unwrap().to_owned();
    assert!(number.ends_with("-000001"), "{number}");

    let pay = |amount: &'static str| {
        let (app, accountant, invoice) = (&app, &accountant, &invoice);
        async move {
            let r = app
                .post(
                    &format!("/v1/invoices/{invoice}/payments"),
                    accountant,
                    json!({"amount": amount, "method": "DEBIT_CARD"}),
                )
                .await;
            r.expect(201);
            r.body["payment_id"].as_str().unwrap().to_owned()
        }
    };
    let partial = pay("500.00").await;
    app.post(
        &format!("/v1/invoices/{invoice}/payments/{partial}/refunds"),
        &accountant,
        json!({"amount": "100.00", "reason": "charged twice for the truck"}),
    )
    .await
    .expect(201);
    // 1356.00 − 300.00 − 500.00 + 100.00 = 656.00 left.
    let over = app
        .post(
            &format!("/v1/invoices/{invoice}/payments"),
            &accountant,
            json!({"amount": "656.01", "method": "CASH"}),
        )
        .await;
    over.expect_problem(409, "conflict");
    assert!(over.body["detail"].as_str().unwrap().contains("656.00"));
    pay("656.00").await;
    app.settle().await;

    // The invoice read model.
    let read = app.get(&format!("/v1/invoices/{invoice}"), &auditor).await;
    read.expect(200);
    let inv = &read.body;
    assert_eq!(inv["status"], "PAID");
    assert_eq!(inv["number"], number.as_str());
    assert_eq!(inv["quote_id"], quote.as_str());
    assert_eq!(inv["sales_rep"], rep.to_string());
    assert_eq!(inv["subtotal"], "1200.00");
    assert_eq!(inv["tax_lines"][0]["code"], "HST");
    assert_eq!(inv["tax_lines"][0]["amount"], "156.00");
    assert_eq!(inv["total"], "1356.00");
    assert_eq!(inv["balance"], "0.00");
    assert_eq!(inv["paid"], "1356.00");
    assert_eq!(inv["refunded"], "100.00");
    assert_eq!(inv["payments"].as_array().unwrap().len(), 3);
    assert_eq!(
        inv["payments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["is_deposit"] == true)
            .count(),
        1
    );
    assert_eq!(inv["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(inv["items"].as_array().unwrap().len(), 3);
    // The sales rep sees their own invoice.
    app.get(&format!("/v1/invoices/{invoice}"), &sales)
        .await
        .expect(200);

    // The quote knows its invoice.
    let q = app.get(&format!("/v1/quotes/{quote}"), &sales).await;
    assert_eq!(q.body["invoice_id"], invoice.as_str());

    // The ledger: deposit, its fee, payment, refund, payment; cash 1347.30.
    let ledger = app
        .get("/v1/financial-transactions?limit=50", &accountant)
        .await;
    ledger.expect(200);
    let entries = ledger.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 5, "{entries:?}");
    let cash: rust_decimal::Decimal = entries
        .iter()
        .map(|e| {
            e["cash_effect"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(cash.to_string(), "1347.30");

    // AR aging: nothing open.
    let aging = app.get("/v1/reports/ar-aging", &accountant).await;
    aging.expect(200);
    assert_eq!(
        aging.body["customers"].as_array().unwrap().len(),
        0,
        "{}",
        aging.body
    );
    // Revenue by rep: the 1200.00 pre-tax on the rep's row.
    let today = Utc::now().date_naive();
    let revenue = app
        .get(
            &format!("/v1/reports/revenue?from={today}&to={today}&group_by=rep"),
            &accountant,
        )
        .await;
    revenue.expect(200);
    assert_eq!(revenue.body["rows"][0]["key"], rep.to_string());
    assert_eq!(revenue.body["rows"][0]["revenue"], "1200.00");
    let by_source = app
        .get(
            &format!("/v1/reports/revenue?from={today}&to={today}&group_by=source"),
            &accountant,
        )
        .await;
    assert_eq!(by_source.body["rows"][0]["key"], "referral");

    // The lead was won by the acceptance, and the audit trail says why.
    let lead_read = app.get(&format!("/v1/leads/{lead}"), &admin).await;
    lead_read.expect(200);
    assert_eq!(lead_read.body["status"], "WON");
    let trail = app
        .get(
            &format!("/v1/audit/events?aggregate_type=Lead&aggregate_id={lead}"),
            &auditor,
        )
        .await;
    trail.expect(200);
    let moves = find(&trail.body["items"], "event_type", "LeadStatusChanged");
    assert_eq!(moves.len(), 2, "PROPOSAL_SENT, then WON: {moves:?}");
    let quote_trail = app
        .get(
            &format!("/v1/audit/events?aggregate_type=Quote&aggregate_id={quote}"),
            &auditor,
        )
        .await;
    let accepted = find(&quote_trail.body["items"], "event_type", "QuoteAccepted");
    let won = moves
        .iter()
        .find(|m| m["payload"]["to"] == "WON")
        .expect("the WON move");
    assert_eq!(won["causation_id"], accepted[0]["event_id"]);
    assert_eq!(won["actor_role"], "system");
    assert_eq!(won["correlation_id"], accepted[0]["correlation_id"]);
}
