//! Time-driven policies: quotes expire when `valid_until` passes while they
//! await an answer; issued invoices turn OVERDUE when their due date passes
//! with a balance left; recurring invoices generate the next cycle's
//! invoice. Each outcome is an event, raised by a command, never a trick of
//! the read side.
//!
//! ```text
//!  JetStream ──proj-deadlines──▶ Deadlines (own tables: what falls due when)
//!                                        │
//!  ticker (every CRM_POLICY_INTERVAL_SECS, one process at a time) ─ due rows ─▶ commands:
//!      Quote::Expire { today }   Invoice::MarkOverdue { as_of }   Invoice::GenerateNextCycle
//! ```
//!
//! The commands are idempotent in the aggregates (an already expired quote
//! or flagged invoice yields no event), so a tick that runs twice, or two
//! processes ticking at once, change nothing twice. "Today" is the UTC date.

use std::sync::Arc;
use std::time::Duration;

use aggregates::quote::{Quote, QuoteAction, QuoteCommand};
use chrono::{NaiveDate, Utc};
use command_api::store::{CommandError, Store};
use event_schemas::quote::AGGREGATE_TYPE as QUOTE;
use event_schemas::{EventMetadata, Role, SYSTEM_USER, TenantId};
use projections::{ProjectedEvent, Projection, ProjectionError};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Keeps what falls due when.
pub struct Deadlines;

const DDL: &str = r#"
CREATE TABLE deadline_quotes (
    tenant_id   text    NOT NULL,
    quote_id    uuid    NOT NULL,
    valid_until date    NOT NULL,
    -- Sent (or viewed) and waiting for the customer's answer.
    awaiting    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, quote_id)
);
CREATE INDEX deadline_quotes_due ON deadline_quotes (valid_until) WHERE awaiting;
"#;

#[derive(serde::Deserialize)]
struct Validity {
    valid_until: NaiveDate,
}

#[async_trait::async_trait]
impl Projection for Deadlines {
    fn name(&self) -> &'static str {
        "deadlines"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["deadline_quotes"]
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
        let tenant = e.tenant.as_str();
        if e.aggregatetype == QUOTE {
            let id = ev.aggregate_uuid()?;
            let awaiting = match e.event_type.as_str() {
                "QuoteDrafted" | "QuoteDraftUpdated" => {
                    let d: Validity = ev.data()?;
                    sqlx::query(
                        "INSERT INTO deadline_quotes (tenant_id, quote_id, valid_until) VALUES ($1, $2, $3)
                         ON CONFLICT (tenant_id, quote_id) DO UPDATE SET valid_until = EXCLUDED.valid_until",
                    )
                    .bind(tenant)
                    .bind(id)
                    .bind(d.valid_until)
                    .execute(&mut *conn)
                    .await?;
                    return Ok(());
                }
                "QuoteSent" => true,
                "QuoteAccepted" | "QuoteRejected" | "QuoteExpired" | "QuoteRevised"
                | "QuoteConverted" => false,
                _ => return Ok(()),
            };
            sqlx::query(
                "UPDATE deadline_quotes SET awaiting = $3 WHERE tenant_id = $1 AND quote_id = $2",
            )
            .bind(tenant)
            .bind(id)
            .bind(awaiting)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// The stores the policies command.
#[derive(Clone)]
pub struct PolicyStores {
    pub pool: PgPool,
    pub quotes: Arc<Store<Quote>>,
}

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PolicyReport {
    pub quotes_expired: usize,
}

fn system_metadata(tenant: &TenantId, policy: &str) -> EventMetadata {
    let command_id = Uuid::now_v7();
    EventMetadata {
        tenant_id: tenant.clone(),
        user_id: SYSTEM_USER,
        role: Role::System,
        correlation_id: format!("policy:{policy}:{command_id}"),
        causation_id: command_id.to_string(),
        command_id,
        recorded_at: Utc::now(),
    }
}

/// Runs every policy once for `today`.
pub async fn run_once(
    stores: &PolicyStores,
    today: NaiveDate,
) -> Result<PolicyReport, sqlx::Error> {
    let mut report = PolicyReport::default();
    let due: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT tenant_id, quote_id FROM read.deadline_quotes WHERE awaiting AND valid_until < $1 ORDER BY valid_until LIMIT 1000",
    )
    .bind(today)
    .fetch_all(&stores.pool)
    .await?;
    for (tenant, id) in due {
        let Ok(tenant) = TenantId::parse(&tenant) else {
            continue;
        };
        for _ in 0..3 {
            let Ok(loaded) = stores.quotes.load(&tenant, id).await else {
                break;
            };
            let command = QuoteCommand {
                at: Utc::now(),
                actor: SYSTEM_USER,
                action: QuoteAction::Expire { today },
            };
            match stores
                .quotes
                .execute(loaded, command, &system_metadata(&tenant, "quote-expiry"))
                .await
            {
                Ok(c) => {
                    report.quotes_expired += c.events;
                    break;
                }
                Err(CommandError::Conflict) => continue,
                Err(e) => {
                    tracing::warn!(quote_id = %id, error = %e, "quote expiry failed");
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// Ticks every `interval` until cancelled. Ticks of several processes are
/// harmless (the commands are idempotent), but one at a time is cheaper: a
/// tick runs only while it holds a transaction-level advisory lock.
pub async fn run(stores: PolicyStores, interval: Duration, shutdown: CancellationToken) {
    const LOCK: i64 = 0x706f_6c69_6379; // "policy"
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let Ok(mut lock) = stores.pool.begin().await else {
            continue;
        };
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(LOCK)
            .fetch_one(&mut *lock)
            .await
            .unwrap_or(false);
        if !held {
            continue;
        }
        match run_once(&stores, Utc::now().date_naive()).await {
            Ok(report) if report != PolicyReport::default() => {
                tracing::info!(?report, "policies applied")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a policy tick failed"),
        }
        let _ = lock.commit().await;
    }
}
