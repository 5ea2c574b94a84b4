//! # command-api: the write side
//!
//! ```text
//!  POST/PATCH ─▶ idempotency ─▶ CommandContext (JWT + request id)
//!                                   │ authz::authorize (+ record scope)
//!                                   ▼
//!              Store<A>::load ─▶ If-Match ─▶ A::handle ─▶ commit (one transaction:
//!                                                         events + uniqueness claims)
//!                                                              │
//!                          relay (LISTEN/NOTIFY + poll) ◀──────┘
//!                              │ in commit order, PubAck before checkpoint
//!                              ▼
//!                          NATS JetStream  <prefix>.events.<tenant>.<Aggregate>.<Event>
//! ```
//!
//! * [`store`]: the command bus over postgres-es (pure event sourcing).
//! * [`customers`], [`leads`]: the HTTP routes.
//! * [`idempotency`]: `Idempotency-Key` handling.
//! * [`relay`]: events table → JetStream, gap-safe, one leader at a time.

pub mod act;
pub mod attachments;
pub mod audit;
pub mod availability;
pub mod calendar;
pub mod communications;
pub mod context;
pub mod customers;
pub mod dashboards;
pub mod finance;
pub mod idempotency;
pub mod inbound;
pub mod integrations;
pub mod invoices;
pub mod leads;
pub mod money;
pub mod operations;
pub mod permissions;
pub mod profile;
pub mod quotes;
pub mod reports;
pub mod rules;
pub mod schedules;
pub mod settings;
pub mod staff;
pub mod templates;
pub mod webhooks;

use std::sync::Arc;

use api_common::extract::parse_json;
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, JwtKeys};
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header::{ETAG, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::idempotency::IdempotencyState;
use event_store::{Committed, Store, Stores};

/// Everything the command routes share.
#[derive(Clone)]
pub struct CommandState {
    pub pool: PgPool,
    pub keys: Arc<JwtKeys>,
    pub keystore: Arc<keystore::KeyStore>,
    /// Every aggregate's event store: [`CommandState::store`].
    pub stores: Stores,
    /// Callers' policies (shared with the auth middleware's cache).
    pub policies: api_common::PolicyStore,
    /// The sandboxed template renderer (worker processes).
    pub renderer: Arc<templating::Renderer>,
    /// Where the public API is reached from outside (links in messages),
    /// without a trailing slash.
    pub public_url: String,
    /// Each callback provider's Standard Webhooks secret (`whsec_…`).
    pub callback_secrets: Arc<std::collections::HashMap<String, String>>,
    /// Where webhooks may point (the SSRF guard's policy and resolver).
    pub webhooks: webhooks::WebhookGuard,
    /// Inbound leads per API key and second.
    pub inbound_limiter: Arc<api_common::ratelimit::RateLimiter>,
}

impl CommandState {
    pub fn new(
        pool: PgPool,
        keys: Arc<JwtKeys>,
        keystore: Arc<keystore::KeyStore>,
        renderer: Arc<templating::Renderer>,
    ) -> Self {
        Self {
            stores: Stores::new(pool.clone(), keystore.clone()),
            policies: api_common::PolicyStore::new(pool.clone()),
            pool,
            keys,
            keystore,
            renderer,
            public_url: "http://localhost:8080".to_owned(),
            callback_secrets: Arc::default(),
            webhooks: webhooks::WebhookGuard::default(),
            inbound_limiter: Arc::new(api_common::ratelimit::RateLimiter::new(
                api_common::ratelimit::Limits {
                    per_tenant: 0.0,
                    per_user: 10.0,
                },
            )),
        }
    }

    /// The CSV import runner over this state's stores.
    pub fn import_runner(&self) -> processes::imports::ImportRunner {
        processes::imports::ImportRunner {
            pool: self.pool.clone(),
            syncs: self.stores.get(),
            customers: self.stores.get(),
            leads: self.stores.get(),
            keys: self.keystore.clone(),
        }
    }

    /// The event store of aggregate `A`.
    pub fn store<A>(&self) -> Arc<Store<A>>
    where
        A: cqrs_es::Aggregate<Services = ()> + aggregates::TenantOwned + 'static,
        A::Error: aggregates::DomainError,
    {
        self.stores.get::<A>()
    }
}

impl FromRef<CommandState> for api_common::PolicyStore {
    fn from_ref(state: &CommandState) -> Self {
        state.policies.clone()
    }
}

impl FromRef<CommandState> for Arc<JwtKeys> {
    fn from_ref(state: &CommandState) -> Self {
        state.keys.clone()
    }
}

/// The answer to every command: the entity's id and its version after the
/// command (use it with `If-Match`, or with `?min_version=` on a GET).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommandResponse {
    pub id: Uuid,
    pub version: u64,
}

impl From<Committed> for CommandResponse {
    fn from(c: Committed) -> Self {
        Self {
            id: c.id,
            version: c.version,
        }
    }
}

/// A JSON response with `ETag: "<version>"` and optionally `Location`.
pub(crate) fn respond<T: Serialize>(
    status: StatusCode,
    location: Option<&str>,
    version: u64,
    body: &T,
) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(ETAG, etag);
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(LOCATION, location);
    }
    response
}

pub(crate) fn created(location: &str, committed: Committed) -> Response {
    respond(
        StatusCode::CREATED,
        Some(location),
        committed.version,
        &CommandResponse::from(committed),
    )
}

pub(crate) fn ok(committed: Committed) -> Response {
    respond(
        StatusCode::OK,
        None,
        committed.version,
        &CommandResponse::from(committed),
    )
}

/// A JSON body that may be left out entirely (then `T::default()`).
pub struct JsonOrEmpty<T>(pub T);

impl<S, T> FromRequest<S> for JsonOrEmpty<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = api_common::extract::read_body(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(JsonOrEmpty)
    }
}

/// The command routes that need no login (a marketing email's unsubscribe
/// link), to be merged outside the authentication layer.
pub fn public_router(state: CommandState) -> OpenApiRouter {
    communications::public_router()
        .checked_merge(inbound::public_router())
        .with_state(state)
}

/// Every command route, documented, with idempotency keys on POST.
pub fn router(state: CommandState) -> OpenApiRouter {
    let idempotency = IdempotencyState {
        pool: state.pool.clone(),
        keys: state.keys.clone(),
    };
    let modules = [
        customers::router(),
        leads::router(),
        quotes::router(),
        invoices::router(),
        finance::router(),
        settings::router(),
        profile::router(),
        staff::router(),
        schedules::router(),
        availability::router(),
        calendar::router(),
        templates::router(),
        communications::router(),
        attachments::router(),
        rules::router(),
        webhooks::router(),
        reports::router(),
        integrations::router(),
        operations::router(),
        permissions::router(),
        dashboards::router(),
        audit::router(),
    ];
    modules
        .into_iter()
        .fold(OpenApiRouter::new(), CheckedRoutes::checked_merge)
        .layer(from_fn_with_state(idempotency, idempotency::idempotency))
        .with_state(state)
}
