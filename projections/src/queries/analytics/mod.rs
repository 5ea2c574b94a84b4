//! Analytics: the dashboard's KPIs, its widgets (daily series, bars,
//! tables) and three reports (sales pipeline, quotes, new customers), read
//! from the read models of the `leads`, `quotes`, `invoices`, `customers`,
//! `equipment`, `equipment_assignments` and `inventory` projections.
//!
//! Every statement is scoped to one tenant ([`Scope::tenant`]). A period is
//! a range of the tenant's local days ([`Period`]): a timestamp belongs to
//! the local day it falls on in [`Period::tz`] (PostgreSQL's time zone
//! rules).
//!
//! **Scope.** [`Scope::owner`] (a sales rep) narrows what carries an owner:
//! a lead is the rep's when assigned to them, or unassigned and created by
//! them (`coalesce(assigned_to, created_by)`, so each lead has exactly one
//! owner and reps' figures add up to the tenant's); a quote is its author's
//! (`created_by`, as in the quote lists); an invoice its sales rep's, or
//! without one its author's (`coalesce(sales_rep, created_by)`, as in the
//! invoice lists); a customer belongs to the owner of their first lead.
//! [`Scope::location_id`] narrows leads, quotes, invoices, equipment and
//! inventory items by their `location_id`, customers by their first lead's.
//! Truck utilization and low-stock items carry no owner: a rep sees the
//! tenant's (or the location's) figure.
//!
//! **Money.** One currency per call: the tenant's reporting currency, the
//! most used among its 500 most recently created invoices and 500 most
//! recently created quotes (templates left out; ties: the alphabetically
//! first), or `CAD` (the system's default currency) without any. The tenant
//! profile has no currency. Money figures count only rows in that currency;
//! counts count every currency.
//!
//! **Numbers.** Never floating point: `numeric` in SQL, [`Decimal`] here.
//! Fractions are rounded to 4 places, money to cents, days to 2 places
//! (half away from zero); percentiles are interpolated
//! (`percentile_cont`, over intervals, so exact to the microsecond).
//!
//! **Indexes.** Periods select by time through the tables' indexes: leads
//! and customers by `created_at`, invoices by `issued_at`, credit notes by
//! `issued_at`, open invoices by `status`, low-stock items by the partial
//! `low_stock` index, trucks by type and their assignments by equipment.
//! The quotes projection (version 3) indexes quote revisions by `sent_at`
//! and quotes by their latest decision
//! (`greatest(accepted_at, rejected_at, expired_at)`) for these queries.

mod reports;
mod widgets;

#[cfg(test)]
mod tests;

pub use reports::{
    NewCustomerRow, PipelineRow, QuoteSummaryRow, new_customers, quotes_summary, sales_pipeline,
};
pub use widgets::{
    BarMetric, Bars, MAX_LIMIT, Series, SeriesMetric, Table, TableMetric, bars, reporting_currency,
    series, table,
};

use chrono::{Days, NaiveDate};
use event_schemas::TenantId;
use rust_decimal::{Decimal, RoundingStrategy};
use sqlx::PgPool;
use uuid::Uuid;

/// What the figures cover: one tenant, optionally one location and one
/// owner (see the module docs for what each narrows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub tenant: TenantId,
    /// `leads.location_id` and the like (text).
    pub location_id: Option<String>,
    /// `Some(user)` for sales reps: only their own leads, quotes, invoices
    /// and customers.
    pub owner: Option<Uuid>,
}

impl Scope {
    /// The whole tenant.
    pub fn tenant(tenant: TenantId) -> Self {
        Self {
            tenant,
            location_id: None,
            owner: None,
        }
    }
}

/// A range of the tenant's local days, `from` to `to` inclusive (`from` ≤
/// `to`; [`Period::new`] checks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    /// Inclusive.
    pub to: NaiveDate,
    /// The tenant's time zone: day boundaries are local midnights.
    pub tz: chrono_tz::Tz,
}

impl Period {
    /// `None` when `to` is before `from`.
    pub fn new(from: NaiveDate, to: NaiveDate, tz: chrono_tz::Tz) -> Option<Self> {
        (from <= to).then_some(Self { from, to, tz })
    }

    /// The same number of days just before.
    pub fn previous(&self) -> Period {
        let days = u64::try_from(self.days()).unwrap_or(0);
        Period {
            from: self.from - Days::new(days),
            to: self.from - Days::new(1),
            tz: self.tz,
        }
    }

    /// The number of days (both ends counted).
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }
}

/// What a figure counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Count,
    /// In the figure's currency.
    Money,
    /// A fraction: 0.25 is 25 %.
    Percent,
    Seconds,
    Days,
}

impl Unit {
    pub fn key(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Money => "money",
            Self::Percent => "percent",
            Self::Seconds => "seconds",
            Self::Days => "days",
        }
    }
}

/// A dashboard figure. Its exact meaning is [`Kpi::definition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kpi {
    NewLeads,
    SpeedToLead,
    LeadConversionRate,
    QuotesSent,
    QuoteAcceptanceRate,
    BookedMoves,
    AverageMoveValue,
    Revenue,
    ArOutstanding,
    DaysSalesOutstanding,
    OverdueInvoices,
    TruckUtilization,
    LowStockItems,
}

impl Kpi {
    pub const ALL: [Kpi; 13] = [
        Kpi::NewLeads,
        Kpi::SpeedToLead,
        Kpi::LeadConversionRate,
        Kpi::QuotesSent,
        Kpi::QuoteAcceptanceRate,
        Kpi::BookedMoves,
        Kpi::AverageMoveValue,
        Kpi::Revenue,
        Kpi::ArOutstanding,
        Kpi::DaysSalesOutstanding,
        Kpi::OverdueInvoices,
        Kpi::TruckUtilization,
        Kpi::LowStockItems,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::NewLeads => "new_leads",
            Self::SpeedToLead => "speed_to_lead",
            Self::LeadConversionRate => "lead_conversion_rate",
            Self::QuotesSent => "quotes_sent",
            Self::QuoteAcceptanceRate => "quote_acceptance_rate",
            Self::BookedMoves => "booked_moves",
            Self::AverageMoveValue => "average_move_value",
            Self::Revenue => "revenue",
            Self::ArOutstanding => "ar_outstanding",
            Self::DaysSalesOutstanding => "days_sales_outstanding",
            Self::OverdueInvoices => "overdue_invoices",
            Self::TruckUtilization => "truck_utilization",
            Self::LowStockItems => "low_stock_items",
        }
    }

    /// The KPI whose [`Kpi::key`] is `key`.
    pub fn parse(key: &str) -> Option<Kpi> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::NewLeads => "New leads",
            Self::SpeedToLead => "Speed to lead",
            Self::LeadConversionRate => "Lead conversion rate",
            Self::QuotesSent => "Quotes sent",
            Self::QuoteAcceptanceRate => "Quote acceptance rate",
            Self::BookedMoves => "Booked moves",
            Self::AverageMoveValue => "Average move value",
            Self::Revenue => "Revenue",
            Self::ArOutstanding => "AR outstanding",
            Self::DaysSalesOutstanding => "Days sales outstanding",
            Self::OverdueInvoices => "Overdue invoices",
            Self::TruckUtilization => "Truck utilization",
            Self::LowStockItems => "Low-stock items",
        }
    }

    /// What the figure is, exactly.
    pub fn definition(self) -> &'static str {
        match self {
            Self::NewLeads => "The number of leads created in the period.",
            Self::SpeedToLead => {
                "The median (interpolated) of the seconds from a lead's creation to its first contact, over the leads \
                 created in the period that have been contacted; none when no such lead."
            }
            Self::LeadConversionRate => {
                "Of the leads created in the period, the fraction that are WON (a final status, reached when a quote \
                 is accepted or set by hand); none when no lead was created."
            }
            Self::QuotesSent => {
                "The number of quote sendings in the period: each revision sent counts once, so a quote revised and \
                 sent again counts again."
            }
            Self::QuoteAcceptanceRate => {
                "Acceptances ÷ (acceptances + rejections + expiries) among the quote decisions recorded in the \
                 period (a quote's acceptance, its latest rejection, its latest expiry); none without any decision."
            }
            Self::BookedMoves => {
                "The number of quotes accepted in the period (acceptance is final and wins the lead: the move is \
                 booked), in any currency."
            }
            Self::AverageMoveValue => {
                "The average total, tax included, of the quotes accepted in the period in the reporting currency, \
                 as accepted (with the optional items chosen); none without any."
            }
            Self::Revenue => {
                "The subtotals (before tax) of the invoices issued in the period less the subtotal portions of the \
                 credit notes issued in the period, voided invoices left out, in the reporting currency (the revenue \
                 report's figure, by local day)."
            }
            Self::ArOutstanding => {
                "The open balance now of the issued, non-voided invoices with a balance left, in the reporting \
                 currency (the same whatever the period)."
            }
            Self::DaysSalesOutstanding => {
                "AR outstanding ÷ the period's revenue × the period's days; none when the revenue is zero or \
                 negative."
            }
            Self::OverdueInvoices => {
                "The number of issued, non-voided invoices with a balance left whose due date is before today \
                 (the tenant's today), in any currency (the same whatever the period)."
            }
            Self::TruckUtilization => {
                "Of the truck-days of the period (each local day each TRUCK was in service: registered before the \
                 day ended, not retired or sold before it began), the fraction held by an assignment that is not \
                 cancelled; none without trucks."
            }
            Self::LowStockItems => {
                "The number of inventory items now at or below their reorder point (the item's low-stock flag), \
                 the same whatever the period."
            }
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Self::NewLeads
            | Self::QuotesSent
            | Self::BookedMoves
            | Self::OverdueInvoices
            | Self::LowStockItems => Unit::Count,
            Self::SpeedToLead => Unit::Seconds,
            Self::LeadConversionRate | Self::QuoteAcceptanceRate | Self::TruckUtilization => {
                Unit::Percent
            }
            Self::AverageMoveValue | Self::Revenue | Self::ArOutstanding => Unit::Money,
            Self::DaysSalesOutstanding => Unit::Days,
        }
    }

    fn source(self) -> Source {
        match self {
            Self::NewLeads | Self::SpeedToLead | Self::LeadConversionRate => Source::Leads,
            Self::QuotesSent
            | Self::QuoteAcceptanceRate
            | Self::BookedMoves
            | Self::AverageMoveValue => Source::Quotes,
            Self::Revenue
            | Self::ArOutstanding
            | Self::DaysSalesOutstanding
            | Self::OverdueInvoices => Source::Invoices,
            Self::TruckUtilization => Source::Trucks,
            Self::LowStockItems => Source::Stock,
        }
    }
}

/// The read model a KPI is computed from (one statement each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Leads,
    Quotes,
    Invoices,
    Trucks,
    Stock,
}

/// One KPI's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiValue {
    pub kpi: Kpi,
    /// `None` when undefined (a rate with a zero denominator, a median of
    /// nothing).
    pub value: Option<Decimal>,
    /// The reporting currency, for money KPIs.
    pub currency: Option<String>,
}

// The SQL shared by the statements. Scoped statements bind $1 the tenant,
// $2 the period's first day, $3 its last day, $4 the time zone's name, $5
// the owner and $6 the location.

/// The period's first instant (local midnight of `from`).
pub(crate) const LO: &str = "($2::date::timestamp AT TIME ZONE $4::text)";
/// The instant after the period (local midnight after `to`).
pub(crate) const HI: &str = "(($3::date + 1)::timestamp AT TIME ZONE $4::text)";
/// The leads (`l`) of the scope.
pub(crate) const LEAD_SCOPE: &str =
    "($5::uuid IS NULL OR coalesce(l.assigned_to, l.created_by) = $5)
     AND ($6::text IS NULL OR l.location_id = $6)";
/// The quotes (`q`) of the scope.
pub(crate) const QUOTE_SCOPE: &str =
    "($5::uuid IS NULL OR q.created_by = $5) AND ($6::text IS NULL OR q.location_id = $6)";
/// The invoices (`i`) of the scope.
pub(crate) const INVOICE_SCOPE: &str =
    "($5::uuid IS NULL OR coalesce(i.sales_rep, i.created_by) = $5)
     AND ($6::text IS NULL OR i.location_id = $6)";
/// A CTE `cur(code)`: the tenant's reporting currency (see the module docs).
pub(crate) const CURRENCY_CTE: &str = "cur AS (
     SELECT coalesce((
         SELECT c.currency FROM (
             (SELECT currency FROM read.invoices WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 500)
             UNION ALL
             (SELECT currency FROM read.quotes WHERE tenant_id = $1 AND NOT is_template
               ORDER BY created_at DESC, id DESC LIMIT 500)) c
          GROUP BY c.currency ORDER BY count(*) DESC, c.currency LIMIT 1), 'CAD') AS code)";
/// The statuses of issued, non-voided invoices with a balance left
/// (`event_schemas::invoice::invoice_status`).
pub(crate) const OPEN_STATUSES: &str = "'{SENT,PARTIAL_PAID,OVERDUE}'::text[]";

type Query<'q, T> = sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>;

/// `sql` with the scope's and the period's parameters ($1 to $6) bound.
pub(crate) fn scoped<'q, T>(sql: &'q str, scope: &Scope, period: &Period) -> Query<'q, T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    sqlx::query_as(sql)
        .bind(scope.tenant.as_str().to_owned())
        .bind(period.from)
        .bind(period.to)
        .bind(period.tz.name())
        .bind(scope.owner)
        .bind(scope.location_id.clone())
}

/// `n / d` to 4 places; `None` when `d` is zero.
pub(crate) fn fraction(n: i64, d: i64) -> Option<Decimal> {
    (d != 0).then(|| round(Decimal::from(n) / Decimal::from(d), 4))
}

pub(crate) fn round(value: Decimal, places: u32) -> Decimal {
    value
        .round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

#[derive(Debug, sqlx::FromRow)]
struct LeadFigures {
    new_leads: i64,
    won: i64,
    speed_p50: Option<Decimal>,
}

#[derive(Debug, sqlx::FromRow)]
struct QuoteFigures {
    sent: i64,
    accepted: i64,
    rejected: i64,
    expired: i64,
    average_value: Option<Decimal>,
    currency: String,
}

#[derive(Debug, sqlx::FromRow)]
struct InvoiceFigures {
    invoiced: Decimal,
    credited: Decimal,
    ar: Decimal,
    overdue: i64,
    currency: String,
}

#[derive(Debug, sqlx::FromRow)]
struct TruckFigures {
    truck_days: i64,
    used: i64,
}

async fn lead_figures(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
) -> Result<LeadFigures, sqlx::Error> {
    let sql = format!(
        "SELECT count(*) AS new_leads, count(*) FILTER (WHERE l.status = 'WON') AS won,
                extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
                    (ORDER BY l.response_seconds * interval '1 second')) AS speed_p50
           FROM read.leads l
          WHERE l.tenant_id = $1 AND l.created_at >= {LO} AND l.created_at < {HI} AND {LEAD_SCOPE}"
    );
    scoped(&sql, scope, period).fetch_one(pool).await
}

async fn quote_figures(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
) -> Result<QuoteFigures, sqlx::Error> {
    let sql = format!(
        "WITH {CURRENCY_CTE},
         sent AS (
             SELECT count(*) AS n
               FROM read.quote_revisions r
               JOIN read.quotes q ON q.tenant_id = r.tenant_id AND q.id = r.quote_id
              WHERE r.tenant_id = $1 AND r.sent_at >= {LO} AND r.sent_at < {HI}
                AND NOT q.is_template AND {QUOTE_SCOPE}),
         decided AS (
             SELECT q.accepted_at >= {LO} AND q.accepted_at < {HI} AS accepted,
                    q.rejected_at >= {LO} AND q.rejected_at < {HI} AS rejected,
                    q.expired_at >= {LO} AND q.expired_at < {HI} AS expired,
                    q.currency, coalesce((q.accepted_totals ->> 'total')::numeric, q.total) AS value
               FROM read.quotes q
              WHERE q.tenant_id = $1 AND greatest(q.accepted_at, q.rejected_at, q.expired_at) >= {LO}
                AND NOT q.is_template AND {QUOTE_SCOPE})
         SELECT (SELECT n FROM sent) AS sent,
                count(*) FILTER (WHERE accepted) AS accepted,
                count(*) FILTER (WHERE rejected) AS rejected,
                count(*) FILTER (WHERE expired) AS expired,
                round(avg(value) FILTER (WHERE accepted AND currency = (SELECT code FROM cur)), 2) AS average_value,
                (SELECT code FROM cur) AS currency
           FROM decided"
    );
    scoped(&sql, scope, period).fetch_one(pool).await
}

async fn invoice_figures(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
) -> Result<InvoiceFigures, sqlx::Error> {
    let sql = format!(
        "WITH {CURRENCY_CTE},
         issued AS (
             SELECT coalesce(sum(i.subtotal), 0) AS invoiced
               FROM read.invoices i
              WHERE i.tenant_id = $1 AND i.issued_at >= {LO} AND i.issued_at < {HI} AND i.voided_at IS NULL
                AND i.currency = (SELECT code FROM cur) AND {INVOICE_SCOPE}),
         credited AS (
             SELECT coalesce(sum(c.subtotal_portion), 0) AS credited
               FROM read.invoice_credit_notes c
               JOIN read.invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
              WHERE c.tenant_id = $1 AND c.issued_at >= {LO} AND c.issued_at < {HI} AND i.voided_at IS NULL
                AND i.currency = (SELECT code FROM cur) AND {INVOICE_SCOPE}),
         open AS (
             SELECT coalesce(sum(i.balance) FILTER (WHERE i.currency = (SELECT code FROM cur)), 0) AS ar,
                    count(*) FILTER (WHERE i.due_date < (now() AT TIME ZONE $4::text)::date) AS overdue
               FROM read.invoices i
              WHERE i.tenant_id = $1 AND i.status = ANY({OPEN_STATUSES}) AND i.issued_at IS NOT NULL
                AND i.voided_at IS NULL AND i.balance > 0 AND {INVOICE_SCOPE})
         SELECT issued.invoiced, credited.credited, open.ar, open.overdue, (SELECT code FROM cur) AS currency
           FROM issued, credited, open"
    );
    scoped(&sql, scope, period).fetch_one(pool).await
}

async fn truck_figures(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
) -> Result<TruckFigures, sqlx::Error> {
    let sql = format!(
        "WITH days AS (
             SELECT d AT TIME ZONE $4::text AS s, (d + interval '1 day') AT TIME ZONE $4::text AS t
               FROM generate_series($2::date::timestamp, $3::date::timestamp, interval '1 day') AS d),
         trucks AS (
             SELECT e.id, e.created_at, coalesce(e.retired_at, e.sold_at) AS gone
               FROM read.equipment e
              WHERE e.tenant_id = $1 AND e.equipment_type = 'TRUCK' AND ($6::text IS NULL OR e.location_id = $6)),
         truck_days AS (
             SELECT tr.id, d.s, d.t FROM trucks tr
               JOIN days d ON tr.created_at < d.t AND (tr.gone IS NULL OR tr.gone > d.s)),
         held AS (
             SELECT a.equipment_id, a.starts_at, a.booked_until
               FROM trucks tr
               JOIN read.equipment_assignments a ON a.tenant_id = $1 AND a.equipment_id = tr.id
              WHERE a.status <> 'CANCELLED' AND a.starts_at < {HI} AND a.booked_until > {LO})
         SELECT (SELECT count(*) FROM truck_days) AS truck_days,
                (SELECT count(*) FROM truck_days td
                  WHERE EXISTS (SELECT 1 FROM held h
                                 WHERE h.equipment_id = td.id AND h.starts_at < td.t AND h.booked_until > td.s)
                ) AS used"
    );
    scoped(&sql, scope, period).fetch_one(pool).await
}

async fn low_stock_items(pool: &PgPool, scope: &Scope) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM read.inventory_items
          WHERE tenant_id = $1 AND low_stock AND ($2::text IS NULL OR location_id = $2)",
    )
    .bind(scope.tenant.as_str())
    .bind(scope.location_id.as_deref())
    .fetch_one(pool)
    .await
}

/// The values of `which` (in that order) for `scope` over `period`: one
/// statement per read model needed, run concurrently.
pub async fn kpis(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
    which: &[Kpi],
) -> Result<Vec<KpiValue>, sqlx::Error> {
    let needs = |source: Source| which.iter().any(|k| k.source() == source);
    async fn when<T>(
        needed: bool,
        fetch: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<Option<T>, sqlx::Error> {
        if needed {
            fetch.await.map(Some)
        } else {
            Ok(None)
        }
    }
    let (leads, quotes, invoices, trucks, stock) = tokio::try_join!(
        when(needs(Source::Leads), lead_figures(pool, scope, period)),
        when(needs(Source::Quotes), quote_figures(pool, scope, period)),
        when(
            needs(Source::Invoices),
            invoice_figures(pool, scope, period)
        ),
        when(needs(Source::Trucks), truck_figures(pool, scope, period)),
        when(needs(Source::Stock), low_stock_items(pool, scope)),
    )?;
    let missing = || sqlx::Error::Protocol("a KPI's figures were not fetched".into());
    let mut values = Vec::with_capacity(which.len());
    for &kpi in which {
        let (value, currency) = match kpi.source() {
            Source::Leads => {
                let f = leads.as_ref().ok_or_else(missing)?;
                let value = match kpi {
                    Kpi::NewLeads => Some(Decimal::from(f.new_leads)),
                    Kpi::SpeedToLead => f.speed_p50.map(|d| d.normalize()),
                    _ => fraction(f.won, f.new_leads),
                };
                (value, None)
            }
            Source::Quotes => {
                let f = quotes.as_ref().ok_or_else(missing)?;
                match kpi {
                    Kpi::QuotesSent => (Some(Decimal::from(f.sent)), None),
                    Kpi::QuoteAcceptanceRate => (
                        fraction(f.accepted, f.accepted + f.rejected + f.expired),
                        None,
                    ),
                    Kpi::BookedMoves => (Some(Decimal::from(f.accepted)), None),
                    _ => (f.average_value, Some(f.currency.clone())),
                }
            }
            Source::Invoices => {
                let f = invoices.as_ref().ok_or_else(missing)?;
                let revenue = f.invoiced - f.credited;
                match kpi {
                    Kpi::Revenue => (Some(revenue), Some(f.currency.clone())),
                    Kpi::ArOutstanding => (Some(f.ar), Some(f.currency.clone())),
                    Kpi::DaysSalesOutstanding => (
                        (revenue > Decimal::ZERO)
                            .then(|| round(f.ar / revenue * Decimal::from(period.days()), 2)),
                        None,
                    ),
                    _ => (Some(Decimal::from(f.overdue)), None),
                }
            }
            Source::Trucks => {
                let f = trucks.as_ref().ok_or_else(missing)?;
                (fraction(f.used, f.truck_days), None)
            }
            Source::Stock => (stock.map(Decimal::from), None),
        };
        values.push(KpiValue {
            kpi,
            value,
            currency,
        });
    }
    Ok(values)
}
