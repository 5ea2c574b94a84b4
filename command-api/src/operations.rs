//! Operations commands: equipment and its maintenance, assignments of
//! equipment to jobs and crews (never double-booked: see
//! docs/decisions/0015-equipment-bookings.md), and inventory with stock that
//! never goes negative.

use aggregates::assignment::{
    AssignEquipment, AssignmentAction, AssignmentCommand, EquipmentAssignment,
};
use aggregates::equipment::{
    CompleteMaintenance, Equipment, EquipmentAction, EquipmentCommand, EquipmentDetailsInput,
    RegisterEquipment, ScheduleMaintenance,
};
use aggregates::inventory::{
    CreateItem, InventoryAction, InventoryCommand, InventoryItem, ItemDetailsInput,
    RecordTransaction, TransferIn, TransferOut,
};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::equipment::{
    DefectSeverity, Depreciation, EquipmentType, MaintenancePart, MaintenanceSchedule,
    MaintenanceType,
};
use event_schemas::inventory::{InventoryTransactionType, Supplier};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::act::{self, act, load_authorized};
use crate::context::CommandContext;
use crate::money::ReasonRequest;
use crate::{CommandResponse, CommandState, JsonOrEmpty, created, ok, respond};
use event_store::{CommandError, Committed, Target};

// ------------------------------------------------------------ equipment

/// A piece of equipment (the seed's Equipment).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EquipmentRequest {
    #[schema(example = "mtl-1")]
    pub location_id: String,
    #[schema(example = "Truck 7")]
    pub name: String,
    pub equipment_type: EquipmentType,
    /// Unique within the tenant when given.
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub year: Option<i32>,
    #[serde(default)]
    pub capacity: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub specifications: Map<String, Value>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub purchase_date: Option<NaiveDate>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "85000.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub purchase_price: Option<Decimal>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub depreciation: Option<Depreciation>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub maintenance_schedule: Option<MaintenanceSchedule>,
    #[serde(default)]
    pub current_location: Option<String>,
    #[serde(default)]
    pub assigned_user: Option<Uuid>,
    #[serde(default)]
    pub odometer_km: Option<u32>,
}

impl From<EquipmentRequest> for EquipmentDetailsInput {
    fn from(r: EquipmentRequest) -> Self {
        Self {
            location_id: r.location_id,
            name: r.name,
            equipment_type: r.equipment_type,
            serial_number: r.serial_number,
            manufacturer: r.manufacturer,
            model: r.model,
            year: r.year,
            capacity: r.capacity,
            specifications: r.specifications,
            purchase_date: r.purchase_date,
            purchase_price: r.purchase_price,
            depreciation: r.depreciation,
            maintenance_schedule: r.maintenance_schedule.unwrap_or_default(),
            current_location: r.current_location,
            assigned_user: r.assigned_user,
            odometer_km: r.odometer_km,
        }
    }
}

/// Changes to equipment: the fields given replace the current ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEquipmentRequest {
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub capacity: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub specifications: Option<Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub depreciation: Option<Depreciation>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub maintenance_schedule: Option<MaintenanceSchedule>,
    #[serde(default)]
    pub current_location: Option<String>,
    #[serde(default)]
    pub assigned_user: Option<Uuid>,
    #[serde(default)]
    pub odometer_km: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellRequest {
    #[schema(value_type = String, example = "32000.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub price: Decimal,
    pub buyer: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefectRequest {
    pub description: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub severity: Option<DefectSeverity>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairRequest {
    /// The defect repaired (default: every open defect).
    #[serde(default)]
    pub defect_id: Option<Uuid>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "120.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub cost: Option<Decimal>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    #[schema(value_type = String)]
    pub maintenance_type: MaintenanceType,
    /// The window [start, end) the equipment is out of service.
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub description: String,
    #[serde(default)]
    pub technician: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteMaintenanceRequest {
    #[schema(value_type = String, example = "420.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub cost: Decimal,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub parts: Vec<MaintenancePart>,
    #[schema(value_type = String, example = "3.5", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub labour_hours: Decimal,
    #[serde(default)]
    pub technician: Option<Uuid>,
    #[serde(default)]
    pub odometer_km: Option<u32>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceCreated {
    pub maintenance_id: Uuid,
    /// The equipment.
    pub id: Uuid,
    pub version: u64,
}

/// Equipment is the location's: LOCATION scopes look at it.
fn equipment_ownership(e: &Equipment) -> RecordOwnership {
    RecordOwnership {
        location_id: e.location_id().map(str::to_owned),
        ..RecordOwnership::default()
    }
}

fn equipment_command(ctx: &CommandContext, action: EquipmentAction) -> EquipmentCommand {
    EquipmentCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

/// The equipment holding a serial number in the tenant, other than `except`.
async fn serial_holder(
    state: &CommandState,
    ctx: &CommandContext,
    serial: Option<&str>,
    except: Option<Uuid>,
) -> ApiResult<()> {
    let Some(serial) = serial.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let holder =
        event_store::lookups::serial_holder(&state.pool, &ctx.principal.tenant, serial).await?;
    match holder {
        Some(h) if Some(h.as_str()) != except.map(|e| e.to_string()).as_deref() => {
            Err(ApiError::duplicate(
                "serial_number",
                format!("serial number {serial} belongs to equipment {h}"),
            ))
        }
        _ => Ok(()),
    }
}

async fn run_equipment(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    permission: Action,
    action: EquipmentAction,
) -> ApiResult<Committed> {
    act(
        &state.store::<Equipment>(),
        ctx,
        id,
        if_match,
        (Resource::Equipment, permission),
        equipment_ownership,
        |_| equipment_command(ctx, action.clone()),
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/equipment", tag = "equipment",
    request_body = EquipmentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Registered (ACTIVE)", body = CommandResponse),
        (status = 409, description = "Serial number taken (`serial_number.unique`)", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn register(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<EquipmentRequest>,
) -> ApiResult<Response> {
    let facts = RecordOwnership {
        location_id: Some(body.location_id.trim().to_owned()),
        ..RecordOwnership::default()
    };
    authz::authorize(
        &ctx.principal,
        Resource::Equipment,
        Action::Create,
        Some(facts),
    )?;
    serial_holder(&state, &ctx, body.serial_number.as_deref(), None).await?;
    let serial = body.serial_number.clone();
    let id = Uuid::now_v7();
    let action = EquipmentAction::Register(RegisterEquipment {
        equipment_id: id,
        tenant_id: ctx.principal.tenant.clone(),
        details: body.into(),
    });
    match act::create(
        &state.store::<Equipment>(),
        &ctx,
        id,
        equipment_command(&ctx, action),
    )
    .await
    {
        Ok(committed) => Ok(created(
            &format!("/v1/equipment/{}", committed.id),
            committed,
        )),
        // The serial number was claimed in the same instant.
        Err(CommandError::Conflict) => {
            serial_holder(&state, &ctx, serial.as_deref(), None).await?;
            Err(ApiError::concurrent_write())
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    patch, path = "/v1/equipment/{id}", tag = "equipment",
    request_body = UpdateEquipmentRequest,
    params(("id" = Uuid, Path, description = "Equipment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Updated (or unchanged)", body = CommandResponse),
        (status = 409, description = "Retired or sold, or the serial number is taken", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateEquipmentRequest>,
) -> ApiResult<Response> {
    serial_holder(&state, &ctx, body.serial_number.as_deref(), Some(id)).await?;
    let serial = body.serial_number.clone();
    // The edit is merged into the version it is committed on: a concurrent
    // change is never silently overwritten (a lost race merges again).
    let decided = act::run(
        &state.store::<Equipment>(),
        &ctx,
        Target::Existing(id),
        &if_match,
        |loaded| {
            let owner = Some(equipment_ownership(loaded.state()));
            authz::authorize(&ctx.principal, Resource::Equipment, Action::Update, owner)?;
            let current = loaded
                .state()
                .details
                .as_ref()
                .ok_or_else(|| ApiError::internal("equipment without details"))?;
            let mut details = EquipmentDetailsInput::from(current);
            macro_rules! set {
                ($($field:ident),*) => { $(if let Some(v) = &body.$field { details.$field = v.clone(); })* };
            }
            macro_rules! set_some {
                ($($field:ident),*) => { $(if let Some(v) = &body.$field { details.$field = Some(v.clone()); })* };
            }
            set!(location_id, name, specifications);
            set_some!(
                serial_number,
                manufacturer,
                model,
                capacity,
                depreciation,
                current_location,
                assigned_user,
                odometer_km
            );
            if let Some(schedule) = &body.maintenance_schedule {
                details.maintenance_schedule = schedule.clone();
            }
            Ok(equipment_command(&ctx, EquipmentAction::Update(details)))
        },
    )
    .await;
    match decided {
        Ok(committed) => Ok(ok(committed)),
        // The serial number may have been claimed in the same instant.
        Err(e) if e.status() == StatusCode::CONFLICT => {
            serial_holder(&state, &ctx, serial.as_deref(), Some(id)).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

#[utoipa::path(
    post, path = "/v1/equipment/{id}/retire", tag = "equipment",
    request_body = ReasonRequest,
    params(("id" = Uuid, Path, description = "Equipment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "RETIRED (final)", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn retire(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Response> {
    let action = EquipmentAction::Retire {
        reason: body.reason,
    };
    Ok(ok(run_equipment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Delete,
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/equipment/{id}/sell", tag = "equipment",
    request_body = SellRequest,
    params(("id" = Uuid, Path, description = "Equipment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "SOLD (final)", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn sell(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<SellRequest>,
) -> ApiResult<Response> {
    let action = EquipmentAction::Sell {
        price: body.price,
        buyer: body.buyer,
    };
    Ok(ok(run_equipment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Delete,
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/equipment/{id}/report-defect", tag = "equipment",
    request_body = DefectRequest,
    params(("id" = Uuid, Path, description = "Equipment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Defect recorded; the equipment is in REPAIR until repaired", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn report_defect(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<DefectRequest>,
) -> ApiResult<Response> {
    let action = EquipmentAction::ReportDefect {
        defect_id: Uuid::now_v7(),
        description: body.description,
        severity: body.severity,
    };
    Ok(ok(run_equipment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/equipment/{id}/repair", tag = "equipment",
    request_body = RepairRequest,
    params(("id" = Uuid, Path, description = "Equipment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Repaired (ACTIVE again unless in maintenance)", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn repair(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    JsonOrEmpty(body): JsonOrEmpty<RepairRequest>,
) -> ApiResult<Response> {
    let action = EquipmentAction::Repair {
        defect_id: body.defect_id,
        notes: body.notes,
        cost: body.cost.unwrap_or_default(),
    };
    Ok(ok(run_equipment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
    )
    .await?))
}

/// The bookings of `equipment` overlapping [from, to), other than `except`,
/// described for a 409.
async fn overlapping(
    state: &CommandState,
    ctx: &CommandContext,
    equipment: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    except: Option<Uuid>,
) -> ApiResult<ApiError> {
    let rows = event_store::lookups::overlapping_bookings(
        &state.pool,
        &ctx.principal.tenant,
        equipment,
        (from, to),
        except,
    )
    .await?;
    let described: Vec<String> = rows
        .iter()
        .map(|b| {
            let (start, end) = (b.starts_at, b.ends_at);
            // A schedule's booking is `<schedule id>/<equipment id>`.
            let (what, id) = match b.kind.as_str() {
                "maintenance" => ("maintenance window", b.booking_id.as_str()),
                "schedule" => (
                    "schedule",
                    b.booking_id.split('/').next().unwrap_or_default(),
                ),
                _ => ("assignment", b.booking_id.as_str()),
            };
            format!("{what} {id} ({start} to {end})")
        })
        .collect();
    let detail = if described.is_empty() {
        "the period overlaps another booking of this equipment".to_owned()
    } else {
        format!(
            "the period overlaps {} of this equipment",
            described.join(", ")
        )
    };
    Ok(ApiError::conflict("equipment.double-booked", detail))
}

#[utoipa::path(
    post, path = "/v1/equipment/{id}/maintenance", tag = "equipment",
    request_body = MaintenanceRequest,
    params(("id" = Uuid, Path, description = "Equipment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 201, description = "Maintenance window scheduled", body = MaintenanceCreated),
        (status = 409, description = "The window overlaps an assignment or another window (`equipment.double-booked`, naming it)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn schedule_maintenance(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<MaintenanceRequest>,
) -> ApiResult<Response> {
    let maintenance_id = Uuid::now_v7();
    let window = (body.window_start, body.window_end);
    let action = EquipmentAction::ScheduleMaintenance(ScheduleMaintenance {
        maintenance_id,
        maintenance_type: body.maintenance_type,
        window_start: body.window_start,
        window_end: body.window_end,
        description: body.description,
        technician: body.technician,
    });
    let committed = match run_equipment(&state, &ctx, id, &if_match, Action::Update, action).await {
        Err(e) if e.kind() == "conflict" && e.detail().contains("equipment_bookings") => {
            return Err(overlapping(&state, &ctx, id, window, None).await?);
        }
        other => other?,
    };
    Ok(respond(
        StatusCode::CREATED,
        Some(&format!("/v1/equipment/{id}")),
        committed.version,
        &MaintenanceCreated {
            maintenance_id,
            id,
            version: committed.version,
        },
    ))
}

fn ids(raw: (String, String)) -> ApiResult<(Uuid, Uuid)> {
    let parse = |s: &str, what: &str| {
        s.parse()
            .map_err(|_| ApiError::not_found(format!("no {what} with id `{s}`")))
    };
    Ok((parse(&raw.0, "equipment")?, parse(&raw.1, "maintenance")?))
}

#[utoipa::path(
    post, path = "/v1/equipment/{id}/maintenance/{mid}/start", tag = "equipment",
    params(("id" = Uuid, Path, description = "Equipment id"), ("mid" = Uuid, Path, description = "Maintenance id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Started: the equipment is in MAINTENANCE", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn start_maintenance(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path(raw): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let (id, maintenance_id) = ids(raw)?;
    let action = EquipmentAction::StartMaintenance { maintenance_id };
    Ok(ok(run_equipment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/equipment/{id}/maintenance/{mid}/complete", tag = "equipment",
    request_body = CompleteMaintenanceRequest,
    params(("id" = Uuid, Path, description = "Equipment id"), ("mid" = Uuid, Path, description = "Maintenance id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Completed: cost, parts, labour; the next due date computed from the schedule", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn complete_maintenance(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path(raw): Path<(String, String)>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<CompleteMaintenanceRequest>,
) -> ApiResult<Response> {
    let (id, maintenance_id) = ids(raw)?;
    let action = EquipmentAction::CompleteMaintenance(CompleteMaintenance {
        maintenance_id,
        cost: body.cost,
        parts: body.parts,
        labour_hours: body.labour_hours,
        technician: body.technician,
        odometer_km: body.odometer_km,
        notes: body.notes,
    });
    Ok(ok(run_equipment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/equipment/{id}/maintenance/{mid}/cancel", tag = "equipment",
    request_body = ReasonRequest,
    params(("id" = Uuid, Path, description = "Equipment id"), ("mid" = Uuid, Path, description = "Maintenance id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Cancelled: the window is free again", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn cancel_maintenance(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path(raw): Path<(String, String)>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Response> {
    let (id, maintenance_id) = ids(raw)?;
    let action = EquipmentAction::CancelMaintenance {
        maintenance_id,
        reason: body.reason,
    };
    Ok(ok(run_equipment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
    )
    .await?))
}

// ------------------------------------------------------------ assignments

/// Book equipment for a job and/or a crew member over [starts_at, ends_at).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignEquipmentRequest {
    pub equipment_id: Uuid,
    #[serde(default)]
    pub journey_id: Option<Uuid>,
    /// The crew member (who then sees the assignment and checks it out).
    #[serde(default)]
    pub user_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OdometerRequest {
    #[serde(default)]
    pub odometer_km: Option<u32>,
    #[serde(default)]
    pub condition_notes: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A crew member owns the assignments made for them; one made for a job
/// only is the dispatcher's (so no crew member sees it as "unassigned").
fn assignment_ownership(a: &EquipmentAssignment) -> RecordOwnership {
    RecordOwnership {
        assigned_to: a.user_id.or(a.assigned_by),
        created_by: a.assigned_by,
        location_id: None,
    }
}

fn assignment_command(ctx: &CommandContext, action: AssignmentAction) -> AssignmentCommand {
    AssignmentCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

#[utoipa::path(
    post, path = "/v1/equipment-assignments", tag = "equipment",
    request_body = AssignEquipmentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Booked (ACTIVE)", body = CommandResponse),
        (status = 409, description = "The period overlaps another assignment or a maintenance window (`equipment.double-booked`, naming it), or the equipment is in MAINTENANCE/REPAIR/RETIRED/SOLD", body = api_common::Problem),
        (status = 422, description = "Invalid field (named), e.g. an unknown equipment_id", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn assign(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<AssignEquipmentRequest>,
) -> ApiResult<Response> {
    let owner = body.user_id.unwrap_or(ctx.principal.user_id);
    let facts = RecordOwnership {
        assigned_to: Some(owner),
        created_by: Some(ctx.principal.user_id),
        location_id: None,
    };
    authz::authorize(
        &ctx.principal,
        Resource::EquipmentAssignment,
        Action::Create,
        Some(facts),
    )?;
    let equipment = state
        .store::<Equipment>()
        .find(&ctx.principal.tenant, body.equipment_id)
        .await?
        .ok_or_else(|| ApiError::invalid_field("equipment_id", "no equipment with this id"))?;
    let period = (body.starts_at, body.ends_at);
    // A deadlock between two racing bookings is decided again (the event
    // store's loop): the retry then meets the winner's booking and is
    // refused naming it.
    let id = Uuid::now_v7();
    let action = AssignmentAction::Assign(AssignEquipment {
        assignment_id: id,
        tenant_id: ctx.principal.tenant.clone(),
        equipment_id: body.equipment_id,
        equipment_status: Some(equipment.state().status()),
        journey_id: body.journey_id,
        user_id: body.user_id,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        purpose: body.purpose,
        notes: body.notes,
    });
    match act::create(
        &state.store::<EquipmentAssignment>(),
        &ctx,
        id,
        assignment_command(&ctx, action),
    )
    .await
    {
        Ok(committed) => Ok(created(
            &format!("/v1/equipment-assignments/{}", committed.id),
            committed,
        )),
        Err(CommandError::Excluded(_)) => {
            Err(overlapping(&state, &ctx, body.equipment_id, period, None).await?)
        }
        Err(CommandError::Refused(detail)) => Err(unavailable(detail)),
        Err(e) => Err(e.into()),
    }
}

/// 409: the equipment cannot be booked now (the database saw its status
/// change in the same instant as the booking).
fn unavailable(detail: String) -> ApiError {
    ApiError::conflict(
        "assignment.equipment-unavailable",
        format!("{detail}: it cannot be assigned"),
    )
}

async fn run_assignment(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    permission: Action,
    action: AssignmentAction,
) -> ApiResult<Committed> {
    act(
        &state.store::<EquipmentAssignment>(),
        ctx,
        id,
        if_match,
        (Resource::EquipmentAssignment, permission),
        assignment_ownership,
        |_| assignment_command(ctx, action.clone()),
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/equipment-assignments/{id}/checkout", tag = "equipment",
    request_body = OdometerRequest,
    params(("id" = Uuid, Path, description = "Assignment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Checked out (time recorded)", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn checkout(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    JsonOrEmpty(body): JsonOrEmpty<OdometerRequest>,
) -> ApiResult<Response> {
    let action = AssignmentAction::CheckOut {
        odometer_km: body.odometer_km,
    };
    Ok(ok(run_assignment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/equipment-assignments/{id}/return", tag = "equipment",
    request_body = OdometerRequest,
    params(("id" = Uuid, Path, description = "Assignment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Returned: COMPLETED; an early return frees the rest of the period", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn return_equipment(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    JsonOrEmpty(body): JsonOrEmpty<OdometerRequest>,
) -> ApiResult<Response> {
    let action = AssignmentAction::Return {
        odometer_km: body.odometer_km,
        condition_notes: body.condition_notes,
    };
    Ok(ok(run_assignment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Update,
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/equipment-assignments/{id}/cancel", tag = "equipment",
    request_body = ReasonRequest,
    params(("id" = Uuid, Path, description = "Assignment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "CANCELLED; the period is free again", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn cancel(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Response> {
    let action = AssignmentAction::Cancel {
        reason: body.reason,
    };
    Ok(ok(run_assignment(
        &state,
        &ctx,
        id,
        &if_match,
        Action::Delete,
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/equipment-assignments/{id}/reschedule", tag = "equipment",
    request_body = RescheduleRequest,
    params(("id" = Uuid, Path, description = "Assignment id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Moved (after checkout only the end)", body = CommandResponse),
        (status = 409, description = "The new period overlaps another booking (`equipment.double-booked`, naming it)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn reschedule(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<RescheduleRequest>,
) -> ApiResult<Response> {
    let action = AssignmentAction::Reschedule {
        starts_at: body.starts_at,
        ends_at: body.ends_at,
    };
    // Moving a booking books another period: the right to book it, not just
    // to check it out (crews check out and return theirs, never move them).
    match run_assignment(&state, &ctx, id, &if_match, Action::Create, action).await {
        Err(e) if e.kind() == "conflict" && e.detail().contains("equipment_bookings") => {
            let loaded = state
                .store::<EquipmentAssignment>()
                .load(&ctx.principal.tenant, id)
                .await?;
            let equipment = loaded.state().equipment_id.unwrap_or_default();
            Err(overlapping(
                &state,
                &ctx,
                equipment,
                (body.starts_at, body.ends_at),
                Some(id),
            )
            .await?)
        }
        other => Ok(ok(other?)),
    }
}

// ------------------------------------------------------------ inventory

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryItemRequest {
    #[schema(example = "mtl-1")]
    pub location_id: String,
    /// Unique per location.
    #[schema(example = "BLK-01")]
    pub sku: String,
    #[serde(default)]
    pub barcode: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub category: String,
    #[serde(default)]
    pub subcategory: Option<String>,
    /// The reorder point.
    #[schema(value_type = String, example = "20", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub min_quantity: Decimal,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub max_quantity: Option<Decimal>,
    #[schema(value_type = String, example = "8.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub unit_cost: Decimal,
    #[schema(value_type = String, example = "15.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub unit_price: Decimal,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub supplier: Option<Supplier>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub expiry_date: Option<NaiveDate>,
}

/// Changes to an item's details (never its quantity: that is transactions).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItemRequest {
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub barcode: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub subcategory: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub min_quantity: Option<Decimal>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub max_quantity: Option<Decimal>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub unit_cost: Option<Decimal>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub unit_price: Option<Decimal>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub supplier: Option<Supplier>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub expiry_date: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryTransactionRequest {
    /// PURCHASE (in), SALE, DAMAGE, EXPIRY (out), ADJUSTMENT (signed).
    #[schema(value_type = String)]
    pub transaction_type: InventoryTransactionType,
    /// Positive, except an ADJUSTMENT, which is signed.
    #[schema(value_type = String, example = "5", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub quantity: Decimal,
    /// Required for a PURCHASE (weighted average cost).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "8.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub unit_cost: Option<Decimal>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub from_item_id: Uuid,
    pub to_item_id: Uuid,
    #[schema(value_type = String, example = "10", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub quantity: Decimal,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionCreated {
    pub transaction_id: Uuid,
    /// The item.
    pub id: Uuid,
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferDone {
    pub transfer_id: Uuid,
    pub from_item_id: Uuid,
    pub to_item_id: Uuid,
}

fn item_ownership(i: &InventoryItem) -> RecordOwnership {
    RecordOwnership {
        location_id: i.location_id().map(str::to_owned),
        ..RecordOwnership::default()
    }
}

fn inventory_command(ctx: &CommandContext, action: InventoryAction) -> InventoryCommand {
    InventoryCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

async fn sku_holder(
    state: &CommandState,
    ctx: &CommandContext,
    location: &str,
    sku: &str,
) -> ApiResult<()> {
    let tenant = &ctx.principal.tenant;
    let holder =
        event_store::lookups::sku_holder(&state.pool, tenant, location.trim(), sku.trim()).await?;
    match holder {
        Some(item) => Err(ApiError::duplicate(
            "sku",
            format!(
                "SKU {} is item {item} at location {}",
                sku.trim(),
                location.trim()
            ),
        )),
        None => Ok(()),
    }
}

#[utoipa::path(
    post, path = "/v1/inventory", tag = "inventory",
    request_body = InventoryItemRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Item created (quantity 0)", body = CommandResponse),
        (status = 409, description = "SKU taken at this location (`sku.unique`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create_item(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<InventoryItemRequest>,
) -> ApiResult<Response> {
    let facts = RecordOwnership {
        location_id: Some(body.location_id.trim().to_owned()),
        ..RecordOwnership::default()
    };
    authz::authorize(
        &ctx.principal,
        Resource::Inventory,
        Action::Create,
        Some(facts),
    )?;
    sku_holder(&state, &ctx, &body.location_id, &body.sku).await?;
    let (location, sku) = (body.location_id.clone(), body.sku.clone());
    let id = Uuid::now_v7();
    let action = InventoryAction::Create(CreateItem {
        item_id: id,
        tenant_id: ctx.principal.tenant.clone(),
        location_id: body.location_id,
        details: ItemDetailsInput {
            sku: body.sku,
            barcode: body.barcode,
            name: body.name,
            description: body.description,
            category: body.category,
            subcategory: body.subcategory,
            min_quantity: body.min_quantity,
            max_quantity: body.max_quantity,
            unit_cost: body.unit_cost,
            unit_price: body.unit_price,
            supplier: body.supplier,
            expiry_date: body.expiry_date,
        },
    });
    match act::create(
        &state.store::<InventoryItem>(),
        &ctx,
        id,
        inventory_command(&ctx, action),
    )
    .await
    {
        Ok(committed) => Ok(created(
            &format!("/v1/inventory/{}", committed.id),
            committed,
        )),
        Err(CommandError::Conflict) => {
            sku_holder(&state, &ctx, &location, &sku).await?;
            Err(ApiError::concurrent_write())
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    patch, path = "/v1/inventory/{id}", tag = "inventory",
    request_body = UpdateItemRequest,
    params(("id" = Uuid, Path, description = "Item id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Updated (or unchanged); moving the reorder point across the stock raises the low-stock signal", body = CommandResponse),
        (status = 409, description = "SKU taken at this location (`sku.unique`), or a concurrent change", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update_item(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateItemRequest>,
) -> ApiResult<Response> {
    let loaded = load_authorized(
        &state.store::<InventoryItem>(),
        &ctx,
        id,
        (Resource::Inventory, Action::Update),
        item_ownership,
    )
    .await?;
    let location = loaded.state().location_id().unwrap_or_default().to_owned();
    let current_sku = loaded
        .state()
        .details
        .as_ref()
        .map(|d| d.sku.clone())
        .unwrap_or_default();
    drop(loaded);
    if let Some(sku) = body
        .sku
        .as_deref()
        .filter(|s| !s.trim().eq_ignore_ascii_case(&current_sku))
    {
        sku_holder(&state, &ctx, &location, sku).await?;
    }
    // Merged into the version it is committed on (a lost race merges again).
    let decided = act::run(
        &state.store::<InventoryItem>(),
        &ctx,
        Target::Existing(id),
        &if_match,
        |loaded| {
            let owner = Some(item_ownership(loaded.state()));
            authz::authorize(&ctx.principal, Resource::Inventory, Action::Update, owner)?;
            let current = loaded
                .state()
                .details
                .as_ref()
                .ok_or_else(|| ApiError::internal("an item without details"))?;
            let mut details = ItemDetailsInput::from(current);
            macro_rules! set {
                ($($field:ident),*) => { $(if let Some(v) = &body.$field { details.$field = v.clone(); })* };
            }
            macro_rules! set_some {
                ($($field:ident),*) => { $(if let Some(v) = &body.$field { details.$field = Some(v.clone()); })* };
            }
            set!(sku, name, category, min_quantity, unit_cost, unit_price);
            set_some!(
                barcode,
                description,
                subcategory,
                max_quantity,
                supplier,
                expiry_date
            );
            Ok(inventory_command(&ctx, InventoryAction::Update(details)))
        },
    )
    .await;
    match decided {
        Ok(committed) => Ok(ok(committed)),
        // The SKU may have been claimed in the same instant.
        Err(e) if e.status() == StatusCode::CONFLICT => {
            let sku = body.sku.as_deref().unwrap_or(&current_sku);
            sku_holder(&state, &ctx, &location, sku).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

#[utoipa::path(
    post, path = "/v1/inventory/{id}/transactions", tag = "inventory",
    request_body = InventoryTransactionRequest,
    params(
        ("id" = Uuid, Path, description = "Item id"),
        ("If-Match" = Option<String>, Header, description = "Expected version"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    responses(
        (status = 201, description = "Recorded", body = TransactionCreated),
        (status = 409, description = "More than the stock (`inventory.insufficient-stock`, naming the stock)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn record_transaction(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<InventoryTransactionRequest>,
) -> ApiResult<Response> {
    let transaction_id = Uuid::now_v7();
    let action = InventoryAction::Record(RecordTransaction {
        transaction_id,
        transaction_type: body.transaction_type,
        quantity: body.quantity,
        unit_cost: body.unit_cost,
        reference: body.reference,
        notes: body.notes,
    });
    let committed = act(
        &state.store::<InventoryItem>(),
        &ctx,
        id,
        &if_match,
        (Resource::Inventory, Action::Update),
        item_ownership,
        |_| inventory_command(&ctx, action.clone()),
    )
    .await?;
    Ok(respond(
        StatusCode::CREATED,
        Some(&format!("/v1/inventory/{id}")),
        committed.version,
        &TransactionCreated {
            transaction_id,
            id,
            version: committed.version,
        },
    ))
}

#[utoipa::path(
    post, path = "/v1/inventory/transfers", tag = "inventory",
    request_body = TransferRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Moved: out of one item, into the other at the source's average cost", body = TransferDone),
        (status = 409, description = "More than the source's stock (`inventory.insufficient-stock`)", body = api_common::Problem),
        (status = 422, description = "Unknown item, or the same item twice", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn transfer(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<TransferRequest>,
) -> ApiResult<Response> {
    let tenant = &ctx.principal.tenant;
    if body.from_item_id == body.to_item_id {
        return Err(ApiError::invalid_field(
            "to_item_id",
            "must be another item than from_item_id",
        ));
    }
    let to = state
        .store::<InventoryItem>()
        .find(tenant, body.to_item_id)
        .await?
        .ok_or_else(|| ApiError::invalid_field("to_item_id", "no inventory item with this id"))?;
    authz::authorize(
        &ctx.principal,
        Resource::Inventory,
        Action::Update,
        Some(item_ownership(to.state())),
    )?;
    let to_location = to.state().location_id().unwrap_or_default().to_owned();
    if state
        .store::<InventoryItem>()
        .find(tenant, body.from_item_id)
        .await?
        .is_none()
    {
        return Err(ApiError::invalid_field(
            "from_item_id",
            "no inventory item with this id",
        ));
    }
    let transfer_id = Uuid::now_v7();
    // Out of the source first (the stock rule), at its average cost then.
    // Out of the source first (the stock rule), at the average cost it
    // leaves at (read from the state the out side is decided on).
    let source = std::sync::Mutex::new((Decimal::ZERO, String::new()));
    act(
        &state.store::<InventoryItem>(),
        &ctx,
        body.from_item_id,
        &IfMatch(None),
        (Resource::Inventory, Action::Update),
        item_ownership,
        |item: &InventoryItem| {
            *source.lock().unwrap_or_else(|e| e.into_inner()) = (
                item.average_cost(),
                item.location_id().unwrap_or_default().to_owned(),
            );
            inventory_command(
                &ctx,
                InventoryAction::TransferOut(TransferOut {
                    transaction_id: Uuid::now_v7(),
                    transfer_id,
                    quantity: body.quantity,
                    to_item_id: body.to_item_id,
                    to_location_id: to_location.clone(),
                    reference: body.reference.clone(),
                    notes: body.notes.clone(),
                }),
            )
        },
    )
    .await?;
    let (cost, from_location) = source.into_inner().unwrap_or_else(|e| e.into_inner());
    // Then into the destination (idempotent per transfer id).
    let action = InventoryAction::TransferIn(TransferIn {
        transaction_id: Uuid::now_v7(),
        transfer_id,
        quantity: body.quantity,
        unit_cost: cost,
        from_item_id: body.from_item_id,
        from_location_id: from_location,
        reference: body.reference,
        notes: body.notes,
    });
    let destination = act(
        &state.store::<InventoryItem>(),
        &ctx,
        body.to_item_id,
        &IfMatch(None),
        (Resource::Inventory, Action::Update),
        item_ownership,
        |_| inventory_command(&ctx, action.clone()),
    )
    .await?;
    Ok(respond(
        StatusCode::CREATED,
        Some(&format!("/v1/inventory/{}", body.to_item_id)),
        destination.version,
        &TransferDone {
            transfer_id,
            from_item_id: body.from_item_id,
            to_item_id: body.to_item_id,
        },
    ))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(register))
        .checked_routes(routes!(update))
        .checked_routes(routes!(retire))
        .checked_routes(routes!(sell))
        .checked_routes(routes!(report_defect))
        .checked_routes(routes!(repair))
        .checked_routes(routes!(schedule_maintenance))
        .checked_routes(routes!(start_maintenance))
        .checked_routes(routes!(complete_maintenance))
        .checked_routes(routes!(cancel_maintenance))
        .checked_routes(routes!(assign))
        .checked_routes(routes!(checkout))
        .checked_routes(routes!(return_equipment))
        .checked_routes(routes!(cancel))
        .checked_routes(routes!(reschedule))
        .checked_routes(routes!(create_item))
        .checked_routes(routes!(update_item))
        .checked_routes(routes!(record_transaction))
        .checked_routes(routes!(transfer))
}
