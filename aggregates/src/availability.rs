//! The `Availability` aggregate: one entry of a person's availability (the
//! seed's Availability). An entry is a single window, or a recurring one (an
//! RFC 5545 RRULE kept in the tenant's time zone, [`crate::recurrence`]), in
//! which the person is unavailable (`is_available = false`: nobody may
//! schedule them then, see [`Availability::blocks`]) or available beyond
//! their working hours (`is_available = true`).
//!
//! A recurring entry carries its concrete occurrences:
//!
//! - they are expanded from the recording instant (`at`): occurrences already
//!   over by then are left out (the rule and its `local_start` keep the
//!   history, and a past occurrence can never conflict with a new schedule);
//!   one in progress at `at` is kept whole;
//! - a rule with `COUNT` or `UNTIL` is expanded to its end, unless that end
//!   lies beyond [`recurrence::horizon`]`(at)`: then, like a rule without an
//!   end, it is expanded up to the horizon and `materialized_until` says so;
//! - `materialized_until` is an exclusive bound: every occurrence that
//!   *starts before* it is in [`Availability::occurrences`], none that starts
//!   at or after it. [`AvailabilityAction::Extend`] (the horizon policy's
//!   command) adds the occurrences starting in `[materialized_until, until)`,
//!   so an occurrence starting exactly on the bound is added once, by the
//!   extension.
//!
//! ```
//! use aggregates::availability::{Availability, AvailabilityAction, AvailabilityCommand, Window};
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use event_schemas::TenantId;
//! use event_schemas::availability::AvailabilityType;
//! use uuid::Uuid;
//!
//! let at = Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap();
//! let monday = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap().and_hms_opt(8, 0, 0).unwrap();
//! let events = Availability::default()
//!     .decide(AvailabilityCommand {
//!         at,
//!         actor: Uuid::nil(),
//!         action: AvailabilityAction::Record {
//!             tenant_id: TenantId::parse("acme-movers").unwrap(),
//!             availability_id: Uuid::nil(),
//!             user_id: Uuid::nil(),
//!             is_available: false,
//!             availability_type: AvailabilityType::Training,
//!             reason: None,
//!             notes: None,
//!             window: Window::Recurring {
//!                 rule: "FREQ=WEEKLY;BYDAY=MO;COUNT=2".into(),
//!                 local_start: monday,
//!                 duration_minutes: 60,
//!             },
//!             time_zone: chrono_tz::America::Toronto,
//!         },
//!     })
//!     .unwrap();
//! let mut entry = Availability::default();
//! events.into_iter().for_each(|e| cqrs_es::Aggregate::apply(&mut entry, e));
//! assert_eq!(entry.occurrences.len(), 2);
//! assert_eq!(entry.materialized_until, None, "the rule ends before the horizon");
//! assert!(entry.blocks());
//! ```

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::availability::{
    AvailabilityEvent, AvailabilityExtended, AvailabilityRecorded, AvailabilityRemoved,
    AvailabilityType, Period, RecurrenceRule,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::recurrence::{self, Occurrence, Recurrence, RecurrenceError};
use crate::values;

/// The longest single window: a year, leap day included. A longer absence
/// (an extended leave) is recorded as several entries; the limit catches
/// mistyped years rather than expressing a policy.
pub const MAX_WINDOW: Duration = Duration::days(366);

/// The shortest occurrence of a recurring entry, in minutes.
pub const MIN_DURATION_MINUTES: u32 = 1;
/// The longest occurrence of a recurring entry, in minutes (a day, as
/// [`recurrence::MAX_DURATION`]).
pub const MAX_DURATION_MINUTES: u32 = 24 * 60;

/// One availability entry as it stands. `Default` is the entry before its
/// first event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    pub tenant_id: Option<TenantId>,
    pub availability_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub is_available: bool,
    pub availability_type: Option<AvailabilityType>,
    pub reason: Option<String>,
    pub notes: Option<String>,
    /// `None`: a single window, the only occurrence.
    pub recurrence: Option<RecurrenceRule>,
    /// The concrete occurrences, earliest first, without duplicates.
    pub occurrences: Vec<Period>,
    /// Every occurrence starting before this instant is known (`None`: all
    /// of them are).
    pub materialized_until: Option<DateTime<Utc>>,
    pub removed: bool,
}

impl Availability {
    /// Whether the entry was recorded (removed or not).
    pub fn exists(&self) -> bool {
        self.availability_id.is_some()
    }

    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// The person the entry is about (`None` before it is recorded).
    pub fn user_id(&self) -> Option<Uuid> {
        self.user_id
    }

    /// Whether the entry keeps its person off schedules: recorded, not
    /// removed, and an unavailability (`is_available = false`).
    pub fn blocks(&self) -> bool {
        self.exists() && !self.removed && !self.is_available
    }

    /// The occurrences overlapping the half-open window `[from, to)`, earliest
    /// first; none once the entry is removed (its occurrences no longer
    /// count). Only the materialized occurrences are seen: nothing at or after
    /// [`Self::materialized_until`].
    pub fn occurrences_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = &Period> {
        let live: &[Period] = if self.removed { &[] } else { &self.occurrences };
        live.iter()
            .filter(move |p| p.starts_at < to && p.ends_at > from)
    }

    /// Every occurrence starting before this instant is known (`None`: all
    /// of them are).
    pub fn materialized_until(&self) -> Option<DateTime<Utc>> {
        self.materialized_until
    }
}

/// When an entry applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Window {
    /// One period `[starts_at, ends_at)`, at most [`MAX_WINDOW`] long.
    Once {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    /// An RRULE value (`FREQ=WEEKLY;BYDAY=MO,TU`, without `RRULE:`, `DTSTART`
    /// or `TZID`) from the wall-clock `local_start`, each occurrence lasting
    /// `duration_minutes` ([`MIN_DURATION_MINUTES`] to
    /// [`MAX_DURATION_MINUTES`]) of wall-clock time.
    Recurring {
        rule: String,
        local_start: NaiveDateTime,
        duration_minutes: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum AvailabilityAction {
    /// Records the entry (once per aggregate).
    Record {
        tenant_id: TenantId,
        availability_id: Uuid,
        user_id: Uuid,
        is_available: bool,
        availability_type: AvailabilityType,
        reason: Option<String>,
        notes: Option<String>,
        window: Window,
        /// The tenant's time zone, looked up by the caller: a recurring
        /// window is kept in it (and the entry remembers its name). A single
        /// window, already in UTC, ignores it.
        time_zone: Tz,
    },
    /// Materializes a recurring entry further, up to `until` but never
    /// beyond [`recurrence::horizon`] of the command's `at` (the horizon
    /// policy's command). Records nothing for a single window, a removed
    /// entry, a rule already materialized to its end, or an `until` not past
    /// `materialized_until`.
    Extend { until: DateTime<Utc> },
    /// Removes the entry: its occurrences no longer count. Removing a removed
    /// entry records nothing.
    Remove,
}

/// An availability command: the action, who asked and when.
#[derive(Clone, Debug, PartialEq)]
pub struct AvailabilityCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: AvailabilityAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AvailabilityError {
    #[error("invalid availability entry: {0}")]
    Invalid(ValidationErrors),
    #[error("this availability entry was already recorded")]
    AlreadyRecorded,
    #[error("no such availability entry")]
    NotFound,
}

impl DomainError for AvailabilityError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyRecorded => ErrorKind::Conflict {
                rule: "availability.exists",
            },
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

impl From<ValidationErrors> for AvailabilityError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

impl From<RecurrenceError> for AvailabilityError {
    fn from(error: RecurrenceError) -> Self {
        Self::Invalid(error.into())
    }
}

fn period(o: Occurrence) -> Period {
    Period {
        starts_at: o.starts_at,
        ends_at: o.ends_at,
    }
}

/// What a validated window becomes.
struct Materialized {
    recurrence: Option<RecurrenceRule>,
    occurrences: Vec<Period>,
    materialized_until: Option<DateTime<Utc>>,
}

/// Checks a single window, naming `starts_at` and `ends_at`.
fn once(
    v: &mut Validator,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Option<Materialized> {
    let years = recurrence::FIRST_START_YEAR..=recurrence::LAST_START_YEAR;
    let mut ok = true;
    if !years.contains(&starts_at.year()) {
        v.error(
            "starts_at",
            format!(
                "must lie in the years {} to {}",
                recurrence::FIRST_START_YEAR,
                recurrence::LAST_START_YEAR
            ),
        );
        ok = false;
    }
    if ends_at <= starts_at {
        v.error("ends_at", "must be after starts_at");
        ok = false;
    } else if ends_at - starts_at > MAX_WINDOW {
        v.error(
            "ends_at",
            format!(
                "must be at most {} days after starts_at: record a longer absence as several entries",
                MAX_WINDOW.num_days()
            ),
        );
        ok = false;
    }
    ok.then(|| Materialized {
        recurrence: None,
        occurrences: vec![Period { starts_at, ends_at }],
        materialized_until: None,
    })
}

/// Checks a recurring window (`recurrence`, `duration_minutes`) and expands it
/// from `at` (see the module's documentation).
fn recurring(
    v: &mut Validator,
    rule: &str,
    local_start: NaiveDateTime,
    duration_minutes: u32,
    tz: Tz,
    at: DateTime<Utc>,
) -> Option<Materialized> {
    let duration_ok = (MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES).contains(&duration_minutes);
    if !duration_ok {
        v.error(
            "duration_minutes",
            format!("must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES} minutes"),
        );
    }
    // With a bad duration the rule is still checked (with a stand-in
    // duration), so that its own mistakes are reported too.
    let duration = Duration::minutes(if duration_ok {
        i64::from(duration_minutes)
    } else {
        1
    });
    let recurrence = match Recurrence::new(rule, local_start, duration) {
        Ok(recurrence) => recurrence,
        Err(error) => {
            v.error(recurrence::FIELD, error.to_string());
            return None;
        }
    };
    if !duration_ok {
        return None;
    }
    match expand(&recurrence, tz, at) {
        Ok((occurrences, materialized_until)) => Some(Materialized {
            recurrence: Some(RecurrenceRule {
                rule: recurrence.rule().to_owned(),
                local_start,
                duration_minutes,
                time_zone: tz.name().to_owned(),
            }),
            occurrences,
            materialized_until,
        }),
        Err(message) => {
            v.error(recurrence::FIELD, message);
            None
        }
    }
}

/// The occurrences of `recurrence` from `at` up to its end or the horizon,
/// and the bound they are known up to when that is the horizon.
fn expand(
    recurrence: &Recurrence,
    tz: Tz,
    at: DateTime<Utc>,
) -> Result<(Vec<Period>, Option<DateTime<Utc>>), String> {
    let horizon = recurrence::horizon(at);
    let found = recurrence
        .occurrences(tz, at, horizon)
        .map_err(|e| e.to_string())?;
    if found.is_empty() {
        return Err(format!(
            "the rule has no occurrence between now and {}: every occurrence is already over, or the first one is more than {} months away",
            horizon.format("%Y-%m-%d"),
            recurrence::HORIZON_MONTHS
        ));
    }
    let materialized_until = (recurrence.is_open_ended()
        || starts_at_or_after(recurrence, tz, horizon))
    .then_some(horizon);
    Ok((found.into_iter().map(period).collect(), materialized_until))
}

/// Whether an occurrence of the bounded `recurrence` starts at or after
/// `bound`. The walk ends with the rule, or after [`recurrence::MAX_OCCURRENCES`]
/// occurrences (and an error that says there are some).
fn starts_at_or_after(recurrence: &Recurrence, tz: Tz, bound: DateTime<Utc>) -> bool {
    match recurrence.occurrences(tz, bound, DateTime::<Utc>::MAX_UTC) {
        Ok(found) => found.iter().any(|o| o.starts_at >= bound),
        Err(_) => true,
    }
}

impl Availability {
    /// The events `command` produces against the current state.
    pub fn decide(
        &self,
        command: AvailabilityCommand,
    ) -> Result<Vec<AvailabilityEvent>, AvailabilityError> {
        let AvailabilityCommand { at, actor, action } = command;
        match action {
            AvailabilityAction::Record {
                tenant_id,
                availability_id,
                user_id,
                is_available,
                availability_type,
                reason,
                notes,
                window,
                time_zone,
            } => {
                if self.exists() {
                    return Err(AvailabilityError::AlreadyRecorded);
                }
                let mut v = Validator::new();
                let materialized = match window {
                    Window::Once { starts_at, ends_at } => once(&mut v, starts_at, ends_at),
                    Window::Recurring {
                        rule,
                        local_start,
                        duration_minutes,
                    } => recurring(&mut v, &rule, local_start, duration_minutes, time_zone, at),
                };
                let reason = v.check(
                    "reason",
                    values::optional_text(reason.as_deref(), values::MAX_SHORT_TEXT),
                );
                let notes = v.check(
                    "notes",
                    values::optional_text(notes.as_deref(), values::MAX_LONG_TEXT),
                );
                v.finish()?;
                let (Some(materialized), Some(reason), Some(notes)) = (materialized, reason, notes)
                else {
                    unreachable!("every field was validated");
                };
                Ok(vec![
                    AvailabilityRecorded {
                        tenant_id,
                        availability_id,
                        user_id,
                        is_available,
                        availability_type,
                        reason,
                        notes,
                        recurrence: materialized.recurrence,
                        occurrences: materialized.occurrences,
                        materialized_until: materialized.materialized_until,
                        recorded_by: actor,
                        recorded_at: at,
                    }
                    .into(),
                ])
            }
            AvailabilityAction::Extend { until } => self.extend(until, at),
            AvailabilityAction::Remove => {
                if !self.exists() {
                    return Err(AvailabilityError::NotFound);
                }
                if self.removed {
                    return Ok(vec![]);
                }
                Ok(vec![
                    AvailabilityRemoved {
                        removed_by: actor,
                        removed_at: at,
                    }
                    .into(),
                ])
            }
        }
    }

    fn extend(
        &self,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Vec<AvailabilityEvent>, AvailabilityError> {
        if !self.exists() {
            return Err(AvailabilityError::NotFound);
        }
        let (Some(rule), Some(known_until), false) =
            (&self.recurrence, self.materialized_until, self.removed)
        else {
            return Ok(vec![]);
        };
        let until = until.min(recurrence::horizon(at));
        if until <= known_until {
            return Ok(vec![]);
        }
        let tz: Tz = rule.time_zone.parse().map_err(|_| {
            ValidationErrors::single(
                recurrence::FIELD,
                format!("the stored time zone `{}` is unknown", rule.time_zone),
            )
        })?;
        let recurrence = Recurrence::new(
            &rule.rule,
            rule.local_start,
            Duration::minutes(i64::from(rule.duration_minutes)),
        )?;
        if !recurrence.is_open_ended() && !starts_at_or_after(&recurrence, tz, known_until) {
            // A bounded rule already materialized to its end.
            return Ok(vec![]);
        }
        let occurrences: Vec<Period> = recurrence
            .occurrences(tz, known_until, until)?
            .into_iter()
            // Those that started earlier overlap the window but are known.
            .filter(|o| o.starts_at >= known_until)
            .map(period)
            .collect();
        Ok(vec![
            AvailabilityExtended {
                occurrences,
                materialized_until: until,
                extended_at: at,
            }
            .into(),
        ])
    }
}

impl Aggregate for Availability {
    const TYPE: &'static str = event_schemas::availability::AGGREGATE_TYPE;
    type Command = AvailabilityCommand;
    type Event = AvailabilityEvent;
    type Error = AvailabilityError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AvailabilityEvent::AvailabilityRecorded(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.availability_id = Some(e.availability_id);
                self.user_id = Some(e.user_id);
                self.is_available = e.is_available;
                self.availability_type = Some(e.availability_type);
                self.reason = e.reason;
                self.notes = e.notes;
                self.recurrence = e.recurrence;
                self.occurrences = e.occurrences;
                self.materialized_until = e.materialized_until;
            }
            AvailabilityEvent::AvailabilityExtended(e) => {
                self.occurrences.extend(e.occurrences);
                self.materialized_until = Some(e.materialized_until);
            }
            AvailabilityEvent::AvailabilityRemoved(_) => {
                self.removed = true;
            }
        }
    }
}
