//! History for auditors, straight from the event store: every event of an
//! entity with its metadata and hashes, the entity as it stood at a time or
//! version, and exports of a tenant's history (each recorded as an event).

use aggregates::assignment::EquipmentAssignment;
use aggregates::audit_export::{AuditExport, RecordExport};
use aggregates::customer::Customer;
use aggregates::equipment::Equipment;
use aggregates::inventory::InventoryItem;
use aggregates::invoice::Invoice;
use aggregates::lead::Lead;
use aggregates::quote::Quote;
use api_common::authz::{self, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, Principal};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json as SqlJson;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::CommandState;
use crate::context::CommandContext;
use event_store::Store;
use relay::history;

const KINDS: &str = "Customer, Lead, Quote, Invoice, Equipment, EquipmentAssignment, InventoryItem, \
     StaffMember, TenantProfile, Schedule, Availability, MessageTemplate, Communication, Report, Dashboard or DashboardDefault";

/// The entity kinds whose history can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Customer,
    Lead,
    Quote,
    Invoice,
    Equipment,
    Assignment,
    Inventory,
    Staff,
    Profile,
    Schedule,
    Availability,
    Template,
    Communication,
    Report,
    Dashboard,
    DashboardDefault,
}

impl Kind {
    fn parse(text: &str) -> Result<Self, ApiError> {
        match text.to_ascii_lowercase().as_str() {
            "customer" | "customers" => Ok(Self::Customer),
            "lead" | "leads" => Ok(Self::Lead),
            "quote" | "quotes" => Ok(Self::Quote),
            "invoice" | "invoices" => Ok(Self::Invoice),
            "equipment" => Ok(Self::Equipment),
            "equipmentassignment" | "equipment-assignment" | "equipment-assignments" => {
                Ok(Self::Assignment)
            }
            "inventoryitem" | "inventory" => Ok(Self::Inventory),
            "staffmember" | "staff-member" | "staff" => Ok(Self::Staff),
            "tenantprofile" | "tenant-profile" | "profile" => Ok(Self::Profile),
            "schedule" | "schedules" => Ok(Self::Schedule),
            "availability" => Ok(Self::Availability),
            "messagetemplate" | "message-template" | "template" | "templates" => Ok(Self::Template),
            "communication" | "communications" => Ok(Self::Communication),
            "report" | "reports" => Ok(Self::Report),
            "dashboard" | "dashboards" => Ok(Self::Dashboard),
            "dashboarddefault" | "dashboard-default" => Ok(Self::DashboardDefault),
            _ => Err(ApiError::not_found(format!(
                "no aggregate type `{text}`; use {}",
                KINDS
            ))),
        }
    }

    fn aggregate_type(self) -> &'static str {
        match self {
            Self::Customer => event_schemas::customer::AGGREGATE_TYPE,
            Self::Lead => event_schemas::lead::AGGREGATE_TYPE,
            Self::Quote => event_schemas::quote::AGGREGATE_TYPE,
            Self::Invoice => event_schemas::invoice::AGGREGATE_TYPE,
            Self::Equipment => event_schemas::equipment::AGGREGATE_TYPE,
            Self::Assignment => event_schemas::assignment::AGGREGATE_TYPE,
            Self::Inventory => event_schemas::inventory::AGGREGATE_TYPE,
            Self::Staff => event_schemas::staff::AGGREGATE_TYPE,
            Self::Profile => event_schemas::tenant::AGGREGATE_TYPE,
            Self::Schedule => event_schemas::schedule::AGGREGATE_TYPE,
            Self::Availability => event_schemas::availability::AGGREGATE_TYPE,
            Self::Template => event_schemas::template::AGGREGATE_TYPE,
            Self::Communication => event_schemas::communication::AGGREGATE_TYPE,
            Self::Report => event_schemas::report::AGGREGATE_TYPE,
            Self::Dashboard => event_schemas::dashboard::AGGREGATE_TYPE,
            Self::DashboardDefault => event_schemas::dashboard::DEFAULT_AGGREGATE_TYPE,
        }
    }
}

fn path_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no entity with id `{raw}` (ids are UUIDs)")))
}

/// One stored event, as auditors read it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEvent {
    pub event_id: Uuid,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// Global position in the event store.
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    /// Tenant, actor and role, correlation, causation and command ids.
    #[schema(value_type = Object)]
    pub metadata: SqlJson<Value>,
    /// The payload as stored: personal fields sealed.
    #[schema(value_type = Object)]
    pub payload: SqlJson<Value>,
    /// SHA-256 (hex) of the previous event of this entity, and of this one.
    pub prev_hash: String,
    pub hash: String,
    /// This event's link in the tenant chain (once the relay chained it).
    pub chain_seq: Option<i64>,
    pub chain_hash: Option<String>,
}

impl From<event_store::lookups::StoredEvent> for HistoryEvent {
    fn from(e: event_store::lookups::StoredEvent) -> Self {
        Self {
            event_id: e.event_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            position: e.position,
            recorded_at: e.recorded_at,
            metadata: e.metadata,
            payload: e.payload,
            prev_hash: e.prev_hash,
            hash: e.hash,
            chain_seq: e.chain_seq,
            chain_hash: e.chain_hash,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/audit/{aggregate_type}/{id}/history", tag = "audit",
    params(
        ("aggregate_type" = String, Path, description = "`Customer`, `Lead`, `Quote`, `Invoice`, `Equipment`, `EquipmentAssignment` or `InventoryItem`"),
        ("id" = Uuid, Path, description = "The entity's id"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "Every event of the entity, oldest first, with metadata and hashes", body = ListResponse<HistoryEvent>),
        (status = 404, description = "No such entity in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn history(
    State(state): State<CommandState>,
    principal: Principal,
    Path((kind, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> ApiResult<Json<ListResponse<HistoryEvent>>> {
    authz::authorize_tenant_wide(&principal, Resource::AuditLog, authz::Action::Read)?;
    let (kind, id) = (Kind::parse(&kind)?, path_id(&id)?);
    let limit = pagination::limit(params.limit)?;
    let after: Option<i64> = pagination::decode_cursor(params.cursor.as_deref())?;
    let entity = (kind.aggregate_type(), id);
    let rows: Vec<HistoryEvent> = event_store::lookups::history(
        &state.pool,
        &principal.tenant,
        entity,
        after,
        i64::from(limit) + 1,
    )
    .await?
    .into_iter()
    .map(HistoryEvent::from)
    .collect();
    if rows.is_empty() && after.is_none() {
        return Err(ApiError::not_found(format!(
            "no {} with id {id}",
            kind.aggregate_type().to_lowercase()
        )));
    }
    Ok(Json(pagination::page(rows, limit, |e| e.sequence)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StateParams {
    /// The entity as it stood at this time (RFC 3339).
    pub as_of: Option<DateTime<Utc>>,
    /// The entity as it stood after this many events.
    pub version: Option<u64>,
}

/// An entity rebuilt from its events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityState {
    pub aggregate_type: String,
    pub id: Uuid,
    /// The number of events folded in.
    pub version: u64,
    /// When the last event folded in was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The entity's state (personal data opened, or erased once forgotten).
    #[schema(value_type = Object)]
    pub state: Value,
}

#[utoipa::path(
    get, path = "/v1/audit/{aggregate_type}/{id}/state", tag = "audit",
    params(
        ("aggregate_type" = String, Path, description = "`Customer`, `Lead`, `Quote`, `Invoice`, `Equipment`, `EquipmentAssignment` or `InventoryItem`"),
        ("id" = Uuid, Path, description = "The entity's id"),
        StateParams,
    ),
    responses(
        (status = 200, description = "The entity exactly as it stood then, rebuilt from its events", body = EntityState),
        (status = 404, description = "No such entity in this tenant, or none yet at that time", body = api_common::Problem),
        (status = 422, description = "Both as_of and version, or version 0", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn state(
    State(state): State<CommandState>,
    principal: Principal,
    Path((kind, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<StateParams>,
) -> ApiResult<Json<EntityState>> {
    authz::authorize_tenant_wide(&principal, Resource::AuditLog, authz::Action::Read)?;
    let (kind, id) = (Kind::parse(&kind)?, path_id(&id)?);
    if params.as_of.is_some() && params.version.is_some() {
        return Err(ApiError::invalid_field(
            "version",
            "give either as_of or version, not both",
        ));
    }
    if params.version == Some(0) {
        return Err(ApiError::invalid_field("version", "must be at least 1"));
    }
    let version = match params.as_of {
        Some(at) => {
            let entity = (kind.aggregate_type(), id);
            let reached =
                event_store::lookups::version_at(&state.pool, &principal.tenant, entity, at)
                    .await?;
            Some(reached)
        }
        None => params.version,
    };
    let not_found = || {
        ApiError::not_found(format!(
            "no {} with id {id} at that point",
            kind.aggregate_type().to_lowercase()
        ))
    };
    if version == Some(0) {
        return Err(not_found());
    }
    let tenant = &principal.tenant;
    let found = match kind {
        Kind::Customer => json_state(
            state
                .store::<Customer>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Lead => json_state(state.store::<Lead>().state_at(tenant, id, version).await?),
        Kind::Quote => json_state(state.store::<Quote>().state_at(tenant, id, version).await?),
        Kind::Invoice => json_state(
            state
                .store::<Invoice>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Equipment => json_state(
            state
                .store::<Equipment>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Assignment => json_state(
            state
                .store::<EquipmentAssignment>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Inventory => json_state(
            state
                .store::<InventoryItem>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Staff => json_state(
            state
                .store::<aggregates::staff::StaffMember>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Profile => json_state(
            state
                .store::<aggregates::tenant_profile::TenantProfile>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Schedule => json_state(
            state
                .store::<aggregates::schedule::Schedule>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Availability => json_state(
            state
                .store::<aggregates::availability::Availability>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Template => json_state(
            state
                .store::<aggregates::template::MessageTemplate>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Communication => json_state(
            state
                .store::<aggregates::communication::Communication>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Report => json_state(
            state
                .store::<aggregates::report::Report>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::Dashboard => json_state(
            state
                .store::<aggregates::dashboard::Dashboard>()
                .state_at(tenant, id, version)
                .await?,
        ),
        Kind::DashboardDefault => json_state(
            state
                .store::<aggregates::dashboard::DashboardDefault>()
                .state_at(tenant, id, version)
                .await?,
        ),
    };
    let (value, reached) = found.ok_or_else(not_found)?;
    if version.is_some_and(|v| v > reached) {
        return Err(ApiError::not_found(format!(
            "the entity has only {reached} events"
        )));
    }
    let recorded_at =
        event_store::lookups::recorded_at(&state.pool, (kind.aggregate_type(), id), reached)
            .await?
            .ok_or_else(|| ApiError::internal(format!("event {reached} of {id} is missing")))?;
    Ok(Json(EntityState {
        aggregate_type: kind.aggregate_type().to_owned(),
        id,
        version: reached,
        recorded_at,
        state: value,
    }))
}

fn json_state<A: Serialize>(found: Option<(A, u64)>) -> Option<(Value, u64)> {
    found.map(|(a, v)| (serde_json::to_value(a).unwrap_or(Value::Null), v))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Events recorded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Events recorded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// Records that `ctx`'s tenant's history is being exported.
pub async fn record_export(
    exports: &Store<AuditExport>,
    ctx: &CommandContext,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    channel: &str,
) -> ApiResult<Uuid> {
    let id = Uuid::now_v7();
    let command = RecordExport {
        export_id: id,
        tenant_id: ctx.principal.tenant.clone(),
        from,
        to,
        channel: channel.to_owned(),
    };
    Ok(crate::act::create(exports, ctx, id, command).await?.id)
}

#[utoipa::path(
    get, path = "/v1/audit/export", tag = "audit",
    params(ExportParams),
    responses(
        (status = 200, description = "NDJSON (`application/x-ndjson`): a header, anchors for a window, every event with metadata, stored payload and hashes, then the seals; verify offline with `crm audit verify --file`. The export itself is recorded as an AuditExportRecorded event.", body = String, content_type = "application/x-ndjson"),
    ),
    security(("bearer" = []))
)]
async fn export(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> ApiResult<Response> {
    authz::authorize_tenant_wide(&ctx.principal, Resource::AuditLog, authz::Action::Read)?;
    if let (Some(from), Some(to)) = (params.from, params.to)
        && from > to
    {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    let export_id = record_export(
        &state.store::<AuditExport>(),
        &ctx,
        params.from,
        params.to,
        "api",
    )
    .await?;
    tracing::info!(%export_id, tenant = %ctx.principal.tenant, "history export");
    let lines = history::export(
        state.pool.clone(),
        Some(ctx.principal.tenant.to_string()),
        params.from,
        params.to,
    )
    .map(|line| {
        line.map_err(|e| {
            tracing::error!(error = %e, "export failed mid-stream");
            std::io::Error::other("the export failed; it is incomplete")
        })
        .and_then(|line| {
            let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            Ok(Bytes::from(bytes))
        })
    });
    let mut response = Body::from_stream(lines).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    response.headers_mut().insert(
        "content-disposition",
        axum::http::HeaderValue::from_static("attachment; filename=\"events.ndjson\""),
    );
    Ok(response)
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(history))
        .checked_routes(routes!(state))
        .checked_routes(routes!(export))
}
