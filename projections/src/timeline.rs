//! `read.lead_timeline`: a lead's and a customer's story, in commit order
//! (`position`, the stream sequence): one row per lead event (creation,
//! status changes, assignments, first contact, detail edits and sales
//! activities) and one per message to the customer (its channel, subject
//! and current status, updated as it moves; its text erased when the
//! customer is forgotten).

use std::sync::Arc;

use event_schemas::communication::CommunicationEvent;
use event_schemas::customer::CustomerEvent;
use event_schemas::lead::LeadEvent;
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError};

pub struct LeadTimeline {
    pub keys: Arc<keystore::KeyStore>,
}

const DDL: &str = r#"
CREATE TABLE lead_timeline (
    tenant_id        text        NOT NULL,
    -- The stream sequence of the entry's first event: the timelines' order.
    position         bigint      NOT NULL,
    lead_id          uuid,
    customer_id      uuid,
    -- The lead event's sequence (none for a message).
    sequence         bigint,
    communication_id uuid,
    kind             text        NOT NULL,
    event_type       text        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor            text        NOT NULL,
    actor_role       text        NOT NULL,
    summary          text        NOT NULL,
    data             jsonb       NOT NULL,
    PRIMARY KEY (tenant_id, position)
);
CREATE INDEX lead_timeline_by_lead ON lead_timeline (tenant_id, lead_id, position DESC);
CREATE INDEX lead_timeline_by_customer ON lead_timeline (tenant_id, customer_id, position DESC);
CREATE UNIQUE INDEX lead_timeline_by_message ON lead_timeline (tenant_id, communication_id);
-- Each lead's customer (lead events after the first don't name it).
CREATE TABLE timeline_leads (
    tenant_id   text NOT NULL,
    lead_id     uuid NOT NULL,
    customer_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, lead_id)
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
        // 2: messages, customers' timelines, commit order.
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &["lead_timeline", "timeline_leads"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if ev.event.aggregatetype == event_schemas::communication::AGGREGATE_TYPE {
            return self.message(conn, ev).await;
        }
        if ev.event.aggregatetype == event_schemas::customer::AGGREGATE_TYPE {
            return forgotten(conn, ev).await;
        }
        let Some(event) = ev.typed::<LeadEvent>()? else {
            return Ok(());
        };
        let tenant = ev.event.tenant.as_str();
        let lead = ev.aggregate_uuid()?;
        if let LeadEvent::LeadCreated(created) = event {
            sqlx::query(
                "INSERT INTO timeline_leads (tenant_id, lead_id, customer_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(lead)
            .bind(created.customer_id)
            .execute(&mut *conn)
            .await?;
        }
        let (kind, summary, occurred_at) = describe(ev, event);
        sqlx::query(
            "INSERT INTO lead_timeline (tenant_id, position, lead_id, customer_id, sequence, kind, event_type,
                                        occurred_at, actor, actor_role, summary, data)
             SELECT $1, $2, $3, (SELECT customer_id FROM timeline_leads WHERE tenant_id = $1 AND lead_id = $3),
                    $4, $5, $6, $7, $8, $9, $10, $11
             ON CONFLICT (tenant_id, position) DO NOTHING",
        )
        .bind(tenant)
        .bind(ev.stream_seq as i64)
        .bind(lead)
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

impl LeadTimeline {
    /// A message: one entry, made when it is written, its status kept.
    async fn message(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let tenant = ev.event.tenant.as_str();
        let id = ev.aggregate_uuid()?;
        if ev.event.event_type == "CommunicationDrafted" {
            let Some(CommunicationEvent::CommunicationDrafted(d)) =
                ev.opened::<CommunicationEvent>(&self.keys).await?
            else {
                return Ok(());
            };
            if d.customer_id.is_none() && d.links.lead_id.is_none() {
                return Ok(());
            }
            let about = d
                .subject
                .clone()
                .unwrap_or_else(|| d.content.chars().take(80).collect::<String>());
            let summary = format!("{} to {}: {about}", d.channel, d.recipient);
            let data = serde_json::json!({
                "communication_id": id, "type": d.channel, "purpose": d.purpose,
                "status": "DRAFT", "subject": d.subject, "template": d.template, "rule": d.rule,
            });
            sqlx::query(
                "INSERT INTO lead_timeline (tenant_id, position, lead_id, customer_id, communication_id, kind,
                                            event_type, occurred_at, actor, actor_role, summary, data)
                 VALUES ($1, $2, $3, $4, $5, 'communication', $6, $7, $8, $9, $10, $11)
                 ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(ev.stream_seq as i64)
            .bind(d.links.lead_id)
            .bind(d.customer_id)
            .bind(id)
            .bind(&ev.event.event_type)
            .bind(d.created_at)
            .bind(&ev.event.actor)
            .bind(&ev.event.actorrole)
            .bind(summary)
            .bind(Json(data))
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        let status = match ev.event.event_type.as_str() {
            "CommunicationQueued" => "QUEUED",
            "CommunicationSent" => "SENT",
            "CommunicationDelivered" => "DELIVERED",
            "CommunicationRead" => "READ",
            "CommunicationFailed" => "FAILED",
            "CommunicationCancelled" => "CANCELLED",
            _ => return Ok(()),
        };
        sqlx::query(
            "UPDATE lead_timeline
                SET data = data || jsonb_build_object('status', $3::text, $4::text, $5::timestamptz),
                    event_type = $6
              WHERE tenant_id = $1 AND communication_id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(status)
        .bind(format!("{}_at", status.to_lowercase()))
        .bind(ev.event.time)
        .bind(&ev.event.event_type)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// A forgotten customer's messages keep their channel and status only.
async fn forgotten(conn: &mut PgConnection, ev: &ProjectedEvent) -> Result<(), ProjectionError> {
    if ev.event.event_type != "CustomerForgotten" {
        return Ok(());
    }
    let Some(CustomerEvent::CustomerForgotten(_)) = ev.open_with::<CustomerEvent>(None)? else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE lead_timeline SET summary = (data->>'type') || ': [erased]', data = data - 'subject'
          WHERE tenant_id = $1 AND customer_id = $2 AND kind = 'communication'",
    )
    .bind(ev.event.tenant.as_str())
    .bind(ev.aggregate_uuid()?)
    .execute(conn)
    .await?;
    Ok(())
}
