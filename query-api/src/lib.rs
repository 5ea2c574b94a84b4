//! # query-api: the read side
//!
//! ```text
//!  GET ─▶ Principal (JWT) ─▶ authz::list_scope / authorize ─▶ projections::queries::<read model>
//!                                                              (the caller's tenant, its scope, the filters)
//!        ?min_version=N ─▶ N beyond the event store's version: 422 at once (StoreVersions)
//!                       ─▶ else wait (≤ 5 s) on NOTIFY crm_read_models until the row reaches N, else 503
//! ```
//!
//! Every query is scoped to the caller's tenant: another tenant's id is
//! simply not found. Lists are keyset-paginated, newest first. The SQL
//! lives with the projections that own the tables
//! (`projections::queries`); this crate checks the caller and the
//! parameters and shapes the answers (views, ETags, cursors, OpenAPI).

pub mod assignments;
pub mod audit;
pub mod availability;
pub mod calendar;
pub mod communications;
pub mod customers;
pub mod dashboards;
pub mod equipment;
pub mod finance;
pub mod integrations;
pub mod inventory;
pub mod invoices;
pub mod kpis;
pub mod leads;
pub mod ops_reports;
pub mod quotes;
pub mod reports;
pub mod rules;
pub mod saved_reports;
pub mod schedules;
pub mod staff;
pub mod templates;
pub mod wait;
pub mod webhooks;

use std::sync::Arc;

use api_common::JwtKeys;
use api_common::openapi::CheckedRoutes;
use axum::extract::FromRef;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;

pub use wait::{ReadModelWatch, StoreVersions, Versions};

#[derive(Clone)]
pub struct QueryState {
    pub pool: PgPool,
    pub keys: Arc<JwtKeys>,
    pub watch: ReadModelWatch,
    /// Entity versions in the event store (owned by command-api).
    pub versions: Versions,
    /// Callers' policies (shared with the auth middleware's cache).
    pub policies: api_common::PolicyStore,
}

impl FromRef<QueryState> for api_common::PolicyStore {
    fn from_ref(state: &QueryState) -> Self {
        state.policies.clone()
    }
}

impl FromRef<QueryState> for Arc<JwtKeys> {
    fn from_ref(state: &QueryState) -> Self {
        state.keys.clone()
    }
}

/// Every query route, documented.
pub fn router(state: QueryState) -> OpenApiRouter {
    let modules = [
        customers::router(),
        leads::router(),
        audit::router(),
        quotes::router(),
        invoices::router(),
        finance::router(),
        reports::router(),
        saved_reports::router(),
        equipment::router(),
        assignments::router(),
        inventory::router(),
        ops_reports::router(),
        staff::router(),
        schedules::router(),
        availability::router(),
        calendar::router(),
        templates::router(),
        communications::router(),
        rules::router(),
        webhooks::router(),
        integrations::router(),
        dashboards::router(),
    ];
    modules
        .into_iter()
        .fold(OpenApiRouter::new(), CheckedRoutes::checked_merge)
        .with_state(state)
}

/// The read routes that authenticate by themselves, outside the bearer-token
/// layer: a calendar feed's secret URL (a phone calendar sends no header).
pub fn public_router(state: QueryState) -> OpenApiRouter {
    calendar::public_router().with_state(state)
}

/// Serializes money as a decimal string with exactly two places
/// (`"0.00"`, `"1130.00"`), whatever scale the database returned.
pub(crate) fn money<S: serde::Serializer>(
    amount: &rust_decimal::Decimal,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{amount:.2}"))
}

/// [`money`] for an optional amount.
pub(crate) fn money_opt<S: serde::Serializer>(
    amount: &Option<rust_decimal::Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match amount {
        Some(amount) => money(amount, serializer),
        None => serializer.serialize_none(),
    }
}

/// Serializes a stock quantity with exactly three places (`"0.000"`).
pub(crate) fn quantity<S: serde::Serializer>(
    amount: &rust_decimal::Decimal,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{amount:.3}"))
}

/// [`quantity`] for an optional quantity.
pub(crate) fn quantity_opt<S: serde::Serializer>(
    amount: &Option<rust_decimal::Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match amount {
        Some(amount) => quantity(amount, serializer),
        None => serializer.serialize_none(),
    }
}

/// Serializes a unit cost with exactly four places (the weighted average's).
pub(crate) fn unit_cost<S: serde::Serializer>(
    amount: &rust_decimal::Decimal,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{amount:.4}"))
}

/// [`unit_cost`] for an optional cost.
pub(crate) fn unit_cost_opt<S: serde::Serializer>(
    amount: &Option<rust_decimal::Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match amount {
        Some(amount) => unit_cost(amount, serializer),
        None => serializer.serialize_none(),
    }
}

/// What `scope` lets the caller see in a list, as the queries take it.
pub(crate) fn scope(scope: &api_common::ListScope) -> projections::queries::Scope {
    projections::queries::Scope {
        limited: scope.is_limited(),
        own: scope.own(),
        locations: scope.locations().map(<[String]>::to_vec),
    }
}

/// The page a list's `limit` and `cursor` ask for (400/422 naming the
/// parameter when either is invalid).
pub(crate) fn page<K: serde::de::DeserializeOwned>(
    limit: Option<u32>,
    cursor: Option<&str>,
) -> api_common::ApiResult<projections::queries::Page<K>> {
    let limit = api_common::pagination::limit(limit)?;
    let after = api_common::pagination::decode_cursor(cursor)?;
    Ok(projections::queries::Page { limit, after })
}

/// `impl From<$row> for $view`, field by field: each listed field of the
/// row is moved into the view's field of the same name, or into what the
/// expression after `:` makes of it. Both lists are exhaustive (a
/// destructuring and a struct literal), so a field added on one side only
/// fails to compile.
macro_rules! view_from_row {
    ($row:ident => $view:ident { $($field:ident $(: $conv:expr)?),* $(,)? }) => {
        impl From<$row> for $view {
            fn from(row: $row) -> Self {
                let $row { $($field),* } = row;
                Self { $($field $(: $conv)?),* }
            }
        }
    };
}
pub(crate) use view_from_row;

/// 422 naming `to` when a date range ends before it starts.
pub(crate) fn check_range<T: PartialOrd>(
    from: Option<T>,
    to: Option<T>,
) -> api_common::ApiResult<()> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(api_common::ApiError::invalid_field(
            "to",
            "must not be before `from`",
        )),
        _ => Ok(()),
    }
}
