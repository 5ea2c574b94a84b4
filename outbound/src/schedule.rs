//! When the attempts of a message are due, and a clock tests can move.
//!
//! The default schedule makes 8 attempts over about 28 hours: the first at
//! once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after each failure,
//! so a receiver down for a deploy misses nothing and one down for a day
//! still gets its messages. Each delay moves by up to ±10 % (jitter) so
//! that messages failing together do not all retry in the same second, and
//! a receiver's `Retry-After` is honoured when it asks for more time.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The delays of the default schedule, before attempts 1 to 8.
pub const DEFAULT_DELAYS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The longest a `Retry-After` may postpone an attempt: a receiver cannot
/// park a message for weeks (nor overflow a timestamp).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The longest delay a schedule may hold, so that configured schedules stay
/// within what the delivery worker can plan (a week).
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most attempts a schedule may make.
pub const MAX_ATTEMPTS: usize = 100;

/// Why a schedule was refused (from configuration, so messages name what
/// to write).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// No delay at all: not even a first attempt.
    #[error("a retry schedule needs at least one delay (the first is usually 0s)")]
    Empty,
    /// More than [`MAX_ATTEMPTS`] delays.
    #[error("a retry schedule has at most {MAX_ATTEMPTS} delays, not {0}")]
    TooMany(usize),
    /// A delay longer than [`MAX_DELAY`].
    #[error("delay #{0} is longer than a week")]
    TooLong(usize),
    /// An item that is not `<number><unit>`.
    #[error(
        "`{0}` is not a delay: write a whole number followed by s, m, h or d (e.g. `0s,5s,5m,30m,2h`)"
    )]
    Syntax(String),
}

/// The delays before each attempt of a message: delay 1 before the first
/// attempt, delay n before attempt n; after the last attempt the message is
/// given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    /// `0s,5s,5m,30m,2h,5h,10h,10h`.
    fn default() -> Self {
        Self {
            delays: DEFAULT_DELAYS.to_vec(),
        }
    }
}

impl RetrySchedule {
    /// A schedule of these delays (1 to 100, each at most a week); tests use
    /// short ones to run the whole schedule in seconds.
    pub fn new(delays: Vec<Duration>) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if delays.len() > MAX_ATTEMPTS {
            return Err(ScheduleError::TooMany(delays.len()));
        }
        if let Some(i) = delays.iter().position(|d| *d > MAX_DELAY) {
            return Err(ScheduleError::TooLong(i + 1));
        }
        Ok(Self { delays })
    }

    /// Parses a configured schedule: comma-separated whole numbers with a
    /// unit, `ms`, `s`, `m`, `h` or `d`, e.g. `0s,5s,5m,30m,2h,5h,10h,10h`.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let delays = text
            .split(',')
            .map(|item| {
                parse_delay(item.trim())
                    .ok_or_else(|| ScheduleError::Syntax(item.trim().to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(delays)
    }

    /// The delays, first attempt first.
    #[must_use]
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many attempts a message gets before it is given up.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    /// How long to wait before attempt number `attempt` (1-based: 1 is the
    /// first attempt, 2 the first retry …), or `None` when the schedule has
    /// no such attempt and the message is given up. `0` counts as 1.
    ///
    /// `jitter` is a random number in `[0, 1)` supplied by the caller (so
    /// tests can pick it): it moves the delay by -10 % (0.0) to +10 %
    /// (towards 1.0); 0.5 leaves it as it is. `retry_after` is what the
    /// previous attempt's response asked for; it wins when it is longer,
    /// capped at [`MAX_RETRY_AFTER`].
    #[must_use]
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let index = usize::try_from(attempt.max(1) - 1).ok()?;
        let scheduled = *self.delays.get(index)?;
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        // Whole milliseconds: finer precision means nothing for a retry.
        let factor = 0.9 + 0.2 * jitter;
        let jittered =
            Duration::from_millis((scheduled.as_millis() as f64 * factor).round() as u64);
        let asked = retry_after.map_or(Duration::ZERO, |d| d.min(MAX_RETRY_AFTER));
        Some(jittered.max(asked))
    }
}

impl fmt::Display for RetrySchedule {
    /// The schedule in the syntax [`RetrySchedule::parse`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, delay) in self.delays.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let secs = delay.as_secs();
            if delay.subsec_nanos() != 0 {
                write!(f, "{}ms", delay.as_millis())?;
            } else if secs != 0 && secs % 86_400 == 0 {
                write!(f, "{}d", secs / 86_400)?;
            } else if secs != 0 && secs % 3600 == 0 {
                write!(f, "{}h", secs / 3600)?;
            } else if secs != 0 && secs % 60 == 0 {
                write!(f, "{}m", secs / 60)?;
            } else {
                write!(f, "{secs}s")?;
            }
        }
        Ok(())
    }
}

fn parse_delay(item: &str) -> Option<Duration> {
    let digits = item.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = item.split_at(digits);
    if number.is_empty() || number.len() > 9 {
        return None;
    }
    let n: u64 = number.parse().ok()?;
    let delay = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => return None,
    };
    Some(delay)
}

/// The current time, injected so that a delivery worker's tests can run a
/// whole day-long schedule in seconds with a [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock, for production.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Clones share the same time, so a
/// test keeps one and hands another to the code under test.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `start`.
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the time forward by `by` (saturating at the end of time).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        let step = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        *now = now
            .checked_add_signed(step)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
    }

    /// Sets the time (also backwards, to test clock jumps).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_default_schedule() {
        let s = RetrySchedule::default();
        assert_eq!(s.max_attempts(), 8);
        assert_eq!(s.to_string(), "0s,5s,5m,30m,2h,5h,10h,10h");
        assert_eq!(
            RetrySchedule::parse("0s,5s,5m,30m,2h,5h,10h,10h"),
            Ok(s.clone())
        );
        let expected = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000];
        for (attempt, want) in (1..=8).zip(expected) {
            assert_eq!(
                s.next_delay(attempt, None, 0.5),
                Some(secs(want)),
                "attempt {attempt}"
            );
        }
        assert_eq!(s.next_delay(9, None, 0.5), None);
        assert_eq!(s.next_delay(u32::MAX, None, 0.5), None);
        assert_eq!(s.next_delay(0, None, 0.5), Some(Duration::ZERO));
    }

    #[test]
    fn jitter_is_ten_percent_either_way() {
        let s = RetrySchedule::default();
        assert_eq!(s.next_delay(3, None, 0.0), Some(secs(270)));
        assert_eq!(s.next_delay(3, None, 0.25), Some(secs(285)));
        assert_eq!(s.next_delay(3, None, 0.75), Some(secs(315)));
        let high = s.next_delay(3, None, 0.999_999).unwrap();
        assert!(high <= secs(330) && high > secs(329), "{high:?}");
        // Out-of-range inputs are clamped, not trusted.
        assert_eq!(s.next_delay(3, None, -3.0), Some(secs(270)));
        assert_eq!(s.next_delay(3, None, 7.0), Some(secs(330)));
        assert_eq!(s.next_delay(3, None, f64::NAN), Some(secs(300)));
        // The first attempt stays immediate.
        assert_eq!(s.next_delay(1, None, 0.9), Some(Duration::ZERO));
    }

    #[test]
    fn a_longer_retry_after_wins_up_to_a_day() {
        let s = RetrySchedule::default();
        assert_eq!(s.next_delay(2, Some(secs(60)), 0.5), Some(secs(60)));
        assert_eq!(s.next_delay(2, Some(secs(1)), 0.5), Some(secs(5)));
        assert_eq!(s.next_delay(3, Some(secs(290)), 0.5), Some(secs(300)));
        assert_eq!(
            s.next_delay(2, Some(secs(7 * 86_400)), 0.5),
            Some(secs(86_400))
        );
        // It does not extend the schedule.
        assert_eq!(s.next_delay(9, Some(secs(60)), 0.5), None);
    }

    #[test]
    fn configured_schedules() {
        let s = RetrySchedule::parse(" 0s, 100ms ,1s,2m,1d").unwrap();
        assert_eq!(
            s.delays(),
            [
                Duration::ZERO,
                Duration::from_millis(100),
                secs(1),
                secs(120),
                secs(86_400)
            ]
        );
        assert_eq!(s.to_string(), "0s,100ms,1s,2m,1d");
        assert_eq!(RetrySchedule::parse(&s.to_string()), Ok(s));
        for bad in ["", "5", "s", "5x", "-5s", "1.5s", "5s,,5s", "5 s", "1e3s"] {
            assert!(
                matches!(RetrySchedule::parse(bad), Err(ScheduleError::Syntax(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            RetrySchedule::parse("0s,8d"),
            Err(ScheduleError::TooLong(2))
        );
        assert_eq!(RetrySchedule::new(vec![]), Err(ScheduleError::Empty));
        assert_eq!(
            RetrySchedule::new(vec![secs(1); 101]),
            Err(ScheduleError::TooMany(101))
        );
        assert!(
            ScheduleError::Syntax("5x".into())
                .to_string()
                .contains("s, m, h or d")
        );
    }

    #[test]
    fn a_manual_clock_moves_only_when_told_and_is_shared() {
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        assert_eq!(shared.now(), start);
        clock.advance(secs(36_000));
        assert_eq!(shared.now(), start + chrono::Duration::hours(10));
        clock.set(start);
        assert_eq!(shared.now(), start);
        clock.advance(Duration::MAX);
        assert_eq!(shared.now(), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn the_system_clock_is_now() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(now >= before && now <= Utc::now());
    }

    proptest! {
        #[test]
        fn delays_stay_within_ten_percent(attempt in 1u32..=8, jitter in 0.0f64..1.0) {
            let s = RetrySchedule::default();
            let scheduled = s.delays()[attempt as usize - 1];
            let delay = s.next_delay(attempt, None, jitter).unwrap();
            prop_assert!(delay >= scheduled.mul_f64(0.9));
            prop_assert!(delay <= scheduled.mul_f64(1.1));
        }

        #[test]
        fn retry_after_is_a_floor_capped_at_a_day(attempt in 1u32..=8, jitter in 0.0f64..1.0, asked in 0u64..1_000_000) {
            let s = RetrySchedule::default();
            let without = s.next_delay(attempt, None, jitter).unwrap();
            let with = s.next_delay(attempt, Some(secs(asked)), jitter).unwrap();
            prop_assert_eq!(with, without.max(secs(asked).min(MAX_RETRY_AFTER)));
        }
    }
}
