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
//! Both act through the aggregates' commands, with role `system` and the
//! causing event's id as causation id, so the audit trail shows why.

pub mod compose;
pub mod pipeline;
pub mod policies;
pub mod rules;
pub mod sender;

use std::sync::Arc;

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
    ]
}
