//! Recurring availability blocks across daylight-saving changes: concrete
//! transitions in two zones, COUNT and UNTIL, window semantics, rejections,
//! and properties over random rules and zones.

use aggregates::recurrence::{
    HORIZON_MONTHS, MAX_OCCURRENCES, Occurrence, Recurrence, RecurrenceError, horizon,
};
use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::America::Toronto;
use chrono_tz::Europe::Paris;
use chrono_tz::Tz;
use proptest::prelude::*;
use rrule::RRuleSet;

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, min, 0))
        .expect("valid date")
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    local(y, m, d, h, min).and_utc()
}

fn recurrence(rule: &str, start: NaiveDateTime, duration: Duration) -> Recurrence {
    Recurrence::new(rule, start, duration).expect("valid recurrence")
}

fn starts(found: &[Occurrence]) -> Vec<DateTime<Utc>> {
    found.iter().map(|o| o.starts_at).collect()
}

fn period(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Occurrence {
    Occurrence { starts_at, ends_at }
}

/// The wall-clock reading of `at` in `tz`.
fn wall_clock(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

// --- America/Toronto: EST (UTC−5) ⇄ EDT (UTC−4) ------------------------------

#[test]
fn weekly_working_hours_keep_local_time_across_the_march_change() {
    // Monday 1 March 2027; the clocks go forward on Sunday 14 March.
    let rule = recurrence(
        "FREQ=WEEKLY;BYDAY=MO,TU",
        local(2027, 3, 1, 8, 0),
        Duration::hours(9),
    );
    let found = rule
        .occurrences(Toronto, utc(2027, 3, 1, 0, 0), utc(2027, 3, 24, 0, 0))
        .unwrap();
    assert_eq!(
        found,
        [
            period(utc(2027, 3, 1, 13, 0), utc(2027, 3, 1, 22, 0)),
            period(utc(2027, 3, 2, 13, 0), utc(2027, 3, 2, 22, 0)),
            period(utc(2027, 3, 8, 13, 0), utc(2027, 3, 8, 22, 0)),
            period(utc(2027, 3, 9, 13, 0), utc(2027, 3, 9, 22, 0)),
            period(utc(2027, 3, 15, 12, 0), utc(2027, 3, 15, 21, 0)),
            period(utc(2027, 3, 16, 12, 0), utc(2027, 3, 16, 21, 0)),
            period(utc(2027, 3, 22, 12, 0), utc(2027, 3, 22, 21, 0)),
            period(utc(2027, 3, 23, 12, 0), utc(2027, 3, 23, 21, 0)),
        ]
    );
    for o in &found {
        assert_eq!(
            wall_clock(Toronto, o.starts_at).time(),
            NaiveTime::MIN + Duration::hours(8)
        );
        assert_eq!(
            wall_clock(Toronto, o.ends_at).time(),
            NaiveTime::MIN + Duration::hours(17)
        );
    }
}

#[test]
fn weekly_working_hours_keep_local_time_across_the_november_change() {
    // The clocks go back on Sunday 7 November 2027.
    let rule = recurrence(
        "FREQ=WEEKLY;BYDAY=MO,TU",
        local(2027, 3, 1, 8, 0),
        Duration::hours(9),
    );
    let found = rule
        .occurrences(Toronto, utc(2027, 10, 25, 0, 0), utc(2027, 11, 17, 0, 0))
        .unwrap();
    assert_eq!(
        found,
        [
            period(utc(2027, 10, 25, 12, 0), utc(2027, 10, 25, 21, 0)),
            period(utc(2027, 10, 26, 12, 0), utc(2027, 10, 26, 21, 0)),
            period(utc(2027, 11, 1, 12, 0), utc(2027, 11, 1, 21, 0)),
            period(utc(2027, 11, 2, 12, 0), utc(2027, 11, 2, 21, 0)),
            period(utc(2027, 11, 8, 13, 0), utc(2027, 11, 8, 22, 0)),
            period(utc(2027, 11, 9, 13, 0), utc(2027, 11, 9, 22, 0)),
            period(utc(2027, 11, 15, 13, 0), utc(2027, 11, 15, 22, 0)),
            period(utc(2027, 11, 16, 13, 0), utc(2027, 11, 16, 22, 0)),
        ]
    );
}

#[test]
fn a_daily_start_in_the_spring_gap_moves_to_the_end_of_the_gap() {
    let rule = recurrence("FREQ=DAILY", local(2027, 3, 1, 2, 30), Duration::hours(1));
    // All of March, local midnight to local midnight.
    let found = rule
        .occurrences(Toronto, utc(2027, 3, 1, 5, 0), utc(2027, 4, 1, 4, 0))
        .unwrap();
    assert_eq!(found.len(), 31);
    for (i, o) in found.iter().enumerate() {
        let day = u32::try_from(i).unwrap() + 1;
        assert_eq!(wall_clock(Toronto, o.starts_at).date().day(), day);
        let expected = match day {
            ..14 => period(utc(2027, 3, day, 7, 30), utc(2027, 3, day, 8, 30)),
            // 02:30 does not exist: 03:00 EDT; the end, 03:30, does.
            14 => period(utc(2027, 3, 14, 7, 0), utc(2027, 3, 14, 7, 30)),
            _ => period(utc(2027, 3, day, 6, 30), utc(2027, 3, day, 7, 30)),
        };
        assert_eq!(*o, expected, "{day} March");
    }
}

#[test]
fn an_occurrence_wholly_inside_the_gap_moves_whole_and_keeps_its_length() {
    let rule = recurrence(
        "FREQ=DAILY",
        local(2027, 3, 1, 2, 15),
        Duration::minutes(30),
    );
    let found = rule
        .occurrences(Toronto, utc(2027, 3, 14, 0, 0), utc(2027, 3, 15, 0, 0))
        .unwrap();
    assert_eq!(
        found,
        [period(utc(2027, 3, 14, 7, 0), utc(2027, 3, 14, 7, 30))]
    );
}

#[test]
fn a_daily_start_in_the_autumn_overlap_takes_the_earlier_instant() {
    let rule = recurrence("FREQ=DAILY", local(2027, 10, 1, 1, 30), Duration::hours(1));
    // All of November, local midnight to local midnight.
    let found = rule
        .occurrences(Toronto, utc(2027, 11, 1, 4, 0), utc(2027, 12, 1, 5, 0))
        .unwrap();
    assert_eq!(found.len(), 30);
    let days: Vec<u32> = found
        .iter()
        .map(|o| wall_clock(Toronto, o.starts_at).date().day())
        .collect();
    assert_eq!(days, (1..=30).collect::<Vec<_>>());
    let seventh: Vec<_> = found
        .iter()
        .filter(|o| wall_clock(Toronto, o.starts_at).date().day() == 7)
        .collect();
    // 01:30 EDT (not 01:30 EST, an hour later); the end, 02:30, is EST.
    assert_eq!(
        seventh,
        [&period(utc(2027, 11, 7, 5, 30), utc(2027, 11, 7, 7, 30))]
    );
    assert_eq!(
        found[5],
        period(utc(2027, 11, 6, 5, 30), utc(2027, 11, 6, 6, 30))
    );
    assert_eq!(
        found[7],
        period(utc(2027, 11, 8, 6, 30), utc(2027, 11, 8, 7, 30))
    );
}

#[test]
fn day_long_blocks_touch_without_overlapping_across_both_changes() {
    let rule = recurrence("FREQ=DAILY", local(2027, 1, 1, 0, 0), Duration::hours(24));
    let found = rule
        .occurrences(Toronto, utc(2027, 3, 1, 0, 0), utc(2027, 12, 1, 0, 0))
        .unwrap();
    for pair in found.windows(2) {
        assert_eq!(pair[0].ends_at, pair[1].starts_at);
    }
    let hours = |o: &Occurrence| (o.ends_at - o.starts_at).num_hours();
    let spring = found
        .iter()
        .find(|o| o.starts_at == utc(2027, 3, 14, 5, 0))
        .unwrap();
    let autumn = found
        .iter()
        .find(|o| o.starts_at == utc(2027, 11, 7, 4, 0))
        .unwrap();
    assert_eq!((hours(spring), hours(autumn)), (23, 25));
}

#[test]
fn a_monthly_rule_keeps_local_time_too() {
    // The last Friday of each month, 07:00–12:00.
    let rule = recurrence(
        "FREQ=MONTHLY;BYDAY=-1FR",
        local(2027, 1, 29, 7, 0),
        Duration::hours(5),
    );
    let found = rule
        .occurrences(Toronto, utc(2027, 1, 1, 0, 0), utc(2027, 5, 1, 0, 0))
        .unwrap();
    assert_eq!(
        starts(&found),
        [
            utc(2027, 1, 29, 12, 0),
            utc(2027, 2, 26, 12, 0),
            utc(2027, 3, 26, 11, 0),
            utc(2027, 4, 30, 11, 0),
        ]
    );
}

// --- Europe/Paris: the last Sundays of March and October ---------------------

#[test]
fn paris_changes_on_its_own_dates() {
    let rule = recurrence(
        "FREQ=WEEKLY;BYDAY=SU",
        local(2027, 3, 7, 8, 0),
        Duration::hours(2),
    );
    let march = rule
        .occurrences(Paris, utc(2027, 3, 7, 0, 0), utc(2027, 4, 5, 0, 0))
        .unwrap();
    // 14 March (Toronto's change) is still CET; 28 March is CEST.
    assert_eq!(
        starts(&march),
        [
            utc(2027, 3, 7, 7, 0),
            utc(2027, 3, 14, 7, 0),
            utc(2027, 3, 21, 7, 0),
            utc(2027, 3, 28, 6, 0),
            utc(2027, 4, 4, 6, 0),
        ]
    );
    let autumn = rule
        .occurrences(Paris, utc(2027, 10, 24, 0, 0), utc(2027, 11, 8, 0, 0))
        .unwrap();
    assert_eq!(
        starts(&autumn),
        [
            utc(2027, 10, 24, 6, 0),
            utc(2027, 10, 31, 7, 0),
            utc(2027, 11, 7, 7, 0),
        ]
    );
    // The same rule in Toronto on 14 March 2027: already EDT.
    let toronto = rule
        .occurrences(Toronto, utc(2027, 3, 14, 0, 0), utc(2027, 3, 15, 0, 0))
        .unwrap();
    assert_eq!(starts(&toronto), [utc(2027, 3, 14, 12, 0)]);
}

#[test]
fn paris_gap_and_overlap() {
    let gap = recurrence("FREQ=DAILY", local(2027, 3, 1, 2, 30), Duration::hours(1));
    let found = gap
        .occurrences(Paris, utc(2027, 3, 28, 0, 0), utc(2027, 3, 28, 12, 0))
        .unwrap();
    // 02:30 does not exist: 03:00 CEST is 01:00 UTC.
    assert_eq!(
        found,
        [period(utc(2027, 3, 28, 1, 0), utc(2027, 3, 28, 1, 30))]
    );
    let overlap = recurrence("FREQ=DAILY", local(2027, 3, 1, 2, 30), Duration::hours(1));
    let found = overlap
        .occurrences(Paris, utc(2027, 10, 30, 22, 0), utc(2027, 10, 31, 12, 0))
        .unwrap();
    // 02:30 CEST (00:30 UTC), not 02:30 CET.
    assert_eq!(
        found,
        [period(utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 2, 30))]
    );
}

// --- COUNT, UNTIL, and the window --------------------------------------------

#[test]
fn count_counts_occurrences_and_a_start_off_the_rule_is_not_one() {
    // Wednesday 3 March: not a Monday or Tuesday, so not an occurrence.
    let rule = recurrence(
        "FREQ=WEEKLY;BYDAY=MO,TU;COUNT=5",
        local(2027, 3, 3, 8, 0),
        Duration::hours(9),
    );
    assert!(!rule.is_open_ended());
    let found = rule
        .occurrences(Toronto, utc(2027, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0))
        .unwrap();
    assert_eq!(
        starts(&found),
        [
            utc(2027, 3, 8, 13, 0),
            utc(2027, 3, 9, 13, 0),
            utc(2027, 3, 15, 12, 0),
            utc(2027, 3, 16, 12, 0),
            utc(2027, 3, 22, 12, 0),
        ]
    );
    // A window after the first occurrences still respects COUNT.
    let later = rule
        .occurrences(Toronto, utc(2027, 3, 16, 0, 0), utc(2028, 1, 1, 0, 0))
        .unwrap();
    assert_eq!(
        starts(&later),
        [utc(2027, 3, 16, 12, 0), utc(2027, 3, 22, 12, 0)]
    );
}

#[test]
fn until_is_local_wall_clock_time_and_inclusive() {
    let start = local(2027, 3, 10, 8, 0);
    let window = (utc(2027, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0));
    let count = |rule: &str| {
        let rule = recurrence(rule, start, Duration::hours(1));
        assert!(!rule.is_open_ended());
        rule.occurrences(Toronto, window.0, window.1).unwrap()
    };
    // 08:00 local on 16 March is 12:00 UTC: a UTC reading of UNTIL would
    // stop a day earlier.
    let until_time = count("FREQ=DAILY;UNTIL=20270316T080000");
    assert_eq!(until_time.len(), 7);
    assert_eq!(
        until_time.last().unwrap().starts_at,
        utc(2027, 3, 16, 12, 0)
    );
    assert_eq!(count("FREQ=DAILY;UNTIL=20270316T075959").len(), 6);
    // A date alone includes that whole day.
    assert_eq!(count("FREQ=DAILY;UNTIL=20270316").len(), 7);
    assert_eq!(
        count("FREQ=DAILY;UNTIL=20270316T080000;INTERVAL=2").len(),
        4
    );
}

#[test]
fn a_window_that_cuts_an_occurrence_returns_it_whole() {
    let rule = recurrence("FREQ=DAILY", local(2027, 3, 1, 8, 0), Duration::hours(9));
    let whole = period(utc(2027, 3, 2, 13, 0), utc(2027, 3, 2, 22, 0));
    // A window inside the occurrence, and windows over either end of it.
    for (from, to) in [
        (utc(2027, 3, 2, 15, 0), utc(2027, 3, 2, 16, 0)),
        (utc(2027, 3, 2, 0, 0), utc(2027, 3, 2, 13, 1)),
        (utc(2027, 3, 2, 21, 59), utc(2027, 3, 3, 13, 0)),
    ] {
        assert_eq!(
            rule.occurrences(Toronto, from, to).unwrap(),
            [whole],
            "{from}..{to}"
        );
    }
    // Half-open: a window starting at its end or ending at its start misses it.
    assert!(
        rule.occurrences(Toronto, utc(2027, 3, 2, 22, 0), utc(2027, 3, 3, 13, 0))
            .unwrap()
            .is_empty()
    );
    assert!(
        rule.occurrences(Toronto, utc(2027, 3, 2, 0, 0), utc(2027, 3, 2, 13, 0))
            .unwrap()
            .is_empty()
    );
    // An empty or reversed window has nothing.
    let t = utc(2027, 3, 2, 15, 0);
    assert!(rule.occurrences(Toronto, t, t).unwrap().is_empty());
    assert!(
        rule.occurrences(Toronto, t, t - Duration::days(9))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn before_the_start_there_is_nothing() {
    let rule = recurrence("FREQ=DAILY", local(2027, 3, 10, 8, 0), Duration::hours(1));
    let found = rule
        .occurrences(Toronto, utc(2027, 3, 1, 0, 0), utc(2027, 3, 12, 0, 0))
        .unwrap();
    assert_eq!(
        starts(&found),
        [utc(2027, 3, 10, 13, 0), utc(2027, 3, 11, 13, 0)]
    );
}

#[test]
fn an_open_ended_rule_fits_the_horizon_and_a_larger_window_is_refused() {
    let rule = recurrence("FREQ=DAILY", local(2027, 1, 1, 8, 0), Duration::hours(9));
    assert!(rule.is_open_ended());
    let now = utc(2027, 1, 10, 9, 0);
    assert_eq!(horizon(now), utc(2028, 7, 10, 9, 0));
    assert_eq!(HORIZON_MONTHS, 18);
    let found = rule.occurrences(Toronto, now, horizon(now)).unwrap();
    assert_eq!(found.len(), 547);
    // Exactly MAX_OCCURRENCES is fine; one more is an error, not a truncation.
    let from = utc(2027, 1, 1, 0, 0);
    let exactly = rule
        .occurrences(Toronto, from, from + Duration::days(2_000))
        .unwrap();
    assert_eq!(exactly.len(), MAX_OCCURRENCES);
    let err = rule
        .occurrences(Toronto, from, from + Duration::days(2_001))
        .unwrap_err();
    assert_eq!(err, RecurrenceError::TooManyOccurrences { max: 2_000 });
    assert_eq!(
        err.to_string(),
        "more than 2000 occurrences fall in the requested period: ask for a shorter one"
    );
}

#[test]
fn the_parts_are_kept_as_given() {
    let rule = recurrence(
        "  FREQ=WEEKLY;BYDAY=MO,TU ",
        local(2027, 3, 1, 8, 0),
        Duration::hours(9),
    );
    assert_eq!(rule.rule(), "FREQ=WEEKLY;BYDAY=MO,TU");
    assert_eq!(rule.local_start(), local(2027, 3, 1, 8, 0));
    assert_eq!(rule.local_duration(), Duration::hours(9));
    // Lower case is accepted, as RFC 5545 names are case-insensitive.
    assert!(
        Recurrence::new(
            "freq=weekly;byday=mo",
            local(2027, 3, 1, 8, 0),
            Duration::hours(1)
        )
        .is_ok()
    );
}

// --- Rejections ---------------------------------------------------------------

fn refused(rule: &str) -> RecurrenceError {
    Recurrence::new(rule, local(2027, 3, 1, 8, 0), Duration::hours(9)).unwrap_err()
}

#[test]
fn finer_frequencies_are_refused() {
    for freq in ["HOURLY", "MINUTELY", "SECONDLY"] {
        let err = refused(&format!("FREQ={freq};BYDAY=MO"));
        assert_eq!(
            err,
            RecurrenceError::UnsupportedFrequency { freq: freq.into() }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "FREQ={freq} is not supported: use DAILY, WEEKLY, MONTHLY or YEARLY (a finer frequency would produce too many occurrences)"
            )
        );
    }
}

#[test]
fn a_time_of_day_in_the_rule_is_refused() {
    let err = refused("FREQ=DAILY;byhour=8,9");
    assert_eq!(
        err,
        RecurrenceError::TimeOfDayInRule {
            part: "BYHOUR".into()
        }
    );
    assert!(err.to_string().starts_with(
        "`BYHOUR` is not supported: every occurrence starts at the time of day of the start"
    ));
    assert!(matches!(
        refused("FREQ=DAILY;BYMINUTE=0"),
        RecurrenceError::TimeOfDayInRule { .. }
    ));
    assert!(matches!(
        refused("FREQ=DAILY;BYSECOND=0"),
        RecurrenceError::TimeOfDayInRule { .. }
    ));
}

#[test]
fn bad_syntax_is_refused_with_the_parsers_reason() {
    let cases = [
        ("FREQ=WEEKLY;BYDAY=XX", "`XX` is not a valid weekday"),
        ("FREQ=FORTNIGHTLY", "`FORTNIGHTLY` is not a valid frequency"),
        ("BYDAY=MO", "The property `FREQ` wasn't found"),
        (
            "FREQ=DAILY;COLOUR=RED",
            "`COLOUR` is not a valid property parameter",
        ),
        ("FREQ=DAILY;FREQ=WEEKLY", "duplicate property"),
        (
            "FREQ=DAILY;INTERVAL=two",
            "`two` is not a valid INTERVAL value",
        ),
        (
            "FREQ=DAILY;UNTIL=20270401;UNTIL=20270501",
            "UNTIL is given twice",
        ),
    ];
    for (rule, reason) in cases {
        let err = refused(rule);
        let message = err.to_string();
        assert!(
            matches!(err, RecurrenceError::InvalidRule { .. }),
            "{rule}: {err:?}"
        );
        assert!(
            message.starts_with("the rule is not a valid RRULE: "),
            "{message}"
        );
        assert!(message.contains(reason), "{rule}: {message}");
    }
}

#[test]
fn the_rule_must_not_bring_its_own_start_or_zone() {
    for (rule, part) in [
        ("DTSTART:20270301T080000\nRRULE:FREQ=DAILY", "DTSTART"),
        ("FREQ=DAILY;DTSTART=20270301T080000", "DTSTART"),
        ("DTSTART;TZID=America/Toronto:20270301T080000", "DTSTART"),
        ("FREQ=DAILY;TZID=Europe/Paris", "TZID"),
    ] {
        let err = refused(rule);
        assert_eq!(err, RecurrenceError::StartInRule { part }, "{rule}");
        assert_eq!(
            err.to_string(),
            format!(
                "the rule must not contain `{part}`: the start date and time and the time zone are given separately"
            )
        );
    }
    assert_eq!(refused("RRULE:FREQ=DAILY"), RecurrenceError::NotARuleValue);
    assert_eq!(
        refused("FREQ=DAILY\nFREQ=WEEKLY"),
        RecurrenceError::NotARuleValue
    );
    assert_eq!(refused("   "), RecurrenceError::EmptyRule);
}

#[test]
fn bad_durations_and_starts_are_refused() {
    let start = local(2027, 3, 1, 8, 0);
    let new = |start, duration| Recurrence::new("FREQ=DAILY", start, duration).unwrap_err();
    let zero = new(start, Duration::zero());
    assert_eq!(zero, RecurrenceError::NonPositiveDuration);
    assert_eq!(zero.to_string(), "the duration must be longer than zero");
    assert_eq!(
        new(start, Duration::minutes(-5)),
        RecurrenceError::NonPositiveDuration
    );
    let long = new(start, Duration::hours(24) + Duration::seconds(1));
    assert_eq!(long, RecurrenceError::DurationTooLong);
    assert_eq!(long.to_string(), "the duration must be at most 24 hours");
    assert!(Recurrence::new("FREQ=DAILY", start, Duration::hours(24)).is_ok());
    assert_eq!(
        new(start + Duration::milliseconds(500), Duration::hours(1)),
        RecurrenceError::FractionalStart
    );
    let early = new(local(1999, 12, 31, 8, 0), Duration::hours(1));
    assert_eq!(early, RecurrenceError::StartOutOfRange);
    assert_eq!(
        early.to_string(),
        "the start must lie in the years 2000 to 2099"
    );
    assert_eq!(
        new(local(2100, 1, 1, 8, 0), Duration::hours(1)),
        RecurrenceError::StartOutOfRange
    );
}

#[test]
fn until_problems_are_refused() {
    let err = refused("FREQ=DAILY;UNTIL=20270401T000000Z");
    assert_eq!(
        err.to_string(),
        "UNTIL=`20270401T000000Z` must be a local date (YYYYMMDD) or a local date and time (YYYYMMDDTHHMMSS) without `Z`: it is read as wall-clock time in the tenant's time zone"
    );
    let before = refused("FREQ=DAILY;UNTIL=20270228T080000");
    assert_eq!(
        before,
        RecurrenceError::UntilBeforeStart {
            until: local(2027, 2, 28, 8, 0),
            start: local(2027, 3, 1, 8, 0),
        }
    );
    assert_eq!(
        before.to_string(),
        "UNTIL (2027-02-28 08:00:00) is before the start (2027-03-01 08:00:00)"
    );
    let both = refused("FREQ=DAILY;COUNT=3;UNTIL=20270401");
    assert_eq!(both, RecurrenceError::CountAndUntil);
    assert_eq!(both.to_string(), "give either COUNT or UNTIL, not both");
}

#[test]
fn a_rule_without_any_occurrence_is_refused() {
    for rule in [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;COUNT=0",
        "FREQ=WEEKLY;BYDAY=FR;UNTIL=20270304",
    ] {
        let err = refused(rule);
        assert_eq!(err, RecurrenceError::NoOccurrences, "{rule}");
        assert!(
            err.to_string()
                .starts_with("the rule produces no occurrence")
        );
    }
}

// --- Properties ----------------------------------------------------------------

const ZONES: [Tz; 7] = [
    chrono_tz::America::Toronto,
    chrono_tz::America::Los_Angeles,
    chrono_tz::America::Santiago,
    chrono_tz::Europe::Paris,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Sydney,
    chrono_tz::Australia::Lord_Howe,
];

fn rule_strategy() -> impl Strategy<Value = String> {
    let weekdays = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    prop_oneof![
        (1u32..=3).prop_map(|interval| format!("FREQ=DAILY;INTERVAL={interval}")),
        (1u8..128, 1u32..=2).prop_map(move |(mask, interval)| {
            let days: Vec<&str> = (0..7)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| weekdays[i])
                .collect();
            format!("FREQ=WEEKLY;INTERVAL={interval};BYDAY={}", days.join(","))
        }),
    ]
}

/// Any hour, half the time one of the small hours where the changes are.
fn hour_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..24, 0u32..4]
}

/// Up to a day, half the time short enough to fit inside a gap.
fn duration_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![1i64..=1440, 1i64..=60]
}

/// The instant the rules of the module give `wall` in `tz`, computed from
/// chrono's own answer: the single instant, the earlier of two, or (in a
/// gap) the first instant whose wall clock is past `wall`.
fn expected_instant(tz: Tz, wall: NaiveDateTime) -> (DateTime<Utc>, bool) {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(at) => (at.with_timezone(&Utc), false),
        LocalResult::Ambiguous(a, b) => (a.with_timezone(&Utc).min(b.with_timezone(&Utc)), false),
        LocalResult::None => {
            // Minute by minute: every gap of these zones ends on a whole minute.
            let mut probe = wall;
            loop {
                probe += Duration::minutes(1);
                if let Some(at) = tz.from_local_datetime(&probe).earliest() {
                    return (at.with_timezone(&Utc), true);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn occurrences_keep_wall_clock_time_and_miss_or_repeat_no_day(
        rule in rule_strategy(),
        start_day in 0i64..730,
        hour in hour_strategy(),
        minute in 0u32..60,
        duration_minutes in duration_strategy(),
        zone in 0usize..ZONES.len(),
    ) {
        let tz = ZONES[zone];
        let start_date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(start_day);
        let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap();
        let start = start_date.and_time(time);
        let duration = Duration::minutes(duration_minutes);
        let recurrence = Recurrence::new(&rule, start, duration).unwrap();

        // 2028 with three days to spare on either side.
        let found = recurrence
            .occurrences(tz, utc(2027, 12, 29, 0, 0), utc(2029, 1, 4, 0, 0))
            .unwrap();

        for pair in found.windows(2) {
            prop_assert!(pair[0].starts_at < pair[1].starts_at, "sorted, no duplicates");
            prop_assert!(pair[0].ends_at <= pair[1].starts_at, "no overlap");
        }
        let mut local_dates = Vec::new();
        for o in &found {
            prop_assert!(o.ends_at > o.starts_at);
            let wall = wall_clock(tz, o.starts_at);
            let intended = wall.date().and_time(time);
            let (expected_start, in_gap) = expected_instant(tz, intended);
            prop_assert_eq!(o.starts_at, expected_start);
            if in_gap {
                // The first instant after the gap: a second earlier is before it.
                prop_assert!(wall > intended);
                prop_assert!(wall_clock(tz, o.starts_at - Duration::seconds(1)) < intended);
            } else {
                prop_assert_eq!(wall, intended);
            }
            let (mut expected_end, _) = expected_instant(tz, intended + duration);
            if expected_end <= expected_start {
                expected_end = expected_start + duration;
            }
            prop_assert_eq!(o.ends_at, expected_end);
            local_dates.push(wall.date());
        }

        // The same rule expanded by rrule in UTC, where no DST exists.
        let reference: RRuleSet = format!(
            "DTSTART:{}Z\nRRULE:{rule}",
            start.format("%Y%m%dT%H%M%S")
        )
        .parse()
        .unwrap();
        let in_2028 = |date: &NaiveDate| date.year() == 2028;
        let expected: Vec<NaiveDate> = reference
            .into_iter()
            .map(|at| at.naive_utc().date())
            .skip_while(|date| date.year() < 2028)
            .take_while(in_2028)
            .collect();
        let ours: Vec<NaiveDate> = local_dates.into_iter().filter(in_2028).collect();
        prop_assert_eq!(ours, expected);
    }

    #[test]
    fn a_smaller_window_returns_exactly_the_overlapping_occurrences(
        rule in rule_strategy(),
        hour in hour_strategy(),
        duration_minutes in duration_strategy(),
        zone in 0usize..ZONES.len(),
        window_start in 0i64..(60 * 24 * 60),
        window_length in 0i64..(60 * 24 * 10),
    ) {
        let tz = ZONES[zone];
        let start = local(2027, 1, 4, hour, 0);
        let recurrence = Recurrence::new(&rule, start, Duration::minutes(duration_minutes)).unwrap();
        let (big_from, big_to) = (utc(2027, 1, 1, 0, 0), utc(2027, 6, 1, 0, 0));
        let all = recurrence.occurrences(tz, big_from, big_to).unwrap();
        let from = utc(2027, 2, 1, 0, 0) + Duration::minutes(window_start);
        let to = from + Duration::minutes(window_length);
        let expected: Vec<Occurrence> = all
            .into_iter()
            .filter(|o| o.starts_at < to && o.ends_at > from)
            .collect();
        prop_assert_eq!(recurrence.occurrences(tz, from, to).unwrap(), expected);
    }
}
