//! # query-api: the read side
//!
//! ```text
//!  GET ─▶ Principal (JWT) ─▶ authz::list_scope / authorize ─▶ SELECT … FROM read.<table>
//!                                                              WHERE tenant_id = <caller's tenant> …
//!        ?min_version=N ─▶ wait (≤ 5 s) on NOTIFY crm_read_models until the row reaches N, else 503
//! ```
//!
//! Every query is scoped to the caller's tenant: another tenant's id is
//! simply not found. Lists are keyset-paginated, newest first.

pub mod audit;
pub mod customers;
pub mod leads;
pub mod wait;

use std::sync::Arc;

use api_common::JwtKeys;
use axum::extract::FromRef;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use wait::ReadModelWatch;

#[derive(Clone)]
pub struct QueryState {
    pub pool: PgPool,
    pub keys: Arc<JwtKeys>,
    pub watch: ReadModelWatch,
}

impl FromRef<QueryState> for api_common::PolicyStore {
    fn from_ref(state: &QueryState) -> Self {
        api_common::PolicyStore(state.pool.clone())
    }
}

impl FromRef<QueryState> for Arc<JwtKeys> {
    fn from_ref(state: &QueryState) -> Self {
        state.keys.clone()
    }
}

/// Every query route, documented.
pub fn router(state: QueryState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(customers::get_customer))
        .routes(routes!(customers::list_customers))
        .routes(routes!(leads::get_lead))
        .routes(routes!(leads::list_leads))
        .routes(routes!(leads::lead_timeline))
        .routes(routes!(audit::list_events))
        .with_state(state)
}

/// Escapes `%`, `_` and `\` for use inside a LIKE pattern.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(super::like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
