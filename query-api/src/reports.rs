//! Financial reports, as JSON or (with `Accept: text/csv`) as CSV with a
//! header row. Both need Report/Read with a tenant-wide scope.
//!
//! **AR aging** (`GET /v1/reports/ar-aging?as_of=`): the open balances of
//! issued, non-voided invoices issued on or before `as_of` (default: today,
//! UTC), per customer and currency, bucketed by days past due at `as_of`:
//! `current` (due on or after `as_of`), 1–30, 31–60, 61–90 and over 90 days;
//! then one totals row per currency. The balance is the invoice's current
//! balance (the last `balance_after`): `as_of` moves the aging, it does not
//! replay history.
//!
//! **Revenue** (`GET /v1/reports/revenue?from=&to=&group_by=`): revenue is
//! recognised at issue. `invoiced` is the pre-tax subtotal of the invoices
//! issued in the period (by issue date, UTC), `credited` the pre-tax part
//! (`subtotal_portion`) of the credit notes issued in the period (by their
//! date), `revenue` = invoiced − credited; `tax` is the invoices' tax less
//! the credit notes' tax part, `gross` = revenue + tax. Voided invoices (and
//! any credit note on them) are left out entirely. Payments and refunds are
//! cash, not revenue: see the ledger. Grouped by `month` (`YYYY-MM` of the
//! date), `source` (the source of the invoice's lead, from the leads read
//! model) or `rep` (the invoice's sales rep); `key` is `null` for invoices
//! without a lead or rep. One totals row per currency follows.

use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiQuery, ApiResult, Principal};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use projections::queries::reports::{
    self as query, AgingRow as AgingRowData, RevenueKey, RevenueRow as RevenueRowData,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

pub const CSV: &str = "text/csv; charset=utf-8";

/// Whether the client asked for CSV (`Accept: text/csv`).
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        })
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a
/// line break, quotes doubled. Text that a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

pub(crate) fn money(amount: Decimal) -> String {
    format!("{:.2}", amount)
}

/// A report row as CSV cells: text is escaped, money and counts are not.
pub(crate) enum Cell {
    Text(String),
    Number(String),
}

pub(crate) fn csv_body(header: &[&str], rows: impl Iterator<Item = Vec<Cell>>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for row in rows {
        let cells: Vec<String> = row
            .into_iter()
            .map(|c| match c {
                Cell::Text(t) => csv_field(&t),
                Cell::Number(n) => n,
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

pub(crate) fn respond<T: Serialize>(
    headers: &HeaderMap,
    report: T,
    filename: &str,
    csv: impl FnOnce(&T) -> String,
) -> Response {
    if !wants_csv(headers) {
        return axum::Json(report).into_response();
    }
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(CSV)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        csv(&report),
    )
        .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgingRow {
    /// `null` on a totals row.
    pub customer_id: Option<Uuid>,
    /// The customer's display name (first and last name).
    pub customer_name: Option<String>,
    pub currency: String,
    /// Open invoices counted.
    pub invoices: i64,
    /// Not yet due at `as_of`.
    #[schema(value_type = String, example = "1130.00")]
    #[serde(serialize_with = "crate::money")]
    pub current: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub days_1_30: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub days_31_60: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub days_61_90: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub days_over_90: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub total: Decimal,
    #[serde(skip)]
    #[schema(ignore)]
    pub is_total: bool,
}

crate::view_from_row!(AgingRowData => AgingRow {
    customer_id,
    customer_name,
    currency,
    invoices,
    current,
    days_1_30,
    days_31_60,
    days_61_90,
    days_over_90,
    total,
    is_total,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct ArAgingReport {
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    /// By customer name.
    pub customers: Vec<AgingRow>,
    /// One per currency.
    pub totals: Vec<AgingRow>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgingParams {
    /// The date balances are aged at (default today, UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<NaiveDate>,
}

#[utoipa::path(
    get, path = "/v1/reports/ar-aging", tag = "reports",
    params(AgingParams),
    responses(
        (status = 200, description = "Open balances per customer by days past due, with totals (CSV with `Accept: text/csv`)",
         content((ArAgingReport = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = []))
)]
async fn ar_aging(
    State(state): State<QueryState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<AgingParams>,
) -> ApiResult<Response> {
    authz::authorize_tenant_wide(&principal, Resource::Report, Action::Read)?;
    let as_of = params
        .as_of
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let rows = query::ar_aging(&state.pool, &principal.tenant, as_of).await?;
    let (totals, customers) = rows
        .into_iter()
        .map(AgingRow::from)
        .partition(|r| r.is_total);
    let report = ArAgingReport {
        as_of,
        customers,
        totals,
    };
    Ok(respond(
        &headers,
        report,
        &format!("ar-aging-{as_of}.csv"),
        |r| {
            csv_body(
                &[
                    "customer_id",
                    "customer_name",
                    "currency",
                    "invoices",
                    "current",
                    "days_1_30",
                    "days_31_60",
                    "days_61_90",
                    "days_over_90",
                    "total",
                ],
                r.customers.iter().chain(&r.totals).map(|row| {
                    let mut cells = vec![
                        Cell::Text(row.customer_id.map(|c| c.to_string()).unwrap_or_default()),
                        Cell::Text(if row.is_total {
                            "TOTAL".to_owned()
                        } else {
                            row.customer_name.clone().unwrap_or_default()
                        }),
                        Cell::Text(row.currency.clone()),
                        Cell::Number(row.invoices.to_string()),
                    ];
                    cells.extend(
                        [
                            row.current,
                            row.days_1_30,
                            row.days_31_60,
                            row.days_61_90,
                            row.days_over_90,
                            row.total,
                        ]
                        .map(|m| Cell::Number(money(m))),
                    );
                    cells
                }),
            )
        },
    ))
}

/// How revenue is grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// `YYYY-MM` of the issue (or credit) date.
    #[default]
    Month,
    /// The source of the invoice's lead.
    Source,
    /// The invoice's sales rep.
    Rep,
}

impl GroupBy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Source => "source",
            Self::Rep => "rep",
        }
    }

    fn key(self) -> RevenueKey {
        match self {
            Self::Month => RevenueKey::Month,
            Self::Source => RevenueKey::Source,
            Self::Rep => RevenueKey::Rep,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueRow {
    /// The month, lead source or rep id; `null` for none (and on totals).
    pub key: Option<String>,
    pub currency: String,
    /// Invoices issued in the period.
    pub invoices: i64,
    /// Credit notes issued in the period.
    pub credit_notes: i64,
    /// Pre-tax subtotal of the invoices.
    #[schema(value_type = String, example = "1000.00")]
    #[serde(serialize_with = "crate::money")]
    pub invoiced: Decimal,
    /// Pre-tax part of the credit notes.
    #[schema(value_type = String, example = "100.00")]
    #[serde(serialize_with = "crate::money")]
    pub credited: Decimal,
    /// invoiced − credited.
    #[schema(value_type = String, example = "900.00")]
    #[serde(serialize_with = "crate::money")]
    pub revenue: Decimal,
    /// Tax charged less the credit notes' tax part.
    #[schema(value_type = String, example = "117.00")]
    #[serde(serialize_with = "crate::money")]
    pub tax: Decimal,
    /// revenue + tax.
    #[schema(value_type = String, example = "1017.00")]
    #[serde(serialize_with = "crate::money")]
    pub gross: Decimal,
    #[serde(skip)]
    #[schema(ignore)]
    pub is_total: bool,
}

crate::view_from_row!(RevenueRowData => RevenueRow {
    key,
    currency,
    invoices,
    credit_notes,
    invoiced,
    credited,
    revenue,
    tax,
    gross,
    is_total,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub group_by: GroupBy,
    pub rows: Vec<RevenueRow>,
    /// One per currency.
    pub totals: Vec<RevenueRow>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevenueParams {
    /// First day (inclusive), `YYYY-MM-DD`; required.
    #[param(value_type = String, format = Date)]
    pub from: Option<NaiveDate>,
    /// Last day (inclusive), not before `from`; required.
    #[param(value_type = String, format = Date)]
    pub to: Option<NaiveDate>,
    /// `month` (default), `source` or `rep`.
    pub group_by: Option<GroupBy>,
}

#[utoipa::path(
    get, path = "/v1/reports/revenue", tag = "reports",
    params(RevenueParams),
    responses(
        (status = 200, description = "Revenue recognised at issue, net of credit notes, grouped (CSV with `Accept: text/csv`)",
         content((RevenueReport = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = []))
)]
async fn revenue(
    State(state): State<QueryState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<RevenueParams>,
) -> ApiResult<Response> {
    authz::authorize_tenant_wide(&principal, Resource::Report, Action::Read)?;
    let required = |field: &str, value: Option<NaiveDate>| {
        value.ok_or_else(|| api_common::ApiError::invalid_field(field, "is required"))
    };
    let from = required("from", params.from)?;
    let to = required("to", params.to)?;
    crate::check_range(Some(from), Some(to))?;
    let group_by = params.group_by.unwrap_or_default();
    let rows = query::revenue(&state.pool, &principal.tenant, (from, to), group_by.key()).await?;
    let (totals, rows) = rows
        .into_iter()
        .map(RevenueRow::from)
        .partition(|r| r.is_total);
    let report = RevenueReport {
        from,
        to,
        group_by,
        rows,
        totals,
    };
    Ok(respond(
        &headers,
        report,
        &format!("revenue-{from}-{to}-by-{}.csv", group_by.as_str()),
        |r| {
            csv_body(
                &[
                    group_by.as_str(),
                    "currency",
                    "invoices",
                    "credit_notes",
                    "invoiced",
                    "credited",
                    "revenue",
                    "tax",
                    "gross",
                ],
                r.rows.iter().chain(&r.totals).map(|row| {
                    let key = if row.is_total {
                        "TOTAL".to_owned()
                    } else {
                        row.key.clone().unwrap_or_default()
                    };
                    let mut cells = vec![
                        Cell::Text(key),
                        Cell::Text(row.currency.clone()),
                        Cell::Number(row.invoices.to_string()),
                        Cell::Number(row.credit_notes.to_string()),
                    ];
                    cells.extend(
                        [row.invoiced, row.credited, row.revenue, row.tax, row.gross]
                            .map(|m| Cell::Number(money(m))),
                    );
                    cells
                }),
            )
        },
    ))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(ar_aging))
        .checked_routes(routes!(revenue))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("Doe, Jane"), "\"Doe, Jane\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(money(Decimal::new(5, 0)), "5.00");
        assert_eq!(money(Decimal::new(-1234, 2)), "-12.34");
    }

    #[test]
    fn csv_is_negotiated_from_accept() {
        let mut headers = HeaderMap::new();
        assert!(!wants_csv(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/csv;q=0.5"),
        );
        assert!(wants_csv(&headers));
    }
}
