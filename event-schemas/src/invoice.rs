//! Events of the `Invoice` aggregate (the seed's Invoice, InvoiceItem and
//! Payment), with refunds, credit notes and recurring schedules.
//!
//! Every money event carries `balance_after`, so readers never recompute it.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;
use crate::money::{LineItem, PaymentDetails, Province, RecurringInterval, Totals};

/// The aggregate type name stored with every invoice event.
pub const AGGREGATE_TYPE: &str = "Invoice";

/// A recurring invoice's schedule (storage billing): a new invoice each
/// `interval` from `start_date` until stopped or `end_date`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecurringSchedule {
    pub interval: RecurringInterval,
    /// The first cycle's date (the invoice itself covers it).
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
}

/// Which recurring invoice and cycle an invoice was generated for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecurringOrigin {
    pub invoice_id: Uuid,
    pub cycle: u32,
}

/// The editable part of a draft invoice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceTerms {
    pub currency: String,
    pub province: Province,
    pub tax_exempt: bool,
    /// Days from issue to due date (0: due on issue).
    pub payment_terms_days: u32,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub journey_id: Option<Uuid>,
    pub items: Vec<LineItem>,
    pub recurring: Option<RecurringSchedule>,
    /// A preview at the draft's date; issuing fixes the real totals.
    pub totals: Totals,
}

/// An invoice was drafted, standalone or from an accepted quote (its items,
/// the accepted optional items included, and its deposits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceDrafted {
    pub tenant_id: TenantId,
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub quote_id: Option<Uuid>,
    pub quote_revision: Option<u32>,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    /// The sales rep credited with the revenue (the quote's author).
    pub sales_rep: Option<Uuid>,
    /// Deposits taken on the quote, applied as payments.
    pub deposits: Vec<PaymentDetails>,
    pub recurring_origin: Option<RecurringOrigin>,
    #[serde(flatten)]
    pub draft: InvoiceTerms,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A draft's terms or items changed (complete terms after the change).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceDraftUpdated {
    #[serde(flatten)]
    pub draft: InvoiceTerms,
    pub changed_fields: Vec<String>,
}

/// The invoice was issued: numbered, its tax rates snapshotted, locked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceIssued {
    /// `INV-<year of issue>-<sequence, 6 digits>`.
    pub invoice_number: String,
    /// The tenant's invoice sequence: 1, 2, 3, … with no gaps and no repeats.
    pub sequence: i64,
    pub issued_by: Uuid,
    pub issued_at: DateTime<Utc>,
    pub due_date: NaiveDate,
    /// Taxes at `totals.tax_date` (the tax date), each component separately.
    pub totals: Totals,
    /// Deposits carried from the quote.
    #[schemars(with = "String")]
    pub paid_by_deposits: Decimal,
    #[schemars(with = "String")]
    pub balance_after: Decimal,
}

/// The issued invoice was voided (only possible with no payments applied).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceVoided {
    pub reason: String,
    pub voided_by: Uuid,
    pub voided_at: DateTime<Utc>,
}

/// A payment was applied (never more than the balance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRecorded {
    #[serde(flatten)]
    pub payment: PaymentDetails,
    #[schemars(with = "String")]
    pub balance_after: Decimal,
}

/// Part or all of a payment was refunded; the balance reopens by `amount`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRefunded {
    pub refund_id: Uuid,
    pub payment_id: Uuid,
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub reason: String,
    pub refunded_by: Uuid,
    pub refunded_at: DateTime<Utc>,
    #[schemars(with = "String")]
    pub balance_after: Decimal,
}

/// A credit note corrected the issued invoice (at most the balance). The
/// amount is split into its pre-tax and tax parts in the invoice's proportion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreditNoteIssued {
    pub credit_note_id: Uuid,
    /// `<invoice number>-CN<n>`.
    pub credit_note_number: String,
    #[schemars(with = "String")]
    pub amount: Decimal,
    #[schemars(with = "String")]
    pub subtotal_portion: Decimal,
    #[schemars(with = "String")]
    pub tax_portion: Decimal,
    pub reason: String,
    pub issued_by: Uuid,
    pub issued_at: DateTime<Utc>,
    #[schemars(with = "String")]
    pub balance_after: Decimal,
}

/// The due date passed with a balance left (raised by the overdue policy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceOverdue {
    pub due_date: NaiveDate,
    pub as_of: NaiveDate,
    #[schemars(with = "String")]
    pub balance: Decimal,
}

/// The recurring schedule produced the invoice of cycle `cycle`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecurringInvoiceGenerated {
    pub cycle: u32,
    pub invoice_id: Uuid,
    pub cycle_date: NaiveDate,
    /// When the next cycle falls due (`null`: the schedule has ended).
    pub next_cycle_date: Option<NaiveDate>,
}

/// The recurring schedule was stopped; no further invoices are generated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecurringScheduleStopped {
    pub reason: Option<String>,
    pub stopped_by: Uuid,
    pub stopped_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of the `Invoice` aggregate.
    InvoiceEvent for AGGREGATE_TYPE {
        InvoiceDrafted("1.0", "An invoice was drafted, standalone or from an accepted quote (items, deposits, optional recurring schedule)."),
        InvoiceDraftUpdated("1.0", "A draft's terms or items changed (complete terms after the change)."),
        InvoiceIssued("1.0", "The invoice was numbered (gapless per tenant), its taxes snapshotted, and locked."),
        InvoiceVoided("1.0", "The issued invoice was voided with a reason (no payments applied)."),
        PaymentRecorded("1.0", "A payment was applied (never above the balance)."),
        PaymentRefunded("1.0", "Part of a payment was refunded; the balance reopens."),
        CreditNoteIssued("1.0", "A credit note corrected the issued invoice (at most the balance)."),
        InvoiceOverdue("1.0", "The due date passed with a balance left (raised by the overdue policy)."),
        RecurringInvoiceGenerated("1.0", "The recurring schedule produced the next cycle's invoice."),
        RecurringScheduleStopped("1.0", "The recurring schedule was stopped."),
    }
}

/// The amounts an issued invoice's status follows from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InvoiceAmounts {
    pub total: Decimal,
    /// Payments (deposits included) less refunds.
    pub net_paid: Decimal,
    pub credited: Decimal,
    pub balance: Decimal,
}

/// The status of an invoice, the one rule shared by the aggregate and every
/// read model: DRAFT until issued, CANCELLED once voided; an issued invoice
/// with nothing left to pay is PAID, one the overdue policy flagged while a
/// balance is left is OVERDUE, one partly settled (paid or credited) is
/// PARTIAL_PAID, otherwise SENT.
pub fn invoice_status(
    issued: bool,
    voided: bool,
    overdue: bool,
    amounts: InvoiceAmounts,
) -> crate::money::InvoiceStatus {
    use crate::money::InvoiceStatus::*;
    if voided {
        Cancelled
    } else if !issued {
        Draft
    } else if amounts.balance <= Decimal::ZERO {
        Paid
    } else if overdue {
        Overdue
    } else if amounts.net_paid > Decimal::ZERO || amounts.credited > Decimal::ZERO {
        PartialPaid
    } else {
        Sent
    }
}
