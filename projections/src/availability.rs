//! `read.availability`: one row per availability entry (whose, available
//! or not, type, reason, notes, its recurrence rule if any, how far it is
//! expanded, whether it was removed). `read.availability_occurrences`: one
//! row per concrete occurrence of an entry that is not removed, pointing to
//! its entry. `version` is the entry's aggregate sequence.

use event_schemas::availability::{AvailabilityEvent, Period};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Availability;

const DDL: &str = r#"
CREATE TABLE availability (
    tenant_id          text        NOT NULL,
    id                 uuid        NOT NULL,
    user_id            uuid        NOT NULL,
    is_available       boolean     NOT NULL,
    availability_type  text        NOT NULL,
    reason             text,
    notes              text,
    rule               text,
    local_start        timestamp,
    duration_minutes   integer,
    time_zone          text,
    materialized_until timestamptz,
    removed_at         timestamptz,
    recorded_by        uuid        NOT NULL,
    recorded_at        timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    version            bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE availability_occurrences (
    tenant_id       text        NOT NULL,
    availability_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, availability_id, starts_at)
);
CREATE INDEX availability_occurrences_by_user ON availability_occurrences (tenant_id, user_id, starts_at);
"#;

async fn insert_occurrences(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    user: Uuid,
    occurrences: &[Period],
) -> Result<(), ProjectionError> {
    let starts: Vec<_> = occurrences.iter().map(|p| p.starts_at).collect();
    let ends: Vec<_> = occurrences.iter().map(|p| p.ends_at).collect();
    on_aggregate(
        "INSERT INTO availability_occurrences (tenant_id, availability_id, user_id, starts_at, ends_at)
         SELECT $1, $2, $3, s, e FROM unnest($4::timestamptz[], $5::timestamptz[]) AS o(s, e)
         ON CONFLICT DO NOTHING",
        ev,
    )?
    .bind(user)
    .bind(starts)
    .bind(ends)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Projection for Availability {
    fn name(&self) -> &'static str {
        "availability"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["availability", "availability_occurrences"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<AvailabilityEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, AvailabilityEvent::AvailabilityRecorded(_));
        if !crate::applies(conn, "availability", ev, first).await? {
            return Ok(());
        }
        match event {
            AvailabilityEvent::AvailabilityRecorded(e) => {
                let rule = e.recurrence.as_ref();
                on_aggregate(
                    "INSERT INTO availability (tenant_id, id, user_id, is_available, availability_type, reason, notes,
                                               rule, local_start, duration_minutes, time_zone, materialized_until,
                                               recorded_by, recorded_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)",
                    ev,
                )?
                .bind(e.user_id)
                .bind(e.is_available)
                .bind(e.availability_type.as_str())
                .bind(e.reason.clone())
                .bind(e.notes.clone())
                .bind(rule.map(|r| r.rule.clone()))
                .bind(rule.map(|r| r.local_start))
                .bind(rule.map(|r| r.duration_minutes as i32))
                .bind(rule.map(|r| r.time_zone.clone()))
                .bind(e.materialized_until)
                .bind(e.recorded_by)
                .bind(e.recorded_at)
                .bind(ev.event.sequence)
                .execute(&mut *conn)
                .await?;
                insert_occurrences(conn, ev, e.user_id, &e.occurrences).await?;
            }
            AvailabilityEvent::AvailabilityExtended(e) => {
                let user: Uuid = on_aggregate(
                    "UPDATE availability SET materialized_until = $3 WHERE tenant_id = $1 AND id = $2
                     RETURNING user_id",
                    ev,
                )?
                .bind(e.materialized_until)
                .fetch_one(&mut *conn)
                .await
                .map(|row| sqlx::Row::get(&row, 0))?;
                insert_occurrences(conn, ev, user, &e.occurrences).await?;
            }
            AvailabilityEvent::AvailabilityRemoved(e) => {
                on_aggregate(
                    "UPDATE availability SET removed_at = $3 WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.removed_at)
                .execute(&mut *conn)
                .await?;
                on_aggregate(
                    "DELETE FROM availability_occurrences WHERE tenant_id = $1 AND availability_id = $2",
                    ev,
                )?
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}
