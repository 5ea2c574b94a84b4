//! Given/when/then tests of the `FinancialTransaction` (manual ledger entry)
//! and `SalesSettings` aggregates.

use aggregates::finance::{
    FinancialTransaction, FinancialTransactionAction, FinancialTransactionCommand,
    FinancialTransactionError, RecordTransaction,
};
use aggregates::settings::{
    SalesSettings, SalesSettingsAction, SalesSettingsCommand, SalesSettingsError,
};
use aggregates::{DomainError, ErrorKind, Patch, TenantOwned, ValidationErrors};
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::finance::{
    FinancialTransactionEvent, FinancialTransactionRecorded, SalesSettingsChanged,
    SalesSettingsEvent, settings_id,
};
use event_schemas::money::{FinancialTransactionType, Province};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

use FinancialTransactionType::{Adjustment, Expense, Income, Transfer};

const TRANSACTION_ID: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_1001);
const INVOICE_ID: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_2001);
const JOURNEY_ID: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_3001);
const ACTOR: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_a001);
const AT: &str = "2026-03-10T14:00:00Z";

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

// ---------------------------------------------------------------- FinancialTransaction

fn ledger() -> TestFramework<FinancialTransaction> {
    TestFramework::with(())
}

fn record(cmd: RecordTransaction) -> FinancialTransactionCommand {
    FinancialTransactionCommand {
        at: ts(AT),
        actor: ACTOR,
        action: FinancialTransactionAction::Record(cmd),
    }
}

fn fuel() -> RecordTransaction {
    RecordTransaction {
        transaction_id: TRANSACTION_ID,
        tenant_id: tenant(),
        transaction_type: Expense,
        amount: dec!(84.5),
        currency: None,
        description: "Diesel for truck 3".into(),
        category: "Fuel".into(),
        subcategory: None,
        reference: None,
        notes: None,
        tags: vec![],
        transaction_date: Some(date(2026, 3, 9)),
        invoice_id: None,
        journey_id: None,
    }
}

fn fuel_recorded() -> FinancialTransactionRecorded {
    FinancialTransactionRecorded {
        tenant_id: tenant(),
        transaction_id: TRANSACTION_ID,
        transaction_type: Expense,
        amount: dec!(84.50),
        currency: "CAD".into(),
        description: "Diesel for truck 3".into(),
        category: "Fuel".into(),
        subcategory: None,
        reference: None,
        notes: None,
        tags: vec![],
        transaction_date: date(2026, 3, 9),
        invoice_id: None,
        journey_id: None,
        recorded_by: ACTOR,
        recorded_at: ts(AT),
    }
}

fn ledger_fields(
    result: Result<Vec<FinancialTransactionEvent>, FinancialTransactionError>,
) -> Vec<String> {
    match result {
        Err(FinancialTransactionError::Invalid(errors)) => {
            errors.fields().map(str::to_owned).collect()
        }
        other => panic!("expected FinancialTransactionError::Invalid, got {other:?}"),
    }
}

fn try_record(
    cmd: RecordTransaction,
) -> Result<Vec<FinancialTransactionEvent>, FinancialTransactionError> {
    ledger()
        .given_no_previous_events()
        .when(record(cmd))
        .inspect_result()
}

#[test]
fn recording_an_expense_keeps_it_in_cad_with_the_actor_and_time() {
    ledger()
        .given_no_previous_events()
        .when(record(fuel()))
        .then_expect_events(vec![fuel_recorded().into()]);
    let mut entry = FinancialTransaction::default();
    assert!(!entry.is_recorded());
    entry.apply(fuel_recorded().into());
    assert!(entry.is_recorded());
    assert_eq!(entry.tenant(), Some(&tenant()));
}

#[test]
fn recording_keeps_every_detail_trims_text_and_deduplicates_tags() {
    let cmd = RecordTransaction {
        transaction_type: Income,
        currency: Some("USD".into()),
        description: "  Sold old boxes ".into(),
        category: " Other income ".into(),
        subcategory: Some("Resale".into()),
        reference: Some(" RCPT-7 ".into()),
        notes: Some("Cash".into()),
        tags: vec![" boxes ".into(), "Resale".into(), "boxes".into()],
        transaction_date: Some(date(2026, 3, 11)),
        invoice_id: Some(INVOICE_ID),
        journey_id: Some(JOURNEY_ID),
        ..fuel()
    };
    ledger()
        .given_no_previous_events()
        .when(record(cmd))
        .then_expect_events(vec![
            FinancialTransactionRecorded {
                transaction_type: Income,
                currency: "USD".into(),
                description: "Sold old boxes".into(),
                category: "Other income".into(),
                subcategory: Some("Resale".into()),
                reference: Some("RCPT-7".into()),
                notes: Some("Cash".into()),
                tags: vec!["boxes".into(), "Resale".into()],
                transaction_date: date(2026, 3, 11),
                invoice_id: Some(INVOICE_ID),
                journey_id: Some(JOURNEY_ID),
                ..fuel_recorded()
            }
            .into(),
        ]);
}

#[test]
fn the_transaction_date_defaults_to_the_day_of_the_command() {
    ledger()
        .given_no_previous_events()
        .when(record(RecordTransaction {
            transaction_date: None,
            transaction_type: Transfer,
            ..fuel()
        }))
        .then_expect_events(vec![
            FinancialTransactionRecorded {
                transaction_date: date(2026, 3, 10),
                transaction_type: Transfer,
                ..fuel_recorded()
            }
            .into(),
        ]);
}

#[test]
fn an_adjustment_may_be_negative() {
    ledger()
        .given_no_previous_events()
        .when(record(RecordTransaction {
            transaction_type: Adjustment,
            amount: dec!(-12.3),
            ..fuel()
        }))
        .then_expect_events(vec![
            FinancialTransactionRecorded {
                transaction_type: Adjustment,
                amount: dec!(-12.30),
                ..fuel_recorded()
            }
            .into(),
        ]);
}

#[test]
fn amounts_must_be_positive_cents_except_negative_adjustments_and_never_zero() {
    let cases: [(FinancialTransactionType, Decimal, &str); 5] = [
        (
            Expense,
            dec!(-1),
            "must be greater than 0 (only an ADJUSTMENT may be negative)",
        ),
        (Income, dec!(0), "must not be 0"),
        (Adjustment, dec!(0.00), "must not be 0"),
        (
            Adjustment,
            dec!(-0.001),
            "must have at most 2 decimal places",
        ),
        (Transfer, dec!(1000000000), "must be at most 999999999.99"),
    ];
    for (kind, amount, message) in cases {
        ledger()
            .given_no_previous_events()
            .when(record(RecordTransaction {
                transaction_type: kind,
                amount,
                ..fuel()
            }))
            .then_expect_error(FinancialTransactionError::Invalid(
                ValidationErrors::single("amount", message),
            ));
    }
}

#[test]
fn a_transaction_dated_more_than_a_day_ahead_is_rejected() {
    ledger()
        .given_no_previous_events()
        .when(record(RecordTransaction {
            transaction_date: Some(date(2026, 3, 12)),
            ..fuel()
        }))
        .then_expect_error(FinancialTransactionError::Invalid(
            ValidationErrors::single(
                "transaction_date",
                "must not be more than one day in the future",
            ),
        ));
}

#[test]
fn too_many_or_too_long_tags_are_rejected_naming_the_tag() {
    let many: Vec<String> = (0..21).map(|i| format!("tag {i}")).collect();
    assert_eq!(
        ledger_fields(try_record(RecordTransaction {
            tags: many,
            ..fuel()
        })),
        ["tags"]
    );
    // Duplicates do not count against the limit.
    let mut twenty: Vec<String> = (0..20).map(|i| format!("tag {i}")).collect();
    twenty.push(" tag 0 ".into());
    assert!(
        try_record(RecordTransaction {
            tags: twenty,
            ..fuel()
        })
        .is_ok()
    );
    assert_eq!(
        ledger_fields(try_record(RecordTransaction {
            tags: vec!["ok".into(), "x".repeat(51), "  ".into()],
            ..fuel()
        })),
        ["tags[1]", "tags[2]"]
    );
}

#[test]
fn every_invalid_field_is_named() {
    let result = try_record(RecordTransaction {
        amount: dec!(0),
        currency: Some("cad".into()),
        description: " ".into(),
        category: String::new(),
        subcategory: Some("s".repeat(101)),
        reference: Some("r".repeat(201)),
        notes: Some("n".repeat(10_001)),
        transaction_date: Some(date(2027, 1, 1)),
        ..fuel()
    });
    assert_eq!(
        ledger_fields(result),
        [
            "amount",
            "currency",
            "description",
            "category",
            "subcategory",
            "reference",
            "notes",
            "transaction_date"
        ]
    );
}

#[test]
fn a_transaction_is_recorded_once() {
    let error = FinancialTransactionError::AlreadyRecorded(TRANSACTION_ID);
    ledger()
        .given(vec![fuel_recorded().into()])
        .when(record(fuel()))
        .then_expect_error(error);
    assert_eq!(
        FinancialTransactionError::AlreadyRecorded(TRANSACTION_ID).kind(),
        ErrorKind::Conflict {
            rule: "financial-transaction.already-recorded"
        }
    );
    let errors = ValidationErrors::single("amount", "x");
    assert_eq!(
        FinancialTransactionError::Invalid(errors.clone()).kind(),
        ErrorKind::Invalid(&errors)
    );
}

// ---------------------------------------------------------------- SalesSettings

fn settings() -> TestFramework<SalesSettings> {
    TestFramework::with(())
}

fn change(
    threshold: Patch<Decimal>,
    province: Option<Province>,
    terms: Option<u32>,
) -> SalesSettingsCommand {
    SalesSettingsCommand {
        at: ts(AT),
        actor: ACTOR,
        action: SalesSettingsAction::Change {
            tenant_id: tenant(),
            quote_approval_threshold: threshold,
            default_province: province,
            default_payment_terms_days: terms,
        },
    }
}

fn changed(threshold: Option<Decimal>, province: Province, terms: u32) -> SalesSettingsChanged {
    SalesSettingsChanged {
        tenant_id: tenant(),
        quote_approval_threshold: threshold,
        default_province: province,
        default_payment_terms_days: terms,
        changed_by: ACTOR,
        changed_at: ts(AT),
    }
}

fn settings_after(events: Vec<SalesSettingsChanged>) -> SalesSettings {
    let mut state = SalesSettings::default();
    for e in events {
        state.apply(SalesSettingsEvent::from(e));
    }
    state
}

#[test]
fn a_tenant_that_never_changed_its_settings_has_the_defaults() {
    let fresh = SalesSettings::default();
    assert_eq!(fresh.threshold(), None);
    assert_eq!(fresh.default_province(), Province::On);
    assert_eq!(fresh.default_payment_terms_days(), 30);
    assert_eq!(fresh.tenant(), None);
    // One settings aggregate per tenant, with an id derived from it.
    assert_eq!(settings_id(&tenant()), settings_id(&tenant()));
    assert_ne!(
        settings_id(&tenant()),
        settings_id(&TenantId::parse("other").unwrap())
    );
}

#[test]
fn the_first_change_records_the_complete_settings_filling_in_the_defaults() {
    settings()
        .given_no_previous_events()
        .when(change(Patch::Set(dec!(5000)), None, None))
        .then_expect_events(vec![changed(Some(dec!(5000.00)), Province::On, 30).into()]);
    let state = settings_after(vec![changed(Some(dec!(5000.00)), Province::On, 30)]);
    assert_eq!(state.threshold(), Some(dec!(5000.00)));
    assert_eq!(state.tenant(), Some(&tenant()));
}

#[test]
fn a_later_change_keeps_what_it_does_not_mention() {
    settings()
        .given(vec![changed(Some(dec!(5000.00)), Province::On, 30).into()])
        .when(change(Patch::Unchanged, Some(Province::Qc), Some(45)))
        .then_expect_events(vec![changed(Some(dec!(5000.00)), Province::Qc, 45).into()]);
    settings()
        .given(vec![changed(Some(dec!(5000.00)), Province::Qc, 45).into()])
        .when(change(Patch::Clear, None, None))
        .then_expect_events(vec![changed(None, Province::Qc, 45).into()]);
    let state = settings_after(vec![
        changed(Some(dec!(5000.00)), Province::On, 30),
        changed(None, Province::Qc, 45),
    ]);
    assert_eq!(state.threshold(), None);
    assert_eq!(state.default_province(), Province::Qc);
    assert_eq!(state.default_payment_terms_days(), 45);
}

#[test]
fn a_change_to_what_the_settings_already_are_records_nothing() {
    settings()
        .given_no_previous_events()
        .when(change(Patch::Clear, Some(Province::On), Some(30)))
        .then_expect_events(vec![]);
    settings()
        .given(vec![changed(Some(dec!(5000.00)), Province::Bc, 15).into()])
        .when(change(Patch::Set(dec!(5000)), Some(Province::Bc), Some(15)))
        .then_expect_events(vec![]);
}

#[test]
fn invalid_settings_are_rejected_naming_each_field() {
    let result = settings()
        .given_no_previous_events()
        .when(change(Patch::Set(dec!(-1.234)), None, Some(366)))
        .inspect_result();
    let Err(SalesSettingsError::Invalid(errors)) = result else {
        panic!("expected Invalid, got {result:?}");
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        ["quote_approval_threshold", "default_payment_terms_days"]
    );
    assert_eq!(
        SalesSettingsError::Invalid(errors.clone()).kind(),
        ErrorKind::Invalid(&errors)
    );
}

#[test]
fn another_tenants_settings_cannot_be_changed() {
    let other = TenantId::parse("other-movers").unwrap();
    settings()
        .given(vec![
            SalesSettingsChanged {
                tenant_id: other.clone(),
                ..changed(None, Province::On, 10)
            }
            .into(),
        ])
        .when(change(Patch::Unchanged, None, Some(20)))
        .then_expect_error(SalesSettingsError::WrongTenant(other.clone()));
    assert_eq!(
        SalesSettingsError::WrongTenant(other).kind(),
        ErrorKind::Conflict {
            rule: "sales-settings.wrong-tenant"
        }
    );
}
