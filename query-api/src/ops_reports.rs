//! Operations reports, as JSON or (with `Accept: text/csv`) as CSV with a
//! header row, formulas defused (the financial reports' helpers). They need
//! read on what they report with a tenant-wide scope: Equipment for
//! utilization and maintenance due, Inventory for the valuation.
//!
//! **Equipment utilization** (`GET /v1/reports/equipment-utilization?from=&to=`):
//! over `[from, to)` (dates, UTC midnights), per piece of equipment:
//! - `range_hours`: the hours of the range it was in service: from its
//!   registration (if later than `from`) to its retirement or sale (if
//!   earlier than `to`); equipment out of service the whole range is left out;
//! - `maintenance_hours`: the hours of that time held by maintenance windows
//!   (not cancelled; up to an early completion);
//! - `available_hours` = range − maintenance;
//! - `assigned_hours`: the hours of that time held by assignments (not
//!   cancelled; up to an early return);
//! - `utilization_percent` = assigned ÷ available × 100, 2 places (`null`
//!   when nothing was available).
//!
//! Then one row per type (sums of the hours; the percent of the sums).
//! Hours and percents are decimal strings with 2 places. Status now (REPAIR, say) does not
//! reduce the available hours: only maintenance windows and the service
//! period do.
//!
//! **Maintenance due** (`GET /v1/reports/maintenance-due?within_days=&as_of=`):
//! equipment not retired or sold whose `next_due_date` is on or before
//! `as_of` (default today, UTC) + `within_days` (default 30), overdue ones
//! included, by due date.
//!
//! **Inventory valuation** (`GET /v1/reports/inventory-valuation`): per
//! location and category, the stock at its weighted average cost
//! (Σ quantity × average cost, rounded to the cent per group), with one
//! total per location and a grand total.

use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiQuery, ApiResult, Principal};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::equipment::{EquipmentStatus, EquipmentType};
use projections::queries::equipment::{self as equipment_query, MaintenanceDueRow as DueRow};
use projections::queries::inventory::{self as inventory_query, ValuationRow as ValuationData};
use projections::queries::reports::{self as query, UtilizationRow as UtilizationData};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;
use crate::reports::{Cell, csv_body, money, respond};

fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (whole > Decimal::ZERO).then(|| (part / whole * Decimal::ONE_HUNDRED).round_dp(2))
}

fn hours(h: Decimal) -> String {
    format!("{h:.2}")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UtilizationRow {
    pub equipment_id: Uuid,
    pub name: String,
    #[schema(value_type = EquipmentType)]
    pub equipment_type: String,
    pub location_id: String,
    #[schema(value_type = EquipmentStatus)]
    pub status: String,
    #[schema(value_type = String, example = "168.00")]
    #[serde(serialize_with = "crate::money")]
    pub range_hours: Decimal,
    #[schema(value_type = String, example = "8.00")]
    #[serde(serialize_with = "crate::money")]
    pub maintenance_hours: Decimal,
    #[schema(value_type = String, example = "160.00")]
    #[serde(serialize_with = "crate::money")]
    pub available_hours: Decimal,
    #[schema(value_type = String, example = "40.00")]
    #[serde(serialize_with = "crate::money")]
    pub assigned_hours: Decimal,
    /// assigned ÷ available × 100; `null` when nothing was available.
    #[schema(value_type = Option<String>, example = "25.00")]
    #[serde(serialize_with = "crate::money_opt")]
    pub utilization_percent: Option<Decimal>,
}

impl From<UtilizationData> for UtilizationRow {
    /// Without its percent (computed from the hours).
    fn from(row: UtilizationData) -> Self {
        let UtilizationData {
            equipment_id,
            name,
            equipment_type,
            location_id,
            status,
            range_hours,
            maintenance_hours,
            available_hours,
            assigned_hours,
        } = row;
        Self {
            equipment_id,
            name,
            equipment_type,
            location_id,
            status,
            range_hours,
            maintenance_hours,
            available_hours,
            assigned_hours,
            utilization_percent: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UtilizationByType {
    #[schema(value_type = EquipmentType)]
    pub equipment_type: String,
    pub equipment: i64,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub range_hours: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub maintenance_hours: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub available_hours: Decimal,
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub assigned_hours: Decimal,
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::money_opt")]
    pub utilization_percent: Option<Decimal>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UtilizationReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Exclusive.
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// By type, then name.
    pub equipment: Vec<UtilizationRow>,
    /// By type.
    pub types: Vec<UtilizationByType>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UtilizationParams {
    /// First day (inclusive), `YYYY-MM-DD`; required.
    #[param(value_type = String, format = Date)]
    pub from: Option<NaiveDate>,
    /// The day after the last (exclusive), after `from`; required.
    #[param(value_type = String, format = Date)]
    pub to: Option<NaiveDate>,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

#[utoipa::path(
    get, path = "/v1/reports/equipment-utilization", tag = "reports",
    params(UtilizationParams),
    responses(
        (status = 200, description = "Hours assigned ÷ hours available per piece of equipment and per type (CSV with `Accept: text/csv`)",
         content((UtilizationReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter is missing or invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn equipment_utilization(
    State(state): State<QueryState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<UtilizationParams>,
) -> ApiResult<Response> {
    authz::authorize_tenant_wide(&principal, Resource::Equipment, Action::Read)?;
    let from = params
        .from
        .ok_or_else(|| ApiError::invalid_field("from", "is required"))?;
    let to = params
        .to
        .ok_or_else(|| ApiError::invalid_field("to", "is required"))?;
    if from >= to {
        return Err(ApiError::invalid_field("to", "must be after `from`"));
    }
    let mut equipment: Vec<UtilizationRow> = query::equipment_utilization(
        &state.pool,
        &principal.tenant,
        (midnight(from), midnight(to)),
    )
    .await?
    .into_iter()
    .map(UtilizationRow::from)
    .collect();
    let mut types: Vec<UtilizationByType> = Vec::new();
    for row in &mut equipment {
        row.utilization_percent = percent(row.assigned_hours, row.available_hours);
        let group = match types.last_mut() {
            Some(t) if t.equipment_type == row.equipment_type => t,
            _ => {
                types.push(UtilizationByType {
                    equipment_type: row.equipment_type.clone(),
                    equipment: 0,
                    range_hours: Decimal::ZERO,
                    maintenance_hours: Decimal::ZERO,
                    available_hours: Decimal::ZERO,
                    assigned_hours: Decimal::ZERO,
                    utilization_percent: None,
                });
                types.last_mut().expect("just pushed")
            }
        };
        group.equipment += 1;
        group.range_hours += row.range_hours;
        group.maintenance_hours += row.maintenance_hours;
        group.available_hours += row.available_hours;
        group.assigned_hours += row.assigned_hours;
    }
    for t in &mut types {
        t.utilization_percent = percent(t.assigned_hours, t.available_hours);
    }
    let report = UtilizationReport {
        from,
        to,
        equipment,
        types,
    };
    let opt = |p: Option<Decimal>| Cell::Number(p.map(hours).unwrap_or_default());
    Ok(respond(
        &headers,
        report,
        &format!("equipment-utilization-{from}-{to}.csv"),
        |r| {
            csv_body(
                &[
                    "equipment_id",
                    "name",
                    "equipment_type",
                    "location_id",
                    "status",
                    "range_hours",
                    "maintenance_hours",
                    "available_hours",
                    "assigned_hours",
                    "utilization_percent",
                ],
                r.equipment
                    .iter()
                    .map(|row| {
                        vec![
                            Cell::Text(row.equipment_id.to_string()),
                            Cell::Text(row.name.clone()),
                            Cell::Text(row.equipment_type.clone()),
                            Cell::Text(row.location_id.clone()),
                            Cell::Text(row.status.clone()),
                            Cell::Number(hours(row.range_hours)),
                            Cell::Number(hours(row.maintenance_hours)),
                            Cell::Number(hours(row.available_hours)),
                            Cell::Number(hours(row.assigned_hours)),
                            opt(row.utilization_percent),
                        ]
                    })
                    .chain(r.types.iter().map(|t| {
                        vec![
                            Cell::Text(String::new()),
                            Cell::Text("TOTAL".to_owned()),
                            Cell::Text(t.equipment_type.clone()),
                            Cell::Text(String::new()),
                            Cell::Text(String::new()),
                            Cell::Number(hours(t.range_hours)),
                            Cell::Number(hours(t.maintenance_hours)),
                            Cell::Number(hours(t.available_hours)),
                            Cell::Number(hours(t.assigned_hours)),
                            opt(t.utilization_percent),
                        ]
                    })),
            )
        },
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceDueRow {
    pub equipment_id: Uuid,
    pub name: String,
    #[schema(value_type = EquipmentType)]
    pub equipment_type: String,
    pub location_id: String,
    #[schema(value_type = EquipmentStatus)]
    pub status: String,
    pub serial_number: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub last_maintenance_date: Option<NaiveDate>,
    #[schema(value_type = String, format = Date)]
    pub next_due_date: NaiveDate,
    /// Days from `as_of` to the due date (negative: overdue).
    pub days_until_due: i32,
    pub overdue: bool,
    pub odometer_km: Option<i32>,
    pub maintenance_interval_days: Option<i32>,
    pub maintenance_interval_km: Option<i32>,
}

crate::view_from_row!(DueRow => MaintenanceDueRow {
    equipment_id,
    name,
    equipment_type,
    location_id,
    status,
    serial_number,
    last_maintenance_date,
    next_due_date,
    days_until_due,
    overdue,
    odometer_km,
    maintenance_interval_days,
    maintenance_interval_km,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceDueReport {
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    pub within_days: u32,
    /// By due date (the most overdue first).
    pub equipment: Vec<MaintenanceDueRow>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MaintenanceDueParams {
    /// Due within this many days of `as_of` (0 to 3650, default 30).
    pub within_days: Option<u32>,
    /// Default today (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<NaiveDate>,
}

#[utoipa::path(
    get, path = "/v1/reports/maintenance-due", tag = "reports",
    params(MaintenanceDueParams),
    responses(
        (status = 200, description = "Equipment whose maintenance is due within N days or overdue, by due date (CSV with `Accept: text/csv`)",
         content((MaintenanceDueReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn maintenance_due(
    State(state): State<QueryState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<MaintenanceDueParams>,
) -> ApiResult<Response> {
    authz::authorize_tenant_wide(&principal, Resource::Equipment, Action::Read)?;
    let within_days = params.within_days.unwrap_or(30);
    if within_days > 3650 {
        return Err(ApiError::invalid_field(
            "within_days",
            "must be between 0 and 3650",
        ));
    }
    let as_of = params.as_of.unwrap_or_else(|| Utc::now().date_naive());
    let equipment =
        equipment_query::maintenance_due(&state.pool, &principal.tenant, as_of, within_days as i32)
            .await?
            .into_iter()
            .map(MaintenanceDueRow::from)
            .collect();
    let report = MaintenanceDueReport {
        as_of,
        within_days,
        equipment,
    };
    Ok(respond(
        &headers,
        report,
        &format!("maintenance-due-{as_of}.csv"),
        |r| {
            csv_body(
                &[
                    "equipment_id",
                    "name",
                    "equipment_type",
                    "location_id",
                    "status",
                    "serial_number",
                    "last_maintenance_date",
                    "next_due_date",
                    "days_until_due",
                    "overdue",
                ],
                r.equipment.iter().map(|row| {
                    vec![
                        Cell::Text(row.equipment_id.to_string()),
                        Cell::Text(row.name.clone()),
                        Cell::Text(row.equipment_type.clone()),
                        Cell::Text(row.location_id.clone()),
                        Cell::Text(row.status.clone()),
                        Cell::Text(row.serial_number.clone().unwrap_or_default()),
                        Cell::Text(
                            row.last_maintenance_date
                                .map(|d| d.to_string())
                                .unwrap_or_default(),
                        ),
                        Cell::Text(row.next_due_date.to_string()),
                        Cell::Number(row.days_until_due.to_string()),
                        Cell::Number(row.overdue.to_string()),
                    ]
                }),
            )
        },
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValuationRow {
    /// `null` on the grand total.
    pub location_id: Option<String>,
    /// `null` on totals.
    pub category: Option<String>,
    pub items: i64,
    /// The units in stock.
    #[schema(value_type = String, example = "120.000")]
    #[serde(serialize_with = "crate::quantity")]
    pub quantity: Decimal,
    /// Σ quantity × average cost.
    #[schema(value_type = String, example = "510.00")]
    #[serde(serialize_with = "crate::money")]
    pub value: Decimal,
    #[serde(skip)]
    #[schema(ignore)]
    pub level: i32,
}

crate::view_from_row!(ValuationData => ValuationRow {
    location_id,
    category,
    items,
    quantity,
    value,
    level,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct ValuationReport {
    /// By location, then category.
    pub rows: Vec<ValuationRow>,
    /// One per location.
    pub locations: Vec<ValuationRow>,
    #[schema(value_type = String, example = "1510.00")]
    #[serde(serialize_with = "crate::money")]
    pub total: Decimal,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ValuationParams {}

#[utoipa::path(
    get, path = "/v1/reports/inventory-valuation", tag = "reports",
    params(ValuationParams),
    responses(
        (status = 200, description = "Stock at weighted average cost per location and category, with totals (CSV with `Accept: text/csv`)",
         content((ValuationReport = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = []))
)]
async fn inventory_valuation(
    State(state): State<QueryState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(_params): ApiQuery<ValuationParams>,
) -> ApiResult<Response> {
    authz::authorize_tenant_wide(&principal, Resource::Inventory, Action::Read)?;
    let rows: Vec<ValuationRow> = inventory_query::valuation(&state.pool, &principal.tenant)
        .await?
        .into_iter()
        .map(ValuationRow::from)
        .collect();
    let total = rows
        .iter()
        .find(|r| r.level == 2)
        .map(|r| r.value)
        .unwrap_or_default();
    let (rows, rest): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.level == 0);
    let locations = rest.into_iter().filter(|r| r.level == 1).collect();
    let report = ValuationReport {
        rows,
        locations,
        total,
    };
    Ok(respond(&headers, report, "inventory-valuation.csv", |r| {
        let line = |row: &ValuationRow| {
            vec![
                Cell::Text(
                    row.location_id
                        .clone()
                        .unwrap_or_else(|| "TOTAL".to_owned()),
                ),
                Cell::Text(
                    row.category
                        .clone()
                        .unwrap_or_else(|| if row.level > 0 { "TOTAL" } else { "" }.to_owned()),
                ),
                Cell::Number(row.items.to_string()),
                Cell::Number(row.quantity.normalize().to_string()),
                Cell::Number(money(row.value)),
            ]
        };
        let total = ValuationRow {
            location_id: None,
            category: None,
            items: r.rows.iter().map(|x| x.items).sum(),
            quantity: r.rows.iter().map(|x| x.quantity).sum(),
            value: r.total,
            level: 2,
        };
        csv_body(
            &["location_id", "category", "items", "quantity", "value"],
            r.rows
                .iter()
                .chain(&r.locations)
                .map(line)
                .chain(std::iter::once(line(&total))),
        )
    }))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(equipment_utilization))
        .checked_routes(routes!(maintenance_due))
        .checked_routes(routes!(inventory_valuation))
}
