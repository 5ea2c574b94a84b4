//! Recurring time blocks (RFC 5545 `RRULE`) in a tenant's time zone, e.g. a
//! crew member "unavailable every Monday and Tuesday 08:00–17:00", expanded
//! into concrete UTC instants for the conflict checks.
//!
//! The recurrence logic is the `rrule` crate's, but it never sees a time
//! zone: the rule is expanded in *floating* local time (the wall-clock start
//! is handed to `rrule` as if it were UTC, so no daylight-saving change exists
//! during the expansion), and each occurrence's wall-clock start and end are
//! then placed in the tenant's zone with `chrono-tz`:
//!
//! - a wall-clock time that does not exist (spring-forward gap) becomes the
//!   first instant after the gap: 02:30 on 2027-03-14 in `America/Toronto` is
//!   03:00 EDT (07:00 UTC);
//! - a wall-clock time that exists twice (autumn overlap) is the earlier of
//!   the two instants: 01:30 on 2027-11-07 in `America/Toronto` is 01:30 EDT
//!   (05:30 UTC);
//! - the end is the wall-clock start plus the wall-clock duration, placed by
//!   the same two rules, so 08:00–17:00 stays 08:00–17:00 on both sides of a
//!   transition. An occurrence that lies wholly inside a gap (02:15–02:45)
//!   moves whole to the end of the gap and keeps its length (03:00–03:30).
//!
//! `docs/decisions/0024-recurrence-in-local-time.md` gives the reasons.
//!
//! ```
//! use aggregates::recurrence::Recurrence;
//! use chrono::{Duration, NaiveDate, TimeZone, Utc};
//!
//! let monday = NaiveDate::from_ymd_opt(2027, 3, 8).unwrap().and_hms_opt(8, 0, 0).unwrap();
//! let rule = Recurrence::new("FREQ=WEEKLY;BYDAY=MO,TU", monday, Duration::hours(9)).unwrap();
//! let from = Utc.with_ymd_and_hms(2027, 3, 8, 0, 0, 0).unwrap();
//! let to = Utc.with_ymd_and_hms(2027, 3, 17, 0, 0, 0).unwrap();
//! let found = rule.occurrences(chrono_tz::America::Toronto, from, to).unwrap();
//! let starts: Vec<String> = found.iter().map(|o| o.starts_at.to_rfc3339()).collect();
//! // 08:00 EST is 13:00 UTC; after the change on Sunday 14 March, 08:00 EDT is 12:00 UTC.
//! assert_eq!(starts, [
//!     "2027-03-08T13:00:00+00:00",
//!     "2027-03-09T13:00:00+00:00",
//!     "2027-03-15T12:00:00+00:00",
//!     "2027-03-16T12:00:00+00:00",
//! ]);
//! ```

use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use rrule::{Frequency, RRule, RRuleError, RRuleSet, Unvalidated};

use crate::error::ValidationErrors;

/// How far ahead a rule without an end (no `COUNT`, no `UNTIL`) is
/// materialized: [`horizon`] is this many calendar months after "now".
pub const HORIZON_MONTHS: u32 = 18;

/// The most occurrences one call of [`Recurrence::occurrences`] returns; a
/// window holding more is refused with [`RecurrenceError::TooManyOccurrences`]
/// rather than cut short. A daily rule over the 18-month horizon has about
/// 550 occurrences.
pub const MAX_OCCURRENCES: usize = 2_000;

/// The longest duration of one occurrence. With at most one occurrence per
/// day (the time of day always comes from the start), occurrences of a rule
/// never overlap each other.
pub const MAX_DURATION: Duration = Duration::hours(24);

/// The first year a rule may start in. Every expansion walks the rule from
/// its start, so a start decades back would make each one slow.
pub const FIRST_START_YEAR: i32 = 2000;

/// The last year a rule may start in. The time-zone tables of `chrono-tz`
/// list daylight-saving changes up to 2099 and keep the last offset after
/// that.
pub const LAST_START_YEAR: i32 = 2099;

/// The field that every [`RecurrenceError`] is reported under.
pub const FIELD: &str = "recurrence";

/// Why a recurrence was refused or could not be expanded. The messages are
/// meant for the person who wrote the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    /// The rule string is blank.
    #[error("the rule is empty: give an RRULE value such as `FREQ=WEEKLY;BYDAY=MO,TU`")]
    EmptyRule,
    /// The rule names its own start or time zone.
    #[error(
        "the rule must not contain `{part}`: the start date and time and the time zone are given separately"
    )]
    StartInRule {
        /// `DTSTART` or `TZID`.
        part: &'static str,
    },
    /// The rule is a whole content line or several lines, not an RRULE value.
    #[error(
        "give only the RRULE value, e.g. `FREQ=WEEKLY;BYDAY=MO,TU`, without `RRULE:` or other lines"
    )]
    NotARuleValue,
    /// `BYHOUR`, `BYMINUTE` or `BYSECOND`.
    #[error(
        "`{part}` is not supported: every occurrence starts at the time of day of the start, so the rule must not set BYHOUR, BYMINUTE or BYSECOND"
    )]
    TimeOfDayInRule {
        /// The offending rule part, uppercased.
        part: String,
    },
    /// `FREQ` is finer than daily.
    #[error(
        "FREQ={freq} is not supported: use DAILY, WEEKLY, MONTHLY or YEARLY (a finer frequency would produce too many occurrences)"
    )]
    UnsupportedFrequency {
        /// `HOURLY`, `MINUTELY` or `SECONDLY`.
        freq: String,
    },
    /// The `rrule` crate refused the rule; `reason` is its explanation.
    #[error("the rule is not a valid RRULE: {reason}")]
    InvalidRule {
        /// What is wrong, as the parser put it.
        reason: String,
    },
    /// `UNTIL` is not a local date or date-time.
    #[error(
        "UNTIL=`{value}` must be a local date (YYYYMMDD) or a local date and time (YYYYMMDDTHHMMSS) without `Z`: it is read as wall-clock time in the tenant's time zone"
    )]
    InvalidUntil {
        /// The value as given.
        value: String,
    },
    /// `UNTIL` is before the start.
    #[error("UNTIL ({until}) is before the start ({start})")]
    UntilBeforeStart {
        /// The wall-clock end of the rule.
        until: NaiveDateTime,
        /// The wall-clock start.
        start: NaiveDateTime,
    },
    /// Both `COUNT` and `UNTIL` were given (RFC 5545 forbids it).
    #[error("give either COUNT or UNTIL, not both")]
    CountAndUntil,
    /// The rule, from its start, never produces an occurrence.
    #[error(
        "the rule produces no occurrence from its start: check the BY… parts, INTERVAL, COUNT and UNTIL"
    )]
    NoOccurrences,
    /// The duration is zero or negative.
    #[error("the duration must be longer than zero")]
    NonPositiveDuration,
    /// The duration is longer than [`MAX_DURATION`].
    #[error("the duration must be at most 24 hours")]
    DurationTooLong,
    /// The start has a fraction of a second.
    #[error("the start must be a whole second")]
    FractionalStart,
    /// The start's year is outside [`FIRST_START_YEAR`]..=[`LAST_START_YEAR`].
    #[error("the start must lie in the years {FIRST_START_YEAR} to {LAST_START_YEAR}")]
    StartOutOfRange,
    /// More than [`MAX_OCCURRENCES`] occurrences overlap the requested window.
    #[error("more than {max} occurrences fall in the requested period: ask for a shorter one")]
    TooManyOccurrences {
        /// [`MAX_OCCURRENCES`].
        max: usize,
    },
}

impl From<RecurrenceError> for ValidationErrors {
    /// One error under the field [`FIELD`] (`recurrence`).
    fn from(error: RecurrenceError) -> Self {
        ValidationErrors::single(FIELD, error.to_string())
    }
}

/// One concrete occurrence: the half-open period `[starts_at, ends_at)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Occurrence {
    /// The first instant of the occurrence.
    pub starts_at: DateTime<Utc>,
    /// The first instant after it; always later than `starts_at`.
    pub ends_at: DateTime<Utc>,
}

/// A validated recurrence: an RRULE value, its wall-clock start (`DTSTART`)
/// and the wall-clock length of each occurrence. It holds no time zone: the
/// same recurrence is expanded in whatever zone the tenant uses.
///
/// - The time of day of every occurrence is the start's; an occurrence exists
///   only on a day the rule matches, so a start on a Wednesday with
///   `BYDAY=MO,TU` first occurs on the next Monday (and `COUNT` counts only
///   the occurrences).
/// - `UNTIL` is wall-clock time like the start (`YYYYMMDDTHHMMSS`, no `Z`);
///   a date alone (`YYYYMMDD`) includes that whole day.
/// - `FREQ` is `DAILY`, `WEEKLY`, `MONTHLY` or `YEARLY`, and `BYHOUR`,
///   `BYMINUTE` and `BYSECOND` are refused, so a rule has at most one
///   occurrence per day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recurrence {
    rule: String,
    local_start: NaiveDateTime,
    local_duration: Duration,
    open_ended: bool,
    /// The validated rule with the start as a floating (`UTC`) `DTSTART`.
    floating: RRuleSet,
}

impl Recurrence {
    /// Validates `rule` (the RRULE value, e.g. `FREQ=WEEKLY;BYDAY=MO,TU`,
    /// without `RRULE:`, `DTSTART` or `TZID`), the wall-clock `local_start`
    /// (whole seconds, in the years [`FIRST_START_YEAR`] to
    /// [`LAST_START_YEAR`]) and the wall-clock `local_duration` (more than
    /// zero, at most [`MAX_DURATION`]).
    ///
    /// # Errors
    /// A [`RecurrenceError`] saying what to change.
    pub fn new(
        rule: &str,
        local_start: NaiveDateTime,
        local_duration: Duration,
    ) -> Result<Self, RecurrenceError> {
        if local_duration <= Duration::zero() {
            return Err(RecurrenceError::NonPositiveDuration);
        }
        if local_duration > MAX_DURATION {
            return Err(RecurrenceError::DurationTooLong);
        }
        if local_start.nanosecond() != 0 {
            return Err(RecurrenceError::FractionalStart);
        }
        if !(FIRST_START_YEAR..=LAST_START_YEAR).contains(&local_start.year()) {
            return Err(RecurrenceError::StartOutOfRange);
        }

        let rule = rule.trim();
        let parts = split_rule(rule)?;
        let until = match parts.until {
            Some(value) => Some(parse_until(value)?),
            None => None,
        };

        // `rrule` would read a floating UNTIL in the machine's own time zone,
        // so it is parsed here and handed over as a floating (UTC) instant.
        let mut parsed =
            RRule::<Unvalidated>::from_str(&parts.without_until.join(";")).map_err(invalid_rule)?;
        let freq = parsed.get_freq();
        if !matches!(
            freq,
            Frequency::Daily | Frequency::Weekly | Frequency::Monthly | Frequency::Yearly
        ) {
            return Err(RecurrenceError::UnsupportedFrequency {
                freq: freq.to_string(),
            });
        }
        if let Some(until) = until {
            if parsed.get_count().is_some() {
                return Err(RecurrenceError::CountAndUntil);
            }
            if until < local_start {
                return Err(RecurrenceError::UntilBeforeStart {
                    until,
                    start: local_start,
                });
            }
            parsed = parsed.until(floating(until));
        }
        let open_ended = until.is_none() && parsed.get_count().is_none();

        let floating = parsed
            .build(floating(local_start))
            .map_err(invalid_rule)?
            .limit();
        if floating.into_iter().next().is_none() {
            return Err(RecurrenceError::NoOccurrences);
        }

        Ok(Self {
            rule: rule.to_owned(),
            local_start,
            local_duration,
            open_ended,
            floating,
        })
    }

    /// The RRULE value as given (trimmed).
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// The wall-clock start (`DTSTART`).
    pub fn local_start(&self) -> NaiveDateTime {
        self.local_start
    }

    /// The wall-clock length of each occurrence.
    pub fn local_duration(&self) -> Duration {
        self.local_duration
    }

    /// Whether the rule has neither `COUNT` nor `UNTIL`: such a rule is
    /// materialized up to [`horizon`] and extended as time passes.
    pub fn is_open_ended(&self) -> bool {
        self.open_ended
    }

    /// The occurrences that overlap the half-open window `[from, to)` when the
    /// rule is kept in the time zone `tz`, sorted by start, without
    /// duplicates. An occurrence that only partly lies in the window is
    /// returned whole. An empty window (`from >= to`) has none.
    ///
    /// The rule is walked from its start (at most one occurrence a day), so
    /// the cost grows with the time from the start to `to`.
    ///
    /// # Errors
    /// [`RecurrenceError::TooManyOccurrences`] when more than
    /// [`MAX_OCCURRENCES`] overlap the window.
    pub fn occurrences(
        &self,
        tz: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Occurrence>, RecurrenceError> {
        let mut found = Vec::new();
        if from >= to {
            return Ok(found);
        }
        // A wall-clock time lies less than two days from the UTC instant it
        // becomes (offsets stay below ±15 h, a gap moves it by less than
        // 24 h), so these floating bounds hold every occurrence that can
        // overlap the window; the exact test follows once each occurrence is
        // placed in the zone.
        let margin = Duration::days(2);
        let first = from
            .naive_utc()
            .checked_sub_signed(self.local_duration + margin)
            .unwrap_or(NaiveDateTime::MIN);
        let last = to
            .naive_utc()
            .checked_add_signed(margin)
            .unwrap_or(NaiveDateTime::MAX);

        for start in &self.floating {
            let local_start = start.naive_utc();
            if local_start < first {
                continue;
            }
            if local_start >= last {
                break;
            }
            let occurrence = self.place(tz, local_start);
            if occurrence.starts_at < to && occurrence.ends_at > from {
                if found.len() == MAX_OCCURRENCES {
                    return Err(RecurrenceError::TooManyOccurrences {
                        max: MAX_OCCURRENCES,
                    });
                }
                found.push(occurrence);
            }
        }

        // Placing is monotonic and occurrences are at least a day apart on
        // the wall clock, so this only guards the invariant.
        found.sort_unstable();
        found.dedup_by_key(|o| o.starts_at);
        Ok(found)
    }

    /// Places the occurrence starting at the wall-clock `local_start` in `tz`.
    fn place(&self, tz: Tz, local_start: NaiveDateTime) -> Occurrence {
        let starts_at = to_instant(tz, local_start);
        let mut ends_at = to_instant(tz, local_start + self.local_duration);
        if ends_at <= starts_at {
            // Wholly inside a gap: moved whole to its end, keeping its length.
            ends_at = starts_at + self.local_duration;
        }
        Occurrence { starts_at, ends_at }
    }
}

/// When a rule without an end stops being materialized:
/// [`HORIZON_MONTHS`] calendar months after `now` (the day of the month is
/// clamped, so 31 August becomes the last day of February).
pub fn horizon(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_add_months(Months::new(HORIZON_MONTHS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The instant of the wall-clock time `local` in `tz`: the earlier one in an
/// autumn overlap, the first instant after the gap in a spring-forward gap.
pub fn to_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        LocalResult::None => end_of_gap(tz, local),
    }
}

/// The first instant whose wall-clock time in `tz` is at or after `local`,
/// which lies in a gap: the instant of the transition that made the gap.
/// Transitions fall on whole seconds, so a search over whole seconds finds it
/// exactly. Offsets stay below ±15 h and gaps below 24 h, so the wall clock
/// three days before `local`'s UTC reading is before `local` and three days
/// after is past it.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let wall_clock = |second: i64| {
        DateTime::from_timestamp(second, 0).map(|at| tz.from_utc_datetime(&at.naive_utc()))
    };
    let span = Duration::days(3).num_seconds();
    let center = local.and_utc().timestamp();
    // Invariant: wall_clock(before) < local <= wall_clock(after).
    let (mut before, mut after) = (center - span, center + span);
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        match wall_clock(middle) {
            Some(at) if at.naive_local() >= local => after = middle,
            _ => before = middle,
        }
    }
    DateTime::from_timestamp(after, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A wall-clock time as the floating `DTSTART`/`UNTIL` that `rrule` expands:
/// UTC, where no daylight-saving change exists.
fn floating(local: NaiveDateTime) -> DateTime<rrule::Tz> {
    rrule::Tz::UTC.from_utc_datetime(&local)
}

fn invalid_rule(error: RRuleError) -> RecurrenceError {
    let reason = match error {
        RRuleError::ParserError(e) => e.to_string(),
        RRuleError::ValidationError(e) => e.to_string(),
        RRuleError::IterError(e) => e,
    };
    RecurrenceError::InvalidRule { reason }
}

/// The rule's `NAME=value` parts, `UNTIL` set apart.
struct RuleParts<'a> {
    without_until: Vec<&'a str>,
    until: Option<&'a str>,
}

fn split_rule(rule: &str) -> Result<RuleParts<'_>, RecurrenceError> {
    if rule.is_empty() {
        return Err(RecurrenceError::EmptyRule);
    }
    let upper = rule.to_ascii_uppercase();
    for part in ["DTSTART", "TZID"] {
        if upper.contains(part) {
            return Err(RecurrenceError::StartInRule { part });
        }
    }
    if rule.contains(':') || rule.contains('\n') || rule.contains('\r') {
        return Err(RecurrenceError::NotARuleValue);
    }
    let mut parts = RuleParts {
        without_until: Vec::new(),
        until: None,
    };
    for part in rule.split(';').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = name.trim().to_ascii_uppercase();
        match name.as_str() {
            "BYHOUR" | "BYMINUTE" | "BYSECOND" => {
                return Err(RecurrenceError::TimeOfDayInRule { part: name });
            }
            "UNTIL" if parts.until.is_some() => {
                return Err(RecurrenceError::InvalidRule {
                    reason: "UNTIL is given twice".into(),
                });
            }
            "UNTIL" => parts.until = Some(value.trim()),
            _ => parts.without_until.push(part),
        }
    }
    Ok(parts)
}

/// `YYYYMMDD` (the whole day: through 23:59:59) or `YYYYMMDDTHHMMSS`.
fn parse_until(value: &str) -> Result<NaiveDateTime, RecurrenceError> {
    let invalid = || RecurrenceError::InvalidUntil {
        value: value.to_owned(),
    };
    if !value.bytes().all(|b| b.is_ascii_digit() || b == b'T') {
        return Err(invalid());
    }
    match value.len() {
        8 => NaiveDate::parse_from_str(value, "%Y%m%d")
            .ok()
            .and_then(|d| d.and_hms_opt(23, 59, 59)),
        15 => NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").ok(),
        _ => None,
    }
    .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Toronto;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, 0))
            .expect("valid date")
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        at(y, m, d, h, min).and_utc()
    }

    #[test]
    fn a_gap_ends_at_the_transition() {
        assert_eq!(
            to_instant(Toronto, at(2027, 3, 14, 2, 0)),
            utc(2027, 3, 14, 7, 0)
        );
        assert_eq!(
            to_instant(Toronto, at(2027, 3, 14, 2, 59)),
            utc(2027, 3, 14, 7, 0)
        );
        // Just outside the gap on either side: ordinary times.
        assert_eq!(
            to_instant(Toronto, at(2027, 3, 14, 1, 59)),
            utc(2027, 3, 14, 6, 59)
        );
        assert_eq!(
            to_instant(Toronto, at(2027, 3, 14, 3, 0)),
            utc(2027, 3, 14, 7, 0)
        );
    }

    #[test]
    fn a_half_hour_gap_and_a_midnight_gap() {
        // Lord Howe Island moves from +10:30 to +11:00 at 02:00 local.
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        assert_eq!(
            to_instant(lord_howe, at(2027, 10, 3, 2, 10)),
            utc(2027, 10, 2, 15, 30)
        );
        // Santiago skips from 24:00 to 01:00 on the first Sunday of September.
        let santiago = chrono_tz::America::Santiago;
        assert_eq!(
            to_instant(santiago, at(2027, 9, 5, 0, 30)),
            utc(2027, 9, 5, 4, 0)
        );
    }

    #[test]
    fn an_overlap_takes_the_earlier_instant() {
        assert_eq!(
            to_instant(Toronto, at(2027, 11, 7, 1, 0)),
            utc(2027, 11, 7, 5, 0)
        );
        assert_eq!(
            to_instant(Toronto, at(2027, 11, 7, 1, 59)),
            utc(2027, 11, 7, 5, 59)
        );
        assert_eq!(
            to_instant(Toronto, at(2027, 11, 7, 2, 0)),
            utc(2027, 11, 7, 7, 0)
        );
    }

    #[test]
    fn daylight_saving_is_known_through_2099() {
        // chrono-tz lists transitions up to 2099 and keeps the last offset
        // after that: the reason for `LAST_START_YEAR`.
        assert_eq!(
            to_instant(Toronto, at(2099, 7, 1, 8, 0)),
            utc(2099, 7, 1, 12, 0)
        );
        assert_eq!(
            to_instant(Toronto, at(2099, 12, 1, 8, 0)),
            utc(2099, 12, 1, 13, 0)
        );
        assert_eq!(
            to_instant(Toronto, at(2100, 7, 1, 8, 0)),
            utc(2100, 7, 1, 13, 0)
        );
    }

    #[test]
    fn until_forms() {
        assert_eq!(
            parse_until("20270630"),
            Ok(at(2027, 6, 30, 23, 59) + Duration::seconds(59))
        );
        assert_eq!(parse_until("20270630T170000"), Ok(at(2027, 6, 30, 17, 0)));
        for bad in [
            "20270630T170000Z",
            "2027-06-30",
            "20271330",
            "",
            "20270630T1700",
        ] {
            assert_eq!(
                parse_until(bad),
                Err(RecurrenceError::InvalidUntil {
                    value: bad.to_owned()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn horizon_is_eighteen_calendar_months() {
        assert_eq!(horizon(utc(2027, 1, 15, 9, 30)), utc(2028, 7, 15, 9, 30));
        assert_eq!(horizon(utc(2026, 8, 31, 0, 0)), utc(2028, 2, 29, 0, 0));
        assert_eq!(horizon(DateTime::<Utc>::MAX_UTC), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn errors_map_to_the_recurrence_field() {
        let errors: ValidationErrors = RecurrenceError::CountAndUntil.into();
        assert_eq!(errors.fields().collect::<Vec<_>>(), ["recurrence"]);
        assert_eq!(errors.0[0].message, "give either COUNT or UNTIL, not both");
    }
}
