//! `read.audit_events`: every event of every aggregate with its metadata,
//! for the audit trail.

use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError};

pub struct AuditTrail;

const DDL: &str = r#"
CREATE TABLE audit_events (
    tenant_id      text        NOT NULL,
    stream_seq     bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    position       bigint      NOT NULL,
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    actor          text        NOT NULL,
    actor_role     text        NOT NULL,
    correlation_id text        NOT NULL,
    causation_id   text        NOT NULL,
    command_id     text        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    payload        jsonb       NOT NULL,
    PRIMARY KEY (tenant_id, stream_seq)
);
CREATE UNIQUE INDEX audit_events_by_id ON audit_events (event_id);
CREATE INDEX audit_events_by_aggregate ON audit_events (tenant_id, aggregate_type, aggregate_id, sequence);
CREATE INDEX audit_events_by_time ON audit_events (tenant_id, recorded_at);
"#;

#[async_trait::async_trait]
impl Projection for AuditTrail {
    fn name(&self) -> &'static str {
        "audit_trail"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_events"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let e = &ev.event;
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, stream_seq, event_id, position, event_type, event_version,
                                       aggregate_type, aggregate_id, sequence, actor, actor_role, correlation_id,
                                       causation_id, command_id, recorded_at, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(e.tenant.as_str())
        .bind(ev.stream_seq as i64)
        .bind(e.id)
        .bind(e.position)
        .bind(&e.event_type)
        .bind(&e.eventversion)
        .bind(&e.aggregatetype)
        .bind(&e.aggregateid)
        .bind(e.sequence)
        .bind(&e.actor)
        .bind(&e.actorrole)
        .bind(&e.correlationid)
        .bind(&e.causationid)
        .bind(&e.commandid)
        .bind(e.time)
        .bind(Json(&e.data))
        .execute(conn)
        .await?;
        Ok(())
    }
}
