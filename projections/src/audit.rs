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

    /// A batch in one multi-row INSERT (per 1,000 events).
    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[&ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        for chunk in events.chunks(1000) {
            let mut columns = AuditColumns::default();
            for ev in chunk {
                columns.push(ev);
            }
            columns.insert(conn).await?;
        }
        Ok(())
    }
}

/// A batch of audit rows, column by column, for one `unnest` INSERT.
#[derive(Default)]
struct AuditColumns<'a> {
    tenant_id: Vec<&'a str>,
    stream_seq: Vec<i64>,
    event_id: Vec<uuid::Uuid>,
    position: Vec<i64>,
    event_type: Vec<&'a str>,
    event_version: Vec<&'a str>,
    aggregate_type: Vec<&'a str>,
    aggregate_id: Vec<&'a str>,
    sequence: Vec<i64>,
    actor: Vec<&'a str>,
    actor_role: Vec<&'a str>,
    correlation_id: Vec<&'a str>,
    causation_id: Vec<&'a str>,
    command_id: Vec<&'a str>,
    recorded_at: Vec<chrono::DateTime<chrono::Utc>>,
    payload: Vec<Json<&'a serde_json::Value>>,
}

impl<'a> AuditColumns<'a> {
    fn push(&mut self, ev: &'a ProjectedEvent) {
        let e = &ev.event;
        self.tenant_id.push(e.tenant.as_str());
        self.stream_seq.push(ev.stream_seq as i64);
        self.event_id.push(e.id);
        self.position.push(e.position);
        self.event_type.push(&e.event_type);
        self.event_version.push(&e.eventversion);
        self.aggregate_type.push(&e.aggregatetype);
        self.aggregate_id.push(&e.aggregateid);
        self.sequence.push(e.sequence);
        self.actor.push(&e.actor);
        self.actor_role.push(&e.actorrole);
        self.correlation_id.push(&e.correlationid);
        self.causation_id.push(&e.causationid);
        self.command_id.push(&e.commandid);
        self.recorded_at.push(e.time);
        self.payload.push(Json(&e.data));
    }

    async fn insert(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.tenant_id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, stream_seq, event_id, position, event_type, event_version,
                                       aggregate_type, aggregate_id, sequence, actor, actor_role, correlation_id,
                                       causation_id, command_id, recorded_at, payload)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::bigint[], $5::text[], $6::text[],
                                  $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[],
                                  $13::text[], $14::text[], $15::timestamptz[], $16::jsonb[])",
        )
        .bind(self.tenant_id)
        .bind(self.stream_seq)
        .bind(self.event_id)
        .bind(self.position)
        .bind(self.event_type)
        .bind(self.event_version)
        .bind(self.aggregate_type)
        .bind(self.aggregate_id)
        .bind(self.sequence)
        .bind(self.actor)
        .bind(self.actor_role)
        .bind(self.correlation_id)
        .bind(self.causation_id)
        .bind(self.command_id)
        .bind(self.recorded_at)
        .bind(self.payload)
        .execute(conn)
        .await?;
        Ok(())
    }
}
