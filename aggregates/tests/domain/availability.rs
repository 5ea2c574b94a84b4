//! Given/when/then tests of the `Availability` aggregate: single windows,
//! recurring ones across daylight-saving changes, the horizon and its
//! extension, removal, and validation.

use aggregates::availability::{
    Availability, AvailabilityAction, AvailabilityCommand, AvailabilityError, Window,
};
use aggregates::recurrence::horizon;
use aggregates::{DomainError, ErrorKind, TenantOwned};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::America::Toronto;
use chrono_tz::Tz;
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::availability::{
    AvailabilityEvent, AvailabilityExtended, AvailabilityRecorded, AvailabilityRemoved,
    AvailabilityType, Period, RecurrenceRule,
};
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);
const USER: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_b001);
const ENTRY: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_c001);

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, min, 0))
        .expect("valid date")
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    local(y, m, d, h, min).and_utc()
}

fn period(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Period {
    Period { starts_at, ends_at }
}

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").unwrap()
}

/// Monday 1 March 2027, 07:00 in Toronto (EST): before that day's 08:00.
fn recorded_at() -> DateTime<Utc> {
    utc(2027, 3, 1, 12, 0)
}

fn record(window: Window) -> AvailabilityAction {
    AvailabilityAction::Record {
        tenant_id: tenant(),
        availability_id: ENTRY,
        user_id: USER,
        is_available: false,
        availability_type: AvailabilityType::Vacation,
        reason: Some("  Family trip ".into()),
        notes: None,
        window,
        time_zone: Toronto,
    }
}

fn recurring(rule: &str, local_start: NaiveDateTime, duration_minutes: u32) -> Window {
    Window::Recurring {
        rule: rule.into(),
        local_start,
        duration_minutes,
    }
}

fn run(
    history: &[AvailabilityEvent],
    action: AvailabilityAction,
    at: DateTime<Utc>,
) -> Result<Vec<AvailabilityEvent>, AvailabilityError> {
    TestFramework::<Availability>::with(())
        .given(history.to_vec())
        .when(AvailabilityCommand {
            at,
            actor: ACTOR,
            action,
        })
        .inspect_result()
}

fn state(events: &[AvailabilityEvent]) -> Availability {
    let mut entry = Availability::default();
    for event in events {
        entry.apply(event.clone());
    }
    entry
}

fn recorded_event(events: &[AvailabilityEvent]) -> &AvailabilityRecorded {
    match events {
        [AvailabilityEvent::AvailabilityRecorded(e)] => e,
        other => panic!("expected one AvailabilityRecorded, got {other:?}"),
    }
}

fn extended_event(events: &[AvailabilityEvent]) -> &AvailabilityExtended {
    match events {
        [AvailabilityEvent::AvailabilityExtended(e)] => e,
        other => panic!("expected one AvailabilityExtended, got {other:?}"),
    }
}

fn invalid_fields(result: Result<Vec<AvailabilityEvent>, AvailabilityError>) -> Vec<String> {
    let error = result.expect_err("invalid");
    match error.kind() {
        ErrorKind::Invalid(errors) => errors.0.iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn message(result: &Result<Vec<AvailabilityEvent>, AvailabilityError>, field: &str) -> String {
    match result {
        Err(AvailabilityError::Invalid(errors)) => errors
            .0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
            .unwrap_or_else(|| panic!("no error on {field}: {errors}")),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn wall_clock(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

fn eight() -> NaiveTime {
    NaiveTime::from_hms_opt(8, 0, 0).unwrap()
}

// --- single windows ----------------------------------------------------------

fn one_week() -> Window {
    Window::Once {
        starts_at: utc(2027, 7, 5, 12, 0),
        ends_at: utc(2027, 7, 12, 12, 0),
    }
}

#[test]
fn a_single_unavailability_is_recorded_with_exactly_its_period() {
    let events = run(&[], record(one_week()), recorded_at()).unwrap();
    assert_eq!(
        events,
        vec![
            AvailabilityRecorded {
                tenant_id: tenant(),
                availability_id: ENTRY,
                user_id: USER,
                is_available: false,
                availability_type: AvailabilityType::Vacation,
                reason: Some("Family trip".into()),
                notes: None,
                recurrence: None,
                occurrences: vec![period(utc(2027, 7, 5, 12, 0), utc(2027, 7, 12, 12, 0))],
                materialized_until: None,
                recorded_by: ACTOR,
                recorded_at: recorded_at(),
            }
            .into()
        ]
    );
    let entry = state(&events);
    assert!(entry.blocks());
    assert_eq!(entry.user_id(), Some(USER));
    assert_eq!(entry.tenant(), Some(&tenant()));
    assert_eq!(
        entry
            .occurrences_between(utc(2027, 7, 12, 11, 0), utc(2027, 8, 1, 0, 0))
            .count(),
        1,
        "overlapping its last hour"
    );
    assert_eq!(
        entry
            .occurrences_between(utc(2027, 7, 12, 12, 0), utc(2027, 8, 1, 0, 0))
            .count(),
        0,
        "the period is half-open"
    );
}

#[test]
fn a_past_single_window_is_recorded_as_given() {
    let last_week = Window::Once {
        starts_at: utc(2027, 2, 22, 13, 0),
        ends_at: utc(2027, 2, 22, 22, 0),
    };
    let events = run(&[], record(last_week), recorded_at()).unwrap();
    assert_eq!(
        recorded_event(&events).occurrences,
        [period(utc(2027, 2, 22, 13, 0), utc(2027, 2, 22, 22, 0))]
    );
}

#[test]
fn every_invalid_field_of_a_single_window_is_named_at_once() {
    let backwards = Window::Once {
        starts_at: utc(2027, 7, 12, 12, 0),
        ends_at: utc(2027, 7, 5, 12, 0),
    };
    let bad_text = AvailabilityAction::Record {
        tenant_id: tenant(),
        availability_id: ENTRY,
        user_id: USER,
        is_available: false,
        availability_type: AvailabilityType::Sick,
        reason: Some("x".repeat(201)),
        notes: Some("bell\u{7}".into()),
        window: backwards,
        time_zone: Toronto,
    };
    assert_eq!(
        invalid_fields(run(&[], bad_text, recorded_at())),
        ["ends_at", "reason", "notes"]
    );

    let empty = Window::Once {
        starts_at: utc(2027, 7, 5, 12, 0),
        ends_at: utc(2027, 7, 5, 12, 0),
    };
    assert_eq!(
        invalid_fields(run(&[], record(empty), recorded_at())),
        ["ends_at"]
    );

    let start = utc(2027, 7, 5, 12, 0);
    let a_year = Window::Once {
        starts_at: start,
        ends_at: start + Duration::days(366),
    };
    assert!(run(&[], record(a_year), recorded_at()).is_ok());
    let too_long = Window::Once {
        starts_at: start,
        ends_at: start + Duration::days(366) + Duration::seconds(1),
    };
    let result = run(&[], record(too_long), recorded_at());
    assert!(message(&result, "ends_at").contains("366 days"));
    assert_eq!(invalid_fields(result), ["ends_at"]);

    let mistyped_year = Window::Once {
        starts_at: utc(1027, 7, 5, 12, 0),
        ends_at: utc(1027, 7, 6, 12, 0),
    };
    assert_eq!(
        invalid_fields(run(&[], record(mistyped_year), recorded_at())),
        ["starts_at"]
    );
}

// --- recurring windows -------------------------------------------------------

fn working_days() -> Window {
    // Padded: the rule is stored as the recurrence accepted it (trimmed).
    recurring(" FREQ=WEEKLY;BYDAY=MO,TU ", local(2027, 3, 1, 8, 0), 9 * 60)
}

#[test]
fn a_weekly_rule_keeps_local_time_across_the_change_up_to_the_horizon() {
    let events = run(&[], record(working_days()), recorded_at()).unwrap();
    let e = recorded_event(&events);
    assert_eq!(
        e.recurrence,
        Some(RecurrenceRule {
            rule: "FREQ=WEEKLY;BYDAY=MO,TU".into(),
            local_start: local(2027, 3, 1, 8, 0),
            duration_minutes: 540,
            time_zone: "America/Toronto".into(),
        })
    );
    // The clocks go forward on Sunday 14 March 2027: 08:00 EST is 13:00
    // UTC, 08:00 EDT is 12:00 UTC.
    assert_eq!(
        e.occurrences[..6],
        [
            period(utc(2027, 3, 1, 13, 0), utc(2027, 3, 1, 22, 0)),
            period(utc(2027, 3, 2, 13, 0), utc(2027, 3, 2, 22, 0)),
            period(utc(2027, 3, 8, 13, 0), utc(2027, 3, 8, 22, 0)),
            period(utc(2027, 3, 9, 13, 0), utc(2027, 3, 9, 22, 0)),
            period(utc(2027, 3, 15, 12, 0), utc(2027, 3, 15, 21, 0)),
            period(utc(2027, 3, 16, 12, 0), utc(2027, 3, 16, 21, 0)),
        ]
    );
    // And back on Sunday 7 November.
    assert!(
        e.occurrences
            .contains(&period(utc(2027, 11, 1, 12, 0), utc(2027, 11, 1, 21, 0)))
    );
    assert!(
        e.occurrences
            .contains(&period(utc(2027, 11, 8, 13, 0), utc(2027, 11, 8, 22, 0)))
    );
    for o in &e.occurrences {
        let start = wall_clock(Toronto, o.starts_at);
        assert_eq!(start.time(), eight(), "{o:?}");
        assert!(matches!(start.weekday(), Weekday::Mon | Weekday::Tue));
        assert_eq!(
            wall_clock(Toronto, o.ends_at).time(),
            NaiveTime::from_hms_opt(17, 0, 0).unwrap()
        );
    }

    // Eighteen months: known up to 1 September 2028, 12:00 UTC.
    let until = horizon(recorded_at());
    assert_eq!(until, utc(2028, 9, 1, 12, 0));
    assert_eq!(e.materialized_until, Some(until));
    assert!(e.occurrences.iter().all(|o| o.starts_at < until));

    // Two a week: every Monday and Tuesday from 1 March 2027 whose 08:00 is
    // before the horizon, counted on the calendar.
    let expected = NaiveDate::from_ymd_opt(2027, 3, 1)
        .unwrap()
        .iter_days()
        .take_while(|d| aggregates::recurrence::to_instant(Toronto, d.and_time(eight())) < until)
        .filter(|d| matches!(d.weekday(), Weekday::Mon | Weekday::Tue))
        .count();
    assert_eq!(expected, 2 * 79, "79 weeks from Monday 1 March 2027");
    assert_eq!(e.occurrences.len(), expected);
    assert!(
        e.occurrences
            .windows(2)
            .all(|w| w[0].ends_at < w[1].starts_at)
    );

    let entry = state(&events);
    assert_eq!(
        entry
            .occurrences_between(utc(2027, 3, 8, 0, 0), utc(2027, 3, 10, 0, 0))
            .copied()
            .collect::<Vec<_>>(),
        [
            period(utc(2027, 3, 8, 13, 0), utc(2027, 3, 8, 22, 0)),
            period(utc(2027, 3, 9, 13, 0), utc(2027, 3, 9, 22, 0)),
        ]
    );
}

#[test]
fn a_count_rule_has_exactly_its_occurrences_and_no_horizon() {
    let rule = recurring("FREQ=DAILY;COUNT=3", local(2027, 3, 13, 8, 0), 60);
    let events = run(&[], record(rule), recorded_at()).unwrap();
    let e = recorded_event(&events);
    assert_eq!(
        e.occurrences,
        [
            period(utc(2027, 3, 13, 13, 0), utc(2027, 3, 13, 14, 0)),
            period(utc(2027, 3, 14, 12, 0), utc(2027, 3, 14, 13, 0)),
            period(utc(2027, 3, 15, 12, 0), utc(2027, 3, 15, 13, 0)),
        ]
    );
    assert_eq!(e.materialized_until, None);

    // Nothing to extend.
    let later = utc(2027, 6, 1, 0, 0);
    assert_eq!(
        run(
            &events,
            AvailabilityAction::Extend {
                until: horizon(later)
            },
            later
        ),
        Ok(vec![])
    );
}

#[test]
fn occurrences_over_before_the_recording_are_left_out() {
    // Recorded on Monday 1 March 2027 at 10:00 EST, during that day's
    // occurrence: it is kept whole, the earlier ones are not.
    let at = utc(2027, 3, 1, 15, 0);
    let since_2020 = recurring("FREQ=DAILY", local(2020, 1, 1, 8, 0), 9 * 60);
    let events = run(&[], record(since_2020), at).unwrap();
    let e = recorded_event(&events);
    assert_eq!(
        e.occurrences[0],
        period(utc(2027, 3, 1, 13, 0), utc(2027, 3, 1, 22, 0))
    );
    assert_eq!(
        e.recurrence.as_ref().unwrap().local_start,
        local(2020, 1, 1, 8, 0)
    );
    assert_eq!(e.materialized_until, Some(horizon(at)));

    // A rule wholly over has nothing to record.
    let january = recurring("FREQ=DAILY;COUNT=5", local(2027, 1, 4, 8, 0), 60);
    let result = run(&[], record(january), at);
    assert!(message(&result, "recurrence").contains("no occurrence"));
    assert_eq!(invalid_fields(result), ["recurrence"]);

    // Neither has a rule starting beyond the horizon.
    let far = recurring("FREQ=WEEKLY", local(2029, 1, 1, 8, 0), 60);
    assert_eq!(invalid_fields(run(&[], record(far), at)), ["recurrence"]);
}

#[test]
fn an_until_beyond_the_horizon_is_cut_there_and_extended_later_to_its_end() {
    let mondays = recurring(
        "FREQ=WEEKLY;BYDAY=MO;UNTIL=20281231",
        local(2027, 3, 1, 8, 0),
        60,
    );
    let recorded = run(&[], record(mondays), recorded_at()).unwrap();
    let e = recorded_event(&recorded);
    let cut = utc(2028, 9, 1, 12, 0);
    assert_eq!(e.materialized_until, Some(cut));
    assert_eq!(e.occurrences.len(), 79, "1 March 2027 to 28 August 2028");
    assert_eq!(
        e.occurrences.last(),
        Some(&period(utc(2028, 8, 28, 12, 0), utc(2028, 8, 28, 13, 0)))
    );

    // Extending is bounded by the horizon of the extension's own time: right
    // away, nothing is added.
    let far = AvailabilityAction::Extend {
        until: utc(2030, 1, 1, 0, 0),
    };
    assert_eq!(run(&recorded, far.clone(), recorded_at()), Ok(vec![]));

    // Later, the rest up to UNTIL and nothing after.
    let later = utc(2028, 7, 1, 0, 0);
    assert_eq!(horizon(later), utc(2030, 1, 1, 0, 0));
    let extended = run(&recorded, far.clone(), later).unwrap();
    let x = extended_event(&extended);
    assert_eq!(x.materialized_until, utc(2030, 1, 1, 0, 0));
    assert_eq!(x.extended_at, later);
    assert_eq!(x.occurrences.len(), 17, "4 September to 25 December 2028");
    assert_eq!(
        x.occurrences.first(),
        Some(&period(utc(2028, 9, 4, 12, 0), utc(2028, 9, 4, 13, 0)))
    );
    assert_eq!(
        x.occurrences.last(),
        Some(&period(utc(2028, 12, 25, 13, 0), utc(2028, 12, 25, 14, 0)))
    );

    // Materialized to its end: further extensions record nothing.
    let history: Vec<_> = recorded.iter().chain(&extended).cloned().collect();
    let much_later = utc(2029, 6, 1, 0, 0);
    assert_eq!(
        run(
            &history,
            AvailabilityAction::Extend {
                until: horizon(much_later)
            },
            much_later
        ),
        Ok(vec![])
    );
    let entry = state(&history);
    assert_eq!(entry.occurrences.len(), 79 + 17);
    assert!(
        entry
            .occurrences
            .iter()
            .all(|o| wall_clock(Toronto, o.starts_at).weekday() == Weekday::Mon)
    );
}

#[test]
fn an_extension_adds_only_the_new_occurrences_once_each() {
    // Daily at 08:00 in Toronto, recorded on Tuesday 2 March 2027 at 07:00
    // EST: the horizon, 2 September 2028 12:00 UTC, is 08:00 EDT, exactly the
    // start of an occurrence. It starts at the bound, so it is not recorded
    // yet.
    let at = utc(2027, 3, 2, 12, 0);
    let daily = recurring("FREQ=DAILY", local(2027, 3, 2, 8, 0), 60);
    let recorded = run(&[], record(daily), at).unwrap();
    let e = recorded_event(&recorded);
    let bound = utc(2028, 9, 2, 12, 0);
    assert_eq!(e.materialized_until, Some(bound));
    assert_eq!(
        e.occurrences.last(),
        Some(&period(utc(2028, 9, 1, 12, 0), utc(2028, 9, 1, 13, 0)))
    );

    // Two days later, up to that day's horizon: the occurrence on the old
    // bound and the next one; the one starting on the new bound waits.
    let two_days_later = utc(2027, 3, 4, 12, 0);
    let extend = |until| AvailabilityAction::Extend { until };
    let first = run(&recorded, extend(horizon(two_days_later)), two_days_later).unwrap();
    assert_eq!(
        first,
        vec![
            AvailabilityExtended {
                occurrences: vec![
                    period(utc(2028, 9, 2, 12, 0), utc(2028, 9, 2, 13, 0)),
                    period(utc(2028, 9, 3, 12, 0), utc(2028, 9, 3, 13, 0)),
                ],
                materialized_until: utc(2028, 9, 4, 12, 0),
                extended_at: two_days_later,
            }
            .into()
        ]
    );
    let history: Vec<_> = recorded.iter().chain(&first).cloned().collect();

    // An earlier or equal bound is a no-op.
    for until in [utc(2028, 9, 3, 0, 0), utc(2028, 9, 4, 12, 0)] {
        assert_eq!(
            run(&history, extend(until), two_days_later),
            Ok(vec![]),
            "{until}"
        );
    }

    let next_day = utc(2027, 3, 5, 12, 0);
    let second = run(&history, extend(horizon(next_day)), next_day).unwrap();
    assert_eq!(
        extended_event(&second).occurrences,
        [period(utc(2028, 9, 4, 12, 0), utc(2028, 9, 4, 13, 0))]
    );
    let history: Vec<_> = history.iter().chain(&second).cloned().collect();

    // One occurrence a day at 08:00, no day missing, none twice.
    let entry = state(&history);
    assert_eq!(entry.materialized_until(), Some(utc(2028, 9, 5, 12, 0)));
    let days: Vec<NaiveDate> = entry
        .occurrences
        .iter()
        .map(|o| {
            let start = wall_clock(Toronto, o.starts_at);
            assert_eq!(start.time(), eight());
            start.date()
        })
        .collect();
    let expected: Vec<NaiveDate> = NaiveDate::from_ymd_opt(2027, 3, 2)
        .unwrap()
        .iter_days()
        .take_while(|d| *d <= NaiveDate::from_ymd_opt(2028, 9, 4).unwrap())
        .collect();
    assert_eq!(days, expected);
}

#[test]
fn a_rule_finer_than_daily_is_refused_on_recurrence() {
    let hourly = recurring("FREQ=HOURLY", local(2027, 3, 1, 8, 0), 60);
    let result = run(&[], record(hourly), recorded_at());
    assert!(message(&result, "recurrence").contains("FREQ=HOURLY"));
    let error = result.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Invalid(_)));
    assert!(matches!(&error, AvailabilityError::Invalid(e) if e.fields().eq(["recurrence"])));
}

#[test]
fn every_invalid_field_of_a_recurring_window_is_named_at_once() {
    let action = |rule: &str, duration_minutes: u32| AvailabilityAction::Record {
        tenant_id: tenant(),
        availability_id: ENTRY,
        user_id: USER,
        is_available: true,
        availability_type: AvailabilityType::Other,
        reason: None,
        notes: Some("n".repeat(10_001)),
        window: recurring(rule, local(2027, 3, 1, 8, 0), duration_minutes),
        time_zone: Toronto,
    };
    assert_eq!(
        invalid_fields(run(&[], action("FREQ=WEEKLY;BYHOUR=9", 0), recorded_at())),
        ["duration_minutes", "recurrence", "notes"]
    );
    // A duration beyond a day is named once, on its own field.
    assert_eq!(
        invalid_fields(run(&[], action("FREQ=WEEKLY", 24 * 60 + 1), recorded_at())),
        ["duration_minutes", "notes"]
    );
    assert_eq!(
        invalid_fields(run(&[], action("FREQ=WEEKLY", 24 * 60), recorded_at())),
        ["notes"]
    );
}

// --- conflicts, removal, blocking --------------------------------------------

#[test]
fn an_entry_is_recorded_once() {
    let events = run(&[], record(one_week()), recorded_at()).unwrap();
    let result = run(&events, record(working_days()), recorded_at());
    assert_eq!(result, Err(AvailabilityError::AlreadyRecorded));
    assert_eq!(
        AvailabilityError::AlreadyRecorded.kind(),
        ErrorKind::Conflict {
            rule: "availability.exists"
        }
    );
}

#[test]
fn removal_is_idempotent_and_stops_the_entry_counting() {
    let recorded = run(&[], record(working_days()), recorded_at()).unwrap();
    assert!(state(&recorded).blocks());
    let when = utc(2027, 4, 1, 0, 0);
    let removed = run(&recorded, AvailabilityAction::Remove, when).unwrap();
    assert_eq!(
        removed,
        vec![
            AvailabilityRemoved {
                removed_by: ACTOR,
                removed_at: when,
            }
            .into()
        ]
    );
    let history: Vec<_> = recorded.iter().chain(&removed).cloned().collect();
    assert_eq!(run(&history, AvailabilityAction::Remove, when), Ok(vec![]));

    let entry = state(&history);
    assert!(entry.is_removed());
    assert!(!entry.blocks());
    assert_eq!(
        entry
            .occurrences_between(utc(2027, 3, 1, 0, 0), utc(2028, 1, 1, 0, 0))
            .count(),
        0
    );
    // A removed entry is not extended.
    let later = utc(2027, 6, 1, 0, 0);
    assert_eq!(
        run(
            &history,
            AvailabilityAction::Extend {
                until: horizon(later)
            },
            later
        ),
        Ok(vec![])
    );
}

#[test]
fn nothing_recorded_cannot_be_removed_or_extended() {
    assert_eq!(
        run(&[], AvailabilityAction::Remove, recorded_at()),
        Err(AvailabilityError::NotFound)
    );
    assert_eq!(
        run(
            &[],
            AvailabilityAction::Extend {
                until: horizon(recorded_at())
            },
            recorded_at()
        ),
        Err(AvailabilityError::NotFound)
    );
    assert_eq!(AvailabilityError::NotFound.kind(), ErrorKind::NotFound);
    assert!(!Availability::default().blocks());
}

#[test]
fn a_single_window_is_not_extended() {
    let events = run(&[], record(one_week()), recorded_at()).unwrap();
    let later = utc(2027, 6, 1, 0, 0);
    assert_eq!(
        run(
            &events,
            AvailabilityAction::Extend {
                until: horizon(later)
            },
            later
        ),
        Ok(vec![])
    );
}

#[test]
fn extra_availability_never_blocks() {
    let available = AvailabilityAction::Record {
        tenant_id: tenant(),
        availability_id: ENTRY,
        user_id: USER,
        is_available: true,
        availability_type: AvailabilityType::Other,
        reason: Some("Saturday shifts".into()),
        notes: None,
        window: recurring("FREQ=WEEKLY;BYDAY=SA", local(2027, 3, 6, 8, 0), 8 * 60),
        time_zone: Toronto,
    };
    let events = run(&[], available, recorded_at()).unwrap();
    let entry = state(&events);
    assert!(!entry.blocks());
    assert!(entry.is_available);
    assert_eq!(
        entry
            .occurrences_between(utc(2027, 3, 6, 0, 0), utc(2027, 3, 7, 0, 0))
            .count(),
        1,
        "its occurrences still count for capacity"
    );
}

#[test]
fn an_occurrence_straddling_the_bound_is_not_added_again() {
    // Recorded at 07:30 EST: the horizon, 2 September 2028 12:30 UTC, falls
    // inside that day's 08:00–09:00 EDT occurrence, which started before it
    // and is therefore already known.
    let at = utc(2027, 3, 2, 12, 30);
    let daily = recurring("FREQ=DAILY", local(2027, 3, 2, 8, 0), 60);
    let recorded = run(&[], record(daily), at).unwrap();
    let straddling = period(utc(2028, 9, 2, 12, 0), utc(2028, 9, 2, 13, 0));
    let e = recorded_event(&recorded);
    assert_eq!(e.materialized_until, Some(utc(2028, 9, 2, 12, 30)));
    assert_eq!(e.occurrences.last(), Some(&straddling));

    let next_day = utc(2027, 3, 3, 12, 30);
    let extended = run(
        &recorded,
        AvailabilityAction::Extend {
            until: horizon(next_day),
        },
        next_day,
    )
    .unwrap();
    assert_eq!(
        extended_event(&extended).occurrences,
        [period(utc(2028, 9, 3, 12, 0), utc(2028, 9, 3, 13, 0))]
    );
}
