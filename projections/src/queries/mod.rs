//! # The read models' queries
//!
//! Every statement the read side (query-api) runs against a read-model table
//! lives here, next to the projection that creates and fills the table: one
//! module per read model, each with its table's name (`TABLE`, in the live
//! schema [`crate::LIVE_SCHEMA`]), the columns it reads (`COLUMNS`), the
//! projection that owns it (`PROJECTION`, the name its projector notifies
//! on [`crate::READ_MODEL_CHANNEL`]), its row types and typed functions. A
//! table or column renamed here fails to compile where it is used; one
//! renamed in a DDL and not here fails this module's test, which creates
//! every projection's tables and runs every query against them.
//!
//! Every query is scoped to one tenant. Lists take a [`Page`] and return up
//! to `limit + 1` rows: the extra row only tells that there is a next page
//! (the caller cuts it off and makes the cursor). What a caller's role may
//! see in a list is a [`Scope`], plain values computed by the caller's
//! authorization.

pub mod analytics;
pub mod assignments;
pub mod audit;
pub mod availability;
pub mod calendar;
pub mod communications;
pub mod crew_utilization;
pub mod customers;
pub mod dashboards;
pub mod equipment;
pub mod integrations;
pub mod inventory;
pub mod invoices;
pub mod leads;
pub mod ledger;
pub mod quotes;
pub mod report_sources;
pub mod reports;
pub mod rules;
pub mod saved_reports;
pub mod schedules;
pub mod staff;
pub mod templates;
pub mod timeline;
pub mod webhooks;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use event_schemas::TenantId;
use sqlx::PgPool;
use sqlx::postgres::PgRow;
use uuid::Uuid;

/// Which rows of a list the caller may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `false`: every row of the tenant (the other fields are ignored).
    pub limited: bool,
    /// A limited caller sees the rows it owns (how a row is owned is the
    /// read model's rule).
    pub own: Option<Uuid>,
    /// A limited caller sees the rows at these locations.
    pub locations: Option<Vec<String>>,
}

impl Scope {
    /// Every row of the tenant.
    pub fn all() -> Self {
        Self::default()
    }
}

/// A page of a list: at most `limit` rows after the cursor's key `after`
/// (none: from the start). A query returns up to `limit + 1` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page<K> {
    pub limit: u32,
    pub after: Option<K>,
}

impl<K> Page<K> {
    /// The rows to fetch: one more than the page, to know whether another follows.
    pub(crate) fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// A list's keyset: newest first, by creation time then id.
pub type NewestFirst = Page<(DateTime<Utc>, Uuid)>;

/// Escapes `%`, `_` and `\` for use inside a LIKE pattern.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) type Select<'q, T> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>;

/// `"SELECT {columns} FROM {table} WHERE tenant_id = $1 AND id = $2"`, fetched.
pub(crate) async fn by_id<T>(
    pool: &PgPool,
    (table, columns): (&str, &str),
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    sqlx::query_as(&format!(
        "SELECT {columns} FROM {table} WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A page of `table`'s rows `scope` covers, newest first (`created_at`,
/// `id`). `owner` and `location` are the SQL expressions OWN and LOCATION
/// scopes look at (`$3` is the owner, `$1` the tenant); `filters` are more
/// `AND …` conditions whose parameters start at `$8`, bound by `bind`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn newest_first<T>(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    (table, columns): (&str, &str),
    (owner, location): (&str, &str),
    filters: &str,
    page: NewestFirst,
    bind: impl for<'q> FnOnce(Select<'q, T>) -> Select<'q, T>,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
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
        .bind(tenant.as_str())
        .bind(scope.limited)
        .bind(scope.own)
        .bind(scope.locations.clone())
        .bind(page.after.map(|(t, _)| t))
        .bind(page.after.map(|(_, id)| id).unwrap_or_default())
        .bind(page.fetch());
    bind(query).fetch_all(pool).await
}

/// The rows of `sql` (`$1` the tenant, `$2` the parent's id).
pub(crate) async fn children<T>(
    pool: &PgPool,
    tenant: &TenantId,
    sql: &str,
    parent: Uuid,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .bind(tenant.as_str())
        .bind(parent)
        .fetch_all(pool)
        .await
}

/// Every table the queries read and the columns they select from it, for
/// the test that checks them against the projections' DDL.
#[cfg(test)]
pub(crate) fn column_sets() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (customers::PROJECTION, customers::TABLE, customers::COLUMNS),
        (
            dashboards::PROJECTION,
            dashboards::TABLE,
            dashboards::COLUMNS,
        ),
        (
            dashboards::PROJECTION,
            dashboards::DEFAULTS,
            dashboards::DEFAULT_COLUMNS,
        ),
        (leads::PROJECTION, leads::TABLE, leads::COLUMNS),
        (timeline::PROJECTION, timeline::TABLE, timeline::COLUMNS),
        (audit::PROJECTION, audit::TABLE, audit::COLUMNS),
        (quotes::PROJECTION, quotes::TABLE, quotes::COLUMNS),
        (quotes::PROJECTION, quotes::DEPOSITS, crate::PAYMENT_COLUMNS),
        (
            quotes::PROJECTION,
            quotes::REVISIONS,
            quotes::REVISION_COLUMNS,
        ),
        (invoices::PROJECTION, invoices::TABLE, invoices::COLUMNS),
        (
            invoices::PROJECTION,
            invoices::PAYMENTS,
            crate::PAYMENT_COLUMNS,
        ),
        (
            invoices::PROJECTION,
            invoices::PAYMENTS,
            invoices::PAYMENT_EXTRA_COLUMNS,
        ),
        (
            invoices::PROJECTION,
            invoices::REFUNDS,
            invoices::REFUND_COLUMNS,
        ),
        (
            invoices::PROJECTION,
            invoices::CREDIT_NOTES,
            invoices::CREDIT_NOTE_COLUMNS,
        ),
        (ledger::PROJECTION, ledger::TABLE, ledger::COLUMNS),
        (equipment::PROJECTION, equipment::TABLE, equipment::COLUMNS),
        (
            equipment::PROJECTION,
            equipment::MAINTENANCE,
            equipment::MAINTENANCE_COLUMNS,
        ),
        (
            equipment::PROJECTION,
            equipment::DEFECTS,
            equipment::DEFECT_COLUMNS,
        ),
        (
            equipment::PROJECTION,
            equipment::TABLE,
            equipment::MAINTENANCE_DUE_COLUMNS,
        ),
        (
            assignments::PROJECTION,
            assignments::TABLE,
            assignments::COLUMNS,
        ),
        (inventory::PROJECTION, inventory::TABLE, inventory::COLUMNS),
        (
            inventory::PROJECTION,
            inventory::TRANSACTIONS,
            inventory::TRANSACTION_COLUMNS,
        ),
        (staff::PROJECTION, staff::TABLE, staff::COLUMNS),
        (templates::PROJECTION, templates::TABLE, templates::COLUMNS),
        (rules::PROJECTION, rules::TABLE, rules::COLUMNS),
        (webhooks::PROJECTION, webhooks::TABLE, webhooks::COLUMNS),
        (
            integrations::PROJECTION,
            integrations::TABLE,
            integrations::COLUMNS,
        ),
        (
            integrations::PROJECTION,
            integrations::KEYS,
            integrations::KEY_COLUMNS,
        ),
        (
            integrations::PROJECTION,
            integrations::SYNCS,
            integrations::SYNC_COLUMNS,
        ),
        (
            webhooks::PROJECTION,
            webhooks::DELIVERIES,
            webhooks::DELIVERY_COLUMNS,
        ),
        (
            webhooks::PROJECTION,
            webhooks::ATTEMPTS,
            webhooks::ATTEMPT_COLUMNS,
        ),
        (
            communications::PROJECTION,
            communications::TABLE,
            communications::COLUMNS,
        ),
        (
            templates::PROJECTION,
            templates::VERSIONS_TABLE,
            templates::VERSION_COLUMNS,
        ),
        (
            calendar::PROFILE_PROJECTION,
            calendar::PROFILES,
            "tenant_id, profile",
        ),
        (
            calendar::FEED_PROJECTION,
            calendar::FEED_TOKENS,
            "tenant_id, user_id, secret_digest, revoked_at",
        ),
        (schedules::PROJECTION, schedules::TABLE, schedules::COLUMNS),
        (
            availability::PROJECTION,
            availability::TABLE,
            "is_available, availability_type, reason, notes, rule, local_start, duration_minutes, time_zone, version",
        ),
        (
            availability::PROJECTION,
            availability::OCCURRENCES,
            "availability_id, user_id, starts_at, ends_at",
        ),
    ]
}
