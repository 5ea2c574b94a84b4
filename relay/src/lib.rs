//! # relay: from the events table to NATS JetStream, and the tenant chain
//!
//! ```text
//!  events (committed, txid < horizon) ─▶ publish (commit order, gap-free) ─▶ JetStream
//!                                             │ once quiet, or every 50 ms
//!                                             ▼
//!                              chain: tenant_chain, chain_seals (+ checkpoint)
//!  history: verify the chains and seals, export the history (crm audit …)
//! ```
//!
//! * [`publish`] (re-exported at the root): the relay itself, its status,
//!   failure and retry.
//! * [`chain`]: links each published event into its tenant's hash chain and
//!   seals the heads.
//! * [`history`]: verification and the JSON Lines export.
//!
//! Owns `relay_checkpoints`, `tenant_chain`, `chain_checkpoint` and
//! `chain_seals`. It reads `events` (owned by `event-store`) only in commit
//! order, through its tail query: that order and the horizon it waits for
//! are the relay's own contract (decision 0021).

pub mod chain;
pub mod history;
pub mod publish;

pub use publish::*;
