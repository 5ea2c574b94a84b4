//! # outbound: sending one webhook, without a database
//!
//! Everything a webhook delivery worker needs that does not touch storage,
//! so that it can be tested on its own and the worker stays about state:
//!
//! ```text
//!  event ──▶ patterns::Subscription::matches ──▶ (worker stores a message per endpoint)
//!                                                  │
//!            schedule::RetrySchedule::next_delay ◀─┤ when is the next attempt due?
//!                                                  ▼
//!  client::Deliverer::deliver(Request) ─▶ guard (scheme, port, every resolved address)
//!                                      ─▶ signing (webhook-id / -timestamp / -signature)
//!                                      ─▶ headers (the endpoint's own, checked again)
//!                                      ─▶ one POST, no redirects, no proxy, a timeout
//!                                      ─▶ Attempt { outcome, status, excerpt, retry_after, … }
//! ```
//!
//! - [`signing`]: Standard Webhooks v1 secrets and signatures.
//! - [`patterns`]: which event types an endpoint subscribed to.
//! - [`headers`]: the custom headers a user may set on an endpoint.
//! - [`guard`]: SSRF protection: which URLs and addresses may be called.
//! - [`client`]: one delivery attempt over HTTP(S).
//! - [`schedule`]: the retry schedule and a clock a test can move.

#![warn(missing_docs)]

pub mod client;
pub mod guard;
pub mod headers;
pub mod patterns;
pub mod schedule;
pub mod signing;

pub use client::{Attempt, Deliverer, DelivererBuilder, Outcome, Request};
pub use guard::{GuardError, Policy, Resolver, StaticResolver, SystemResolver};
pub use patterns::{EventPattern, PatternError, Subscription};
pub use schedule::{Clock, ManualClock, RetrySchedule, SystemClock};
