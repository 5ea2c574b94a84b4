//! `read.equipment_assignments`: one row per assignment: the equipment, the
//! journey and user (the crew member; the assignment's owner for OWN
//! scopes), the period `[starts_at, ends_at)`, status (ACTIVE, COMPLETED,
//! CANCELLED), checkout and return (times, odometer, condition notes),
//! purpose, notes, cancellation and how often it was rescheduled.
//! `version` is the assignment's aggregate sequence.
//!
//! `booked_until` is the end of the time it holds the equipment: `ends_at`,
//! or the return time when returned early (as the booking trigger does: a
//! return after the end changes nothing); `null` when cancelled or returned
//! before the period began.

use event_schemas::assignment::{EquipmentAssigned, EquipmentAssignmentEvent};
use sqlx::PgConnection;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Assignments;

const DDL: &str = r#"
CREATE TABLE equipment_assignments (
    tenant_id            text        NOT NULL,
    id                   uuid        NOT NULL,
    equipment_id         uuid        NOT NULL,
    journey_id           uuid,
    user_id              uuid,
    starts_at            timestamptz NOT NULL,
    ends_at              timestamptz NOT NULL,
    booked_until         timestamptz,
    status               text        NOT NULL,
    purpose              text,
    notes                text,
    assigned_by          uuid        NOT NULL,
    assigned_at          timestamptz NOT NULL,
    checked_out_at       timestamptz,
    checked_out_by       uuid,
    checkout_odometer_km integer,
    returned_at          timestamptz,
    returned_by          uuid,
    return_odometer_km   integer,
    condition_notes      text,
    cancelled_at         timestamptz,
    cancelled_by         uuid,
    cancel_reason        text,
    reschedules          integer     NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    version              bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX equipment_assignments_newest ON equipment_assignments (tenant_id, created_at DESC, id DESC);
CREATE INDEX equipment_assignments_by_equipment ON equipment_assignments (tenant_id, equipment_id, starts_at);
CREATE INDEX equipment_assignments_by_journey ON equipment_assignments (tenant_id, journey_id);
CREATE INDEX equipment_assignments_by_user ON equipment_assignments (tenant_id, user_id);
"#;

#[async_trait::async_trait]
impl Projection for Assignments {
    fn name(&self) -> &'static str {
        "equipment_assignments"
    }

    fn version(&self) -> i32 {
        // 2: a return before the start holds nothing.
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &["equipment_assignments"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<EquipmentAssignmentEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, EquipmentAssignmentEvent::EquipmentAssigned(_));
        if crate::applies(conn, "equipment_assignments", ev, first).await? {
            apply_event(conn, ev, event).await?;
        }
        Ok(())
    }
}

/// The aggregate's first event inserts its row.
async fn create(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    d: &EquipmentAssigned,
) -> Result<(), ProjectionError> {
    let e = &ev.event;
    on_aggregate(
        "INSERT INTO equipment_assignments (tenant_id, id, equipment_id, journey_id, user_id, starts_at, ends_at,
                booked_until, status, purpose, notes, assigned_by, assigned_at, created_at, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 'ACTIVE', $8, $9, $10, $11, $11, $12, $13)",
        ev,
    )?
    .bind(d.equipment_id)
    .bind(d.journey_id)
    .bind(d.user_id)
    .bind(d.starts_at)
    .bind(d.ends_at)
    .bind(&d.purpose)
    .bind(&d.notes)
    .bind(d.assigned_by)
    .bind(d.assigned_at)
    .bind(e.sequence)
    .bind(e.time)
    .execute(conn)
    .await?;
    Ok(())
}

/// The first event inserts the row, a later one updates it (its version
/// was advanced already).
async fn apply_event(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: &EquipmentAssignmentEvent,
) -> Result<(), ProjectionError> {
    match event {
        EquipmentAssignmentEvent::EquipmentAssigned(d) => create(conn, ev, d).await?,
        EquipmentAssignmentEvent::AssignmentCheckedOut(d) => {
            on_aggregate(
                "UPDATE equipment_assignments SET checked_out_at = $3, checked_out_by = $4, checkout_odometer_km = $5
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.checked_out_at)
            .bind(d.checked_out_by)
            .bind(d.odometer_km.map(|x| x as i32))
            .execute(conn)
            .await?;
        }
        EquipmentAssignmentEvent::AssignmentReturned(d) => {
            on_aggregate(
                "UPDATE equipment_assignments
                    SET status = 'COMPLETED', returned_at = $3, returned_by = $4, return_odometer_km = $5,
                        condition_notes = $6,
                        booked_until = CASE WHEN $3 > starts_at THEN least(ends_at, $3) ELSE NULL END
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.returned_at)
            .bind(d.returned_by)
            .bind(d.odometer_km.map(|x| x as i32))
            .bind(&d.condition_notes)
            .execute(conn)
            .await?;
        }
        EquipmentAssignmentEvent::AssignmentCancelled(d) => {
            on_aggregate(
                "UPDATE equipment_assignments
                    SET status = 'CANCELLED', cancelled_at = $3, cancelled_by = $4, cancel_reason = $5,
                        booked_until = NULL
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.cancelled_at)
            .bind(d.cancelled_by)
            .bind(&d.reason)
            .execute(conn)
            .await?;
        }
        EquipmentAssignmentEvent::AssignmentRescheduled(d) => {
            on_aggregate(
                "UPDATE equipment_assignments
                    SET starts_at = $3, ends_at = $4, booked_until = $4, reschedules = reschedules + 1
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.starts_at)
            .bind(d.ends_at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}
