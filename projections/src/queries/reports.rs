//! Reports over several read models: accounts-receivable aging (invoices
//! and customers), revenue (invoices, credit notes and leads) and
//! equipment utilization (equipment, maintenance and assignments). What
//! each figure means is documented with the routes (query-api's reports).

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::TenantId;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::{assignments, customers, equipment, invoices, leads};

/// One row of the aging: a customer's balances in one currency, or
/// (`is_total`) one currency's.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgingRow {
    pub customer_id: Option<Uuid>,
    pub customer_name: Option<String>,
    pub currency: String,
    pub invoices: i64,
    pub current: Decimal,
    pub days_1_30: Decimal,
    pub days_31_60: Decimal,
    pub days_61_90: Decimal,
    pub days_over_90: Decimal,
    pub total: Decimal,
    pub is_total: bool,
}

/// The open balances of `tenant`'s issued, non-voided invoices issued on
/// or before `as_of`, by days past due at `as_of`: per customer and
/// currency (by customer name), then per currency (`is_total`).
pub async fn ar_aging(
    pool: &PgPool,
    tenant: &TenantId,
    as_of: NaiveDate,
) -> Result<Vec<AgingRow>, sqlx::Error> {
    let (invoices, customers) = (invoices::TABLE, customers::TABLE);
    sqlx::query_as(&format!(
        "WITH open AS (
             SELECT i.customer_id, i.currency, i.balance, $2::date - i.due_date AS late
               FROM {invoices} i
              WHERE i.tenant_id = $1 AND i.issued_at IS NOT NULL AND i.voided_at IS NULL AND i.balance > 0
                AND (i.issued_at AT TIME ZONE 'UTC')::date <= $2)
         SELECT o.customer_id, o.currency,
                CASE WHEN GROUPING(o.customer_id) = 0 THEN min(c.first_name || ' ' || c.last_name) END AS customer_name,
                count(*) AS invoices,
                coalesce(sum(o.balance) FILTER (WHERE o.late <= 0), 0)::numeric(14, 2) AS current,
                coalesce(sum(o.balance) FILTER (WHERE o.late BETWEEN 1 AND 30), 0)::numeric(14, 2) AS days_1_30,
                coalesce(sum(o.balance) FILTER (WHERE o.late BETWEEN 31 AND 60), 0)::numeric(14, 2) AS days_31_60,
                coalesce(sum(o.balance) FILTER (WHERE o.late BETWEEN 61 AND 90), 0)::numeric(14, 2) AS days_61_90,
                coalesce(sum(o.balance) FILTER (WHERE o.late > 90), 0)::numeric(14, 2) AS days_over_90,
                sum(o.balance)::numeric(14, 2) AS total,
                GROUPING(o.customer_id) = 1 AS is_total
           FROM open o
           LEFT JOIN {customers} c ON c.tenant_id = $1 AND c.id = o.customer_id
          GROUP BY GROUPING SETS ((o.customer_id, o.currency), (o.currency))
          ORDER BY is_total, customer_name NULLS LAST, o.customer_id, o.currency"
    ))
    .bind(tenant.as_str())
    .bind(as_of)
    .fetch_all(pool)
    .await
}

/// What revenue is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevenueKey {
    /// `YYYY-MM` of the issue (or credit) date, UTC.
    Month,
    /// The source of the invoice's lead.
    Source,
    /// The invoice's sales rep.
    Rep,
}

impl RevenueKey {
    fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Source => "source",
            Self::Rep => "rep",
        }
    }
}

/// One row of the revenue: a key's figures in one currency, or
/// (`is_total`) one currency's.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevenueRow {
    pub key: Option<String>,
    pub currency: String,
    pub invoices: i64,
    pub credit_notes: i64,
    pub invoiced: Decimal,
    pub credited: Decimal,
    pub revenue: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
    pub is_total: bool,
}

/// `tenant`'s revenue recognised at issue from `from` to `to` (inclusive,
/// UTC dates), net of credit notes, voided invoices left out: per key and
/// currency (by key), then per currency (`is_total`).
pub async fn revenue(
    pool: &PgPool,
    tenant: &TenantId,
    (from, to): (NaiveDate, NaiveDate),
    group_by: RevenueKey,
) -> Result<Vec<RevenueRow>, sqlx::Error> {
    let (invoices, credit_notes, leads) = (invoices::TABLE, invoices::CREDIT_NOTES, leads::TABLE);
    sqlx::query_as(&format!(
        "WITH entries AS (
             SELECT i.issued_at AS at, i.currency, i.sales_rep, i.lead_id, 1 AS invoices, 0 AS credit_notes,
                    i.subtotal AS invoiced, 0 AS credited, i.tax_total AS tax
               FROM {invoices} i
              WHERE i.tenant_id = $1 AND i.issued_at IS NOT NULL AND i.voided_at IS NULL
             UNION ALL
             SELECT c.issued_at, i.currency, i.sales_rep, i.lead_id, 0, 1, 0, c.subtotal_portion, -c.tax_portion
               FROM {credit_notes} c
               JOIN {invoices} i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
              WHERE c.tenant_id = $1 AND i.voided_at IS NULL),
         keyed AS (
             SELECT CASE $4::text WHEN 'month' THEN to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM')
                            WHEN 'source' THEN l.source
                            ELSE e.sales_rep::text END AS key, e.*
               FROM entries e
               LEFT JOIN {leads} l ON l.tenant_id = $1 AND l.id = e.lead_id
              WHERE (e.at AT TIME ZONE 'UTC')::date BETWEEN $2 AND $3)
         SELECT key, currency, sum(invoices)::bigint AS invoices, sum(credit_notes)::bigint AS credit_notes,
                sum(invoiced)::numeric(14, 2) AS invoiced, sum(credited)::numeric(14, 2) AS credited,
                sum(invoiced - credited)::numeric(14, 2) AS revenue, sum(tax)::numeric(14, 2) AS tax,
                sum(invoiced - credited + tax)::numeric(14, 2) AS gross,
                GROUPING(key) = 1 AS is_total
           FROM keyed
          GROUP BY GROUPING SETS ((key, currency), (currency))
          ORDER BY is_total, key NULLS LAST, currency"
    ))
    .bind(tenant.as_str())
    .bind(from)
    .bind(to)
    .bind(group_by.as_str())
    .fetch_all(pool)
    .await
}

/// One piece of equipment's hours over a range (rounded to 2 places).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UtilizationRow {
    pub equipment_id: Uuid,
    pub name: String,
    pub equipment_type: String,
    pub location_id: String,
    pub status: String,
    /// The hours of the range it was in service.
    pub range_hours: Decimal,
    /// The hours of that time held by maintenance windows.
    pub maintenance_hours: Decimal,
    /// range − maintenance.
    pub available_hours: Decimal,
    /// The hours of that time held by assignments.
    pub assigned_hours: Decimal,
}

/// The hours of each piece of `tenant`'s equipment in service over
/// `[from, to)` (equipment out of service the whole range left out), by
/// type, then name.
pub async fn equipment_utilization(
    pool: &PgPool,
    tenant: &TenantId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<UtilizationRow>, sqlx::Error> {
    let (equipment, maintenance, assignments) =
        (equipment::TABLE, equipment::MAINTENANCE, assignments::TABLE);
    sqlx::query_as(&format!(
        "WITH live AS (
             SELECT e.id, e.name, e.equipment_type, e.location_id, e.status,
                    greatest($2::timestamptz, e.created_at) AS s,
                    least($3::timestamptz, coalesce(e.retired_at, e.sold_at, $3::timestamptz)) AS t
               FROM {equipment} e
              WHERE e.tenant_id = $1),
         served AS (SELECT * FROM live WHERE s < t),
         maintenance AS (
             SELECT l.id, sum(extract(epoch FROM least(l.t, m.booked_until) - greatest(l.s, m.window_start))) AS secs
               FROM served l
               JOIN {maintenance} m ON m.tenant_id = $1 AND m.equipment_id = l.id
              WHERE m.status <> 'CANCELLED' AND m.window_start < l.t AND m.booked_until > l.s
              GROUP BY l.id),
         assigned AS (
             SELECT l.id, sum(extract(epoch FROM least(l.t, a.booked_until) - greatest(l.s, a.starts_at))) AS secs
               FROM served l
               JOIN {assignments} a ON a.tenant_id = $1 AND a.equipment_id = l.id
              WHERE a.status <> 'CANCELLED' AND a.starts_at < l.t AND a.booked_until > l.s
              GROUP BY l.id)
         SELECT l.id AS equipment_id, l.name, l.equipment_type, l.location_id, l.status,
                round(extract(epoch FROM l.t - l.s) / 3600, 2) AS range_hours,
                round(coalesce(m.secs, 0) / 3600, 2) AS maintenance_hours,
                round((extract(epoch FROM l.t - l.s) - coalesce(m.secs, 0)) / 3600, 2) AS available_hours,
                round(coalesce(a.secs, 0) / 3600, 2) AS assigned_hours
           FROM served l
           LEFT JOIN maintenance m ON m.id = l.id
           LEFT JOIN assigned a ON a.id = l.id
          ORDER BY l.equipment_type, l.name, l.id"
    ))
    .bind(tenant.as_str())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}
