//! The `Invoice` aggregate: what a customer owes for a move, from draft to
//! paid, with deposits carried from the accepted quote, payments, refunds,
//! credit notes, the overdue flag and recurring (storage) schedules.
//!
//! ```text
//!   Draft / DraftFromQuote
//!            │
//!            ▼
//!          DRAFT ◀── Update (items, terms, schedule); deposits may be refunded
//!            │ Issue: numbered by the database, taxes snapshotted, locked
//!            ▼
//!          SENT ──RecordPayment / IssueCreditNote──▶ PARTIAL_PAID ──▶ PAID (balance 0)
//!            │ │                                          ▲               │
//!            │ └─MarkOverdue (due date passed, balance > 0)─▶ OVERDUE ────┘
//!            │       Refund reopens the balance: PAID ─▶ PARTIAL_PAID / OVERDUE / SENT
//!            ▼ Void (issued, net paid 0)
//!        CANCELLED (final)
//! ```
//!
//! The status is never stored: it follows from the facts through
//! [`event_schemas::invoice::invoice_status`], the rule the read models share.
//! The balance is `total − (payments incl. deposits − refunds) − credit notes`;
//! once issued it is never negative (payments and credit notes are capped at
//! it, and issuing is refused while deposits exceed the total). A draft's
//! balance uses its preview total, and deposits on a draft may be refunded
//! (a draft cannot be voided, so that is how a cancelled job's deposit goes
//! back); issuing applies the deposits net of those refunds.
//!
//! A recurring invoice is cycle 1 of its schedule (dated `start_date`);
//! `GenerateNextCycle` records cycles 2, 3, … each naming the child invoice
//! the command layer drafts from [`Invoice::terms`].

use std::collections::BTreeSet;

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::invoice::{
    CreditNoteIssued, InvoiceDraftUpdated, InvoiceDrafted, InvoiceEvent, InvoiceIssued,
    InvoiceOverdue, InvoiceVoided, PaymentRecorded, PaymentRefunded, RecurringInvoiceGenerated,
    RecurringScheduleStopped, invoice_status,
};
pub use event_schemas::invoice::{
    InvoiceAmounts, InvoiceTerms, RecurringOrigin, RecurringSchedule,
};
use event_schemas::money::{
    InvoiceStatus, LineItem, PaymentDetails, Province, RecurringInterval, Totals,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::patch::Patch;
use crate::pricing::{self, round_money};
use crate::sales::{self, ItemInput, PaymentInput};
use crate::values;

/// A payment applied to the invoice (a deposit carried from the quote or a
/// recorded payment) and how much of it was refunded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppliedPayment {
    pub details: PaymentDetails,
    pub deposit: bool,
    pub refunded: Decimal,
}

impl AppliedPayment {
    /// What is left of the payment after its refunds.
    pub fn remaining(&self) -> Decimal {
        round_money(self.details.amount - self.refunded)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: Option<Uuid>,
    pub tenant_id: Option<TenantId>,
    pub customer_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub quote_revision: Option<u32>,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    pub sales_rep: Option<Uuid>,
    pub recurring_origin: Option<RecurringOrigin>,
    /// The editable terms (locked once issued).
    pub draft: Option<InvoiceTerms>,
    pub created_by: Option<Uuid>,
    pub created_at: Option<DateTime<Utc>>,
    /// As stored: the database allocates it when the issue is committed.
    pub invoice_number: Option<String>,
    pub sequence: Option<i64>,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_date: Option<NaiveDate>,
    /// The totals fixed on issue (taxes at the tax date).
    pub issued_totals: Option<Totals>,
    pub voided: bool,
    pub overdue: bool,
    pub payments: Vec<AppliedPayment>,
    pub refund_ids: BTreeSet<Uuid>,
    pub credited: Decimal,
    pub credit_note_ids: Vec<Uuid>,
    /// The last cycle of the recurring schedule (1: the invoice itself).
    pub last_cycle: u32,
    pub child_invoices: Vec<Uuid>,
    pub recurring_stopped: bool,
}

// ---------------------------------------------------------------- commands

/// Drafts a standalone invoice (or a recurring schedule's next one, with
/// `recurring_origin`).
#[derive(Clone, Debug, PartialEq)]
pub struct DraftInvoice {
    pub invoice_id: Uuid,
    pub tenant_id: TenantId,
    pub customer_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    pub sales_rep: Option<Uuid>,
    /// ISO 4217; `CAD` when absent.
    pub currency: Option<String>,
    pub province: Province,
    pub tax_exempt: bool,
    /// 0 to 365.
    pub payment_terms_days: u32,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub journey_id: Option<Uuid>,
    /// At least one; none optional.
    pub items: Vec<ItemInput>,
    pub recurring: Option<RecurringSchedule>,
    /// Set when a recurring schedule generated this invoice (cycle ≥ 2); such
    /// an invoice has no schedule of its own.
    pub recurring_origin: Option<RecurringOrigin>,
}

/// An accepted quote, as the command layer read it, turned into an invoice.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptedQuote {
    pub invoice_id: Uuid,
    pub tenant_id: TenantId,
    pub quote_id: Uuid,
    pub quote_revision: u32,
    pub customer_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    pub sales_rep: Option<Uuid>,
    pub currency: String,
    pub province: Province,
    pub tax_exempt: bool,
    pub payment_terms_days: u32,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub journey_id: Option<Uuid>,
    /// The quote's counted items (required and accepted optional ones),
    /// already priced; hourly labour already turned into an item. They keep
    /// their ids and become non-optional.
    pub items: Vec<LineItem>,
    /// Deposits taken on the quote, applied as payments.
    pub deposits: Vec<PaymentDetails>,
}

/// Changes a draft; `None` / `Patch::Unchanged` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateInvoice {
    pub currency: Option<String>,
    pub province: Option<Province>,
    pub tax_exempt: Option<bool>,
    pub payment_terms_days: Option<u32>,
    pub terms: Patch<String>,
    pub notes: Patch<String>,
    pub journey_id: Patch<Uuid>,
    /// Replaces every item.
    pub items: Option<Vec<ItemInput>>,
    pub recurring: Patch<RecurringSchedule>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum InvoiceAction {
    Draft(DraftInvoice),
    DraftFromQuote(AcceptedQuote),
    /// Draft only.
    Update(UpdateInvoice),
    /// Issues a draft: taxes at `tax_date` (default: the day of the command),
    /// due date = issue date + payment terms, deposits applied.
    ///
    /// The invoice number is NOT decided here: it is gapless per tenant, so
    /// the database allocates it in the transaction that stores the event (a
    /// trigger rewrites the stored `InvoiceIssued`). The aggregate emits
    /// `invoice_number: ""` and `sequence: 0`, and `apply` keeps whatever the
    /// stored event carries. An in-memory aggregate that applied its own event
    /// (not reloaded from the store) therefore has an empty number.
    Issue {
        tax_date: Option<NaiveDate>,
    },
    /// Issued, not voided, and nothing paid (net of refunds).
    Void {
        reason: String,
    },
    /// Issued, not voided; at most the balance.
    RecordPayment(PaymentInput),
    /// Refunds part or all of a payment (deposits included); reopens the balance.
    Refund {
        refund_id: Uuid,
        payment_id: Uuid,
        amount: Decimal,
        reason: String,
    },
    /// Issued, not voided; at most the balance. Numbered `<invoice>-CN<n>`.
    IssueCreditNote {
        credit_note_id: Uuid,
        amount: Decimal,
        reason: String,
    },
    /// Policy: flags the invoice overdue when its due date is before `as_of`
    /// with a balance left; otherwise (or when already flagged) does nothing.
    MarkOverdue {
        as_of: NaiveDate,
    },
    /// Policy: records the next cycle of an issued recurring invoice when its
    /// date is on or before `as_of` (and within the end date); otherwise does
    /// nothing. The command layer drafts `child_invoice_id` from
    /// [`Invoice::terms`] with a [`RecurringOrigin`].
    GenerateNextCycle {
        child_invoice_id: Uuid,
        as_of: NaiveDate,
    },
    /// Stops an issued invoice's recurring schedule.
    StopRecurring {
        reason: Option<String>,
    },
}

/// An invoice command: the action, who asked, and when (the aggregate never
/// reads a clock).
#[derive(Clone, Debug, PartialEq)]
pub struct InvoiceCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: InvoiceAction,
}

// ---------------------------------------------------------------- errors

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvoiceError {
    #[error("invalid invoice: {0}")]
    Invalid(ValidationErrors),
    #[error("invoice {0} already exists")]
    AlreadyExists(Uuid),
    #[error("invoice not found")]
    NotFound,
    #[error("invoice is {0}; only a draft can be changed or issued")]
    Locked(InvoiceStatus),
    #[error("invoice is a draft and has not been issued")]
    NotIssued,
    #[error("invoice is voided")]
    Voided,
    #[error("deposits of {deposits} exceed the invoice total of {total}")]
    DepositsExceedTotal { deposits: Decimal, total: Decimal },
    #[error(
        "the recurring schedule's second cycle ({second}) would already be due on issue; start the schedule later"
    )]
    ScheduleInThePast { second: NaiveDate },
    #[error("invoice has {net_paid} paid; refund the payments before voiding it")]
    HasPayments { net_paid: Decimal },
    #[error("payment of {amount} exceeds the balance of {balance}")]
    Overpayment { amount: Decimal, balance: Decimal },
    #[error("payment {0} is already recorded on this invoice")]
    DuplicatePayment(Uuid),
    #[error("payment {0} is not a payment of this invoice")]
    UnknownPayment(Uuid),
    #[error("refund of {amount} exceeds the {remaining} that remains of the payment")]
    RefundExceedsPayment { amount: Decimal, remaining: Decimal },
    #[error("refund {0} is already recorded")]
    DuplicateRefund(Uuid),
    #[error("credit note of {amount} exceeds the balance of {balance}")]
    CreditExceedsBalance { amount: Decimal, balance: Decimal },
    #[error("credit note {0} is already issued")]
    DuplicateCreditNote(Uuid),
    #[error("invoice has no recurring schedule")]
    NotRecurring,
    #[error("the recurring schedule is already stopped")]
    RecurringStopped,
    #[error("invoice {0} was already generated by this schedule")]
    DuplicateChildInvoice(Uuid),
}

impl DomainError for InvoiceError {
    fn kind(&self) -> ErrorKind<'_> {
        let rule = match self {
            Self::Invalid(errors) => return ErrorKind::Invalid(errors),
            Self::NotFound => return ErrorKind::NotFound,
            Self::AlreadyExists(_) => "invoice.already-exists",
            Self::Locked(_) => "invoice.locked",
            Self::NotIssued => "invoice.not-issued",
            Self::Voided => "invoice.voided",
            Self::DepositsExceedTotal { .. } => "invoice.deposits-exceed-total",
            Self::ScheduleInThePast { .. } => "invoice.schedule-in-the-past",
            Self::HasPayments { .. } => "invoice.has-payments",
            Self::Overpayment { .. } => "invoice.overpayment",
            Self::DuplicatePayment(_) => "invoice.duplicate-payment",
            Self::UnknownPayment(_) => "invoice.unknown-payment",
            Self::RefundExceedsPayment { .. } => "invoice.refund-exceeds-payment",
            Self::DuplicateRefund(_) => "invoice.duplicate-refund",
            Self::CreditExceedsBalance { .. } => "invoice.credit-exceeds-balance",
            Self::DuplicateCreditNote(_) => "invoice.duplicate-credit-note",
            Self::NotRecurring => "invoice.not-recurring",
            Self::RecurringStopped => "invoice.recurring-stopped",
            Self::DuplicateChildInvoice(_) => "invoice.duplicate-child-invoice",
        };
        ErrorKind::Conflict { rule }
    }
}

impl From<ValidationErrors> for InvoiceError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

// ---------------------------------------------------------------- schedule dates

/// `date` plus one `interval`: 1 week, 1 month, 3 months or 1 year. Month
/// arithmetic clamps to the month's end (Jan 31 + 1 month = Feb 28/29).
/// Saturates at [`NaiveDate::MAX`].
pub fn next_cycle_date(interval: RecurringInterval, date: NaiveDate) -> NaiveDate {
    add_intervals(interval, date, 1).unwrap_or(NaiveDate::MAX)
}

fn add_intervals(interval: RecurringInterval, date: NaiveDate, n: u32) -> Option<NaiveDate> {
    match interval {
        RecurringInterval::Weekly => date.checked_add_days(Days::new(7 * u64::from(n))),
        RecurringInterval::Monthly => date.checked_add_months(Months::new(n)),
        RecurringInterval::Quarterly => date.checked_add_months(Months::new(n.checked_mul(3)?)),
        RecurringInterval::Yearly => date.checked_add_months(Months::new(n.checked_mul(12)?)),
    }
}

/// The date of cycle `cycle` (1 = `start_date`), counted from the start date
/// so month-end dates do not drift: a schedule starting Jan 31 bills Feb 28
/// (or 29), then Mar 31. Ignores the end date.
pub fn cycle_date(schedule: &RecurringSchedule, cycle: u32) -> Option<NaiveDate> {
    add_intervals(
        schedule.interval,
        schedule.start_date,
        cycle.checked_sub(1)?,
    )
}

/// The date of cycle `cycle` if the schedule has not ended by then.
fn cycle_within_schedule(schedule: &RecurringSchedule, cycle: u32) -> Option<NaiveDate> {
    cycle_date(schedule, cycle).filter(|d| schedule.end_date.is_none_or(|end| *d <= end))
}

// ---------------------------------------------------------------- read helpers

impl Invoice {
    pub fn is_created(&self) -> bool {
        self.id.is_some() && self.draft.is_some()
    }

    pub fn is_issued(&self) -> bool {
        self.issued_at.is_some()
    }

    /// The invoice's terms: its items, taxes and schedule (a recurring
    /// child is drafted from its parent's).
    pub fn terms(&self) -> Option<&InvoiceTerms> {
        self.draft.as_ref()
    }

    /// The issued total, or the draft's preview total.
    pub fn total(&self) -> Decimal {
        let totals = self
            .issued_totals
            .as_ref()
            .or(self.draft.as_ref().map(|d| &d.totals));
        round_money(totals.map_or(Decimal::ZERO, |t| t.total))
    }

    /// Payments (deposits included) less refunds.
    pub fn net_paid(&self) -> Decimal {
        round_money(self.payments.iter().map(AppliedPayment::remaining).sum())
    }

    /// What is left to pay: total − net paid − credit notes.
    pub fn balance(&self) -> Decimal {
        round_money(self.total() - self.net_paid() - self.credited)
    }

    pub fn amounts(&self) -> InvoiceAmounts {
        InvoiceAmounts {
            total: self.total(),
            net_paid: self.net_paid(),
            credited: round_money(self.credited),
            balance: self.balance(),
        }
    }

    pub fn status(&self) -> InvoiceStatus {
        invoice_status(self.is_issued(), self.voided, self.overdue, self.amounts())
    }

    /// A payment (or deposit) of this invoice.
    pub fn payment(&self, payment_id: Uuid) -> Option<&PaymentDetails> {
        self.applied(payment_id).map(|p| &p.details)
    }

    /// What remains of a payment after its refunds (`None`: no such payment).
    pub fn remaining_of_payment(&self, payment_id: Uuid) -> Option<Decimal> {
        self.applied(payment_id).map(AppliedPayment::remaining)
    }

    fn applied(&self, payment_id: Uuid) -> Option<&AppliedPayment> {
        self.payments
            .iter()
            .find(|p| p.details.payment_id == payment_id)
    }

    pub fn schedule(&self) -> Option<&RecurringSchedule> {
        self.draft.as_ref().and_then(|d| d.recurring.as_ref())
    }

    /// An issued, not voided invoice whose schedule is neither stopped nor
    /// past its end date.
    pub fn is_recurring_active(&self) -> bool {
        self.next_cycle_date().is_some()
    }

    /// When the next cycle falls due, while the schedule is active.
    pub fn next_cycle_date(&self) -> Option<NaiveDate> {
        self.next_cycle().map(|(_, date)| date)
    }

    /// The next cycle's number (2, 3, …) and date, while the schedule is active.
    pub fn next_cycle(&self) -> Option<(u32, NaiveDate)> {
        if !self.is_issued() || self.voided || self.recurring_stopped {
            return None;
        }
        let cycle = self.last_cycle.max(1) + 1;
        Some((cycle, cycle_within_schedule(self.schedule()?, cycle)?))
    }
}

// ---------------------------------------------------------------- deciding

/// The terms of a draft before validation.
struct RawTerms {
    currency: Option<String>,
    province: Province,
    tax_exempt: bool,
    payment_terms_days: u32,
    terms: Option<String>,
    notes: Option<String>,
    journey_id: Option<Uuid>,
    items: Vec<LineItem>,
    recurring: Option<RecurringSchedule>,
    /// Generated by another invoice's schedule (so it may not have its own).
    generated: bool,
}

fn validate_terms(v: &mut Validator, raw: RawTerms, on: NaiveDate) -> Option<InvoiceTerms> {
    let currency = v.check("currency", sales::currency(raw.currency.as_deref()));
    let payment_terms_days = v.check(
        "payment_terms_days",
        sales::payment_terms_days(raw.payment_terms_days),
    );
    let terms = v.check(
        "terms",
        values::optional_text(raw.terms.as_deref(), values::MAX_LONG_TEXT),
    );
    let notes = v.check(
        "notes",
        values::optional_text(raw.notes.as_deref(), values::MAX_LONG_TEXT),
    );
    if let Some(schedule) = &raw.recurring {
        if raw.generated {
            v.error(
                "recurring",
                "an invoice generated by a recurring schedule cannot have its own",
            );
        }
        if schedule
            .end_date
            .is_some_and(|end| end <= schedule.start_date)
        {
            v.error("recurring.end_date", "must be after the start date");
        }
    }
    let totals = v.check(
        "tax_date",
        pricing::totals(&raw.items, &[], None, raw.province, on, raw.tax_exempt),
    );
    // Read models and reports store amounts as NUMERIC(14, 2).
    if totals.as_ref().is_some_and(|t| t.total > values::MAX_MONEY) {
        v.error(
            "items",
            format!("the invoice's total must not exceed {}", values::MAX_MONEY),
        );
    }
    Some(InvoiceTerms {
        currency: currency?,
        province: raw.province,
        tax_exempt: raw.tax_exempt,
        payment_terms_days: payment_terms_days?,
        terms: terms?,
        notes: notes?,
        journey_id: raw.journey_id,
        items: raw.items,
        recurring: raw.recurring,
        totals: totals?,
    })
}

/// Validates and prices an invoice's items: at least one, none optional.
fn invoice_items(v: &mut Validator, items: Vec<ItemInput>) -> Vec<LineItem> {
    if items.is_empty() {
        v.error("items", "must have at least one item");
    }
    for (i, item) in items.iter().enumerate() {
        if item.optional {
            v.error(
                &format!("items[{i}].optional"),
                "an invoice has no optional items",
            );
        }
    }
    sales::line_items(v, items)
}

fn location(v: &mut Validator, location_id: Option<&str>) -> Option<Option<String>> {
    match location_id {
        Some(l) => v.check("location_id", values::identifier(l)).map(Some),
        None => Some(None),
    }
}

fn amount(v: &mut Validator, value: Decimal) -> Option<Decimal> {
    v.check("amount", sales::positive_money(value))
}

impl Invoice {
    fn draft(
        cmd: DraftInvoice,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<InvoiceDrafted, InvoiceError> {
        let mut v = Validator::new();
        let location_id = location(&mut v, cmd.location_id.as_deref());
        if cmd.recurring_origin.as_ref().is_some_and(|o| o.cycle < 2) {
            v.error(
                "recurring_origin.cycle",
                "must be at least 2 (cycle 1 is the recurring invoice itself)",
            );
        }
        let items = invoice_items(&mut v, cmd.items);
        let raw = RawTerms {
            currency: cmd.currency,
            province: cmd.province,
            tax_exempt: cmd.tax_exempt,
            payment_terms_days: cmd.payment_terms_days,
            terms: cmd.terms,
            notes: cmd.notes,
            journey_id: cmd.journey_id,
            items,
            recurring: cmd.recurring,
            generated: cmd.recurring_origin.is_some(),
        };
        let terms = validate_terms(&mut v, raw, at.date_naive());
        v.finish()?;
        let (Some(draft), Some(location_id)) = (terms, location_id) else {
            unreachable!("every field was validated");
        };
        Ok(InvoiceDrafted {
            tenant_id: cmd.tenant_id,
            invoice_id: cmd.invoice_id,
            customer_id: cmd.customer_id,
            quote_id: None,
            quote_revision: None,
            lead_id: cmd.lead_id,
            location_id,
            sales_rep: cmd.sales_rep,
            deposits: vec![],
            recurring_origin: cmd.recurring_origin,
            draft,
            created_by: actor,
            created_at: at,
        })
    }

    fn draft_from_quote(
        cmd: AcceptedQuote,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<InvoiceDrafted, InvoiceError> {
        let mut v = Validator::new();
        let location_id = location(&mut v, cmd.location_id.as_deref());
        if cmd.items.is_empty() {
            v.error("items", "must have at least one item");
        }
        let mut item_ids = BTreeSet::new();
        let items: Vec<LineItem> = cmd
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                if !item_ids.insert(item.item_id) {
                    v.error(&format!("items[{i}].item_id"), "appears twice");
                }
                LineItem {
                    optional: false,
                    ..item
                }
            })
            .collect();
        let mut payment_ids = BTreeSet::new();
        let mut deposits = Vec::with_capacity(cmd.deposits.len());
        for (i, deposit) in cmd.deposits.into_iter().enumerate() {
            if !payment_ids.insert(deposit.payment_id) {
                v.error(&format!("deposits[{i}].payment_id"), "appears twice");
            }
            if let Some(amount) = v.check(
                &format!("deposits[{i}].amount"),
                sales::positive_money(deposit.amount),
            ) {
                deposits.push(PaymentDetails { amount, ..deposit });
            }
        }
        let raw = RawTerms {
            currency: Some(cmd.currency),
            province: cmd.province,
            tax_exempt: cmd.tax_exempt,
            payment_terms_days: cmd.payment_terms_days,
            terms: cmd.terms,
            notes: cmd.notes,
            journey_id: cmd.journey_id,
            items,
            recurring: None,
            generated: false,
        };
        let terms = validate_terms(&mut v, raw, at.date_naive());
        v.finish()?;
        let (Some(draft), Some(location_id)) = (terms, location_id) else {
            unreachable!("every field was validated");
        };
        Ok(InvoiceDrafted {
            tenant_id: cmd.tenant_id,
            invoice_id: cmd.invoice_id,
            customer_id: cmd.customer_id,
            quote_id: Some(cmd.quote_id),
            quote_revision: Some(cmd.quote_revision),
            lead_id: cmd.lead_id,
            location_id,
            sales_rep: cmd.sales_rep,
            deposits,
            recurring_origin: None,
            draft,
            created_by: actor,
            created_at: at,
        })
    }

    fn ensure_draft(&self) -> Result<(), InvoiceError> {
        if self.is_issued() {
            return Err(InvoiceError::Locked(self.status()));
        }
        Ok(())
    }

    /// Issued and not voided.
    fn ensure_open(&self) -> Result<(), InvoiceError> {
        if self.voided {
            return Err(InvoiceError::Voided);
        }
        if !self.is_issued() {
            return Err(InvoiceError::NotIssued);
        }
        Ok(())
    }

    fn update(
        &self,
        current: &InvoiceTerms,
        cmd: UpdateInvoice,
        at: DateTime<Utc>,
    ) -> Result<Option<InvoiceDraftUpdated>, InvoiceError> {
        self.ensure_draft()?;
        let mut v = Validator::new();
        let items = match cmd.items {
            Some(inputs) => invoice_items(&mut v, inputs),
            None => current.items.clone(),
        };
        let raw = RawTerms {
            currency: Some(cmd.currency.unwrap_or_else(|| current.currency.clone())),
            province: cmd.province.unwrap_or(current.province),
            tax_exempt: cmd.tax_exempt.unwrap_or(current.tax_exempt),
            payment_terms_days: cmd.payment_terms_days.unwrap_or(current.payment_terms_days),
            terms: cmd.terms.apply_to(current.terms.clone()),
            notes: cmd.notes.apply_to(current.notes.clone()),
            journey_id: cmd.journey_id.apply_to(current.journey_id),
            items,
            recurring: cmd.recurring.apply_to(current.recurring.clone()),
            generated: self.recurring_origin.is_some(),
        };
        let terms = validate_terms(&mut v, raw, at.date_naive());
        v.finish()?;
        let Some(draft) = terms else {
            unreachable!("every field was validated");
        };
        let changed: Vec<String> = [
            ("currency", draft.currency != current.currency),
            ("province", draft.province != current.province),
            ("tax_exempt", draft.tax_exempt != current.tax_exempt),
            (
                "payment_terms_days",
                draft.payment_terms_days != current.payment_terms_days,
            ),
            ("terms", draft.terms != current.terms),
            ("notes", draft.notes != current.notes),
            ("journey_id", draft.journey_id != current.journey_id),
            ("items", draft.items != current.items),
            ("recurring", draft.recurring != current.recurring),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(field, _)| field.to_owned())
        .collect();
        if changed.is_empty() {
            return Ok(None);
        }
        Ok(Some(InvoiceDraftUpdated {
            draft,
            changed_fields: changed,
        }))
    }

    fn issue(
        &self,
        current: &InvoiceTerms,
        tax_date: Option<NaiveDate>,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<InvoiceIssued, InvoiceError> {
        self.ensure_draft()?;
        let issue_date = at.date_naive();
        let tax_date = tax_date.unwrap_or(issue_date);
        let totals = pricing::totals(
            &current.items,
            &[],
            None,
            current.province,
            tax_date,
            current.tax_exempt,
        )
        .map_err(|m| ValidationErrors::single("tax_date", m))?;
        // A schedule starting long before the issue would bill its missed
        // cycles all at once (numbered, only voidable): refused.
        if let Some(second) = current.recurring.as_ref().and_then(|s| cycle_date(s, 2))
            && second <= issue_date
        {
            return Err(InvoiceError::ScheduleInThePast { second });
        }
        // Every payment of a draft is a deposit (net of refunds made since).
        let deposits = self.net_paid();
        if deposits > totals.total {
            return Err(InvoiceError::DepositsExceedTotal {
                deposits,
                total: totals.total,
            });
        }
        let due_date = issue_date
            .checked_add_days(Days::new(u64::from(current.payment_terms_days)))
            .ok_or_else(|| {
                ValidationErrors::single("payment_terms_days", "due date out of range")
            })?;
        Ok(InvoiceIssued {
            invoice_number: String::new(),
            sequence: 0,
            issued_by: actor,
            issued_at: at,
            due_date,
            balance_after: round_money(totals.total - deposits),
            totals,
            paid_by_deposits: deposits,
        })
    }

    fn void(
        &self,
        reason: &str,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<InvoiceVoided, InvoiceError> {
        self.ensure_open()?;
        let mut v = Validator::new();
        let reason = sales::reason(&mut v, reason);
        v.finish()?;
        let net_paid = self.net_paid();
        if !net_paid.is_zero() {
            return Err(InvoiceError::HasPayments { net_paid });
        }
        Ok(InvoiceVoided {
            reason: reason.unwrap_or_default(),
            voided_by: actor,
            voided_at: at,
        })
    }

    fn record_payment(
        &self,
        input: PaymentInput,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<PaymentRecorded, InvoiceError> {
        self.ensure_open()?;
        let mut v = Validator::new();
        let payment = sales::payment(&mut v, input, at, actor);
        v.finish()?;
        let Some(payment) = payment else {
            unreachable!("every field was validated");
        };
        if self.applied(payment.payment_id).is_some() {
            return Err(InvoiceError::DuplicatePayment(payment.payment_id));
        }
        let balance = self.balance();
        if payment.amount > balance {
            return Err(InvoiceError::Overpayment {
                amount: payment.amount,
                balance,
            });
        }
        Ok(PaymentRecorded {
            balance_after: round_money(balance - payment.amount),
            payment,
        })
    }

    fn refund(
        &self,
        refund_id: Uuid,
        payment_id: Uuid,
        amount: Decimal,
        reason: &str,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<PaymentRefunded, InvoiceError> {
        if self.voided {
            return Err(InvoiceError::Voided);
        }
        let mut v = Validator::new();
        let amount = self::amount(&mut v, amount);
        let reason = sales::reason(&mut v, reason);
        v.finish()?;
        let (Some(amount), Some(reason)) = (amount, reason) else {
            unreachable!("every field was validated");
        };
        if self.refund_ids.contains(&refund_id) {
            return Err(InvoiceError::DuplicateRefund(refund_id));
        }
        let remaining = self
            .remaining_of_payment(payment_id)
            .ok_or(InvoiceError::UnknownPayment(payment_id))?;
        if amount > remaining {
            return Err(InvoiceError::RefundExceedsPayment { amount, remaining });
        }
        Ok(PaymentRefunded {
            refund_id,
            payment_id,
            amount,
            reason,
            refunded_by: actor,
            refunded_at: at,
            balance_after: round_money(self.balance() + amount),
        })
    }

    fn credit_note(
        &self,
        credit_note_id: Uuid,
        amount: Decimal,
        reason: &str,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<CreditNoteIssued, InvoiceError> {
        self.ensure_open()?;
        let mut v = Validator::new();
        let amount = self::amount(&mut v, amount);
        let reason = sales::reason(&mut v, reason);
        v.finish()?;
        let (Some(amount), Some(reason)) = (amount, reason) else {
            unreachable!("every field was validated");
        };
        if self.credit_note_ids.contains(&credit_note_id) {
            return Err(InvoiceError::DuplicateCreditNote(credit_note_id));
        }
        let balance = self.balance();
        if amount > balance {
            return Err(InvoiceError::CreditExceedsBalance { amount, balance });
        }
        let issued = self.issued_totals.clone().unwrap_or_default();
        let (subtotal_portion, tax_portion) = pricing::split_gross(amount, &issued);
        Ok(CreditNoteIssued {
            credit_note_id,
            credit_note_number: format!(
                "{}-CN{}",
                self.invoice_number.as_deref().unwrap_or_default(),
                self.credit_note_ids.len() + 1
            ),
            amount,
            subtotal_portion,
            tax_portion,
            reason,
            issued_by: actor,
            issued_at: at,
            balance_after: round_money(balance - amount),
        })
    }

    fn mark_overdue(&self, as_of: NaiveDate) -> Option<InvoiceOverdue> {
        let due_date = self.due_date?;
        let balance = self.balance();
        let applies = self.is_issued()
            && !self.voided
            && !self.overdue
            && balance > Decimal::ZERO
            && due_date < as_of;
        applies.then_some(InvoiceOverdue {
            due_date,
            as_of,
            balance,
        })
    }

    fn generate_next_cycle(
        &self,
        child_invoice_id: Uuid,
        as_of: NaiveDate,
    ) -> Result<Option<RecurringInvoiceGenerated>, InvoiceError> {
        let schedule = self.schedule().ok_or(InvoiceError::NotRecurring)?;
        if self.recurring_stopped {
            return Err(InvoiceError::RecurringStopped);
        }
        self.ensure_open()?;
        let cycle = self.last_cycle.max(1) + 1;
        let Some(cycle_date) = cycle_within_schedule(schedule, cycle) else {
            return Ok(None);
        };
        if cycle_date > as_of {
            return Ok(None);
        }
        if Some(child_invoice_id) == self.id || self.child_invoices.contains(&child_invoice_id) {
            return Err(InvoiceError::DuplicateChildInvoice(child_invoice_id));
        }
        Ok(Some(RecurringInvoiceGenerated {
            cycle,
            invoice_id: child_invoice_id,
            cycle_date,
            next_cycle_date: cycle_within_schedule(schedule, cycle + 1),
        }))
    }

    fn stop_recurring(
        &self,
        reason: Option<&str>,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<RecurringScheduleStopped, InvoiceError> {
        if self.schedule().is_none() {
            return Err(InvoiceError::NotRecurring);
        }
        if self.recurring_stopped {
            return Err(InvoiceError::RecurringStopped);
        }
        if !self.is_issued() {
            // A draft's schedule has not started: update the draft instead.
            return Err(InvoiceError::NotIssued);
        }
        let reason = values::optional_text(reason, values::MAX_LONG_TEXT)
            .map_err(|m| ValidationErrors::single("reason", m))?;
        Ok(RecurringScheduleStopped {
            reason,
            stopped_by: actor,
            stopped_at: at,
        })
    }

    /// The events `command` produces against the current state.
    pub fn decide(&self, command: InvoiceCommand) -> Result<Vec<InvoiceEvent>, InvoiceError> {
        let InvoiceCommand { at, actor, action } = command;
        let action = match action {
            InvoiceAction::Draft(cmd) => {
                self.ensure_new()?;
                return Ok(vec![Self::draft(cmd, at, actor)?.into()]);
            }
            InvoiceAction::DraftFromQuote(cmd) => {
                self.ensure_new()?;
                return Ok(vec![Self::draft_from_quote(cmd, at, actor)?.into()]);
            }
            other => other,
        };
        let (Some(current), true) = (self.draft.as_ref(), self.id.is_some()) else {
            return Err(InvoiceError::NotFound);
        };
        fn one<E: Into<InvoiceEvent>>(event: Option<E>) -> Vec<InvoiceEvent> {
            event.into_iter().map(Into::into).collect()
        }
        Ok(match action {
            InvoiceAction::Draft(_) | InvoiceAction::DraftFromQuote(_) => {
                unreachable!("handled above")
            }
            InvoiceAction::Update(cmd) => one(self.update(current, cmd, at)?),
            InvoiceAction::Issue { tax_date } => {
                one(Some(self.issue(current, tax_date, at, actor)?))
            }
            InvoiceAction::Void { reason } => one(Some(self.void(&reason, at, actor)?)),
            InvoiceAction::RecordPayment(input) => {
                one(Some(self.record_payment(input, at, actor)?))
            }
            InvoiceAction::Refund {
                refund_id,
                payment_id,
                amount,
                reason,
            } => one(Some(
                self.refund(refund_id, payment_id, amount, &reason, at, actor)?,
            )),
            InvoiceAction::IssueCreditNote {
                credit_note_id,
                amount,
                reason,
            } => one(Some(self.credit_note(
                credit_note_id,
                amount,
                &reason,
                at,
                actor,
            )?)),
            InvoiceAction::MarkOverdue { as_of } => one(self.mark_overdue(as_of)),
            InvoiceAction::GenerateNextCycle {
                child_invoice_id,
                as_of,
            } => one(self.generate_next_cycle(child_invoice_id, as_of)?),
            InvoiceAction::StopRecurring { reason } => {
                one(Some(self.stop_recurring(reason.as_deref(), at, actor)?))
            }
        })
    }

    fn ensure_new(&self) -> Result<(), InvoiceError> {
        match self.id {
            Some(id) => Err(InvoiceError::AlreadyExists(id)),
            None => Ok(()),
        }
    }
}

impl Aggregate for Invoice {
    const TYPE: &'static str = event_schemas::invoice::AGGREGATE_TYPE;
    type Command = InvoiceCommand;
    type Event = InvoiceEvent;
    type Error = InvoiceError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            InvoiceEvent::InvoiceDrafted(e) => {
                *self = Self {
                    id: Some(e.invoice_id),
                    tenant_id: Some(e.tenant_id),
                    customer_id: Some(e.customer_id),
                    quote_id: e.quote_id,
                    quote_revision: e.quote_revision,
                    lead_id: e.lead_id,
                    location_id: e.location_id,
                    sales_rep: e.sales_rep,
                    recurring_origin: e.recurring_origin,
                    payments: e
                        .deposits
                        .into_iter()
                        .map(|details| AppliedPayment {
                            details,
                            deposit: true,
                            refunded: Decimal::ZERO,
                        })
                        .collect(),
                    draft: Some(e.draft),
                    created_by: Some(e.created_by),
                    created_at: Some(e.created_at),
                    ..Self::default()
                }
            }
            InvoiceEvent::InvoiceDraftUpdated(e) => self.draft = Some(e.draft),
            InvoiceEvent::InvoiceIssued(e) => {
                self.invoice_number = Some(e.invoice_number);
                self.sequence = Some(e.sequence);
                self.issued_at = Some(e.issued_at);
                self.due_date = Some(e.due_date);
                self.issued_totals = Some(e.totals);
                self.last_cycle = 1;
            }
            InvoiceEvent::InvoiceVoided(_) => self.voided = true,
            InvoiceEvent::PaymentRecorded(e) => self.payments.push(AppliedPayment {
                details: e.payment,
                deposit: false,
                refunded: Decimal::ZERO,
            }),
            InvoiceEvent::PaymentRefunded(e) => {
                self.refund_ids.insert(e.refund_id);
                if let Some(p) = self
                    .payments
                    .iter_mut()
                    .find(|p| p.details.payment_id == e.payment_id)
                {
                    p.refunded += e.amount;
                }
            }
            InvoiceEvent::CreditNoteIssued(e) => {
                self.credit_note_ids.push(e.credit_note_id);
                self.credited += e.amount;
            }
            InvoiceEvent::InvoiceOverdue(_) => self.overdue = true,
            InvoiceEvent::RecurringInvoiceGenerated(e) => {
                self.last_cycle = e.cycle;
                self.child_invoices.push(e.invoice_id);
            }
            InvoiceEvent::RecurringScheduleStopped(_) => self.recurring_stopped = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn month_end_dates_clamp_to_the_end_of_a_shorter_month() {
        use RecurringInterval::*;
        assert_eq!(next_cycle_date(Monthly, d(2026, 1, 31)), d(2026, 2, 28));
        assert_eq!(next_cycle_date(Monthly, d(2028, 1, 31)), d(2028, 2, 29));
        assert_eq!(next_cycle_date(Quarterly, d(2026, 11, 30)), d(2027, 2, 28));
        assert_eq!(next_cycle_date(Yearly, d(2028, 2, 29)), d(2029, 2, 28));
        assert_eq!(next_cycle_date(Weekly, d(2026, 12, 29)), d(2027, 1, 5));
        assert_eq!(next_cycle_date(Monthly, d(2026, 3, 15)), d(2026, 4, 15));
        assert_eq!(next_cycle_date(Monthly, NaiveDate::MAX), NaiveDate::MAX);
    }

    #[test]
    fn cycles_count_from_the_start_date_so_month_ends_do_not_drift() {
        let schedule = RecurringSchedule {
            interval: RecurringInterval::Monthly,
            start_date: d(2026, 1, 31),
            end_date: Some(d(2026, 4, 29)),
        };
        assert_eq!(cycle_date(&schedule, 0), None);
        assert_eq!(cycle_date(&schedule, 1), Some(d(2026, 1, 31)));
        assert_eq!(cycle_date(&schedule, 2), Some(d(2026, 2, 28)));
        assert_eq!(cycle_date(&schedule, 3), Some(d(2026, 3, 31)));
        assert_eq!(cycle_within_schedule(&schedule, 4), None);
    }
}
