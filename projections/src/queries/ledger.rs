//! `read.financial_transactions` (the `ledger` projection): ledger
//! entries, newest transaction date first.
//!
//! An entry is owned by whoever recorded it and is at no location (a
//! LOCATION scope alone sees none).

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::TenantId;
use event_schemas::money::FinancialTransactionType;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Page, Scope};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "ledger";
pub const TABLE: &str = "read.financial_transactions";
/// The columns of a [`TransactionRow`].
pub const COLUMNS: &str = "id, source, transaction_type, amount, cash_effect, currency, description, category, subcategory, \
     reference, notes, tags, transaction_date, occurred_at, customer_id, quote_id, invoice_id, journey_id, \
     payment_id, recorded_by, recorded_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransactionRow {
    pub id: Uuid,
    pub source: String,
    pub transaction_type: String,
    pub amount: Decimal,
    pub cash_effect: Decimal,
    pub currency: String,
    pub description: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub reference: Option<String>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub transaction_date: NaiveDate,
    pub occurred_at: DateTime<Utc>,
    pub customer_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// What a ledger list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    /// First transaction date (inclusive).
    pub from: Option<NaiveDate>,
    /// Last transaction date (inclusive).
    pub to: Option<NaiveDate>,
    pub transaction_type: Option<FinancialTransactionType>,
}

/// A page of the entries of `tenant` that `scope` covers, newest
/// transaction date first (then id), after `page.after`.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &TransactionFilter,
    page: Page<(NaiveDate, Uuid)>,
) -> Result<Vec<TransactionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}
           FROM {TABLE}
          WHERE tenant_id = $1
            AND (NOT $2 OR ($3::uuid IS NOT NULL AND recorded_by = $3))
            AND ($4::date IS NULL OR transaction_date >= $4)
            AND ($5::date IS NULL OR transaction_date <= $5)
            AND ($6::text IS NULL OR transaction_type = $6)
            AND ($7::date IS NULL OR (transaction_date, id) < ($7, $8))
          ORDER BY transaction_date DESC, id DESC
          LIMIT $9"
    ))
    .bind(tenant.as_str())
    .bind(scope.limited)
    .bind(scope.own)
    .bind(filter.from)
    .bind(filter.to)
    .bind(
        filter
            .transaction_type
            .map(FinancialTransactionType::as_str),
    )
    .bind(page.after.map(|(d, _)| d))
    .bind(page.after.map(|(_, id)| id).unwrap_or_default())
    .bind(page.fetch())
    .fetch_all(pool)
    .await
}
