//! Given/when/then tests of the `Invoice` aggregate through its public API,
//! and property tests of its money.

use aggregates::invoice::{
    AcceptedQuote, DraftInvoice, Invoice, InvoiceAction, InvoiceCommand, InvoiceError,
    UpdateInvoice, next_cycle_date,
};
use aggregates::sales::{ItemInput, PaymentInput};
use aggregates::{DomainError, ErrorKind, Patch, TenantOwned, ValidationErrors};
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::invoice::{
    CreditNoteIssued, InvoiceAmounts, InvoiceDraftUpdated, InvoiceDrafted, InvoiceEvent,
    InvoiceIssued, InvoiceOverdue, InvoiceTerms, InvoiceVoided, PaymentRecorded, PaymentRefunded,
    RecurringInvoiceGenerated, RecurringOrigin, RecurringSchedule, RecurringScheduleStopped,
    invoice_status,
};
use event_schemas::money::{
    InvoiceStatus, LineItem, PaymentDetails, PaymentMethod, Province, QuoteItemCategory,
    RecurringInterval, TaxCode, TaxLine, Totals,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

const INVOICE_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_2001);
const CUSTOMER_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);
const LEAD_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_1001);
const QUOTE_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_3001);
const JOURNEY_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_4001);
const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);
const REP: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a002);
const ITEM_A: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_b001);
const ITEM_B: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_b002);
const PAYMENT_1: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_c001);
const PAYMENT_2: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_c002);
const DEPOSIT_1: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_c101);
const REFUND_1: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_d001);
const REFUND_2: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_d002);
const CREDIT_1: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_e001);
const CREDIT_2: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_e002);
const CHILD_1: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_f001);
const CHILD_2: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_f002);

const DRAFTED_AT: &str = "2026-03-10T14:00:00Z";
const ISSUED_AT: &str = "2026-03-12T09:00:00Z";
const LATER: &str = "2026-03-20T10:00:00Z";
/// What the database wrote into the stored `InvoiceIssued`.
const NUMBER: &str = "INV-2026-000042";

// ---------------------------------------------------------------- helpers

fn ts(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339 timestamp")
        .to_utc()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").expect("valid tenant id")
}

fn invoice() -> TestFramework<Invoice> {
    TestFramework::with(())
}

fn command(at: &str, action: InvoiceAction) -> InvoiceCommand {
    InvoiceCommand {
        at: ts(at),
        actor: ACTOR,
        action,
    }
}

fn run(history: &[InvoiceEvent], cmd: InvoiceCommand) -> Result<Vec<InvoiceEvent>, InvoiceError> {
    invoice().given(history.to_vec()).when(cmd).inspect_result()
}

fn state_after(events: Vec<InvoiceEvent>) -> Invoice {
    let mut invoice = Invoice::default();
    for event in events {
        invoice.apply(event);
    }
    invoice
}

fn invalid(field: &str, message: &str) -> InvoiceError {
    InvoiceError::Invalid(ValidationErrors::single(field, message))
}

fn rejected_fields(result: Result<Vec<InvoiceEvent>, InvoiceError>) -> Vec<String> {
    match result {
        Err(InvoiceError::Invalid(errors)) => errors.fields().map(str::to_owned).collect(),
        other => panic!("expected InvoiceError::Invalid, got {other:?}"),
    }
}

fn rule(error: &InvoiceError) -> &'static str {
    match error.kind() {
        ErrorKind::Conflict { rule } => rule,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn movers_input() -> ItemInput {
    ItemInput {
        item_id: Some(ITEM_A),
        description: "Two movers and a truck".into(),
        quantity: dec!(3),
        unit_price: dec!(100),
        category: QuoteItemCategory::MovingServices,
        subcategory: None,
        optional: false,
        sort_order: None,
        notes: None,
    }
}

fn boxes_input() -> ItemInput {
    ItemInput {
        item_id: Some(ITEM_B),
        description: "Boxes".into(),
        quantity: dec!(10),
        unit_price: dec!(2.5),
        category: QuoteItemCategory::PackingServices,
        subcategory: None,
        optional: false,
        sort_order: None,
        notes: None,
    }
}

/// 3 × 100.00, as priced.
fn movers() -> LineItem {
    LineItem {
        item_id: ITEM_A,
        description: "Two movers and a truck".into(),
        quantity: dec!(3),
        unit_price: dec!(100.00),
        line_total: dec!(300.00),
        category: QuoteItemCategory::MovingServices,
        subcategory: None,
        optional: false,
        sort_order: 0,
        notes: None,
    }
}

/// 10 × 2.50, as priced (second in the list).
fn boxes() -> LineItem {
    LineItem {
        item_id: ITEM_B,
        description: "Boxes".into(),
        quantity: dec!(10),
        unit_price: dec!(2.50),
        line_total: dec!(25.00),
        category: QuoteItemCategory::PackingServices,
        subcategory: None,
        optional: false,
        sort_order: 1,
        notes: None,
    }
}

/// Ontario HST 13 % on `subtotal`.
fn ontario(subtotal: Decimal, tax: Decimal, on: NaiveDate) -> Totals {
    Totals {
        subtotal,
        tax_lines: vec![TaxLine {
            code: TaxCode::Hst,
            rate: dec!(0.13),
            taxable: subtotal,
            amount: tax,
        }],
        tax_total: tax,
        total: subtotal + tax,
        tax_date: Some(on),
    }
}

/// 300.00 + 39.00 HST = 339.00.
fn movers_totals(on: NaiveDate) -> Totals {
    ontario(dec!(300.00), dec!(39.00), on)
}

fn draft_invoice() -> DraftInvoice {
    DraftInvoice {
        invoice_id: INVOICE_ID,
        tenant_id: tenant(),
        customer_id: CUSTOMER_ID,
        lead_id: Some(LEAD_ID),
        location_id: Some("montreal-east".into()),
        sales_rep: Some(REP),
        currency: None,
        province: Province::On,
        tax_exempt: false,
        payment_terms_days: 30,
        terms: None,
        notes: None,
        journey_id: None,
        items: vec![movers_input()],
        recurring: None,
        recurring_origin: None,
    }
}

fn terms() -> InvoiceTerms {
    InvoiceTerms {
        currency: "CAD".into(),
        province: Province::On,
        tax_exempt: false,
        payment_terms_days: 30,
        terms: None,
        notes: None,
        journey_id: None,
        items: vec![movers()],
        recurring: None,
        totals: movers_totals(date(2026, 3, 10)),
    }
}

/// What `draft_invoice()` at `DRAFTED_AT` by `ACTOR` records, spelled out.
fn invoice_drafted() -> InvoiceDrafted {
    InvoiceDrafted {
        tenant_id: tenant(),
        invoice_id: INVOICE_ID,
        customer_id: CUSTOMER_ID,
        quote_id: None,
        quote_revision: None,
        lead_id: Some(LEAD_ID),
        location_id: Some("montreal-east".into()),
        sales_rep: Some(REP),
        deposits: vec![],
        recurring_origin: None,
        draft: terms(),
        created_by: ACTOR,
        created_at: ts(DRAFTED_AT),
    }
}

fn monthly_from(start: NaiveDate, end: Option<NaiveDate>) -> RecurringSchedule {
    RecurringSchedule {
        interval: RecurringInterval::Monthly,
        start_date: start,
        end_date: end,
    }
}

fn payment_input(id: Uuid, amount: Decimal) -> PaymentInput {
    PaymentInput {
        payment_id: id,
        amount,
        method: PaymentMethod::CreditCard,
        transaction_id: None,
        gateway: None,
        gateway_data: None,
        processing_fee: None,
        receipt_url: None,
        notes: None,
        received_at: None,
    }
}

fn payment_details(id: Uuid, amount: Decimal, at: &str) -> PaymentDetails {
    PaymentDetails {
        payment_id: id,
        amount,
        method: PaymentMethod::CreditCard,
        transaction_id: None,
        gateway: None,
        gateway_data: None,
        processing_fee: None,
        receipt_url: None,
        notes: None,
        received_at: ts(at),
        recorded_by: ACTOR,
    }
}

/// The stored `InvoiceIssued` (the database has written the number).
fn invoice_issued() -> InvoiceIssued {
    InvoiceIssued {
        invoice_number: NUMBER.into(),
        sequence: 42,
        issued_by: ACTOR,
        issued_at: ts(ISSUED_AT),
        due_date: date(2026, 4, 11),
        totals: movers_totals(date(2026, 3, 12)),
        paid_by_deposits: dec!(0.00),
        balance_after: dec!(339.00),
    }
}

fn given_draft() -> Vec<InvoiceEvent> {
    vec![invoice_drafted().into()]
}

fn given_issued() -> Vec<InvoiceEvent> {
    vec![invoice_drafted().into(), invoice_issued().into()]
}

fn paid(id: Uuid, amount: Decimal, balance_after: Decimal) -> InvoiceEvent {
    PaymentRecorded {
        payment: payment_details(id, amount, LATER),
        balance_after,
    }
    .into()
}

fn refunded(
    refund_id: Uuid,
    payment_id: Uuid,
    amount: Decimal,
    balance_after: Decimal,
) -> InvoiceEvent {
    PaymentRefunded {
        refund_id,
        payment_id,
        amount,
        reason: "Damaged couch".into(),
        refunded_by: ACTOR,
        refunded_at: ts(LATER),
        balance_after,
    }
    .into()
}

fn voided() -> InvoiceEvent {
    InvoiceVoided {
        reason: "Issued by mistake".into(),
        voided_by: ACTOR,
        voided_at: ts(LATER),
    }
    .into()
}

fn given_issued_with(events: Vec<InvoiceEvent>) -> Vec<InvoiceEvent> {
    let mut history = given_issued();
    history.extend(events);
    history
}

/// Issued, monthly from Mar 12, 2026 (optionally until `end`).
fn given_recurring(end: Option<NaiveDate>) -> Vec<InvoiceEvent> {
    let drafted = InvoiceDrafted {
        draft: InvoiceTerms {
            recurring: Some(monthly_from(date(2026, 3, 12), end)),
            ..terms()
        },
        ..invoice_drafted()
    };
    vec![drafted.into(), invoice_issued().into()]
}

fn generated(cycle: u32, child: Uuid, on: NaiveDate, next: Option<NaiveDate>) -> InvoiceEvent {
    RecurringInvoiceGenerated {
        cycle,
        invoice_id: child,
        cycle_date: on,
        next_cycle_date: next,
    }
    .into()
}

fn accepted_quote() -> AcceptedQuote {
    AcceptedQuote {
        invoice_id: INVOICE_ID,
        tenant_id: tenant(),
        quote_id: QUOTE_ID,
        quote_revision: 2,
        customer_id: CUSTOMER_ID,
        lead_id: Some(LEAD_ID),
        location_id: None,
        sales_rep: Some(REP),
        currency: "CAD".into(),
        province: Province::On,
        tax_exempt: false,
        payment_terms_days: 15,
        terms: Some("Net 15".into()),
        notes: None,
        journey_id: Some(JOURNEY_ID),
        items: vec![
            movers(),
            LineItem {
                optional: true,
                ..boxes()
            },
        ],
        deposits: vec![payment_details(
            DEPOSIT_1,
            dec!(100),
            "2026-03-01T12:00:00Z",
        )],
    }
}

/// What `accepted_quote()` at `DRAFTED_AT` records.
fn drafted_from_quote() -> InvoiceDrafted {
    InvoiceDrafted {
        quote_id: Some(QUOTE_ID),
        quote_revision: Some(2),
        location_id: None,
        deposits: vec![payment_details(
            DEPOSIT_1,
            dec!(100.00),
            "2026-03-01T12:00:00Z",
        )],
        draft: InvoiceTerms {
            payment_terms_days: 15,
            terms: Some("Net 15".into()),
            journey_id: Some(JOURNEY_ID),
            items: vec![movers(), boxes()],
            totals: ontario(dec!(325.00), dec!(42.25), date(2026, 3, 10)),
            ..terms()
        },
        ..invoice_drafted()
    }
}

// ---------------------------------------------------------------- Draft

#[test]
fn drafting_an_invoice_records_its_terms_items_and_a_tax_preview_at_the_draft_date() {
    invoice()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, InvoiceAction::Draft(draft_invoice())))
        .then_expect_events(vec![invoice_drafted().into()]);
    let state = state_after(given_draft());
    assert_eq!(state.status(), InvoiceStatus::Draft);
    assert_eq!(state.tenant(), Some(&tenant()));
    assert_eq!(state.created_by, Some(ACTOR));
    assert_eq!(state.customer_id, Some(CUSTOMER_ID));
    assert_eq!(state.sales_rep, Some(REP));
    assert_eq!(state.location_id.as_deref(), Some("montreal-east"));
    assert_eq!(state.terms(), Some(&terms()));
    assert_eq!(state.invoice_number, None);
    assert_eq!(state.balance(), dec!(339.00));
}

#[test]
fn drafting_keeps_every_given_detail_trims_text_and_prices_every_item() {
    let cmd = DraftInvoice {
        currency: Some("USD".into()),
        province: Province::Qc,
        payment_terms_days: 0,
        terms: Some("  Due on receipt ".into()),
        notes: Some(" Call first ".into()),
        journey_id: Some(JOURNEY_ID),
        items: vec![movers_input(), boxes_input()],
        ..draft_invoice()
    };
    // QC: GST 5 % and QST 9.975 %, each rounded half-up on 325.00.
    let totals = Totals {
        subtotal: dec!(325.00),
        tax_lines: vec![
            TaxLine {
                code: TaxCode::Gst,
                rate: dec!(0.05),
                taxable: dec!(325.00),
                amount: dec!(16.25),
            },
            TaxLine {
                code: TaxCode::Qst,
                rate: dec!(0.09975),
                taxable: dec!(325.00),
                amount: dec!(32.42),
            },
        ],
        tax_total: dec!(48.67),
        total: dec!(373.67),
        tax_date: Some(date(2026, 3, 10)),
    };
    invoice()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, InvoiceAction::Draft(cmd)))
        .then_expect_events(vec![
            InvoiceDrafted {
                draft: InvoiceTerms {
                    currency: "USD".into(),
                    province: Province::Qc,
                    payment_terms_days: 0,
                    terms: Some("Due on receipt".into()),
                    notes: Some("Call first".into()),
                    journey_id: Some(JOURNEY_ID),
                    items: vec![movers(), boxes()],
                    totals,
                    ..terms()
                },
                ..invoice_drafted()
            }
            .into(),
        ]);
}

#[test]
fn a_tax_exempt_draft_has_no_tax_lines() {
    let events = run(
        &[],
        command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                tax_exempt: true,
                ..draft_invoice()
            }),
        ),
    )
    .unwrap();
    let InvoiceEvent::InvoiceDrafted(drafted) = &events[0] else {
        panic!("expected InvoiceDrafted, got {events:?}");
    };
    assert!(drafted.draft.tax_exempt);
    assert_eq!(
        drafted.draft.totals,
        Totals {
            subtotal: dec!(300.00),
            tax_lines: vec![],
            tax_total: dec!(0.00),
            total: dec!(300.00),
            tax_date: Some(date(2026, 3, 10)),
        }
    );
}

#[test]
fn drafting_a_recurring_invoice_keeps_its_schedule() {
    let schedule = monthly_from(date(2026, 4, 1), Some(date(2026, 12, 31)));
    invoice()
        .given_no_previous_events()
        .when(command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                recurring: Some(schedule.clone()),
                ..draft_invoice()
            }),
        ))
        .then_expect_events(vec![
            InvoiceDrafted {
                draft: InvoiceTerms {
                    recurring: Some(schedule),
                    ..terms()
                },
                ..invoice_drafted()
            }
            .into(),
        ]);
    // A draft's schedule has not started.
    let state = state_after(vec![
        InvoiceDrafted {
            draft: InvoiceTerms {
                recurring: Some(monthly_from(date(2026, 4, 1), None)),
                ..terms()
            },
            ..invoice_drafted()
        }
        .into(),
    ]);
    assert!(!state.is_recurring_active());
    assert_eq!(state.next_cycle_date(), None);
}

#[test]
fn an_invoice_generated_by_a_schedule_records_its_origin() {
    let origin = RecurringOrigin {
        invoice_id: CHILD_1,
        cycle: 3,
    };
    invoice()
        .given_no_previous_events()
        .when(command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                recurring_origin: Some(origin.clone()),
                ..draft_invoice()
            }),
        ))
        .then_expect_events(vec![
            InvoiceDrafted {
                recurring_origin: Some(origin),
                ..invoice_drafted()
            }
            .into(),
        ]);
}

#[test]
fn drafting_an_invoice_that_exists_is_rejected() {
    invoice()
        .given(given_draft())
        .when(command(DRAFTED_AT, InvoiceAction::Draft(draft_invoice())))
        .then_expect_error(InvoiceError::AlreadyExists(INVOICE_ID));
    invoice()
        .given(given_draft())
        .when(command(
            DRAFTED_AT,
            InvoiceAction::DraftFromQuote(accepted_quote()),
        ))
        .then_expect_error(InvoiceError::AlreadyExists(INVOICE_ID));
    assert_eq!(
        rule(&InvoiceError::AlreadyExists(INVOICE_ID)),
        "invoice.already-exists"
    );
}

#[test]
fn drafting_without_items_is_rejected() {
    invoice()
        .given_no_previous_events()
        .when(command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                items: vec![],
                ..draft_invoice()
            }),
        ))
        .then_expect_error(invalid("items", "must have at least one item"));
}

#[test]
fn drafting_with_an_optional_item_is_rejected() {
    invoice()
        .given_no_previous_events()
        .when(command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                items: vec![ItemInput {
                    optional: true,
                    ..movers_input()
                }],
                ..draft_invoice()
            }),
        ))
        .then_expect_error(invalid(
            "items[0].optional",
            "an invoice has no optional items",
        ));
}

#[test]
fn drafting_with_payment_terms_over_a_year_is_rejected() {
    invoice()
        .given_no_previous_events()
        .when(command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                payment_terms_days: 366,
                ..draft_invoice()
            }),
        ))
        .then_expect_error(invalid(
            "payment_terms_days",
            "must be between 0 and 365 days",
        ));
}

#[test]
fn drafting_a_schedule_that_ends_on_or_before_its_start_is_rejected() {
    for end in [date(2026, 4, 1), date(2026, 3, 1)] {
        invoice()
            .given_no_previous_events()
            .when(command(
                DRAFTED_AT,
                InvoiceAction::Draft(DraftInvoice {
                    recurring: Some(monthly_from(date(2026, 4, 1), Some(end))),
                    ..draft_invoice()
                }),
            ))
            .then_expect_error(invalid(
                "recurring.end_date",
                "must be after the start date",
            ));
    }
}

#[test]
fn a_generated_invoice_cannot_have_a_schedule_of_its_own_nor_be_cycle_one() {
    let result = run(
        &[],
        command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                recurring: Some(monthly_from(date(2026, 4, 1), None)),
                recurring_origin: Some(RecurringOrigin {
                    invoice_id: CHILD_1,
                    cycle: 1,
                }),
                ..draft_invoice()
            }),
        ),
    );
    assert_eq!(
        rejected_fields(result),
        ["recurring_origin.cycle", "recurring"]
    );
}

#[test]
fn drafting_reports_every_invalid_field_at_once() {
    let result = run(
        &[],
        command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                currency: Some("usd".into()),
                location_id: Some("not a location!".into()),
                payment_terms_days: 400,
                terms: Some("x".repeat(10_001)),
                items: vec![ItemInput {
                    quantity: dec!(0),
                    unit_price: dec!(1.001),
                    ..movers_input()
                }],
                ..draft_invoice()
            }),
        ),
    );
    assert_eq!(
        rejected_fields(result),
        [
            "location_id",
            "items[0].quantity",
            "items[0].unit_price",
            "currency",
            "payment_terms_days",
            "terms"
        ]
    );
}

// ---------------------------------------------------------------- DraftFromQuote

#[test]
fn drafting_from_an_accepted_quote_copies_its_items_as_required_and_its_deposits() {
    invoice()
        .given_no_previous_events()
        .when(command(
            DRAFTED_AT,
            InvoiceAction::DraftFromQuote(accepted_quote()),
        ))
        .then_expect_events(vec![drafted_from_quote().into()]);
    let state = state_after(vec![drafted_from_quote().into()]);
    assert_eq!(state.quote_id, Some(QUOTE_ID));
    assert_eq!(state.net_paid(), dec!(100.00));
    assert_eq!(state.balance(), dec!(267.25));
    assert_eq!(
        state.payment(DEPOSIT_1).map(|p| p.amount),
        Some(dec!(100.00))
    );
    assert_eq!(state.remaining_of_payment(DEPOSIT_1), Some(dec!(100.00)));
    assert_eq!(state.status(), InvoiceStatus::Draft);
}

#[test]
fn drafting_from_a_quote_without_items_or_with_bad_deposits_is_rejected() {
    let mut quote = accepted_quote();
    quote.items = vec![];
    quote.deposits = vec![
        payment_details(DEPOSIT_1, dec!(10), DRAFTED_AT),
        payment_details(DEPOSIT_1, dec!(0), DRAFTED_AT),
    ];
    quote.currency = "dollars".into();
    let result = run(
        &[],
        command(DRAFTED_AT, InvoiceAction::DraftFromQuote(quote)),
    );
    assert_eq!(
        rejected_fields(result),
        [
            "items",
            "deposits[1].payment_id",
            "deposits[1].amount",
            "currency"
        ]
    );
    let mut quote = accepted_quote();
    quote.items = vec![movers(), movers()];
    invoice()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, InvoiceAction::DraftFromQuote(quote)))
        .then_expect_error(invalid("items[1].item_id", "appears twice"));
}

// ---------------------------------------------------------------- Update

#[test]
fn updating_a_draft_records_the_complete_terms_and_what_changed() {
    let update = UpdateInvoice {
        payment_terms_days: Some(14),
        notes: Patch::Set("Elevator booked".into()),
        journey_id: Patch::Set(JOURNEY_ID),
        items: Some(vec![movers_input(), boxes_input()]),
        ..UpdateInvoice::default()
    };
    invoice()
        .given(given_draft())
        .when(command(LATER, InvoiceAction::Update(update)))
        .then_expect_events(vec![
            InvoiceDraftUpdated {
                draft: InvoiceTerms {
                    payment_terms_days: 14,
                    notes: Some("Elevator booked".into()),
                    journey_id: Some(JOURNEY_ID),
                    items: vec![movers(), boxes()],
                    totals: ontario(dec!(325.00), dec!(42.25), date(2026, 3, 20)),
                    ..terms()
                },
                changed_fields: vec![
                    "payment_terms_days".into(),
                    "notes".into(),
                    "journey_id".into(),
                    "items".into(),
                ],
            }
            .into(),
        ]);
}

#[test]
fn updating_a_draft_can_clear_fields_and_change_province_currency_exemption_and_schedule() {
    let history = vec![
        InvoiceDrafted {
            draft: InvoiceTerms {
                terms: Some("Net 30".into()),
                ..terms()
            },
            ..invoice_drafted()
        }
        .into(),
    ];
    let schedule = monthly_from(date(2026, 4, 1), None);
    let update = UpdateInvoice {
        currency: Some("USD".into()),
        province: Some(Province::Ab),
        tax_exempt: Some(true),
        terms: Patch::Clear,
        recurring: Patch::Set(schedule.clone()),
        ..UpdateInvoice::default()
    };
    invoice()
        .given(history)
        .when(command(LATER, InvoiceAction::Update(update)))
        .then_expect_events(vec![
            InvoiceDraftUpdated {
                draft: InvoiceTerms {
                    currency: "USD".into(),
                    province: Province::Ab,
                    tax_exempt: true,
                    terms: None,
                    recurring: Some(schedule),
                    totals: Totals {
                        subtotal: dec!(300.00),
                        tax_lines: vec![],
                        tax_total: dec!(0.00),
                        total: dec!(300.00),
                        tax_date: Some(date(2026, 3, 20)),
                    },
                    ..terms()
                },
                changed_fields: vec![
                    "currency".into(),
                    "province".into(),
                    "tax_exempt".into(),
                    "terms".into(),
                    "recurring".into(),
                ],
            }
            .into(),
        ]);
}

#[test]
fn updating_a_draft_to_what_it_already_is_records_nothing() {
    let update = UpdateInvoice {
        currency: Some("CAD".into()),
        province: Some(Province::On),
        payment_terms_days: Some(30),
        notes: Patch::Clear,
        items: Some(vec![movers_input()]),
        ..UpdateInvoice::default()
    };
    invoice()
        .given(given_draft())
        .when(command(LATER, InvoiceAction::Update(update)))
        .then_expect_events(vec![]);
    invoice()
        .given(given_draft())
        .when(command(
            LATER,
            InvoiceAction::Update(UpdateInvoice::default()),
        ))
        .then_expect_events(vec![]);
}

#[test]
fn updating_an_issued_invoice_is_rejected_as_locked_naming_its_status() {
    let result = run(
        &given_issued(),
        command(
            LATER,
            InvoiceAction::Update(UpdateInvoice {
                notes: Patch::Set("late".into()),
                ..UpdateInvoice::default()
            }),
        ),
    );
    let error = result.unwrap_err();
    assert_eq!(error, InvoiceError::Locked(InvoiceStatus::Sent));
    assert_eq!(rule(&error), "invoice.locked");
    assert!(error.to_string().contains("SENT"), "{error}");
    invoice()
        .given(given_issued_with(vec![voided()]))
        .when(command(
            LATER,
            InvoiceAction::Update(UpdateInvoice::default()),
        ))
        .then_expect_error(InvoiceError::Locked(InvoiceStatus::Cancelled));
}

#[test]
fn updating_a_draft_with_invalid_values_is_rejected() {
    let update = UpdateInvoice {
        payment_terms_days: Some(1000),
        items: Some(vec![]),
        recurring: Patch::Set(monthly_from(date(2026, 4, 1), Some(date(2026, 4, 1)))),
        ..UpdateInvoice::default()
    };
    let result = run(
        &given_draft(),
        command(LATER, InvoiceAction::Update(update)),
    );
    assert_eq!(
        rejected_fields(result),
        ["items", "payment_terms_days", "recurring.end_date"]
    );
}

#[test]
fn a_generated_invoice_cannot_be_given_a_schedule_by_an_update() {
    let history = vec![
        InvoiceDrafted {
            recurring_origin: Some(RecurringOrigin {
                invoice_id: CHILD_1,
                cycle: 2,
            }),
            ..invoice_drafted()
        }
        .into(),
    ];
    invoice()
        .given(history)
        .when(command(
            LATER,
            InvoiceAction::Update(UpdateInvoice {
                recurring: Patch::Set(monthly_from(date(2026, 4, 1), None)),
                ..UpdateInvoice::default()
            }),
        ))
        .then_expect_error(invalid(
            "recurring",
            "an invoice generated by a recurring schedule cannot have its own",
        ));
}

// ---------------------------------------------------------------- Issue

#[test]
fn issuing_a_draft_snapshots_taxes_at_the_issue_date_and_leaves_numbering_to_the_database() {
    invoice()
        .given(given_draft())
        .when(command(ISSUED_AT, InvoiceAction::Issue { tax_date: None }))
        .then_expect_events(vec![
            InvoiceIssued {
                invoice_number: String::new(),
                sequence: 0,
                ..invoice_issued()
            }
            .into(),
        ]);
}

#[test]
fn the_issued_invoice_keeps_the_number_the_database_wrote() {
    let state = state_after(given_issued());
    assert_eq!(state.invoice_number.as_deref(), Some(NUMBER));
    assert_eq!(state.sequence, Some(42));
    assert_eq!(state.due_date, Some(date(2026, 4, 11)));
    assert_eq!(state.status(), InvoiceStatus::Sent);
    assert_eq!(
        state.amounts(),
        InvoiceAmounts {
            total: dec!(339.00),
            net_paid: dec!(0.00),
            credited: dec!(0.00),
            balance: dec!(339.00),
        }
    );
}

#[test]
fn issuing_with_a_tax_date_uses_the_rates_of_that_date() {
    // Nova Scotia's HST went from 15 % to 14 % on April 1, 2025.
    let history = vec![
        InvoiceDrafted {
            draft: InvoiceTerms {
                province: Province::Ns,
                payment_terms_days: 0,
                totals: Totals::default(),
                ..terms()
            },
            ..invoice_drafted()
        }
        .into(),
    ];
    let events = run(
        &history,
        command(
            "2025-04-02T12:00:00Z",
            InvoiceAction::Issue {
                tax_date: Some(date(2025, 3, 31)),
            },
        ),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![InvoiceEvent::from(InvoiceIssued {
            invoice_number: String::new(),
            sequence: 0,
            issued_by: ACTOR,
            issued_at: ts("2025-04-02T12:00:00Z"),
            due_date: date(2025, 4, 2),
            totals: Totals {
                subtotal: dec!(300.00),
                tax_lines: vec![TaxLine {
                    code: TaxCode::Hst,
                    rate: dec!(0.15),
                    taxable: dec!(300.00),
                    amount: dec!(45.00),
                }],
                tax_total: dec!(45.00),
                total: dec!(345.00),
                tax_date: Some(date(2025, 3, 31)),
            },
            paid_by_deposits: dec!(0.00),
            balance_after: dec!(345.00),
        })]
    );
}

#[test]
fn issuing_applies_the_deposits_taken_on_the_quote() {
    invoice()
        .given(vec![drafted_from_quote().into()])
        .when(command(ISSUED_AT, InvoiceAction::Issue { tax_date: None }))
        .then_expect_events(vec![
            InvoiceIssued {
                invoice_number: String::new(),
                sequence: 0,
                issued_by: ACTOR,
                issued_at: ts(ISSUED_AT),
                due_date: date(2026, 3, 27),
                totals: ontario(dec!(325.00), dec!(42.25), date(2026, 3, 12)),
                paid_by_deposits: dec!(100.00),
                balance_after: dec!(267.25),
            }
            .into(),
        ]);
    let mut history = vec![drafted_from_quote().into()];
    history.push(
        InvoiceIssued {
            totals: ontario(dec!(325.00), dec!(42.25), date(2026, 3, 12)),
            paid_by_deposits: dec!(100.00),
            balance_after: dec!(267.25),
            ..invoice_issued()
        }
        .into(),
    );
    let state = state_after(history);
    assert_eq!(state.status(), InvoiceStatus::PartialPaid);
    assert_eq!(state.balance(), dec!(267.25));
}

#[test]
fn issuing_with_deposits_above_the_total_is_rejected_naming_both() {
    let quote_drafted = InvoiceDrafted {
        deposits: vec![payment_details(DEPOSIT_1, dec!(400.00), DRAFTED_AT)],
        draft: terms(),
        ..drafted_from_quote()
    };
    let error = run(
        &[quote_drafted.into()],
        command(ISSUED_AT, InvoiceAction::Issue { tax_date: None }),
    )
    .unwrap_err();
    assert_eq!(
        error,
        InvoiceError::DepositsExceedTotal {
            deposits: dec!(400.00),
            total: dec!(339.00),
        }
    );
    assert_eq!(rule(&error), "invoice.deposits-exceed-total");
    assert_eq!(
        error.to_string(),
        "deposits of 400.00 exceed the invoice total of 339.00"
    );
}

#[test]
fn a_deposit_refunded_on_the_draft_no_longer_counts_on_issue() {
    let quote_drafted = InvoiceDrafted {
        deposits: vec![payment_details(DEPOSIT_1, dec!(400.00), DRAFTED_AT)],
        draft: terms(),
        ..drafted_from_quote()
    };
    let history = vec![
        quote_drafted.into(),
        refunded(REFUND_1, DEPOSIT_1, dec!(100.00), dec!(39.00)),
    ];
    invoice()
        .given(history)
        .when(command(ISSUED_AT, InvoiceAction::Issue { tax_date: None }))
        .then_expect_events(vec![
            InvoiceIssued {
                invoice_number: String::new(),
                sequence: 0,
                paid_by_deposits: dec!(300.00),
                balance_after: dec!(39.00),
                ..invoice_issued()
            }
            .into(),
        ]);
}

#[test]
fn issuing_twice_is_rejected_as_locked() {
    invoice()
        .given(given_issued())
        .when(command(LATER, InvoiceAction::Issue { tax_date: None }))
        .then_expect_error(InvoiceError::Locked(InvoiceStatus::Sent));
}

#[test]
fn issuing_with_a_tax_date_before_the_rate_table_is_invalid() {
    invoice()
        .given(given_draft())
        .when(command(
            ISSUED_AT,
            InvoiceAction::Issue {
                tax_date: Some(date(2019, 6, 30)),
            },
        ))
        .then_expect_error(invalid(
            "tax_date",
            "no tax rates are known before 2019-07-01",
        ));
}

// ---------------------------------------------------------------- Void

#[test]
fn voiding_an_issued_invoice_without_payments_cancels_it() {
    invoice()
        .given(given_issued())
        .when(command(
            LATER,
            InvoiceAction::Void {
                reason: " Issued by mistake ".into(),
            },
        ))
        .then_expect_events(vec![voided()]);
    let state = state_after(given_issued_with(vec![voided()]));
    assert_eq!(state.status(), InvoiceStatus::Cancelled);
}

#[test]
fn voiding_a_draft_is_rejected_because_it_was_never_issued() {
    invoice()
        .given(given_draft())
        .when(command(
            LATER,
            InvoiceAction::Void {
                reason: "mistake".into(),
            },
        ))
        .then_expect_error(InvoiceError::NotIssued);
    assert_eq!(rule(&InvoiceError::NotIssued), "invoice.not-issued");
}

#[test]
fn voiding_an_invoice_with_payments_is_rejected_naming_the_net_paid() {
    let history = given_issued_with(vec![
        paid(PAYMENT_1, dec!(100.00), dec!(239.00)),
        refunded(REFUND_1, PAYMENT_1, dec!(40.00), dec!(279.00)),
    ]);
    let error = run(
        &history,
        command(
            LATER,
            InvoiceAction::Void {
                reason: "mistake".into(),
            },
        ),
    )
    .unwrap_err();
    assert_eq!(
        error,
        InvoiceError::HasPayments {
            net_paid: dec!(60.00)
        }
    );
    assert_eq!(rule(&error), "invoice.has-payments");
    assert!(error.to_string().contains("60.00"), "{error}");
}

#[test]
fn voiding_after_every_payment_was_refunded_is_allowed() {
    let history = given_issued_with(vec![
        paid(PAYMENT_1, dec!(100.00), dec!(239.00)),
        refunded(REFUND_1, PAYMENT_1, dec!(100.00), dec!(339.00)),
    ]);
    invoice()
        .given(history)
        .when(command(
            LATER,
            InvoiceAction::Void {
                reason: "Issued by mistake".into(),
            },
        ))
        .then_expect_events(vec![voided()]);
}

#[test]
fn voiding_twice_or_without_a_reason_is_rejected() {
    invoice()
        .given(given_issued_with(vec![voided()]))
        .when(command(
            LATER,
            InvoiceAction::Void {
                reason: "again".into(),
            },
        ))
        .then_expect_error(InvoiceError::Voided);
    assert_eq!(rule(&InvoiceError::Voided), "invoice.voided");
    invoice()
        .given(given_issued())
        .when(command(
            LATER,
            InvoiceAction::Void {
                reason: "  ".into(),
            },
        ))
        .then_expect_error(invalid("reason", "must not be empty"));
}

// ---------------------------------------------------------------- RecordPayment

#[test]
fn recording_a_payment_lowers_the_balance_and_makes_the_invoice_partly_paid() {
    invoice()
        .given(given_issued())
        .when(command(
            LATER,
            InvoiceAction::RecordPayment(payment_input(PAYMENT_1, dec!(100))),
        ))
        .then_expect_events(vec![paid(PAYMENT_1, dec!(100.00), dec!(239.00))]);
    let state = state_after(given_issued_with(vec![paid(
        PAYMENT_1,
        dec!(100.00),
        dec!(239.00),
    )]));
    assert_eq!(state.status(), InvoiceStatus::PartialPaid);
    assert_eq!(state.balance(), dec!(239.00));
    assert_eq!(
        state.payment(PAYMENT_1),
        Some(&payment_details(PAYMENT_1, dec!(100.00), LATER))
    );
}

#[test]
fn paying_the_whole_balance_makes_the_invoice_paid() {
    invoice()
        .given(given_issued_with(vec![paid(
            PAYMENT_1,
            dec!(100.00),
            dec!(239.00),
        )]))
        .when(command(
            LATER,
            InvoiceAction::RecordPayment(payment_input(PAYMENT_2, dec!(239.00))),
        ))
        .then_expect_events(vec![paid(PAYMENT_2, dec!(239.00), dec!(0.00))]);
    let state = state_after(given_issued_with(vec![
        paid(PAYMENT_1, dec!(100.00), dec!(239.00)),
        paid(PAYMENT_2, dec!(239.00), dec!(0.00)),
    ]));
    assert_eq!(state.status(), InvoiceStatus::Paid);
    assert_eq!(state.balance(), dec!(0.00));
}

#[test]
fn a_payment_above_the_balance_is_rejected_naming_the_balance() {
    let error = run(
        &given_issued(),
        command(
            LATER,
            InvoiceAction::RecordPayment(payment_input(PAYMENT_1, dec!(500))),
        ),
    )
    .unwrap_err();
    assert_eq!(
        error,
        InvoiceError::Overpayment {
            amount: dec!(500.00),
            balance: dec!(339.00),
        }
    );
    assert_eq!(rule(&error), "invoice.overpayment");
    assert_eq!(
        error.to_string(),
        "payment of 500.00 exceeds the balance of 339.00"
    );
}

#[test]
fn a_payment_id_used_before_on_the_invoice_is_rejected() {
    invoice()
        .given(given_issued_with(vec![paid(
            PAYMENT_1,
            dec!(100.00),
            dec!(239.00),
        )]))
        .when(command(
            LATER,
            InvoiceAction::RecordPayment(payment_input(PAYMENT_1, dec!(10))),
        ))
        .then_expect_error(InvoiceError::DuplicatePayment(PAYMENT_1));
    assert_eq!(
        rule(&InvoiceError::DuplicatePayment(PAYMENT_1)),
        "invoice.duplicate-payment"
    );
    // A deposit's id counts too.
    let history = vec![
        drafted_from_quote().into(),
        InvoiceIssued {
            totals: ontario(dec!(325.00), dec!(42.25), date(2026, 3, 12)),
            paid_by_deposits: dec!(100.00),
            balance_after: dec!(267.25),
            ..invoice_issued()
        }
        .into(),
    ];
    invoice()
        .given(history)
        .when(command(
            LATER,
            InvoiceAction::RecordPayment(payment_input(DEPOSIT_1, dec!(10))),
        ))
        .then_expect_error(InvoiceError::DuplicatePayment(DEPOSIT_1));
}

#[test]
fn payments_are_only_taken_on_issued_invoices_that_are_not_voided() {
    let pay = || InvoiceAction::RecordPayment(payment_input(PAYMENT_1, dec!(10)));
    invoice()
        .given(given_draft())
        .when(command(LATER, pay()))
        .then_expect_error(InvoiceError::NotIssued);
    invoice()
        .given(given_issued_with(vec![voided()]))
        .when(command(LATER, pay()))
        .then_expect_error(InvoiceError::Voided);
}

#[test]
fn an_invalid_payment_is_rejected_naming_its_fields() {
    let input = PaymentInput {
        amount: dec!(0),
        processing_fee: Some(dec!(-1)),
        receipt_url: Some("ftp://example.com".into()),
        received_at: Some(ts("2026-03-21T10:00:00Z")),
        ..payment_input(PAYMENT_1, dec!(0))
    };
    let result = run(
        &given_issued(),
        command(LATER, InvoiceAction::RecordPayment(input)),
    );
    assert_eq!(
        rejected_fields(result),
        ["amount", "processing_fee", "receipt_url", "received_at"]
    );
}

// ---------------------------------------------------------------- Refund

fn refund(refund_id: Uuid, payment_id: Uuid, amount: Decimal) -> InvoiceAction {
    InvoiceAction::Refund {
        refund_id,
        payment_id,
        amount,
        reason: "Damaged couch".into(),
    }
}

#[test]
fn refunding_part_of_a_payment_reopens_the_balance() {
    let history = given_issued_with(vec![paid(PAYMENT_1, dec!(339.00), dec!(0.00))]);
    invoice()
        .given(history.clone())
        .when(command(LATER, refund(REFUND_1, PAYMENT_1, dec!(39))))
        .then_expect_events(vec![refunded(
            REFUND_1,
            PAYMENT_1,
            dec!(39.00),
            dec!(39.00),
        )]);
    let mut after = history;
    after.push(refunded(REFUND_1, PAYMENT_1, dec!(39.00), dec!(39.00)));
    let state = state_after(after);
    assert_eq!(state.status(), InvoiceStatus::PartialPaid);
    assert_eq!(state.remaining_of_payment(PAYMENT_1), Some(dec!(300.00)));
    assert_eq!(state.net_paid(), dec!(300.00));
}

#[test]
fn a_deposit_can_be_refunded_like_any_payment() {
    invoice()
        .given(vec![drafted_from_quote().into()])
        .when(command(LATER, refund(REFUND_1, DEPOSIT_1, dec!(100))))
        .then_expect_events(vec![refunded(
            REFUND_1,
            DEPOSIT_1,
            dec!(100.00),
            dec!(367.25),
        )]);
}

#[test]
fn a_refund_above_what_remains_of_the_payment_is_rejected_naming_the_remainder() {
    let history = given_issued_with(vec![
        paid(PAYMENT_1, dec!(100.00), dec!(239.00)),
        refunded(REFUND_1, PAYMENT_1, dec!(30.00), dec!(269.00)),
    ]);
    let error = run(
        &history,
        command(LATER, refund(REFUND_2, PAYMENT_1, dec!(70.01))),
    )
    .unwrap_err();
    assert_eq!(
        error,
        InvoiceError::RefundExceedsPayment {
            amount: dec!(70.01),
            remaining: dec!(70.00),
        }
    );
    assert_eq!(rule(&error), "invoice.refund-exceeds-payment");
    assert!(error.to_string().contains("70.00"), "{error}");
}

#[test]
fn a_refund_of_an_unknown_payment_or_with_a_used_refund_id_is_rejected() {
    let history = given_issued_with(vec![
        paid(PAYMENT_1, dec!(100.00), dec!(239.00)),
        refunded(REFUND_1, PAYMENT_1, dec!(30.00), dec!(269.00)),
    ]);
    invoice()
        .given(history.clone())
        .when(command(LATER, refund(REFUND_2, PAYMENT_2, dec!(1))))
        .then_expect_error(InvoiceError::UnknownPayment(PAYMENT_2));
    assert_eq!(
        rule(&InvoiceError::UnknownPayment(PAYMENT_2)),
        "invoice.unknown-payment"
    );
    invoice()
        .given(history)
        .when(command(LATER, refund(REFUND_1, PAYMENT_1, dec!(1))))
        .then_expect_error(InvoiceError::DuplicateRefund(REFUND_1));
    assert_eq!(
        rule(&InvoiceError::DuplicateRefund(REFUND_1)),
        "invoice.duplicate-refund"
    );
}

#[test]
fn a_refund_needs_a_positive_amount_and_a_reason() {
    let history = given_issued_with(vec![paid(PAYMENT_1, dec!(100.00), dec!(239.00))]);
    let result = run(
        &history,
        command(
            LATER,
            InvoiceAction::Refund {
                refund_id: REFUND_1,
                payment_id: PAYMENT_1,
                amount: dec!(0),
                reason: String::new(),
            },
        ),
    );
    assert_eq!(rejected_fields(result), ["amount", "reason"]);
}

#[test]
fn nothing_is_refunded_on_a_voided_invoice() {
    let history = given_issued_with(vec![
        paid(PAYMENT_1, dec!(100.00), dec!(239.00)),
        refunded(REFUND_1, PAYMENT_1, dec!(100.00), dec!(339.00)),
        voided(),
    ]);
    invoice()
        .given(history)
        .when(command(LATER, refund(REFUND_2, PAYMENT_1, dec!(1))))
        .then_expect_error(InvoiceError::Voided);
}

// ---------------------------------------------------------------- IssueCreditNote

fn credit(id: Uuid, amount: Decimal) -> InvoiceAction {
    InvoiceAction::IssueCreditNote {
        credit_note_id: id,
        amount,
        reason: "Late arrival".into(),
    }
}

fn credited(
    id: Uuid,
    n: u32,
    amount: Decimal,
    split: (Decimal, Decimal),
    after: Decimal,
) -> InvoiceEvent {
    CreditNoteIssued {
        credit_note_id: id,
        credit_note_number: format!("{NUMBER}-CN{n}"),
        amount,
        subtotal_portion: split.0,
        tax_portion: split.1,
        reason: "Late arrival".into(),
        issued_by: ACTOR,
        issued_at: ts(LATER),
        balance_after: after,
    }
    .into()
}

#[test]
fn a_credit_note_is_numbered_per_invoice_and_split_in_the_invoice_proportion() {
    invoice()
        .given(given_issued())
        .when(command(LATER, credit(CREDIT_1, dec!(113))))
        .then_expect_events(vec![credited(
            CREDIT_1,
            1,
            dec!(113.00),
            (dec!(100.00), dec!(13.00)),
            dec!(226.00),
        )]);
    let first = credited(
        CREDIT_1,
        1,
        dec!(113.00),
        (dec!(100.00), dec!(13.00)),
        dec!(226.00),
    );
    invoice()
        .given(given_issued_with(vec![first.clone()]))
        .when(command(LATER, credit(CREDIT_2, dec!(10))))
        .then_expect_events(vec![credited(
            CREDIT_2,
            2,
            dec!(10.00),
            (dec!(8.85), dec!(1.15)),
            dec!(216.00),
        )]);
    let state = state_after(given_issued_with(vec![first]));
    assert_eq!(state.status(), InvoiceStatus::PartialPaid);
    assert_eq!(state.amounts().credited, dec!(113.00));
}

#[test]
fn a_credit_note_for_the_whole_balance_settles_the_invoice() {
    let note = credited(
        CREDIT_1,
        1,
        dec!(339.00),
        (dec!(300.00), dec!(39.00)),
        dec!(0.00),
    );
    invoice()
        .given(given_issued())
        .when(command(LATER, credit(CREDIT_1, dec!(339))))
        .then_expect_events(vec![note.clone()]);
    assert_eq!(
        state_after(given_issued_with(vec![note])).status(),
        InvoiceStatus::Paid
    );
}

#[test]
fn a_credit_note_above_the_balance_is_rejected_naming_the_balance() {
    let history = given_issued_with(vec![paid(PAYMENT_1, dec!(300.00), dec!(39.00))]);
    let error = run(&history, command(LATER, credit(CREDIT_1, dec!(39.01)))).unwrap_err();
    assert_eq!(
        error,
        InvoiceError::CreditExceedsBalance {
            amount: dec!(39.01),
            balance: dec!(39.00),
        }
    );
    assert_eq!(rule(&error), "invoice.credit-exceeds-balance");
    assert!(error.to_string().contains("balance of 39.00"), "{error}");
}

#[test]
fn credit_notes_need_an_open_issued_invoice_a_new_id_an_amount_and_a_reason() {
    invoice()
        .given(given_draft())
        .when(command(LATER, credit(CREDIT_1, dec!(1))))
        .then_expect_error(InvoiceError::NotIssued);
    invoice()
        .given(given_issued_with(vec![voided()]))
        .when(command(LATER, credit(CREDIT_1, dec!(1))))
        .then_expect_error(InvoiceError::Voided);
    let first = credited(
        CREDIT_1,
        1,
        dec!(113.00),
        (dec!(100.00), dec!(13.00)),
        dec!(226.00),
    );
    invoice()
        .given(given_issued_with(vec![first]))
        .when(command(LATER, credit(CREDIT_1, dec!(1))))
        .then_expect_error(InvoiceError::DuplicateCreditNote(CREDIT_1));
    assert_eq!(
        rule(&InvoiceError::DuplicateCreditNote(CREDIT_1)),
        "invoice.duplicate-credit-note"
    );
    let result = run(
        &given_issued(),
        command(
            LATER,
            InvoiceAction::IssueCreditNote {
                credit_note_id: CREDIT_1,
                amount: dec!(-5),
                reason: " ".into(),
            },
        ),
    );
    assert_eq!(rejected_fields(result), ["amount", "reason"]);
}

// ---------------------------------------------------------------- MarkOverdue

fn mark_overdue(as_of: NaiveDate) -> InvoiceAction {
    InvoiceAction::MarkOverdue { as_of }
}

#[test]
fn an_invoice_past_its_due_date_with_a_balance_is_flagged_overdue() {
    let history = given_issued_with(vec![paid(PAYMENT_1, dec!(100.00), dec!(239.00))]);
    let flagged: InvoiceEvent = InvoiceOverdue {
        due_date: date(2026, 4, 11),
        as_of: date(2026, 4, 12),
        balance: dec!(239.00),
    }
    .into();
    invoice()
        .given(history.clone())
        .when(command(LATER, mark_overdue(date(2026, 4, 12))))
        .then_expect_events(vec![flagged.clone()]);
    let mut after = history;
    after.push(flagged);
    let state = state_after(after.clone());
    assert_eq!(state.status(), InvoiceStatus::Overdue);
    // Paying it off makes it PAID; a refund reopens it as OVERDUE.
    after.push(paid(PAYMENT_2, dec!(239.00), dec!(0.00)));
    assert_eq!(state_after(after.clone()).status(), InvoiceStatus::Paid);
    after.push(refunded(REFUND_1, PAYMENT_2, dec!(9.00), dec!(9.00)));
    assert_eq!(state_after(after).status(), InvoiceStatus::Overdue);
}

#[test]
fn marking_overdue_does_nothing_unless_it_applies() {
    let flagged: InvoiceEvent = InvoiceOverdue {
        due_date: date(2026, 4, 11),
        as_of: date(2026, 4, 12),
        balance: dec!(339.00),
    }
    .into();
    let cases: Vec<(&str, Vec<InvoiceEvent>, NaiveDate)> = vec![
        ("on the due date", given_issued(), date(2026, 4, 11)),
        ("a draft", given_draft(), date(2027, 1, 1)),
        (
            "voided",
            given_issued_with(vec![voided()]),
            date(2027, 1, 1),
        ),
        (
            "paid",
            given_issued_with(vec![paid(PAYMENT_1, dec!(339.00), dec!(0.00))]),
            date(2027, 1, 1),
        ),
        (
            "already flagged",
            given_issued_with(vec![flagged]),
            date(2027, 1, 1),
        ),
    ];
    for (case, history, as_of) in cases {
        let events = run(&history, command(LATER, mark_overdue(as_of)));
        assert_eq!(events, Ok(vec![]), "{case}");
    }
}

// ---------------------------------------------------------------- GenerateNextCycle

fn generate(child: Uuid, as_of: NaiveDate) -> InvoiceAction {
    InvoiceAction::GenerateNextCycle {
        child_invoice_id: child,
        as_of,
    }
}

#[test]
fn a_due_cycle_of_a_recurring_invoice_is_generated_with_the_next_date() {
    let state = state_after(given_recurring(None));
    assert!(state.is_recurring_active());
    assert_eq!(state.next_cycle_date(), Some(date(2026, 4, 12)));
    invoice()
        .given(given_recurring(None))
        .when(command(LATER, generate(CHILD_1, date(2026, 4, 12))))
        .then_expect_events(vec![generated(
            2,
            CHILD_1,
            date(2026, 4, 12),
            Some(date(2026, 5, 12)),
        )]);
    let mut history = given_recurring(None);
    history.push(generated(
        2,
        CHILD_1,
        date(2026, 4, 12),
        Some(date(2026, 5, 12)),
    ));
    assert_eq!(
        state_after(history.clone()).next_cycle_date(),
        Some(date(2026, 5, 12))
    );
    invoice()
        .given(history)
        .when(command(LATER, generate(CHILD_2, date(2026, 6, 1))))
        .then_expect_events(vec![generated(
            3,
            CHILD_2,
            date(2026, 5, 12),
            Some(date(2026, 6, 12)),
        )]);
}

#[test]
fn nothing_is_generated_before_the_next_cycle_date_or_after_the_end_date() {
    invoice()
        .given(given_recurring(None))
        .when(command(LATER, generate(CHILD_1, date(2026, 4, 11))))
        .then_expect_events(vec![]);
    // Ends before the second cycle.
    invoice()
        .given(given_recurring(Some(date(2026, 4, 1))))
        .when(command(LATER, generate(CHILD_1, date(2026, 12, 1))))
        .then_expect_events(vec![]);
    assert!(!state_after(given_recurring(Some(date(2026, 4, 1)))).is_recurring_active());
}

#[test]
fn the_last_cycle_before_the_end_date_has_no_next_date() {
    invoice()
        .given(given_recurring(Some(date(2026, 5, 1))))
        .when(command(LATER, generate(CHILD_1, date(2026, 4, 12))))
        .then_expect_events(vec![generated(2, CHILD_1, date(2026, 4, 12), None)]);
    let mut history = given_recurring(Some(date(2026, 5, 1)));
    history.push(generated(2, CHILD_1, date(2026, 4, 12), None));
    let state = state_after(history.clone());
    assert!(!state.is_recurring_active());
    assert_eq!(state.next_cycle_date(), None);
    invoice()
        .given(history)
        .when(command(LATER, generate(CHILD_2, date(2027, 1, 1))))
        .then_expect_events(vec![]);
}

#[test]
fn generating_is_rejected_on_drafts_non_recurring_stopped_or_voided_invoices_and_reused_children() {
    let draft = vec![
        InvoiceDrafted {
            draft: InvoiceTerms {
                recurring: Some(monthly_from(date(2026, 3, 12), None)),
                ..terms()
            },
            ..invoice_drafted()
        }
        .into(),
    ];
    let stopped: InvoiceEvent = RecurringScheduleStopped {
        reason: None,
        stopped_by: ACTOR,
        stopped_at: ts(LATER),
    }
    .into();
    let with = |event: InvoiceEvent| {
        let mut h = given_recurring(None);
        h.push(event);
        h
    };
    let cases: Vec<(Vec<InvoiceEvent>, Uuid, InvoiceError)> = vec![
        (draft, CHILD_1, InvoiceError::NotIssued),
        (given_issued(), CHILD_1, InvoiceError::NotRecurring),
        (with(stopped), CHILD_1, InvoiceError::RecurringStopped),
        (with(voided()), CHILD_1, InvoiceError::Voided),
        (
            given_recurring(None),
            INVOICE_ID,
            InvoiceError::DuplicateChildInvoice(INVOICE_ID),
        ),
        (
            with(generated(
                2,
                CHILD_1,
                date(2026, 4, 12),
                Some(date(2026, 5, 12)),
            )),
            CHILD_1,
            InvoiceError::DuplicateChildInvoice(CHILD_1),
        ),
    ];
    for (history, child, expected) in cases {
        invoice()
            .given(history)
            .when(command(LATER, generate(child, date(2027, 1, 1))))
            .then_expect_error(expected);
    }
    assert_eq!(rule(&InvoiceError::NotRecurring), "invoice.not-recurring");
    assert_eq!(
        rule(&InvoiceError::RecurringStopped),
        "invoice.recurring-stopped"
    );
    assert_eq!(
        rule(&InvoiceError::DuplicateChildInvoice(CHILD_1)),
        "invoice.duplicate-child-invoice"
    );
}

#[test]
fn a_child_invoice_is_drafted_from_its_parents_terms() {
    let parent = state_after(given_recurring(None));
    let terms = parent.terms().expect("created").clone();
    assert_eq!(terms.items, vec![movers()]);
    assert_eq!(terms.payment_terms_days, 30);
    assert_eq!(parent.customer_id, Some(CUSTOMER_ID));
}

// ---------------------------------------------------------------- StopRecurring

#[test]
fn stopping_a_schedule_ends_it() {
    let stopped: InvoiceEvent = RecurringScheduleStopped {
        reason: Some("Customer moved out of storage".into()),
        stopped_by: ACTOR,
        stopped_at: ts(LATER),
    }
    .into();
    invoice()
        .given(given_recurring(None))
        .when(command(
            LATER,
            InvoiceAction::StopRecurring {
                reason: Some(" Customer moved out of storage ".into()),
            },
        ))
        .then_expect_events(vec![stopped.clone()]);
    let mut history = given_recurring(None);
    history.push(stopped);
    let state = state_after(history.clone());
    assert!(!state.is_recurring_active());
    assert_eq!(state.next_cycle_date(), None);
    invoice()
        .given(history)
        .when(command(
            LATER,
            InvoiceAction::StopRecurring { reason: None },
        ))
        .then_expect_error(InvoiceError::RecurringStopped);
}

#[test]
fn stopping_is_rejected_without_a_schedule_or_on_a_draft() {
    invoice()
        .given(given_issued())
        .when(command(
            LATER,
            InvoiceAction::StopRecurring { reason: None },
        ))
        .then_expect_error(InvoiceError::NotRecurring);
    let draft = vec![
        InvoiceDrafted {
            draft: InvoiceTerms {
                recurring: Some(monthly_from(date(2026, 3, 12), None)),
                ..terms()
            },
            ..invoice_drafted()
        }
        .into(),
    ];
    invoice()
        .given(draft)
        .when(command(
            LATER,
            InvoiceAction::StopRecurring { reason: None },
        ))
        .then_expect_error(InvoiceError::NotIssued);
}

// ---------------------------------------------------------------- any command

#[test]
fn every_command_but_drafting_needs_an_existing_invoice() {
    let actions = vec![
        InvoiceAction::Update(UpdateInvoice::default()),
        InvoiceAction::Issue { tax_date: None },
        InvoiceAction::Void { reason: "x".into() },
        InvoiceAction::RecordPayment(payment_input(PAYMENT_1, dec!(1))),
        refund(REFUND_1, PAYMENT_1, dec!(1)),
        credit(CREDIT_1, dec!(1)),
        mark_overdue(date(2026, 4, 1)),
        generate(CHILD_1, date(2026, 4, 1)),
        InvoiceAction::StopRecurring { reason: None },
    ];
    for action in actions {
        invoice()
            .given_no_previous_events()
            .when(command(LATER, action))
            .then_expect_error(InvoiceError::NotFound);
    }
    assert_eq!(InvoiceError::NotFound.kind(), ErrorKind::NotFound);
    let errors = ValidationErrors::single("items", "x");
    assert_eq!(
        InvoiceError::Invalid(errors.clone()).kind(),
        ErrorKind::Invalid(&errors)
    );
}

#[test]
fn every_conflict_has_a_stable_rule_prefixed_invoice() {
    let cases = [
        (
            InvoiceError::AlreadyExists(INVOICE_ID),
            "invoice.already-exists",
        ),
        (InvoiceError::Locked(InvoiceStatus::Paid), "invoice.locked"),
        (InvoiceError::NotIssued, "invoice.not-issued"),
        (InvoiceError::Voided, "invoice.voided"),
        (
            InvoiceError::DepositsExceedTotal {
                deposits: dec!(2),
                total: dec!(1),
            },
            "invoice.deposits-exceed-total",
        ),
        (
            InvoiceError::HasPayments { net_paid: dec!(1) },
            "invoice.has-payments",
        ),
        (
            InvoiceError::Overpayment {
                amount: dec!(2),
                balance: dec!(1),
            },
            "invoice.overpayment",
        ),
        (
            InvoiceError::DuplicatePayment(PAYMENT_1),
            "invoice.duplicate-payment",
        ),
        (
            InvoiceError::UnknownPayment(PAYMENT_1),
            "invoice.unknown-payment",
        ),
        (
            InvoiceError::RefundExceedsPayment {
                amount: dec!(2),
                remaining: dec!(1),
            },
            "invoice.refund-exceeds-payment",
        ),
        (
            InvoiceError::DuplicateRefund(REFUND_1),
            "invoice.duplicate-refund",
        ),
        (
            InvoiceError::CreditExceedsBalance {
                amount: dec!(2),
                balance: dec!(1),
            },
            "invoice.credit-exceeds-balance",
        ),
        (
            InvoiceError::DuplicateCreditNote(CREDIT_1),
            "invoice.duplicate-credit-note",
        ),
        (InvoiceError::NotRecurring, "invoice.not-recurring"),
        (InvoiceError::RecurringStopped, "invoice.recurring-stopped"),
        (
            InvoiceError::DuplicateChildInvoice(CHILD_1),
            "invoice.duplicate-child-invoice",
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(rule(&error), expected, "{error}");
    }
}

#[test]
fn next_cycle_date_clamps_month_ends() {
    assert_eq!(
        next_cycle_date(RecurringInterval::Monthly, date(2026, 1, 31)),
        date(2026, 2, 28)
    );
    assert_eq!(
        next_cycle_date(RecurringInterval::Monthly, date(2028, 1, 31)),
        date(2028, 2, 29)
    );
    assert_eq!(
        next_cycle_date(RecurringInterval::Quarterly, date(2026, 1, 15)),
        date(2026, 4, 15)
    );
    assert_eq!(
        next_cycle_date(RecurringInterval::Yearly, date(2026, 1, 15)),
        date(2027, 1, 15)
    );
    assert_eq!(
        next_cycle_date(RecurringInterval::Weekly, date(2026, 1, 29)),
        date(2026, 2, 5)
    );
}

// ---------------------------------------------------------------- properties

fn item_strategy() -> impl Strategy<Value = ItemInput> {
    // quantity: 0.001 to 1000.000 (≤ 3 dp); unit price: 0.00 to 9999.99 (≤ 2 dp)
    (1i64..=1_000_000, 0i64..=999_999).prop_map(|(q, p)| ItemInput {
        item_id: None,
        description: "Item".into(),
        quantity: Decimal::new(q, 3),
        unit_price: Decimal::new(p, 2),
        category: QuoteItemCategory::Other,
        subcategory: None,
        optional: false,
        sort_order: None,
        notes: None,
    })
}

fn with_ids(items: Vec<ItemInput>) -> Vec<ItemInput> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| ItemInput {
            item_id: Some(Uuid::from_u128(0xbeef_0000 + i as u128)),
            ..item
        })
        .collect()
}

fn scale_2(value: Decimal) -> bool {
    value.scale() == 2
}

#[derive(Clone, Debug)]
enum Op {
    Pay(i64),
    /// Refund of the `Index`-th payment made so far.
    Refund(prop::sample::Index, i64),
    Credit(i64),
    Overdue,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..=40_000).prop_map(Op::Pay),
        2 => (any::<prop::sample::Index>(), 1i64..=20_000).prop_map(|(i, c)| Op::Refund(i, c)),
        2 => (1i64..=20_000).prop_map(Op::Credit),
        1 => Just(Op::Overdue),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn issued_totals_add_up_are_in_cents_and_are_stable(
        items in prop::collection::vec(item_strategy(), 1..8),
        province in prop::sample::select(Province::ALL),
        days in 0u64..4000,
        exempt in any::<bool>(),
    ) {
        let tax_date = date(2019, 7, 1) + chrono::Days::new(days);
        let at = DateTime::<Utc>::from_naive_utc_and_offset(
            tax_date.and_hms_opt(12, 0, 0).unwrap(), Utc);
        let draft = DraftInvoice { province, tax_exempt: exempt, items: with_ids(items.clone()), ..draft_invoice() };
        let drafted = Invoice::default()
            .decide(InvoiceCommand { at, actor: ACTOR, action: InvoiceAction::Draft(draft) })
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut state = state_after(drafted);
        let issued = state
            .decide(InvoiceCommand { at, actor: ACTOR, action: InvoiceAction::Issue { tax_date: Some(tax_date) } })
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let InvoiceEvent::InvoiceIssued(issued) = &issued[0] else { panic!("expected InvoiceIssued") };
        let t = &issued.totals;
        // Independently: Σ round_half_up(q × p, 2).
        let expected_subtotal: Decimal = items.iter()
            .map(|i| (i.quantity * i.unit_price).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero))
            .sum();
        prop_assert_eq!(t.subtotal, expected_subtotal);
        let tax_sum: Decimal = t.tax_lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(t.tax_total, tax_sum);
        prop_assert_eq!(t.total, t.subtotal + tax_sum);
        prop_assert_eq!(exempt, t.tax_lines.is_empty());
        prop_assert!(scale_2(t.subtotal) && scale_2(t.tax_total) && scale_2(t.total), "{:?}", t);
        prop_assert!(t.tax_lines.iter().all(|l| scale_2(l.amount)));
        prop_assert!(scale_2(issued.balance_after) && scale_2(issued.paid_by_deposits));
        let terms = state.terms().unwrap().clone();
        prop_assert!(terms.items.iter().all(|i| scale_2(i.line_total) && scale_2(i.unit_price)));
        prop_assert_eq!(t.tax_date, Some(tax_date));
        // Recomputing gives the same result, to the scale.
        let again = aggregates::pricing::totals(&terms.items, &[], None, province, tax_date, exempt).unwrap();
        prop_assert_eq!(&again, t);
        prop_assert_eq!(again.total.to_string(), t.total.to_string());
        state.apply(InvoiceEvent::InvoiceIssued(issued.clone()));
        prop_assert_eq!(state.balance(), t.total);
        prop_assert!(scale_2(state.balance()));
    }

    #[test]
    fn the_balance_follows_payments_refunds_and_credit_notes_and_never_goes_negative(
        ops in prop::collection::vec(op_strategy(), 1..30),
    ) {
        let mut state = state_after(given_issued());
        let total = dec!(339.00);
        let (mut payments, mut refunds, mut credits) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let mut paid_ids: Vec<(Uuid, Decimal)> = vec![];
        let mut overdue = false;
        for (i, op) in ops.into_iter().enumerate() {
            let id = Uuid::from_u128(0xf00d_0000 + i as u128);
            let balance_before = state.balance();
            let action = match &op {
                Op::Pay(c) => InvoiceAction::RecordPayment(payment_input(id, Decimal::new(*c, 2))),
                Op::Refund(pick, c) if !paid_ids.is_empty() => {
                    let (payment_id, _) = paid_ids[pick.index(paid_ids.len())];
                    refund(id, payment_id, Decimal::new(*c, 2))
                }
                Op::Refund(_, c) => refund(id, PAYMENT_1, Decimal::new(*c, 2)),
                Op::Credit(c) => credit(id, Decimal::new(*c, 2)),
                Op::Overdue => mark_overdue(date(2026, 5, 1)),
            };
            let result = state.decide(InvoiceCommand { at: ts(LATER), actor: ACTOR, action });
            match (&op, &result) {
                (Op::Pay(c), Ok(events)) => {
                    let amount = Decimal::new(*c, 2);
                    prop_assert!(amount <= balance_before);
                    payments += amount;
                    paid_ids.push((id, amount));
                    prop_assert_eq!(events.len(), 1);
                }
                (Op::Pay(c), Err(e)) => {
                    prop_assert!(Decimal::new(*c, 2) > balance_before);
                    prop_assert_eq!(rule(e), "invoice.overpayment");
                }
                (Op::Refund(pick, c), Ok(_)) => {
                    let amount = Decimal::new(*c, 2);
                    let (payment_id, _) = paid_ids[pick.index(paid_ids.len())];
                    prop_assert!(amount <= state.remaining_of_payment(payment_id).unwrap());
                    refunds += amount;
                }
                (Op::Refund(..), Err(e)) => {
                    prop_assert!(matches!(rule(e), "invoice.refund-exceeds-payment" | "invoice.unknown-payment"), "{}", e);
                }
                (Op::Credit(c), Ok(_)) => {
                    prop_assert!(Decimal::new(*c, 2) <= balance_before);
                    credits += Decimal::new(*c, 2);
                }
                (Op::Credit(c), Err(e)) => {
                    prop_assert!(Decimal::new(*c, 2) > balance_before);
                    prop_assert_eq!(rule(e), "invoice.credit-exceeds-balance");
                }
                (Op::Overdue, Ok(events)) => {
                    prop_assert_eq!(events.is_empty(), overdue || balance_before.is_zero());
                    overdue |= !events.is_empty();
                }
                (Op::Overdue, Err(e)) => prop_assert!(false, "mark overdue failed: {}", e),
            }
            for event in result.unwrap_or_default() {
                let reported = match &event {
                    InvoiceEvent::PaymentRecorded(e) => Some(e.balance_after),
                    InvoiceEvent::PaymentRefunded(e) => Some(e.balance_after),
                    InvoiceEvent::CreditNoteIssued(e) => Some(e.balance_after),
                    _ => None,
                };
                state.apply(event);
                if let Some(reported) = reported {
                    prop_assert_eq!(reported, state.balance());
                    prop_assert!(scale_2(reported));
                }
            }
            let balance = state.balance();
            prop_assert_eq!(balance, total - payments + refunds - credits);
            prop_assert!(balance >= Decimal::ZERO);
            let amounts = InvoiceAmounts {
                total,
                net_paid: payments - refunds,
                credited: credits,
                balance,
            };
            prop_assert_eq!(state.amounts(), amounts);
            prop_assert_eq!(state.status(), invoice_status(true, false, overdue, amounts));
        }
    }
}

#[test]
fn a_schedule_whose_second_cycle_is_already_due_is_not_issued() {
    // Monthly from Feb 10: the Mar 10 cycle would be due when issued on Mar 12.
    let drafted = InvoiceDrafted {
        draft: InvoiceTerms {
            recurring: Some(monthly_from(date(2026, 2, 10), None)),
            ..terms()
        },
        ..invoice_drafted()
    };
    let err = run(
        &[drafted.into()],
        command(ISSUED_AT, InvoiceAction::Issue { tax_date: None }),
    )
    .unwrap_err();
    assert_eq!(
        err,
        InvoiceError::ScheduleInThePast {
            second: date(2026, 3, 10)
        }
    );
    assert_eq!(rule(&err), "invoice.schedule-in-the-past");
}

#[test]
fn an_invoice_total_beyond_the_storable_maximum_is_refused_naming_the_items() {
    let mut huge = movers_input();
    huge.quantity = Decimal::new(1_000_000, 0);
    huge.unit_price = Decimal::new(99_999_999_999, 2);
    let result = run(
        &[],
        command(
            DRAFTED_AT,
            InvoiceAction::Draft(DraftInvoice {
                items: vec![huge],
                ..draft_invoice()
            }),
        ),
    );
    assert_eq!(rejected_fields(result), ["items"]);
}
