//! `GET /v1/kpis`: every KPI of the dashboard catalogue over a period of
//! the tenant's local days, with the previous period of the same length.
//! The definitions are `projections::queries::analytics::Kpi::definition`
//! (and docs/api.md).
//!
//! Who sees what: Report/Read. A tenant-wide scope sees the tenant's
//! figures; an OWN scope (sales) sees the figures of their own leads,
//! quotes and invoices (the analytics' `Scope::owner`). Without either,
//! 403.

use api_common::authz::{self, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiQuery, ApiResult, ListScope, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{Days, NaiveDate, Utc};
use projections::queries::analytics::{self, Kpi, Period, Unit};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::QueryState;

/// The longest period (days, both ends counted).
pub const MAX_DAYS: i64 = 366;
/// The period without `from`: the last 30 days, today included.
pub const DEFAULT_DAYS: u64 = 30;

/// The tenant's time zone (its profile's; the default until set).
pub(crate) async fn time_zone(
    state: &QueryState,
    principal: &Principal,
) -> ApiResult<chrono_tz::Tz> {
    crate::calendar::time_zone(state, &principal.tenant).await
}

/// Today in `tz`.
pub(crate) fn today(tz: chrono_tz::Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

/// The last `days` days of `tz`, today included.
pub(crate) fn last_days(tz: chrono_tz::Tz, days: u16) -> Period {
    let to = today(tz);
    let from = to - Days::new(u64::from(days.max(1)) - 1);
    Period { from, to, tz }
}

/// What the caller's figures cover (Report/Read): the tenant, or with an
/// OWN scope only their own; 403 for a role without either.
pub(crate) fn figures_scope(
    principal: &Principal,
    location_id: Option<String>,
) -> ApiResult<analytics::Scope> {
    let owner = match authz::list_scope(principal, Resource::Report)? {
        ListScope::Tenant => None,
        ListScope::Limited {
            own: Some(user), ..
        } => Some(user),
        ListScope::Limited { own: None, .. } => {
            return Err(ApiError::forbidden(
                "the figures need Report/Read with a CLIENT or OWN scope",
            ));
        }
    };
    Ok(analytics::Scope {
        tenant: principal.tenant.clone(),
        location_id,
        owner,
    })
}

/// A figure as text: money with two places, other numbers as they are
/// (`12`, `0.25`, `3600.5`).
pub(crate) fn figure(unit: Unit, value: Decimal) -> String {
    match unit {
        Unit::Money => format!("{value:.2}"),
        _ => value.normalize().to_string(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiParams {
    /// First day (inclusive, the tenant's local day), `YYYY-MM-DD`;
    /// default: 29 days before `to`.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Last day (inclusive); default today in the tenant's time zone.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    /// Only this branch (a location of the tenant profile).
    pub location_id: Option<String>,
}

/// One KPI over the period and the previous one.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiView {
    #[schema(example = "new_leads")]
    pub key: &'static str,
    #[schema(example = "New leads")]
    pub label: &'static str,
    /// Exactly what is counted.
    pub definition: &'static str,
    /// `count`, `money`, `percent` (a fraction: 0.25 is 25 %), `seconds` or `days`.
    #[schema(example = "count")]
    pub unit: &'static str,
    /// The reporting currency, for money.
    pub currency: Option<String>,
    /// A decimal as text; `null` when undefined (a rate of nothing).
    #[schema(example = "12")]
    pub value: Option<String>,
    /// The same over the previous period.
    #[schema(example = "9")]
    pub previous: Option<String>,
}

/// The KPIs of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpisView {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The period of the same length just before.
    pub previous_from: NaiveDate,
    pub previous_to: NaiveDate,
    pub location_id: Option<String>,
    pub kpis: Vec<KpiView>,
}

/// `which` over `period` and the previous period, as views.
pub(crate) async fn compute(
    state: &QueryState,
    scope: &analytics::Scope,
    period: &Period,
    which: &[Kpi],
) -> ApiResult<Vec<KpiView>> {
    let previous = period.previous();
    let (now, before) = tokio::try_join!(
        analytics::kpis(&state.pool, scope, period, which),
        analytics::kpis(&state.pool, scope, &previous, which),
    )?;
    Ok(now
        .into_iter()
        .zip(before)
        .map(|(v, p)| {
            let unit = v.kpi.unit();
            KpiView {
                key: v.kpi.key(),
                label: v.kpi.label(),
                definition: v.kpi.definition(),
                unit: unit.key(),
                currency: v.currency.or(p.currency),
                value: v.value.map(|d| figure(unit, d)),
                previous: p.value.map(|d| figure(unit, d)),
            }
        })
        .collect())
}

#[utoipa::path(
    get, path = "/v1/kpis", tag = "dashboards",
    params(KpiParams),
    responses(
        (status = 200, description = "Every KPI over the period and the previous one (sales: over their own leads, quotes and invoices)", body = KpisView),
        (status = 403, description = "The role may not read reports", body = api_common::Problem),
        (status = 422, description = "`to` before `from`, or a period over 366 days (the parameter named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_kpis(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<KpiParams>,
) -> ApiResult<Json<KpisView>> {
    let scope = figures_scope(&principal, params.location_id.clone())?;
    let tz = time_zone(&state, &principal).await?;
    let to = params.to.unwrap_or_else(|| today(tz));
    let out_of_range = |name| ApiError::invalid_field(name, "is out of range");
    let from = match params.from {
        Some(from) => from,
        None => to
            .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
            .ok_or_else(|| out_of_range("to"))?,
    };
    let period = Period::new(from, to, tz)
        .ok_or_else(|| ApiError::invalid_field("to", "must not be before `from`"))?;
    if period.days() > MAX_DAYS {
        return Err(ApiError::invalid_field(
            if params.from.is_some() { "from" } else { "to" },
            format!("the period is at most {MAX_DAYS} days"),
        ));
    }
    // The previous period must exist too.
    from.checked_sub_days(Days::new(MAX_DAYS as u64))
        .ok_or_else(|| out_of_range("from"))?;
    let previous = period.previous();
    let kpis = compute(&state, &scope, &period, &Kpi::ALL).await?;
    Ok(Json(KpisView {
        from: period.from,
        to: period.to,
        previous_from: previous.from,
        previous_to: previous.to,
        location_id: params.location_id,
        kpis,
    }))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new().checked_routes(routes!(get_kpis))
}
