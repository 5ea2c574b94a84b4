//! `read.schedules`: one row per schedule: where, what, when (`starts_at`,
//! `ends_at`, and the UTC offset they were given in), its status, its crew
//! (each person's role and answer; `crew_ids` for filtering), equipment
//! and vehicles, what it is linked to, and when it was last rescheduled,
//! started, completed or cancelled. `version` is the schedule's aggregate
//! sequence.

use event_schemas::schedule::{CrewMember, ScheduleEvent, ScheduleStatus};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Schedules;

const DDL: &str = r#"
CREATE TABLE schedules (
    tenant_id      text        NOT NULL,
    id             uuid        NOT NULL,
    location_id    text        NOT NULL,
    title          text        NOT NULL,
    description    text,
    schedule_type  text        NOT NULL,
    priority       text        NOT NULL,
    status         text        NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    utc_offset_seconds integer NOT NULL,
    crew           jsonb       NOT NULL,
    crew_ids       uuid[]      NOT NULL,
    equipment_ids  uuid[]      NOT NULL,
    vehicle_ids    uuid[]      NOT NULL,
    lead_id        uuid,
    quote_id       uuid,
    journey_id     uuid,
    rescheduled_at timestamptz,
    started_at     timestamptz,
    completed_at   timestamptz,
    notes          text,
    cancelled_at   timestamptz,
    cancel_reason  text,
    created_by     uuid        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX schedules_by_start ON schedules (tenant_id, starts_at, id);
CREATE INDEX schedules_by_crew ON schedules USING gin (crew_ids);
"#;

fn crew_ids(crew: &[CrewMember]) -> Vec<Uuid> {
    crew.iter().map(|m| m.user_id).collect()
}

#[async_trait::async_trait]
impl Projection for Schedules {
    fn name(&self) -> &'static str {
        "schedules"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["schedules"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<ScheduleEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, ScheduleEvent::ScheduleCreated(_));
        if !crate::applies(conn, "schedules", ev, first).await? {
            return Ok(());
        }
        let status = |s: ScheduleStatus| s.as_str();
        let statement = match event {
            ScheduleEvent::ScheduleCreated(e) => on_aggregate(
                "INSERT INTO schedules (tenant_id, id, location_id, title, description, schedule_type, priority, status,
                                        starts_at, ends_at, utc_offset_seconds, crew, crew_ids, equipment_ids,
                                        vehicle_ids, lead_id, quote_id, journey_id, created_by, created_at, updated_at,
                                        version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                         $20, $21)",
                ev,
            )?
            .bind(e.location_id.clone())
            .bind(e.title.clone())
            .bind(e.description.clone())
            .bind(e.schedule_type.as_str())
            .bind(e.priority.as_str())
            .bind(status(ScheduleStatus::Scheduled))
            .bind(e.starts_at.to_utc())
            .bind(e.ends_at.to_utc())
            .bind(e.starts_at.offset().local_minus_utc())
            .bind(Json(e.crew.clone()))
            .bind(crew_ids(&e.crew))
            .bind(e.equipment_ids.clone())
            .bind(e.vehicle_ids.clone())
            .bind(e.link.lead_id)
            .bind(e.link.quote_id)
            .bind(e.link.journey_id)
            .bind(e.created_by)
            .bind(e.created_at)
            .bind(ev.event.sequence),
            ScheduleEvent::ScheduleDetailsUpdated(e) => on_aggregate(
                "UPDATE schedules SET location_id = $3, title = $4, description = $5, priority = $6
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(e.location_id.clone())
            .bind(e.title.clone())
            .bind(e.description.clone())
            .bind(e.priority.as_str()),
            ScheduleEvent::ScheduleCrewChanged(e) => on_aggregate(
                "UPDATE schedules SET crew = $3, crew_ids = $4 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(Json(e.crew.clone()))
            .bind(crew_ids(&e.crew)),
            ScheduleEvent::ScheduleEquipmentChanged(e) => on_aggregate(
                "UPDATE schedules SET equipment_ids = $3, vehicle_ids = $4 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(e.equipment_ids.clone())
            .bind(e.vehicle_ids.clone()),
            ScheduleEvent::ScheduleRescheduled(e) => on_aggregate(
                "UPDATE schedules SET starts_at = $3, ends_at = $4, utc_offset_seconds = $5, rescheduled_at = $6
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(e.starts_at.to_utc())
            .bind(e.ends_at.to_utc())
            .bind(e.starts_at.offset().local_minus_utc())
            .bind(e.rescheduled_at),
            ScheduleEvent::ScheduleStarted(e) => on_aggregate(
                "UPDATE schedules SET status = $3, started_at = $4 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(status(ScheduleStatus::InProgress))
            .bind(e.started_at),
            ScheduleEvent::ScheduleCompleted(e) => on_aggregate(
                "UPDATE schedules SET status = $3, completed_at = $4, notes = $5 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(status(ScheduleStatus::Completed))
            .bind(e.completed_at)
            .bind(e.notes.clone()),
            ScheduleEvent::ScheduleCancelled(e) => on_aggregate(
                "UPDATE schedules SET status = $3, cancelled_at = $4, cancel_reason = $5
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(status(ScheduleStatus::Cancelled))
            .bind(e.cancelled_at)
            .bind(e.reason.clone()),
            ScheduleEvent::CrewMemberResponded(e) => on_aggregate(
                "UPDATE schedules SET crew = (
                        SELECT jsonb_agg(CASE WHEN m ->> 'user_id' = $3
                                              THEN jsonb_set(m, '{response}', to_jsonb($4::text)) ELSE m END
                                         ORDER BY n)
                          FROM jsonb_array_elements(crew) WITH ORDINALITY AS t(m, n))
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(e.user_id.to_string())
            .bind(e.response.as_str()),
        };
        statement.execute(&mut *conn).await?;
        Ok(())
    }
}
