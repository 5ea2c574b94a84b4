//! `read.lead_timeline`: a lead's story, one row per lead event: creation,
//! status changes, assignments, first contact, detail edits and sales
//! activities.

use event_schemas::lead::LeadEvent;
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError};

pub struct LeadTimeline;

const DDL: &str = r#"
CREATE TABLE lead_timeline (
    tenant_id   text        NOT NULL,
    lead_id     uuid        NOT NULL,
    sequence    bigint      NOT NULL,
    kind        text        NOT NULL,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor       text        NOT NULL,
    actor_role  text        NOT NULL,
    summary     text        NOT NULL,
    data        jsonb       NOT NULL,
    PRIMARY KEY (tenant_id, lead_id, sequence)
);
"#;

/// A timeline entry: kind, summary, when it happened.
type Entry = (&'static str, String, chrono::DateTime<chrono::Utc>);

/// The timeline entry of one lead event.
fn describe(ev: &ProjectedEvent, event: &LeadEvent) -> Entry {
    let when = ev.event.time;
    match event {
        LeadEvent::LeadCreated(d) => (
            "created",
            format!(
                "Lead opened (source: {}, priority: {})",
                d.source, d.priority
            ),
            d.created_at,
        ),
        LeadEvent::LeadStatusChanged(d) => {
            let reason = d
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            (
                "status_changed",
                format!("{} → {}{reason}", d.from, d.to),
                d.changed_at,
            )
        }
        LeadEvent::LeadAssigned(d) => {
            let text = match d.assigned_to {
                Some(user) => format!("Assigned to {user}"),
                None => "Unassigned".to_owned(),
            };
            ("assigned", text, when)
        }
        LeadEvent::LeadFirstContacted(d) => (
            "first_contacted",
            format!("First contact after {} s", d.response_seconds),
            d.contacted_at,
        ),
        LeadEvent::LeadDetailsUpdated(d) => (
            "details_updated",
            format!("Changed {}", d.changed_fields.join(", ")),
            when,
        ),
        LeadEvent::SalesActivityRecorded(d) => {
            let title = d.subject.as_ref().unwrap_or(&d.description);
            (
                "activity",
                format!("{}: {title}", d.activity_type),
                d.completed_at.or(d.scheduled_at).unwrap_or(when),
            )
        }
    }
}

#[async_trait::async_trait]
impl Projection for LeadTimeline {
    fn name(&self) -> &'static str {
        "lead_timeline"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["lead_timeline"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<LeadEvent>()? else {
            return Ok(());
        };
        let (kind, summary, occurred_at) = describe(ev, event);
        sqlx::query(
            "INSERT INTO lead_timeline (tenant_id, lead_id, sequence, kind, event_type, occurred_at, actor, actor_role, summary, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (tenant_id, lead_id, sequence) DO NOTHING",
        )
        .bind(ev.event.tenant.as_str())
        .bind(ev.aggregate_uuid()?)
        .bind(ev.event.sequence)
        .bind(kind)
        .bind(&ev.event.event_type)
        .bind(occurred_at)
        .bind(&ev.event.actor)
        .bind(&ev.event.actorrole)
        .bind(summary)
        .bind(Json::<&Value>(&ev.event.data))
        .execute(conn)
        .await?;
        Ok(())
    }
}
