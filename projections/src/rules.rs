//! `read.communication_rules`: one row per automated-message rule: its
//! trigger, template, channel, timing, stopping conditions, and whether it
//! is active (deleted rules stay, inactive).

use event_schemas::rule::CommunicationRuleEvent;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct CommunicationRules;

const DDL: &str = r#"
CREATE TABLE communication_rules (
    tenant_id   text        NOT NULL,
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    trigger     text        NOT NULL,
    template_id uuid        NOT NULL,
    channel     text        NOT NULL,
    timing      jsonb       NOT NULL,
    unless      text[]      NOT NULL,
    active      boolean     NOT NULL,
    deleted_at  timestamptz,
    created_by  uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX communication_rules_newest ON communication_rules (tenant_id, created_at DESC, id DESC);
"#;

#[async_trait::async_trait]
impl Projection for CommunicationRules {
    fn name(&self) -> &'static str {
        "communication_rules"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["communication_rules"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<CommunicationRuleEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, CommunicationRuleEvent::CommunicationRuleCreated(_));
        if !crate::applies(conn, "communication_rules", ev, first).await? {
            return Ok(());
        }
        match event {
            CommunicationRuleEvent::CommunicationRuleCreated(e) => {
                on_aggregate(
                    "INSERT INTO communication_rules (tenant_id, id, name, trigger, template_id, channel, timing,
                                                      unless, active, created_by, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, $9, $10, $10, $11)",
                    ev,
                )?
                .bind(&e.name)
                .bind(e.trigger.as_str())
                .bind(e.template_id)
                .bind(e.channel.as_str())
                .bind(Json(&e.timing))
                .bind(e.unless.iter().map(|c| c.as_str()).collect::<Vec<_>>())
                .bind(e.created_by)
                .bind(e.created_at)
                .bind(ev.event.sequence)
                .execute(&mut *conn)
                .await?;
            }
            CommunicationRuleEvent::CommunicationRuleDeleted(e) => {
                on_aggregate(
                    "UPDATE communication_rules SET active = false, deleted_at = $3
                      WHERE tenant_id = $1 AND id = $2",
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
