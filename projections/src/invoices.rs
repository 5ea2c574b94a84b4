//! `read.invoices`: one row per invoice: its number and tenant sequence
//! (from `InvoiceIssued`), customer, quote, lead, location and sales rep,
//! terms, lines, totals and tax lines (the preview while a draft, the
//! issued ones after), due date, amounts and status, void, overdue flag and
//! recurring schedule. `version` is the invoice's aggregate sequence.
//!
//! Amounts: `paid` is the net of payments (the quote's deposits included)
//! less refunds, `refunded` the refunds, `credited` the credit notes,
//! `balance` always the last event's `balance_after` (`null` until issued):
//! money is never recomputed here. `status` is
//! [`event_schemas::invoice::invoice_status`] of these, the one rule the
//! aggregate uses too. `overdue_flagged` is the overdue policy's flag; the
//! status says whether it still matters (OVERDUE only with a balance left).
//!
//! `read.invoice_payments` (deposits carried from the quote flagged
//! `is_deposit`), `read.invoice_refunds`, `read.invoice_credit_notes`: one
//! row per payment, refund and credit note, each with its `balance_after`.

use event_schemas::invoice::{
    InvoiceAmounts, InvoiceDrafted, InvoiceEvent, InvoiceTerms, invoice_status,
};
use event_schemas::money::PaymentDetails;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{
    PAYMENT_COLUMNS, PAYMENT_COUNT, ProjectedEvent, Projection, ProjectionError, Statement,
    TOTALS_COLUMNS, bind_payment, bind_totals, on_aggregate, placeholders,
};

pub struct Invoices;

const DDL: &str = concat!(
    r#"
CREATE TABLE invoices (
    tenant_id             text           NOT NULL,
    id                    uuid           NOT NULL,
    number                text,
    invoice_sequence      bigint,
    customer_id           uuid           NOT NULL,
    quote_id              uuid,
    quote_revision        integer,
    lead_id               uuid,
    location_id           text,
    sales_rep             uuid,
    recurring_origin      jsonb,
    status                text           NOT NULL,
    currency              text           NOT NULL,
    province              text           NOT NULL,
    tax_exempt            boolean        NOT NULL,
    payment_terms_days    integer        NOT NULL,
    terms                 text,
    notes                 text,
    journey_id            uuid,
    items                 jsonb          NOT NULL,
    recurring             jsonb,
"#,
    crate::totals_ddl!(),
    r#"
    due_date              date,
    issued_by             uuid,
    issued_at             timestamptz,
    paid                  numeric(14, 2) NOT NULL DEFAULT 0,
    refunded              numeric(14, 2) NOT NULL DEFAULT 0,
    credited              numeric(14, 2) NOT NULL DEFAULT 0,
    balance               numeric(14, 2),
    overdue_flagged       boolean        NOT NULL DEFAULT false,
    overdue_as_of         date,
    voided_at             timestamptz,
    voided_by             uuid,
    void_reason           text,
    last_cycle            integer,
    next_cycle_date       date,
    recurring_stopped_at  timestamptz,
    recurring_stop_reason text,
    created_by            uuid           NOT NULL,
    created_at            timestamptz    NOT NULL,
    updated_at            timestamptz    NOT NULL,
    version               bigint         NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invoices_newest ON invoices (tenant_id, created_at DESC, id DESC);
CREATE INDEX invoices_by_status ON invoices (tenant_id, status, created_at DESC);
CREATE INDEX invoices_by_customer ON invoices (tenant_id, customer_id);
CREATE INDEX invoices_by_issue ON invoices (tenant_id, issued_at);
CREATE UNIQUE INDEX invoices_by_number ON invoices (tenant_id, number);
CREATE TABLE invoice_payments (
    tenant_id      text           NOT NULL,
    invoice_id     uuid           NOT NULL,
"#,
    crate::payment_ddl!(),
    r#"
    is_deposit     boolean        NOT NULL,
    refunded       numeric(14, 2) NOT NULL DEFAULT 0,
    balance_after  numeric(14, 2),
    PRIMARY KEY (tenant_id, invoice_id, payment_id)
);
CREATE TABLE invoice_refunds (
    tenant_id     text           NOT NULL,
    invoice_id    uuid           NOT NULL,
    refund_id     uuid           NOT NULL,
    payment_id    uuid           NOT NULL,
    amount        numeric(14, 2) NOT NULL,
    reason        text           NOT NULL,
    refunded_by   uuid           NOT NULL,
    refunded_at   timestamptz    NOT NULL,
    balance_after numeric(14, 2) NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, refund_id)
);
CREATE TABLE invoice_credit_notes (
    tenant_id        text           NOT NULL,
    invoice_id       uuid           NOT NULL,
    credit_note_id   uuid           NOT NULL,
    number           text           NOT NULL,
    amount           numeric(14, 2) NOT NULL,
    subtotal_portion numeric(14, 2) NOT NULL,
    tax_portion      numeric(14, 2) NOT NULL,
    reason           text           NOT NULL,
    issued_by        uuid           NOT NULL,
    issued_at        timestamptz    NOT NULL,
    balance_after    numeric(14, 2) NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, credit_note_id)
);
CREATE INDEX invoice_credit_notes_by_date ON invoice_credit_notes (tenant_id, issued_at);
"#
);

/// The columns [`bind_terms`] fills, in its order.
fn terms_columns() -> String {
    format!(
        "currency, province, tax_exempt, payment_terms_days, terms, notes, journey_id, items, recurring, {TOTALS_COLUMNS}"
    )
}
const TERMS_COUNT: usize = 14;

fn bind_terms<'q>(query: Statement<'q>, t: &InvoiceTerms) -> Statement<'q> {
    let query = query
        .bind(t.currency.clone())
        .bind(t.province.as_str())
        .bind(t.tax_exempt)
        .bind(t.payment_terms_days as i32)
        .bind(t.terms.clone())
        .bind(t.notes.clone())
        .bind(t.journey_id)
        .bind(Json(t.items.clone()))
        .bind(t.recurring.clone().map(Json));
    bind_totals(query, &t.totals)
}

async fn insert_payment(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    payment: &PaymentDetails,
    balance_after: Option<Decimal>,
) -> Result<(), ProjectionError> {
    let sql = format!(
        "INSERT INTO invoice_payments (tenant_id, invoice_id, {PAYMENT_COLUMNS}, is_deposit, balance_after)
         VALUES ($1, $2, {}, $14, $15)",
        placeholders(3, PAYMENT_COUNT)
    );
    bind_payment(on_aggregate(&sql, ev)?, payment)
        .bind(balance_after.is_none())
        .bind(balance_after)
        .execute(conn)
        .await?;
    Ok(())
}

/// Recomputes the invoice's status from its flags and amounts with the
/// shared rule.
async fn refresh_status(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
) -> Result<(), ProjectionError> {
    type Facts = (bool, bool, bool, Decimal, Decimal, Decimal, Option<Decimal>);
    let facts: Option<Facts> = sqlx::query_as(
        "SELECT issued_at IS NOT NULL, voided_at IS NOT NULL, overdue_flagged, total, paid, credited, balance
           FROM invoices WHERE tenant_id = $1 AND id = $2",
    )
    .bind(ev.event.tenant.as_str())
    .bind(ev.aggregate_uuid()?)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((issued, voided, overdue, total, net_paid, credited, balance)) = facts else {
        return Ok(());
    };
    let amounts = InvoiceAmounts {
        total,
        net_paid,
        credited,
        balance: balance.unwrap_or(total),
    };
    on_aggregate(
        "UPDATE invoices SET status = $3 WHERE tenant_id = $1 AND id = $2",
        ev,
    )?
    .bind(invoice_status(issued, voided, overdue, amounts).as_str())
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Projection for Invoices {
    fn name(&self) -> &'static str {
        "invoices"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "invoices",
            "invoice_payments",
            "invoice_refunds",
            "invoice_credit_notes",
        ]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<InvoiceEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, InvoiceEvent::InvoiceDrafted(_));
        if crate::applies(conn, "invoices", ev, first).await? {
            apply_event(conn, ev, event).await?;
            refresh_status(conn, ev).await?;
        }
        Ok(())
    }
}

/// The aggregate's first event inserts its row.
async fn create(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    d: &InvoiceDrafted,
) -> Result<(), ProjectionError> {
    let e = &ev.event;
    let deposits: Decimal = d.deposits.iter().map(|p| p.amount).sum();
    let sql = format!(
        "INSERT INTO invoices (tenant_id, id, {}, customer_id, quote_id, quote_revision, lead_id, location_id,
                               sales_rep, recurring_origin, created_by, created_at, status, paid, version,
                               updated_at)
         VALUES ($1, $2, {}, {})",
        terms_columns(),
        placeholders(3, TERMS_COUNT),
        placeholders(3 + TERMS_COUNT, 13),
    );
    bind_terms(on_aggregate(&sql, ev)?, &d.draft)
        .bind(d.customer_id)
        .bind(d.quote_id)
        .bind(d.quote_revision.map(|r| r as i32))
        .bind(d.lead_id)
        .bind(&d.location_id)
        .bind(d.sales_rep)
        .bind(d.recurring_origin.as_ref().map(Json))
        .bind(d.created_by)
        .bind(d.created_at)
        .bind("DRAFT")
        .bind(deposits)
        .bind(e.sequence)
        .bind(e.time)
        .execute(&mut *conn)
        .await?;
    for deposit in &d.deposits {
        insert_payment(conn, ev, deposit, None).await?;
    }
    Ok(())
}

/// The first event inserts the row, a later one updates it (its version
/// was advanced already).
async fn apply_event(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: &InvoiceEvent,
) -> Result<(), ProjectionError> {
    match event {
        InvoiceEvent::InvoiceDrafted(d) => create(conn, ev, d).await?,
        InvoiceEvent::InvoiceDraftUpdated(d) => {
            let sql = format!(
                "UPDATE invoices SET ({}) = ({}) WHERE tenant_id = $1 AND id = $2",
                terms_columns(),
                placeholders(3, TERMS_COUNT),
            );
            bind_terms(on_aggregate(&sql, ev)?, &d.draft)
                .execute(&mut *conn)
                .await?;
        }
        InvoiceEvent::InvoiceIssued(d) => {
            let sql = format!(
                "UPDATE invoices SET number = $3, invoice_sequence = $4, issued_by = $5, issued_at = $6,
                        due_date = $7, paid = $8, balance = $9, ({TOTALS_COLUMNS}) = ({})
                  WHERE tenant_id = $1 AND id = $2",
                placeholders(10, 5)
            );
            let query = on_aggregate(&sql, ev)?
                .bind(&d.invoice_number)
                .bind(d.sequence)
                .bind(d.issued_by)
                .bind(d.issued_at)
                .bind(d.due_date)
                .bind(d.paid_by_deposits)
                .bind(d.balance_after);
            bind_totals(query, &d.totals).execute(&mut *conn).await?;
        }
        InvoiceEvent::InvoiceVoided(d) => {
            on_aggregate(
                "UPDATE invoices SET voided_at = $3, voided_by = $4, void_reason = $5 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.voided_at)
            .bind(d.voided_by)
            .bind(&d.reason)
            .execute(&mut *conn)
            .await?;
        }
        InvoiceEvent::PaymentRecorded(d) => {
            insert_payment(conn, ev, &d.payment, Some(d.balance_after)).await?;
            on_aggregate(
                "UPDATE invoices SET paid = paid + $3, balance = $4 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.payment.amount)
            .bind(d.balance_after)
            .execute(&mut *conn)
            .await?;
        }
        InvoiceEvent::PaymentRefunded(d) => {
            on_aggregate(
                "INSERT INTO invoice_refunds (tenant_id, invoice_id, refund_id, payment_id, amount, reason,
                                              refunded_by, refunded_at, balance_after)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                ev,
            )?
            .bind(d.refund_id)
            .bind(d.payment_id)
            .bind(d.amount)
            .bind(&d.reason)
            .bind(d.refunded_by)
            .bind(d.refunded_at)
            .bind(d.balance_after)
            .execute(&mut *conn)
            .await?;
            on_aggregate(
                "WITH p AS (UPDATE invoice_payments SET refunded = refunded + $4
                             WHERE tenant_id = $1 AND invoice_id = $2 AND payment_id = $3)
                 UPDATE invoices SET paid = paid - $4, refunded = refunded + $4, balance = $5
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.payment_id)
            .bind(d.amount)
            .bind(d.balance_after)
            .execute(&mut *conn)
            .await?;
        }
        InvoiceEvent::CreditNoteIssued(d) => {
            on_aggregate(
                "WITH c AS (INSERT INTO invoice_credit_notes (tenant_id, invoice_id, credit_note_id, number, amount,
                                                              subtotal_portion, tax_portion, reason, issued_by,
                                                              issued_at, balance_after)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))
                 UPDATE invoices SET credited = credited + $5, balance = $11 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.credit_note_id)
            .bind(&d.credit_note_number)
            .bind(d.amount)
            .bind(d.subtotal_portion)
            .bind(d.tax_portion)
            .bind(&d.reason)
            .bind(d.issued_by)
            .bind(d.issued_at)
            .bind(d.balance_after)
            .execute(&mut *conn)
            .await?;
        }
        InvoiceEvent::InvoiceOverdue(d) => {
            on_aggregate(
                "UPDATE invoices SET overdue_flagged = true, overdue_as_of = $3 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.as_of)
            .execute(&mut *conn)
            .await?;
        }
        InvoiceEvent::RecurringInvoiceGenerated(d) => {
            on_aggregate(
                "UPDATE invoices SET last_cycle = $3, next_cycle_date = $4 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.cycle as i32)
            .bind(d.next_cycle_date)
            .execute(&mut *conn)
            .await?;
        }
        InvoiceEvent::RecurringScheduleStopped(d) => {
            on_aggregate(
                "UPDATE invoices SET recurring_stopped_at = $3, recurring_stop_reason = $4, next_cycle_date = NULL
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.stopped_at)
            .bind(&d.reason)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
