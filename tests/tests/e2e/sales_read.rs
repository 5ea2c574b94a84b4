//! The read side of quotes, invoices, the ledger and the financial reports.
//!
//! The write side of quotes and invoices is built elsewhere, so these tests
//! append the events to the event store exactly as it will (payload
//! `{"<Type>": {...}}`, the metadata map, the next sequence of the
//! aggregate); the relay publishes them and the projectors apply them, and
//! everything is read back through the real router.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use crm_tests::{TestApp, TestResponse};
use event_schemas::finance::{
    FinancialTransactionEvent, FinancialTransactionRecorded, TRANSACTION_AGGREGATE_TYPE,
};
use event_schemas::invoice::{self, InvoiceEvent, InvoiceTerms};
use event_schemas::money::{
    FinancialTransactionType, LineItem, PaymentDetails, PaymentMethod, PricingType, Province,
    QuoteItemCategory, TaxCode, TaxLine, Totals,
};
use event_schemas::quote::{self, QuoteEvent, QuoteTerms};
use event_schemas::{EventMetadata, Role, TenantId};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

const TENANT: &str = "acme";

fn m(text: &str) -> Decimal {
    text.parse().expect("an amount")
}

fn at(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, 15, 0, 0).unwrap()
}

fn day(y: i32, mo: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, mo, d).unwrap()
}

/// Ontario totals: 13 % HST on `subtotal`.
fn totals(subtotal: &str) -> Totals {
    let subtotal = m(subtotal);
    let tax = (subtotal * m("0.13")).round_dp(2);
    Totals {
        subtotal,
        tax_lines: vec![TaxLine {
            code: TaxCode::Hst,
            rate: m("0.13"),
            taxable: subtotal,
            amount: tax,
        }],
        tax_total: tax,
        total: subtotal + tax,
        tax_date: Some(day(2026, 1, 1)),
    }
}

fn item(description: &str, price: &str, optional: bool) -> LineItem {
    LineItem {
        item_id: Uuid::new_v4(),
        description: description.to_owned(),
        quantity: Decimal::ONE,
        unit_price: m(price),
        line_total: m(price),
        category: QuoteItemCategory::MovingServices,
        subcategory: None,
        optional,
        sort_order: 0,
        notes: None,
    }
}

fn quote_terms(items: Vec<LineItem>, subtotal: &str) -> QuoteTerms {
    QuoteTerms {
        currency: "CAD".to_owned(),
        valid_until: day(2026, 12, 31),
        terms: None,
        notes: None,
        pricing_type: PricingType::Binding,
        hourly: None,
        province: Province::On,
        tax_exempt: false,
        template_name: None,
        items,
        totals: totals(subtotal),
    }
}

fn payment(amount: &str, fee: Option<&str>, received_at: DateTime<Utc>) -> PaymentDetails {
    PaymentDetails {
        payment_id: Uuid::new_v4(),
        amount: m(amount),
        method: PaymentMethod::CreditCard,
        transaction_id: Some("ch_123".to_owned()),
        gateway: Some("stripe".to_owned()),
        gateway_data: None,
        processing_fee: fee.map(m),
        receipt_url: None,
        notes: None,
        received_at,
        recorded_by: Uuid::nil(),
    }
}

/// Appends events to the event store the way the write side stores them.
pub(crate) struct Feed<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) tenant: &'static str,
}

impl Feed<'_> {
    /// Appends `events` to the aggregate's stream; returns its version.
    pub(crate) async fn append<E: Serialize>(
        &self,
        aggregate_type: &str,
        id: Uuid,
        events: impl IntoIterator<Item = E>,
    ) -> i64 {
        let mut tx = self.app.pool().begin().await.unwrap();
        let mut sequence: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(sequence), 0) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .bind(aggregate_type)
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        for event in events {
            let payload = serde_json::to_value(&event).unwrap();
            let event_type = payload
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .expect("an enum payload");
            let info = event_schemas::catalogue()
                .into_iter()
                .find(|i| i.aggregate_type == aggregate_type && i.event_type == event_type)
                .expect("a known event");
            let metadata = EventMetadata {
                tenant_id: TenantId::parse(self.tenant).unwrap(),
                user_id: Uuid::nil(),
                role: Role::Admin,
                correlation_id: "test".to_owned(),
                causation_id: "test".to_owned(),
                command_id: Uuid::new_v4(),
                recorded_at: Utc::now(),
                policy_version: None,
                policy_valid_until: None,
            };
            sequence += 1;
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(aggregate_type)
            .bind(id.to_string())
            .bind(sequence)
            .bind(&event_type)
            .bind(info.version)
            .bind(&payload)
            .bind(serde_json::to_value(metadata.to_map()).unwrap())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        // Wakes the relay as the command bus does.
        event_store::signal::committed();
        sequence
    }

    async fn quote(&self, id: Uuid, events: Vec<QuoteEvent>) -> i64 {
        self.append(quote::AGGREGATE_TYPE, id, events).await
    }

    async fn invoice(&self, id: Uuid, events: Vec<InvoiceEvent>) -> i64 {
        self.append(invoice::AGGREGATE_TYPE, id, events).await
    }
}

/// An issued invoice to book: customer, lead, rep, issue time, due date,
/// subtotal, and the events that followed the issue.
type Booked = (
    Uuid,
    Option<Uuid>,
    Uuid,
    DateTime<Utc>,
    NaiveDate,
    &'static str,
    Vec<InvoiceEvent>,
);

struct Draft {
    id: Uuid,
    customer: Uuid,
    lead: Option<Uuid>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
}

fn quote_drafted(q: &Draft, is_template: bool, terms: QuoteTerms) -> QuoteEvent {
    quote::QuoteDrafted {
        tenant_id: TenantId::parse(TENANT).unwrap(),
        quote_id: q.id,
        customer_id: q.customer,
        lead_id: q.lead,
        location_id: None,
        is_template,
        copied_from: None,
        draft: terms,
        created_by: q.created_by,
        created_at: q.created_at,
    }
    .into()
}

fn invoice_drafted(
    i: &Draft,
    sales_rep: Option<Uuid>,
    subtotal: &str,
    deposits: Vec<PaymentDetails>,
) -> InvoiceEvent {
    invoice::InvoiceDrafted {
        tenant_id: TenantId::parse(TENANT).unwrap(),
        invoice_id: i.id,
        customer_id: i.customer,
        quote_id: None,
        quote_revision: None,
        lead_id: i.lead,
        location_id: None,
        sales_rep,
        deposits,
        recurring_origin: None,
        draft: InvoiceTerms {
            currency: "CAD".to_owned(),
            province: Province::On,
            tax_exempt: false,
            payment_terms_days: 30,
            terms: None,
            notes: None,
            journey_id: None,
            items: vec![item("Move", subtotal, false)],
            recurring: None,
            totals: totals(subtotal),
        },
        created_by: i.created_by,
        created_at: i.created_at,
    }
    .into()
}

fn issued(
    sequence: i64,
    issued_at: DateTime<Utc>,
    due: NaiveDate,
    subtotal: &str,
    deposits: &str,
) -> InvoiceEvent {
    let totals = totals(subtotal);
    invoice::InvoiceIssued {
        invoice_number: format!("INV-{}-{sequence:06}", issued_at.format("%Y")),
        sequence,
        issued_by: Uuid::nil(),
        issued_at,
        due_date: due,
        balance_after: totals.total - m(deposits),
        totals,
        paid_by_deposits: m(deposits),
    }
    .into()
}

fn paid(p: PaymentDetails, balance_after: &str) -> InvoiceEvent {
    invoice::PaymentRecorded {
        payment: p,
        balance_after: m(balance_after),
    }
    .into()
}

fn credit(amount: &str, subtotal: &str, issued_at: DateTime<Utc>, balance: &str) -> InvoiceEvent {
    invoice::CreditNoteIssued {
        credit_note_id: Uuid::new_v4(),
        credit_note_number: "INV-CN1".to_owned(),
        amount: m(amount),
        subtotal_portion: m(subtotal),
        tax_portion: m(amount) - m(subtotal),
        reason: "damaged sofa".to_owned(),
        issued_by: Uuid::nil(),
        issued_at,
        balance_after: m(balance),
    }
    .into()
}

async fn customer_named(app: &TestApp, token: &str, first: &str, last: &str) -> Uuid {
    let email = format!("{}@example.com", Uuid::new_v4().simple());
    let r = app
        .post(
            "/v1/customers",
            token,
            json!({"first_name": first, "last_name": last, "email": email}),
        )
        .await;
    r.expect(201);
    r.id().parse().unwrap()
}

fn ids(r: &TestResponse) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", r.body))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[track_caller]
fn assert_invalid(r: &TestResponse, field: &str) {
    r.expect_problem(422, "validation");
    assert_eq!(r.problem_fields(), vec![field.to_owned()], "{}", r.body);
}

/// One sale through every quote, invoice and ledger table: a revised quote
/// with a deposit; its invoice paid (with a fee), partly refunded and
/// credited; a manual ledger entry. For tests of other parts (rebuilds)
/// that need rows everywhere.
pub(crate) async fn feed_a_sale(app: &TestApp, tenant: &'static str) {
    let feed = Feed { app, tenant };
    let q = Draft {
        id: Uuid::new_v4(),
        customer: Uuid::new_v4(),
        lead: None,
        created_by: Uuid::nil(),
        created_at: at(2026, 1, 5),
    };
    let deposit = payment("100.00", None, at(2026, 1, 8));
    let terms = quote_terms(vec![item("Move", "1000.00", false)], "1000.00");
    feed.quote(
        q.id,
        vec![
            quote_drafted(&q, false, terms),
            quote::QuoteRevised {
                from_revision: 1,
                revision: 2,
                revised_by: Uuid::nil(),
                revised_at: at(2026, 1, 6),
            }
            .into(),
            quote::QuoteDepositRecorded {
                payment: deposit.clone(),
            }
            .into(),
        ],
    )
    .await;
    let i = Draft {
        id: Uuid::new_v4(),
        ..q
    };
    let card = payment("200.00", Some("5.00"), at(2026, 2, 2));
    feed.invoice(
        i.id,
        vec![
            invoice_drafted(&i, None, "1000.00", vec![deposit]),
            issued(1, at(2026, 2, 1), day(2026, 3, 1), "1000.00", "100.00"),
            paid(card.clone(), "830.00"),
            invoice::PaymentRefunded {
                refund_id: Uuid::new_v4(),
                payment_id: card.payment_id,
                amount: m("50.00"),
                reason: "goodwill".to_owned(),
                refunded_by: Uuid::nil(),
                refunded_at: at(2026, 2, 3),
                balance_after: m("880.00"),
            }
            .into(),
            credit("113.00", "100.00", at(2026, 2, 4), "767.00"),
        ],
    )
    .await;
    let manual = Uuid::new_v4();
    feed.append(
        TRANSACTION_AGGREGATE_TYPE,
        manual,
        [manual_expense(tenant, manual)],
    )
    .await;
}

fn manual_expense(tenant: &str, id: Uuid) -> FinancialTransactionEvent {
    FinancialTransactionRecorded {
        tenant_id: TenantId::parse(tenant).unwrap(),
        transaction_id: id,
        transaction_type: FinancialTransactionType::Expense,
        amount: m("75.00"),
        currency: "CAD".to_owned(),
        description: "Truck fuel, \"diesel\"".to_owned(),
        category: "Fuel".to_owned(),
        subcategory: None,
        reference: None,
        notes: None,
        tags: vec!["truck-2".to_owned()],
        transaction_date: day(2026, 3, 8),
        invoice_id: None,
        journey_id: None,
        recorded_by: Uuid::nil(),
        recorded_at: at(2026, 3, 8),
    }
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_reads_with_its_revisions_deposits_and_acceptance_and_lists_filter_and_scope() {
    let app = TestApp::spawn().await;
    let feed = Feed {
        app: &app,
        tenant: TENANT,
    };
    let admin = app.token(TENANT, Role::Admin);
    let (rep, other_rep) = (Uuid::new_v4(), Uuid::new_v4());
    let customer = customer_named(&app, &admin, "Jeanne", "Tremblay").await;
    let lead = Uuid::new_v4();
    let q1 = Draft {
        id: Uuid::new_v4(),
        customer,
        lead: Some(lead),
        created_by: rep,
        created_at: at(2026, 1, 5),
    };
    let optional = item("Packing", "150.00", true);
    let deposit = payment("200.00", Some("6.10"), at(2026, 1, 9));
    let version = feed
        .quote(
            q1.id,
            vec![
                quote_drafted(
                    &q1,
                    false,
                    quote_terms(vec![item("Move", "1000.00", false)], "1000.00"),
                ),
                quote::QuoteApproved {
                    revision: 1,
                    approved_by: Uuid::nil(),
                    approved_at: at(2026, 1, 5),
                    total: m("1130.00"),
                }
                .into(),
                quote::QuoteSent {
                    revision: 1,
                    sent_by: rep,
                    sent_at: at(2026, 1, 6),
                    totals: totals("1000.00"),
                    approval_threshold: None,
                }
                .into(),
                quote::QuoteViewed {
                    revision: 1,
                    viewed_at: at(2026, 1, 6),
                }
                .into(),
                quote::QuoteRevised {
                    from_revision: 1,
                    revision: 2,
                    revised_by: rep,
                    revised_at: at(2026, 1, 7),
                }
                .into(),
                quote::QuoteDraftUpdated {
                    draft: quote_terms(
                        vec![item("Move", "2000.00", false), optional.clone()],
                        "2000.00",
                    ),
                    changed_fields: vec!["items".to_owned()],
                }
                .into(),
                quote::QuoteSent {
                    revision: 2,
                    sent_by: rep,
                    sent_at: at(2026, 1, 7),
                    totals: totals("2000.00"),
                    approval_threshold: None,
                }
                .into(),
                quote::QuoteAccepted {
                    revision: 2,
                    accepted_by_name: "Jeanne Tremblay".to_owned(),
                    accepted_at: at(2026, 1, 8),
                    accepted_ip: Some("203.0.113.7".to_owned()),
                    selected_optional_items: vec![optional.item_id],
                    totals: totals("2150.00"),
                    recorded_by: Uuid::nil(),
                }
                .into(),
                quote::QuoteDepositRecorded {
                    payment: deposit.clone(),
                }
                .into(),
                quote::QuoteConverted {
                    journey_id: Uuid::from_u128(7),
                    converted_by: rep,
                    converted_at: at(2026, 1, 10),
                }
                .into(),
            ],
        )
        .await;
    let template = Draft {
        id: Uuid::new_v4(),
        customer,
        lead: None,
        created_by: other_rep,
        created_at: at(2026, 1, 6),
    };
    let mut template_terms = quote_terms(vec![item("Studio move", "500.00", false)], "500.00");
    template_terms.template_name = Some("Studio".to_owned());
    feed.quote(
        template.id,
        vec![quote_drafted(&template, true, template_terms)],
    )
    .await;

    let r = app
        .get(
            &format!("/v1/quotes/{}?min_version={version}", q1.id),
            &admin,
        )
        .await;
    r.expect(200);
    let q = &r.body;
    assert_eq!(q["status"], "CONVERTED");
    assert_eq!(q["revision"], 2);
    assert_eq!(q["version"], version);
    assert_eq!(q["subtotal"], "2000.00");
    assert_eq!(q["tax_total"], "260.00");
    assert_eq!(q["total"], "2260.00");
    assert_eq!(q["tax_lines"][0]["code"], "HST");
    assert_eq!(q["items"].as_array().unwrap().len(), 2);
    assert!(q["approved_by"].is_null(), "editing withdrew the approval");
    assert_eq!(q["accepted_by_name"], "Jeanne Tremblay");
    assert_eq!(q["accepted_ip"], "203.0.113.7");
    assert_eq!(q["accepted_revision"], 2);
    assert_eq!(q["selected_optional_items"], json!([optional.item_id]));
    assert_eq!(q["accepted_totals"]["total"], "2429.50");
    assert_eq!(q["journey_id"], Uuid::from_u128(7).to_string());
    assert_eq!(q["deposit_total"], "200.00");
    assert_eq!(
        q["deposits"][0]["payment_id"],
        deposit.payment_id.to_string()
    );
    assert_eq!(q["deposits"][0]["amount"], "200.00");
    assert_eq!(q["deposits"][0]["processing_fee"], "6.10");
    let revisions = q["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["revision"], 1);
    assert_eq!(revisions[0]["status"], "VIEWED", "the status it ended in");
    assert_eq!(revisions[0]["total"], "1130.00");
    assert!(revisions[0]["superseded_at"].is_string());
    assert!(revisions[0]["sent_at"].is_string());
    assert_eq!(revisions[1]["status"], "CONVERTED");
    assert_eq!(revisions[1]["total"], "2260.00");
    assert!(revisions[1]["superseded_at"].is_null());

    // Filters and pagination (newest first), once the template (fed after
    // the quote waited for above) is projected too.
    app.settle().await;
    let all = app.get("/v1/quotes", &admin).await;
    assert_eq!(ids(&all), vec![template.id.to_string(), q1.id.to_string()]);
    let filtered = |query: &str| format!("/v1/quotes?{query}");
    for (query, expected) in [
        ("status=CONVERTED", vec![q1.id]),
        ("status=DRAFT", vec![template.id]),
        ("is_template=true", vec![template.id]),
        ("is_template=false", vec![q1.id]),
        (&format!("lead_id={lead}") as &str, vec![q1.id]),
        (&format!("customer_id={customer}"), vec![template.id, q1.id]),
        (&format!("customer_id={}", Uuid::new_v4()), vec![]),
    ] {
        let r = app.get(&filtered(query), &admin).await;
        let expected: Vec<String> = expected.iter().map(Uuid::to_string).collect();
        assert_eq!(ids(&r), expected, "{query}");
    }
    let first = app.get("/v1/quotes?limit=1", &admin).await;
    assert_eq!(ids(&first), vec![template.id.to_string()]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/v1/quotes?limit=1&cursor={cursor}"), &admin)
        .await;
    assert_eq!(ids(&second), vec![q1.id.to_string()]);
    assert!(second.body["next_cursor"].is_null());

    // Bad parameters name themselves.
    assert_invalid(&app.get("/v1/quotes?status=SIGNED", &admin).await, "status");
    assert_invalid(&app.get("/v1/quotes?limit=0", &admin).await, "limit");
    assert_invalid(
        &app.get("/v1/quotes?is_template=maybe", &admin).await,
        "is_template",
    );
    assert_invalid(
        &app.get("/v1/quotes?customer_id=42", &admin).await,
        "customer_id",
    );
    assert_invalid(
        &app.get("/v1/quotes?cursor=nonsense", &admin).await,
        "cursor",
    );
    app.get("/v1/quotes?colour=red", &admin)
        .await
        .expect_problem(400, "bad-request");

    // Scopes: a rep sees their own quotes and the shared templates; crew
    // none; another tenant nothing.
    let sales = app.token_for(TENANT, rep, Role::Sales);
    assert_eq!(
        ids(&app.get("/v1/quotes", &sales).await),
        vec![template.id.to_string(), q1.id.to_string()]
    );
    app.get(&format!("/v1/quotes/{}", q1.id), &sales)
        .await
        .expect(200);
    app.get(&format!("/v1/quotes/{}", template.id), &sales)
        .await
        .expect(200);
    let crew = app.token(TENANT, Role::Crew);
    app.get("/v1/quotes", &crew)
        .await
        .expect_problem(403, "forbidden");
    app.get(&format!("/v1/quotes/{}", q1.id), &crew)
        .await
        .expect_problem(403, "forbidden");
    let dispatcher = app.token(TENANT, Role::Dispatcher);
    assert_eq!(ids(&app.get("/v1/quotes", &dispatcher).await).len(), 2);
    let stranger = app.token("globex", Role::Admin);
    app.get(&format!("/v1/quotes/{}", q1.id), &stranger)
        .await
        .expect_problem(404, "not-found");
    app.get(&format!("/v1/quotes/{}?min_version=99", q1.id), &stranger)
        .await
        .expect_problem(404, "not-found");
    assert!(ids(&app.get("/v1/quotes", &stranger).await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_show_payments_refunds_credit_notes_voids_and_overdue_and_the_ledger_counts_each_once()
 {
    let app = TestApp::spawn().await;
    let feed = Feed {
        app: &app,
        tenant: TENANT,
    };
    let admin = app.token(TENANT, Role::Admin);
    let (rep, other_rep) = (Uuid::new_v4(), Uuid::new_v4());
    let customer = customer_named(&app, &admin, "Marc", "Gagnon").await;
    let draft = |n: u32, created_by: Uuid| Draft {
        id: Uuid::new_v4(),
        customer,
        lead: None,
        created_by,
        created_at: at(2026, 2, n),
    };

    // A deposit taken on the quote, then carried onto its invoice.
    let quote = draft(1, rep);
    let deposit = payment("200.00", None, at(2026, 2, 1));
    feed.quote(
        quote.id,
        vec![
            quote_drafted(
                &quote,
                false,
                quote_terms(vec![item("Move", "1000.00", false)], "1000.00"),
            ),
            quote::QuoteDepositRecorded {
                payment: deposit.clone(),
            }
            .into(),
        ],
    )
    .await;

    let (i1, i2, i3, i4) = (
        draft(2, rep),
        draft(3, rep),
        draft(4, rep),
        draft(5, other_rep),
    );
    let card = payment("500.00", Some("14.80"), at(2026, 3, 5));
    let refund_id = Uuid::new_v4();
    let v1 = feed
        .invoice(
            i1.id,
            vec![
                invoice_drafted(&i1, Some(rep), "1000.00", vec![deposit.clone()]),
                issued(1, at(2026, 3, 1), day(2026, 3, 31), "1000.00", "200.00"),
                paid(card.clone(), "430.00"),
                invoice::PaymentRefunded {
                    refund_id,
                    payment_id: card.payment_id,
                    amount: m("100.00"),
                    reason: "overcharged".to_owned(),
                    refunded_by: Uuid::nil(),
                    refunded_at: at(2026, 3, 6),
                    balance_after: m("530.00"),
                }
                .into(),
                credit("113.00", "100.00", at(2026, 3, 7), "417.00"),
                invoice::InvoiceOverdue {
                    due_date: day(2026, 3, 31),
                    as_of: day(2026, 4, 1),
                    balance: m("417.00"),
                }
                .into(),
            ],
        )
        .await;
    feed.invoice(
        i2.id,
        vec![
            invoice_drafted(&i2, Some(other_rep), "300.00", vec![]),
            issued(2, at(2026, 3, 2), day(2026, 4, 1), "300.00", "0"),
            invoice::InvoiceVoided {
                reason: "duplicate".to_owned(),
                voided_by: Uuid::nil(),
                voided_at: at(2026, 3, 3),
            }
            .into(),
        ],
    )
    .await;
    let full = payment("113.00", None, at(2026, 3, 4));
    feed.invoice(
        i3.id,
        vec![
            invoice_drafted(&i3, None, "100.00", vec![]),
            issued(3, at(2026, 3, 3), day(2026, 4, 2), "100.00", "0"),
            paid(full.clone(), "0.00"),
        ],
    )
    .await;
    feed.invoice(i4.id, vec![invoice_drafted(&i4, None, "50.00", vec![])])
        .await;
    let manual = Uuid::new_v4();
    feed.append(
        TRANSACTION_AGGREGATE_TYPE,
        manual,
        [manual_expense(TENANT, manual)],
    )
    .await;

    app.settle().await;
    let r = app
        .get(&format!("/v1/invoices/{}?min_version={v1}", i1.id), &admin)
        .await;
    r.expect(200);
    let inv = &r.body;
    assert_eq!(inv["number"], "INV-2026-000001");
    assert_eq!(inv["invoice_sequence"], 1);
    assert_eq!(inv["status"], "OVERDUE");
    assert_eq!(inv["overdue"], true);
    assert_eq!(inv["overdue_as_of"], "2026-04-01");
    assert_eq!(inv["total"], "1130.00");
    assert_eq!(inv["paid"], "600.00", "deposit + payment − refund");
    assert_eq!(inv["refunded"], "100.00");
    assert_eq!(inv["credited"], "113.00");
    assert_eq!(inv["balance"], "417.00");
    assert_eq!(inv["due_date"], "2026-03-31");
    assert_eq!(inv["tax_lines"][0]["amount"], "130.00");
    let payments = inv["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 2);
    assert_eq!(payments[0]["payment_id"], deposit.payment_id.to_string());
    assert_eq!(payments[0]["is_deposit"], true);
    assert!(payments[0]["balance_after"].is_null());
    assert_eq!(payments[1]["is_deposit"], false);
    assert_eq!(payments[1]["amount"], "500.00");
    assert_eq!(payments[1]["refunded"], "100.00");
    assert_eq!(payments[1]["balance_after"], "430.00");
    assert_eq!(inv["refunds"][0]["refund_id"], refund_id.to_string());
    assert_eq!(inv["refunds"][0]["balance_after"], "530.00");
    assert_eq!(inv["credit_notes"][0]["subtotal_portion"], "100.00");
    assert_eq!(inv["credit_notes"][0]["tax_portion"], "13.00");

    let get = async |id: Uuid| app.get(&format!("/v1/invoices/{id}"), &admin).await;
    let voided = get(i2.id).await;
    assert_eq!(voided.body["status"], "CANCELLED");
    assert_eq!(voided.body["void_reason"], "duplicate");
    assert_eq!(get(i3.id).await.body["status"], "PAID");
    let draft_read = get(i4.id).await;
    assert_eq!(draft_read.body["status"], "DRAFT");
    assert!(draft_read.body["balance"].is_null());

    for (query, expected) in [
        ("overdue=true", vec![i1.id]),
        ("overdue=false", vec![i4.id, i3.id, i2.id]),
        ("status=PAID", vec![i3.id]),
        ("status=CANCELLED", vec![i2.id]),
        (
            &format!("customer_id={customer}") as &str,
            vec![i4.id, i3.id, i2.id, i1.id],
        ),
    ] {
        let r = app.get(&format!("/v1/invoices?{query}"), &admin).await;
        let expected: Vec<String> = expected.iter().map(Uuid::to_string).collect();
        assert_eq!(ids(&r), expected, "{query}");
    }
    assert_invalid(
        &app.get("/v1/invoices?overdue=yes", &admin).await,
        "overdue",
    );
    assert_invalid(&app.get("/v1/invoices?status=LATE", &admin).await, "status");

    // A rep's invoices: theirs as sales rep, or theirs as author without a rep.
    let sales = app.token_for(TENANT, rep, Role::Sales);
    assert_eq!(
        ids(&app.get("/v1/invoices", &sales).await),
        vec![i3.id.to_string(), i1.id.to_string()]
    );
    app.get(&format!("/v1/invoices/{}", i2.id), &sales)
        .await
        .expect_problem(403, "forbidden");
    let other = app.token_for(TENANT, other_rep, Role::Sales);
    assert_eq!(
        ids(&app.get("/v1/invoices", &other).await),
        vec![i4.id.to_string(), i2.id.to_string()]
    );
    app.get("/v1/invoices", &app.token(TENANT, Role::Crew))
        .await
        .expect_problem(403, "forbidden");
    app.get(
        &format!("/v1/invoices/{}", i1.id),
        &app.token("globex", Role::Admin),
    )
    .await
    .expect_problem(404, "not-found");

    // The ledger: each money movement once, the deposit only when taken.
    let accountant = app.token(TENANT, Role::Accountant);
    let ledger = app.get("/v1/financial-transactions", &accountant).await;
    ledger.expect(200);
    let entries = ledger.body["items"].as_array().unwrap();
    let by_source = |source: &str| -> Vec<&Value> {
        entries.iter().filter(|e| e["source"] == source).collect()
    };
    assert_eq!(entries.len(), 7, "{:#}", ledger.body);
    let deposits = by_source("QUOTE_DEPOSIT");
    assert_eq!(deposits.len(), 1);
    assert_eq!(deposits[0]["quote_id"], quote.id.to_string());
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["payment_id"] == deposit.payment_id.to_string())
            .count(),
        1,
        "the deposit carried onto the invoice is not counted again"
    );
    let sign = |source: &str| -> Vec<(String, String, String)> {
        by_source(source)
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap().to_owned();
                (s("transaction_type"), s("amount"), s("cash_effect"))
            })
            .collect()
    };
    assert_eq!(
        sign("PAYMENT"),
        vec![
            ("INCOME".into(), "500.00".into(), "500.00".into()),
            ("INCOME".into(), "113.00".into(), "113.00".into()),
        ]
    );
    assert_eq!(
        sign("PROCESSING_FEE"),
        vec![("EXPENSE".into(), "14.80".into(), "-14.80".into())]
    );
    assert_eq!(
        sign("REFUND"),
        vec![("INCOME".into(), "100.00".into(), "-100.00".into())]
    );
    assert_eq!(
        sign("CREDIT_NOTE"),
        vec![("ADJUSTMENT".into(), "113.00".into(), "0.00".into())]
    );
    assert_eq!(
        sign("MANUAL"),
        vec![("EXPENSE".into(), "75.00".into(), "-75.00".into())]
    );
    assert_eq!(by_source("MANUAL")[0]["id"], manual.to_string());
    let net: Decimal = entries
        .iter()
        .map(|e| m(e["cash_effect"].as_str().unwrap()))
        .sum();
    assert_eq!(net, m("623.20"), "200 + 500 − 14.80 − 100 + 113 − 75");

    // Dates are inclusive; type filters; pages.
    let count = async |query: &str| {
        let r = app
            .get(&format!("/v1/financial-transactions?{query}"), &accountant)
            .await;
        r.expect(200);
        r.body["items"].as_array().unwrap().len()
    };
    assert_eq!(count("from=2026-03-05&to=2026-03-06").await, 3);
    assert_eq!(count("from=2026-03-08").await, 1);
    assert_eq!(count("to=2026-02-28").await, 1);
    assert_eq!(count("type=EXPENSE").await, 2);
    assert_eq!(
        count("type=ADJUSTMENT&from=2026-03-07&to=2026-03-07").await,
        1
    );
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/v1/financial-transactions?limit=3{cursor}"),
                &accountant,
            )
            .await;
        seen.extend(ids(&r));
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let listed: Vec<String> = entries
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, listed, "pages cover the ledger once, in order");
    let bad = async |q: &str| {
        app.get(&format!("/v1/financial-transactions?{q}"), &accountant)
            .await
    };
    assert_invalid(&bad("from=2026-03-09&to=2026-03-01").await, "to");
    assert_invalid(&bad("from=March").await, "from");
    assert_invalid(&bad("type=GIFT").await, "type");
    app.get("/v1/financial-transactions", &sales)
        .await
        .expect_problem(403, "forbidden");

    // A rebuild gives the same entry ids.
    let projection = projections::all(app.env.infra.keystore.clone())
        .into_iter()
        .find(|p| p.name() == "ledger")
        .unwrap();
    projections::rebuild(
        app.pool(),
        app.env.js(),
        &projections::ProjectorConfig::new(
            &app.env.config.nats_stream,
            &app.env.config.subject_prefix,
        ),
        projection.as_ref(),
        &|_, _| {},
    )
    .await
    .unwrap();
    let again = app.get("/v1/financial-transactions", &accountant).await;
    assert_eq!(ids(&again), listed, "same ids after a rebuild");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ar_aging_buckets_open_balances_and_revenue_is_recognised_at_issue_net_of_credit_notes() {
    let app = TestApp::spawn().await;
    let feed = Feed {
        app: &app,
        tenant: TENANT,
    };
    let admin = app.token(TENANT, Role::Admin);
    let alice = customer_named(&app, &admin, "Alice", "Martin").await;
    let bob = customer_named(&app, &admin, "Bob", "Roy").await;
    let lead = async |customer: Uuid, source: &str| {
        let r = app
            .post(
                "/v1/leads",
                &admin,
                json!({"customer_id": customer, "source": source}),
            )
            .await;
        r.expect(201);
        r.id().parse::<Uuid>().unwrap()
    };
    let website = lead(alice, "website").await;
    let referral = lead(alice, "Referral, friend").await;
    let (r1, r2) = (Uuid::new_v4(), Uuid::new_v4());
    let voided = invoice::InvoiceVoided {
        reason: "wrong customer".to_owned(),
        voided_by: Uuid::nil(),
        voided_at: at(2026, 2, 11),
    };
    // (customer, lead, rep, issued, due, subtotal, what followed the issue)
    #[rustfmt::skip]
    let book: Vec<Booked> = vec![
        // Alice: 31–60 days late, current, 61–90 days late (partly paid).
        (alice, Some(website), r1, at(2026, 1, 10), day(2026, 2, 9), "1000.00", vec![]),
        (alice, Some(referral), r2, at(2026, 3, 20), day(2026, 4, 19), "200.00",
         vec![paid(payment("26.00", None, at(2026, 3, 21)), "200.00")]),
        (alice, Some(referral), r1, at(2026, 1, 20), day(2026, 1, 20), "400.00",
         vec![paid(payment("52.00", None, at(2026, 1, 25)), "400.00")]),
        // Bob: over 90 days late (issued last year), 1–30 days late after a
        // credit note, and a voided invoice.
        (bob, None, r1, at(2025, 11, 15), day(2025, 12, 15), "500.00", vec![]),
        (bob, Some(website), r2, at(2026, 2, 1), day(2026, 3, 3), "300.00",
         vec![credit("113.00", "100.00", at(2026, 2, 15), "226.00")]),
        (bob, Some(website), r1, at(2026, 2, 10), day(2026, 3, 12), "900.00", vec![voided.into()]),
    ];
    for (n, (customer, lead, rep, issued_at, due, subtotal, more)) in book.into_iter().enumerate() {
        let d = Draft {
            id: Uuid::new_v4(),
            customer,
            lead,
            created_by: Uuid::nil(),
            created_at: issued_at,
        };
        let mut events = vec![
            invoice_drafted(&d, Some(rep), subtotal, vec![]),
            issued(n as i64 + 1, issued_at, due, subtotal, "0"),
        ];
        events.extend(more);
        feed.invoice(d.id, events).await;
    }
    app.settle().await;

    let accountant = app.token(TENANT, Role::Accountant);
    let aging = app
        .get("/v1/reports/ar-aging?as_of=2026-03-31", &accountant)
        .await;
    aging.expect(200);
    let row = |r: &Value| -> Vec<String> {
        [
            "customer_name",
            "currency",
            "current",
            "days_1_30",
            "days_31_60",
            "days_61_90",
            "days_over_90",
            "total",
        ]
        .iter()
        .map(|k| r[*k].as_str().unwrap_or("").to_owned())
        .chain([r["invoices"].to_string()])
        .collect()
    };
    let customers: Vec<Vec<String>> = aging.body["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(row)
        .collect();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        customers,
        vec![
            strings(&[
                "Alice Martin",
                "CAD",
                "200.00",
                "0.00",
                "1130.00",
                "400.00",
                "0.00",
                "1730.00",
                "3"
            ]),
            strings(&[
                "Bob Roy", "CAD", "0.00", "226.00", "0.00", "0.00", "565.00", "791.00", "2"
            ]),
        ]
    );
    assert_eq!(aging.body["customers"][0]["customer_id"], alice.to_string());
    let totals: Vec<Vec<String>> = aging.body["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(row)
        .collect();
    assert_eq!(
        totals,
        vec![strings(&[
            "", "CAD", "200.00", "226.00", "1130.00", "400.00", "565.00", "2521.00", "5"
        ])]
    );
    // Earlier, fewer invoices existed and less was late.
    let early = app
        .get("/v1/reports/ar-aging?as_of=2026-01-15", &accountant)
        .await;
    let early: Vec<Vec<String>> = early.body["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(row)
        .collect();
    assert_eq!(
        early,
        vec![
            strings(&[
                "Alice Martin",
                "CAD",
                "1130.00",
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "1130.00",
                "1"
            ]),
            strings(&[
                "Bob Roy", "CAD", "0.00", "0.00", "565.00", "0.00", "0.00", "565.00", "1"
            ]),
        ]
    );

    let csv = app
        .request(
            reqwest::Method::GET,
            "/v1/reports/ar-aging?as_of=2026-03-31",
            Some(&accountant),
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    csv.expect(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = csv.body.as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "customer_id,customer_name,currency,invoices,current,days_1_30,days_31_60,days_61_90,days_over_90,total",
            &format!("{alice},Alice Martin,CAD,3,200.00,0.00,1130.00,400.00,0.00,1730.00"),
            &format!("{bob},Bob Roy,CAD,2,0.00,226.00,0.00,0.00,565.00,791.00"),
            ",TOTAL,CAD,5,200.00,226.00,1130.00,400.00,565.00,2521.00",
        ]
    );

    // Revenue in Q1 2026: the 2025 invoice is out of range, the voided one out entirely.
    let revenue = async |query: String| {
        let r = app
            .get(&format!("/v1/reports/revenue?{query}"), &accountant)
            .await;
        r.expect(200);
        r.body
    };
    let rows = |body: &Value, key: &str| -> Vec<Vec<String>> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut cells = vec![r["key"].as_str().unwrap_or("-").to_owned()];
                cells.extend(
                    ["invoiced", "credited", "revenue", "tax", "gross"]
                        .map(|k| r[k].as_str().unwrap().to_owned()),
                );
                cells.push(format!("{}/{}", r["invoices"], r["credit_notes"]));
                cells
            })
            .collect()
    };
    let q1 = "from=2026-01-01&to=2026-03-31";
    let by_month = revenue(format!("{q1}&group_by=month")).await;
    assert_eq!(
        rows(&by_month, "rows"),
        vec![
            strings(&[
                "2026-01", "1400.00", "0.00", "1400.00", "182.00", "1582.00", "2/0"
            ]),
            strings(&[
                "2026-02", "300.00", "100.00", "200.00", "26.00", "226.00", "1/1"
            ]),
            strings(&[
                "2026-03", "200.00", "0.00", "200.00", "26.00", "226.00", "1/0"
            ]),
        ]
    );
    let total = vec![strings(&[
        "-", "1900.00", "100.00", "1800.00", "234.00", "2034.00", "4/1",
    ])];
    assert_eq!(rows(&by_month, "totals"), total);
    assert_eq!(
        rows(&revenue(q1.to_owned()).await, "rows"),
        rows(&by_month, "rows"),
        "month is the default"
    );
    let by_source = revenue(format!("{q1}&group_by=source")).await;
    assert_eq!(
        rows(&by_source, "rows"),
        vec![
            strings(&[
                "Referral, friend",
                "600.00",
                "0.00",
                "600.00",
                "78.00",
                "678.00",
                "2/0"
            ]),
            strings(&[
                "website", "1300.00", "100.00", "1200.00", "156.00", "1356.00", "2/1"
            ]),
        ]
    );
    assert_eq!(rows(&by_source, "totals"), total);
    let by_rep = revenue(format!("{q1}&group_by=rep")).await;
    let mut expected_rep = vec![
        strings(&[
            &r1.to_string(),
            "1400.00",
            "0.00",
            "1400.00",
            "182.00",
            "1582.00",
            "2/0",
        ]),
        strings(&[
            &r2.to_string(),
            "500.00",
            "100.00",
            "400.00",
            "52.00",
            "452.00",
            "2/1",
        ]),
    ];
    expected_rep.sort();
    assert_eq!(rows(&by_rep, "rows"), expected_rep);
    let february = revenue("from=2026-02-01&to=2026-02-28".to_owned()).await;
    assert_eq!(
        rows(&february, "totals"),
        vec![strings(&[
            "-", "300.00", "100.00", "200.00", "26.00", "226.00", "1/1"
        ])]
    );

    let csv = app
        .request(
            reqwest::Method::GET,
            &format!("/v1/reports/revenue?{q1}&group_by=source"),
            Some(&accountant),
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    csv.expect(200);
    assert_eq!(
        csv.body.as_str().unwrap().lines().collect::<Vec<_>>(),
        vec![
            "source,currency,invoices,credit_notes,invoiced,credited,revenue,tax,gross",
            "\"Referral, friend\",CAD,2,0,600.00,0.00,600.00,78.00,678.00",
            "website,CAD,2,1,1300.00,100.00,1200.00,156.00,1356.00",
            "TOTAL,CAD,4,1,1900.00,100.00,1800.00,234.00,2034.00",
        ]
    );

    // Parameters are validated; reports need Report/Read tenant-wide.
    let bad = async |query: &str| app.get(&format!("/v1/reports/{query}"), &accountant).await;
    assert_invalid(&bad("revenue?to=2026-01-31").await, "from");
    assert_invalid(&bad("revenue?from=2026-01-31").await, "to");
    assert_invalid(&bad("revenue?from=2026-02-01&to=2026-01-31").await, "to");
    assert_invalid(
        &bad("revenue?from=2026-01-01&to=2026-01-31&group_by=week").await,
        "group_by",
    );
    assert_invalid(&bad("ar-aging?as_of=yesterday").await, "as_of");
    app.get("/v1/reports/ar-aging", &accountant)
        .await
        .expect(200);
    for role in [Role::Sales, Role::Dispatcher, Role::Crew] {
        let token = app.token(TENANT, role);
        app.get("/v1/reports/ar-aging", &token)
            .await
            .expect_problem(403, "forbidden");
        app.get(&format!("/v1/reports/revenue?{q1}"), &token)
            .await
            .expect_problem(403, "forbidden");
    }
    // Another tenant's report is empty.
    let stranger = app.token("globex", Role::Admin);
    let theirs = app
        .get("/v1/reports/ar-aging?as_of=2026-03-31", &stranger)
        .await;
    assert_eq!(theirs.body["customers"], json!([]));
    assert_eq!(theirs.body["totals"], json!([]));
}
