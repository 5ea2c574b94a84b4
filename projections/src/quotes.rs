//! `read.quotes`: one row per quote, showing its current revision (terms,
//! items, server-computed totals and tax lines), its approval, sending,
//! viewing, acceptance (signer, IP, selected optional items, accepted
//! totals), rejection, expiry and conversion, and the deposits taken.
//! `version` is the quote's aggregate sequence.
//!
//! `read.quote_revisions`: one row per revision: the status it is in (or
//! ended in), its totals and items (as last drafted, then as sent), when it
//! was sent and when a later revision superseded it.
//!
//! `read.quote_deposits`: one row per `QuoteDepositRecorded`.

use event_schemas::money::QuoteStatus;
use event_schemas::quote::{QuoteDepositRecorded, QuoteDrafted, QuoteEvent, QuoteTerms};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{
    PAYMENT_COLUMNS, PAYMENT_COUNT, ProjectedEvent, Projection, ProjectionError, Statement,
    TOTALS_COLUMNS, bind_payment, bind_totals, on_aggregate, placeholders,
};

pub struct Quotes;

const DDL: &str = concat!(
    r#"
CREATE TABLE quotes (
    tenant_id               text          NOT NULL,
    id                      uuid          NOT NULL,
    customer_id             uuid          NOT NULL,
    lead_id                 uuid,
    location_id             text,
    status                  text          NOT NULL,
    revision                integer       NOT NULL,
    is_template             boolean       NOT NULL,
    copied_from             uuid,
    currency                text          NOT NULL,
    valid_until             date          NOT NULL,
    terms                   text,
    notes                   text,
    pricing_type            text          NOT NULL,
    hourly                  jsonb,
    province                text          NOT NULL,
    tax_exempt              boolean       NOT NULL,
    template_name           text,
    items                   jsonb         NOT NULL,
"#,
    crate::totals_ddl!(),
    r#"
    approved_by             uuid,
    approved_at             timestamptz,
    sent_by                 uuid,
    sent_at                 timestamptz,
    viewed_at               timestamptz,
    accepted_by_name        text,
    accepted_at             timestamptz,
    accepted_ip             text,
    accepted_revision       integer,
    selected_optional_items uuid[],
    accepted_totals         jsonb,
    rejection_reason        text,
    rejected_at             timestamptz,
    expired_at              timestamptz,
    journey_id              uuid,
    converted_at            timestamptz,
    invoice_id              uuid,
    invoiced_at             timestamptz,
    deposit_total           numeric(14, 2) NOT NULL DEFAULT 0,
    created_by              uuid          NOT NULL,
    created_at              timestamptz   NOT NULL,
    updated_at              timestamptz   NOT NULL,
    version                 bigint        NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX quotes_newest ON quotes (tenant_id, created_at DESC, id DESC);
CREATE INDEX quotes_by_status ON quotes (tenant_id, status, created_at DESC);
CREATE INDEX quotes_by_customer ON quotes (tenant_id, customer_id);
CREATE INDEX quotes_by_lead ON quotes (tenant_id, lead_id);
CREATE INDEX quotes_by_author ON quotes (tenant_id, created_by);
CREATE INDEX quotes_by_decision ON quotes (tenant_id, (greatest(accepted_at, rejected_at, expired_at)));
CREATE TABLE quote_revisions (
    tenant_id     text           NOT NULL,
    quote_id      uuid           NOT NULL,
    revision      integer        NOT NULL,
    status        text           NOT NULL,
    items         jsonb          NOT NULL,
"#,
    crate::totals_ddl!(),
    r#"
    opened_at     timestamptz    NOT NULL,
    sent_at       timestamptz,
    superseded_at timestamptz,
    PRIMARY KEY (tenant_id, quote_id, revision)
);
CREATE INDEX quote_revisions_by_sent ON quote_revisions (tenant_id, sent_at);
CREATE TABLE quote_deposits (
    tenant_id      text           NOT NULL,
    quote_id       uuid           NOT NULL,
"#,
    crate::payment_ddl!(),
    r#"
    PRIMARY KEY (tenant_id, quote_id, payment_id)
);
"#
);

/// The columns [`bind_terms`] fills, in its order.
fn terms_columns() -> String {
    format!(
        "currency, valid_until, terms, notes, pricing_type, hourly, province, tax_exempt, template_name, items, {TOTALS_COLUMNS}"
    )
}
const TERMS_COUNT: usize = 15;

fn bind_terms<'q>(query: Statement<'q>, t: &QuoteTerms) -> Statement<'q> {
    let query = query
        .bind(t.currency.clone())
        .bind(t.valid_until)
        .bind(t.terms.clone())
        .bind(t.notes.clone())
        .bind(t.pricing_type.as_str())
        .bind(t.hourly.clone().map(Json))
        .bind(t.province.as_str())
        .bind(t.tax_exempt)
        .bind(t.template_name.clone())
        .bind(Json(t.items.clone()));
    bind_totals(query, &t.totals)
}

/// Copies the quote's current revision (status, items, totals, sent time)
/// into its row of `quote_revisions`, creating the row for a new revision.
async fn sync_revision(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
) -> Result<(), ProjectionError> {
    on_aggregate(
        "INSERT INTO quote_revisions (tenant_id, quote_id, revision, status, items, subtotal, tax_total, total,
                                      tax_lines, tax_date, opened_at, sent_at)
         SELECT tenant_id, id, revision, status, items, subtotal, tax_total, total, tax_lines, tax_date,
                updated_at, sent_at
           FROM quotes WHERE tenant_id = $1 AND id = $2
         ON CONFLICT (tenant_id, quote_id, revision) DO UPDATE
            SET status = EXCLUDED.status, items = EXCLUDED.items, subtotal = EXCLUDED.subtotal,
                tax_total = EXCLUDED.tax_total, total = EXCLUDED.total, tax_lines = EXCLUDED.tax_lines,
                tax_date = EXCLUDED.tax_date, sent_at = EXCLUDED.sent_at",
        ev,
    )?
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the quote's status (and the event's own columns, from `$4` on).
fn set_status<'q>(
    sql: &'q str,
    ev: &ProjectedEvent,
    status: QuoteStatus,
) -> Result<Statement<'q>, ProjectionError> {
    Ok(on_aggregate(sql, ev)?.bind(status.as_str()))
}

#[async_trait::async_trait]
impl Projection for Quotes {
    fn name(&self) -> &'static str {
        "quotes"
    }

    fn version(&self) -> i32 {
        // 2: the invoice opened for the quote.
        // 3: indexes for the analytics (decisions, sendings by time).
        3
    }

    fn tables(&self) -> &'static [&'static str] {
        &["quotes", "quote_revisions", "quote_deposits"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<QuoteEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, QuoteEvent::QuoteDrafted(_));
        if crate::applies(conn, "quotes", ev, first).await? {
            apply_event(conn, ev, event).await?;
            sync_revision(conn, ev).await?;
        }
        Ok(())
    }
}

/// The aggregate's first event inserts its row.
async fn create(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    d: &QuoteDrafted,
) -> Result<(), ProjectionError> {
    let e = &ev.event;
    let sql = format!(
        "INSERT INTO quotes (tenant_id, id, {}, customer_id, lead_id, location_id, is_template, copied_from,
                             created_by, created_at, status, revision, version, updated_at)
         VALUES ($1, $2, {}, {}, 1, $26, $27)",
        terms_columns(),
        placeholders(3, TERMS_COUNT),
        placeholders(3 + TERMS_COUNT, 8),
    );
    bind_terms(on_aggregate(&sql, ev)?, &d.draft)
        .bind(d.customer_id)
        .bind(d.lead_id)
        .bind(&d.location_id)
        .bind(d.is_template)
        .bind(d.copied_from)
        .bind(d.created_by)
        .bind(d.created_at)
        .bind(QuoteStatus::Draft.as_str())
        .bind(e.sequence)
        .bind(e.time)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The first event inserts the row, a later one updates it (its version
/// was advanced already).
async fn apply_event(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: &QuoteEvent,
) -> Result<(), ProjectionError> {
    match event {
        QuoteEvent::QuoteDrafted(d) => create(conn, ev, d).await?,
        QuoteEvent::QuoteDraftUpdated(d) => {
            let sql = format!(
                "UPDATE quotes SET ({}) = ({}), approved_by = NULL, approved_at = NULL
                  WHERE tenant_id = $1 AND id = $2",
                terms_columns(),
                placeholders(3, TERMS_COUNT),
            );
            bind_terms(on_aggregate(&sql, ev)?, &d.draft)
                .execute(&mut *conn)
                .await?;
        }
        QuoteEvent::QuoteApproved(d) => {
            on_aggregate(
                "UPDATE quotes SET approved_by = $3, approved_at = $4 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.approved_by)
            .bind(d.approved_at)
            .execute(&mut *conn)
            .await?;
        }
        QuoteEvent::QuoteSent(d) => {
            let sql = format!(
                "UPDATE quotes SET status = $3, sent_by = $4, sent_at = $5, viewed_at = NULL, ({TOTALS_COLUMNS}) = ({})
                  WHERE tenant_id = $1 AND id = $2",
                placeholders(6, 5)
            );
            let query = set_status(&sql, ev, QuoteStatus::Sent)?
                .bind(d.sent_by)
                .bind(d.sent_at);
            bind_totals(query, &d.totals).execute(&mut *conn).await?;
        }
        QuoteEvent::QuoteViewed(d) => {
            set_status(
                "UPDATE quotes SET status = CASE WHEN status = 'SENT' THEN $3 ELSE status END,
                        viewed_at = coalesce(viewed_at, $4)
                  WHERE tenant_id = $1 AND id = $2",
                ev,
                QuoteStatus::Viewed,
            )?
            .bind(d.viewed_at)
            .execute(&mut *conn)
            .await?;
        }
        QuoteEvent::QuoteAccepted(d) => {
            set_status(
                "UPDATE quotes SET status = $3, accepted_by_name = $4, accepted_at = $5, accepted_ip = $6,
                        accepted_revision = $7, selected_optional_items = $8, accepted_totals = $9
                  WHERE tenant_id = $1 AND id = $2",
                ev,
                QuoteStatus::Accepted,
            )?
            .bind(&d.accepted_by_name)
            .bind(d.accepted_at)
            .bind(&d.accepted_ip)
            .bind(d.revision as i32)
            .bind(&d.selected_optional_items)
            .bind(Json(&d.totals))
            .execute(&mut *conn)
            .await?;
        }
        QuoteEvent::QuoteRejected(d) => {
            set_status(
                "UPDATE quotes SET status = $3, rejection_reason = $4, rejected_at = $5 WHERE tenant_id = $1 AND id = $2",
                ev,
                QuoteStatus::Rejected,
            )?
            .bind(&d.reason)
            .bind(d.rejected_at)
            .execute(&mut *conn)
            .await?;
        }
        QuoteEvent::QuoteExpired(d) => {
            set_status(
                "UPDATE quotes SET status = $3, expired_at = $4 WHERE tenant_id = $1 AND id = $2",
                ev,
                QuoteStatus::Expired,
            )?
            .bind(d.expired_at)
            .execute(&mut *conn)
            .await?;
        }
        QuoteEvent::QuoteRevised(d) => {
            on_aggregate(
                "UPDATE quote_revisions SET superseded_at = $4
                  WHERE tenant_id = $1 AND quote_id = $2 AND revision = $3",
                ev,
            )?
            .bind(d.from_revision as i32)
            .bind(d.revised_at)
            .execute(&mut *conn)
            .await?;
            set_status(
                "UPDATE quotes SET status = $3, revision = $4, approved_by = NULL, approved_at = NULL,
                        sent_by = NULL, sent_at = NULL, viewed_at = NULL
                  WHERE tenant_id = $1 AND id = $2",
                ev,
                QuoteStatus::Draft,
            )?
            .bind(d.revision as i32)
            .execute(&mut *conn)
            .await?;
        }
        QuoteEvent::QuoteConverted(d) => {
            set_status(
                "UPDATE quotes SET status = $3, journey_id = $4, converted_at = $5 WHERE tenant_id = $1 AND id = $2",
                ev,
                QuoteStatus::Converted,
            )?
            .bind(d.journey_id)
            .bind(d.converted_at)
            .execute(&mut *conn)
            .await?;
        }
        QuoteEvent::QuoteInvoiced(d) => {
            on_aggregate(
                "UPDATE quotes SET invoice_id = $3, invoiced_at = $4 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(d.invoice_id)
            .bind(d.invoiced_at)
            .execute(&mut *conn)
            .await?;
        }
        QuoteEvent::QuoteDepositRecorded(QuoteDepositRecorded { payment: p }) => {
            let sql = format!(
                "INSERT INTO quote_deposits (tenant_id, quote_id, {PAYMENT_COLUMNS}) VALUES ($1, $2, {})",
                placeholders(3, PAYMENT_COUNT)
            );
            bind_payment(on_aggregate(&sql, ev)?, p)
                .execute(&mut *conn)
                .await?;
            on_aggregate(
                "UPDATE quotes SET deposit_total = deposit_total + $3 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(p.amount)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
