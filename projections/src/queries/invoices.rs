//! `read.invoices`, `read.invoice_payments`, `read.invoice_refunds` and
//! `read.invoice_credit_notes` (the `invoices` projection): one invoice
//! with its payments, refunds and credit notes, and lists a caller's scope
//! covers.
//!
//! An invoice is owned by its sales rep, or without one by its author; it
//! is located by `location_id`.

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::TenantId;
use event_schemas::money::InvoiceStatus;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::quotes::PaymentRow;
use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`], [`PAYMENTS`], [`REFUNDS`] and
/// [`CREDIT_NOTES`].
pub const PROJECTION: &str = "invoices";
pub const TABLE: &str = "read.invoices";
pub const PAYMENTS: &str = "read.invoice_payments";
pub const REFUNDS: &str = "read.invoice_refunds";
pub const CREDIT_NOTES: &str = "read.invoice_credit_notes";
/// The columns of an [`InvoiceRow`] (`overdue` is computed from `status`).
pub const COLUMNS: &str = "id, number, invoice_sequence, customer_id, quote_id, quote_revision, lead_id, location_id, sales_rep, \
     recurring_origin, status, currency, province, tax_exempt, payment_terms_days, terms, notes, journey_id, items, \
     recurring, last_cycle, next_cycle_date, recurring_stopped_at, recurring_stop_reason, subtotal, tax_total, total, \
     tax_lines, tax_date, due_date, issued_by, issued_at, paid, refunded, credited, balance, \
     overdue_as_of, voided_at, voided_by, void_reason, created_by, version, created_at, updated_at";
/// The columns of an [`InvoicePaymentRow`] besides [`crate::PAYMENT_COLUMNS`].
pub const PAYMENT_EXTRA_COLUMNS: &str = "is_deposit, refunded, balance_after";
/// The columns of a [`RefundRow`].
pub const REFUND_COLUMNS: &str =
    "refund_id, payment_id, amount, reason, refunded_by, refunded_at, balance_after";
/// The columns of a [`CreditNoteRow`].
pub const CREDIT_NOTE_COLUMNS: &str = "credit_note_id, number, amount, subtotal_portion, tax_portion, reason, issued_by, \
     issued_at, balance_after";

/// [`COLUMNS`] and `overdue`.
fn select_list() -> String {
    format!("{COLUMNS}, status = 'OVERDUE' AS overdue")
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub number: Option<String>,
    pub invoice_sequence: Option<i64>,
    pub customer_id: Uuid,
    pub quote_id: Option<Uuid>,
    pub quote_revision: Option<i32>,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    pub sales_rep: Option<Uuid>,
    pub recurring_origin: Option<Value>,
    pub status: String,
    pub currency: String,
    pub province: String,
    pub tax_exempt: bool,
    pub payment_terms_days: i32,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub journey_id: Option<Uuid>,
    pub items: Value,
    pub recurring: Option<Value>,
    pub last_cycle: Option<i32>,
    pub next_cycle_date: Option<NaiveDate>,
    pub recurring_stopped_at: Option<DateTime<Utc>>,
    pub recurring_stop_reason: Option<String>,
    pub subtotal: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
    pub tax_lines: Value,
    pub tax_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub issued_by: Option<Uuid>,
    pub issued_at: Option<DateTime<Utc>>,
    pub paid: Decimal,
    pub refunded: Decimal,
    pub credited: Decimal,
    pub balance: Option<Decimal>,
    /// Status OVERDUE.
    pub overdue: bool,
    pub overdue_as_of: Option<NaiveDate>,
    pub voided_at: Option<DateTime<Utc>>,
    pub voided_by: Option<Uuid>,
    pub void_reason: Option<String>,
    pub created_by: Uuid,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A payment on an invoice.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoicePaymentRow {
    #[sqlx(flatten)]
    pub payment: PaymentRow,
    pub is_deposit: bool,
    pub refunded: Decimal,
    pub balance_after: Option<Decimal>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
    pub refund_id: Uuid,
    pub payment_id: Uuid,
    pub amount: Decimal,
    pub reason: String,
    pub refunded_by: Uuid,
    pub refunded_at: DateTime<Utc>,
    pub balance_after: Decimal,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreditNoteRow {
    pub credit_note_id: Uuid,
    pub number: String,
    pub amount: Decimal,
    pub subtotal_portion: Decimal,
    pub tax_portion: Decimal,
    pub reason: String,
    pub issued_by: Uuid,
    pub issued_at: DateTime<Utc>,
    pub balance_after: Decimal,
}

/// The invoice `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<InvoiceRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, &select_list()), tenant, id).await
}

/// The payments on invoice `invoice_id`, oldest first.
pub async fn payments(
    pool: &PgPool,
    tenant: &TenantId,
    invoice_id: Uuid,
) -> Result<Vec<InvoicePaymentRow>, sqlx::Error> {
    let columns = crate::PAYMENT_COLUMNS;
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {columns}, {PAYMENT_EXTRA_COLUMNS} FROM {PAYMENTS}
              WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY received_at, payment_id"
        ),
        invoice_id,
    )
    .await
}

/// The refunds on invoice `invoice_id`, oldest first.
pub async fn refunds(
    pool: &PgPool,
    tenant: &TenantId,
    invoice_id: Uuid,
) -> Result<Vec<RefundRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {REFUND_COLUMNS}
               FROM {REFUNDS} WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY refunded_at, refund_id"
        ),
        invoice_id,
    )
    .await
}

/// The credit notes on invoice `invoice_id`, oldest first.
pub async fn credit_notes(
    pool: &PgPool,
    tenant: &TenantId,
    invoice_id: Uuid,
) -> Result<Vec<CreditNoteRow>, sqlx::Error> {
    super::children(
        pool,
        tenant,
        &format!(
            "SELECT {CREDIT_NOTE_COLUMNS}
               FROM {CREDIT_NOTES} WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY issued_at, number"
        ),
        invoice_id,
    )
    .await
}

/// What an invoice list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    pub customer_id: Option<Uuid>,
    /// `true`: status OVERDUE only; `false`: every other status.
    pub overdue: Option<bool>,
}

/// A page of the invoices of `tenant` that `scope` covers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &InvoiceFilter,
    page: NewestFirst,
) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, &select_list()),
        ("coalesce(sales_rep, created_by)", "location_id"),
        "AND ($8::text IS NULL OR status = $8)
         AND ($9::uuid IS NULL OR customer_id = $9)
         AND ($10::boolean IS NULL OR (status = 'OVERDUE') = $10)",
        page,
        |q| {
            q.bind(filter.status.map(InvoiceStatus::as_str))
                .bind(filter.customer_id)
                .bind(filter.overdue)
        },
    )
    .await
}
