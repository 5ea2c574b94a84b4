//! The dispatch calendar's figures, across the read models it counts
//! (`schedules`, `staff`, `equipment`, `availability`), and the tenant's
//! profile as the query side reads it (`tenant_profiles`).

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::TenantId;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The projection that owns [`PROFILES`].
pub const PROFILE_PROJECTION: &str = "tenant_profiles";
pub const PROFILES: &str = "read.tenant_profiles";

/// `tenant`'s profile as last changed (`TenantProfileChanged` as JSON), if
/// ever set.
pub async fn profile(pool: &PgPool, tenant: &TenantId) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT profile FROM {PROFILES} WHERE tenant_id = $1"
    ))
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await
}

/// One day of the calendar, in the tenant's time zone: `[start, end)`, and
/// its working hours (none on a day off).
#[derive(Debug, Clone, Copy)]
pub struct Day {
    pub day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub work: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CapacityRow {
    pub day: NaiveDate,
    pub jobs: i64,
    pub unstaffed_jobs: i64,
    pub trucks_committed: i64,
    pub active_trucks: i64,
    pub crew_committed: i64,
    pub crew_available: i64,
}

/// Per day: JOURNEY schedules starting that day (not cancelled) and those
/// with nobody holding a crew slot; distinct vehicles and crew on schedules
/// that touch the day; active trucks now; active staff with a crew role who
/// are not unavailable for the whole of the day's working hours (or, on a
/// day off, who recorded extra availability that day). At `location` only,
/// when given (a person's home location).
pub async fn capacity(
    pool: &PgPool,
    tenant: &TenantId,
    days: &[Day],
    location: Option<&str>,
) -> Result<Vec<CapacityRow>, sqlx::Error> {
    let names: Vec<NaiveDate> = days.iter().map(|d| d.day).collect();
    let starts: Vec<DateTime<Utc>> = days.iter().map(|d| d.start).collect();
    let ends: Vec<DateTime<Utc>> = days.iter().map(|d| d.end).collect();
    let work_starts: Vec<Option<DateTime<Utc>>> =
        days.iter().map(|d| d.work.map(|w| w.0)).collect();
    let work_ends: Vec<Option<DateTime<Utc>>> = days.iter().map(|d| d.work.map(|w| w.1)).collect();
    sqlx::query_as(
        "WITH d AS (
             SELECT * FROM unnest($2::date[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[])
                 AS d(day, day_start, day_end, work_start, work_end)),
         s AS (
             SELECT * FROM read.schedules
              WHERE tenant_id = $1 AND status <> 'CANCELLED' AND ($7::text IS NULL OR location_id = $7))
         SELECT d.day,
                (SELECT count(*) FROM s WHERE s.schedule_type = 'JOURNEY'
                    AND s.starts_at >= d.day_start AND s.starts_at < d.day_end) AS jobs,
                (SELECT count(*) FROM s WHERE s.schedule_type = 'JOURNEY'
                    AND s.starts_at >= d.day_start AND s.starts_at < d.day_end
                    AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(s.crew) m WHERE m ->> 'response' <> 'DECLINED')
                ) AS unstaffed_jobs,
                (SELECT count(DISTINCT v) FROM s, unnest(s.vehicle_ids) AS v
                  WHERE s.starts_at < d.day_end AND s.ends_at > d.day_start) AS trucks_committed,
                (SELECT count(*) FROM read.equipment e
                  WHERE e.tenant_id = $1 AND e.equipment_type = 'TRUCK' AND e.status = 'ACTIVE'
                    AND ($7::text IS NULL OR e.location_id = $7)) AS active_trucks,
                (SELECT count(DISTINCT m ->> 'user_id') FROM s, jsonb_array_elements(s.crew) AS m
                  WHERE s.starts_at < d.day_end AND s.ends_at > d.day_start AND m ->> 'response' <> 'DECLINED'
                ) AS crew_committed,
                (SELECT count(*) FROM read.staff st
                  WHERE st.tenant_id = $1 AND st.active AND cardinality(st.crew_roles) > 0
                    AND ($7::text IS NULL OR st.home_location_id = $7)
                    AND ((d.work_start IS NOT NULL AND NOT EXISTS (
                             SELECT 1 FROM read.availability_occurrences o
                               JOIN read.availability a ON a.tenant_id = o.tenant_id AND a.id = o.availability_id
                              WHERE o.tenant_id = $1 AND o.user_id = st.user_id AND NOT a.is_available
                                AND o.starts_at <= d.work_start AND o.ends_at >= d.work_end))
                      OR EXISTS (
                             SELECT 1 FROM read.availability_occurrences o
                               JOIN read.availability a ON a.tenant_id = o.tenant_id AND a.id = o.availability_id
                              WHERE o.tenant_id = $1 AND o.user_id = st.user_id AND a.is_available
                                AND o.starts_at < d.day_end AND o.ends_at > d.day_start))
                ) AS crew_available
           FROM d ORDER BY d.day",
    )
    .bind(tenant.as_str())
    .bind(&names)
    .bind(&starts)
    .bind(&ends)
    .bind(&work_starts)
    .bind(&work_ends)
    .bind(location)
    .fetch_all(pool)
    .await
}

/// A person's intervals in a window: what they are scheduled on, when they
/// are unavailable, when they added availability.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CrewInterval {
    pub user_id: Uuid,
    /// `scheduled`, `unavailable` or `available`.
    pub kind: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// An active crew member (with a crew role) and their name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CrewMemberRow {
    pub user_id: Uuid,
    pub display_name: String,
    pub home_location_id: Option<String>,
}

/// The active staff with a crew role, by name.
pub async fn crew(pool: &PgPool, tenant: &TenantId) -> Result<Vec<CrewMemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, display_name, home_location_id FROM read.staff
          WHERE tenant_id = $1 AND active AND cardinality(crew_roles) > 0
          ORDER BY display_name, user_id",
    )
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
}

/// Every crew interval touching `[from, to)`: each slot-holding crew
/// member's schedules (not cancelled; a completed one up to its completion),
/// and the occurrences of their availability entries.
pub async fn crew_intervals(
    pool: &PgPool,
    tenant: &TenantId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<CrewInterval>, sqlx::Error> {
    sqlx::query_as(
        "SELECT (m ->> 'user_id')::uuid AS user_id, 'scheduled' AS kind, s.starts_at,
                least(s.ends_at, coalesce(s.completed_at, s.ends_at)) AS ends_at
           FROM read.schedules s, jsonb_array_elements(s.crew) AS m
          WHERE s.tenant_id = $1 AND s.status <> 'CANCELLED' AND m ->> 'response' <> 'DECLINED'
            AND s.starts_at < $3 AND s.ends_at > $2
         UNION ALL
         SELECT o.user_id, CASE WHEN a.is_available THEN 'available' ELSE 'unavailable' END, o.starts_at, o.ends_at
           FROM read.availability_occurrences o
           JOIN read.availability a ON a.tenant_id = o.tenant_id AND a.id = o.availability_id
          WHERE o.tenant_id = $1 AND o.starts_at < $3 AND o.ends_at > $2",
    )
    .bind(tenant.as_str())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// The projection that owns [`FEED_TOKENS`].
pub const FEED_PROJECTION: &str = "calendar_feeds";
pub const FEED_TOKENS: &str = "read.calendar_feed_tokens";

/// A feed token that is not revoked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedTokenRow {
    pub tenant_id: String,
    pub user_id: Uuid,
    pub secret_digest: String,
}

/// The live (not revoked) feed token `id`, of whichever tenant.
pub async fn feed_token(pool: &PgPool, id: Uuid) -> Result<Option<FeedTokenRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT tenant_id, user_id, secret_digest FROM {FEED_TOKENS} WHERE id = $1 AND revoked_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A schedule in a person's feed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedEntryRow {
    pub id: Uuid,
    pub title: String,
    pub location_id: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// `[[display name or user id, role, answer]]`, crew order.
    pub crew: Value,
    /// The person's own answer on it.
    pub response: String,
}

/// `user`'s schedules (holding a slot or declined: the feed marks those
/// cancelled) that end after `since`, earliest first, at most `limit`; each
/// with its crew's names from the staff directory.
pub async fn feed_entries(
    pool: &PgPool,
    tenant: &TenantId,
    user: Uuid,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<FeedEntryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.title, s.location_id, s.status, s.starts_at, s.ends_at, s.updated_at, s.version,
                (SELECT coalesce(jsonb_agg(jsonb_build_array(coalesce(st.display_name, m ->> 'user_id'),
                                                             m ->> 'role', m ->> 'response') ORDER BY n), '[]')
                   FROM jsonb_array_elements(s.crew) WITH ORDINALITY AS c(m, n)
                   LEFT JOIN read.staff st ON st.tenant_id = s.tenant_id AND st.user_id = (m ->> 'user_id')::uuid
                ) AS crew,
                (SELECT m ->> 'response' FROM jsonb_array_elements(s.crew) AS m
                  WHERE m ->> 'user_id' = $2::text LIMIT 1) AS response
           FROM read.schedules s
          WHERE s.tenant_id = $1 AND $2 = ANY(s.crew_ids) AND s.ends_at > $3
          ORDER BY s.starts_at, s.id
          LIMIT $4",
    )
    .bind(tenant.as_str())
    .bind(user)
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await
}
