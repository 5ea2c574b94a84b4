//! # processes: what the backend does by itself
//!
//! * [`pipeline`]: the sales process manager. Fed from JetStream like a
//!   projection (same exactly-once runner, same restart safety), it moves
//!   leads along the pipeline when their quotes are sent, accepted or
//!   rejected, and puts a converted quote's job on the dispatch board.
//! * [`policies`]: time-driven policies (quote expiry, invoice overdue,
//!   recurring invoices): a projection of what falls due when, and a ticker
//!   that issues the commands.
//!
//! * [`sender`]: delivers queued email and SMS; [`rules`]: automated
//!   messages; [`compose`]: composing a message from a template.
//! * [`imports`]: CSV imports of customers and leads, staged and worked
//!   through in batches.
//! * [`webhooks`]: outbound webhooks: fan-out of subscribed events into
//!   deliveries, and the worker that delivers them.
//!
//! They act through the aggregates' commands, with role `system`, so the
//! audit trail shows why.

pub mod compose;
pub mod imports;
pub mod pipeline;
pub mod policies;
pub mod reports;
pub mod rules;
pub mod sender;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use event_store::Stores;
use projections::Projection;

/// The stream consumers of this crate, run and managed like projections.
pub fn consumers(stores: &Stores) -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(pipeline::LeadPipeline {
            leads: stores.get(),
            schedules: stores.get(),
            profiles: stores.get(),
        }),
        Arc::new(policies::Deadlines),
        Arc::new(sender::Outbox),
        Arc::new(rules::RuleTriggers {
            profiles: stores.get(),
        }),
        Arc::new(webhooks::WebhookFanout {
            webhooks: stores.get(),
            deliveries: stores.get(),
            keys: stores.keys().clone(),
        }),
    ]
}

/// Runs `round` every `interval` until `shutdown`, in one process at a time:
/// each round holds the transaction-level advisory lock `lock` (a process
/// that can't take it skips the round).
pub(crate) async fn every_locked<F, Fut>(
    pool: &PgPool,
    lock: i64,
    interval: Duration,
    shutdown: &CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let Ok(mut tx) = pool.begin().await else {
            continue;
        };
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(lock)
            .fetch_one(&mut *tx)
            .await
            .unwrap_or(false);
        if held {
            round().await;
        }
        let _ = tx.commit().await;
    }
}
