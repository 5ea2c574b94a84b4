//! A tenant's sales settings: the quote approval limit, the default province
//! and payment terms. Read by commands (through [`current`]) and changed by
//! admins and managers over HTTP.

use aggregates::Patch;
use aggregates::settings::{SalesSettings, SalesSettingsAction, SalesSettingsCommand};
use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiJson, ApiResult, IfMatch, Principal};
use axum::extract::State;
use axum::response::Response;
use event_schemas::TenantId;
use event_schemas::finance::settings_id;
use event_schemas::money::Province;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, ok, respond};
use event_store::Target;

/// The settings a command reads, and what `GET /v1/settings/sales` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SalesDefaults {
    /// Quotes whose total is above this need a manager's approval before
    /// they are sent (`null`: never).
    #[schema(value_type = Option<String>, example = "10000.00")]
    pub quote_approval_threshold: Option<Decimal>,
    /// Used when a quote or invoice names no province.
    pub default_province: Province,
    /// Days from issue to due date when an invoice names none.
    pub default_payment_terms_days: u32,
}

impl From<&SalesSettings> for SalesDefaults {
    fn from(s: &SalesSettings) -> Self {
        Self {
            quote_approval_threshold: s.threshold(),
            default_province: s.default_province(),
            default_payment_terms_days: s.default_payment_terms_days(),
        }
    }
}

/// `tenant`'s current sales settings (the defaults until first changed).
pub async fn current(state: &CommandState, tenant: &TenantId) -> ApiResult<SalesDefaults> {
    let loaded = state
        .store::<SalesSettings>()
        .load_or_new(tenant, settings_id(tenant))
        .await?;
    Ok(SalesDefaults::from(loaded.state()))
}

/// Change any of the settings; absent fields stay, `null` clears the limit.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSalesSettingsRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "10000.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub quote_approval_threshold: Patch<Decimal>,
    #[serde(default)]
    pub default_province: Option<Province>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 365)]
    pub default_payment_terms_days: Option<u32>,
}

#[utoipa::path(
    get, path = "/v1/settings/sales", tag = "settings",
    responses((status = 200, description = "The tenant's sales settings", body = SalesDefaults)),
    security(("bearer" = []))
)]
async fn get(State(state): State<CommandState>, principal: Principal) -> ApiResult<Response> {
    authz::authorize(&principal, Resource::Report, Action::Read, None)?;
    let loaded = state
        .store::<SalesSettings>()
        .load_or_new(&principal.tenant, settings_id(&principal.tenant))
        .await?;
    Ok(respond(
        axum::http::StatusCode::OK,
        None,
        loaded.version(),
        &SalesDefaults::from(loaded.state()),
    ))
}

#[utoipa::path(
    put, path = "/v1/settings/sales", tag = "settings",
    request_body = UpdateSalesSettingsRequest,
    params(("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Changed (or unchanged)", body = CommandResponse),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateSalesSettingsRequest>,
) -> ApiResult<Response> {
    authz::authorize(&ctx.principal, Resource::Report, Action::Update, None)?;
    let tenant = &ctx.principal.tenant;
    let command = SalesSettingsCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action: SalesSettingsAction::Change {
            tenant_id: tenant.clone(),
            quote_approval_threshold: body.quote_approval_threshold,
            default_province: body.default_province,
            default_payment_terms_days: body.default_payment_terms_days,
        },
    };
    let target = Target::Any(settings_id(tenant));
    Ok(ok(crate::act::run(
        &state.store::<SalesSettings>(),
        &ctx,
        target,
        &if_match,
        |_| Ok(command.clone()),
    )
    .await?))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new().checked_routes(routes!(get, update))
}
