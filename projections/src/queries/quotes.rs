//! `read.quotes`, `read.quote_deposits` and `read.quote_revisions` (the
//! `quotes` projection): one quote with its deposits and revisions, and
//! lists a caller's scope covers.
//!
//! A quote is owned by its author (`created_by`), a template by everyone
//! (OWN scopes see it); it is located by `location_id`.

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::TenantId;
use event_schemas::money::QuoteStatus;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`], [`DEPOSITS`] and [`REVISIONS`].
pub const PROJECTION: &str = "quotes";
pub const TABLE: &str = "read.quotes";
/// A quote's deposits ([`crate::PAYMENT_COLUMNS`]).
pub const DEPOSITS: &str = "read.quote_deposits";
pub const REVISIONS: &str = "read.quote_revisions";
/// The columns of a [`QuoteRow`].
pub const COLUMNS: &str = "id, customer_id, lead_id, location_id, status, revision, is_template, template_name, copied_from, \
     currency, valid_until, terms, notes, pricing_type, hourly, province, tax_exempt, items, subtotal, tax_total, total, \
     tax_lines, tax_date, approved_by, approved_at, sent_by, sent_at, viewed_at, accepted_by_name, accepted_at, \
     accepted_ip, accepted_revision, selected_optional_items, accepted_totals, rejection_reason, rejected_at, \
     expired_at, journey_id, converted_at, invoice_id, invoiced_at, deposit_total, created_by, version, created_at, updated_at";
/// The columns of a [`RevisionRow`].
pub const REVISION_COLUMNS: &str = "revision, status, items, subtotal, tax_total, total, tax_lines, opened_at, sent_at, superseded_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuoteRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    pub status: String,
    pub revision: i32,
    pub is_template: bool,
    pub template_name: Option<String>,
    pub copied_from: Option<Uuid>,
    pub currency: String,
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub pricing_type: String,
    pub hourly: Option<Value>,
    pub province: String,
    pub tax_exempt: bool,
    pub items: Value,
    pub subtotal: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
    pub tax_lines: Value,
    pub tax_date: Option<NaiveDate>,
    pub approved_by: Option<Uuid>,
    pub approved_at: Option<DateTime<Utc>>,
    pub sent_by: Option<Uuid>,
    pub sent_at: Option<DateTime<Utc>>,
    pub viewed_at: Option<DateTime<Utc>>,
    pub accepted_by_name: Option<String>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_ip: Option<String>,
    pub accepted_revision: Option<i32>,
    pub selected_optional_items: Option<Vec<Uuid>>,
    pub accepted_totals: Option<Value>,
    pub rejection_reason: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub journey_id: Option<Uuid>,
    pub converted_at: Option<DateTime<Utc>>,
    pub invoice_id: Option<Uuid>,
    pub invoiced_at: Option<DateTime<Utc>>,
    pub deposit_total: Decimal,
    pub created_by: Uuid,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A payment as recorded ([`crate::PAYMENT_COLUMNS`]): a deposit on a
/// quote, a payment on an invoice.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub payment_id: Uuid,
    pub amount: Decimal,
    pub method: String,
    pub transaction_id: Option<String>,
    pub gateway: Option<String>,
    pub gateway_data: Option<Value>,
    pub processing_fee: Option<Decimal>,
    pub receipt_url: Option<String>,
    pub notes: Option<String>,
    pub received_at: DateTime<Utc>,
    pub recorded_by: Uuid,
}

/// One revision of a quote.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevisionRow {
    pub revision: i32,
    pub status: String,
    pub items: Value,
    pub subtotal: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
    pub tax_lines: Value,
    pub opened_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub superseded_at: Option<DateTime<Utc>>,
}

/// The quote `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<QuoteRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// The deposits taken on quote `quote_id`, oldest first.
pub async fn deposits(
    pool: &PgPool,
    tenant: &TenantId,
    quote_id: Uuid,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    let columns = crate::PAYMENT_COLUMNS;
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {columns} FROM {DEPOSITS} WHERE tenant_id = $1 AND quote_id = $2
              ORDER BY received_at, payment_id"
        ),
        quote_id,
    )
    .await
}

/// The revisions of quote `quote_id`, oldest first (the last is the current one).
pub async fn revisions(
    pool: &PgPool,
    tenant: &TenantId,
    quote_id: Uuid,
) -> Result<Vec<RevisionRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {REVISION_COLUMNS}
               FROM {REVISIONS} WHERE tenant_id = $1 AND quote_id = $2 ORDER BY revision"
        ),
        quote_id,
    )
    .await
}

/// What a quote list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct QuoteFilter {
    pub status: Option<QuoteStatus>,
    pub customer_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// Templates only (`true`) or real quotes only (`false`).
    pub is_template: Option<bool>,
}

/// A page of the quotes of `tenant` that `scope` covers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &QuoteFilter,
    page: NewestFirst,
) -> Result<Vec<QuoteRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        // Templates are shared models: every rep with OWN scope sees them.
        (
            "(CASE WHEN is_template THEN $3::uuid ELSE created_by END)",
            "location_id",
        ),
        "AND ($8::text IS NULL OR status = $8)
         AND ($9::uuid IS NULL OR customer_id = $9)
         AND ($10::uuid IS NULL OR lead_id = $10)
         AND ($11::boolean IS NULL OR is_template = $11)",
        page,
        |q| {
            q.bind(filter.status.map(QuoteStatus::as_str))
                .bind(filter.customer_id)
                .bind(filter.lead_id)
                .bind(filter.is_template)
        },
    )
    .await
}
