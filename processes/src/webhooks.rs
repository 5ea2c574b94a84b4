//! Outbound webhooks: what the backend delivers by itself.
//!
//! * [`WebhookFanout`], a process fed from the stream (exactly once, in
//!   commit order, behind its own consumer): it keeps each tenant's
//!   endpoints (`webhook_endpoints`: their patterns, whether active, since
//!   when every delivery failed) and, for every event an active endpoint
//!   subscribes to, queues a delivery (`WebhookDeliveryQueued`; its id is
//!   UUIDv5(endpoint, event), so a redelivered message queues nothing new
//!   and no subscribed event is skipped). It keeps the `webhook_queue` of
//!   what is due when from the deliveries' own events, and turns a
//!   recovery into a retry of each failed delivery.
//! * [`WebhookWorker`]: one active copy per deployment (an advisory lock
//!   per round) claims due deliveries, at most `max_in_flight` per
//!   endpoint, records each attempt before writing the request
//!   (`WebhookDeliveryAttemptStarted`, SENT) and its result after, signed
//!   in the Standard Webhooks format with the same `webhook-id` every time.
//!   Failures are retried on the schedule (`outbound::RetrySchedule`, with
//!   jitter and `Retry-After`), then FAILED; 410 disables the endpoint, and
//!   so do 5 days of failures. Its clock is injected, so tests run the whole
//!   schedule in seconds. A worker that dies mid-delivery leaves the claim
//!   to lapse; the next attempt carries the same `webhook-id`.

use std::sync::Arc;
use std::time::Duration;

use aggregates::webhook::{
    DeliveryAction, DeliveryCommand, DeliveryError, Webhook, WebhookAction, WebhookCommand,
    WebhookDelivery, WebhookError,
};
use chrono::{DateTime, Utc};
use event_schemas::webhook::{
    AttemptResult, DisableReason, RetryReason, WebhookDeliveryEvent, WebhookEvent,
};
use event_schemas::{EventMetadata, SYSTEM_USER, TenantId};
use event_store::{CommandError, Run, Store, Target};
use futures::StreamExt;
use outbound::{Clock, Deliverer, Outcome, RetrySchedule, Subscription};
use projections::{ProjectedEvent, Projection, ProjectionError};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The namespace of delivery ids: UUIDv5(namespace, endpoint ‖ event).
const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_9a6e_2b7d_4c3a_9e8f_0d1b_2c3d_4e5f);

/// The delivery of event `event` to endpoint `webhook`.
pub fn delivery_id(webhook: Uuid, event: Uuid) -> Uuid {
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(webhook.as_bytes());
    name[16..].copy_from_slice(event.as_bytes());
    Uuid::new_v5(&DELIVERY_NAMESPACE, &name)
}

/// The fan-out process: endpoints, the queue, deliveries queued.
pub struct WebhookFanout {
    pub webhooks: Arc<Store<Webhook>>,
    pub deliveries: Arc<Store<WebhookDelivery>>,
    pub keys: Arc<keystore::KeyStore>,
}

const DDL: &str = r#"
CREATE TABLE webhook_endpoints (
    tenant_id     text        NOT NULL,
    webhook_id    uuid        NOT NULL,
    event_types   text[]      NOT NULL,
    active        boolean     NOT NULL,
    deleted       boolean     NOT NULL DEFAULT false,
    -- The first failure since the last success (NULL: the last one succeeded).
    failing_since timestamptz,
    PRIMARY KEY (tenant_id, webhook_id)
);
CREATE TABLE webhook_queue (
    tenant_id   text        NOT NULL,
    delivery_id uuid        NOT NULL,
    webhook_id  uuid        NOT NULL,
    -- pending, sent, retry, failed (a delivered one leaves the queue).
    status      text        NOT NULL,
    due_at      timestamptz,
    lease_until timestamptz,
    failed_at   timestamptz,
    -- The delivery's version this row reflects: the fan-out (1, queued),
    -- the worker (the outcome it committed) and the delivery's events each
    -- move it only forward, whichever comes first.
    version     bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, delivery_id)
);
CREATE INDEX webhook_queue_due ON webhook_queue (tenant_id, webhook_id, due_at) WHERE status IN ('pending', 'retry');
CREATE INDEX webhook_queue_claimed ON webhook_queue (tenant_id, webhook_id, lease_until) WHERE status = 'sent';
CREATE INDEX webhook_queue_failed ON webhook_queue (tenant_id, webhook_id, failed_at) WHERE status = 'failed';
"#;

fn command_error<E: std::error::Error>(what: &str, e: CommandError<E>) -> ProjectionError {
    match e {
        CommandError::Unavailable(detail) => ProjectionError::CommandRetry(detail),
        other => ProjectionError::Command(format!("{what}: {other}")),
    }
}

impl WebhookFanout {
    fn metadata(ev: &ProjectedEvent) -> EventMetadata {
        EventMetadata {
            causation_id: ev.event.id.to_string(),
            ..EventMetadata::system(&ev.event.tenant, format!("webhooks:{}", ev.event.id))
        }
    }

    async fn delivery_command(
        &self,
        ev: &ProjectedEvent,
        id: Uuid,
        target: Target,
        action: DeliveryAction,
    ) -> Result<(), ProjectionError> {
        let run = Run::new(&ev.event.tenant, target);
        let at = ev.event.time;
        match self
            .deliveries
            .run(
                run,
                || Self::metadata(ev),
                |_| {
                    Ok::<_, CommandError<DeliveryError>>(DeliveryCommand {
                        at,
                        actor: SYSTEM_USER,
                        action: action.clone(),
                    })
                },
            )
            .await
        {
            Ok(_) | Err(CommandError::Conflict) => Ok(()),
            Err(CommandError::Domain(e)) => {
                tracing::warn!(delivery = %id, error = %e, "a webhook delivery command was refused");
                Ok(())
            }
            Err(e) => Err(command_error("a webhook delivery", e)),
        }
    }

    /// The active endpoints of `tenant` with their subscriptions.
    async fn endpoints(
        conn: &mut PgConnection,
        tenant: &str,
    ) -> Result<Vec<(Uuid, Subscription)>, ProjectionError> {
        let rows: Vec<(Uuid, Vec<String>)> = sqlx::query_as(
            "SELECT webhook_id, event_types FROM webhook_endpoints
              WHERE tenant_id = $1 AND active AND NOT deleted",
        )
        .bind(tenant)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, patterns)| Subscription::parse(&patterns).ok().map(|s| (id, s)))
            .collect())
    }

    /// Queues each (event, endpoint) pair: the deliveries' `Queued` events
    /// committed (16 at a time), then their queue rows written in this
    /// batch's transaction, so the worker sees them as soon as the batch
    /// commits (not once the stream brings their events back).
    async fn queue_all(
        &self,
        conn: &mut PgConnection,
        pending: &mut Vec<(&ProjectedEvent, Uuid)>,
    ) -> Result<(), ProjectionError> {
        if pending.is_empty() {
            return Ok(());
        }
        for chunk in pending.chunks(16) {
            let mut commands = Vec::with_capacity(chunk.len());
            for (ev, webhook) in chunk {
                let id = delivery_id(*webhook, ev.event.id);
                commands.push(self.delivery_command(
                    ev,
                    id,
                    Target::New(id),
                    DeliveryAction::Queue {
                        tenant_id: ev.event.tenant.clone(),
                        delivery_id: id,
                        webhook_id: *webhook,
                        event_id: ev.event.id,
                        event_type: ev.event.event_type.clone(),
                    },
                ));
            }
            for result in futures::future::join_all(commands).await {
                result?;
            }
        }
        let mut tenants = Vec::with_capacity(pending.len());
        let mut ids = Vec::with_capacity(pending.len());
        let mut webhooks = Vec::with_capacity(pending.len());
        let mut due = Vec::with_capacity(pending.len());
        for (ev, webhook) in pending.drain(..) {
            tenants.push(ev.event.tenant.as_str().to_owned());
            ids.push(delivery_id(webhook, ev.event.id));
            webhooks.push(webhook);
            due.push(ev.event.time);
        }
        sqlx::query(
            "INSERT INTO webhook_queue (tenant_id, delivery_id, webhook_id, status, due_at)
             SELECT t, d, w, 'pending', at FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::timestamptz[])
                    AS q(t, d, w, at)
             ON CONFLICT DO NOTHING",
        )
        .bind(&tenants)
        .bind(&ids)
        .bind(&webhooks)
        .bind(&due)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Queues `ev` for every active endpoint of its tenant that subscribes
    /// to it.
    async fn fan_out(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let endpoints = Self::endpoints(conn, ev.event.tenant.as_str()).await?;
        let mut pending: Vec<(&ProjectedEvent, Uuid)> = endpoints
            .iter()
            .filter(|(_, s)| s.matches(&ev.event.event_type))
            .map(|(id, _)| (ev, *id))
            .collect();
        self.queue_all(conn, &mut pending).await
    }

    async fn apply_webhook(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
        event: WebhookEvent,
    ) -> Result<(), ProjectionError> {
        let tenant = ev.event.tenant.as_str();
        let id = ev.aggregate_uuid()?;
        match event {
            WebhookEvent::WebhookCreated(e) => {
                sqlx::query(
                    "INSERT INTO webhook_endpoints (tenant_id, webhook_id, event_types, active)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(id)
                .bind(&e.event_types)
                .bind(e.active)
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookUpdated(e) => {
                sqlx::query(
                    "UPDATE webhook_endpoints SET event_types = $3 WHERE tenant_id = $1 AND webhook_id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(&e.event_types)
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookEnabled(_) | WebhookEvent::WebhookDisabled(_) => {
                let active = matches!(event, WebhookEvent::WebhookEnabled(_));
                sqlx::query(
                    "UPDATE webhook_endpoints SET active = $3, failing_since = NULL
                      WHERE tenant_id = $1 AND webhook_id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(active)
                .execute(&mut *conn)
                .await?;
            }
            WebhookEvent::WebhookDeleted(_) => {
                sqlx::query(
                    "UPDATE webhook_endpoints SET active = false, deleted = true
                      WHERE tenant_id = $1 AND webhook_id = $2",
                )
                .bind(tenant)
                .bind(id)
                .execute(&mut *conn)
                .await?;
                sqlx::query("DELETE FROM webhook_queue WHERE tenant_id = $1 AND webhook_id = $2")
                    .bind(tenant)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            WebhookEvent::WebhookRecoveryRequested(e) => {
                let failed: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT delivery_id FROM webhook_queue
                      WHERE tenant_id = $1 AND webhook_id = $2 AND status = 'failed' AND failed_at >= $3
                      ORDER BY failed_at",
                )
                .bind(tenant)
                .bind(id)
                .bind(e.since)
                .fetch_all(&mut *conn)
                .await?;
                tracing::info!(webhook = %id, count = failed.len(), "recovering failed webhook deliveries");
                for delivery in failed {
                    self.delivery_command(
                        ev,
                        delivery,
                        Target::Existing(delivery),
                        DeliveryAction::RequestRetry {
                            reason: RetryReason::Recovery,
                        },
                    )
                    .await?;
                }
            }
            WebhookEvent::WebhookSecretRotated(_) => {}
        }
        Ok(())
    }

    async fn apply_delivery(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
        event: &WebhookDeliveryEvent,
    ) -> Result<(), ProjectionError> {
        let tenant = ev.event.tenant.as_str();
        let id = ev.aggregate_uuid()?;
        let seq = ev.event.sequence;
        let endpoint_failing = |failed: bool, at: DateTime<Utc>| {
            sqlx::query(
                "UPDATE webhook_endpoints e
                    SET failing_since = CASE WHEN $3 THEN coalesce(e.failing_since, $4) ELSE NULL END
                   FROM webhook_queue q
                  WHERE q.tenant_id = $1 AND q.delivery_id = $2
                    AND e.tenant_id = q.tenant_id AND e.webhook_id = q.webhook_id",
            )
            .bind(tenant.to_owned())
            .bind(id)
            .bind(failed)
            .bind(at)
        };
        match event {
            WebhookDeliveryEvent::WebhookDeliveryQueued(e) => {
                sqlx::query(
                    "INSERT INTO webhook_queue (tenant_id, delivery_id, webhook_id, status, due_at)
                     VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(id)
                .bind(e.webhook_id)
                .bind(e.queued_at)
                .execute(&mut *conn)
                .await?;
            }
            WebhookDeliveryEvent::WebhookDeliveryAttemptStarted(_) => {
                // The worker holds the claim (status sent, leased) already.
            }
            WebhookDeliveryEvent::WebhookDeliverySucceeded(e) => {
                endpoint_failing(false, e.delivered_at)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "DELETE FROM webhook_queue WHERE tenant_id = $1 AND delivery_id = $2 AND version <= $3",
                )
                .bind(tenant)
                .bind(id)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            WebhookDeliveryEvent::WebhookDeliveryAttemptFailed(e) => {
                endpoint_failing(true, e.failed_at)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "UPDATE webhook_queue SET status = 'retry', due_at = $3, lease_until = NULL, version = $4
                      WHERE tenant_id = $1 AND delivery_id = $2 AND version < $4",
                )
                .bind(tenant)
                .bind(id)
                .bind(e.retry_at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            WebhookDeliveryEvent::WebhookDeliveryFailed(e) => {
                endpoint_failing(true, e.failed_at)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "UPDATE webhook_queue SET status = 'failed', due_at = NULL, lease_until = NULL,
                                              failed_at = $3, version = $4
                      WHERE tenant_id = $1 AND delivery_id = $2 AND version < $4",
                )
                .bind(tenant)
                .bind(id)
                .bind(e.failed_at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            WebhookDeliveryEvent::WebhookDeliveryRetryRequested(e) => {
                sqlx::query(
                    "UPDATE webhook_queue SET status = 'pending', due_at = $3, lease_until = NULL,
                                              failed_at = NULL, version = $4
                      WHERE tenant_id = $1 AND delivery_id = $2 AND version < $4",
                )
                .bind(tenant)
                .bind(id)
                .bind(e.requested_at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Projection for WebhookFanout {
    fn name(&self) -> &'static str {
        "webhook_fanout"
    }

    fn version(&self) -> i32 {
        3
    }

    fn tables(&self) -> &'static [&'static str] {
        &["webhook_endpoints", "webhook_queue"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    fn issues_commands(&self) -> bool {
        true
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
        self.fan_out(conn, ev).await
    }

    /// A batch: each tenant's endpoints read once (again after one of its
    /// webhook events), and the batch's deliveries queued together, in
    /// stream order relative to the webhook system's own events.
    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[&ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        let mut endpoints: std::collections::HashMap<String, Vec<(Uuid, Subscription)>> =
            std::collections::HashMap::new();
        let mut pending: Vec<(&ProjectedEvent, Uuid)> = Vec::new();
        for ev in events {
            let tenant = ev.event.tenant.as_str();
            if let Some(event) = ev.opened::<WebhookEvent>(&self.keys).await? {
                self.queue_all(conn, &mut pending).await?;
                endpoints.remove(tenant);
                self.apply_webhook(conn, ev, event).await?;
                continue;
            }
            if let Some(event) = ev.typed::<WebhookDeliveryEvent>()? {
                self.queue_all(conn, &mut pending).await?;
                self.apply_delivery(conn, ev, event).await?;
                continue;
            }
            if !endpoints.contains_key(tenant) {
                let list = Self::endpoints(conn, tenant).await?;
                endpoints.insert(tenant.to_owned(), list);
            }
            for (webhook, subscription) in &endpoints[tenant] {
                if subscription.matches(&ev.event.event_type) {
                    pending.push((ev, *webhook));
                }
            }
        }
        self.queue_all(conn, &mut pending).await
    }
}

// ------------------------------------------------------------------ worker

/// How the worker delivers.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub schedule: RetrySchedule,
    /// Deliveries in flight per endpoint at most.
    pub max_in_flight: u32,
    /// Deliveries handed over at once, over all endpoints.
    pub concurrency: usize,
    /// How long a claim holds (longer than the request timeout).
    pub lease: Duration,
    /// An endpoint whose every delivery failed this long is disabled.
    pub disable_after: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            max_in_flight: 16,
            concurrency: 32,
            lease: Duration::from_secs(60),
            disable_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// The endpoints a round has loaded.
type Endpoints = tokio::sync::Mutex<
    std::collections::HashMap<(String, Uuid), Arc<tokio::sync::OnceCell<Arc<Webhook>>>>,
>;

/// Claims due deliveries and hands them over; see the module docs.
pub struct WebhookWorker {
    pub pool: PgPool,
    pub webhooks: Arc<Store<Webhook>>,
    pub deliveries: Arc<Store<WebhookDelivery>>,
    pub keys: Arc<keystore::KeyStore>,
    pub deliverer: Deliverer,
    pub clock: Arc<dyn Clock>,
    /// A random number in [0, 1) for the schedule's jitter (tests fix it).
    pub jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
    pub config: WorkerConfig,
}

/// What became of one claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handed {
    Delivered,
    Retry(DateTime<Utc>),
    Failed,
    /// Not attempted (no longer due, or its endpoint is gone).
    Skipped,
}

impl WebhookWorker {
    fn metadata(tenant: &TenantId, delivery: Uuid) -> EventMetadata {
        EventMetadata::system(tenant, format!("webhook-worker:{delivery}"))
    }

    /// Claims the deliveries due at the clock's now (at most
    /// `max_in_flight` in flight per endpoint) and hands them over; returns
    /// what became of each.
    pub async fn run_once(&self) -> Result<Vec<(Uuid, Handed)>, sqlx::Error> {
        let now = self.clock.now();
        let lease_until = now
            + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::minutes(1));
        let claimed: Vec<(String, Uuid)> = sqlx::query_as(
            "WITH busy AS (
                 SELECT tenant_id, webhook_id, count(*) AS n FROM read.webhook_queue
                  WHERE status = 'sent' AND lease_until > $1 GROUP BY 1, 2),
             due AS (
                 SELECT e.tenant_id, c.delivery_id
                   FROM read.webhook_endpoints e
                   LEFT JOIN busy b ON b.tenant_id = e.tenant_id AND b.webhook_id = e.webhook_id
                  CROSS JOIN LATERAL (
                        (SELECT q.delivery_id FROM read.webhook_queue q
                          WHERE q.tenant_id = e.tenant_id AND q.webhook_id = e.webhook_id
                            AND q.status = 'sent' AND q.lease_until <= $1
                          ORDER BY q.lease_until LIMIT $3)
                        UNION ALL
                        (SELECT q.delivery_id FROM read.webhook_queue q
                          WHERE q.tenant_id = e.tenant_id AND q.webhook_id = e.webhook_id
                            AND q.status IN ('pending', 'retry') AND q.due_at <= $1
                          ORDER BY q.due_at LIMIT $3)
                        LIMIT greatest($3 - coalesce(b.n, 0), 0)) c
                  WHERE e.active AND NOT e.deleted
                  LIMIT $4)
             UPDATE read.webhook_queue q SET status = 'sent', lease_until = $2
               FROM due
              WHERE q.tenant_id = due.tenant_id AND q.delivery_id = due.delivery_id
             RETURNING q.tenant_id, q.delivery_id",
        )
        .bind(now)
        .bind(lease_until)
        .bind(i64::from(self.config.max_in_flight))
        .bind(self.config.concurrency as i64 * 4)
        .fetch_all(&self.pool)
        .await?;
        let endpoints: Endpoints = Default::default();
        let endpoints = &endpoints;
        let results = futures::stream::iter(claimed)
            .map(|(tenant, id)| async move {
                let Ok(tenant) = TenantId::parse(&tenant) else {
                    return (id, Handed::Skipped);
                };
                match self.deliver(&tenant, id, endpoints).await {
                    Ok(handed) => (id, handed),
                    Err(e) => {
                        tracing::warn!(%id, error = %e, "a webhook delivery failed; it is due again after its claim lapses");
                        (id, Handed::Skipped)
                    }
                }
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        Ok(results)
    }

    async fn delivery_command(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
        action: DeliveryAction,
    ) -> Result<(), CommandError<DeliveryError>> {
        let outcome = match &action {
            DeliveryAction::Succeed(_) => Some(("delivered", None)),
            DeliveryAction::FailAttempt { retry_at, .. } => Some(("retry", Some(*retry_at))),
            DeliveryAction::Fail(_) => Some(("failed", None)),
            _ => None,
        };
        let committed = self
            .deliveries
            .run(
                Run::new(tenant, Target::Existing(id)),
                || Self::metadata(tenant, id),
                |_| {
                    Ok::<_, CommandError<DeliveryError>>(DeliveryCommand {
                        at,
                        actor: SYSTEM_USER,
                        action: action.clone(),
                    })
                },
            )
            .await?;
        // The claim is settled at once (its endpoint's slot freed, a retry
        // due), not when the stream brings the event back to the fan-out.
        if let Some((status, due)) = outcome
            && let Err(e) = sqlx::query(
                "UPDATE read.webhook_queue
                    SET status = $3, due_at = $4, lease_until = NULL,
                        failed_at = CASE WHEN $3 = 'failed' THEN $5 ELSE failed_at END, version = $6
                  WHERE tenant_id = $1 AND delivery_id = $2 AND version < $6",
            )
            .bind(tenant.as_str())
            .bind(id)
            .bind(status)
            .bind(due)
            .bind(at)
            .bind(committed.version as i64)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(%id, error = %e, "settling a webhook claim failed; the stream settles it");
        }
        Ok(())
    }

    async fn disable(
        &self,
        tenant: &TenantId,
        webhook: Uuid,
        at: DateTime<Utc>,
        reason: DisableReason,
        detail: String,
    ) -> Result<(), CommandError<WebhookError>> {
        tracing::warn!(%webhook, %reason, detail, "disabling a webhook");
        self.webhooks
            .run(
                Run::new(tenant, Target::Existing(webhook)),
                || Self::metadata(tenant, webhook),
                |_| {
                    Ok::<_, CommandError<WebhookError>>(WebhookCommand {
                        at,
                        actor: SYSTEM_USER,
                        action: WebhookAction::Disable {
                            reason,
                            detail: Some(detail.clone()),
                        },
                    })
                },
            )
            .await
            .map(drop)
    }

    /// The body of a delivery: the event's envelope with its personal data
    /// opened (a test: a ping in the same envelope shape).
    async fn body(
        &self,
        tenant: &TenantId,
        delivery: &WebhookDelivery,
        webhook: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<serde_json::Value>, String> {
        let event_id = delivery.event_id.unwrap_or_default();
        if delivery.event_type == event_schemas::webhook::TEST_EVENT_TYPE {
            return Ok(Some(serde_json::json!({
                "specversion": event_schemas::envelope::SPEC_VERSION,
                "id": event_id,
                "source": event_schemas::CloudEvent::source_for(tenant, event_schemas::webhook::AGGREGATE_TYPE),
                "type": event_schemas::webhook::TEST_EVENT_TYPE,
                "subject": webhook,
                "time": now,
                "datacontenttype": event_schemas::envelope::CONTENT_TYPE,
                "data": {"message": "A test delivery from Movers CRM", "webhook_id": webhook},
                "tenant": tenant,
            })));
        }
        let envelope =
            event_store::lookups::opened_envelope(&self.pool, &self.keys, tenant, event_id)
                .await
                .map_err(|e| e.to_string())?;
        match envelope {
            Some(envelope) => serde_json::to_value(envelope)
                .map(Some)
                .map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }

    /// One claimed delivery: attempt recorded, request written, result
    /// recorded; the endpoint disabled on 410 or after failing too long.
    /// Endpoint `id`, loaded once per round (its secret opened once).
    async fn webhook(
        &self,
        tenant: &TenantId,
        id: Uuid,
        endpoints: &Endpoints,
    ) -> Result<Arc<Webhook>, String> {
        let cell = {
            let mut map = endpoints.lock().await;
            map.entry((tenant.as_str().to_owned(), id))
                .or_insert_with(|| Arc::new(tokio::sync::OnceCell::new()))
                .clone()
        };
        cell.get_or_try_init(|| async {
            self.webhooks
                .load(tenant, id)
                .await
                .map(|loaded| Arc::new(loaded.state().clone()))
                .map_err(|e| e.to_string())
        })
        .await
        .cloned()
    }

    async fn deliver(
        &self,
        tenant: &TenantId,
        id: Uuid,
        endpoints: &Endpoints,
    ) -> Result<Handed, String> {
        let now = self.clock.now();
        let loaded = match self.deliveries.load(tenant, id).await {
            Ok(loaded) => loaded,
            Err(CommandError::NotFound { .. }) => return Ok(Handed::Skipped),
            Err(e) => return Err(e.to_string()),
        };
        let delivery = loaded.state().clone();
        let Some(webhook_id) = delivery.webhook_id else {
            return Ok(Handed::Skipped);
        };
        let webhook = self.webhook(tenant, webhook_id, endpoints).await?;
        if !webhook.exists() || !webhook.active {
            return Ok(Handed::Skipped);
        }
        match self
            .delivery_command(tenant, id, now, DeliveryAction::StartAttempt)
            .await
        {
            Ok(()) => {}
            Err(CommandError::Domain(DeliveryError::WrongStatus(..))) => {
                return Ok(Handed::Skipped);
            }
            Err(e) => return Err(e.to_string()),
        }
        let attempt_number = delivery.attempts + 1;
        let round_attempt = delivery.round_attempts + 1;
        let body = match self.body(tenant, &delivery, webhook_id, now).await {
            Ok(Some(body)) => body,
            Ok(None) => {
                let result = AttemptResult {
                    attempt: attempt_number,
                    status_code: None,
                    response_excerpt: String::new(),
                    duration_ms: 0,
                    error: Some("the event is not in the store".into()),
                };
                self.delivery_command(tenant, id, now, DeliveryAction::Fail(result))
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(Handed::Failed);
            }
            Err(e) => return Err(e),
        };
        let attempt = self
            .deliverer
            .deliver(outbound::Request {
                url: webhook.url.clone(),
                msg_id: id.to_string(),
                timestamp: self.clock.now().timestamp(),
                body: serde_json::to_vec(&body).map_err(|e| e.to_string())?.into(),
                secrets: webhook.signing_secrets(now),
                custom_headers: webhook
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
            .await;
        let done = self.clock.now();
        let result = AttemptResult {
            attempt: attempt_number,
            status_code: attempt.status,
            response_excerpt: attempt.response_excerpt.clone(),
            duration_ms: attempt.duration.as_millis() as u64,
            error: attempt.error.clone(),
        };
        tracing::info!(%id, attempt = attempt_number, outcome = ?attempt.outcome, status = ?attempt.status, "webhook attempt");
        let handed = match attempt.outcome {
            Outcome::Delivered => {
                self.delivery_command(tenant, id, done, DeliveryAction::Succeed(result))
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(Handed::Delivered);
            }
            Outcome::Gone => {
                self.delivery_command(tenant, id, done, DeliveryAction::Fail(result))
                    .await
                    .map_err(|e| e.to_string())?;
                self.disable(
                    tenant,
                    webhook_id,
                    done,
                    DisableReason::Gone,
                    "the endpoint answered 410 Gone".into(),
                )
                .await
                .map_err(|e| e.to_string())?;
                return Ok(Handed::Failed);
            }
            Outcome::Invalid => {
                self.delivery_command(tenant, id, done, DeliveryAction::Fail(result))
                    .await
                    .map_err(|e| e.to_string())?;
                Handed::Failed
            }
            Outcome::Retry | Outcome::Refused => {
                match self.config.schedule.next_delay(
                    round_attempt + 1,
                    attempt.retry_after,
                    (self.jitter)(),
                ) {
                    Some(delay) => {
                        let retry_at = done
                            + chrono::Duration::from_std(delay)
                                .unwrap_or(chrono::Duration::hours(1));
                        self.delivery_command(
                            tenant,
                            id,
                            done,
                            DeliveryAction::FailAttempt { result, retry_at },
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                        Handed::Retry(retry_at)
                    }
                    None => {
                        self.delivery_command(tenant, id, done, DeliveryAction::Fail(result))
                            .await
                            .map_err(|e| e.to_string())?;
                        Handed::Failed
                    }
                }
            }
        };
        // Failing for too long: the endpoint is disabled.
        let failing_since: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT failing_since FROM read.webhook_endpoints WHERE tenant_id = $1 AND webhook_id = $2",
        )
        .bind(tenant.as_str())
        .bind(webhook_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?
        .flatten();
        let limit = chrono::Duration::from_std(self.config.disable_after)
            .unwrap_or(chrono::Duration::days(5));
        if let Some(since) = failing_since
            && done - since >= limit
        {
            self.disable(
                tenant,
                webhook_id,
                done,
                DisableReason::Failing,
                format!("every delivery failed since {since}"),
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(handed)
    }
}

/// Runs the worker every `poll` until `shutdown`, one process at a time.
pub async fn run(
    worker: Arc<WebhookWorker>,
    poll: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    const LOCK: i64 = 0x7765_6268_6f6f; // "webhoo"
    crate::every_locked(&worker.pool, LOCK, poll, &shutdown, || async {
        // Round after round while there is work (for up to 2 s, then the
        // lock is let go): a full round does not wait for the next tick.
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            match worker.run_once().await {
                Ok(handed) if !handed.is_empty() && tokio::time::Instant::now() < until => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "a webhook round failed");
                    break;
                }
            }
        }
    })
    .await;
}
