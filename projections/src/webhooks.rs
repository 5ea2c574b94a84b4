//! The `webhooks` projection: `read.webhooks` (one row per endpoint, with
//! its delivery figures: last triggered, successes, failures, last error),
//! `read.webhook_deliveries` (the delivery log: one row per delivery, its
//! status and last attempt) and `read.webhook_delivery_attempts` (every
//! attempt: status code, the answer's first 4 KB, duration, error).
//!
//! Header values and secrets are sealed in the events and never read here:
//! the endpoint's row keeps its header names only.

use std::sync::Arc;

use event_schemas::webhook::{AttemptResult, WebhookDeliveryEvent, WebhookEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Webhooks {
    pub keys: Arc<keystore::KeyStore>,
}

const DDL: &str = r#"
CREATE TABLE webhooks (
    tenant_id         text        NOT NULL,
    id                uuid        NOT NULL,
    name              text        NOT NULL,
    description       text,
    url               text        NOT NULL,
    event_types       text[]      NOT NULL,
    header_names      text[]      NOT NULL,
    active            boolean     NOT NULL,
    disabled_reason   text,
    disabled_detail   text,
    disabled_at       timestamptz,
    secret_rotated_at timestamptz,
    deleted_at        timestamptz,
    last_triggered_at timestamptz,
    success_count     bigint      NOT NULL DEFAULT 0,
    failure_count     bigint      NOT NULL DEFAULT 0,
    last_error        text,
    last_status_code  integer,
    created_by        uuid        NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhooks_newest ON webhooks (tenant_id, created_at DESC, id DESC);
CREATE TABLE webhook_deliveries (
    tenant_id        text        NOT NULL,
    id               uuid        NOT NULL,
    webhook_id       uuid        NOT NULL,
    event_id         uuid        NOT NULL,
    event_type       text        NOT NULL,
    status           text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    last_response    text,
    last_duration_ms bigint,
    next_attempt_at  timestamptz,
    queued_at        timestamptz NOT NULL,
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    failed_at        timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_deliveries_newest ON webhook_deliveries (tenant_id, webhook_id, created_at DESC, id DESC);
CREATE TABLE webhook_delivery_attempts (
    tenant_id       text        NOT NULL,
    delivery_id     uuid        NOT NULL,
    attempt         integer     NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    outcome         text,
    status_code     integer,
    response_excerpt text,
    duration_ms     bigint,
    error           text,
    PRIMARY KEY (tenant_id, delivery_id, attempt)
);
"#;

/// Records an attempt's result in the attempts table, the delivery's row
/// and its endpoint's figures.
async fn finish_attempt(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    result: &AttemptResult,
    outcome: &str,
    at: chrono::DateTime<chrono::Utc>,
    next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), ProjectionError> {
    on_aggregate(
        "UPDATE webhook_delivery_attempts
            SET finished_at = $4, outcome = $5, status_code = $6, response_excerpt = $7,
                duration_ms = $8, error = $9
          WHERE tenant_id = $1 AND delivery_id = $2 AND attempt = $3",
        ev,
    )?
    .bind(result.attempt as i32)
    .bind(at)
    .bind(outcome)
    .bind(result.status_code.map(i32::from))
    .bind(&result.response_excerpt)
    .bind(result.duration_ms as i64)
    .bind(&result.error)
    .execute(&mut *conn)
    .await?;
    let delivered = outcome == "DELIVERED";
    let webhook: Option<Uuid> = sqlx::query_scalar(
        "UPDATE webhook_deliveries
            SET status = $3, last_status_code = $4, last_error = $5, last_response = $6,
                last_duration_ms = $7, next_attempt_at = $8,
                delivered_at = CASE WHEN $3 = 'DELIVERED' THEN $9 ELSE delivered_at END,
                failed_at = CASE WHEN $3 = 'FAILED' THEN $9 ELSE failed_at END
          WHERE tenant_id = $1 AND id = $2
          RETURNING webhook_id",
    )
    .bind(ev.event.tenant.as_str())
    .bind(ev.aggregate_uuid()?)
    .bind(outcome)
    .bind(result.status_code.map(i32::from))
    .bind(&result.error)
    .bind(&result.response_excerpt)
    .bind(result.duration_ms as i64)
    .bind(next_attempt_at)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(webhook) = webhook {
        sqlx::query(
            "UPDATE webhooks
                SET success_count = success_count + CASE WHEN $3 THEN 1 ELSE 0 END,
                    failure_count = failure_count + CASE WHEN $3 THEN 0 ELSE 1 END,
                    last_error = CASE WHEN $3 THEN last_error ELSE $4 END,
                    last_status_code = $5
              WHERE tenant_id = $1 AND id = $2",
        )
        .bind(ev.event.tenant.as_str())
        .bind(webhook)
        .bind(delivered)
        .bind(&result.error)
        .bind(result.status_code.map(i32::from))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Projection for Webhooks {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn version(&self) -> i32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "webhooks",
            "webhook_deliveries",
            "webhook_delivery_attempts",
        ]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if let Some(event) = ev.opened::<WebhookEvent>(&self.keys).await? {
            return self.apply_webhook(conn, ev, event).await;
        }
        if let Some(event) = ev.typed::<WebhookDeliveryEvent>()? {
            return self.apply_delivery(conn, ev, event).await;
        }
        Ok(())
    }
}

impl Webhooks {
    async fn apply_webhook(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
        event: WebhookEvent,
    ) -> Result<(), ProjectionError> {
        let first = matches!(event, WebhookEvent::WebhookCreated(_));
        if !crate::applies(conn, "webhooks", ev, first).await? {
            return Ok(());
        }
        match event {
            WebhookEvent::WebhookCreated(e) => {
                on_aggregate(
                    "INSERT INTO webhooks (tenant_id, id, name, description, url, event_types, header_names,
                                           active, disabled_reason, created_by, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 THEN NULL ELSE 'MANUAL' END,
                             $9, $10, $10, $11)",
                    ev,
                )?
                .bind(&e.name)
                .bind(&e.description)
                .bind(&e.url)
                .bind(&e.event_types)
                .bind(e.headers.keys().cloned().collect::<Vec<_>>())
                .bind(e.active)
                .bind(e.created_by)
                .bind(e.created_at)
                .bind(ev.event.sequence)
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookUpdated(e) => {
                on_aggregate(
                    "UPDATE webhooks SET name = $3, description = $4, url = $5, event_types = $6,
                                         header_names = $7
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(&e.name)
                .bind(&e.description)
                .bind(&e.url)
                .bind(&e.event_types)
                .bind(e.headers.keys().cloned().collect::<Vec<_>>())
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookSecretRotated(e) => {
                on_aggregate(
                    "UPDATE webhooks SET secret_rotated_at = $3 WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.rotated_at)
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookEnabled(_) => {
                on_aggregate(
                    "UPDATE webhooks SET active = true, disabled_reason = NULL, disabled_detail = NULL,
                                         disabled_at = NULL
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookDisabled(e) => {
                on_aggregate(
                    "UPDATE webhooks SET active = false, disabled_reason = $3, disabled_detail = $4,
                                         disabled_at = $5
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.reason.as_str())
                .bind(&e.detail)
                .bind(e.disabled_at)
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookDeleted(e) => {
                on_aggregate(
                    "UPDATE webhooks SET active = false, deleted_at = $3 WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.deleted_at)
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookRecoveryRequested(_) => {}
        }
        Ok(())
    }

    async fn apply_delivery(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
        event: &WebhookDeliveryEvent,
    ) -> Result<(), ProjectionError> {
        let first = matches!(event, WebhookDeliveryEvent::WebhookDeliveryQueued(_));
        if !crate::applies(conn, "webhook_deliveries", ev, first).await? {
            return Ok(());
        }
        match event {
            WebhookDeliveryEvent::WebhookDeliveryQueued(e) => {
                on_aggregate(
                    "INSERT INTO webhook_deliveries (tenant_id, id, webhook_id, event_id, event_type, status,
                                                     next_attempt_at, queued_at, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $6, $6, $6, $7)",
                    ev,
                )?
                .bind(e.webhook_id)
                .bind(e.event_id)
                .bind(&e.event_type)
                .bind(e.queued_at)
                .bind(ev.event.sequence)
                .execute(&mut *conn)
                .await?;
            }
            WebhookDeliveryEvent::WebhookDeliveryAttemptStarted(e) => {
                // An earlier attempt still without a result was cut off (its
                // worker stopped): it is abandoned, not in progress.
                on_aggregate(
                    "UPDATE webhook_delivery_attempts SET outcome = 'ABANDONED', finished_at = $4
                      WHERE tenant_id = $1 AND delivery_id = $2 AND attempt < $3 AND outcome IS NULL",
                    ev,
                )?
                .bind(e.attempt as i32)
                .bind(e.started_at)
                .execute(&mut *conn)
                .await?;
                on_aggregate(
                    "INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt, started_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    ev,
                )?
                .bind(e.attempt as i32)
                .bind(e.started_at)
                .execute(&mut *conn)
                .await?;
                let webhook: Option<Uuid> = sqlx::query_scalar(
                    "UPDATE webhook_deliveries
                        SET status = 'SENT', attempts = $3, last_attempt_at = $4, next_attempt_at = NULL
                      WHERE tenant_id = $1 AND id = $2
                      RETURNING webhook_id",
                )
                .bind(ev.event.tenant.as_str())
                .bind(ev.aggregate_uuid()?)
                .bind(e.attempt as i32)
                .bind(e.started_at)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(webhook) = webhook {
                    sqlx::query(
                        "UPDATE webhooks SET last_triggered_at = $3 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(ev.event.tenant.as_str())
                    .bind(webhook)
                    .bind(e.started_at)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            WebhookDeliveryEvent::WebhookDeliverySucceeded(e) => {
                finish_attempt(conn, ev, &e.result, "DELIVERED", e.delivered_at, None).await?;
            }
            WebhookDeliveryEvent::WebhookDeliveryAttemptFailed(e) => {
                finish_attempt(conn, ev, &e.result, "RETRY", e.failed_at, Some(e.retry_at)).await?;
            }
            WebhookDeliveryEvent::WebhookDeliveryFailed(e) => {
                finish_attempt(conn, ev, &e.result, "FAILED", e.failed_at, None).await?;
            }
            WebhookDeliveryEvent::WebhookDeliveryRetryRequested(e) => {
                on_aggregate(
                    "UPDATE webhook_deliveries SET status = 'PENDING', next_attempt_at = $3
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.requested_at)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}
