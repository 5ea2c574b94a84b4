//! `read.financial_transactions`: the tenant's ledger, one row per money
//! movement, from the quote, invoice and manual-entry events.
//!
//! | source event | `source` | `transaction_type` | `amount` | `cash_effect` |
//! |---|---|---|---|---|
//! | `QuoteDepositRecorded` | `QUOTE_DEPOSIT` | INCOME | the deposit | `+amount` |
//! | `PaymentRecorded` | `PAYMENT` | INCOME | the payment | `+amount` |
//! | `PaymentRecorded` with a `processing_fee` | `PROCESSING_FEE` | EXPENSE | the fee | `-fee` |
//! | `PaymentRefunded` | `REFUND` | INCOME (a reversal of income) | the refund | `-amount` |
//! | `CreditNoteIssued` | `CREDIT_NOTE` | ADJUSTMENT | the credit | `0` (receivables, not cash) |
//! | `FinancialTransactionRecorded` | `MANUAL` | as entered | as entered | INCOME `+amount`, EXPENSE `-amount`, TRANSFER `0` (between accounts), ADJUSTMENT `amount` (signed as entered) |
//!
//! `amount` is always the figure as entered on the event (positive, except a
//! manual adjustment, which may be negative); `cash_effect` is its signed
//! effect on cash, so `sum(cash_effect)` over a period is the net cash in.
//! Income net of refunds is `sum(cash_effect) WHERE transaction_type = 'INCOME'`.
//!
//! Deposits taken on a quote are counted once, when taken
//! (`QuoteDepositRecorded`); the copies an invoice carries
//! (`InvoiceDrafted.deposits`) are not entries.
//!
//! Ids are deterministic, so a rebuild gives the same ones: a manual entry
//! keeps its `transaction_id`; a derived entry's id is the UUIDv5 (namespace
//! [`NAMESPACE`]) of `"<source>:<payment, refund or credit note id>"`, which
//! also makes a payment id entered twice one entry.
//!
//! `ledger_documents` is this projection's own copy of each quote's and
//! invoice's currency, customer and number (so it rebuilds on its own).

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::finance::FinancialTransactionEvent;
use event_schemas::invoice::InvoiceEvent;
use event_schemas::money::{FinancialTransactionType as Type, PaymentDetails};
use event_schemas::quote::QuoteEvent;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Ledger;

/// The namespace of derived entries' ids.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6c65_6467_6572_2d65_6e74_7279_2d69_6473);

const DDL: &str = r#"
CREATE TABLE ledger_documents (
    tenant_id   text NOT NULL,
    id          uuid NOT NULL,
    kind        text NOT NULL,
    currency    text NOT NULL,
    customer_id uuid,
    number      text,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE financial_transactions (
    tenant_id        text           NOT NULL,
    id               uuid           NOT NULL,
    source           text           NOT NULL,
    transaction_type text           NOT NULL,
    amount           numeric(14, 2) NOT NULL,
    cash_effect      numeric(14, 2) NOT NULL,
    currency         text           NOT NULL,
    description      text           NOT NULL,
    category         text           NOT NULL,
    subcategory      text,
    reference        text,
    notes            text,
    tags             text[]         NOT NULL DEFAULT '{}',
    transaction_date date           NOT NULL,
    occurred_at      timestamptz    NOT NULL,
    customer_id      uuid,
    quote_id         uuid,
    invoice_id       uuid,
    journey_id       uuid,
    payment_id       uuid,
    source_event_id  uuid           NOT NULL,
    recorded_by      uuid           NOT NULL,
    recorded_at      timestamptz    NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX financial_transactions_by_date ON financial_transactions (tenant_id, transaction_date DESC, id DESC);
CREATE INDEX financial_transactions_by_invoice ON financial_transactions (tenant_id, invoice_id);
"#;

/// One ledger row.
struct Entry {
    id: Uuid,
    source: &'static str,
    kind: Type,
    amount: Decimal,
    cash_effect: Decimal,
    currency: String,
    description: String,
    category: String,
    subcategory: Option<String>,
    reference: Option<String>,
    notes: Option<String>,
    tags: Vec<String>,
    date: NaiveDate,
    occurred_at: DateTime<Utc>,
    customer_id: Option<Uuid>,
    quote_id: Option<Uuid>,
    invoice_id: Option<Uuid>,
    journey_id: Option<Uuid>,
    payment_id: Option<Uuid>,
    recorded_by: Uuid,
}

/// What the ledger knows of a quote or invoice.
struct Document {
    id: Uuid,
    currency: String,
    customer_id: Option<Uuid>,
    number: Option<String>,
}

impl Document {
    /// "quote" or "INV-2026-000001" (an invoice before its number: "invoice").
    fn label(&self, kind: &str) -> String {
        self.number.clone().unwrap_or_else(|| kind.to_owned())
    }

    /// A derived entry about this document; the caller sets what differs.
    fn entry(&self, source: &'static str, key: Uuid, kind: Type, amount: Decimal) -> Entry {
        Entry {
            id: Uuid::new_v5(&NAMESPACE, format!("{source}:{key}").as_bytes()),
            source,
            kind,
            amount,
            cash_effect: amount,
            currency: self.currency.clone(),
            description: String::new(),
            category: "Sales".to_owned(),
            subcategory: None,
            reference: None,
            notes: None,
            tags: Vec::new(),
            date: NaiveDate::MIN,
            occurred_at: DateTime::<Utc>::MIN_UTC,
            customer_id: self.customer_id,
            quote_id: None,
            invoice_id: None,
            journey_id: None,
            payment_id: None,
            recorded_by: Uuid::nil(),
        }
    }

    /// The income entry of a payment (or deposit) and, if the gateway took
    /// a fee, its expense entry.
    fn payment(&self, source: &'static str, p: &PaymentDetails, what: &str) -> Vec<Entry> {
        let at = |mut e: Entry| {
            e.payment_id = Some(p.payment_id);
            e.reference = p.transaction_id.clone();
            e.date = p.received_at.date_naive();
            e.occurred_at = p.received_at;
            e.recorded_by = p.recorded_by;
            e.subcategory = Some(p.method.as_str().to_owned());
            e
        };
        let mut income = at(self.entry(source, p.payment_id, Type::Income, p.amount));
        income.description = format!("{what} ({})", p.method);
        income.notes = p.notes.clone();
        let mut entries = vec![income];
        if let Some(fee) = p.processing_fee.filter(|f| !f.is_zero()) {
            let mut expense = at(self.entry("PROCESSING_FEE", p.payment_id, Type::Expense, fee));
            expense.cash_effect = -fee;
            expense.category = "Payment processing".to_owned();
            expense.description = format!("Processing fee: {what}");
            entries.push(expense);
        }
        entries
    }
}

async fn remember(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    kind: &str,
    currency: &str,
    customer_id: Option<Uuid>,
) -> Result<(), ProjectionError> {
    on_aggregate(
        "INSERT INTO ledger_documents (tenant_id, id, kind, currency, customer_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, id) DO UPDATE SET currency = EXCLUDED.currency,
                customer_id = coalesce(EXCLUDED.customer_id, ledger_documents.customer_id)",
        ev,
    )?
    .bind(kind)
    .bind(currency)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn document(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
) -> Result<Document, ProjectionError> {
    let id = ev.aggregate_uuid()?;
    let row: Option<(String, Option<Uuid>, Option<String>)> = sqlx::query_as(
        "SELECT currency, customer_id, number FROM ledger_documents WHERE tenant_id = $1 AND id = $2",
    )
    .bind(ev.event.tenant.as_str())
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let (currency, customer_id, number) = row.unwrap_or_else(|| ("CAD".to_owned(), None, None));
    Ok(Document {
        id,
        currency,
        customer_id,
        number,
    })
}

async fn insert(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    e: Entry,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO financial_transactions (tenant_id, id, source, transaction_type, amount, cash_effect, currency,
                description, category, subcategory, reference, notes, tags, transaction_date, occurred_at,
                customer_id, quote_id, invoice_id, journey_id, payment_id, source_event_id, recorded_by, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
         ON CONFLICT (tenant_id, id) DO NOTHING",
    )
    .bind(ev.event.tenant.as_str())
    .bind(e.id)
    .bind(e.source)
    .bind(e.kind.as_str())
    .bind(e.amount)
    .bind(e.cash_effect)
    .bind(&e.currency)
    .bind(&e.description)
    .bind(&e.category)
    .bind(&e.subcategory)
    .bind(&e.reference)
    .bind(&e.notes)
    .bind(&e.tags)
    .bind(e.date)
    .bind(e.occurred_at)
    .bind(e.customer_id)
    .bind(e.quote_id)
    .bind(e.invoice_id)
    .bind(e.journey_id)
    .bind(e.payment_id)
    .bind(ev.event.id)
    .bind(e.recorded_by)
    .bind(ev.event.time)
    .execute(conn)
    .await?;
    Ok(())
}

/// The entries of one event (none for most).
async fn entries(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
) -> Result<Vec<Entry>, ProjectionError> {
    if let Some(event) = ev.typed::<QuoteEvent>()? {
        quote_entries(conn, ev, event).await
    } else if let Some(event) = ev.typed::<InvoiceEvent>()? {
        invoice_entries(conn, ev, event).await
    } else if let Some(event) = ev.typed::<FinancialTransactionEvent>()? {
        Ok(manual_entries(event))
    } else {
        Ok(vec![])
    }
}

async fn quote_entries(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: &QuoteEvent,
) -> Result<Vec<Entry>, ProjectionError> {
    Ok(match event {
        QuoteEvent::QuoteDrafted(d) => {
            remember(conn, ev, "quote", &d.draft.currency, Some(d.customer_id)).await?;
            vec![]
        }
        QuoteEvent::QuoteDraftUpdated(d) => {
            remember(conn, ev, "quote", &d.draft.currency, None).await?;
            vec![]
        }
        QuoteEvent::QuoteDepositRecorded(d) => {
            let doc = document(conn, ev).await?;
            let mut entries = doc.payment("QUOTE_DEPOSIT", &d.payment, "Deposit on quote");
            for entry in &mut entries {
                entry.quote_id = Some(doc.id);
            }
            entries
        }
        QuoteEvent::QuoteApproved(_)
        | QuoteEvent::QuoteSent(_)
        | QuoteEvent::QuoteViewed(_)
        | QuoteEvent::QuoteAccepted(_)
        | QuoteEvent::QuoteRejected(_)
        | QuoteEvent::QuoteExpired(_)
        | QuoteEvent::QuoteRevised(_)
        | QuoteEvent::QuoteConverted(_)
        | QuoteEvent::QuoteInvoiced(_) => vec![],
    })
}

async fn invoice_entries(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: &InvoiceEvent,
) -> Result<Vec<Entry>, ProjectionError> {
    Ok(match event {
        InvoiceEvent::InvoiceDrafted(d) => {
            // Its deposits were entered when taken on the quote.
            remember(conn, ev, "invoice", &d.draft.currency, Some(d.customer_id)).await?;
            vec![]
        }
        InvoiceEvent::InvoiceDraftUpdated(d) => {
            remember(conn, ev, "invoice", &d.draft.currency, None).await?;
            vec![]
        }
        InvoiceEvent::InvoiceIssued(d) => {
            on_aggregate(
                "UPDATE ledger_documents SET number = $3 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(&d.invoice_number)
            .execute(conn)
            .await?;
            vec![]
        }
        InvoiceEvent::PaymentRecorded(d) => {
            let doc = document(conn, ev).await?;
            let what = format!("Payment on {}", doc.label("invoice"));
            let mut entries = doc.payment("PAYMENT", &d.payment, &what);
            for entry in &mut entries {
                entry.invoice_id = Some(doc.id);
            }
            entries
        }
        InvoiceEvent::PaymentRefunded(d) => {
            let doc = document(conn, ev).await?;
            let mut refund = doc.entry("REFUND", d.refund_id, Type::Income, d.amount);
            refund.cash_effect = -d.amount;
            refund.category = "Refunds".to_owned();
            refund.description = format!("Refund on {}: {}", doc.label("invoice"), d.reason);
            refund.invoice_id = Some(doc.id);
            refund.payment_id = Some(d.payment_id);
            refund.date = d.refunded_at.date_naive();
            refund.occurred_at = d.refunded_at;
            refund.recorded_by = d.refunded_by;
            vec![refund]
        }
        InvoiceEvent::CreditNoteIssued(d) => {
            let doc = document(conn, ev).await?;
            let mut credit = doc.entry("CREDIT_NOTE", d.credit_note_id, Type::Adjustment, d.amount);
            credit.cash_effect = Decimal::ZERO;
            credit.category = "Credit notes".to_owned();
            credit.description = format!("Credit note {}: {}", d.credit_note_number, d.reason);
            credit.reference = Some(d.credit_note_number.clone());
            credit.invoice_id = Some(doc.id);
            credit.date = d.issued_at.date_naive();
            credit.occurred_at = d.issued_at;
            credit.recorded_by = d.issued_by;
            vec![credit]
        }
        InvoiceEvent::InvoiceVoided(_)
        | InvoiceEvent::InvoiceOverdue(_)
        | InvoiceEvent::RecurringInvoiceGenerated(_)
        | InvoiceEvent::RecurringScheduleStopped(_) => vec![],
    })
}

fn manual_entries(event: &FinancialTransactionEvent) -> Vec<Entry> {
    match event {
        FinancialTransactionEvent::FinancialTransactionRecorded(d) => {
            let cash_effect = match d.transaction_type {
                Type::Income | Type::Adjustment => d.amount,
                Type::Expense => -d.amount,
                Type::Transfer => Decimal::ZERO,
            };
            vec![Entry {
                id: d.transaction_id,
                source: "MANUAL",
                kind: d.transaction_type,
                amount: d.amount,
                cash_effect,
                currency: d.currency.clone(),
                description: d.description.clone(),
                category: d.category.clone(),
                subcategory: d.subcategory.clone(),
                reference: d.reference.clone(),
                notes: d.notes.clone(),
                tags: d.tags.clone(),
                date: d.transaction_date,
                occurred_at: d.recorded_at,
                customer_id: None,
                quote_id: None,
                invoice_id: d.invoice_id,
                journey_id: d.journey_id,
                payment_id: None,
                recorded_by: d.recorded_by,
            }]
        }
    }
}

#[async_trait::async_trait]
impl Projection for Ledger {
    fn name(&self) -> &'static str {
        "ledger"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["financial_transactions", "ledger_documents"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        for entry in entries(conn, ev).await? {
            insert(conn, ev, entry).await?;
        }
        Ok(())
    }
}
