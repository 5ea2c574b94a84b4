//! Given/when/then tests of the `Quote` aggregate through its public API.

use aggregates::quote::{
    AcceptQuote, DraftQuote, HourlyInput, Quote, QuoteAction, QuoteCommand, QuoteError, QuoteInput,
    QuoteParties, UpdateQuote,
};
use aggregates::sales::{ItemInput, PaymentInput};
use aggregates::{DomainError, ErrorKind, FieldError, Patch, TenantOwned, ValidationErrors};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::money::{
    HourlyPricing, LineItem, PaymentDetails, PaymentMethod, PricingType, Province,
    QuoteItemCategory, QuoteStatus, TaxCode, TaxLine, Totals,
};
use event_schemas::quote::{
    QuoteAccepted, QuoteApproved, QuoteConverted, QuoteDepositRecorded, QuoteDraftUpdated,
    QuoteDrafted, QuoteEvent, QuoteExpired, QuoteInvoiced, QuoteRejected, QuoteRevised, QuoteSent,
    QuoteTerms, QuoteViewed,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

use QuoteStatus::{Accepted, Converted, Draft, Expired, Rejected, Sent, Viewed};

const QUOTE_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_2001);
const TEMPLATE_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_2002);
const CUSTOMER_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001);
const LEAD_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_1001);
const ACTOR: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_a001);
const MANAGER: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_a002);
const ITEM_MOVERS: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_c001);
const ITEM_BOXES: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_c002);
const ITEM_PIANO: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_c003);
const ITEM_STORAGE: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_c004);
const UNKNOWN_ITEM: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_c0ff);
const JOURNEY_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_d001);
const INVOICE_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_e001);
const OTHER_INVOICE_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_e002);
const PAYMENT_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_f001);
const OTHER_PAYMENT_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_f002);

/// When the quote of every "given an existing quote" test was drafted.
const DRAFTED_AT: &str = "2026-03-10T14:00:00Z";
const SENT_AT: &str = "2026-03-11T09:00:00Z";
const VIEWED_AT: &str = "2026-03-11T18:30:00Z";
const ACCEPTED_AT: &str = "2026-03-12T10:00:00Z";
const REJECTED_AT: &str = "2026-03-12T11:00:00Z";
const EXPIRED_AT: &str = "2026-04-10T06:00:00Z";
const CONVERTED_AT: &str = "2026-03-13T08:00:00Z";
const LATER: &str = "2026-03-14T12:00:00Z";
const REJECTION: &str = "Found a cheaper mover";
const SIGNER: &str = "Jane Doe";
const SIGNER_IP: &str = "203.0.113.7";

// ---------------------------------------------------------------- helpers

fn ts(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339 timestamp")
        .to_utc()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn day_of(rfc3339: &str) -> NaiveDate {
    ts(rfc3339).date_naive()
}

/// The quote of every "given an existing quote" test is valid until then.
fn valid_until() -> NaiveDate {
    date(2026, 4, 9)
}

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").expect("valid tenant id")
}

fn quote() -> TestFramework<Quote> {
    TestFramework::with(())
}

fn command(at: &str, action: QuoteAction) -> QuoteCommand {
    QuoteCommand {
        at: ts(at),
        actor: ACTOR,
        action,
    }
}

fn command_by(actor: Uuid, at: &str, action: QuoteAction) -> QuoteCommand {
    QuoteCommand {
        at: ts(at),
        actor,
        action,
    }
}

/// Runs one command against a history, the way the command layer would.
fn run(history: &[QuoteEvent], cmd: QuoteCommand) -> Result<Vec<QuoteEvent>, QuoteError> {
    quote().given(history.to_vec()).when(cmd).inspect_result()
}

/// Runs `cmd` and appends its events to `history`, failing the test if it is rejected.
fn then_run(history: &mut Vec<QuoteEvent>, cmd: QuoteCommand) -> Vec<QuoteEvent> {
    let events = run(history, cmd.clone()).unwrap_or_else(|e| panic!("{cmd:?} rejected: {e}"));
    history.extend(events.clone());
    events
}

fn state_after(events: Vec<QuoteEvent>) -> Quote {
    let mut quote = Quote::default();
    for event in events {
        quote.apply(event);
    }
    quote
}

fn invalid(field: &str, message: &str) -> QuoteError {
    QuoteError::Invalid(ValidationErrors::single(field, message))
}

fn invalid_all(errors: &[(&str, &str)]) -> QuoteError {
    QuoteError::Invalid(ValidationErrors(
        errors
            .iter()
            .map(|(field, message)| FieldError {
                field: (*field).to_owned(),
                message: (*message).to_owned(),
            })
            .collect(),
    ))
}

/// The field names of an `Invalid` rejection, in the order they were reported.
fn rejected_fields(result: Result<Vec<QuoteEvent>, QuoteError>) -> Vec<String> {
    match result {
        Err(QuoteError::Invalid(errors)) => errors.fields().map(str::to_owned).collect(),
        other => panic!("expected QuoteError::Invalid, got {other:?}"),
    }
}

fn wrong_status(status: QuoteStatus, action: &'static str, allowed: &'static str) -> QuoteError {
    QuoteError::WrongStatus {
        status,
        action,
        allowed,
    }
}

/// The single event of a successful command.
fn only_event(result: Result<Vec<QuoteEvent>, QuoteError>) -> QuoteEvent {
    let mut events = result.unwrap_or_else(|e| panic!("expected one event, got error {e}"));
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0)
}

fn drafted_of(event: QuoteEvent) -> QuoteDrafted {
    match event {
        QuoteEvent::QuoteDrafted(e) => e,
        other => panic!("expected QuoteDrafted, got {other:?}"),
    }
}

fn accepted_of(event: QuoteEvent) -> QuoteAccepted {
    match event {
        QuoteEvent::QuoteAccepted(e) => e,
        other => panic!("expected QuoteAccepted, got {other:?}"),
    }
}

/// Asserts that a money amount is written with exactly two decimals.
fn assert_cents(amount: Decimal, expected: &str) {
    assert_eq!(amount.to_string(), expected);
}

// ---------------------------------------------------------------- items and totals

fn item(id: Uuid, description: &str, quantity: Decimal, unit_price: Decimal) -> ItemInput {
    ItemInput {
        item_id: Some(id),
        description: description.into(),
        quantity,
        unit_price,
        category: QuoteItemCategory::MovingServices,
        subcategory: None,
        optional: false,
        sort_order: None,
        notes: None,
    }
}

fn line(
    id: Uuid,
    description: &str,
    quantity: Decimal,
    unit_price: Decimal,
    line_total: Decimal,
    sort_order: i32,
) -> LineItem {
    LineItem {
        item_id: id,
        description: description.into(),
        quantity,
        unit_price,
        line_total,
        category: QuoteItemCategory::MovingServices,
        subcategory: None,
        optional: false,
        sort_order,
        notes: None,
    }
}

fn movers_input() -> ItemInput {
    item(
        ITEM_MOVERS,
        "Two movers and a 26-ft truck",
        dec!(1),
        dec!(1200),
    )
}

fn boxes_input() -> ItemInput {
    ItemInput {
        category: QuoteItemCategory::PackingServices,
        ..item(ITEM_BOXES, "Moving boxes", dec!(2.5), dec!(10.01))
    }
}

fn piano_input() -> ItemInput {
    ItemInput {
        category: QuoteItemCategory::SpecialtyServices,
        optional: true,
        notes: Some("Upright".into()),
        ..item(ITEM_PIANO, "Piano handling", dec!(1), dec!(350))
    }
}

fn movers_line(sort_order: i32) -> LineItem {
    line(
        ITEM_MOVERS,
        "Two movers and a 26-ft truck",
        dec!(1),
        dec!(1200.00),
        dec!(1200.00),
        sort_order,
    )
}

/// 2.5 × 10.01 = 25.025, rounded half-up to 25.03.
fn boxes_line(sort_order: i32) -> LineItem {
    LineItem {
        category: QuoteItemCategory::PackingServices,
        ..line(
            ITEM_BOXES,
            "Moving boxes",
            dec!(2.5),
            dec!(10.01),
            dec!(25.03),
            sort_order,
        )
    }
}

fn piano_line(sort_order: i32) -> LineItem {
    LineItem {
        category: QuoteItemCategory::SpecialtyServices,
        optional: true,
        notes: Some("Upright".into()),
        ..line(
            ITEM_PIANO,
            "Piano handling",
            dec!(1),
            dec!(350.00),
            dec!(350.00),
            sort_order,
        )
    }
}

fn tax_line(code: TaxCode, rate: Decimal, taxable: Decimal, amount: Decimal) -> TaxLine {
    TaxLine {
        code,
        rate,
        taxable,
        amount,
    }
}

fn totals(
    subtotal: Decimal,
    tax_lines: Vec<TaxLine>,
    tax_total: Decimal,
    total: Decimal,
    on: NaiveDate,
) -> Totals {
    Totals {
        subtotal,
        tax_lines,
        tax_total,
        total,
        tax_date: Some(on),
    }
}

/// Ontario totals: one HST line of 13 %.
fn on_totals(subtotal: Decimal, hst: Decimal, total: Decimal, on: NaiveDate) -> Totals {
    totals(
        subtotal,
        vec![tax_line(TaxCode::Hst, dec!(0.13), subtotal, hst)],
        hst,
        total,
        on,
    )
}

/// Movers and boxes: 1 225.03, HST 159.2539 → 159.25, total 1 384.28.
fn base_totals(on: NaiveDate) -> Totals {
    on_totals(dec!(1225.03), dec!(159.25), dec!(1384.28), on)
}

/// With the piano: 1 575.03, HST 204.7539 → 204.75, total 1 779.78.
fn totals_with_piano(on: NaiveDate) -> Totals {
    on_totals(dec!(1575.03), dec!(204.75), dec!(1779.78), on)
}

// ---------------------------------------------------------------- the quote

fn quote_input() -> QuoteInput {
    QuoteInput {
        currency: None,
        valid_until: valid_until(),
        terms: Some("  Payment due on delivery.  ".into()),
        notes: None,
        pricing_type: PricingType::Binding,
        hourly: None,
        province: Province::On,
        tax_exempt: false,
        template_name: None,
        items: vec![movers_input(), boxes_input(), piano_input()],
    }
}

fn draft_quote() -> DraftQuote {
    DraftQuote {
        quote_id: QUOTE_ID,
        tenant_id: tenant(),
        parties: QuoteParties {
            customer_id: CUSTOMER_ID,
            customer_active: true,
            lead_id: Some(LEAD_ID),
        },
        location_id: Some("toronto-east".into()),
        is_template: false,
        copied_from: None,
        input: quote_input(),
    }
}

fn draft_with(input: QuoteInput) -> QuoteAction {
    QuoteAction::Draft(DraftQuote {
        input,
        ..draft_quote()
    })
}

/// What `quote_input()` is priced as on `DRAFTED_AT`.
fn quote_terms() -> QuoteTerms {
    QuoteTerms {
        currency: "CAD".into(),
        valid_until: valid_until(),
        terms: Some("Payment due on delivery.".into()),
        notes: None,
        pricing_type: PricingType::Binding,
        hourly: None,
        province: Province::On,
        tax_exempt: false,
        template_name: None,
        items: vec![movers_line(0), boxes_line(1), piano_line(2)],
        totals: base_totals(day_of(DRAFTED_AT)),
    }
}

/// What `draft_quote()` at `DRAFTED_AT` by `ACTOR` records, spelled out.
fn quote_drafted() -> QuoteDrafted {
    QuoteDrafted {
        tenant_id: tenant(),
        quote_id: QUOTE_ID,
        customer_id: CUSTOMER_ID,
        lead_id: Some(LEAD_ID),
        location_id: Some("toronto-east".into()),
        is_template: false,
        copied_from: None,
        draft: quote_terms(),
        created_by: ACTOR,
        created_at: ts(DRAFTED_AT),
    }
}

fn template_drafted() -> QuoteDrafted {
    QuoteDrafted {
        quote_id: TEMPLATE_ID,
        lead_id: None,
        location_id: None,
        is_template: true,
        draft: QuoteTerms {
            template_name: Some("Two-bedroom apartment".into()),
            ..quote_terms()
        },
        ..quote_drafted()
    }
}

fn hourly_input() -> HourlyInput {
    HourlyInput {
        rate: dec!(150),
        estimated_hours: dec!(2),
        minimum_hours: dec!(3),
    }
}

/// Hourly: 150 × max(2, 3) h = 450.00 of labour, plus the boxes (the piano optional).
fn hourly_quote_input() -> QuoteInput {
    QuoteInput {
        pricing_type: PricingType::Hourly,
        hourly: Some(hourly_input()),
        items: vec![boxes_input(), piano_input()],
        ..quote_input()
    }
}

fn hourly_pricing() -> HourlyPricing {
    HourlyPricing {
        rate: dec!(150.00),
        estimated_hours: dec!(2),
        minimum_hours: dec!(3),
        labour_total: dec!(450.00),
    }
}

/// 25.03 + 450.00 = 475.03, HST 61.7539 → 61.75, total 536.78.
fn hourly_quote_drafted() -> QuoteDrafted {
    QuoteDrafted {
        draft: QuoteTerms {
            pricing_type: PricingType::Hourly,
            hourly: Some(hourly_pricing()),
            items: vec![boxes_line(0), piano_line(1)],
            totals: on_totals(dec!(475.03), dec!(61.75), dec!(536.78), day_of(DRAFTED_AT)),
            ..quote_terms()
        },
        ..quote_drafted()
    }
}

// ---------------------------------------------------------------- events

fn approved(revision: u32, at: &str, total: Decimal) -> QuoteEvent {
    QuoteApproved {
        revision,
        approved_by: MANAGER,
        approved_at: ts(at),
        total,
    }
    .into()
}

fn sent(
    revision: u32,
    at: &str,
    totals: Totals,
    approval_threshold: Option<Decimal>,
) -> QuoteEvent {
    QuoteSent {
        revision,
        sent_by: ACTOR,
        sent_at: ts(at),
        totals,
        approval_threshold,
    }
    .into()
}

fn viewed(revision: u32, at: &str) -> QuoteEvent {
    QuoteViewed {
        revision,
        viewed_at: ts(at),
    }
    .into()
}

fn quote_accepted(revision: u32, at: &str, selected: Vec<Uuid>, totals: Totals) -> QuoteAccepted {
    QuoteAccepted {
        revision,
        accepted_by_name: SIGNER.into(),
        accepted_at: ts(at),
        accepted_ip: Some(SIGNER_IP.into()),
        selected_optional_items: selected,
        totals,
        recorded_by: ACTOR,
    }
}

fn rejected(revision: u32, at: &str) -> QuoteEvent {
    QuoteRejected {
        revision,
        reason: REJECTION.into(),
        rejected_at: ts(at),
    }
    .into()
}

fn revised(from_revision: u32, at: &str) -> QuoteEvent {
    QuoteRevised {
        from_revision,
        revision: from_revision + 1,
        revised_by: ACTOR,
        revised_at: ts(at),
    }
    .into()
}

fn expired(revision: u32, at: &str) -> QuoteEvent {
    QuoteExpired {
        revision,
        valid_until: valid_until(),
        expired_at: ts(at),
    }
    .into()
}

fn converted(at: &str) -> QuoteEvent {
    QuoteConverted {
        journey_id: JOURNEY_ID,
        converted_by: ACTOR,
        converted_at: ts(at),
    }
    .into()
}

fn invoiced(invoice_id: Uuid, at: &str) -> QuoteEvent {
    QuoteInvoiced {
        invoice_id,
        invoiced_by: ACTOR,
        invoiced_at: ts(at),
    }
    .into()
}

fn payment_input(payment_id: Uuid, amount: Decimal) -> PaymentInput {
    PaymentInput {
        payment_id,
        amount,
        method: PaymentMethod::CreditCard,
        transaction_id: Some("ch_3PqZ".into()),
        gateway: Some("Stripe".into()),
        gateway_data: None,
        processing_fee: Some(dec!(14.8)),
        receipt_url: None,
        notes: None,
        received_at: None,
    }
}

fn payment(payment_id: Uuid, amount: Decimal, at: &str) -> PaymentDetails {
    PaymentDetails {
        payment_id,
        amount,
        method: PaymentMethod::CreditCard,
        transaction_id: Some("ch_3PqZ".into()),
        gateway: Some("Stripe".into()),
        gateway_data: None,
        processing_fee: Some(dec!(14.80)),
        receipt_url: None,
        notes: None,
        received_at: ts(at),
        recorded_by: ACTOR,
    }
}

fn deposit_recorded(payment_id: Uuid, amount: Decimal, at: &str) -> QuoteEvent {
    QuoteDepositRecorded {
        payment: payment(payment_id, amount, at),
    }
    .into()
}

fn given_draft() -> Vec<QuoteEvent> {
    vec![quote_drafted().into()]
}

/// A realistic history that leaves the quote (revision 1) in `status`.
fn history_to(status: QuoteStatus) -> Vec<QuoteEvent> {
    let mut events = given_draft();
    let send = |events: &mut Vec<QuoteEvent>| {
        events.push(sent(1, SENT_AT, base_totals(day_of(SENT_AT)), None));
    };
    let accept = |events: &mut Vec<QuoteEvent>| {
        send(events);
        events.push(viewed(1, VIEWED_AT));
        events
            .push(quote_accepted(1, ACCEPTED_AT, vec![], base_totals(day_of(ACCEPTED_AT))).into());
    };
    match status {
        Draft => {}
        Sent => send(&mut events),
        Viewed => {
            send(&mut events);
            events.push(viewed(1, VIEWED_AT));
        }
        Accepted => accept(&mut events),
        Rejected => {
            send(&mut events);
            events.push(rejected(1, REJECTED_AT));
        }
        Expired => {
            send(&mut events);
            events.push(expired(1, EXPIRED_AT));
        }
        Converted => {
            accept(&mut events);
            events.push(converted(CONVERTED_AT));
        }
    }
    events
}

const ALL_STATUSES: [QuoteStatus; 7] =
    [Draft, Sent, Viewed, Accepted, Rejected, Expired, Converted];

fn accept(selected: Vec<Uuid>) -> QuoteAction {
    QuoteAction::Accept(AcceptQuote {
        revision: 1,
        accepted_by_name: SIGNER.into(),
        accepted_ip: Some(SIGNER_IP.into()),
        selected_optional_items: selected,
    })
}

fn accept_with(f: impl FnOnce(&mut AcceptQuote)) -> QuoteAction {
    let QuoteAction::Accept(mut cmd) = accept(vec![]) else {
        unreachable!()
    };
    f(&mut cmd);
    QuoteAction::Accept(cmd)
}

fn send(approval_threshold: Option<Decimal>) -> QuoteAction {
    QuoteAction::Send { approval_threshold }
}

fn update(f: impl FnOnce(&mut UpdateQuote)) -> QuoteAction {
    let mut cmd = UpdateQuote::default();
    f(&mut cmd);
    QuoteAction::Update(cmd)
}

fn reject(reason: &str) -> QuoteAction {
    QuoteAction::Reject {
        reason: reason.into(),
    }
}

// ================================================================ Draft

#[test]
fn drafting_a_quote_prices_it_on_the_server_and_records_revision_one_in_draft() {
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, QuoteAction::Draft(draft_quote())))
        .then_expect_events(vec![quote_drafted().into()]);
    let state = state_after(given_draft());
    assert_eq!(state.status(), Draft);
    assert_eq!(state.revision, 1);
    assert_eq!(state.tenant(), Some(&tenant()));
    assert_eq!(state.customer_id, Some(CUSTOMER_ID));
    assert_eq!(state.lead_id, Some(LEAD_ID));
    assert_eq!(state.created_by, Some(ACTOR));
    assert!(state.approved.is_none() && state.accepted.is_none());
}

#[test]
fn drafted_money_is_written_to_the_cent() {
    let drafted = drafted_of(only_event(run(
        &[],
        command(DRAFTED_AT, QuoteAction::Draft(draft_quote())),
    )));
    let t = &drafted.draft.totals;
    assert_cents(drafted.draft.items[0].unit_price, "1200.00");
    assert_cents(drafted.draft.items[0].line_total, "1200.00");
    assert_cents(drafted.draft.items[1].line_total, "25.03");
    assert_cents(t.subtotal, "1225.03");
    assert_cents(t.tax_lines[0].taxable, "1225.03");
    assert_cents(t.tax_lines[0].amount, "159.25");
    assert_cents(t.tax_total, "159.25");
    assert_cents(t.total, "1384.28");
}

#[test]
fn line_totals_are_quantity_times_unit_price_rounded_half_up_to_the_cent() {
    let input = QuoteInput {
        items: vec![
            item(ITEM_MOVERS, "Tape", dec!(1.005), dec!(1)),
            item(ITEM_BOXES, "Wardrobe boxes", dec!(0.333), dec!(10)),
            item(ITEM_PIANO, "Blankets", dec!(3), dec!(19.99)),
            item(ITEM_STORAGE, "Straps", dec!(2.500), dec!(10.01)),
        ],
        ..quote_input()
    };
    let drafted = drafted_of(only_event(run(&[], command(DRAFTED_AT, draft_with(input)))));
    let totals: Vec<String> = drafted
        .draft
        .items
        .iter()
        .map(|i| i.line_total.to_string())
        .collect();
    // 1.005 → 1.01; 3.33; 59.97; 25.025 → 25.03
    assert_eq!(totals, ["1.01", "3.33", "59.97", "25.03"]);
    assert_eq!(drafted.draft.items[3].quantity.to_string(), "2.5");
    // 89.34 × 13 % = 11.6142 → 11.61
    assert_eq!(
        drafted.draft.totals,
        on_totals(dec!(89.34), dec!(11.61), dec!(100.95), day_of(DRAFTED_AT))
    );
}

#[test]
fn optional_items_are_listed_but_not_counted_in_the_draft_total() {
    let drafted = drafted_of(only_event(run(
        &[],
        command(DRAFTED_AT, QuoteAction::Draft(draft_quote())),
    )));
    assert!(
        drafted
            .draft
            .items
            .iter()
            .any(|i| i.item_id == ITEM_PIANO && i.optional)
    );
    assert_eq!(drafted.draft.totals.subtotal, dec!(1225.03));
}

#[test]
fn items_are_listed_in_their_sort_order_and_default_to_their_position() {
    let input = QuoteInput {
        items: vec![
            ItemInput {
                sort_order: Some(10),
                ..movers_input()
            },
            boxes_input(),
            ItemInput {
                sort_order: Some(-1),
                ..piano_input()
            },
        ],
        ..quote_input()
    };
    let drafted = drafted_of(only_event(run(&[], command(DRAFTED_AT, draft_with(input)))));
    let order: Vec<(Uuid, i32)> = drafted
        .draft
        .items
        .iter()
        .map(|i| (i.item_id, i.sort_order))
        .collect();
    assert_eq!(
        order,
        [(ITEM_PIANO, -1), (ITEM_BOXES, 1), (ITEM_MOVERS, 10)]
    );
}

#[test]
fn items_sent_without_an_id_get_a_fresh_one() {
    let input = QuoteInput {
        items: vec![
            ItemInput {
                item_id: None,
                ..movers_input()
            },
            ItemInput {
                item_id: None,
                ..boxes_input()
            },
        ],
        ..quote_input()
    };
    let drafted = drafted_of(only_event(run(&[], command(DRAFTED_AT, draft_with(input)))));
    let ids: Vec<Uuid> = drafted.draft.items.iter().map(|i| i.item_id).collect();
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| !id.is_nil()));
}

#[test]
fn hourly_labour_is_the_rate_times_the_minimum_hours_when_the_estimate_is_lower() {
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(hourly_quote_input())))
        .then_expect_events(vec![hourly_quote_drafted().into()]);
}

#[test]
fn hourly_labour_is_the_rate_times_the_estimated_hours_when_above_the_minimum() {
    let input = QuoteInput {
        hourly: Some(HourlyInput {
            estimated_hours: dec!(4.5),
            ..hourly_input()
        }),
        ..hourly_quote_input()
    };
    let drafted = drafted_of(only_event(run(&[], command(DRAFTED_AT, draft_with(input)))));
    let hourly = drafted.draft.hourly.expect("hourly pricing");
    assert_cents(hourly.labour_total, "675.00");
    // 25.03 + 675.00 = 700.03; HST 91.0039 → 91.00
    assert_eq!(
        drafted.draft.totals,
        on_totals(dec!(700.03), dec!(91.00), dec!(791.03), day_of(DRAFTED_AT))
    );
}

#[test]
fn an_hourly_quote_may_have_no_items_and_no_minimum() {
    let input = QuoteInput {
        hourly: Some(HourlyInput {
            rate: dec!(125.50),
            estimated_hours: dec!(3.25),
            minimum_hours: dec!(0),
        }),
        items: vec![],
        ..hourly_quote_input()
    };
    let drafted = drafted_of(only_event(run(&[], command(DRAFTED_AT, draft_with(input)))));
    assert_eq!(
        drafted.draft.hourly,
        Some(HourlyPricing {
            rate: dec!(125.50),
            estimated_hours: dec!(3.25),
            minimum_hours: dec!(0),
            // 125.50 × 3.25 = 407.875 → 407.88
            labour_total: dec!(407.88),
        })
    );
    // 407.88 × 13 % = 53.0244 → 53.02
    assert_eq!(
        drafted.draft.totals,
        on_totals(dec!(407.88), dec!(53.02), dec!(460.90), day_of(DRAFTED_AT))
    );
}

/// A one-item quote of `price` in `province`, drafted at `at` and valid for two weeks.
fn single_item_draft(price: Decimal, province: Province, exempt: bool, at: &str) -> QuoteDrafted {
    let input = QuoteInput {
        valid_until: day_of(at) + Duration::days(14),
        province,
        tax_exempt: exempt,
        items: vec![item(ITEM_MOVERS, "Move", dec!(1), price)],
        ..quote_input()
    };
    drafted_of(only_event(run(&[], command(at, draft_with(input)))))
}

#[test]
fn ontario_charges_thirteen_percent_hst() {
    let drafted = single_item_draft(dec!(1000), Province::On, false, DRAFTED_AT);
    assert_eq!(
        drafted.draft.totals,
        on_totals(
            dec!(1000.00),
            dec!(130.00),
            dec!(1130.00),
            day_of(DRAFTED_AT)
        )
    );
}

#[test]
fn quebec_charges_gst_and_qst_each_rounded_separately() {
    let drafted = single_item_draft(dec!(1234.56), Province::Qc, false, DRAFTED_AT);
    assert_eq!(
        drafted.draft.totals,
        totals(
            dec!(1234.56),
            vec![
                // 61.728 → 61.73
                tax_line(TaxCode::Gst, dec!(0.05), dec!(1234.56), dec!(61.73)),
                // 123.14736 → 123.15
                tax_line(TaxCode::Qst, dec!(0.09975), dec!(1234.56), dec!(123.15)),
            ],
            dec!(184.88),
            dec!(1419.44),
            day_of(DRAFTED_AT),
        )
    );
    // On 0.10 each component rounds up to a cent (0.005, 0.009975): 0.02 of
    // tax, where the combined 14.975 % would give only 0.01.
    let small = single_item_draft(dec!(0.10), Province::Qc, false, DRAFTED_AT);
    let amounts: Vec<Decimal> = small
        .draft
        .totals
        .tax_lines
        .iter()
        .map(|t| t.amount)
        .collect();
    assert_eq!(amounts, [dec!(0.01), dec!(0.01)]);
    assert_eq!(small.draft.totals.tax_total, dec!(0.02));
    assert_eq!(small.draft.totals.total, dec!(0.12));
}

#[test]
fn nova_scotia_charges_fifteen_percent_until_march_2025_and_fourteen_percent_from_april() {
    let before = single_item_draft(dec!(1000), Province::Ns, false, "2025-03-31T23:59:59Z");
    assert_eq!(
        before.draft.totals,
        totals(
            dec!(1000.00),
            vec![tax_line(
                TaxCode::Hst,
                dec!(0.15),
                dec!(1000.00),
                dec!(150.00)
            )],
            dec!(150.00),
            dec!(1150.00),
            date(2025, 3, 31),
        )
    );
    let after = single_item_draft(dec!(1000), Province::Ns, false, "2025-04-01T00:00:00Z");
    assert_eq!(
        after.draft.totals,
        totals(
            dec!(1000.00),
            vec![tax_line(
                TaxCode::Hst,
                dec!(0.14),
                dec!(1000.00),
                dec!(140.00)
            )],
            dec!(140.00),
            dec!(1140.00),
            date(2025, 4, 1),
        )
    );
}

#[test]
fn every_province_charges_its_own_components() {
    use TaxCode::{Gst, Hst, Pst, Qst, Rst};
    /// (province, its components as (code, rate, tax on 100.00), total)
    type Row<'a> = (Province, &'a [(TaxCode, Decimal, Decimal)], Decimal);
    let expected: &[Row<'_>] = &[
        (Province::Ab, &[(Gst, dec!(0.05), dec!(5.00))], dec!(105.00)),
        (
            Province::Bc,
            &[(Gst, dec!(0.05), dec!(5.00)), (Pst, dec!(0.07), dec!(7.00))],
            dec!(112.00),
        ),
        (
            Province::Mb,
            &[(Gst, dec!(0.05), dec!(5.00)), (Rst, dec!(0.07), dec!(7.00))],
            dec!(112.00),
        ),
        (
            Province::Nb,
            &[(Hst, dec!(0.15), dec!(15.00))],
            dec!(115.00),
        ),
        (
            Province::Nl,
            &[(Hst, dec!(0.15), dec!(15.00))],
            dec!(115.00),
        ),
        (
            Province::Ns,
            &[(Hst, dec!(0.14), dec!(14.00))],
            dec!(114.00),
        ),
        (Province::Nt, &[(Gst, dec!(0.05), dec!(5.00))], dec!(105.00)),
        (Province::Nu, &[(Gst, dec!(0.05), dec!(5.00))], dec!(105.00)),
        (
            Province::On,
            &[(Hst, dec!(0.13), dec!(13.00))],
            dec!(113.00),
        ),
        (
            Province::Pe,
            &[(Hst, dec!(0.15), dec!(15.00))],
            dec!(115.00),
        ),
        (
            Province::Qc,
            // 9.975 → 9.98
            &[
                (Gst, dec!(0.05), dec!(5.00)),
                (Qst, dec!(0.09975), dec!(9.98)),
            ],
            dec!(114.98),
        ),
        (
            Province::Sk,
            &[(Gst, dec!(0.05), dec!(5.00)), (Pst, dec!(0.06), dec!(6.00))],
            dec!(111.00),
        ),
        (Province::Yt, &[(Gst, dec!(0.05), dec!(5.00))], dec!(105.00)),
    ];
    assert_eq!(expected.len(), Province::ALL.len());
    for (province, components, total) in expected {
        let drafted = single_item_draft(dec!(100), *province, false, DRAFTED_AT);
        let lines: Vec<TaxLine> = components
            .iter()
            .map(|(code, rate, amount)| tax_line(*code, *rate, dec!(100.00), *amount))
            .collect();
        let tax_total = lines.iter().map(|l| l.amount).sum();
        assert_eq!(
            drafted.draft.totals,
            totals(dec!(100.00), lines, tax_total, *total, day_of(DRAFTED_AT)),
            "{province}"
        );
    }
}

#[test]
fn a_tax_exempt_quote_has_no_tax_lines() {
    let drafted = single_item_draft(dec!(1234.56), Province::Qc, true, DRAFTED_AT);
    assert_eq!(
        drafted.draft.totals,
        totals(
            dec!(1234.56),
            vec![],
            dec!(0.00),
            dec!(1234.56),
            day_of(DRAFTED_AT)
        )
    );
    assert!(drafted.draft.tax_exempt);
    assert_cents(drafted.draft.totals.tax_total, "0.00");
}

#[test]
fn drafting_before_the_tax_table_starts_is_rejected_unless_tax_exempt() {
    let input = QuoteInput {
        valid_until: date(2019, 7, 15),
        ..quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command("2019-06-30T12:00:00Z", draft_with(input.clone())))
        .then_expect_error(invalid(
            "province",
            "no tax rates are known before 2019-07-01",
        ));
    let exempt = QuoteInput {
        tax_exempt: true,
        ..input
    };
    let drafted = drafted_of(only_event(run(
        &[],
        command("2019-06-30T12:00:00Z", draft_with(exempt)),
    )));
    assert!(drafted.draft.totals.tax_lines.is_empty());
}

#[test]
fn drafting_names_every_invalid_item_field() {
    let input = QuoteInput {
        items: vec![
            movers_input(),
            item(ITEM_BOXES, "Boxes", dec!(0), dec!(10.001)),
            item(ITEM_PIANO, "  ", dec!(1.0005), dec!(-1)),
        ],
        ..quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(input)))
        .then_expect_error(invalid_all(&[
            ("items[1].quantity", "must be greater than 0"),
            ("items[1].unit_price", "must have at most 2 decimal places"),
            ("items[2].description", "must not be empty"),
            ("items[2].quantity", "must have at most 3 decimal places"),
            ("items[2].unit_price", "must not be negative"),
        ]));
}

#[test]
fn an_item_id_given_twice_is_rejected() {
    let input = QuoteInput {
        items: vec![
            movers_input(),
            ItemInput {
                item_id: Some(ITEM_MOVERS),
                ..boxes_input()
            },
        ],
        ..quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(input)))
        .then_expect_error(invalid("items[1].item_id", "appears twice"));
}

#[test]
fn a_quote_without_items_needs_hourly_pricing() {
    let input = QuoteInput {
        items: vec![],
        ..quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(input)))
        .then_expect_error(invalid("items", "must have at least one item"));
}

#[test]
fn more_than_two_hundred_items_are_rejected() {
    let items = (0..201u128)
        .map(|i| item(Uuid::from_u128(0xabc0_0000 + i), "Box", dec!(1), dec!(1)))
        .collect();
    let input = QuoteInput {
        items,
        ..quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(input)))
        .then_expect_error(invalid("items", "must have at most 200 items"));
}

#[test]
fn a_valid_until_date_in_the_past_is_rejected() {
    let input = QuoteInput {
        valid_until: date(2026, 3, 9),
        ..quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(input)))
        .then_expect_error(invalid("valid_until", "must not be in the past"));
}

#[test]
fn a_valid_until_date_more_than_366_days_ahead_is_rejected() {
    let input = QuoteInput {
        valid_until: date(2027, 3, 12),
        ..quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(input)))
        .then_expect_error(invalid("valid_until", "must be at most 366 days ahead"));
}

#[test]
fn a_quote_may_be_valid_from_today_up_to_366_days_ahead() {
    for valid_until in [date(2026, 3, 10), date(2027, 3, 11)] {
        let input = QuoteInput {
            valid_until,
            ..quote_input()
        };
        let drafted = drafted_of(only_event(run(&[], command(DRAFTED_AT, draft_with(input)))));
        assert_eq!(drafted.draft.valid_until, valid_until);
    }
}

#[test]
fn hourly_pricing_is_required_for_an_hourly_quote() {
    let input = QuoteInput {
        hourly: None,
        ..hourly_quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(input)))
        .then_expect_error(invalid("hourly", "is required when pricing_type is HOURLY"));
}

#[test]
fn hourly_pricing_is_rejected_on_a_quote_that_is_not_hourly() {
    for pricing_type in [
        PricingType::Binding,
        PricingType::NonBinding,
        PricingType::NotToExceed,
    ] {
        let input = QuoteInput {
            pricing_type,
            hourly: Some(hourly_input()),
            ..quote_input()
        };
        quote()
            .given_no_previous_events()
            .when(command(DRAFTED_AT, draft_with(input)))
            .then_expect_error(invalid(
                "hourly",
                "is only allowed when pricing_type is HOURLY",
            ));
    }
}

#[test]
fn every_invalid_hourly_field_is_named() {
    let input = QuoteInput {
        hourly: Some(HourlyInput {
            rate: dec!(-1),
            estimated_hours: dec!(0),
            minimum_hours: dec!(1.005),
        }),
        ..hourly_quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(input)))
        .then_expect_error(invalid_all(&[
            ("hourly.rate", "must not be negative"),
            (
                "hourly.estimated_hours",
                "must be more than 0 and at most 1000",
            ),
            ("hourly.minimum_hours", "must have at most 2 decimal places"),
        ]));
    let too_long = QuoteInput {
        hourly: Some(HourlyInput {
            estimated_hours: dec!(1000.01),
            ..hourly_input()
        }),
        ..hourly_quote_input()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, draft_with(too_long)))
        .then_expect_error(invalid(
            "hourly.estimated_hours",
            "must be more than 0 and at most 1000",
        ));
}

#[test]
fn a_template_needs_a_name() {
    for name in [None, Some("   ")] {
        let cmd = DraftQuote {
            quote_id: TEMPLATE_ID,
            is_template: true,
            input: QuoteInput {
                template_name: name.map(str::to_owned),
                ..quote_input()
            },
            ..draft_quote()
        };
        quote()
            .given_no_previous_events()
            .when(command(DRAFTED_AT, QuoteAction::Draft(cmd)))
            .then_expect_error(invalid("template_name", "a template needs a name"));
    }
}

#[test]
fn drafting_a_template_records_its_name() {
    let cmd = DraftQuote {
        quote_id: TEMPLATE_ID,
        is_template: true,
        location_id: None,
        parties: QuoteParties {
            lead_id: None,
            ..draft_quote().parties
        },
        input: QuoteInput {
            template_name: Some(" Two-bedroom apartment ".into()),
            ..quote_input()
        },
        ..draft_quote()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, QuoteAction::Draft(cmd)))
        .then_expect_events(vec![template_drafted().into()]);
    assert!(state_after(vec![template_drafted().into()]).is_template);
}

#[test]
fn the_currency_must_be_a_three_letter_iso_code_and_defaults_to_cad() {
    for bad in ["usd", "CA", "EURO"] {
        let input = QuoteInput {
            currency: Some(bad.into()),
            ..quote_input()
        };
        quote()
            .given_no_previous_events()
            .when(command(DRAFTED_AT, draft_with(input)))
            .then_expect_error(invalid(
                "currency",
                "must be a three-letter ISO 4217 code like CAD",
            ));
    }
    let input = QuoteInput {
        currency: Some("USD".into()),
        ..quote_input()
    };
    let drafted = drafted_of(only_event(run(&[], command(DRAFTED_AT, draft_with(input)))));
    assert_eq!(drafted.draft.currency, "USD");
}

#[test]
fn an_invalid_location_id_is_rejected() {
    let cmd = DraftQuote {
        location_id: Some("north york!".into()),
        ..draft_quote()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, QuoteAction::Draft(cmd)))
        .then_expect_error(invalid(
            "location_id",
            "must be 1 to 64 characters of letters, digits, - and _",
        ));
}

#[test]
fn every_invalid_field_of_a_draft_is_reported_at_once() {
    let input = QuoteInput {
        currency: Some("cad".into()),
        valid_until: date(2026, 1, 1),
        hourly: Some(hourly_input()),
        items: vec![item(ITEM_MOVERS, "Move", dec!(-1), dec!(100))],
        ..quote_input()
    };
    let fields = rejected_fields(run(&[], command(DRAFTED_AT, draft_with(input))));
    assert_eq!(
        fields,
        ["currency", "valid_until", "hourly", "items[0].quantity"]
    );
}

#[test]
fn an_invalid_location_id_is_reported_together_with_the_other_invalid_fields() {
    let cmd = DraftQuote {
        location_id: Some("north york!".into()),
        input: QuoteInput {
            currency: Some("cad".into()),
            ..quote_input()
        },
        ..draft_quote()
    };
    let mut fields = rejected_fields(run(&[], command(DRAFTED_AT, QuoteAction::Draft(cmd))));
    fields.sort();
    assert_eq!(fields, ["currency", "location_id"]);
}

#[test]
fn a_quote_for_an_inactive_customer_is_rejected() {
    let cmd = DraftQuote {
        parties: QuoteParties {
            customer_active: false,
            ..draft_quote().parties
        },
        ..draft_quote()
    };
    quote()
        .given_no_previous_events()
        .when(command(DRAFTED_AT, QuoteAction::Draft(cmd)))
        .then_expect_error(QuoteError::CustomerInactive(CUSTOMER_ID));
}

#[test]
fn drafting_a_quote_that_already_exists_is_rejected() {
    for status in ALL_STATUSES {
        quote()
            .given(history_to(status))
            .when(command(LATER, QuoteAction::Draft(draft_quote())))
            .then_expect_error(QuoteError::AlreadyExists(QUOTE_ID));
    }
}

// ================================================================ Update

const EDITED_AT: &str = "2026-03-10T16:00:00Z";

#[test]
fn editing_the_items_of_a_draft_replaces_them_all_and_reprices() {
    let storage = ItemInput {
        category: QuoteItemCategory::StorageServices,
        ..item(ITEM_STORAGE, "Storage, first month", dec!(1), dec!(180))
    };
    let storage_line = LineItem {
        category: QuoteItemCategory::StorageServices,
        ..line(
            ITEM_STORAGE,
            "Storage, first month",
            dec!(1),
            dec!(180.00),
            dec!(180.00),
            1,
        )
    };
    quote()
        .given(given_draft())
        .when(command(
            EDITED_AT,
            update(|u| u.items = Some(vec![movers_input(), storage])),
        ))
        .then_expect_events(vec![
            QuoteDraftUpdated {
                draft: QuoteTerms {
                    items: vec![movers_line(0), storage_line],
                    // 1 380.00 × 13 % = 179.40
                    totals: on_totals(
                        dec!(1380.00),
                        dec!(179.40),
                        dec!(1559.40),
                        day_of(EDITED_AT),
                    ),
                    ..quote_terms()
                },
                changed_fields: vec!["items".into()],
            }
            .into(),
        ]);
}

#[test]
fn editing_fields_of_a_draft_records_the_complete_terms_and_what_changed() {
    quote()
        .given(given_draft())
        .when(command(
            EDITED_AT,
            update(|u| {
                u.valid_until = Some(date(2026, 4, 30));
                u.notes = Patch::Set("Elevator booked 9-11".into());
                u.terms = Patch::Clear;
                u.province = Some(Province::Qc);
            }),
        ))
        .then_expect_events(vec![
            QuoteDraftUpdated {
                draft: QuoteTerms {
                    valid_until: date(2026, 4, 30),
                    terms: None,
                    notes: Some("Elevator booked 9-11".into()),
                    province: Province::Qc,
                    totals: totals(
                        dec!(1225.03),
                        vec![
                            // 61.2515 → 61.25
                            tax_line(TaxCode::Gst, dec!(0.05), dec!(1225.03), dec!(61.25)),
                            // 122.1967425 → 122.20
                            tax_line(TaxCode::Qst, dec!(0.09975), dec!(1225.03), dec!(122.20)),
                        ],
                        dec!(183.45),
                        dec!(1408.48),
                        day_of(EDITED_AT),
                    ),
                    ..quote_terms()
                },
                changed_fields: vec![
                    "valid_until".into(),
                    "terms".into(),
                    "notes".into(),
                    "province".into(),
                ],
            }
            .into(),
        ]);
}

#[test]
fn an_edit_that_changes_nothing_records_no_events() {
    quote()
        .given(given_draft())
        .when(command(EDITED_AT, update(|_| {})))
        .then_expect_events(vec![]);
    quote()
        .given(given_draft())
        .when(command(
            EDITED_AT,
            update(|u| {
                u.currency = Some("CAD".into());
                u.province = Some(Province::On);
                u.terms = Patch::Set("Payment due on delivery.".into());
                u.notes = Patch::Clear;
                u.items = Some(vec![movers_input(), boxes_input(), piano_input()]);
            }),
        ))
        .then_expect_events(vec![]);
}

#[test]
fn only_a_draft_can_be_edited() {
    for status in [Sent, Viewed, Accepted, Rejected, Expired, Converted] {
        quote()
            .given(history_to(status))
            .when(command(LATER, update(|u| u.notes = Patch::Set("x".into()))))
            .then_expect_error(wrong_status(status, "edited", "DRAFT"));
    }
}

#[test]
fn an_edit_with_invalid_fields_names_them() {
    let fields = rejected_fields(run(
        &given_draft(),
        command(
            EDITED_AT,
            update(|u| {
                u.currency = Some("cad".into());
                u.items = Some(vec![
                    movers_input(),
                    item(ITEM_BOXES, "Boxes", dec!(0), dec!(1)),
                ]);
            }),
        ),
    ));
    assert_eq!(fields, ["currency", "items[1].quantity"]);
}

#[test]
fn leaving_hourly_pricing_drops_the_hours() {
    let events = run(
        &[hourly_quote_drafted().into()],
        command(
            EDITED_AT,
            update(|u| u.pricing_type = Some(PricingType::NotToExceed)),
        ),
    )
    .expect("edit accepted");
    let QuoteEvent::QuoteDraftUpdated(updated) = &events[0] else {
        panic!("expected QuoteDraftUpdated, got {events:?}");
    };
    assert_eq!(updated.draft.hourly, None);
    assert_eq!(updated.changed_fields, ["pricing_type", "hourly"]);
    // Only the boxes are left: 25.03, HST 3.2539 → 3.25
    assert_eq!(
        updated.draft.totals,
        on_totals(dec!(25.03), dec!(3.25), dec!(28.28), day_of(EDITED_AT))
    );
}

#[test]
fn switching_to_hourly_pricing_needs_the_hours() {
    quote()
        .given(given_draft())
        .when(command(
            EDITED_AT,
            update(|u| u.pricing_type = Some(PricingType::Hourly)),
        ))
        .then_expect_error(invalid("hourly", "is required when pricing_type is HOURLY"));
    let events = run(
        &given_draft(),
        command(
            EDITED_AT,
            update(|u| {
                u.pricing_type = Some(PricingType::Hourly);
                u.hourly = Patch::Set(hourly_input());
            }),
        ),
    )
    .expect("edit accepted");
    let QuoteEvent::QuoteDraftUpdated(updated) = &events[0] else {
        panic!("expected QuoteDraftUpdated, got {events:?}");
    };
    assert_eq!(updated.draft.hourly, Some(hourly_pricing()));
    assert_eq!(updated.draft.totals.subtotal, dec!(1675.03));
    assert_eq!(updated.changed_fields, ["pricing_type", "hourly"]);
}

#[test]
fn clearing_the_hours_of_an_hourly_quote_is_rejected() {
    quote()
        .given(vec![hourly_quote_drafted().into()])
        .when(command(EDITED_AT, update(|u| u.hourly = Patch::Clear)))
        .then_expect_error(invalid("hourly", "is required when pricing_type is HOURLY"));
}

#[test]
fn a_template_can_be_edited_but_not_left_without_a_name() {
    let template = vec![template_drafted().into()];
    quote()
        .given(template.clone())
        .when(command(
            EDITED_AT,
            update(|u| u.template_name = Patch::Clear),
        ))
        .then_expect_error(invalid("template_name", "a template needs a name"));
    quote()
        .given(template)
        .when(command(
            EDITED_AT,
            update(|u| u.template_name = Patch::Set("Studio".into())),
        ))
        .then_expect_events(vec![
            QuoteDraftUpdated {
                draft: QuoteTerms {
                    template_name: Some("Studio".into()),
                    totals: base_totals(day_of(EDITED_AT)),
                    ..quote_terms()
                },
                changed_fields: vec!["template_name".into()],
            }
            .into(),
        ]);
}

#[test]
fn a_draft_whose_validity_passed_is_edited_only_with_a_new_valid_until() {
    let at = "2026-04-10T09:00:00Z";
    quote()
        .given(given_draft())
        .when(command(at, update(|u| u.notes = Patch::Set("x".into()))))
        .then_expect_error(invalid("valid_until", "must not be in the past"));
    let events = run(
        &given_draft(),
        command(at, update(|u| u.valid_until = Some(date(2026, 5, 1)))),
    )
    .expect("edit accepted");
    assert!(matches!(
        &events[..],
        [QuoteEvent::QuoteDraftUpdated(u)] if u.changed_fields == ["valid_until"]
    ));
}

#[test]
fn an_edit_withdraws_the_approval_so_sending_over_the_threshold_needs_a_new_one() {
    let mut history = given_draft();
    then_run(
        &mut history,
        command_by(MANAGER, "2026-03-10T15:00:00Z", QuoteAction::Approve),
    );
    assert!(state_after(history.clone()).approved.is_some());
    // Approved: sending over the threshold would be fine now.
    assert!(run(&history, command(SENT_AT, send(Some(dec!(1000))))).is_ok());
    then_run(
        &mut history,
        command(
            EDITED_AT,
            update(|u| u.notes = Patch::Set("Two flights of stairs".into())),
        ),
    );
    assert_eq!(state_after(history.clone()).approved, None);
    quote()
        .given(history)
        .when(command(SENT_AT, send(Some(dec!(1000)))))
        .then_expect_error(QuoteError::ApprovalRequired {
            total: dec!(1384.28),
            threshold: dec!(1000),
            revision: 1,
        });
}

// ================================================================ Approve and send

#[test]
fn approving_a_draft_records_the_revision_the_manager_and_the_total() {
    quote()
        .given(given_draft())
        .when(command_by(
            MANAGER,
            "2026-03-10T15:00:00Z",
            QuoteAction::Approve,
        ))
        .then_expect_events(vec![approved(1, "2026-03-10T15:00:00Z", dec!(1384.28))]);
}

#[test]
fn only_a_draft_can_be_approved() {
    for status in [Sent, Viewed, Accepted, Rejected, Expired, Converted] {
        quote()
            .given(history_to(status))
            .when(command_by(MANAGER, LATER, QuoteAction::Approve))
            .then_expect_error(wrong_status(status, "approved", "DRAFT"));
    }
}

#[test]
fn sending_a_draft_records_the_totals_at_the_send_date_and_the_threshold() {
    quote()
        .given(given_draft())
        .when(command(SENT_AT, send(Some(dec!(5000)))))
        .then_expect_events(vec![sent(
            1,
            SENT_AT,
            base_totals(day_of(SENT_AT)),
            Some(dec!(5000)),
        )]);
    let state = state_after(history_to(Sent));
    assert_eq!(state.status(), Sent);
    assert_eq!(state.sent_totals, Some(base_totals(day_of(SENT_AT))));
}

#[test]
fn sending_over_the_threshold_without_approval_is_rejected_naming_total_threshold_and_revision() {
    let result = run(&given_draft(), command(SENT_AT, send(Some(dec!(1000)))));
    assert_eq!(
        result,
        Err(QuoteError::ApprovalRequired {
            total: dec!(1384.28),
            threshold: dec!(1000),
            revision: 1,
        })
    );
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the total 1384.28 is above the approval limit of 1000; a manager must approve revision 1 before it is sent"
    );
    assert_eq!(
        error.kind(),
        ErrorKind::Conflict {
            rule: "quote.approval-required"
        }
    );
}

#[test]
fn an_approved_revision_is_sent_over_the_threshold() {
    quote()
        .given(vec![
            quote_drafted().into(),
            approved(1, "2026-03-10T15:00:00Z", dec!(1384.28)),
        ])
        .when(command(SENT_AT, send(Some(dec!(1000)))))
        .then_expect_events(vec![sent(
            1,
            SENT_AT,
            base_totals(day_of(SENT_AT)),
            Some(dec!(1000)),
        )]);
}

#[test]
fn the_approval_of_an_earlier_revision_does_not_count_after_a_revise() {
    let history = vec![
        quote_drafted().into(),
        approved(1, "2026-03-10T15:00:00Z", dec!(1384.28)),
        sent(1, SENT_AT, base_totals(day_of(SENT_AT)), Some(dec!(1000))),
        revised(1, "2026-03-12T09:00:00Z"),
    ];
    assert_eq!(state_after(history.clone()).approved, None);
    quote()
        .given(history.clone())
        .when(command(LATER, send(Some(dec!(1000)))))
        .then_expect_error(QuoteError::ApprovalRequired {
            total: dec!(1384.28),
            threshold: dec!(1000),
            revision: 2,
        });
    // Even an approval event of revision 1 replayed after the revise does not cover revision 2.
    let mut stale = history;
    stale.push(approved(1, "2026-03-12T10:00:00Z", dec!(1384.28)));
    quote()
        .given(stale)
        .when(command(LATER, send(Some(dec!(1000)))))
        .then_expect_error(QuoteError::ApprovalRequired {
            total: dec!(1384.28),
            threshold: dec!(1000),
            revision: 2,
        });
}

#[test]
fn a_total_at_or_below_the_threshold_is_sent_without_approval() {
    for threshold in [dec!(1384.28), dec!(1384.29), dec!(100000)] {
        quote()
            .given(given_draft())
            .when(command(SENT_AT, send(Some(threshold))))
            .then_expect_events(vec![sent(
                1,
                SENT_AT,
                base_totals(day_of(SENT_AT)),
                Some(threshold),
            )]);
    }
}

#[test]
fn without_a_threshold_any_total_is_sent_without_approval() {
    quote()
        .given(given_draft())
        .when(command(SENT_AT, send(None)))
        .then_expect_events(vec![sent(1, SENT_AT, base_totals(day_of(SENT_AT)), None)]);
}

#[test]
fn an_approval_at_a_higher_total_covers_the_same_revision_after_a_tax_cut() {
    // Nova Scotia's HST fell from 15 % to 14 % on 2025-04-01.
    let drafted = single_item_draft(dec!(1000), Province::Ns, false, "2025-03-20T12:00:00Z");
    let history = vec![
        QuoteEvent::from(drafted),
        approved(1, "2025-03-31T12:00:00Z", dec!(1150.00)),
    ];
    let events = run(
        &history,
        command("2025-04-01T12:00:00Z", send(Some(dec!(1000)))),
    )
    .expect("sent");
    assert_eq!(
        events,
        [sent(
            1,
            "2025-04-01T12:00:00Z",
            totals(
                dec!(1000.00),
                vec![tax_line(
                    TaxCode::Hst,
                    dec!(0.14),
                    dec!(1000.00),
                    dec!(140.00)
                )],
                dec!(140.00),
                dec!(1140.00),
                date(2025, 4, 1),
            ),
            Some(dec!(1000)),
        )]
    );
}

#[test]
fn a_quote_whose_validity_passed_cannot_be_sent() {
    quote()
        .given(given_draft())
        .when(command("2026-04-10T00:00:00Z", send(None)))
        .then_expect_error(QuoteError::ValidityPassed(valid_until(), "sent"));
    // On the valid-until day itself it still goes out.
    assert!(run(&given_draft(), command("2026-04-09T23:59:59Z", send(None))).is_ok());
}

#[test]
fn only_a_draft_can_be_sent() {
    for status in [Sent, Viewed, Accepted, Rejected, Expired, Converted] {
        quote()
            .given(history_to(status))
            .when(command(LATER, send(None)))
            .then_expect_error(wrong_status(status, "sent", "DRAFT"));
    }
}

#[test]
fn a_template_cannot_be_sent_approved_or_revised() {
    for action in [
        send(None),
        send(Some(dec!(1))),
        QuoteAction::Approve,
        QuoteAction::Revise,
    ] {
        quote()
            .given(vec![template_drafted().into()])
            .when(command(LATER, action))
            .then_expect_error(QuoteError::IsTemplate);
    }
}

// ================================================================ View

#[test]
fn viewing_a_sent_quote_marks_it_viewed() {
    quote()
        .given(history_to(Sent))
        .when(command(VIEWED_AT, QuoteAction::View))
        .then_expect_events(vec![viewed(1, VIEWED_AT)]);
    assert_eq!(state_after(history_to(Viewed)).status(), Viewed);
}

#[test]
fn viewing_a_viewed_quote_again_records_nothing() {
    quote()
        .given(history_to(Viewed))
        .when(command(LATER, QuoteAction::View))
        .then_expect_events(vec![]);
}

#[test]
fn viewing_a_quote_that_was_not_sent_is_rejected() {
    for status in [Draft, Accepted, Rejected, Expired, Converted] {
        quote()
            .given(history_to(status))
            .when(command(LATER, QuoteAction::View))
            .then_expect_error(wrong_status(status, "viewed", "SENT"));
    }
}

// ================================================================ Accept

#[test]
fn accepting_a_sent_quote_records_the_signer_ip_revision_time_and_totals() {
    quote()
        .given(history_to(Sent))
        .when(command(ACCEPTED_AT, accept(vec![])))
        .then_expect_events(vec![
            quote_accepted(1, ACCEPTED_AT, vec![], base_totals(day_of(ACCEPTED_AT))).into(),
        ]);
}

#[test]
fn accepting_a_viewed_quote_moves_it_to_accepted() {
    let mut history = history_to(Viewed);
    let events = then_run(&mut history, command(ACCEPTED_AT, accept(vec![])));
    assert_eq!(
        events,
        [quote_accepted(1, ACCEPTED_AT, vec![], base_totals(day_of(ACCEPTED_AT))).into()]
    );
    let state = state_after(history);
    assert_eq!(state.status(), Accepted);
    assert_eq!(state.accepted_total(), Some(dec!(1384.28)));
}

#[test]
fn only_a_sent_or_viewed_quote_can_be_accepted() {
    for status in [Draft, Accepted, Rejected, Expired, Converted] {
        quote()
            .given(history_to(status))
            .when(command(LATER, accept(vec![])))
            .then_expect_error(wrong_status(status, "accepted", "SENT or VIEWED"));
    }
}

#[test]
fn accepting_a_superseded_revision_is_rejected() {
    let mut history = history_to(Sent);
    history.push(revised(1, "2026-03-11T12:00:00Z"));
    history.push(sent(
        2,
        "2026-03-11T13:00:00Z",
        base_totals(day_of(SENT_AT)),
        None,
    ));
    quote()
        .given(history.clone())
        .when(command(ACCEPTED_AT, accept(vec![])))
        .then_expect_error(QuoteError::RevisionSuperseded {
            offered: 1,
            current: 2,
        });
    let events = run(
        &history,
        command(ACCEPTED_AT, accept_with(|a| a.revision = 2)),
    )
    .expect("the current revision is accepted");
    assert_eq!(accepted_of(events[0].clone()).revision, 2);
}

#[test]
fn accepting_after_valid_until_is_rejected() {
    quote()
        .given(history_to(Viewed))
        .when(command("2026-04-10T00:00:00Z", accept(vec![])))
        .then_expect_error(QuoteError::ValidityPassed(valid_until(), "accepted"));
}

#[test]
fn accepting_on_the_valid_until_day_itself_is_allowed() {
    let at = "2026-04-09T23:59:59Z";
    quote()
        .given(history_to(Viewed))
        .when(command(at, accept(vec![])))
        .then_expect_events(vec![
            quote_accepted(1, at, vec![], base_totals(valid_until())).into(),
        ]);
}

#[test]
fn selected_optional_items_are_counted_in_the_accepted_totals() {
    quote()
        .given(history_to(Viewed))
        .when(command(ACCEPTED_AT, accept(vec![ITEM_PIANO])))
        .then_expect_events(vec![
            quote_accepted(
                1,
                ACCEPTED_AT,
                vec![ITEM_PIANO],
                totals_with_piano(day_of(ACCEPTED_AT)),
            )
            .into(),
        ]);
}

#[test]
fn an_optional_item_selected_twice_is_counted_once() {
    quote()
        .given(history_to(Viewed))
        .when(command(ACCEPTED_AT, accept(vec![ITEM_PIANO, ITEM_PIANO])))
        .then_expect_events(vec![
            quote_accepted(
                1,
                ACCEPTED_AT,
                vec![ITEM_PIANO],
                totals_with_piano(day_of(ACCEPTED_AT)),
            )
            .into(),
        ]);
}

#[test]
fn selecting_a_required_or_unknown_item_names_its_position() {
    let message = "is not an optional item of this quote";
    quote()
        .given(history_to(Viewed))
        .when(command(
            ACCEPTED_AT,
            accept(vec![ITEM_PIANO, ITEM_MOVERS, UNKNOWN_ITEM]),
        ))
        .then_expect_error(invalid_all(&[
            ("selected_optional_items[1]", message),
            ("selected_optional_items[2]", message),
        ]));
}

#[test]
fn an_acceptance_from_an_invalid_ip_address_is_rejected() {
    for ip in ["300.1.1.1", "localhost", "203.0.113.7:443"] {
        quote()
            .given(history_to(Viewed))
            .when(command(
                ACCEPTED_AT,
                accept_with(|a| a.accepted_ip = Some(ip.into())),
            ))
            .then_expect_error(invalid("accepted_ip", "must be an IPv4 or IPv6 address"));
    }
}

#[test]
fn the_acceptance_ip_is_normalized_and_optional() {
    for (ip, recorded) in [
        (Some(" 2001:DB8:0:0:0:0:0:1 "), Some("2001:db8::1")),
        (Some(""), None),
        (None, None),
    ] {
        let events = run(
            &history_to(Viewed),
            command(
                ACCEPTED_AT,
                accept_with(|a| a.accepted_ip = ip.map(str::to_owned)),
            ),
        )
        .expect("accepted");
        assert_eq!(
            accepted_of(events[0].clone()).accepted_ip.as_deref(),
            recorded,
            "{ip:?}"
        );
    }
}

#[test]
fn the_signer_name_is_required_and_trimmed() {
    quote()
        .given(history_to(Viewed))
        .when(command(
            ACCEPTED_AT,
            accept_with(|a| a.accepted_by_name = "   ".into()),
        ))
        .then_expect_error(invalid("accepted_by_name", "must not be empty"));
    let events = run(
        &history_to(Viewed),
        command(
            ACCEPTED_AT,
            accept_with(|a| a.accepted_by_name = "  Jane Doe ".into()),
        ),
    )
    .expect("accepted");
    assert_eq!(accepted_of(events[0].clone()).accepted_by_name, SIGNER);
}

#[test]
fn every_invalid_field_of_an_acceptance_is_reported_at_once() {
    let fields = rejected_fields(run(
        &history_to(Viewed),
        command(
            ACCEPTED_AT,
            accept_with(|a| {
                a.accepted_by_name = String::new();
                a.accepted_ip = Some("nope".into());
                a.selected_optional_items = vec![ITEM_BOXES];
            }),
        ),
    ));
    assert_eq!(
        fields,
        [
            "accepted_by_name",
            "accepted_ip",
            "selected_optional_items[0]"
        ]
    );
}

// ================================================================ Reject

#[test]
fn rejecting_a_sent_or_viewed_quote_records_the_reason() {
    for status in [Sent, Viewed] {
        quote()
            .given(history_to(status))
            .when(command(REJECTED_AT, reject("  Found a cheaper mover ")))
            .then_expect_events(vec![rejected(1, REJECTED_AT)]);
    }
    let state = state_after(history_to(Rejected));
    assert_eq!(state.status(), Rejected);
    assert_eq!(state.rejection_reason.as_deref(), Some(REJECTION));
}

#[test]
fn a_rejection_needs_a_reason() {
    quote()
        .given(history_to(Viewed))
        .when(command(REJECTED_AT, reject(" ")))
        .then_expect_error(invalid("reason", "must not be empty"));
}

#[test]
fn only_a_sent_or_viewed_quote_can_be_rejected() {
    for status in [Draft, Accepted, Rejected, Expired, Converted] {
        quote()
            .given(history_to(status))
            .when(command(LATER, reject(REJECTION)))
            .then_expect_error(wrong_status(status, "rejected", "SENT or VIEWED"));
    }
}

// ================================================================ Revise

#[test]
fn revising_reopens_the_next_revision_in_draft() {
    for status in [Sent, Viewed, Rejected, Expired] {
        let mut history = history_to(status);
        let events = then_run(&mut history, command(LATER, QuoteAction::Revise));
        assert_eq!(events, [revised(1, LATER)], "{status}");
        let state = state_after(history);
        assert_eq!(state.status(), Draft, "{status}");
        assert_eq!(state.revision, 2);
        assert_eq!(state.sent_totals, None);
        assert_eq!(state.rejection_reason, None);
        assert_eq!(state.approved, None);
    }
}

#[test]
fn a_second_revise_counts_on_from_the_current_revision() {
    let mut history = history_to(Rejected);
    history.push(revised(1, "2026-03-12T12:00:00Z"));
    history.push(sent(
        2,
        "2026-03-12T13:00:00Z",
        base_totals(date(2026, 3, 12)),
        None,
    ));
    quote()
        .given(history)
        .when(command(LATER, QuoteAction::Revise))
        .then_expect_events(vec![revised(2, LATER)]);
}

#[test]
fn a_draft_or_an_accepted_quote_cannot_be_revised() {
    for status in [Draft, Accepted, Converted] {
        quote()
            .given(history_to(status))
            .when(command(LATER, QuoteAction::Revise))
            .then_expect_error(wrong_status(
                status,
                "revised",
                "SENT, VIEWED, REJECTED or EXPIRED",
            ));
    }
}

// ================================================================ Expire

fn expire(today: NaiveDate) -> QuoteAction {
    QuoteAction::Expire { today }
}

#[test]
fn the_expiry_policy_expires_a_sent_or_viewed_quote_past_its_valid_until() {
    for status in [Sent, Viewed] {
        let mut history = history_to(status);
        let events = then_run(&mut history, command(EXPIRED_AT, expire(date(2026, 4, 10))));
        assert_eq!(events, [expired(1, EXPIRED_AT)]);
        assert_eq!(state_after(history).status(), Expired);
    }
}

#[test]
fn the_expiry_policy_leaves_a_quote_alone_on_its_valid_until_day() {
    quote()
        .given(history_to(Sent))
        .when(command(EXPIRED_AT, expire(valid_until())))
        .then_expect_events(vec![]);
}

#[test]
fn the_expiry_policy_never_fails_and_ignores_quotes_not_waiting_for_an_answer() {
    for status in [Draft, Accepted, Rejected, Expired, Converted] {
        quote()
            .given(history_to(status))
            .when(command(EXPIRED_AT, expire(date(2026, 12, 31))))
            .then_expect_events(vec![]);
    }
    quote()
        .given(vec![template_drafted().into()])
        .when(command(EXPIRED_AT, expire(date(2026, 12, 31))))
        .then_expect_events(vec![]);
}

// ================================================================ Convert

#[test]
fn converting_an_accepted_quote_records_the_journey() {
    let mut history = history_to(Accepted);
    let events = then_run(
        &mut history,
        command(
            CONVERTED_AT,
            QuoteAction::Convert {
                journey_id: JOURNEY_ID,
            },
        ),
    );
    assert_eq!(events, [converted(CONVERTED_AT)]);
    let state = state_after(history);
    assert_eq!(state.status(), Converted);
    assert_eq!(state.journey_id, Some(JOURNEY_ID));
}

#[test]
fn only_an_accepted_quote_can_be_converted() {
    for status in [Draft, Sent, Viewed, Rejected, Expired, Converted] {
        quote()
            .given(history_to(status))
            .when(command(
                LATER,
                QuoteAction::Convert {
                    journey_id: JOURNEY_ID,
                },
            ))
            .then_expect_error(wrong_status(status, "converted", "ACCEPTED"));
    }
}

// ================================================================ RecordDeposit

fn record_deposit(payment_id: Uuid, amount: Decimal) -> QuoteAction {
    QuoteAction::RecordDeposit(payment_input(payment_id, amount))
}

#[test]
fn a_deposit_on_an_accepted_or_converted_quote_is_recorded() {
    for status in [Accepted, Converted] {
        let mut history = history_to(status);
        let events = then_run(
            &mut history,
            command(LATER, record_deposit(PAYMENT_ID, dec!(500))),
        );
        assert_eq!(events, [deposit_recorded(PAYMENT_ID, dec!(500.00), LATER)]);
        let QuoteEvent::QuoteDepositRecorded(recorded) = &events[0] else {
            unreachable!()
        };
        assert_cents(recorded.payment.amount, "500.00");
        let state = state_after(history);
        assert_eq!(state.deposits_total(), dec!(500.00));
        assert_eq!(state.status(), status);
    }
}

#[test]
fn a_deposit_keeps_the_time_it_was_received() {
    let received = "2026-03-13T22:00:00Z";
    let input = PaymentInput {
        received_at: Some(ts(received)),
        ..payment_input(PAYMENT_ID, dec!(100))
    };
    quote()
        .given(history_to(Accepted))
        .when(command(LATER, QuoteAction::RecordDeposit(input)))
        .then_expect_events(vec![deposit_recorded(PAYMENT_ID, dec!(100), received)]);
}

#[test]
fn only_an_accepted_or_converted_quote_takes_a_deposit() {
    for status in [Draft, Sent, Viewed, Rejected, Expired] {
        quote()
            .given(history_to(status))
            .when(command(LATER, record_deposit(PAYMENT_ID, dec!(100))))
            .then_expect_error(wrong_status(
                status,
                "given a deposit",
                "ACCEPTED or CONVERTED",
            ));
    }
}

#[test]
fn deposits_may_add_up_to_the_accepted_total_but_not_beyond() {
    let mut history = history_to(Accepted);
    history.push(deposit_recorded(PAYMENT_ID, dec!(1000.00), LATER));
    quote()
        .given(history.clone())
        .when(command(
            LATER,
            record_deposit(OTHER_PAYMENT_ID, dec!(384.29)),
        ))
        .then_expect_error(QuoteError::DepositExceedsTotal {
            deposits: dec!(1384.29),
            total: dec!(1384.28),
        });
    quote()
        .given(history)
        .when(command(
            LATER,
            record_deposit(OTHER_PAYMENT_ID, dec!(384.28)),
        ))
        .then_expect_events(vec![deposit_recorded(
            OTHER_PAYMENT_ID,
            dec!(384.28),
            LATER,
        )]);
}

#[test]
fn deposits_are_limited_by_the_total_with_the_selected_optional_items() {
    let mut history = history_to(Viewed);
    history.push(
        quote_accepted(
            1,
            ACCEPTED_AT,
            vec![ITEM_PIANO],
            totals_with_piano(day_of(ACCEPTED_AT)),
        )
        .into(),
    );
    assert!(
        run(
            &history,
            command(LATER, record_deposit(PAYMENT_ID, dec!(1779.78)))
        )
        .is_ok()
    );
    quote()
        .given(history)
        .when(command(LATER, record_deposit(PAYMENT_ID, dec!(1779.79))))
        .then_expect_error(QuoteError::DepositExceedsTotal {
            deposits: dec!(1779.79),
            total: dec!(1779.78),
        });
}

#[test]
fn a_payment_id_is_recorded_only_once() {
    let mut history = history_to(Accepted);
    history.push(deposit_recorded(PAYMENT_ID, dec!(100.00), LATER));
    quote()
        .given(history)
        .when(command(LATER, record_deposit(PAYMENT_ID, dec!(100))))
        .then_expect_error(invalid("payment_id", "was already recorded"));
}

#[test]
fn an_invalid_deposit_names_its_fields() {
    quote()
        .given(history_to(Accepted))
        .when(command(LATER, record_deposit(PAYMENT_ID, dec!(0))))
        .then_expect_error(invalid("amount", "must be greater than 0"));
    let input = PaymentInput {
        processing_fee: Some(dec!(600)),
        ..payment_input(PAYMENT_ID, dec!(500))
    };
    quote()
        .given(history_to(Accepted))
        .when(command(LATER, QuoteAction::RecordDeposit(input)))
        .then_expect_error(invalid(
            "processing_fee",
            "must not exceed the payment amount",
        ));
}

#[test]
fn no_deposit_is_taken_on_the_quote_once_it_was_invoiced() {
    let mut history = history_to(Accepted);
    history.push(invoiced(INVOICE_ID, LATER));
    quote()
        .given(history)
        .when(command(LATER, record_deposit(PAYMENT_ID, dec!(100))))
        .then_expect_error(QuoteError::AlreadyInvoiced(INVOICE_ID));
}

// ================================================================ MarkInvoiced

fn mark_invoiced(invoice_id: Uuid) -> QuoteAction {
    QuoteAction::MarkInvoiced { invoice_id }
}

#[test]
fn marking_an_accepted_or_converted_quote_invoiced_records_the_invoice() {
    for status in [Accepted, Converted] {
        let mut history = history_to(status);
        let events = then_run(&mut history, command(LATER, mark_invoiced(INVOICE_ID)));
        assert_eq!(events, [invoiced(INVOICE_ID, LATER)]);
        let state = state_after(history);
        assert_eq!(state.invoice_id, Some(INVOICE_ID));
        assert_eq!(state.status(), status);
    }
}

#[test]
fn marking_invoiced_again_with_the_same_invoice_records_nothing() {
    let mut history = history_to(Accepted);
    history.push(invoiced(INVOICE_ID, LATER));
    quote()
        .given(history)
        .when(command(LATER, mark_invoiced(INVOICE_ID)))
        .then_expect_events(vec![]);
}

#[test]
fn a_quote_invoiced_once_cannot_be_invoiced_as_another_invoice() {
    let mut history = history_to(Accepted);
    history.push(invoiced(INVOICE_ID, LATER));
    quote()
        .given(history)
        .when(command(LATER, mark_invoiced(OTHER_INVOICE_ID)))
        .then_expect_error(QuoteError::AlreadyInvoiced(INVOICE_ID));
}

#[test]
fn only_an_accepted_or_converted_quote_can_be_invoiced() {
    for status in [Draft, Sent, Viewed, Rejected, Expired] {
        quote()
            .given(history_to(status))
            .when(command(LATER, mark_invoiced(INVOICE_ID)))
            .then_expect_error(wrong_status(status, "invoiced", "ACCEPTED or CONVERTED"));
    }
}

// ================================================================ accepted_items and copy_input

#[test]
fn the_accepted_items_are_the_required_and_selected_optional_ones_none_optional() {
    let mut history = history_to(Viewed);
    history.push(
        quote_accepted(
            1,
            ACCEPTED_AT,
            vec![ITEM_PIANO],
            totals_with_piano(day_of(ACCEPTED_AT)),
        )
        .into(),
    );
    let items = state_after(history).accepted_items();
    assert_eq!(
        items,
        [
            movers_line(0),
            boxes_line(1),
            LineItem {
                optional: false,
                ..piano_line(2)
            }
        ]
    );
    let without_piano = state_after(history_to(Accepted)).accepted_items();
    assert_eq!(without_piano, [movers_line(0), boxes_line(1)]);
}

#[test]
fn before_acceptance_there_are_no_accepted_items() {
    for status in [Draft, Sent, Viewed, Rejected, Expired] {
        let state = state_after(history_to(status));
        assert!(state.accepted_items().is_empty(), "{status}");
        assert_eq!(state.accepted_total(), None);
    }
    assert!(Quote::default().accepted_items().is_empty());
}

#[test]
fn hourly_labour_is_an_accepted_item_whose_line_total_is_the_labour_total() {
    let at = ACCEPTED_AT;
    let mut history = vec![hourly_quote_drafted().into()];
    then_run(&mut history, command(SENT_AT, send(None)));
    let events = then_run(&mut history, command(at, accept(vec![ITEM_PIANO])));
    // 25.03 + 350.00 + 450.00 = 825.03; HST 107.2539 → 107.25
    assert_eq!(
        accepted_of(events[0].clone()).totals,
        on_totals(dec!(825.03), dec!(107.25), dec!(932.28), day_of(at))
    );
    let items = state_after(history).accepted_items();
    let labour = LineItem {
        item_id: Uuid::new_v5(&QUOTE_ID, b"hourly-labour"),
        description: "Labour: 3 h at 150.00 per hour".into(),
        quantity: dec!(3),
        unit_price: dec!(150.00),
        line_total: dec!(450.00),
        category: QuoteItemCategory::MovingServices,
        subcategory: Some("labour".into()),
        optional: false,
        sort_order: 2,
        notes: None,
    };
    assert_eq!(
        items,
        [
            boxes_line(0),
            LineItem {
                optional: false,
                ..piano_line(1)
            },
            labour
        ]
    );
    let sum: Decimal = items.iter().map(|i| i.line_total).sum();
    assert_eq!(sum, dec!(825.03));
}

#[test]
fn hourly_labour_follows_every_item_even_after_the_largest_sort_order() {
    let input = QuoteInput {
        items: vec![ItemInput {
            sort_order: Some(i32::MAX),
            ..boxes_input()
        }],
        ..hourly_quote_input()
    };
    let drafted = run(&[], command(DRAFTED_AT, draft_with(input)));
    // Rejecting the sort order at draft would be a fix too.
    if let Err(QuoteError::Invalid(errors)) = &drafted {
        assert_eq!(errors.fields().collect::<Vec<_>>(), ["items[0].sort_order"]);
        return;
    }
    let mut history = drafted.expect("drafted");
    then_run(&mut history, command(SENT_AT, send(None)));
    then_run(&mut history, command(ACCEPTED_AT, accept(vec![])));
    let items = state_after(history).accepted_items();
    let labour = items.last().expect("the labour item");
    assert_eq!(labour.subcategory.as_deref(), Some("labour"));
    assert_eq!(labour.line_total, dec!(450.00));
    assert!(items.iter().all(|i| i.sort_order <= labour.sort_order));
}

#[test]
fn copying_a_template_gives_new_item_ids_and_drops_the_template_name() {
    let template = state_after(vec![template_drafted().into()]);
    let input = template.copy_input(date(2026, 5, 1)).expect("a template");
    let expected_items: Vec<ItemInput> = [movers_input(), boxes_input(), piano_input()]
        .into_iter()
        .enumerate()
        .map(|(i, item)| ItemInput {
            item_id: None,
            sort_order: Some(i as i32),
            ..item
        })
        .collect();
    assert_eq!(
        input,
        QuoteInput {
            currency: Some("CAD".into()),
            valid_until: date(2026, 5, 1),
            terms: Some("Payment due on delivery.".into()),
            template_name: None,
            items: expected_items,
            ..quote_input()
        }
    );
    // Drafting the copy gives a new quote with the template's prices and fresh items.
    let cmd = DraftQuote {
        copied_from: Some(TEMPLATE_ID),
        input,
        ..draft_quote()
    };
    let drafted = drafted_of(only_event(run(
        &[],
        command(EDITED_AT, QuoteAction::Draft(cmd)),
    )));
    assert_eq!(drafted.copied_from, Some(TEMPLATE_ID));
    assert!(!drafted.is_template);
    assert_eq!(drafted.draft.template_name, None);
    assert_eq!(drafted.draft.totals, base_totals(day_of(EDITED_AT)));
    for (copy, original) in drafted.draft.items.iter().zip(&quote_terms().items) {
        assert_ne!(copy.item_id, original.item_id);
        assert_eq!(
            LineItem {
                item_id: original.item_id,
                ..copy.clone()
            },
            *original
        );
    }
}

#[test]
fn copying_an_hourly_template_keeps_its_hours() {
    let mut drafted = hourly_quote_drafted();
    drafted.is_template = true;
    drafted.draft.template_name = Some("Hourly".into());
    let input = state_after(vec![drafted.into()])
        .copy_input(date(2026, 5, 1))
        .expect("a template");
    assert_eq!(input.pricing_type, PricingType::Hourly);
    assert_eq!(input.hourly, Some(hourly_input()));
}

#[test]
fn only_a_template_can_be_copied() {
    assert_eq!(
        state_after(given_draft()).copy_input(date(2026, 5, 1)),
        Err(QuoteError::NotATemplate(QUOTE_ID))
    );
    assert_eq!(
        Quote::default().copy_input(date(2026, 5, 1)),
        Err(QuoteError::NotFound)
    );
}

// ================================================================ missing quotes and error kinds

#[test]
fn every_command_on_a_missing_quote_is_not_found() {
    let actions = [
        update(|u| u.notes = Patch::Set("x".into())),
        QuoteAction::Approve,
        send(None),
        QuoteAction::View,
        accept(vec![]),
        reject(REJECTION),
        QuoteAction::Revise,
        expire(date(2026, 12, 31)),
        QuoteAction::Convert {
            journey_id: JOURNEY_ID,
        },
        record_deposit(PAYMENT_ID, dec!(100)),
        mark_invoiced(INVOICE_ID),
    ];
    for action in actions {
        quote()
            .given_no_previous_events()
            .when(command(LATER, action))
            .then_expect_error(QuoteError::NotFound);
    }
}

#[test]
fn errors_are_sorted_into_invalid_conflict_and_not_found() {
    let errors = invalid("reason", "must not be empty");
    let QuoteError::Invalid(fields) = &errors else {
        unreachable!()
    };
    assert_eq!(errors.kind(), ErrorKind::Invalid(fields));
    assert_eq!(QuoteError::NotFound.kind(), ErrorKind::NotFound);
    let conflicts = [
        (QuoteError::AlreadyExists(QUOTE_ID), "quote.already-exists"),
        (
            QuoteError::CustomerInactive(CUSTOMER_ID),
            "quote.customer-inactive",
        ),
        (wrong_status(Draft, "sent", "DRAFT"), "quote.wrong-status"),
        (
            QuoteError::RevisionSuperseded {
                offered: 1,
                current: 2,
            },
            "quote.revision-superseded",
        ),
        (
            QuoteError::ValidityPassed(valid_until(), "accepted"),
            "quote.expired",
        ),
        (QuoteError::IsTemplate, "quote.template"),
        (QuoteError::NotATemplate(QUOTE_ID), "quote.not-a-template"),
        (
            QuoteError::DepositExceedsTotal {
                deposits: dec!(2),
                total: dec!(1),
            },
            "quote.deposit-exceeds-total",
        ),
        (
            QuoteError::AlreadyInvoiced(INVOICE_ID),
            "quote.already-invoiced",
        ),
    ];
    for (error, rule) in conflicts {
        assert_eq!(error.kind(), ErrorKind::Conflict { rule }, "{error}");
    }
    assert_eq!(
        wrong_status(Sent, "edited", "DRAFT").to_string(),
        "the quote is SENT; only a DRAFT quote can be edited"
    );
}

// ================================================================ property: accepted totals

/// The tax components (code, rate in 1/100 000) a province charges on `on`,
/// written independently of `aggregates::pricing`.
fn expected_rates(province: Province, on: NaiveDate) -> Vec<(TaxCode, i64)> {
    use TaxCode::{Gst, Hst, Pst, Qst, Rst};
    match province {
        Province::On => vec![(Hst, 13_000)],
        Province::Ns if on < date(2025, 4, 1) => vec![(Hst, 15_000)],
        Province::Ns => vec![(Hst, 14_000)],
        Province::Nb | Province::Nl | Province::Pe => vec![(Hst, 15_000)],
        Province::Ab | Province::Nt | Province::Nu | Province::Yt => vec![(Gst, 5_000)],
        Province::Bc => vec![(Gst, 5_000), (Pst, 7_000)],
        Province::Mb => vec![(Gst, 5_000), (Rst, 7_000)],
        Province::Sk => vec![(Gst, 5_000), (Pst, 6_000)],
        Province::Qc => vec![(Gst, 5_000), (Qst, 9_975)],
    }
}

/// Rounds a non-negative count of `1/unit` cents half-up to whole cents.
fn cents_half_up(value: i128, unit: i128) -> i128 {
    (value + unit / 2) / unit
}

fn cents(value: i128) -> Decimal {
    Decimal::from_i128_with_scale(value, 2)
}

#[derive(Clone, Debug)]
struct GenItem {
    /// Thousandths of a unit.
    quantity: i64,
    cents: i64,
    optional: bool,
    selected: bool,
}

fn gen_item() -> impl Strategy<Value = GenItem> {
    (
        1i64..=1_000_000,
        0i64..=10_000_000,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(quantity, cents, optional, selected)| GenItem {
            quantity,
            cents,
            optional,
            selected,
        })
}

/// (rate in cents, estimated hours in 1/100, minimum hours in 1/100; 0 = none)
fn gen_hourly() -> impl Strategy<Value = Option<(i64, i64, i64)>> {
    prop::option::of((0i64..=50_000, 1i64..=20_000, 0i64..=20_000))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn accepted_totals_add_up_to_the_cent_and_are_reproducible(
        items in prop::collection::vec(gen_item(), 1..8),
        hourly in gen_hourly(),
        province in prop::sample::select(Province::ALL),
        // 2019-07-01 plus up to about eleven years.
        day in 0i64..4_000,
        accept_after in 0i64..=30,
        exempt in any::<bool>(),
    ) {
        let drafted_on = date(2019, 7, 1) + Duration::days(day);
        let at = |d: NaiveDate, hour: u32| {
            d.and_hms_opt(hour, 0, 0).expect("valid time").and_utc()
        };
        let input = QuoteInput {
            valid_until: drafted_on + Duration::days(30),
            pricing_type: if hourly.is_some() { PricingType::Hourly } else { PricingType::NonBinding },
            hourly: hourly.map(|(rate, estimated, minimum)| HourlyInput {
                rate: Decimal::new(rate, 2),
                estimated_hours: Decimal::new(estimated, 2),
                minimum_hours: Decimal::new(minimum, 2),
            }),
            province,
            tax_exempt: exempt,
            items: items
                .iter()
                .enumerate()
                .map(|(i, g)| ItemInput {
                    optional: g.optional,
                    ..item(
                        Uuid::from_u128(0x1000 + i as u128),
                        "Item",
                        Decimal::new(g.quantity, 3),
                        Decimal::new(g.cents, 2),
                    )
                })
                .collect(),
            ..quote_input()
        };
        let selected: Vec<Uuid> = items
            .iter()
            .enumerate()
            .filter(|(_, g)| g.optional && g.selected)
            .map(|(i, _)| Uuid::from_u128(0x1000 + i as u128))
            .collect();
        let mut history = Vec::new();
        let drafted = run(&history, QuoteCommand { at: at(drafted_on, 9), actor: ACTOR, action: draft_with(input) })
            .map_err(|e| TestCaseError::fail(format!("draft rejected: {e}")))?;
        history.extend(drafted);
        let sent_events = run(&history, QuoteCommand { at: at(drafted_on, 10), actor: ACTOR, action: send(None) })
            .map_err(|e| TestCaseError::fail(format!("send rejected: {e}")))?;
        history.extend(sent_events);

        let accepted_on = drafted_on + Duration::days(accept_after);
        let acceptance = QuoteCommand {
            at: at(accepted_on, 11),
            actor: ACTOR,
            action: accept(selected.clone()),
        };
        let first = run(&history, acceptance.clone())
            .map_err(|e| TestCaseError::fail(format!("accept rejected: {e}")))?;
        let second = run(&history, acceptance)
            .map_err(|e| TestCaseError::fail(format!("accept rejected: {e}")))?;
        prop_assert_eq!(&first, &second);
        let QuoteEvent::QuoteAccepted(accepted) = &first[0] else {
            return Err(TestCaseError::fail(format!("expected QuoteAccepted, got {first:?}")));
        };
        let t = &accepted.totals;

        // Line totals, labour and the subtotal, computed with integers.
        let terms = state_after(history.clone()).terms.expect("terms");
        let mut subtotal_cents: i128 = 0;
        for (i, g) in items.iter().enumerate() {
            let id = Uuid::from_u128(0x1000 + i as u128);
            let line = terms.items.iter().find(|l| l.item_id == id).expect("item kept");
            let expected = cents_half_up(i128::from(g.quantity) * i128::from(g.cents), 1_000);
            prop_assert_eq!(line.line_total, cents(expected));
            prop_assert_eq!(line.line_total.scale(), 2);
            if !g.optional || g.selected {
                subtotal_cents += expected;
            }
        }
        if let Some((rate, estimated, minimum)) = hourly {
            let labour = cents_half_up(i128::from(rate) * i128::from(estimated.max(minimum)), 100);
            let pricing = terms.hourly.as_ref().expect("hourly pricing");
            prop_assert_eq!(pricing.labour_total, cents(labour));
            prop_assert_eq!(pricing.labour_total.scale(), 2);
            subtotal_cents += labour;
        }
        prop_assert_eq!(t.subtotal, cents(subtotal_cents));

        // Each tax component, rounded on its own.
        let components = if exempt { vec![] } else { expected_rates(province, accepted_on) };
        prop_assert_eq!(t.tax_lines.len(), components.len());
        for (line, (code, rate)) in t.tax_lines.iter().zip(&components) {
            prop_assert_eq!(line.code, *code);
            prop_assert_eq!(line.rate, Decimal::new(*rate, 5));
            prop_assert_eq!(line.taxable, t.subtotal);
            prop_assert_eq!(line.amount, cents(cents_half_up(subtotal_cents * i128::from(*rate), 100_000)));
        }

        let tax_sum: Decimal = t.tax_lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(t.tax_total, tax_sum);
        prop_assert_eq!(t.total, t.subtotal + tax_sum);
        prop_assert_eq!(t.tax_date, Some(accepted_on));
        for amount in [t.subtotal, t.tax_total, t.total]
            .into_iter()
            .chain(t.tax_lines.iter().flat_map(|l| [l.taxable, l.amount]))
        {
            prop_assert_eq!(amount.scale(), 2, "{} is not to the cent", amount);
        }

        // The accepted items add up to the same subtotal.
        history.extend(first.clone());
        let counted: Decimal = state_after(history).accepted_items().iter().map(|i| i.line_total).sum();
        prop_assert_eq!(counted, t.subtotal);
        prop_assert_eq!(&accepted.selected_optional_items, &selected);
    }
}
