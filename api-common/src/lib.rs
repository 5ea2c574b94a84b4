//! # api-common: what the command and query APIs share
//!
//! ```text
//! request ─▶ request id ─▶ trace span ─▶ metrics ─▶ auth::authenticate (JWT, 401 first) ─▶ authz::authorize ─▶ handler
//!                                                                          │
//!                      any failure ─▶ ApiError ─▶ application/problem+json ◀┘
//! ```
//!
//! * [`auth`]: HS256 bearer tokens → [`auth::Principal`] (tenant, user, role).
//! * [`authz`]: the single authorization decision used by every route and list.
//! * [`problem`]: RFC 9457 error responses.
//! * [`extract`]: strict JSON / query / path / `If-Match` extractors.
//! * [`pagination`]: keyset cursors and the list envelope.
//! * [`http`]: the middleware stack every router gets.
//! * [`openapi`]: building the OpenAPI document without schema name collisions.

pub mod auth;
pub mod authz;
pub mod extract;
pub mod http;
pub mod openapi;
pub mod pagination;
pub mod policies;
pub mod problem;
pub mod ratelimit;

pub use auth::{AuthState, JwtKeys, Principal};
pub use authz::{Action, ListScope, Policy, RecordOwnership, Resource, Scope};
pub use extract::{ApiJson, ApiQuery, IfMatch, PathId};
pub use pagination::ListResponse;
pub use policies::PolicyStore;
pub use problem::{ApiError, ApiResult, Problem, ProblemField};
