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
pub mod audit;
pub mod context;
pub mod customers;
pub mod finance;
pub mod idempotency;
pub mod invoices;
pub mod leads;
pub mod money;
pub mod operations;
pub mod permissions;
pub mod quotes;
pub mod settings;

use std::sync::Arc;

use aggregates::customer::Customer;
use aggregates::lead::Lead;
use api_common::extract::parse_json;
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, JwtKeys};
use axum::body::Bytes;
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
use utoipa_axum::routes;
use uuid::Uuid;

use crate::idempotency::IdempotencyState;
use event_store::{Committed, Store};

/// Everything the command routes share.
#[derive(Clone)]
pub struct CommandState {
    pub pool: PgPool,
    pub keys: Arc<JwtKeys>,
    pub keystore: Arc<keystore::KeyStore>,
    pub customers: Arc<Store<Customer>>,
    pub leads: Arc<Store<Lead>>,
    pub quotes: Arc<Store<aggregates::quote::Quote>>,
    pub invoices: Arc<Store<aggregates::invoice::Invoice>>,
    /// Manual ledger entries.
    pub transactions: Arc<Store<aggregates::finance::FinancialTransaction>>,
    /// Each tenant's sales settings.
    pub settings: Arc<Store<aggregates::settings::SalesSettings>>,
    pub equipment: Arc<Store<aggregates::equipment::Equipment>>,
    pub assignments: Arc<Store<aggregates::assignment::EquipmentAssignment>>,
    pub inventory: Arc<Store<aggregates::inventory::InventoryItem>>,
    /// Records exports of the history.
    pub exports: Arc<Store<aggregates::audit_export::AuditExport>>,
    /// Each tenant's permission matrix.
    pub permissions: Arc<Store<aggregates::permissions::TenantPermissions>>,
    /// Callers' policies (shared with the auth middleware's cache).
    pub policies: api_common::PolicyStore,
}

impl CommandState {
    pub fn new(pool: PgPool, keys: Arc<JwtKeys>, keystore: Arc<keystore::KeyStore>) -> Self {
        Self {
            customers: Arc::new(Store::new(pool.clone(), keystore.clone())),
            leads: Arc::new(Store::new(pool.clone(), keystore.clone())),
            quotes: Arc::new(Store::new(pool.clone(), keystore.clone())),
            invoices: Arc::new(Store::new(pool.clone(), keystore.clone())),
            transactions: Arc::new(Store::new(pool.clone(), keystore.clone())),
            settings: Arc::new(Store::new(pool.clone(), keystore.clone())),
            equipment: Arc::new(Store::new(pool.clone(), keystore.clone())),
            assignments: Arc::new(Store::new(pool.clone(), keystore.clone())),
            inventory: Arc::new(Store::new(pool.clone(), keystore.clone())),
            exports: Arc::new(Store::new(pool.clone(), keystore.clone())),
            permissions: Arc::new(Store::new(pool.clone(), keystore.clone())),
            policies: api_common::PolicyStore::new(pool.clone()),
            pool,
            keys,
            keystore,
        }
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

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(api_common::extract::body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(JsonOrEmpty)
    }
}

/// Every command route, documented, with idempotency keys on POST.
pub fn router(state: CommandState) -> OpenApiRouter {
    let idempotency = IdempotencyState {
        pool: state.pool.clone(),
        keys: state.keys.clone(),
    };
    OpenApiRouter::new()
        .checked_routes(routes!(customers::register))
        .checked_routes(routes!(customers::update))
        .checked_routes(routes!(customers::deactivate))
        .checked_routes(routes!(customers::reactivate))
        .checked_routes(routes!(customers::forget))
        .checked_routes(routes!(customers::tag))
        .checked_routes(routes!(customers::untag))
        .checked_routes(routes!(leads::create))
        .checked_routes(routes!(leads::update))
        .checked_routes(routes!(leads::transition))
        .checked_routes(routes!(leads::assign))
        .checked_routes(routes!(leads::record_activity))
        .checked_routes(routes!(quotes::create))
        .checked_routes(routes!(quotes::update))
        .checked_routes(routes!(quotes::copy))
        .checked_routes(routes!(quotes::approve))
        .checked_routes(routes!(quotes::send))
        .checked_routes(routes!(quotes::view))
        .checked_routes(routes!(quotes::accept))
        .checked_routes(routes!(quotes::reject))
        .checked_routes(routes!(quotes::revise))
        .checked_routes(routes!(quotes::convert))
        .checked_routes(routes!(quotes::deposit))
        .checked_routes(routes!(invoices::create))
        .checked_routes(routes!(invoices::from_quote))
        .checked_routes(routes!(invoices::update))
        .checked_routes(routes!(invoices::issue))
        .checked_routes(routes!(invoices::void))
        .checked_routes(routes!(invoices::pay))
        .checked_routes(routes!(invoices::refund))
        .checked_routes(routes!(invoices::credit_note))
        .checked_routes(routes!(invoices::stop_recurring))
        .checked_routes(routes!(finance::record))
        .checked_routes(routes!(settings::get, settings::update))
        .checked_routes(routes!(operations::register))
        .checked_routes(routes!(operations::update))
        .checked_routes(routes!(operations::retire))
        .checked_routes(routes!(operations::sell))
        .checked_routes(routes!(operations::report_defect))
        .checked_routes(routes!(operations::repair))
        .checked_routes(routes!(operations::schedule_maintenance))
        .checked_routes(routes!(operations::start_maintenance))
        .checked_routes(routes!(operations::complete_maintenance))
        .checked_routes(routes!(operations::cancel_maintenance))
        .checked_routes(routes!(operations::assign))
        .checked_routes(routes!(operations::checkout))
        .checked_routes(routes!(operations::return_equipment))
        .checked_routes(routes!(operations::cancel))
        .checked_routes(routes!(operations::reschedule))
        .checked_routes(routes!(operations::create_item))
        .checked_routes(routes!(operations::update_item))
        .checked_routes(routes!(operations::record_transaction))
        .checked_routes(routes!(operations::transfer))
        .checked_routes(routes!(permissions::matrix))
        .checked_routes(routes!(permissions::set_role_permission))
        .checked_routes(routes!(permissions::grant, permissions::grants))
        .checked_routes(routes!(permissions::revoke))
        .checked_routes(routes!(audit::history))
        .checked_routes(routes!(audit::state))
        .checked_routes(routes!(audit::export))
        .layer(from_fn_with_state(idempotency, idempotency::idempotency))
        .with_state(state)
}
