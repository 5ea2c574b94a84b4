//! `read.communications`: one row per message: channel, purpose, status
//! and the time of each status, recipient, subject and content (opened with
//! the key the message is sealed with: `[erased]` once it is destroyed),
//! the template version and variables, what it is about, the sender's
//! attempts. When a customer is forgotten, the content of every message to
//! them is scrubbed here too. `version` is the message's aggregate
//! sequence.

use std::sync::Arc;

use event_schemas::communication::{CommunicationEvent, CommunicationStatus};
use event_schemas::customer::CustomerEvent;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Communications {
    pub keys: Arc<keystore::KeyStore>,
}

const DDL: &str = r#"
CREATE TABLE communications (
    tenant_id           text        NOT NULL,
    id                  uuid        NOT NULL,
    channel             text        NOT NULL,
    purpose             text        NOT NULL,
    status              text        NOT NULL,
    customer_id         uuid,
    staff_user_id       uuid,
    recipient           text        NOT NULL,
    subject             text,
    content             text        NOT NULL,
    template_id         uuid,
    template_version    integer,
    variables           jsonb,
    attachments         jsonb       NOT NULL,
    metadata            jsonb,
    tags                text[]      NOT NULL,
    lead_id             uuid,
    quote_id            uuid,
    invoice_id          uuid,
    schedule_id         uuid,
    rule_id             uuid,
    cause_event_id      uuid,
    attempts            integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz,
    last_error          text,
    provider_message_id text,
    queued_at           timestamptz,
    sent_at             timestamptz,
    delivered_at        timestamptz,
    read_at             timestamptz,
    failed_at           timestamptz,
    failure_reason      text,
    cancelled_at        timestamptz,
    created_by          uuid        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    version             bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX communications_newest ON communications (tenant_id, created_at DESC, id DESC);
CREATE INDEX communications_by_customer ON communications (tenant_id, customer_id, created_at DESC);
CREATE INDEX communications_by_lead ON communications (tenant_id, lead_id) WHERE lead_id IS NOT NULL;
"#;

/// What a forgotten subject's text reads as.
const ERASED: &str = "[erased]";

fn set_status(status: CommunicationStatus, at_column: &str) -> String {
    format!(
        "UPDATE communications SET status = '{}', {at_column} = $3 WHERE tenant_id = $1 AND id = $2",
        status.as_str()
    )
}

#[async_trait::async_trait]
impl Projection for Communications {
    fn name(&self) -> &'static str {
        "communications"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["communications"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if ev.event.aggregatetype == event_schemas::customer::AGGREGATE_TYPE {
            return self.customer(conn, ev).await;
        }
        if ev.event.aggregatetype != event_schemas::communication::AGGREGATE_TYPE {
            return Ok(());
        }
        let Some(event) = ev.opened::<CommunicationEvent>(&self.keys).await? else {
            return Ok(());
        };
        let first = matches!(event, CommunicationEvent::CommunicationDrafted(_));
        if !crate::applies(conn, "communications", ev, first).await? {
            return Ok(());
        }
        use CommunicationStatus as S;
        match event {
            CommunicationEvent::CommunicationDrafted(e) => {
                on_aggregate(
                    "INSERT INTO communications (tenant_id, id, channel, purpose, status, customer_id, staff_user_id,
                                                 recipient, subject, content, template_id, template_version,
                                                 variables, attachments, metadata, tags, lead_id, quote_id,
                                                 invoice_id, schedule_id, rule_id, cause_event_id, created_by,
                                                 created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, 'DRAFT', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                             $18, $19, $20, $21, $22, $23, $23, $24)",
                    ev,
                )?
                .bind(e.channel.as_str())
                .bind(e.purpose.as_str())
                .bind(e.customer_id)
                .bind(e.staff_user_id)
                .bind(e.recipient)
                .bind(e.subject)
                .bind(e.content)
                .bind(e.template.map(|t| t.template_id))
                .bind(e.template.map(|t| t.template_version as i32))
                .bind(e.variables.map(Json))
                .bind(Json(e.attachments))
                .bind(e.metadata.map(Json))
                .bind(e.tags)
                .bind(e.links.lead_id)
                .bind(e.links.quote_id)
                .bind(e.links.invoice_id)
                .bind(e.links.schedule_id)
                .bind(e.rule.map(|r| r.rule_id))
                .bind(e.rule.map(|r| r.cause_event_id))
                .bind(e.created_by)
                .bind(e.created_at)
                .bind(ev.event.sequence)
                .execute(&mut *conn)
                .await?;
            }
            CommunicationEvent::CommunicationQueued(e) => {
                on_aggregate(&set_status(S::Queued, "queued_at"), ev)?
                    .bind(e.queued_at)
                    .execute(&mut *conn)
                    .await?;
            }
            CommunicationEvent::CommunicationCancelled(e) => {
                on_aggregate(&set_status(S::Cancelled, "cancelled_at"), ev)?
                    .bind(e.cancelled_at)
                    .execute(&mut *conn)
                    .await?;
            }
            CommunicationEvent::CommunicationSendAttempted(e) => {
                on_aggregate(
                    "UPDATE communications SET attempts = $3, next_attempt_at = NULL
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.attempt as i32)
                .execute(&mut *conn)
                .await?;
            }
            CommunicationEvent::CommunicationAttemptFailed(e) => {
                on_aggregate(
                    "UPDATE communications SET last_error = $3, next_attempt_at = $4
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.reason)
                .bind(e.retry_at)
                .execute(&mut *conn)
                .await?;
            }
            CommunicationEvent::CommunicationSent(e) => {
                on_aggregate(
                    "UPDATE communications SET status = 'SENT', sent_at = $3, provider_message_id = $4
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.sent_at)
                .bind(e.provider_message_id)
                .execute(&mut *conn)
                .await?;
            }
            CommunicationEvent::CommunicationDelivered(e) => {
                on_aggregate(&set_status(S::Delivered, "delivered_at"), ev)?
                    .bind(e.delivered_at)
                    .execute(&mut *conn)
                    .await?;
            }
            CommunicationEvent::CommunicationRead(e) => {
                on_aggregate(&set_status(S::Read, "read_at"), ev)?
                    .bind(e.read_at)
                    .execute(&mut *conn)
                    .await?;
            }
            CommunicationEvent::CommunicationFailed(e) => {
                on_aggregate(
                    "UPDATE communications SET status = 'FAILED', failed_at = $3, failure_reason = $4,
                                               next_attempt_at = NULL
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.failed_at)
                .bind(e.reason)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}

impl Communications {
    /// A forgotten customer: every message to them loses its text here too.
    async fn customer(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        // Only the forgetting matters; the other customer events are not
        // opened (their sealed fields are not needed here).
        if ev.event.event_type != "CustomerForgotten" {
            return Ok(());
        }
        let Some(CustomerEvent::CustomerForgotten(_)) = ev.open_with::<CustomerEvent>(None)? else {
            return Ok(());
        };
        sqlx::query(
            "UPDATE communications
                SET recipient = $3, subject = CASE WHEN subject IS NULL THEN NULL ELSE $3 END,
                    content = $3, variables = NULL, metadata = NULL,
                    last_error = CASE WHEN last_error IS NULL THEN NULL ELSE $3 END,
                    failure_reason = CASE WHEN failure_reason IS NULL THEN NULL ELSE $3 END
              WHERE tenant_id = $1 AND customer_id = $2",
        )
        .bind(ev.event.tenant.as_str())
        .bind(ev.event.aggregateid.parse::<uuid::Uuid>().ok())
        .bind(ERASED)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
