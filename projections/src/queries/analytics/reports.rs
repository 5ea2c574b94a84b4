//! Three reports: the sales pipeline, quotes per month, new customers.

use rust_decimal::Decimal;
use sqlx::PgPool;

use super::{CURRENCY_CTE, HI, LEAD_SCOPE, LO, Period, QUOTE_SCOPE, Scope, scoped};

/// One row of the sales pipeline: the leads created in the period that
/// share a `key` of a `dimension`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PipelineRow {
    /// `status` (the lead's status now), `source`, `rep` (the assignee;
    /// key `None`: unassigned) or `total` (key `None`; always present).
    pub dimension: String,
    pub key: Option<String>,
    pub leads: i64,
    /// Those WON.
    pub converted: i64,
    /// converted ÷ leads (4 places); `None` without leads.
    pub conversion_rate: Option<Decimal>,
    /// The median and 90th percentile (interpolated) of the seconds from
    /// creation to first contact, of the contacted ones.
    pub speed_to_lead_p50: Option<Decimal>,
    pub speed_to_lead_p90: Option<Decimal>,
    /// The median (interpolated) of the seconds from the lead's creation to
    /// the creation of its first quote (templates aside), of the leads with
    /// a quote.
    pub lead_to_quote_p50: Option<Decimal>,
}

/// The leads of `scope` created in `period`, by status, then by source,
/// then by rep, then in total; in each dimension by key (`None` last).
pub async fn sales_pipeline(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
) -> Result<Vec<PipelineRow>, sqlx::Error> {
    let sql = format!(
        "WITH l AS (
             SELECT l.status, l.source, l.assigned_to::text AS rep,
                    l.response_seconds * interval '1 second' AS response,
                    (SELECT min(q.created_at) FROM read.quotes q
                      WHERE q.tenant_id = $1 AND q.lead_id = l.id AND NOT q.is_template) - l.created_at AS to_quote
               FROM read.leads l
              WHERE l.tenant_id = $1 AND l.created_at >= {LO} AND l.created_at < {HI} AND {LEAD_SCOPE}),
         grouped AS (
             SELECT CASE WHEN GROUPING(status) = 0 THEN 1 WHEN GROUPING(source) = 0 THEN 2
                         WHEN GROUPING(rep) = 0 THEN 3 ELSE 4 END AS n,
                    coalesce(status, source, rep) AS key,
                    count(*) AS leads,
                    count(*) FILTER (WHERE status = 'WON') AS converted,
                    round(count(*) FILTER (WHERE status = 'WON')::numeric / nullif(count(*), 0), 4) AS conversion_rate,
                    extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY response)) AS speed_to_lead_p50,
                    extract(epoch FROM percentile_cont(0.9) WITHIN GROUP (ORDER BY response)) AS speed_to_lead_p90,
                    extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY to_quote)) AS lead_to_quote_p50
               FROM l
              GROUP BY GROUPING SETS ((status), (source), (rep), ()))
         SELECT (ARRAY['status', 'source', 'rep', 'total'])[n] AS dimension, key, leads, converted,
                conversion_rate, speed_to_lead_p50, speed_to_lead_p90, lead_to_quote_p50
           FROM grouped
          ORDER BY n, key NULLS LAST"
    );
    let mut rows: Vec<PipelineRow> = scoped(&sql, scope, period).fetch_all(pool).await?;
    for row in &mut rows {
        for figure in [
            &mut row.conversion_rate,
            &mut row.speed_to_lead_p50,
            &mut row.speed_to_lead_p90,
            &mut row.lead_to_quote_p50,
        ] {
            *figure = figure.map(|d| d.normalize());
        }
    }
    Ok(rows)
}

/// One local month of the quotes report.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QuoteSummaryRow {
    /// `YYYY-MM`.
    pub month: String,
    /// Quote sendings (each revision sent counts once).
    pub sent: i64,
    /// Quotes accepted, rejected (latest rejection), expired (latest
    /// expiry) that month, in any currency.
    pub accepted: i64,
    pub rejected: i64,
    pub expired: i64,
    /// accepted ÷ (accepted + rejected + expired), 4 places; `None` without
    /// a decision.
    pub acceptance_rate: Option<Decimal>,
    /// The average accepted total (tax included) of the month's accepted
    /// quotes in `currency`, to the cent; `None` without any.
    pub average_value: Option<Decimal>,
    /// The reporting currency.
    pub currency: String,
}

/// Every local month the period touches (only its days counted), in order,
/// zero-filled: the quotes of `scope` sent and decided (see
/// [`super::Kpi::QuoteAcceptanceRate`]) that month.
pub async fn quotes_summary(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
) -> Result<Vec<QuoteSummaryRow>, sqlx::Error> {
    let sql = format!(
        "WITH {CURRENCY_CTE},
         months AS (
             SELECT to_char(m, 'YYYY-MM') AS month
               FROM generate_series(date_trunc('month', $2::date::timestamp), $3::date::timestamp,
                                    interval '1 month') AS m),
         decided AS (
             SELECT q.* FROM read.quotes q
              WHERE q.tenant_id = $1 AND greatest(q.accepted_at, q.rejected_at, q.expired_at) >= {LO}
                AND NOT q.is_template AND {QUOTE_SCOPE}),
         events AS (
             SELECT r.sent_at AS at, 'sent' AS kind, NULL::text AS currency, NULL::numeric AS value
               FROM read.quote_revisions r
               JOIN read.quotes q ON q.tenant_id = r.tenant_id AND q.id = r.quote_id
              WHERE r.tenant_id = $1 AND r.sent_at >= {LO} AND r.sent_at < {HI}
                AND NOT q.is_template AND {QUOTE_SCOPE}
             UNION ALL
             SELECT accepted_at, 'accepted', currency, coalesce((accepted_totals ->> 'total')::numeric, total)
               FROM decided WHERE accepted_at >= {LO} AND accepted_at < {HI}
             UNION ALL
             SELECT rejected_at, 'rejected', NULL, NULL FROM decided WHERE rejected_at >= {LO} AND rejected_at < {HI}
             UNION ALL
             SELECT expired_at, 'expired', NULL, NULL FROM decided WHERE expired_at >= {LO} AND expired_at < {HI}),
         counted AS (
             SELECT m.month,
                    count(*) FILTER (WHERE e.kind = 'sent') AS sent,
                    count(*) FILTER (WHERE e.kind = 'accepted') AS accepted,
                    count(*) FILTER (WHERE e.kind = 'rejected') AS rejected,
                    count(*) FILTER (WHERE e.kind = 'expired') AS expired,
                    round(avg(e.value) FILTER (WHERE e.kind = 'accepted' AND e.currency = (SELECT code FROM cur)), 2)
                        AS average_value
               FROM months m
               LEFT JOIN events e ON to_char(e.at AT TIME ZONE $4::text, 'YYYY-MM') = m.month
              GROUP BY m.month)
         SELECT month, sent, accepted, rejected, expired,
                round(accepted::numeric / nullif(accepted + rejected + expired, 0), 4) AS acceptance_rate,
                average_value, (SELECT code FROM cur) AS currency
           FROM counted
          ORDER BY month"
    );
    let mut rows: Vec<QuoteSummaryRow> = scoped(&sql, scope, period).fetch_all(pool).await?;
    for row in &mut rows {
        row.acceptance_rate = row.acceptance_rate.map(|d| d.normalize());
    }
    Ok(rows)
}

/// New customers of one source in one local month.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NewCustomerRow {
    /// `YYYY-MM` of the customer's registration.
    pub month: String,
    /// The customer's own lead source if it has one, else the source of
    /// their first lead; `None`: neither.
    pub source: Option<String>,
    pub customers: i64,
}

/// The customers registered in `period`, by local month and source (by
/// month, then most customers first, then source, `None` last). A
/// customer belongs to the owner and the location of their first lead
/// (earliest created): with an owner or a location in `scope`, customers
/// without a lead are left out.
pub async fn new_customers(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
) -> Result<Vec<NewCustomerRow>, sqlx::Error> {
    let sql = format!(
        "WITH c AS (
             SELECT c.id, c.created_at, nullif(c.lead_source, '') AS own_source, f.source AS lead_source,
                    f.owner, f.location_id
               FROM read.customers c
               LEFT JOIN LATERAL (
                   SELECT l.source, coalesce(l.assigned_to, l.created_by) AS owner, l.location_id
                     FROM read.leads l
                    WHERE l.tenant_id = $1 AND l.customer_id = c.id
                    ORDER BY l.created_at, l.id
                    LIMIT 1) f ON true
              WHERE c.tenant_id = $1 AND c.created_at >= {LO} AND c.created_at < {HI})
         SELECT to_char(created_at AT TIME ZONE $4::text, 'YYYY-MM') AS month,
                coalesce(own_source, lead_source) AS source, count(*) AS customers
           FROM c
          WHERE ($5::uuid IS NULL OR owner = $5) AND ($6::text IS NULL OR location_id = $6)
          GROUP BY 1, 2
          ORDER BY month, customers DESC, source NULLS LAST"
    );
    scoped(&sql, scope, period).fetch_all(pool).await
}
