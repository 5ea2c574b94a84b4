//! The rows of each catalogue report, for the report worker: a report's
//! columns (typed for the file formats: money in its currency, dates as
//! dates) and its rows, sent down a channel as they are read, so a
//! million-row ledger never sits in memory.
//!
//! Amounts are in one currency per file (the `currency` parameter, else
//! the tenant's reporting currency), so money cells carry a real currency
//! format. Periods are the tenant's local days.

use aggregates::report::{CatalogueReport, Parameters, Period};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use event_schemas::TenantId;
use futures::TryStreamExt;
use report_formats::{Column, ColumnKind, Value};
use rust_decimal::Decimal;
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::analytics;
use super::{crew_utilization, equipment, inventory, ledger, reports};

/// Rows sent down the channel per message.
pub const BATCH: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The receiving end stopped (the writer failed).
    #[error("the report writer stopped")]
    Closed,
}

/// One report to read: the catalogue report, its parameters, the
/// tenant's day and time zone, and the currency of its amounts.
#[derive(Clone, Debug)]
pub struct Source {
    pub tenant: TenantId,
    pub params: Parameters,
    /// The tenant's today when the run started.
    pub today: NaiveDate,
    pub tz: chrono_tz::Tz,
    pub currency: String,
}

impl Source {
    /// The source of `params` on the tenant's `today`; the currency is the
    /// `currency` parameter or the tenant's reporting currency.
    pub async fn new(
        pool: &PgPool,
        tenant: &TenantId,
        params: Parameters,
        today: NaiveDate,
        tz: chrono_tz::Tz,
    ) -> Result<Self, sqlx::Error> {
        let currency = match params.text("currency") {
            Some(c) => c.to_owned(),
            None => {
                analytics::reporting_currency(pool, &analytics::Scope::tenant(tenant.clone()))
                    .await?
            }
        };
        Ok(Self {
            tenant: tenant.clone(),
            params,
            today,
            tz,
            currency,
        })
    }

    pub fn report(&self) -> CatalogueReport {
        self.params.report
    }

    /// The days the report covers (a report without a period: `None`).
    pub fn period(&self) -> Option<Period> {
        self.params.period(self.today)
    }

    /// What the file's heading says of the period.
    pub fn period_label(&self) -> String {
        match self.period() {
            Some(p) => p.label(),
            None => format!("As of {}", self.as_of()),
        }
    }

    fn as_of(&self) -> NaiveDate {
        self.params.date("as_of").unwrap_or(self.today)
    }

    fn analytics_period(&self) -> analytics::Period {
        let p = self.period().unwrap_or(Period {
            from: self.today,
            to: self.today,
        });
        analytics::Period {
            from: p.from,
            to: p.to,
            tz: self.tz,
        }
    }

    fn analytics_scope(&self) -> analytics::Scope {
        analytics::Scope {
            tenant: self.tenant.clone(),
            location_id: self.params.text("location_id").map(str::to_owned),
            owner: None,
        }
    }

    /// The local midnight starting `day`, as an instant.
    fn midnight(&self, day: NaiveDate) -> DateTime<Utc> {
        let local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }

    /// The report's columns.
    pub fn columns(&self) -> Vec<Column> {
        let money = || ColumnKind::Money {
            currency: self.currency.clone(),
        };
        let text = || ColumnKind::Text;
        let int = || ColumnKind::Integer;
        let col = |key: &str, label: &str, kind: ColumnKind| Column::new(key, label, kind);
        match self.report() {
            CatalogueReport::ArAging => vec![
                col("customer", "Customer", text()),
                col("invoices", "Invoices", int()),
                col("current", "Current", money()),
                col("days_1_30", "1–30 days", money()),
                col("days_31_60", "31–60 days", money()),
                col("days_61_90", "61–90 days", money()),
                col("days_over_90", "Over 90 days", money()),
                col("total", "Total", money()),
            ],
            CatalogueReport::Revenue => vec![
                col("group", "Group", text()),
                col("invoices", "Invoices", int()),
                col("credit_notes", "Credit notes", int()),
                col("invoiced", "Invoiced", money()),
                col("credited", "Credited", money()),
                col("revenue", "Revenue", money()),
                col("tax", "Tax", money()),
                col("gross", "Gross", money()),
            ],
            CatalogueReport::Ledger => vec![
                col("date", "Date", ColumnKind::Date),
                col("type", "Type", text()),
                col("description", "Description", text()),
                col("category", "Category", text()),
                col("amount", "Amount", money()),
                col("cash_effect", "Cash effect", money()),
                col("reference", "Reference", text()),
                col("invoice_id", "Invoice", text()),
                col("customer_id", "Customer", text()),
                col("recorded_at", "Recorded", ColumnKind::DateTime),
            ],
            CatalogueReport::EquipmentUtilization => vec![
                col("equipment", "Equipment", text()),
                col("type", "Type", text()),
                col("location", "Location", text()),
                col("status", "Status", text()),
                col(
                    "available_hours",
                    "Available h",
                    ColumnKind::Decimal { scale: 2 },
                ),
                col(
                    "assigned_hours",
                    "Assigned h",
                    ColumnKind::Decimal { scale: 2 },
                ),
                col(
                    "maintenance_hours",
                    "Maintenance h",
                    ColumnKind::Decimal { scale: 2 },
                ),
                col("utilization", "Utilization", ColumnKind::Percent),
            ],
            CatalogueReport::MaintenanceDue => vec![
                col("equipment", "Equipment", text()),
                col("type", "Type", text()),
                col("location", "Location", text()),
                col("serial", "Serial", text()),
                col("last_maintenance", "Last maintenance", ColumnKind::Date),
                col("next_due", "Next due", ColumnKind::Date),
                col("days_until_due", "Days until due", int()),
                col("overdue", "Overdue", text()),
            ],
            CatalogueReport::InventoryValuation => vec![
                col("location", "Location", text()),
                col("category", "Category", text()),
                col("items", "Items", int()),
                col("quantity", "Quantity", ColumnKind::Decimal { scale: 3 }),
                col("value", "Value", money()),
            ],
            CatalogueReport::CrewUtilization => vec![
                col("crew_member", "Crew member", text()),
                col("home_location", "Home location", text()),
                col(
                    "scheduled_hours",
                    "Scheduled h",
                    ColumnKind::Decimal { scale: 2 },
                ),
                col(
                    "available_hours",
                    "Available h",
                    ColumnKind::Decimal { scale: 2 },
                ),
                col("utilization", "Utilization", ColumnKind::Percent),
            ],
            CatalogueReport::SalesPipeline => vec![
                col("dimension", "By", text()),
                col("key", "Value", text()),
                col("leads", "Leads", int()),
                col("converted", "Won", int()),
                col("conversion_rate", "Conversion", ColumnKind::Percent),
                col(
                    "speed_p50",
                    "Speed to lead p50 (s)",
                    ColumnKind::Decimal { scale: 0 },
                ),
                col(
                    "speed_p90",
                    "Speed to lead p90 (s)",
                    ColumnKind::Decimal { scale: 0 },
                ),
                col(
                    "quote_p50",
                    "Lead to quote p50 (s)",
                    ColumnKind::Decimal { scale: 0 },
                ),
            ],
            CatalogueReport::Quotes => vec![
                col("month", "Month", text()),
                col("sent", "Sent", int()),
                col("accepted", "Accepted", int()),
                col("rejected", "Rejected", int()),
                col("expired", "Expired", int()),
                col("acceptance_rate", "Acceptance", ColumnKind::Percent),
                col("average_value", "Average value", money()),
            ],
            CatalogueReport::Customers => vec![
                col("month", "Month", text()),
                col("source", "Source", text()),
                col("customers", "New customers", int()),
            ],
        }
    }

    /// How many rows the report has (the PDF cap is checked with it).
    pub async fn count(&self, pool: &PgPool) -> Result<u64, sqlx::Error> {
        if self.report() == CatalogueReport::Ledger {
            let (from, to) = self.days();
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM {} WHERE tenant_id = $1 AND currency = $2
                    AND transaction_date BETWEEN $3 AND $4",
                ledger::TABLE
            ))
            .bind(self.tenant.as_str())
            .bind(&self.currency)
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?;
            return Ok(n.max(0) as u64);
        }
        let mut n = 0u64;
        for_each_small(self, pool, |_| n += 1).await?;
        Ok(n)
    }

    fn days(&self) -> (NaiveDate, NaiveDate) {
        let p = self.analytics_period();
        (p.from, p.to)
    }

    /// Sends every row down `out` in batches of [`BATCH`]; the rows sent.
    pub async fn rows(
        &self,
        pool: &PgPool,
        out: &mpsc::Sender<Vec<Vec<Value>>>,
    ) -> Result<u64, SourceError> {
        let mut batch = Vec::with_capacity(BATCH);
        let mut sent = 0u64;
        if self.report() == CatalogueReport::Ledger {
            let (from, to) = self.days();
            let sql = format!(
                "SELECT transaction_date, transaction_type, description, category, amount, cash_effect,
                        reference, invoice_id, customer_id, recorded_at
                   FROM {} WHERE tenant_id = $1 AND currency = $2 AND transaction_date BETWEEN $3 AND $4
                  ORDER BY transaction_date, id",
                ledger::TABLE
            );
            type LedgerRow = (
                NaiveDate,
                String,
                String,
                String,
                Decimal,
                Decimal,
                Option<String>,
                Option<Uuid>,
                Option<Uuid>,
                DateTime<Utc>,
            );
            let mut rows = sqlx::query_as::<_, LedgerRow>(&sql)
                .bind(self.tenant.as_str())
                .bind(&self.currency)
                .bind(from)
                .bind(to)
                .fetch(pool);
            while let Some(r) = rows.try_next().await? {
                batch.push(vec![
                    Value::Date(r.0),
                    Value::Text(r.1),
                    Value::Text(r.2),
                    Value::Text(r.3),
                    Value::Decimal(r.4),
                    Value::Decimal(r.5),
                    r.6.into(),
                    r.7.map(|id| id.to_string()).into(),
                    r.8.map(|id| id.to_string()).into(),
                    Value::DateTime(r.9),
                ]);
                if batch.len() == BATCH {
                    sent += batch.len() as u64;
                    out.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .await
                        .map_err(|_| SourceError::Closed)?;
                }
            }
        } else {
            for_each_small(self, pool, |row| batch.push(row)).await?;
        }
        sent += batch.len() as u64;
        if !batch.is_empty() {
            out.send(batch).await.map_err(|_| SourceError::Closed)?;
        }
        Ok(sent)
    }
}

fn opt_text(value: Option<String>) -> Value {
    value.into()
}

/// The rows of a report that is an aggregation (small): read at once.
async fn for_each_small(
    source: &Source,
    pool: &PgPool,
    mut row: impl FnMut(Vec<Value>),
) -> Result<(), sqlx::Error> {
    let tenant = &source.tenant;
    let currency = source.currency.as_str();
    let d = Value::Decimal;
    match source.report() {
        CatalogueReport::Ledger => {}
        CatalogueReport::ArAging => {
            for r in reports::ar_aging(pool, tenant, source.as_of()).await? {
                if r.currency != currency {
                    continue;
                }
                let name = if r.is_total {
                    Some("Total".to_owned())
                } else {
                    r.customer_name
                };
                row(vec![
                    opt_text(name),
                    Value::Integer(r.invoices),
                    d(r.current),
                    d(r.days_1_30),
                    d(r.days_31_60),
                    d(r.days_61_90),
                    d(r.days_over_90),
                    d(r.total),
                ]);
            }
        }
        CatalogueReport::Revenue => {
            let key = match source.params.text("group_by") {
                Some("source") => reports::RevenueKey::Source,
                Some("rep") => reports::RevenueKey::Rep,
                _ => reports::RevenueKey::Month,
            };
            for r in reports::revenue(pool, tenant, source.days(), key).await? {
                if r.currency != currency {
                    continue;
                }
                let group = if r.is_total {
                    Some("Total".to_owned())
                } else {
                    r.key
                };
                row(vec![
                    opt_text(group),
                    Value::Integer(r.invoices),
                    Value::Integer(r.credit_notes),
                    d(r.invoiced),
                    d(r.credited),
                    d(r.revenue),
                    d(r.tax),
                    d(r.gross),
                ]);
            }
        }
        CatalogueReport::EquipmentUtilization => {
            let (from, to) = source.days();
            let range = (
                source.midnight(from),
                source.midnight(to + chrono::Duration::days(1)),
            );
            for r in reports::equipment_utilization(pool, tenant, range).await? {
                let utilization = (r.available_hours > Decimal::ZERO)
                    .then(|| (r.assigned_hours / r.available_hours).round_dp(4));
                row(vec![
                    Value::Text(r.name),
                    Value::Text(r.equipment_type),
                    Value::Text(r.location_id),
                    Value::Text(r.status),
                    d(r.available_hours),
                    d(r.assigned_hours),
                    d(r.maintenance_hours),
                    utilization.into(),
                ]);
            }
        }
        CatalogueReport::MaintenanceDue => {
            let within = source.params.integer("within_days").unwrap_or(30) as i32;
            for r in equipment::maintenance_due(pool, tenant, source.as_of(), within).await? {
                row(vec![
                    Value::Text(r.name),
                    Value::Text(r.equipment_type),
                    Value::Text(r.location_id),
                    opt_text(r.serial_number),
                    r.last_maintenance_date.into(),
                    Value::Date(r.next_due_date),
                    Value::Integer(i64::from(r.days_until_due)),
                    Value::Text(if r.overdue { "yes" } else { "no" }.to_owned()),
                ]);
            }
        }
        CatalogueReport::InventoryValuation => {
            for r in inventory::valuation(pool, tenant).await? {
                let location = r.location_id.unwrap_or_else(|| "All locations".to_owned());
                let category = r.category.unwrap_or_else(|| match r.level {
                    0 => String::new(),
                    _ => "All categories".to_owned(),
                });
                row(vec![
                    Value::Text(location),
                    Value::Text(category),
                    Value::Integer(r.items),
                    d(r.quantity),
                    d(r.value),
                ]);
            }
        }
        CatalogueReport::CrewUtilization => {
            let (from, to) = source.days();
            let profile = crew_utilization::profile(pool, tenant).await?;
            let to = to.succ_opt().unwrap_or(to);
            for r in crew_utilization::crew_utilization(pool, tenant, &profile, from, to).await? {
                row(vec![
                    Value::Text(r.display_name),
                    opt_text(r.home_location_id),
                    d(r.scheduled_hours),
                    d(r.available_hours),
                    r.utilization_percent
                        .map(|p| (p / Decimal::ONE_HUNDRED).round_dp(4))
                        .into(),
                ]);
            }
        }
        CatalogueReport::SalesPipeline => {
            let (scope, period) = (source.analytics_scope(), source.analytics_period());
            for r in analytics::sales_pipeline(pool, &scope, &period).await? {
                row(vec![
                    Value::Text(r.dimension),
                    opt_text(r.key),
                    Value::Integer(r.leads),
                    Value::Integer(r.converted),
                    r.conversion_rate.into(),
                    r.speed_to_lead_p50.into(),
                    r.speed_to_lead_p90.into(),
                    r.lead_to_quote_p50.into(),
                ]);
            }
        }
        CatalogueReport::Quotes => {
            let (scope, period) = (source.analytics_scope(), source.analytics_period());
            for r in analytics::quotes_summary(pool, &scope, &period).await? {
                row(vec![
                    Value::Text(r.month),
                    Value::Integer(r.sent),
                    Value::Integer(r.accepted),
                    Value::Integer(r.rejected),
                    Value::Integer(r.expired),
                    r.acceptance_rate.into(),
                    r.average_value.into(),
                ]);
            }
        }
        CatalogueReport::Customers => {
            let (scope, period) = (source.analytics_scope(), source.analytics_period());
            for r in analytics::new_customers(pool, &scope, &period).await? {
                row(vec![
                    Value::Text(r.month),
                    opt_text(r.source),
                    Value::Integer(r.customers),
                ]);
            }
        }
    }
    Ok(())
}
