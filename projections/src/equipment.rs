//! `read.equipment`: one row per piece of equipment: its registered details
//! (type, serial number, make, location, purchase, depreciation inputs,
//! maintenance schedule, current location, assigned user, odometer), its
//! status, open defects, last maintenance and next due date, retirement or
//! sale, and the running maintenance and repair costs. `version` is the
//! equipment's aggregate sequence.
//!
//! `next_due_date`: the date of the last completed maintenance, else the
//! purchase date, else the registration date, plus the schedule's
//! `interval_days` (`null` without one): the rule `MaintenanceCompleted`
//! carries, recomputed when the details change.
//!
//! `read.equipment_maintenance`: one row per scheduled maintenance (status
//! SCHEDULED, IN_PROGRESS, COMPLETED, CANCELLED) with its window, type,
//! start, completion (cost, parts, labour hours, technician, odometer, next
//! due date) or cancellation. `booked_until` is the end of the time it holds
//! the equipment: the window's end, or the completion time when it finished
//! early (as the booking trigger does); `null` when cancelled or completed
//! before its window.
//!
//! `read.equipment_defects`: one row per reported defect, with the repair
//! that closed it (a repair closing several defects shows its cost on each;
//! the equipment's `repair_cost_total` counts it once).

use event_schemas::equipment::{
    EquipmentDetails, EquipmentEvent, EquipmentRegistered, EquipmentStatus,
};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError, Statement, on_aggregate, placeholders};

pub struct Equipment;

const DDL: &str = r#"
CREATE TABLE equipment (
    tenant_id                 text           NOT NULL,
    id                        uuid           NOT NULL,
    location_id               text           NOT NULL,
    name                      text           NOT NULL,
    equipment_type            text           NOT NULL,
    serial_number             text,
    manufacturer              text,
    model                     text,
    year                      integer,
    capacity                  text,
    specifications            jsonb          NOT NULL,
    purchase_date             date,
    purchase_price            numeric(14, 2),
    depreciation_method       text,
    depreciation_rate         numeric(9, 6),
    useful_life_years         integer,
    salvage_value             numeric(14, 2),
    maintenance_interval_days integer,
    maintenance_interval_km   integer,
    current_location          text,
    assigned_user             uuid,
    odometer_km               integer,
    status                    text           NOT NULL,
    open_defects              integer        NOT NULL DEFAULT 0,
    last_maintenance_date     date,
    next_due_date             date,
    maintenance_cost_total    numeric(14, 2) NOT NULL DEFAULT 0,
    repair_cost_total         numeric(14, 2) NOT NULL DEFAULT 0,
    retired_at                timestamptz,
    retired_by                uuid,
    retire_reason             text,
    sold_at                   timestamptz,
    sold_by                   uuid,
    sale_price                numeric(14, 2),
    buyer                     text,
    created_by                uuid           NOT NULL,
    created_at                timestamptz    NOT NULL,
    updated_at                timestamptz    NOT NULL,
    version                   bigint         NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX equipment_newest ON equipment (tenant_id, created_at DESC, id DESC);
CREATE INDEX equipment_by_type ON equipment (tenant_id, equipment_type, status);
CREATE INDEX equipment_by_location ON equipment (tenant_id, location_id);
CREATE INDEX equipment_by_due ON equipment (tenant_id, next_due_date);
CREATE TABLE equipment_maintenance (
    tenant_id        text           NOT NULL,
    equipment_id     uuid           NOT NULL,
    maintenance_id   uuid           NOT NULL,
    maintenance_type text           NOT NULL,
    status           text           NOT NULL,
    window_start     timestamptz    NOT NULL,
    window_end       timestamptz    NOT NULL,
    booked_until     timestamptz,
    description      text           NOT NULL,
    technician       uuid,
    scheduled_by     uuid           NOT NULL,
    scheduled_at     timestamptz    NOT NULL,
    started_by       uuid,
    started_at       timestamptz,
    completed_by     uuid,
    completed_at     timestamptz,
    cost             numeric(14, 2),
    parts            jsonb,
    labour_hours     numeric(10, 2),
    odometer_km      integer,
    notes            text,
    next_due_date    date,
    cancelled_by     uuid,
    cancelled_at     timestamptz,
    cancel_reason    text,
    PRIMARY KEY (tenant_id, equipment_id, maintenance_id)
);
CREATE INDEX equipment_maintenance_by_window ON equipment_maintenance (tenant_id, window_start);
CREATE TABLE equipment_defects (
    tenant_id    text           NOT NULL,
    equipment_id uuid           NOT NULL,
    defect_id    uuid           NOT NULL,
    description  text           NOT NULL,
    severity     text,
    reported_by  uuid           NOT NULL,
    reported_at  timestamptz    NOT NULL,
    repaired_by  uuid,
    repaired_at  timestamptz,
    repair_cost  numeric(14, 2),
    repair_notes text,
    PRIMARY KEY (tenant_id, equipment_id, defect_id)
);
"#;

/// The columns [`bind_details`] fills, in its order.
const DETAILS_COLUMNS: &str = "location_id, name, equipment_type, serial_number, manufacturer, model, year, capacity, \
     specifications, purchase_date, purchase_price, depreciation_method, depreciation_rate, useful_life_years, \
     salvage_value, maintenance_interval_days, maintenance_interval_km, current_location, assigned_user, odometer_km";
const DETAILS_COUNT: usize = 20;

fn bind_details<'q>(query: Statement<'q>, d: &EquipmentDetails) -> Statement<'q> {
    let dep = d.depreciation.as_ref();
    query
        .bind(d.location_id.clone())
        .bind(d.name.clone())
        .bind(d.equipment_type.as_str())
        .bind(d.serial_number.clone())
        .bind(d.manufacturer.clone())
        .bind(d.model.clone())
        .bind(d.year)
        .bind(d.capacity.clone())
        .bind(Json(d.specifications.clone()))
        .bind(d.purchase_date)
        .bind(d.purchase_price)
        .bind(dep.map(|x| x.method.as_str()))
        .bind(dep.and_then(|x| x.annual_rate))
        .bind(dep.and_then(|x| x.useful_life_years).map(|y| y as i32))
        .bind(dep.map(|x| x.salvage_value))
        .bind(d.maintenance_schedule.interval_days.map(|x| x as i32))
        .bind(d.maintenance_schedule.interval_km.map(|x| x as i32))
        .bind(d.current_location.clone())
        .bind(d.assigned_user)
        .bind(d.odometer_km.map(|x| x as i32))
}

/// Recomputes `next_due_date` from the schedule (see the module docs).
const RECOMPUTE_DUE: &str = "next_due_date = CASE WHEN maintenance_interval_days IS NULL THEN NULL
     ELSE coalesce(last_maintenance_date, purchase_date, (created_at AT TIME ZONE 'UTC')::date)
          + maintenance_interval_days END";

#[async_trait::async_trait]
impl Projection for Equipment {
    fn name(&self) -> &'static str {
        "equipment"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["equipment", "equipment_maintenance", "equipment_defects"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<EquipmentEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, EquipmentEvent::EquipmentRegistered(_));
        if crate::applies(conn, "equipment", ev, first).await? {
            apply_event(conn, ev, event).await?;
        }
        Ok(())
    }
}

/// The aggregate's first event inserts its row.
async fn create(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    d: &EquipmentRegistered,
) -> Result<(), ProjectionError> {
    let e = &ev.event;
    let sql = format!(
        "INSERT INTO equipment (tenant_id, id, {DETAILS_COLUMNS}, status, created_by, created_at, version, updated_at)
         VALUES ($1, $2, {})",
        placeholders(3, DETAILS_COUNT + 5),
    );
    bind_details(on_aggregate(&sql, ev)?, &d.details)
        .bind(EquipmentStatus::Active.as_str())
        .bind(d.registered_by)
        .bind(d.registered_at)
        .bind(e.sequence)
        .bind(e.time)
        .execute(&mut *conn)
        .await?;
    on_aggregate(
        &format!("UPDATE equipment SET {RECOMPUTE_DUE} WHERE tenant_id = $1 AND id = $2"),
        ev,
    )?
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `MAINTENANCE` becomes `ACTIVE` again when no maintenance is in progress.
async fn end_maintenance_status(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
) -> Result<(), ProjectionError> {
    on_aggregate(
        "UPDATE equipment SET status = 'ACTIVE'
          WHERE tenant_id = $1 AND id = $2 AND status = 'MAINTENANCE'
            AND NOT EXISTS (SELECT 1 FROM equipment_maintenance m
                             WHERE m.tenant_id = $1 AND m.equipment_id = $2 AND m.status = 'IN_PROGRESS')",
        ev,
    )?
    .execute(conn)
    .await?;
    Ok(())
}

/// The first event inserts the row, a later one updates it (its version
/// was advanced already).
async fn apply_event(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: &EquipmentEvent,
) -> Result<(), ProjectionError> {
    match event {
        EquipmentEvent::EquipmentRegistered(d) => create(conn, ev, d).await?,
        EquipmentEvent::EquipmentUpdated(d) => {
            let sql = format!(
                "UPDATE equipment SET ({DETAILS_COLUMNS}) = ({}) WHERE tenant_id = $1 AND id = $2",
                placeholders(3, DETAILS_COUNT)
            );
            bind_details(on_aggregate(&sql, ev)?, &d.details)
                .execute(&mut *conn)
                .await?;
            // The schedule may have changed: the same rule as at completion.
            on_aggregate(
                &format!("UPDATE equipment SET {RECOMPUTE_DUE} WHERE tenant_id = $1 AND id = $2"),
                ev,
            )?
            .execute(&mut *conn)
            .await?;
        }
        EquipmentEvent::EquipmentRetired(d) => {
            on_aggregate(
                "UPDATE equipment SET status = 'RETIRED', retired_at = $3, retired_by = $4, retire_reason = $5
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.at)
            .bind(d.retired_by)
            .bind(&d.reason)
            .execute(&mut *conn)
            .await?;
        }
        EquipmentEvent::EquipmentSold(d) => {
            on_aggregate(
                "UPDATE equipment SET status = 'SOLD', sold_at = $3, sold_by = $4, sale_price = $5, buyer = $6
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.at)
            .bind(d.sold_by)
            .bind(d.price)
            .bind(&d.buyer)
            .execute(&mut *conn)
            .await?;
        }
        EquipmentEvent::DefectReported(d) => {
            on_aggregate(
                "INSERT INTO equipment_defects (tenant_id, equipment_id, defect_id, description, severity,
                                                reported_by, reported_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                ev,
            )?
            .bind(d.defect_id)
            .bind(&d.description)
            .bind(d.severity.map(|s| s.as_str()))
            .bind(d.reported_by)
            .bind(d.reported_at)
            .execute(&mut *conn)
            .await?;
            on_aggregate(
                "UPDATE equipment SET status = 'REPAIR', open_defects = open_defects + 1
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .execute(&mut *conn)
            .await?;
        }
        EquipmentEvent::EquipmentRepaired(d) => {
            let mut closed = d.repaired_defects.clone();
            if let Some(id) = d.defect_id
                && !closed.contains(&id)
            {
                closed.push(id);
            }
            on_aggregate(
                "UPDATE equipment_defects SET repaired_by = $4, repaired_at = $5, repair_cost = $6, repair_notes = $7
                  WHERE tenant_id = $1 AND equipment_id = $2 AND defect_id = ANY($3) AND repaired_at IS NULL",
                ev,
            )?
            .bind(&closed)
            .bind(d.repaired_by)
            .bind(d.repaired_at)
            .bind(d.cost)
            .bind(&d.notes)
            .execute(&mut *conn)
            .await?;
            on_aggregate(
                "UPDATE equipment SET status = $3, repair_cost_total = repair_cost_total + $4,
                        open_defects = (SELECT count(*) FROM equipment_defects
                                         WHERE tenant_id = $1 AND equipment_id = $2 AND repaired_at IS NULL)
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.status_after.as_str())
            .bind(d.cost)
            .execute(&mut *conn)
            .await?;
        }
        EquipmentEvent::MaintenanceScheduled(d) => {
            on_aggregate(
                "INSERT INTO equipment_maintenance (tenant_id, equipment_id, maintenance_id, maintenance_type, status,
                        window_start, window_end, booked_until, description, technician, scheduled_by, scheduled_at)
                 VALUES ($1, $2, $3, $4, 'SCHEDULED', $5, $6, $6, $7, $8, $9, $10)",
                ev,
            )?
            .bind(d.maintenance_id)
            .bind(d.maintenance_type.as_str())
            .bind(d.window_start)
            .bind(d.window_end)
            .bind(&d.description)
            .bind(d.technician)
            .bind(d.scheduled_by)
            .bind(d.scheduled_at)
            .execute(&mut *conn)
            .await?;
        }
        EquipmentEvent::MaintenanceStarted(d) => {
            on_aggregate(
                "UPDATE equipment_maintenance SET status = 'IN_PROGRESS', started_by = $4, started_at = $5
                  WHERE tenant_id = $1 AND equipment_id = $2 AND maintenance_id = $3",
                ev,
            )?
            .bind(d.maintenance_id)
            .bind(d.started_by)
            .bind(d.started_at)
            .execute(&mut *conn)
            .await?;
            on_aggregate(
                "UPDATE equipment SET status = 'MAINTENANCE'
                  WHERE tenant_id = $1 AND id = $2 AND status = 'ACTIVE'",
                ev,
            )?
            .execute(&mut *conn)
            .await?;
        }
        EquipmentEvent::MaintenanceCompleted(d) => {
            on_aggregate(
                "UPDATE equipment_maintenance
                    SET status = 'COMPLETED', completed_by = $4, completed_at = $5, cost = $6, parts = $7,
                        labour_hours = $8, technician = coalesce($9, technician), odometer_km = $10, notes = $11,
                        next_due_date = $12,
                        booked_until = CASE WHEN $5 > window_start THEN least(window_end, $5) END
                  WHERE tenant_id = $1 AND equipment_id = $2 AND maintenance_id = $3",
                ev,
            )?
            .bind(d.maintenance_id)
            .bind(d.completed_by)
            .bind(d.completed_at)
            .bind(d.cost)
            .bind(Json(&d.parts))
            .bind(d.labour_hours)
            .bind(d.technician)
            .bind(d.odometer_km.map(|x| x as i32))
            .bind(&d.notes)
            .bind(d.next_due_date)
            .execute(&mut *conn)
            .await?;
            on_aggregate(
                "UPDATE equipment SET last_maintenance_date = ($3 AT TIME ZONE 'UTC')::date, next_due_date = $4,
                        odometer_km = coalesce($5, odometer_km),
                        maintenance_cost_total = maintenance_cost_total + $6
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.completed_at)
            .bind(d.next_due_date)
            .bind(d.odometer_km.map(|x| x as i32))
            .bind(d.cost)
            .execute(&mut *conn)
            .await?;
            end_maintenance_status(conn, ev).await?;
        }
        EquipmentEvent::MaintenanceCancelled(d) => {
            on_aggregate(
                "UPDATE equipment_maintenance
                    SET status = 'CANCELLED', cancelled_by = $4, cancelled_at = $5, cancel_reason = $6,
                        booked_until = NULL
                  WHERE tenant_id = $1 AND equipment_id = $2 AND maintenance_id = $3",
                ev,
            )?
            .bind(d.maintenance_id)
            .bind(d.cancelled_by)
            .bind(d.cancelled_at)
            .bind(&d.reason)
            .execute(&mut *conn)
            .await?;
            end_maintenance_status(conn, ev).await?;
        }
    }
    Ok(())
}
