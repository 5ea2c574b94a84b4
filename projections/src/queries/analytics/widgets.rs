//! The dashboard's widgets: daily series, bars and tables.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    CURRENCY_CTE, HI, INVOICE_SCOPE, LEAD_SCOPE, LO, OPEN_STATUSES, Period, QUOTE_SCOPE, Scope,
    Unit, scoped,
};

/// The most rows or bars a widget returns, whatever the limit asked.
pub const MAX_LIMIT: i64 = 1000;

macro_rules! keyed {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $key:literal, $label:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The snake_case name.
            pub fn key(self) -> &'static str {
                match self {
                    $(Self::$variant => $key,)*
                }
            }

            /// The value whose [`Self::key`] is `key`.
            pub fn parse(key: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|m| m.key() == key)
            }

            pub fn label(self) -> &'static str {
                match self {
                    $(Self::$variant => $label,)*
                }
            }
        }
    };
}

keyed! {
    /// A figure per local day.
    SeriesMetric {
        /// Leads created that day (as the KPI `new_leads`).
        NewLeads => "new_leads", "New leads";
        /// Quote sendings that day (as the KPI `quotes_sent`).
        QuotesSent => "quotes_sent", "Quotes sent";
        /// Quotes accepted that day (as the KPI `booked_moves`).
        BookedMoves => "booked_moves", "Booked moves";
        /// Revenue of the day (as the KPI `revenue`: invoiced subtotals less
        /// credited subtotal portions, reporting currency).
        Revenue => "revenue", "Revenue";
    }
}

impl SeriesMetric {
    pub fn unit(self) -> Unit {
        match self {
            Self::Revenue => Unit::Money,
            _ => Unit::Count,
        }
    }
}

keyed! {
    /// A figure per label.
    BarMetric {
        /// The leads created in the period by their status now, most first.
        LeadsByStatus => "leads_by_status", "Leads by status";
        /// The leads created in the period by source, most first.
        LeadsBySource => "leads_by_source", "Leads by source";
        /// Revenue per local month (`YYYY-MM`) of the period, every month,
        /// in order (the latest `limit`).
        RevenueByMonth => "revenue_by_month", "Revenue by month";
    }
}

impl BarMetric {
    pub fn unit(self) -> Unit {
        match self {
            Self::RevenueByMonth => Unit::Money,
            _ => Unit::Count,
        }
    }
}

keyed! {
    /// A list of rows.
    TableMetric {
        /// The leads created in the period, newest first.
        RecentLeads => "recent_leads", "Recent leads";
        /// The open invoices past due now (as the KPI `overdue_invoices`),
        /// most overdue first (the period does not matter).
        OverdueInvoices => "overdue_invoices", "Overdue invoices";
        /// The items at or below their reorder point now (as the KPI
        /// `low_stock_items`), furthest below first (the period and the
        /// owner do not matter).
        LowStockItems => "low_stock_items", "Low-stock items";
    }
}

/// One value per local day of the period, zero when nothing happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub unit: Unit,
    /// The reporting currency, for money.
    pub currency: Option<String>,
    pub points: Vec<(NaiveDate, Decimal)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bars {
    pub unit: Unit,
    /// The reporting currency, for money.
    pub currency: Option<String>,
    pub bars: Vec<(String, Decimal)>,
}

/// Rows of text: money as `1234.50`, timestamps RFC 3339 (UTC), dates
/// `YYYY-MM-DD`, ids as UUIDs; `None` for a missing value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Each column's key and label.
    pub columns: Vec<(&'static str, &'static str)>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// A timestamped value of a series (`at`, `value`), and the currency.
fn series_source(metric: SeriesMetric) -> String {
    match metric {
        SeriesMetric::NewLeads => format!(
            "SELECT l.created_at AS at, 1::numeric AS value FROM read.leads l
              WHERE l.tenant_id = $1 AND l.created_at >= {LO} AND l.created_at < {HI} AND {LEAD_SCOPE}"
        ),
        SeriesMetric::QuotesSent => format!(
            "SELECT r.sent_at AS at, 1::numeric AS value
               FROM read.quote_revisions r
               JOIN read.quotes q ON q.tenant_id = r.tenant_id AND q.id = r.quote_id
              WHERE r.tenant_id = $1 AND r.sent_at >= {LO} AND r.sent_at < {HI}
                AND NOT q.is_template AND {QUOTE_SCOPE}"
        ),
        SeriesMetric::BookedMoves => format!(
            "SELECT q.accepted_at AS at, 1::numeric AS value FROM read.quotes q
              WHERE q.tenant_id = $1 AND greatest(q.accepted_at, q.rejected_at, q.expired_at) >= {LO}
                AND q.accepted_at >= {LO} AND q.accepted_at < {HI} AND NOT q.is_template AND {QUOTE_SCOPE}"
        ),
        SeriesMetric::Revenue => revenue_entries(),
    }
}

/// The revenue's entries (`at`, `value`): each issued, non-voided invoice's
/// subtotal at its issue, less each credit note's subtotal portion at its
/// issue, in the reporting currency (needs [`CURRENCY_CTE`]).
fn revenue_entries() -> String {
    format!(
        "SELECT i.issued_at AS at, i.subtotal AS value FROM read.invoices i
          WHERE i.tenant_id = $1 AND i.issued_at >= {LO} AND i.issued_at < {HI} AND i.voided_at IS NULL
            AND i.currency = (SELECT code FROM cur) AND {INVOICE_SCOPE}
         UNION ALL
         SELECT c.issued_at, -c.subtotal_portion
           FROM read.invoice_credit_notes c
           JOIN read.invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
          WHERE c.tenant_id = $1 AND c.issued_at >= {LO} AND c.issued_at < {HI} AND i.voided_at IS NULL
            AND i.currency = (SELECT code FROM cur) AND {INVOICE_SCOPE}"
    )
}

/// `metric` per local day of `period` (every day, zero-filled).
pub async fn series(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
    metric: SeriesMetric,
) -> Result<Series, sqlx::Error> {
    let sql = format!(
        "WITH {CURRENCY_CTE},
         days AS (SELECT d::date AS day FROM generate_series($2::date::timestamp, $3::date::timestamp, interval '1 day') AS d),
         x AS ({})
         SELECT d.day, coalesce(sum(x.value), 0) AS value, (SELECT code FROM cur) AS currency
           FROM days d
           LEFT JOIN x ON (x.at AT TIME ZONE $4::text)::date = d.day
          GROUP BY d.day
          ORDER BY d.day",
        series_source(metric)
    );
    let rows: Vec<(NaiveDate, Decimal, String)> =
        scoped(&sql, scope, period).fetch_all(pool).await?;
    let unit = metric.unit();
    let currency = match unit {
        Unit::Money => rows.first().map(|r| r.2.clone()),
        _ => None,
    };
    Ok(Series {
        unit,
        currency,
        points: rows.into_iter().map(|(d, v, _)| (d, v)).collect(),
    })
}

/// `metric` for `scope` over `period`, at most `limit` bars (0 to
/// [`MAX_LIMIT`]).
pub async fn bars(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
    metric: BarMetric,
    limit: i64,
) -> Result<Bars, sqlx::Error> {
    let limit = limit.clamp(0, MAX_LIMIT);
    let sql = match metric {
        BarMetric::LeadsByStatus | BarMetric::LeadsBySource => {
            let column = if metric == BarMetric::LeadsByStatus {
                "l.status"
            } else {
                "l.source"
            };
            format!(
                "WITH {CURRENCY_CTE}
                 SELECT {column} AS label, count(*)::numeric AS value, (SELECT code FROM cur) AS currency
                   FROM read.leads l
                  WHERE l.tenant_id = $1 AND l.created_at >= {LO} AND l.created_at < {HI} AND {LEAD_SCOPE}
                  GROUP BY 1
                  ORDER BY value DESC, label
                  LIMIT $7"
            )
        }
        BarMetric::RevenueByMonth => format!(
            "WITH {CURRENCY_CTE},
             months AS (
                 SELECT to_char(m, 'YYYY-MM') AS label
                   FROM generate_series(date_trunc('month', $2::date::timestamp), $3::date::timestamp,
                                        interval '1 month') AS m),
             x AS ({})
             SELECT * FROM (
                 SELECT m.label, coalesce(sum(x.value), 0) AS value, (SELECT code FROM cur) AS currency
                   FROM months m
                   LEFT JOIN x ON to_char(x.at AT TIME ZONE $4::text, 'YYYY-MM') = m.label
                  GROUP BY m.label
                  ORDER BY m.label DESC
                  LIMIT $7) latest
              ORDER BY label",
            revenue_entries()
        ),
    };
    let rows: Vec<(String, Decimal, String)> = scoped(&sql, scope, period)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let unit = metric.unit();
    let currency = match unit {
        Unit::Money => Some(match rows.first() {
            Some(row) => row.2.clone(),
            None => reporting_currency(pool, scope).await?,
        }),
        _ => None,
    };
    Ok(Bars {
        unit,
        currency,
        bars: rows.into_iter().map(|(l, v, _)| (l, v)).collect(),
    })
}

/// The tenant's reporting currency (see the module docs).
pub async fn reporting_currency(pool: &PgPool, scope: &Scope) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(&format!("WITH {CURRENCY_CTE} SELECT code FROM cur"))
        .bind(scope.tenant.as_str())
        .fetch_one(pool)
        .await
}

#[derive(Debug, sqlx::FromRow)]
struct RecentLead {
    id: Uuid,
    created_at: DateTime<Utc>,
    customer_name: Option<String>,
    source: String,
    status: String,
    assigned_to: Option<Uuid>,
    estimated_value: Option<Decimal>,
}

#[derive(Debug, sqlx::FromRow)]
struct OverdueInvoice {
    id: Uuid,
    number: Option<String>,
    customer_name: Option<String>,
    due_date: Option<NaiveDate>,
    days_overdue: Option<i32>,
    balance: Option<Decimal>,
    currency: String,
}

#[derive(Debug, sqlx::FromRow)]
struct LowStockItem {
    id: Uuid,
    sku: String,
    name: String,
    location_id: String,
    quantity: Decimal,
    min_quantity: Decimal,
}

/// Money to the cent: `1234.50`.
fn money(value: Decimal) -> String {
    format!("{value:.2}")
}

/// A stock quantity to its 3 places: `2.000`.
fn quantity(value: Decimal) -> String {
    format!("{value:.3}")
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `metric` for `scope` over `period`, at most `limit` rows (0 to
/// [`MAX_LIMIT`]).
pub async fn table(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
    metric: TableMetric,
    limit: i64,
) -> Result<Table, sqlx::Error> {
    let limit = limit.clamp(0, MAX_LIMIT);
    let text = |v: &dyn ToString| Some(v.to_string());
    Ok(match metric {
        TableMetric::RecentLeads => {
            let sql = format!(
                "SELECT l.id, l.created_at, l.customer_name, l.source, l.status, l.assigned_to, l.estimated_value
                   FROM read.leads l
                  WHERE l.tenant_id = $1 AND l.created_at >= {LO} AND l.created_at < {HI} AND {LEAD_SCOPE}
                  ORDER BY l.created_at DESC, l.id DESC
                  LIMIT $7"
            );
            let rows: Vec<RecentLead> = scoped(&sql, scope, period)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Table {
                columns: vec![
                    ("id", "Lead"),
                    ("created_at", "Created"),
                    ("customer_name", "Customer"),
                    ("source", "Source"),
                    ("status", "Status"),
                    ("assigned_to", "Assigned to"),
                    ("estimated_value", "Estimated value"),
                ],
                rows: rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            text(&r.id),
                            Some(timestamp(r.created_at)),
                            r.customer_name,
                            Some(r.source),
                            Some(r.status),
                            r.assigned_to.map(|u| u.to_string()),
                            r.estimated_value.map(money),
                        ]
                    })
                    .collect(),
            }
        }
        TableMetric::OverdueInvoices => {
            let sql = format!(
                "SELECT i.id, i.number, c.first_name || ' ' || c.last_name AS customer_name, i.due_date,
                        (now() AT TIME ZONE $4::text)::date - i.due_date AS days_overdue, i.balance, i.currency
                   FROM read.invoices i
                   LEFT JOIN read.customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
                  WHERE i.tenant_id = $1 AND i.status = ANY({OPEN_STATUSES}) AND i.issued_at IS NOT NULL
                    AND i.voided_at IS NULL AND i.balance > 0
                    AND i.due_date < (now() AT TIME ZONE $4::text)::date AND {INVOICE_SCOPE}
                  ORDER BY i.due_date, i.number, i.id
                  LIMIT $7"
            );
            let rows: Vec<OverdueInvoice> = scoped(&sql, scope, period)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Table {
                columns: vec![
                    ("id", "Invoice id"),
                    ("number", "Invoice"),
                    ("customer_name", "Customer"),
                    ("due_date", "Due"),
                    ("days_overdue", "Days overdue"),
                    ("balance", "Balance"),
                    ("currency", "Currency"),
                ],
                rows: rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            text(&r.id),
                            r.number,
                            r.customer_name,
                            r.due_date.map(|d| d.to_string()),
                            r.days_overdue.map(|d| d.to_string()),
                            r.balance.map(money),
                            Some(r.currency),
                        ]
                    })
                    .collect(),
            }
        }
        TableMetric::LowStockItems => {
            let rows: Vec<LowStockItem> = sqlx::query_as(
                "SELECT id, sku, name, location_id, quantity, min_quantity
                   FROM read.inventory_items
                  WHERE tenant_id = $1 AND low_stock AND ($2::text IS NULL OR location_id = $2)
                  ORDER BY quantity - min_quantity, sku, id
                  LIMIT $3",
            )
            .bind(scope.tenant.as_str())
            .bind(scope.location_id.as_deref())
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Table {
                columns: vec![
                    ("id", "Item id"),
                    ("sku", "SKU"),
                    ("name", "Item"),
                    ("location_id", "Location"),
                    ("quantity", "Quantity"),
                    ("min_quantity", "Reorder point"),
                ],
                rows: rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            text(&r.id),
                            Some(r.sku),
                            Some(r.name),
                            Some(r.location_id),
                            Some(quantity(r.quantity)),
                            Some(quantity(r.min_quantity)),
                        ]
                    })
                    .collect(),
            }
        }
    })
}
