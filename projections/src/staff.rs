//! `read.staff`: one row per person in a tenant's staff directory: display
//! name, crew roles, home location, phone and email (opened with the
//! person's data key; `null` once it is destroyed), active. `version` is the
//! entry's aggregate sequence.

use std::sync::Arc;

use event_schemas::staff::{CrewRole, StaffMemberEvent};
use sqlx::PgConnection;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Staff {
    pub keys: Arc<keystore::KeyStore>,
}

const DDL: &str = r#"
CREATE TABLE staff (
    tenant_id        text        NOT NULL,
    id               uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    display_name     text        NOT NULL,
    crew_roles       text[]      NOT NULL,
    home_location_id text,
    phone            text,
    email            text,
    active           boolean     NOT NULL,
    created_by       uuid        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX staff_by_user ON staff (tenant_id, user_id);
CREATE INDEX staff_newest ON staff (tenant_id, created_at DESC, id DESC);
"#;

fn roles(roles: &[CrewRole]) -> Vec<String> {
    roles.iter().map(|r| r.as_str().to_owned()).collect()
}

#[async_trait::async_trait]
impl Projection for Staff {
    fn name(&self) -> &'static str {
        "staff"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["staff"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if ev.event.aggregatetype != event_schemas::staff::AGGREGATE_TYPE {
            return Ok(());
        }
        let Some(event) = ev.opened::<StaffMemberEvent>(&self.keys).await? else {
            return Ok(());
        };
        let first = matches!(event, StaffMemberEvent::StaffMemberAdded(_));
        if !crate::applies(conn, "staff", ev, first).await? {
            return Ok(());
        }
        match event {
            StaffMemberEvent::StaffMemberAdded(e) => {
                on_aggregate(
                    "INSERT INTO staff (tenant_id, id, user_id, display_name, crew_roles, home_location_id, phone,
                                        email, active, created_by, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
                    ev,
                )?
                .bind(e.user_id)
                .bind(e.display_name)
                .bind(roles(&e.crew_roles))
                .bind(e.home_location_id)
                .bind(e.phone)
                .bind(e.email)
                .bind(e.active)
                .bind(e.added_by)
                .bind(e.added_at)
                .bind(ev.event.sequence)
                .execute(&mut *conn)
                .await?;
            }
            StaffMemberEvent::StaffMemberUpdated(e) => {
                on_aggregate(
                    "UPDATE staff SET display_name = $3, crew_roles = $4, home_location_id = $5, phone = $6,
                                      email = $7, active = $8
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.display_name)
                .bind(roles(&e.crew_roles))
                .bind(e.home_location_id)
                .bind(e.phone)
                .bind(e.email)
                .bind(e.active)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}
