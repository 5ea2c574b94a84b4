//! `read.dashboards`: one row per dashboard (owner, settings, widgets and
//! layout as JSON, public or not; deleted ones stay with `deleted_at`) and
//! `read.dashboard_defaults`: each user's default dashboard (one row per
//! user, from their `DashboardDefault` aggregate; `dashboard_id` null once
//! cleared). `version` is the aggregate's sequence in both.

use event_schemas::dashboard::{DashboardDefaultEvent, DashboardEvent};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Dashboards;

const DDL: &str = r#"
CREATE TABLE dashboards (
    tenant_id                text        NOT NULL,
    id                       uuid        NOT NULL,
    owner_id                 uuid        NOT NULL,
    name                     text        NOT NULL,
    description              text,
    widgets                  jsonb       NOT NULL,
    layout                   jsonb       NOT NULL,
    is_public                boolean     NOT NULL,
    refresh_interval_seconds integer,
    theme                    text        NOT NULL,
    deleted_at               timestamptz,
    created_by               uuid        NOT NULL,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    version                  bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX dashboards_newest ON dashboards (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE TABLE dashboard_defaults (
    tenant_id    text        NOT NULL,
    user_id      uuid        NOT NULL,
    dashboard_id uuid,
    chosen_by    uuid        NOT NULL,
    chosen_at    timestamptz NOT NULL,
    version      bigint      NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
"#;

#[async_trait::async_trait]
impl Projection for Dashboards {
    fn name(&self) -> &'static str {
        "dashboards"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["dashboards", "dashboard_defaults"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if let Some(event) = ev.typed::<DashboardDefaultEvent>()? {
            match event {
                DashboardDefaultEvent::DefaultDashboardChosen(e) => {
                    sqlx::query(
                        "INSERT INTO dashboard_defaults (tenant_id, user_id, dashboard_id, chosen_by, chosen_at, version)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (tenant_id, user_id) DO UPDATE
                            SET dashboard_id = EXCLUDED.dashboard_id, chosen_by = EXCLUDED.chosen_by,
                                chosen_at = EXCLUDED.chosen_at, version = EXCLUDED.version
                          WHERE dashboard_defaults.version < EXCLUDED.version",
                    )
                    .bind(ev.event.tenant.as_str())
                    .bind(e.user_id)
                    .bind(e.dashboard_id)
                    .bind(e.chosen_by)
                    .bind(e.chosen_at)
                    .bind(ev.event.sequence)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            return Ok(());
        }
        let Some(event) = ev.typed::<DashboardEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, DashboardEvent::DashboardCreated(_));
        if !crate::applies(conn, "dashboards", ev, first).await? {
            return Ok(());
        }
        match event {
            DashboardEvent::DashboardCreated(e) => {
                on_aggregate(
                    "INSERT INTO dashboards (tenant_id, id, owner_id, name, description, widgets, layout, is_public,
                                             refresh_interval_seconds, theme, created_by, created_at, updated_at,
                                             version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)",
                    ev,
                )?
                .bind(e.owner_id)
                .bind(&e.name)
                .bind(&e.description)
                .bind(Json(&e.widgets))
                .bind(Json(&e.layout))
                .bind(e.is_public)
                .bind(e.refresh_interval_seconds.map(|s| s as i32))
                .bind(e.theme.as_str())
                .bind(e.created_by)
                .bind(e.created_at)
                .bind(ev.event.sequence)
                .execute(&mut *conn)
                .await?;
            }
            DashboardEvent::DashboardUpdated(e) => {
                on_aggregate(
                    "UPDATE dashboards SET name = $3, description = $4, widgets = $5, layout = $6, is_public = $7,
                            refresh_interval_seconds = $8, theme = $9, updated_at = $10
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(&e.name)
                .bind(&e.description)
                .bind(Json(&e.widgets))
                .bind(Json(&e.layout))
                .bind(e.is_public)
                .bind(e.refresh_interval_seconds.map(|s| s as i32))
                .bind(e.theme.as_str())
                .bind(e.updated_at)
                .execute(&mut *conn)
                .await?;
            }
            DashboardEvent::DashboardDeleted(e) => {
                on_aggregate(
                    "UPDATE dashboards SET deleted_at = $3, updated_at = $3 WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.deleted_at)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}
