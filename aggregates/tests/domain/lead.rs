//! Given/when/then tests of the `Lead` aggregate through its public API.

use std::collections::BTreeMap;

use aggregates::lead::{
    CreateLead, CustomerFacts, Lead, LeadAction, LeadCommand, LeadError, RecordActivity,
    UpdateLead, transition_allowed,
};
use aggregates::values::{self, MAX_MONEY};
use aggregates::{DomainError, ErrorKind, FieldError, Patch, TenantOwned, ValidationErrors};
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::lead::{
    LeadAssigned, LeadCreated, LeadDetailsUpdated, LeadEvent, LeadFirstContacted,
    LeadStatusChanged, SalesActivityRecorded,
};
use event_schemas::{LeadPriority, LeadStatus, SalesActivityType, TenantId};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

use LeadStatus::{Archived, Contacted, Lost, Negotiation, New, ProposalSent, Qualified, Won};

const LEAD_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_1001);
const OTHER_LEAD_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_1002);
const CUSTOMER_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001);
const ACTOR: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_a001);
const REP_A: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_a002);
const REP_B: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_a003);
const ACTIVITY_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_b001);

/// When the lead of every "given an existing lead" test was created.
const CREATED_AT: &str = "2026-03-10T14:00:00Z";
const LOST_REASON: &str = "Chose another mover";

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

fn lead() -> TestFramework<Lead> {
    TestFramework::with(())
}

fn command(at: &str, action: LeadAction) -> LeadCommand {
    LeadCommand {
        at: ts(at),
        actor: ACTOR,
        action,
    }
}

fn transition(to: LeadStatus, reason: Option<&str>) -> LeadAction {
    LeadAction::Transition {
        to,
        reason: reason.map(str::to_owned),
    }
}

fn invalid(field: &str, message: &str) -> LeadError {
    LeadError::Invalid(ValidationErrors::single(field, message))
}

/// The field names of an `Invalid` rejection, in the order they were reported.
fn rejected_fields(result: Result<Vec<LeadEvent>, LeadError>) -> Vec<String> {
    match result {
        Err(LeadError::Invalid(errors)) => errors.fields().map(str::to_owned).collect(),
        other => panic!("expected LeadError::Invalid, got {other:?}"),
    }
}

fn create_lead() -> CreateLead {
    CreateLead {
        lead_id: LEAD_ID,
        tenant_id: tenant(),
        customer: CustomerFacts {
            id: CUSTOMER_ID,
            active: true,
        },
        source: "website".into(),
        priority: None,
        estimated_move_date: Some(date(2026, 6, 15)),
        estimated_value: Some(dec!(4500)),
        notes: None,
        follow_up_date: None,
        score: None,
        qualification: BTreeMap::new(),
        assigned_to: None,
        location_id: None,
    }
}

/// What `create_lead()` at `CREATED_AT` by `ACTOR` records, spelled out.
fn lead_created() -> LeadCreated {
    LeadCreated {
        tenant_id: tenant(),
        lead_id: LEAD_ID,
        customer_id: CUSTOMER_ID,
        source: "website".into(),
        priority: LeadPriority::Medium,
        estimated_move_date: Some(date(2026, 6, 15)),
        estimated_value: Some(dec!(4500.00)),
        notes: None,
        follow_up_date: None,
        score: 0,
        qualification: BTreeMap::new(),
        assigned_to: None,
        created_by: ACTOR,
        created_at: ts(CREATED_AT),
        location_id: None,
    }
}

fn status_changed(from: LeadStatus, to: LeadStatus, reason: Option<&str>, at: &str) -> LeadEvent {
    LeadStatusChanged {
        from,
        to,
        reason: reason.map(str::to_owned),
        changed_at: ts(at),
        cause: None,
    }
    .into()
}

fn first_contacted(at: &str, response_seconds: i64) -> LeadEvent {
    LeadFirstContacted {
        contacted_at: ts(at),
        response_seconds,
    }
    .into()
}

fn given_new_lead() -> Vec<LeadEvent> {
    vec![lead_created().into()]
}

/// A realistic history that leaves the lead in `status`.
fn history_to(status: LeadStatus) -> Vec<LeadEvent> {
    let mut events = given_new_lead();
    let contacted = |events: &mut Vec<LeadEvent>| {
        events.push(status_changed(New, Contacted, None, "2026-03-10T14:05:00Z"));
        events.push(first_contacted("2026-03-10T14:05:00Z", 300));
    };
    match status {
        New => {}
        Contacted => contacted(&mut events),
        Qualified | ProposalSent | Negotiation | Won => {
            contacted(&mut events);
            let pipeline = [Contacted, Qualified, ProposalSent, Negotiation, Won];
            for (day, pair) in pipeline.windows(2).enumerate() {
                events.push(status_changed(
                    pair[0],
                    pair[1],
                    None,
                    &format!("2026-03-1{}T10:00:00Z", day + 1),
                ));
                if pair[1] == status {
                    break;
                }
            }
        }
        Lost => {
            contacted(&mut events);
            events.push(status_changed(
                Contacted,
                Lost,
                Some(LOST_REASON),
                "2026-03-11T09:00:00Z",
            ));
        }
        Archived => events.push(status_changed(New, Archived, None, "2026-03-11T09:00:00Z")),
    }
    events
}

fn state_after(events: Vec<LeadEvent>) -> Lead {
    let mut lead = Lead::default();
    for event in events {
        lead.apply(event);
    }
    lead
}

fn phone_call(completed_at: Option<&str>) -> RecordActivity {
    RecordActivity {
        activity_id: ACTIVITY_ID,
        activity_type: SalesActivityType::PhoneCall,
        subject: Some("Intro call".into()),
        description: "Discussed the move".into(),
        outcome: None,
        next_action: None,
        scheduled_at: None,
        completed_at: completed_at.map(ts),
        duration_minutes: Some(12),
        cost: None,
        notes: None,
    }
}

fn phone_call_recorded(completed_at: Option<&str>) -> SalesActivityRecorded {
    SalesActivityRecorded {
        activity_id: ACTIVITY_ID,
        activity_type: SalesActivityType::PhoneCall,
        subject: Some("Intro call".into()),
        description: "Discussed the move".into(),
        outcome: None,
        next_action: None,
        scheduled_at: None,
        completed_at: completed_at.map(ts),
        duration_minutes: Some(12),
        cost: None,
        notes: None,
        recorded_by: ACTOR,
    }
}

/// Runs one command against a history, the way the command layer would.
fn run(history: &[LeadEvent], cmd: LeadCommand) -> Result<Vec<LeadEvent>, LeadError> {
    lead().given(history.to_vec()).when(cmd).inspect_result()
}

// ---------------------------------------------------------------- the pipeline, written independently

/// Every status, in pipeline order, then the two side exits.
const ORDER: [LeadStatus; 8] = [
    New,
    Contacted,
    Qualified,
    ProposalSent,
    Negotiation,
    Won,
    Lost,
    Archived,
];

/// Which moves the pipeline allows: row = from, column = to, both in `ORDER`.
#[rustfmt::skip]
const ALLOWED: [[u8; 8]; 8] = [
    //            NEW CON QUA PRO NEG WON LOS ARC
    /* NEW */      [0,  1,  1,  1,  1,  1,  1,  1],
    /* CONTACTED */[0,  0,  1,  1,  1,  1,  1,  1],
    /* QUALIFIED */[0,  0,  0,  1,  1,  1,  1,  1],
    /* PROPOSAL */ [0,  0,  0,  0,  1,  1,  1,  1],
    /* NEGOTIAT */ [0,  0,  0,  0,  0,  1,  1,  1],
    /* WON */      [0,  0,  0,  0,  0,  0,  0,  0],
    /* LOST */     [0,  1,  0,  0,  0,  0,  0,  1],
    /* ARCHIVED */ [0,  0,  0,  0,  0,  0,  0,  0],
];

fn position(status: LeadStatus) -> usize {
    ORDER
        .iter()
        .position(|s| *s == status)
        .expect("every status is in ORDER")
}

fn expected_allowed(from: LeadStatus, to: LeadStatus) -> bool {
    ALLOWED[position(from)][position(to)] == 1
}

/// The statuses a lead works through once the customer has been reached.
fn is_pipeline_stage(status: LeadStatus) -> bool {
    matches!(
        status,
        Contacted | Qualified | ProposalSent | Negotiation | Won
    )
}

// ---------------------------------------------------------------- Create

#[test]
fn creating_a_lead_records_it_in_status_new_with_defaults_and_the_actor() {
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(create_lead())))
        .then_expect_events(vec![lead_created().into()]);
    let created = state_after(given_new_lead());
    assert_eq!(created.status, Some(New));
    assert_eq!(created.tenant(), Some(&tenant()));
    assert_eq!(created.created_by, Some(ACTOR));
    assert_eq!(created.first_contacted_at, None);
}

#[test]
fn creating_a_lead_keeps_every_given_detail_and_trims_text() {
    let qualification = BTreeMap::from([("budget_confirmed".to_owned(), true)]);
    let cmd = CreateLead {
        source: "  referral ".into(),
        priority: Some(LeadPriority::Urgent),
        notes: Some("  Two pianos  ".into()),
        follow_up_date: Some(ts("2026-03-12T15:00:00Z")),
        score: Some(100),
        qualification: qualification.clone(),
        assigned_to: Some(REP_A),
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_events(vec![
            LeadCreated {
                source: "referral".into(),
                priority: LeadPriority::Urgent,
                notes: Some("Two pianos".into()),
                follow_up_date: Some(ts("2026-03-12T15:00:00Z")),
                score: 100,
                qualification,
                assigned_to: Some(REP_A),
                ..lead_created()
            }
            .into(),
        ]);
}

#[test]
fn creating_a_lead_normalizes_its_value_to_two_decimals() {
    let events =
        run(&[], command(CREATED_AT, LeadAction::Create(create_lead()))).expect("valid lead");
    let [LeadEvent::LeadCreated(created)] = events.as_slice() else {
        panic!("expected one LeadCreated, got {events:?}");
    };
    let value = created.estimated_value.expect("a value was given");
    assert_eq!(value.to_string(), "4500.00");
    assert_eq!(value.scale(), 2);
}

#[test]
fn creating_a_lead_with_a_trailing_zero_third_decimal_is_accepted_and_rescaled() {
    let cmd = CreateLead {
        estimated_value: Some(dec!(1234.560)),
        ..create_lead()
    };
    let events = run(&[], command(CREATED_AT, LeadAction::Create(cmd)))
        .expect("1234.560 has two significant decimals");
    let [LeadEvent::LeadCreated(created)] = events.as_slice() else {
        panic!("expected one LeadCreated, got {events:?}");
    };
    assert_eq!(
        created.estimated_value.map(|v| v.to_string()).as_deref(),
        Some("1234.56")
    );
}

#[test]
fn creating_a_lead_without_a_value_or_move_date_is_accepted() {
    let cmd = CreateLead {
        estimated_value: None,
        estimated_move_date: None,
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_events(vec![
            LeadCreated {
                estimated_value: None,
                estimated_move_date: None,
                ..lead_created()
            }
            .into(),
        ]);
}

#[test]
fn creating_a_lead_with_a_move_date_in_the_past_is_rejected() {
    let cmd = CreateLead {
        estimated_move_date: Some(date(2026, 3, 1)),
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_error(invalid("estimated_move_date", "must not be in the past"));
}

#[test]
fn a_move_date_that_is_still_today_somewhere_on_earth_is_accepted() {
    // 05:00 UTC on March 10 is still March 9 at UTC-12.
    let cmd = CreateLead {
        estimated_move_date: Some(date(2026, 3, 9)),
        ..create_lead()
    };
    let events = run(
        &[],
        command("2026-03-10T05:00:00Z", LeadAction::Create(cmd.clone())),
    );
    assert!(events.is_ok(), "{events:?}");
    // At 13:00 UTC March 9 is over everywhere.
    lead()
        .given_no_previous_events()
        .when(command("2026-03-10T13:00:00Z", LeadAction::Create(cmd)))
        .then_expect_error(invalid("estimated_move_date", "must not be in the past"));
}

#[test]
fn the_move_date_is_judged_against_the_command_time_not_the_wall_clock() {
    // In 2020 a 2021 move date was in the future.
    let cmd = CreateLead {
        estimated_move_date: Some(date(2021, 1, 15)),
        ..create_lead()
    };
    let events = run(
        &[],
        command("2020-12-01T12:00:00Z", LeadAction::Create(cmd)),
    )
    .expect("future at that time");
    let [LeadEvent::LeadCreated(created)] = events.as_slice() else {
        panic!("expected one LeadCreated, got {events:?}");
    };
    assert_eq!(created.estimated_move_date, Some(date(2021, 1, 15)));
    assert_eq!(created.created_at, ts("2020-12-01T12:00:00Z"));
}

#[test]
fn creating_a_lead_with_a_negative_value_is_rejected() {
    let cmd = CreateLead {
        estimated_value: Some(dec!(-0.01)),
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_error(invalid("estimated_value", "must not be negative"));
}

#[test]
fn creating_a_lead_with_a_value_of_three_decimals_is_rejected() {
    let cmd = CreateLead {
        estimated_value: Some(dec!(4500.125)),
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_error(invalid(
            "estimated_value",
            "must have at most 2 decimal places",
        ));
}

#[test]
fn creating_a_lead_with_a_value_above_a_billion_is_rejected() {
    let cmd = CreateLead {
        estimated_value: Some(dec!(1000000000.00)),
        ..create_lead()
    };
    let fields = rejected_fields(run(&[], command(CREATED_AT, LeadAction::Create(cmd))));
    assert_eq!(fields, ["estimated_value"]);
}

#[test]
fn creating_a_lead_with_a_score_of_101_is_rejected() {
    let cmd = CreateLead {
        score: Some(101),
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_error(invalid("score", "must be between 0 and 100"));
}

#[test]
fn creating_a_lead_with_a_negative_score_is_rejected() {
    let cmd = CreateLead {
        score: Some(-1),
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_error(invalid("score", "must be between 0 and 100"));
}

#[test]
fn creating_a_lead_with_a_blank_source_is_rejected() {
    let cmd = CreateLead {
        source: "   ".into(),
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_error(invalid("source", "must not be empty"));
}

#[test]
fn creating_a_lead_with_a_badly_named_criterion_is_rejected() {
    let cmd = CreateLead {
        qualification: BTreeMap::from([("Budget OK".to_owned(), true)]),
        ..create_lead()
    };
    let fields = rejected_fields(run(&[], command(CREATED_AT, LeadAction::Create(cmd))));
    assert_eq!(fields, ["qualification"]);
}

#[test]
fn creating_a_lead_with_several_invalid_fields_reports_them_all() {
    let cmd = CreateLead {
        source: "".into(),
        estimated_move_date: Some(date(2025, 12, 31)),
        estimated_value: Some(dec!(-10)),
        score: Some(250),
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_error(LeadError::Invalid(ValidationErrors(vec![
            FieldError {
                field: "source".into(),
                message: "must not be empty".into(),
            },
            FieldError {
                field: "estimated_move_date".into(),
                message: "must not be in the past".into(),
            },
            FieldError {
                field: "estimated_value".into(),
                message: "must not be negative".into(),
            },
            FieldError {
                field: "score".into(),
                message: "must be between 0 and 100".into(),
            },
        ])));
}

#[test]
fn creating_a_lead_for_an_inactive_customer_is_rejected() {
    let cmd = CreateLead {
        customer: CustomerFacts {
            id: CUSTOMER_ID,
            active: false,
        },
        ..create_lead()
    };
    lead()
        .given_no_previous_events()
        .when(command(CREATED_AT, LeadAction::Create(cmd)))
        .then_expect_error(LeadError::CustomerInactive(CUSTOMER_ID));
}

#[test]
fn creating_a_lead_that_already_exists_is_rejected_with_its_id() {
    let cmd = CreateLead {
        lead_id: OTHER_LEAD_ID,
        ..create_lead()
    };
    lead()
        .given(given_new_lead())
        .when(command("2026-03-10T15:00:00Z", LeadAction::Create(cmd)))
        .then_expect_error(LeadError::AlreadyExists(LEAD_ID));
}

// ---------------------------------------------------------------- missing and archived leads

fn every_non_create_action() -> Vec<LeadAction> {
    vec![
        LeadAction::Update(UpdateLead {
            score: Some(50),
            ..UpdateLead::default()
        }),
        transition(Contacted, None),
        LeadAction::Assign {
            user_id: Some(REP_A),
        },
        LeadAction::RecordActivity(phone_call(Some("2026-03-12T09:00:00Z"))),
    ]
}

#[test]
fn every_action_on_a_lead_that_does_not_exist_is_not_found() {
    for action in every_non_create_action() {
        let result = run(&[], command("2026-03-12T10:00:00Z", action.clone()));
        assert_eq!(result, Err(LeadError::NotFound), "{action:?}");
    }
}

#[test]
fn every_action_on_an_archived_lead_is_rejected_as_closed() {
    let archived = history_to(Archived);
    assert_eq!(state_after(archived.clone()).status, Some(Archived));
    for action in every_non_create_action() {
        let result = run(&archived, command("2026-03-12T10:00:00Z", action.clone()));
        assert_eq!(result, Err(LeadError::Closed(Archived)), "{action:?}");
    }
}

#[test]
fn an_archived_lead_explains_that_it_can_no_longer_be_changed() {
    lead()
        .given(history_to(Archived))
        .when(command("2026-03-12T10:00:00Z", transition(Contacted, None)))
        .then_expect_error_message("lead is ARCHIVED and can no longer be changed");
}

// ---------------------------------------------------------------- Update

#[test]
fn updating_lead_details_emits_the_full_details_and_the_changed_fields() {
    let update = UpdateLead {
        priority: Some(LeadPriority::High),
        estimated_value: Patch::Set(dec!(5200.5)),
        notes: Patch::Set("  Needs packing ".into()),
        score: Some(70),
        ..UpdateLead::default()
    };
    let cmd = command("2026-03-11T10:00:00Z", LeadAction::Update(update));
    let expected = LeadDetailsUpdated {
        source: "website".into(),
        priority: LeadPriority::High,
        estimated_move_date: Some(date(2026, 6, 15)),
        estimated_value: Some(dec!(5200.50)),
        notes: Some("Needs packing".into()),
        follow_up_date: None,
        score: 70,
        qualification: BTreeMap::new(),
        changed_fields: vec![
            "priority".into(),
            "estimated_value".into(),
            "notes".into(),
            "score".into(),
        ],
    };
    lead()
        .given(given_new_lead())
        .when(cmd.clone())
        .then_expect_events(vec![expected.into()]);
    // Decimal equality ignores the scale, so check the stored form too.
    let events = run(&given_new_lead(), cmd).expect("valid update");
    let [LeadEvent::LeadDetailsUpdated(updated)] = events.as_slice() else {
        panic!("expected one LeadDetailsUpdated, got {events:?}");
    };
    assert_eq!(
        updated.estimated_value.map(|v| v.to_string()).as_deref(),
        Some("5200.50")
    );
}

#[test]
fn clearing_and_setting_dates_and_the_checklist_names_only_those_fields() {
    let qualification = BTreeMap::from([("budget_confirmed".to_owned(), true)]);
    let update = UpdateLead {
        estimated_move_date: Patch::Clear,
        follow_up_date: Patch::Set(ts("2026-03-13T16:00:00Z")),
        qualification: Some(qualification.clone()),
        ..UpdateLead::default()
    };
    lead()
        .given(given_new_lead())
        .when(command("2026-03-11T10:00:00Z", LeadAction::Update(update)))
        .then_expect_events(vec![
            LeadDetailsUpdated {
                source: "website".into(),
                priority: LeadPriority::Medium,
                estimated_move_date: None,
                estimated_value: Some(dec!(4500.00)),
                notes: None,
                follow_up_date: Some(ts("2026-03-13T16:00:00Z")),
                score: 0,
                qualification,
                changed_fields: vec![
                    "estimated_move_date".into(),
                    "follow_up_date".into(),
                    "qualification".into(),
                ],
            }
            .into(),
        ]);
}

#[test]
fn an_empty_lead_update_emits_nothing() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-11T10:00:00Z",
            LeadAction::Update(UpdateLead::default()),
        ))
        .then_expect_events(vec![]);
}

#[test]
fn a_lead_update_that_restates_the_current_values_emits_nothing() {
    let update = UpdateLead {
        source: Some(" website ".into()),
        priority: Some(LeadPriority::Medium),
        estimated_move_date: Patch::Set(date(2026, 6, 15)),
        estimated_value: Patch::Set(dec!(4500)),
        notes: Patch::Set("   ".into()),
        follow_up_date: Patch::Clear,
        score: Some(0),
        qualification: Some(BTreeMap::new()),
    };
    lead()
        .given(given_new_lead())
        .when(command("2026-03-11T10:00:00Z", LeadAction::Update(update)))
        .then_expect_events(vec![]);
}

#[test]
fn updating_a_lead_with_a_score_of_101_is_rejected() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-11T10:00:00Z",
            LeadAction::Update(UpdateLead {
                score: Some(101),
                ..UpdateLead::default()
            }),
        ))
        .then_expect_error(invalid("score", "must be between 0 and 100"));
}

#[test]
fn updating_a_lead_with_a_negative_value_is_rejected() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-11T10:00:00Z",
            LeadAction::Update(UpdateLead {
                estimated_value: Patch::Set(dec!(-100)),
                ..UpdateLead::default()
            }),
        ))
        .then_expect_error(invalid("estimated_value", "must not be negative"));
}

#[test]
fn updating_a_lead_with_several_invalid_fields_reports_them_all() {
    let update = UpdateLead {
        source: Some("".into()),
        estimated_value: Patch::Set(dec!(1.001)),
        qualification: Some(BTreeMap::from([("".to_owned(), false)])),
        ..UpdateLead::default()
    };
    let fields = rejected_fields(run(
        &given_new_lead(),
        command("2026-03-11T10:00:00Z", LeadAction::Update(update)),
    ));
    assert_eq!(fields, ["source", "estimated_value", "qualification"]);
}

#[test]
fn updating_a_lead_with_a_move_date_in_the_past_is_rejected() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-12T10:00:00Z",
            LeadAction::Update(UpdateLead {
                estimated_move_date: Patch::Set(date(2026, 3, 1)),
                ..UpdateLead::default()
            }),
        ))
        .then_expect_error(invalid("estimated_move_date", "must not be in the past"));
}

#[test]
fn an_update_is_folded_into_the_state() {
    let mut history = given_new_lead();
    history.push(
        LeadDetailsUpdated {
            source: "referral".into(),
            priority: LeadPriority::Low,
            estimated_move_date: None,
            estimated_value: Some(dec!(99.90)),
            notes: Some("n".into()),
            follow_up_date: None,
            score: 12,
            qualification: BTreeMap::new(),
            changed_fields: vec![],
        }
        .into(),
    );
    let updated = state_after(history);
    assert_eq!(updated.source, "referral");
    assert_eq!(updated.priority, Some(LeadPriority::Low));
    assert_eq!(updated.estimated_move_date, None);
    assert_eq!(updated.estimated_value, Some(dec!(99.90)));
    assert_eq!(updated.score, 12);
    assert_eq!(
        updated.status,
        Some(New),
        "an update does not move the lead"
    );
}

// ---------------------------------------------------------------- Transition: the table

#[test]
fn the_expectation_table_covers_every_status_exactly_once() {
    assert_eq!(ORDER.len(), LeadStatus::ALL.len());
    for status in LeadStatus::ALL {
        assert_eq!(ORDER.iter().filter(|s| *s == status).count(), 1, "{status}");
    }
}

#[test]
fn transition_allowed_matches_the_pipeline_table_for_every_pair() {
    let mut mismatches = Vec::new();
    for from in ORDER {
        for to in ORDER {
            if transition_allowed(from, to) != expected_allowed(from, to) {
                mismatches.push(format!(
                    "{from} -> {to}: expected {}, got {}",
                    expected_allowed(from, to),
                    transition_allowed(from, to)
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    let legal = ORDER
        .iter()
        .flat_map(|f| ORDER.iter().map(move |t| (*f, *t)))
        .filter(|(f, t)| transition_allowed(*f, *t))
        .count();
    assert_eq!(legal, 27);
}

#[test]
fn transition_allowed_follows_the_stated_rules() {
    for from in ORDER {
        assert!(
            !transition_allowed(from, from),
            "{from} -> {from} must be illegal"
        );
        assert!(
            !transition_allowed(from, New),
            "nothing moves back to NEW, not even from {from}"
        );
        for to in ORDER {
            if matches!(from, Won | Archived) {
                assert!(
                    !transition_allowed(from, to),
                    "{from} is final but allows {to}"
                );
            }
        }
    }
    for open in [New, Contacted, Qualified, ProposalSent, Negotiation] {
        assert!(transition_allowed(open, Lost), "{open} -> LOST");
        assert!(transition_allowed(open, Archived), "{open} -> ARCHIVED");
    }
    for to in ORDER {
        assert_eq!(
            transition_allowed(Lost, to),
            matches!(to, Contacted | Archived),
            "LOST -> {to}"
        );
    }
    // Skipping stages is allowed; going back is not.
    assert!(transition_allowed(New, Won));
    assert!(transition_allowed(Contacted, Negotiation));
    assert!(!transition_allowed(Negotiation, Qualified));
    assert!(!transition_allowed(ProposalSent, Contacted));
}

#[test]
fn the_aggregate_applies_the_pipeline_table_to_every_pair() {
    let at = "2026-03-20T10:00:00Z";
    for from in ORDER {
        let history = history_to(from);
        assert_eq!(
            state_after(history.clone()).status,
            Some(from),
            "history_to({from})"
        );
        for to in ORDER {
            let result = run(&history, command(at, transition(to, Some(LOST_REASON))));
            if from == Archived {
                assert_eq!(result, Err(LeadError::Closed(Archived)), "{from} -> {to}");
            } else if expected_allowed(from, to) {
                let mut expected = vec![status_changed(from, to, Some(LOST_REASON), at)];
                if from == New && is_pipeline_stage(to) {
                    // 9 days and 20 hours after creation.
                    expected.push(first_contacted(at, 10 * 24 * 3600 - 4 * 3600));
                }
                assert_eq!(result, Ok(expected), "{from} -> {to}");
            } else {
                assert_eq!(
                    result,
                    Err(LeadError::IllegalTransition { from, to }),
                    "{from} -> {to}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------- Transition: examples

#[test]
fn contacting_a_new_lead_records_the_move_and_the_speed_to_lead() {
    lead()
        .given(given_new_lead())
        .when(command("2026-03-10T14:07:30Z", transition(Contacted, None)))
        .then_expect_events(vec![
            status_changed(New, Contacted, None, "2026-03-10T14:07:30Z"),
            first_contacted("2026-03-10T14:07:30Z", 450),
        ]);
}

#[test]
fn a_new_lead_may_skip_straight_to_qualified_and_that_counts_as_first_contact() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-11T14:00:00Z",
            transition(Qualified, Some("  Budget confirmed ")),
        ))
        .then_expect_events(vec![
            status_changed(
                New,
                Qualified,
                Some("Budget confirmed"),
                "2026-03-11T14:00:00Z",
            ),
            first_contacted("2026-03-11T14:00:00Z", 86_400),
        ]);
}

#[test]
fn moving_a_contacted_lead_forward_does_not_stamp_first_contact_again() {
    lead()
        .given(history_to(Contacted))
        .when(command("2026-03-11T10:00:00Z", transition(Qualified, None)))
        .then_expect_events(vec![status_changed(
            Contacted,
            Qualified,
            None,
            "2026-03-11T10:00:00Z",
        )]);
}

#[test]
fn moving_a_qualified_lead_back_to_contacted_is_rejected() {
    lead()
        .given(history_to(Qualified))
        .when(command("2026-03-12T10:00:00Z", transition(Contacted, None)))
        .then_expect_error(LeadError::IllegalTransition {
            from: Qualified,
            to: Contacted,
        });
}

#[test]
fn an_illegal_move_explains_itself_in_pipeline_terms() {
    lead()
        .given(history_to(Qualified))
        .when(command("2026-03-12T10:00:00Z", transition(Contacted, None)))
        .then_expect_error_message("a lead cannot move from QUALIFIED to CONTACTED");
}

#[test]
fn moving_a_lead_to_its_current_status_is_rejected() {
    lead()
        .given(history_to(Contacted))
        .when(command("2026-03-12T10:00:00Z", transition(Contacted, None)))
        .then_expect_error(LeadError::IllegalTransition {
            from: Contacted,
            to: Contacted,
        });
}

#[test]
fn no_lead_can_move_back_to_new() {
    lead()
        .given(history_to(Lost))
        .when(command("2026-03-12T10:00:00Z", transition(New, None)))
        .then_expect_error(LeadError::IllegalTransition {
            from: Lost,
            to: New,
        });
}

#[test]
fn marking_a_lead_lost_without_a_reason_is_rejected() {
    lead()
        .given(history_to(Negotiation))
        .when(command("2026-03-20T10:00:00Z", transition(Lost, None)))
        .then_expect_error(invalid(
            "reason",
            "a reason is required to mark a lead LOST",
        ));
}

#[test]
fn marking_a_lead_lost_with_a_blank_reason_is_rejected() {
    lead()
        .given(history_to(Contacted))
        .when(command(
            "2026-03-20T10:00:00Z",
            transition(Lost, Some("   ")),
        ))
        .then_expect_error(invalid(
            "reason",
            "a reason is required to mark a lead LOST",
        ));
}

#[test]
fn marking_a_lead_lost_records_the_trimmed_reason() {
    lead()
        .given(history_to(ProposalSent))
        .when(command(
            "2026-03-20T10:00:00Z",
            transition(Lost, Some("  Chose another mover\n")),
        ))
        .then_expect_events(vec![status_changed(
            ProposalSent,
            Lost,
            Some(LOST_REASON),
            "2026-03-20T10:00:00Z",
        )]);
}

#[test]
fn an_overlong_reason_is_rejected_on_the_reason_field() {
    let reason = "x".repeat(10_001);
    lead()
        .given(history_to(Contacted))
        .when(command(
            "2026-03-20T10:00:00Z",
            transition(Archived, Some(&reason)),
        ))
        .then_expect_error(invalid("reason", "must be at most 10000 characters"));
}

#[test]
fn an_illegal_move_is_reported_before_a_missing_lost_reason() {
    lead()
        .given(history_to(Won))
        .when(command("2026-03-20T10:00:00Z", transition(Lost, None)))
        .then_expect_error(LeadError::IllegalTransition {
            from: Won,
            to: Lost,
        });
}

#[test]
fn giving_up_on_a_new_lead_is_not_a_first_contact() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-11T10:00:00Z",
            transition(Lost, Some("No answer")),
        ))
        .then_expect_events(vec![status_changed(
            New,
            Lost,
            Some("No answer"),
            "2026-03-11T10:00:00Z",
        )]);
    lead()
        .given(given_new_lead())
        .when(command("2026-03-11T10:00:00Z", transition(Archived, None)))
        .then_expect_events(vec![status_changed(
            New,
            Archived,
            None,
            "2026-03-11T10:00:00Z",
        )]);
}

#[test]
fn a_lost_lead_can_be_reopened_as_contacted() {
    lead()
        .given(history_to(Lost))
        .when(command(
            "2026-03-25T10:00:00Z",
            transition(Contacted, Some("Called back")),
        ))
        .then_expect_events(vec![status_changed(
            Lost,
            Contacted,
            Some("Called back"),
            "2026-03-25T10:00:00Z",
        )]);
}

#[test]
fn a_lost_lead_cannot_jump_back_into_the_later_pipeline() {
    lead()
        .given(history_to(Lost))
        .when(command("2026-03-25T10:00:00Z", transition(Qualified, None)))
        .then_expect_error(LeadError::IllegalTransition {
            from: Lost,
            to: Qualified,
        });
}

#[test]
fn a_won_lead_cannot_be_lost_or_archived() {
    for to in [Lost, Archived, Negotiation] {
        lead()
            .given(history_to(Won))
            .when(command(
                "2026-03-25T10:00:00Z",
                transition(to, Some(LOST_REASON)),
            ))
            .then_expect_error(LeadError::IllegalTransition { from: Won, to });
    }
}

#[test]
fn a_lead_walks_the_whole_pipeline_to_won() {
    let steps = [
        (Contacted, "2026-03-10T14:30:00Z"),
        (Qualified, "2026-03-11T10:00:00Z"),
        (ProposalSent, "2026-03-12T10:00:00Z"),
        (Negotiation, "2026-03-13T10:00:00Z"),
        (Won, "2026-03-14T10:00:00Z"),
    ];
    let mut history = given_new_lead();
    let mut from = New;
    for (to, at) in steps {
        let events = run(&history, command(at, transition(to, None))).expect("a forward move");
        assert_eq!(events[0], status_changed(from, to, None, at));
        history.extend(events);
        from = to;
    }
    let won = state_after(history);
    assert_eq!(won.status, Some(Won));
    assert_eq!(won.first_contacted_at, Some(ts("2026-03-10T14:30:00Z")));
}

// ---------------------------------------------------------------- Assign

#[test]
fn assigning_an_unassigned_lead_records_the_rep() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-10T14:01:00Z",
            LeadAction::Assign {
                user_id: Some(REP_A),
            },
        ))
        .then_expect_events(vec![
            LeadAssigned {
                assigned_to: Some(REP_A),
                previous: None,
            }
            .into(),
        ]);
}

#[test]
fn reassigning_a_lead_records_the_previous_rep() {
    let mut history = given_new_lead();
    history.push(
        LeadAssigned {
            assigned_to: Some(REP_A),
            previous: None,
        }
        .into(),
    );
    lead()
        .given(history)
        .when(command(
            "2026-03-11T09:00:00Z",
            LeadAction::Assign {
                user_id: Some(REP_B),
            },
        ))
        .then_expect_events(vec![
            LeadAssigned {
                assigned_to: Some(REP_B),
                previous: Some(REP_A),
            }
            .into(),
        ]);
}

#[test]
fn unassigning_a_lead_records_who_had_it() {
    let created_assigned = LeadCreated {
        assigned_to: Some(REP_A),
        ..lead_created()
    };
    lead()
        .given(vec![created_assigned.into()])
        .when(command(
            "2026-03-11T09:00:00Z",
            LeadAction::Assign { user_id: None },
        ))
        .then_expect_events(vec![
            LeadAssigned {
                assigned_to: None,
                previous: Some(REP_A),
            }
            .into(),
        ]);
}

#[test]
fn assigning_a_lead_to_its_current_rep_emits_nothing() {
    let created_assigned = LeadCreated {
        assigned_to: Some(REP_A),
        ..lead_created()
    };
    lead()
        .given(vec![created_assigned.into()])
        .when(command(
            "2026-03-11T09:00:00Z",
            LeadAction::Assign {
                user_id: Some(REP_A),
            },
        ))
        .then_expect_events(vec![]);
}

#[test]
fn unassigning_an_unassigned_lead_emits_nothing() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-11T09:00:00Z",
            LeadAction::Assign { user_id: None },
        ))
        .then_expect_events(vec![]);
}

#[test]
fn a_won_lead_can_still_be_reassigned() {
    lead()
        .given(history_to(Won))
        .when(command(
            "2026-03-20T09:00:00Z",
            LeadAction::Assign {
                user_id: Some(REP_B),
            },
        ))
        .then_expect_events(vec![
            LeadAssigned {
                assigned_to: Some(REP_B),
                previous: None,
            }
            .into(),
        ]);
}

// ---------------------------------------------------------------- RecordActivity

#[test]
fn a_completed_phone_call_on_a_never_contacted_lead_stamps_first_contact() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-10T15:00:00Z",
            LeadAction::RecordActivity(phone_call(Some("2026-03-10T14:45:00Z"))),
        ))
        .then_expect_events(vec![
            phone_call_recorded(Some("2026-03-10T14:45:00Z")).into(),
            first_contacted("2026-03-10T14:45:00Z", 45 * 60),
        ]);
}

#[test]
fn an_other_activity_does_not_count_as_contact() {
    let note = RecordActivity {
        activity_type: SalesActivityType::Other,
        ..phone_call(Some("2026-03-10T14:45:00Z"))
    };
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-10T15:00:00Z",
            LeadAction::RecordActivity(note),
        ))
        .then_expect_events(vec![
            SalesActivityRecorded {
                activity_type: SalesActivityType::Other,
                ..phone_call_recorded(Some("2026-03-10T14:45:00Z"))
            }
            .into(),
        ]);
}

#[test]
fn a_scheduled_call_that_has_not_happened_does_not_count_as_contact() {
    let scheduled = RecordActivity {
        scheduled_at: Some(ts("2026-03-11T10:00:00Z")),
        ..phone_call(None)
    };
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-10T15:00:00Z",
            LeadAction::RecordActivity(scheduled),
        ))
        .then_expect_events(vec![
            SalesActivityRecorded {
                scheduled_at: Some(ts("2026-03-11T10:00:00Z")),
                ..phone_call_recorded(None)
            }
            .into(),
        ]);
}

#[test]
fn a_completed_call_on_an_already_contacted_lead_does_not_stamp_first_contact_again() {
    lead()
        .given(history_to(Contacted))
        .when(command(
            "2026-03-11T15:00:00Z",
            LeadAction::RecordActivity(phone_call(Some("2026-03-11T14:45:00Z"))),
        ))
        .then_expect_events(vec![
            phone_call_recorded(Some("2026-03-11T14:45:00Z")).into(),
        ]);
}

#[test]
fn contacting_a_lead_already_reached_by_an_activity_does_not_stamp_first_contact_again() {
    let mut history = given_new_lead();
    history.push(phone_call_recorded(Some("2026-03-10T14:45:00Z")).into());
    history.push(first_contacted("2026-03-10T14:45:00Z", 45 * 60));
    lead()
        .given(history)
        .when(command("2026-03-10T15:00:00Z", transition(Contacted, None)))
        .then_expect_events(vec![status_changed(
            New,
            Contacted,
            None,
            "2026-03-10T15:00:00Z",
        )]);
}

#[test]
fn every_activity_type_but_other_counts_as_contact() {
    let contact_types = [
        SalesActivityType::PhoneCall,
        SalesActivityType::Email,
        SalesActivityType::Meeting,
        SalesActivityType::ProposalSent,
        SalesActivityType::FollowUp,
        SalesActivityType::Demo,
        SalesActivityType::SiteVisit,
    ];
    for &activity_type in SalesActivityType::ALL {
        let activity = RecordActivity {
            activity_type,
            ..phone_call(Some("2026-03-10T14:10:00Z"))
        };
        let events = run(
            &given_new_lead(),
            command("2026-03-10T15:00:00Z", LeadAction::RecordActivity(activity)),
        )
        .expect("valid activity");
        let stamped = events.contains(&first_contacted("2026-03-10T14:10:00Z", 600));
        assert_eq!(
            stamped,
            contact_types.contains(&activity_type),
            "{activity_type}"
        );
        assert_eq!(events.len(), if stamped { 2 } else { 1 }, "{activity_type}");
    }
}

#[test]
fn a_contact_completed_before_the_lead_was_created_counts_as_an_immediate_response() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-10T15:00:00Z",
            LeadAction::RecordActivity(phone_call(Some("2026-03-10T13:30:00Z"))),
        ))
        .then_expect_events(vec![
            phone_call_recorded(Some("2026-03-10T13:30:00Z")).into(),
            first_contacted("2026-03-10T13:30:00Z", 0),
        ]);
}

#[test]
fn recording_an_activity_trims_text_and_normalizes_the_cost() {
    let activity = RecordActivity {
        activity_type: SalesActivityType::SiteVisit,
        subject: Some("   ".into()),
        description: "  Walked through the house ".into(),
        outcome: Some(" Booked the survey ".into()),
        next_action: Some("Send quote".into()),
        notes: Some("".into()),
        duration_minutes: Some(90),
        cost: Some(dec!(25)),
        completed_at: None,
        ..phone_call(None)
    };
    let events = run(
        &history_to(Contacted),
        command("2026-03-11T15:00:00Z", LeadAction::RecordActivity(activity)),
    )
    .expect("valid activity");
    let expected = SalesActivityRecorded {
        activity_id: ACTIVITY_ID,
        activity_type: SalesActivityType::SiteVisit,
        subject: None,
        description: "Walked through the house".into(),
        outcome: Some("Booked the survey".into()),
        next_action: Some("Send quote".into()),
        scheduled_at: None,
        completed_at: None,
        duration_minutes: Some(90),
        cost: Some(dec!(25.00)),
        notes: None,
        recorded_by: ACTOR,
    };
    assert_eq!(events, vec![LeadEvent::from(expected)]);
    let LeadEvent::SalesActivityRecorded(recorded) = &events[0] else {
        unreachable!("checked above");
    };
    assert_eq!(
        recorded.cost.map(|c| c.to_string()).as_deref(),
        Some("25.00")
    );
}

#[test]
fn an_activity_completed_in_the_future_is_rejected() {
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-10T15:00:00Z",
            LeadAction::RecordActivity(phone_call(Some("2026-03-10T15:05:01Z"))),
        ))
        .then_expect_error(invalid("completed_at", "must not be in the future"));
}

#[test]
fn an_activity_completed_up_to_five_minutes_ahead_is_tolerated_as_clock_skew() {
    lead()
        .given(history_to(Contacted))
        .when(command(
            "2026-03-10T15:00:00Z",
            LeadAction::RecordActivity(phone_call(Some("2026-03-10T15:05:00Z"))),
        ))
        .then_expect_events(vec![
            phone_call_recorded(Some("2026-03-10T15:05:00Z")).into(),
        ]);
}

#[test]
fn an_activity_without_a_description_is_rejected() {
    let activity = RecordActivity {
        description: "  ".into(),
        ..phone_call(None)
    };
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-10T15:00:00Z",
            LeadAction::RecordActivity(activity),
        ))
        .then_expect_error(invalid("description", "must not be empty"));
}

#[test]
fn an_activity_with_several_invalid_fields_reports_them_all() {
    let activity = RecordActivity {
        description: "".into(),
        duration_minutes: Some(7 * 24 * 60 + 1),
        cost: Some(dec!(-5)),
        completed_at: Some(ts("2026-03-11T00:00:00Z")),
        ..phone_call(None)
    };
    let fields = rejected_fields(run(
        &given_new_lead(),
        command("2026-03-10T15:00:00Z", LeadAction::RecordActivity(activity)),
    ));
    assert_eq!(
        fields,
        ["description", "duration_minutes", "cost", "completed_at"]
    );
}

#[test]
fn an_invalid_contact_activity_does_not_stamp_first_contact() {
    let activity = RecordActivity {
        duration_minutes: Some(-1),
        ..phone_call(Some("2026-03-10T14:45:00Z"))
    };
    lead()
        .given(given_new_lead())
        .when(command(
            "2026-03-10T15:00:00Z",
            LeadAction::RecordActivity(activity),
        ))
        .then_expect_error(invalid(
            "duration_minutes",
            "must be between 0 and 10080 minutes",
        ));
}

#[test]
fn activities_are_counted_and_the_latest_completed_contact_is_remembered() {
    let mut history = given_new_lead();
    history.push(phone_call_recorded(Some("2026-03-12T10:00:00Z")).into());
    history.push(phone_call_recorded(Some("2026-03-11T10:00:00Z")).into());
    history.push(phone_call_recorded(None).into());
    let state = state_after(history);
    assert_eq!(state.activity_count, 3);
    assert_eq!(state.last_contact_at, Some(ts("2026-03-12T10:00:00Z")));
}

// ---------------------------------------------------------------- error kinds

#[test]
fn lead_errors_are_sorted_into_invalid_conflict_and_not_found() {
    let errors = ValidationErrors::single("reason", "a reason is required to mark a lead LOST");
    assert_eq!(
        LeadError::Invalid(errors.clone()).kind(),
        ErrorKind::Invalid(&errors)
    );
    assert_eq!(LeadError::NotFound.kind(), ErrorKind::NotFound);
    let conflicts = [
        (LeadError::AlreadyExists(LEAD_ID), "lead.already-exists"),
        (
            LeadError::CustomerInactive(CUSTOMER_ID),
            "lead.customer-inactive",
        ),
        (
            LeadError::IllegalTransition {
                from: Won,
                to: Lost,
            },
            "lead.illegal-transition",
        ),
        (LeadError::Closed(Archived), "lead.closed"),
    ];
    for (error, rule) in conflicts {
        assert_eq!(error.kind(), ErrorKind::Conflict { rule }, "{error}");
    }
    assert_eq!(
        LeadError::CustomerInactive(CUSTOMER_ID).to_string(),
        format!(
            "customer {CUSTOMER_ID} is inactive; reactivate the customer before opening a lead"
        )
    );
}

// ---------------------------------------------------------------- properties

/// One random command, before it is given a time.
#[derive(Clone, Debug)]
enum Step {
    Transition(LeadStatus, bool),
    Assign(Option<bool>),
    Activity(SalesActivityType, bool),
    Score(i32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (prop::sample::select(ORDER.to_vec()), any::<bool>()).prop_map(|(to, reason)| Step::Transition(to, reason)),
        1 => prop::option::of(any::<bool>()).prop_map(Step::Assign),
        2 => (prop::sample::select(SalesActivityType::ALL.to_vec()), any::<bool>())
            .prop_map(|(t, done)| Step::Activity(t, done)),
        1 => (-5..110i32).prop_map(Step::Score),
    ]
}

fn step_action(step: &Step, at: DateTime<Utc>) -> LeadAction {
    match step {
        Step::Transition(to, with_reason) => LeadAction::Transition {
            to: *to,
            reason: with_reason.then(|| LOST_REASON.to_owned()),
        },
        Step::Assign(user) => LeadAction::Assign {
            user_id: user.map(|a| if a { REP_A } else { REP_B }),
        },
        Step::Activity(activity_type, done) => LeadAction::RecordActivity(RecordActivity {
            activity_type: *activity_type,
            completed_at: done.then_some(at),
            ..phone_call(None)
        }),
        Step::Score(score) => LeadAction::Update(UpdateLead {
            score: Some(*score),
            ..UpdateLead::default()
        }),
    }
}

/// A money amount of at most two decimals, written in one of several scales.
fn money_amount() -> impl Strategy<Value = (Decimal, String)> {
    (0i64..=99_999_999_999, 0..3u8).prop_map(|(cents, representation)| {
        let amount = match representation {
            0 => Decimal::new(cents, 2),
            1 => Decimal::new(cents * 10, 3),
            _ if cents % 100 == 0 => Decimal::new(cents / 100, 0),
            _ => Decimal::new(cents, 2),
        };
        (amount, format!("{}.{:02}", cents / 100, cents % 100))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn after_any_sequence_of_legal_moves_the_status_is_the_last_target(
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..12),
    ) {
        let created = ts(CREATED_AT);
        let mut history = given_new_lead();
        let mut current = New;
        let mut last_target = None;
        let mut first_contacts = 0;
        for (i, pick) in picks.iter().enumerate() {
            let targets: Vec<LeadStatus> = ORDER.into_iter().filter(|t| expected_allowed(current, *t)).collect();
            if targets.is_empty() {
                break;
            }
            let to = targets[pick.index(targets.len())];
            let at = created + chrono::Duration::minutes(10 * (i as i64 + 1));
            let reason = (to == Lost).then(|| LOST_REASON.to_owned());
            let events = run(&history, LeadCommand { at, actor: ACTOR, action: LeadAction::Transition { to, reason: reason.clone() } })
                .map_err(|e| TestCaseError::fail(format!("{current} -> {to} rejected: {e}")))?;
            prop_assert_eq!(
                &events[0],
                &LeadEvent::from(LeadStatusChanged { from: current, to, reason, changed_at: at, cause: None })
            );
            first_contacts += events.iter().filter(|e| matches!(e, LeadEvent::LeadFirstContacted(_))).count();
            if current == New && is_pipeline_stage(to) {
                prop_assert_eq!(
                    &events[1],
                    &LeadEvent::from(LeadFirstContacted { contacted_at: at, response_seconds: (at - created).num_seconds() })
                );
            }
            history.extend(events);
            current = to;
            last_target = Some(to);
        }
        prop_assert!(first_contacts <= 1);
        let state = state_after(history);
        prop_assert_eq!(state.status, last_target);
    }

    #[test]
    fn no_command_sequence_moves_a_lead_out_of_won_or_archived(steps in prop::collection::vec(step(), 1..20)) {
        let created = ts(CREATED_AT);
        let mut history = given_new_lead();
        let mut first_contacts = 0;
        for (i, step) in steps.iter().enumerate() {
            let before = state_after(history.clone()).status.expect("created");
            let at = created + chrono::Duration::minutes(i as i64 + 1);
            let result = run(&history, LeadCommand { at, actor: ACTOR, action: step_action(step, at) });
            if before == Archived {
                prop_assert_eq!(&result, &Err(LeadError::Closed(Archived)), "{:?}", step);
            }
            let Ok(events) = result else { continue };
            for event in &events {
                match event {
                    LeadEvent::LeadStatusChanged(changed) => {
                        prop_assert_eq!(changed.from, before);
                        prop_assert!(expected_allowed(changed.from, changed.to), "{} -> {}", changed.from, changed.to);
                        if changed.to == Lost {
                            prop_assert!(changed.reason.is_some(), "LOST without a reason");
                        }
                    }
                    LeadEvent::LeadFirstContacted(_) => first_contacts += 1,
                    _ => {}
                }
            }
            history.extend(events);
            let after = state_after(history.clone()).status.expect("created");
            if matches!(before, Won | Archived) {
                prop_assert_eq!(after, before, "left a final status with {:?}", step);
            }
        }
        prop_assert!(first_contacts <= 1, "first contact stamped {} times", first_contacts);
    }

    #[test]
    fn any_amount_with_at_most_two_decimals_round_trips_with_scale_two((amount, expected) in money_amount()) {
        let normalized = values::money(amount).map_err(TestCaseError::fail)?;
        prop_assert_eq!(normalized, amount);
        prop_assert_eq!(normalized.scale(), 2);
        prop_assert_eq!(normalized.to_string(), expected);
        prop_assert!(normalized <= MAX_MONEY);
    }

    #[test]
    fn any_negative_amount_is_refused(cents in 1i64..=99_999_999_999) {
        prop_assert_eq!(values::money(Decimal::new(-cents, 2)), Err("must not be negative".to_owned()));
    }

    #[test]
    fn any_amount_with_a_significant_third_decimal_is_refused(mills in 0i64..=999_999_999_999) {
        prop_assume!(mills % 10 != 0);
        prop_assert_eq!(
            values::money(Decimal::new(mills, 3)),
            Err("must have at most 2 decimal places".to_owned())
        );
    }

    #[test]
    fn any_amount_above_the_maximum_is_refused(cents in 100_000_000_000i64..=1_000_000_000_000_000) {
        prop_assert!(values::money(Decimal::new(cents, 2)).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_valid_estimated_value_is_recorded_with_two_decimals((amount, expected) in money_amount()) {
        let cmd = CreateLead { estimated_value: Some(amount), ..create_lead() };
        let events = run(&[], command(CREATED_AT, LeadAction::Create(cmd)))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let [LeadEvent::LeadCreated(created)] = events.as_slice() else {
            return Err(TestCaseError::fail(format!("expected one LeadCreated, got {events:?}")));
        };
        prop_assert_eq!(created.estimated_value.map(|v| v.to_string()), Some(expected));
    }
}

#[test]
fn reopening_a_lead_lost_before_any_contact_stamps_the_first_contact() {
    let mut history = given_new_lead();
    history.push(
        LeadStatusChanged {
            from: LeadStatus::New,
            to: LeadStatus::Lost,
            reason: Some("no answer".into()),
            changed_at: ts("2026-03-10T12:00:00Z"),
            cause: None,
        }
        .into(),
    );
    let events = lead()
        .given(history)
        .when(command(
            "2026-03-11T10:00:00Z",
            LeadAction::Transition {
                to: LeadStatus::Contacted,
                reason: None,
            },
        ))
        .inspect_result()
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LeadEvent::LeadFirstContacted(_))),
        "{events:?}"
    );
}

#[test]
fn a_lead_records_its_location_and_rejects_a_malformed_one() {
    let events = lead()
        .given_no_previous_events()
        .when(command(
            "2026-03-10T10:00:00Z",
            LeadAction::Create(CreateLead {
                location_id: Some(" mtl-1 ".into()),
                ..create_lead()
            }),
        ))
        .inspect_result()
        .unwrap();
    assert!(
        matches!(&events[0], LeadEvent::LeadCreated(e) if e.location_id.as_deref() == Some("mtl-1"))
    );
    lead()
        .given_no_previous_events()
        .when(command(
            "2026-03-10T10:00:00Z",
            LeadAction::Create(CreateLead {
                location_id: Some("no spaces".into()),
                ..create_lead()
            }),
        ))
        .then_expect_error(invalid(
            "location_id",
            "must be 1 to 64 characters of letters, digits, - and _",
        ));
}

// ------------------------------------------------------------ the sales process

fn cause(event: &str, rule: &str) -> event_schemas::lead::PipelineCause {
    event_schemas::lead::PipelineCause {
        event_id: event.to_owned(),
        quote_id: Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_3001),
        rule: rule.to_owned(),
    }
}

fn pipeline_move(
    to: LeadStatus,
    only_from: Vec<LeadStatus>,
    event: &str,
    as_of_version: u64,
) -> LeadAction {
    LeadAction::PipelineMove {
        to,
        only_from,
        cause: cause(event, "quote-sent"),
        as_of_version,
    }
}

#[test]
fn a_sent_quote_moves_a_new_lead_to_proposal_sent_naming_its_cause_and_stamping_first_contact() {
    lead()
        .given(vec![lead_created().into()])
        .when(command(
            "2026-03-11T10:00:05Z",
            pipeline_move(ProposalSent, vec![], "ev-1", 1),
        ))
        .then_expect_events(vec![
            LeadStatusChanged {
                from: New,
                to: ProposalSent,
                reason: None,
                changed_at: ts("2026-03-11T10:00:05Z"),
                cause: Some(cause("ev-1", "quote-sent")),
            }
            .into(),
            first_contacted("2026-03-11T10:00:05Z", 72_005),
        ]);
}

#[test]
fn a_cause_moves_a_lead_at_most_once() {
    let moved = LeadStatusChanged {
        from: New,
        to: ProposalSent,
        reason: None,
        changed_at: ts("2026-03-11T10:00:05Z"),
        cause: Some(cause("ev-1", "quote-sent")),
    };
    // A redelivered event acts once, whatever move it would decide now.
    lead()
        .given(vec![
            lead_created().into(),
            moved.into(),
            first_contacted("2026-03-11T10:00:05Z", 72_005),
        ])
        .when(command(
            "2026-03-11T10:00:06Z",
            pipeline_move(Negotiation, vec![], "ev-1", 3),
        ))
        .then_expect_events(vec![]);
}

#[test]
fn the_sales_process_never_moves_a_lead_backwards_or_out_of_lost_or_won() {
    for (status, history) in [
        (
            Negotiation,
            vec![status_changed(
                New,
                Negotiation,
                None,
                "2026-03-11T09:00:00Z",
            )],
        ),
        (
            Lost,
            vec![status_changed(
                New,
                Lost,
                Some(LOST_REASON),
                "2026-03-11T09:00:00Z",
            )],
        ),
        (
            Won,
            vec![status_changed(New, Won, None, "2026-03-11T09:00:00Z")],
        ),
    ] {
        let mut given: Vec<LeadEvent> = vec![lead_created().into()];
        given.extend(history);
        let events = lead()
            .given(given)
            .when(command(
                "2026-03-11T10:00:05Z",
                pipeline_move(ProposalSent, vec![], "ev-2", 2),
            ))
            .inspect_result()
            .unwrap();
        assert!(events.is_empty(), "{status}: {events:?}");
    }
}

#[test]
fn a_rejection_move_applies_only_from_the_statuses_it_names() {
    let at_qualified = vec![
        lead_created().into(),
        status_changed(New, Qualified, None, "2026-03-11T09:00:00Z"),
    ];
    let events = lead()
        .given(at_qualified)
        .when(command(
            "2026-03-11T10:00:05Z",
            pipeline_move(Negotiation, vec![ProposalSent], "ev-3", 2),
        ))
        .inspect_result()
        .unwrap();
    assert!(events.is_empty());
}

#[test]
fn an_old_quote_event_replayed_after_the_lead_changed_moves_nothing() {
    // Accepted while the lead was LOST (a no-op then, at the lead's version
    // 2); the lead was reopened later (version 3); a rebuild replays the
    // acceptance: still nothing.
    let events = lead()
        .given(vec![
            lead_created().into(),
            status_changed(New, Lost, Some(LOST_REASON), "2026-03-11T09:00:00Z"),
            status_changed(Lost, Contacted, None, "2026-03-13T09:00:00Z"),
        ])
        .when(command(
            "2026-03-20T10:00:00Z",
            pipeline_move(Won, vec![], "ev-4", 2),
        ))
        .inspect_result()
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn an_acceptance_right_after_the_send_wins_though_the_proposal_move_committed_after_it() {
    // The quote was sent and accepted while the lead was at version 1; the
    // sales process committed its move to PROPOSAL_SENT (versions 2 and 3)
    // after the acceptance, with a later clock. The process's own moves are
    // not a person's change: the acceptance still moves the lead to WON.
    let proposed = LeadStatusChanged {
        from: New,
        to: ProposalSent,
        reason: None,
        changed_at: ts("2026-03-11T10:00:09Z"),
        cause: Some(cause("ev-sent", "quote-sent")),
    };
    let events = lead()
        .given(vec![
            lead_created().into(),
            proposed.into(),
            first_contacted("2026-03-11T10:00:09Z", 72_009),
        ])
        .when(command(
            "2026-03-11T10:00:10Z",
            pipeline_move(Won, vec![], "ev-accepted", 1),
        ))
        .inspect_result()
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let LeadEvent::LeadStatusChanged(changed) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!((changed.from, changed.to), (ProposalSent, Won));
}

#[test]
fn a_persons_change_at_or_before_the_cause_does_not_block_the_move_but_a_later_one_does() {
    let history = || -> Vec<LeadEvent> {
        vec![
            lead_created().into(),
            status_changed(New, Qualified, None, "2026-03-11T09:00:00Z"),
        ]
    };
    // The person qualified the lead (version 2) before the quote was sent.
    let events = lead()
        .given(history())
        .when(command(
            "2026-03-11T10:00:05Z",
            pipeline_move(ProposalSent, vec![], "ev-5", 2),
        ))
        .inspect_result()
        .unwrap();
    assert!(
        matches!(&events[0], LeadEvent::LeadStatusChanged(c) if c.to == ProposalSent),
        "{events:?}"
    );
    // The quote was sent when the lead was at version 1: the person's later
    // change stands, whatever the clocks say.
    let events = lead()
        .given(history())
        .when(command(
            "2026-03-11T08:00:00Z",
            pipeline_move(ProposalSent, vec![], "ev-5", 1),
        ))
        .inspect_result()
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
}
