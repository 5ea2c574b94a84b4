//! `GET /v1/equipment/{id}` and `GET /v1/equipment` (with the availability
//! search).
//!
//! **Availability**: with `available_from` and `available_to` (both or
//! neither, `from < to`), only equipment that can be assigned over
//! `[from, to)`: status ACTIVE now, no non-cancelled assignment and no
//! non-cancelled maintenance window holding it at any moment of the range.
//! What holds it is what the booking trigger books: an assignment from its
//! start to its end or early return, a maintenance window from its start to
//! its end or early completion.
//!
//! Equipment is owned by its `assigned_user` (OWN scopes) and located by
//! `location_id` (LOCATION scopes).

use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::equipment::{
    Depreciation, DepreciationMethod, EquipmentStatus, EquipmentType, MaintenanceType,
};
use projections::queries::assignments as assignment_query;
use projections::queries::equipment::{
    self as query, DefectRow, EquipmentFilter, EquipmentRow, MaintenanceRow,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;
use crate::assignments::AssignmentView;

#[derive(Debug, Serialize, ToSchema)]
pub struct EquipmentView {
    pub id: Uuid,
    pub location_id: String,
    pub name: String,
    #[schema(value_type = EquipmentType)]
    pub equipment_type: String,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub year: Option<i32>,
    pub capacity: Option<String>,
    #[schema(value_type = Object)]
    pub specifications: Value,
    #[schema(value_type = Option<String>, format = Date)]
    pub purchase_date: Option<NaiveDate>,
    #[schema(value_type = Option<String>, example = "85000.00")]
    #[serde(serialize_with = "crate::money_opt")]
    pub purchase_price: Option<Decimal>,
    #[schema(value_type = Option<DepreciationMethod>)]
    pub depreciation_method: Option<String>,
    /// DECLINING_BALANCE: the fraction lost each year (`0.2`).
    #[schema(value_type = Option<String>)]
    pub depreciation_rate: Option<Decimal>,
    /// STRAIGHT_LINE: the useful life.
    pub useful_life_years: Option<i32>,
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::money_opt")]
    pub salvage_value: Option<Decimal>,
    pub maintenance_interval_days: Option<i32>,
    pub maintenance_interval_km: Option<i32>,
    pub current_location: Option<String>,
    pub assigned_user: Option<Uuid>,
    pub odometer_km: Option<i32>,
    #[schema(value_type = EquipmentStatus)]
    pub status: String,
    pub open_defects: i32,
    #[schema(value_type = Option<String>, format = Date)]
    pub last_maintenance_date: Option<NaiveDate>,
    /// The last maintenance (else the purchase, else the registration) +
    /// `maintenance_interval_days`.
    #[schema(value_type = Option<String>, format = Date)]
    pub next_due_date: Option<NaiveDate>,
    /// Completed maintenance, in total.
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub maintenance_cost_total: Decimal,
    /// Repairs, in total.
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::money")]
    pub repair_cost_total: Decimal,
    pub retired_at: Option<DateTime<Utc>>,
    pub retired_by: Option<Uuid>,
    pub retire_reason: Option<String>,
    pub sold_at: Option<DateTime<Utc>>,
    pub sold_by: Option<Uuid>,
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::money_opt")]
    pub sale_price: Option<Decimal>,
    pub buyer: Option<String>,
    pub created_by: Uuid,
    /// The equipment's version (events applied); see `min_version`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::view_from_row!(EquipmentRow => EquipmentView {
    id,
    location_id,
    name,
    equipment_type,
    serial_number,
    manufacturer,
    model,
    year,
    capacity,
    specifications,
    purchase_date,
    purchase_price,
    depreciation_method,
    depreciation_rate,
    useful_life_years,
    salvage_value,
    maintenance_interval_days,
    maintenance_interval_km,
    current_location,
    assigned_user,
    odometer_km,
    status,
    open_defects,
    last_maintenance_date,
    next_due_date,
    maintenance_cost_total,
    repair_cost_total,
    retired_at,
    retired_by,
    retire_reason,
    sold_at,
    sold_by,
    sale_price,
    buyer,
    created_by,
    version,
    created_at,
    updated_at,
});

impl EquipmentView {
    /// The book value on `as_of` (the aggregate's rule), when the purchase
    /// and depreciation are known.
    pub fn value_on(&self, as_of: NaiveDate) -> Option<Decimal> {
        let method: DepreciationMethod = self.depreciation_method.as_deref()?.parse().ok()?;
        let depreciation = Depreciation {
            method,
            annual_rate: self.depreciation_rate,
            useful_life_years: self.useful_life_years.map(|y| y.max(0) as u32),
            salvage_value: self.salvage_value.unwrap_or_default(),
        };
        Some(aggregates::equipment::current_value(
            self.purchase_price?,
            self.purchase_date?,
            &depreciation,
            as_of,
        ))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceView {
    pub maintenance_id: Uuid,
    #[schema(value_type = MaintenanceType)]
    pub maintenance_type: String,
    /// SCHEDULED, IN_PROGRESS, COMPLETED or CANCELLED.
    pub status: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Until when it holds the equipment (the window's end, or an early
    /// completion); `null` when it holds nothing.
    pub booked_until: Option<DateTime<Utc>>,
    pub description: String,
    pub technician: Option<Uuid>,
    pub scheduled_by: Uuid,
    pub scheduled_at: DateTime<Utc>,
    pub started_by: Option<Uuid>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_by: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::money_opt")]
    pub cost: Option<Decimal>,
    /// `[{name, quantity, unit_cost}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub parts: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub labour_hours: Option<Decimal>,
    pub odometer_km: Option<i32>,
    pub notes: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub next_due_date: Option<NaiveDate>,
    pub cancelled_by: Option<Uuid>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
}

crate::view_from_row!(MaintenanceRow => MaintenanceView {
    maintenance_id,
    maintenance_type,
    status,
    window_start,
    window_end,
    booked_until,
    description,
    technician,
    scheduled_by,
    scheduled_at,
    started_by,
    started_at,
    completed_by,
    completed_at,
    cost,
    parts,
    labour_hours,
    odometer_km,
    notes,
    next_due_date,
    cancelled_by,
    cancelled_at,
    cancel_reason,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct DefectView {
    pub defect_id: Uuid,
    pub description: String,
    /// LOW, MEDIUM, HIGH or CRITICAL.
    pub severity: Option<String>,
    pub reported_by: Uuid,
    pub reported_at: DateTime<Utc>,
    pub repaired_by: Option<Uuid>,
    pub repaired_at: Option<DateTime<Utc>>,
    /// The cost of the repair that closed it (shared by the defects it closed).
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "crate::money_opt")]
    pub repair_cost: Option<Decimal>,
    pub repair_notes: Option<String>,
}

crate::view_from_row!(DefectRow => DefectView {
    defect_id,
    description,
    severity,
    reported_by,
    reported_at,
    repaired_by,
    repaired_at,
    repair_cost,
    repair_notes,
});

/// A piece of equipment with its book value, maintenance, defects and
/// assignments.
#[derive(Debug, Serialize, ToSchema)]
pub struct EquipmentDetail {
    #[serde(flatten)]
    pub equipment: EquipmentView,
    /// The book value today (UTC) by its depreciation; `null` without a
    /// purchase price, date or depreciation.
    #[schema(value_type = Option<String>, example = "60006.84")]
    #[serde(serialize_with = "crate::money_opt")]
    pub current_value: Option<Decimal>,
    /// By window, newest first.
    pub maintenance: Vec<MaintenanceView>,
    /// Newest first.
    pub defects: Vec<DefectView>,
    /// By period, newest first (at most 200).
    pub assignments: Vec<AssignmentView>,
}

fn ownership(e: &EquipmentView) -> RecordOwnership {
    RecordOwnership {
        assigned_to: e.assigned_user,
        created_by: None,
        location_id: Some(e.location_id.clone()),
    }
}

#[utoipa::path(
    get, path = "/v1/equipment/{id}", tag = "equipment",
    params(("id" = Uuid, Path, description = "Equipment id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The equipment with its current value, maintenance history, defects and assignments", body = EquipmentDetail),
        (status = 403, description = "The caller's scope does not cover it", body = api_common::Problem),
        (status = 404, description = "No such equipment in this tenant", body = api_common::Problem),
        (status = 422, description = "min_version beyond the entity's version in the event store (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_equipment(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<EquipmentDetail>> {
    authz::authorize(&principal, Resource::Equipment, Action::Read, None)?;
    let equipment: EquipmentView = crate::wait::fetch_versioned(
        &state,
        &principal,
        ("Equipment", id),
        crate::wait::owners::EQUIPMENT,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |e: &EquipmentRow| e.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no equipment with id {id}")))?
    .into();
    authz::authorize(
        &principal,
        Resource::Equipment,
        Action::Read,
        Some(ownership(&equipment)),
    )?;
    let (pool, tenant) = (&state.pool, &principal.tenant);
    let maintenance = query::maintenance(pool, tenant, id)
        .await?
        .into_iter()
        .map(MaintenanceView::from)
        .collect();
    let defects = query::defects(pool, tenant, id)
        .await?
        .into_iter()
        .map(DefectView::from)
        .collect();
    // Assignments are a resource of their own: shown only to who may read
    // them (all of them, or a crew member's own).
    let assignments = match authz::list_scope(&principal, Resource::EquipmentAssignment) {
        Err(_) => vec![],
        Ok(scope) => assignment_query::of_equipment(pool, tenant, id, &crate::scope(&scope))
            .await?
            .into_iter()
            .map(AssignmentView::from)
            .collect(),
    };
    let current_value = equipment.value_on(Utc::now().date_naive());
    Ok(WithETag::new(
        equipment.version,
        EquipmentDetail {
            equipment,
            current_value,
            maintenance,
            defects,
            assignments,
        },
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub equipment_type: Option<EquipmentType>,
    pub status: Option<EquipmentStatus>,
    pub location_id: Option<String>,
    /// With `available_to`: only equipment assignable over
    /// `[available_from, available_to)` (RFC 3339).
    pub available_from: Option<DateTime<Utc>>,
    /// With `available_from`, after it.
    pub available_to: Option<DateTime<Utc>>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `Some((from, to))` for an availability search; 422 naming the missing
/// or wrong bound.
pub(crate) fn availability(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> ApiResult<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    match (from, to) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ApiError::invalid_field(
            "available_to",
            "is required with `available_from`",
        )),
        (None, Some(_)) => Err(ApiError::invalid_field(
            "available_from",
            "is required with `available_to`",
        )),
        (Some(from), Some(to)) if from >= to => Err(ApiError::invalid_field(
            "available_to",
            "must be after `available_from`",
        )),
        (Some(from), Some(to)) => Ok(Some((from, to))),
    }
}

#[utoipa::path(
    get, path = "/v1/equipment", tag = "equipment",
    params(ListParams),
    responses(
        (status = 200, description = "Equipment the caller may see, newest first; with available_from/available_to only what can be assigned then", body = ListResponse<EquipmentView>),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_equipment(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<EquipmentView>>> {
    let scope = authz::list_scope(&principal, Resource::Equipment)?;
    let window = availability(params.available_from, params.available_to)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let filter = EquipmentFilter {
        equipment_type: params.equipment_type,
        status: params.status,
        location_id: params.location_id,
        available: window,
    };
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        &crate::scope(&scope),
        &filter,
        page,
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(EquipmentView::from).collect(),
        page.limit,
        |e| (e.created_at, e.id),
    )))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(get_equipment))
        .checked_routes(routes!(list_equipment))
}
