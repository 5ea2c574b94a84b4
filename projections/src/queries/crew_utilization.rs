//! Crew utilization over days in the tenant's time zone: per active crew
//! member, the hours scheduled against the hours available (the tenant's
//! working hours of those days, less the person's unavailability, plus
//! their extra availability), each hour counted once. The query API's
//! `GET /v1/reports/crew-utilization` and the saved report both read it.

use std::collections::HashMap;

use aggregates::recurrence::to_instant;
use aggregates::tenant_profile::TenantProfile;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use event_schemas::TenantId;
use event_schemas::tenant::TenantProfileChanged;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::calendar::{self, Day};

/// An instant span `[start, end)`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// `tenant`'s profile as the read side holds it (the defaults until set).
pub async fn profile(pool: &PgPool, tenant: &TenantId) -> Result<TenantProfile, sqlx::Error> {
    let current = match calendar::profile(pool, tenant).await? {
        Some(value) => Some(
            serde_json::from_value::<TenantProfileChanged>(value)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        ),
        None => None,
    };
    Ok(TenantProfile {
        tenant_id: Some(tenant.clone()),
        current,
    })
}

/// The days `[from, to)` in the profile's zone, with their working hours.
pub fn days(profile: &TenantProfile, from: NaiveDate, to: NaiveDate) -> Vec<Day> {
    let tz = profile.time_zone();
    from.iter_days()
        .take_while(|d| *d < to)
        .map(|day| {
            let at = |date: NaiveDate, time: NaiveTime| to_instant(tz, date.and_time(time));
            let next = day.succ_opt().unwrap_or(day);
            Day {
                day,
                start: at(day, NaiveTime::MIN),
                end: at(next, NaiveTime::MIN),
                work: profile
                    .hours_of(day.weekday())
                    .map(|w| (at(day, w.opens), at(day, w.closes))),
            }
        })
        .collect()
}

/// The union of `spans`, sorted, without overlaps.
pub fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|(s, e)| s < e);
    spans.sort();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `a` less `b` (both unions).
pub fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for &(mut s, e) in a {
        for &(bs, be) in b {
            if be <= s || bs >= e {
                continue;
            }
            if bs > s {
                out.push((s, bs));
            }
            s = s.max(be);
            if s >= e {
                break;
            }
        }
        if s < e {
            out.push((s, e));
        }
    }
    out
}

/// The hours of a union within `[from, to)`, 2 places.
pub fn hours(spans: &[Span], (from, to): Span) -> Decimal {
    let seconds: i64 = spans
        .iter()
        .map(|&(s, e)| (e.min(to) - s.max(from)).num_seconds().max(0))
        .sum();
    (Decimal::from(seconds) / Decimal::from(3600)).round_dp(2)
}

/// One crew member's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct CrewUtilizationRow {
    pub user_id: Uuid,
    pub display_name: String,
    pub home_location_id: Option<String>,
    pub scheduled_hours: Decimal,
    pub available_hours: Decimal,
    /// scheduled ÷ available × 100, 2 places; `None` with nothing available.
    pub utilization_percent: Option<Decimal>,
}

/// Every active crew member's utilization over the days `[from, to)`, by
/// name.
pub async fn crew_utilization(
    pool: &PgPool,
    tenant: &TenantId,
    profile: &TenantProfile,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CrewUtilizationRow>, sqlx::Error> {
    let days = days(profile, from, to);
    let range = (
        days.first().map_or_else(Utc::now, |d| d.start),
        days.last().map_or_else(Utc::now, |d| d.end),
    );
    let working: Vec<Span> = union(days.iter().filter_map(|d| d.work).collect());
    let crew = calendar::crew(pool, tenant).await?;
    let mut by_person: HashMap<Uuid, [Vec<Span>; 3]> = HashMap::new();
    for i in calendar::crew_intervals(pool, tenant, range).await? {
        let slot = match i.kind.as_str() {
            "scheduled" => 0,
            "unavailable" => 1,
            _ => 2,
        };
        by_person.entry(i.user_id).or_default()[slot].push((i.starts_at, i.ends_at));
    }
    Ok(crew
        .into_iter()
        .map(|member| {
            let [scheduled, unavailable, extra] =
                by_person.remove(&member.user_id).unwrap_or_default();
            let mut available = subtract(&working, &union(unavailable));
            available.extend(extra);
            let available_hours = hours(&union(available), range);
            let scheduled_hours = hours(&union(scheduled), range);
            CrewUtilizationRow {
                user_id: member.user_id,
                display_name: member.display_name,
                home_location_id: member.home_location_id,
                scheduled_hours,
                available_hours,
                utilization_percent: (available_hours > Decimal::ZERO).then(|| {
                    (scheduled_hours / available_hours * Decimal::ONE_HUNDRED).round_dp(2)
                }),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::hours(h)
    }

    #[test]
    fn unions_merge_and_subtraction_cuts_holes() {
        assert_eq!(
            union(vec![(t(5), t(7)), (t(0), t(2)), (t(1), t(3)), (t(3), t(4))]),
            vec![(t(0), t(4)), (t(5), t(7))]
        );
        let work = vec![(t(8), t(17)), (t(32), t(41))];
        let away = vec![(t(10), t(12)), (t(16), t(33)), (t(40), t(50))];
        assert_eq!(
            subtract(&work, &away),
            vec![(t(8), t(10)), (t(12), t(16)), (t(33), t(40))]
        );
        assert_eq!(
            hours(&subtract(&work, &away), (t(0), t(100))),
            Decimal::from(13)
        );
        assert_eq!(hours(&work, (t(9), t(33))), Decimal::from(9));
    }
}
