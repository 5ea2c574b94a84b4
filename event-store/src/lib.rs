//! # event-store: the write side, without HTTP
//!
//! ```text
//!  route / process ─▶ Store<A>::run(Run { tenant, target }, metadata, decide)
//!                        │ load (NotFound for another tenant's) ─▶ decide(&Loaded) ─▶ A::handle
//!                        │ commit: one multi-row INSERT (sealing, data key, claims, chain hash,
//!                        │         permission check: all in the statement's triggers)
//!                        │ lost race ─▶ decided again on fresh state (bounded)
//!                        ▼
//!                     Committed { id, version, events } ─▶ signal::committed() ─▶ relay
//! ```
//!
//! * [`store`]: the command bus over postgres-es: [`Store::run`] is the one
//!   load → decide → commit loop, with its typed outcomes ([`CommandError`]).
//! * [`sealing`]: personal fields sealed on the way in, opened on the way out.
//! * [`lookups`]: reads of the tables the commit's triggers keep (claims,
//!   bookings, invoice numbers, permissions) and of an aggregate's history.
//! * [`attachments`]: files sent with messages, sealed, apart from the events.
//! * [`signal`]: the in-process commit signal.
//! * [`Stores`]: every aggregate's store by type (`stores.get::<Quote>()`).
//!
//! No HTTP type appears here: the API crates map [`CommandError`] to their
//! answers (`api_common::ApiError: From<CommandError<E>>`).

pub mod attachments;
pub mod inbound;
pub mod lookups;
pub mod sealing;
pub mod signal;
pub mod store;
pub mod stores;

pub use store::{
    ATTEMPTS, CommandError, Committed, Loaded, MAX_EVENT_BYTES, Run, Store, Target, current_version,
};
pub use stores::Stores;
