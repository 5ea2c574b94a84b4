//! # query-api: the read side
//!
//! ```text
//!  GET ─▶ Principal (JWT) ─▶ authz::list_scope / authorize ─▶ SELECT … FROM read.<table>
//!                                                              WHERE tenant_id = <caller's tenant> …
//!        ?min_version=N ─▶ N beyond the event store's version: 422 at once (StoreVersions)
//!                       ─▶ else wait (≤ 5 s) on NOTIFY crm_read_models until the row reaches N, else 503
//! ```
//!
//! Every query is scoped to the caller's tenant: another tenant's id is
//! simply not found. Lists are keyset-paginated, newest first.

pub mod assignments;
pub mod audit;
pub mod customers;
pub mod equipment;
pub mod finance;
pub mod inventory;
pub mod invoices;
pub mod leads;
pub mod ops_reports;
pub mod quotes;
pub mod reports;
pub mod wait;

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
        equipment::router(),
        assignments::router(),
        inventory::router(),
        ops_reports::router(),
    ];
    modules
        .into_iter()
        .fold(OpenApiRouter::new(), CheckedRoutes::checked_merge)
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

type Select<'q, T> = sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>;

/// A page of `table`'s rows the caller's scope covers, newest first
/// (`created_at`, `id`). `owner` and `location` are the SQL expressions
/// OWN and LOCATION scopes look at; `filters` are more `AND …` conditions
/// whose parameters start at `$8`, bound by `bind`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn newest_first<T>(
    state: &QueryState,
    principal: &api_common::Principal,
    scope: &api_common::ListScope,
    (table, columns): (&str, &str),
    (owner, location): (&str, &str),
    filters: &str,
    (limit, cursor): (Option<u32>, Option<&str>),
    bind: impl for<'q> FnOnce(Select<'q, T>) -> Select<'q, T>,
    key: impl Fn(&T) -> (chrono::DateTime<chrono::Utc>, uuid::Uuid),
) -> api_common::ApiResult<api_common::ListResponse<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    use api_common::pagination;
    let limit = pagination::limit(limit)?;
    let after: Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)> =
        pagination::decode_cursor(cursor)?;
    let sql = format!(
        "SELECT {columns} FROM {table}
          WHERE tenant_id = $1
            AND (NOT $2 OR ($3::uuid IS NOT NULL AND {owner} = $3)
                        OR ($4::text[] IS NOT NULL AND {location} = ANY($4)))
            AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
            {filters}
          ORDER BY created_at DESC, id DESC
          LIMIT $7"
    );
    let query = sqlx::query_as(&sql)
        .bind(principal.tenant.as_str())
        .bind(scope.is_limited())
        .bind(scope.own())
        .bind(scope.locations())
        .bind(after.map(|(t, _)| t))
        .bind(after.map(|(_, id)| id).unwrap_or_default())
        .bind(i64::from(limit) + 1);
    let rows: Vec<T> = bind(query).fetch_all(&state.pool).await?;
    Ok(pagination::page(rows, limit, key))
}

/// The rows of `sql` (`$1` the caller's tenant, `$2` the parent's id).
pub(crate) async fn children<T>(
    state: &QueryState,
    principal: &api_common::Principal,
    sql: &str,
    parent: uuid::Uuid,
) -> api_common::ApiResult<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    Ok(sqlx::query_as(sql)
        .bind(principal.tenant.as_str())
        .bind(parent)
        .fetch_all(&state.pool)
        .await?)
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(super::like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
