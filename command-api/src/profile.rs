//! The tenant's profile: company, branches, time zone, locale, email
//! sender, working hours and default job duration. Read and replaced by
//! admins (`TENANT_PROFILE`); read by commands and processes through
//! [`current`].

use aggregates::tenant_profile::{
    LocationInput, ProfileInput, TenantProfile, TenantProfileCommand, WorkingDayInput,
};
use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiJson, ApiResult, IfMatch, Principal};
use axum::extract::State;
use axum::response::Response;
use chrono::NaiveTime;
use event_schemas::tenant::{Location, Weekday, WorkingDay, profile_id};
use event_schemas::{Address, TenantId};
use event_store::Target;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::CommandContext;
use crate::customers::AddressRequest;
use crate::{CommandResponse, CommandState, ok, respond};

/// The tenant's profile as it stands (the defaults until first set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TenantProfileView {
    /// `null` until an admin sets the profile.
    pub company_name: Option<String>,
    pub address: Option<Address>,
    pub locations: Vec<Location>,
    #[schema(example = "America/Toronto")]
    pub time_zone: String,
    #[schema(example = "en-CA")]
    pub locale: String,
    pub email_sender_name: Option<String>,
    pub email_sender_address: Option<String>,
    pub working_hours: Vec<WorkingDay>,
    #[schema(example = 240)]
    pub default_job_duration_minutes: u32,
    /// Emails carry an open-tracking pixel (READ when it loads).
    pub email_open_tracking: bool,
    /// How long report runs keep their files (days).
    #[schema(example = 90)]
    pub report_retention_days: u32,
}

impl From<&TenantProfile> for TenantProfileView {
    fn from(p: &TenantProfile) -> Self {
        Self {
            company_name: p.company_name().map(str::to_owned),
            address: p.address().cloned(),
            locations: p.locations().to_vec(),
            time_zone: p.time_zone_name().to_owned(),
            locale: p.locale().to_owned(),
            email_sender_name: p.email_sender_name().map(str::to_owned),
            email_sender_address: p.email_sender_address().map(str::to_owned),
            working_hours: p.working_hours(),
            default_job_duration_minutes: p.default_job_duration_minutes(),
            email_open_tracking: p.email_open_tracking(),
            report_retention_days: p.report_retention_days(),
        }
    }
}

/// `tenant`'s profile as it stands (the defaults until first set).
pub async fn current(state: &CommandState, tenant: &TenantId) -> ApiResult<TenantProfile> {
    let loaded = state
        .store::<TenantProfile>()
        .load_or_new(tenant, profile_id(tenant))
        .await?;
    Ok(loaded.state().clone())
}

/// A branch of the company.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationRequest {
    /// The id leads, equipment, inventory, staff and schedules use.
    #[schema(example = "tor-1")]
    pub location_id: String,
    #[schema(example = "Toronto")]
    pub name: String,
    #[serde(default)]
    pub address: Option<AddressRequest>,
}

/// One working day's hours, in the tenant's time zone.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingDayRequest {
    pub day: Weekday,
    #[schema(value_type = String, example = "08:00:00")]
    pub opens: NaiveTime,
    #[schema(value_type = String, example = "17:00:00")]
    pub closes: NaiveTime,
}

/// The whole profile (a replacement): a field left out takes its default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutTenantProfileRequest {
    #[schema(example = "Acme Movers")]
    pub company_name: String,
    #[serde(default)]
    pub address: Option<AddressRequest>,
    #[serde(default)]
    pub locations: Vec<LocationRequest>,
    /// IANA time zone; default `America/Toronto`.
    #[serde(default)]
    #[schema(example = "America/Toronto")]
    pub time_zone: Option<String>,
    /// BCP 47 tag; default `en-CA`.
    #[serde(default)]
    #[schema(example = "en-CA")]
    pub locale: Option<String>,
    #[serde(default)]
    #[schema(example = "Acme Movers")]
    pub email_sender_name: Option<String>,
    #[serde(default)]
    #[schema(example = "hello@acme-movers.example")]
    pub email_sender_address: Option<String>,
    /// Default: Monday to Friday, 08:00–17:00.
    #[serde(default)]
    pub working_hours: Option<Vec<WorkingDayRequest>>,
    /// Default: 240.
    #[serde(default)]
    #[schema(minimum = 15, maximum = 1440)]
    pub default_job_duration_minutes: Option<u32>,
    /// Emails carry an open-tracking pixel that marks them READ when a
    /// mail client loads it. Default: off.
    #[serde(default)]
    pub email_open_tracking: Option<bool>,
    /// How long report runs keep their files, in days (1–3650). Default: 90.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub report_retention_days: Option<u32>,
}

impl From<PutTenantProfileRequest> for ProfileInput {
    fn from(body: PutTenantProfileRequest) -> Self {
        Self {
            company_name: body.company_name,
            address: body.address.map(Into::into),
            locations: body
                .locations
                .into_iter()
                .map(|l| LocationInput {
                    location_id: l.location_id,
                    name: l.name,
                    address: l.address.map(Into::into),
                })
                .collect(),
            time_zone: body.time_zone,
            locale: body.locale,
            email_sender_name: body.email_sender_name,
            email_sender_address: body.email_sender_address,
            working_hours: body.working_hours.map(|days| {
                days.into_iter()
                    .map(|d| WorkingDayInput {
                        day: d.day,
                        opens: d.opens,
                        closes: d.closes,
                    })
                    .collect()
            }),
            default_job_duration_minutes: body.default_job_duration_minutes,
            email_open_tracking: body.email_open_tracking,
            report_retention_days: body.report_retention_days,
        }
    }
}

#[utoipa::path(
    get, path = "/v1/tenant/profile", tag = "tenant",
    responses(
        (status = 200, description = "The tenant's profile (defaults until set)", body = TenantProfileView),
        (status = 403, description = "Not allowed (admins by default)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get(State(state): State<CommandState>, principal: Principal) -> ApiResult<Response> {
    authz::authorize(&principal, Resource::TenantProfile, Action::Read, None)?;
    let loaded = state
        .store::<TenantProfile>()
        .load_or_new(&principal.tenant, profile_id(&principal.tenant))
        .await?;
    Ok(respond(
        axum::http::StatusCode::OK,
        None,
        loaded.version(),
        &TenantProfileView::from(loaded.state()),
    ))
}

#[utoipa::path(
    put, path = "/v1/tenant/profile", tag = "tenant",
    request_body = PutTenantProfileRequest,
    params(("If-Match" = Option<String>, Header, description = "Expected version; a stale one answers 412")),
    responses(
        (status = 200, description = "Replaced (or unchanged)", body = CommandResponse),
        (status = 403, description = "Not allowed (admins by default)", body = api_common::Problem),
        (status = 412, description = "Stale If-Match", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn put(
    State(state): State<CommandState>,
    ctx: CommandContext,
    if_match: IfMatch,
    ApiJson(body): ApiJson<PutTenantProfileRequest>,
) -> ApiResult<Response> {
    authz::authorize(
        &ctx.principal,
        Resource::TenantProfile,
        Action::Update,
        None,
    )?;
    let tenant = &ctx.principal.tenant;
    let command = TenantProfileCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        tenant_id: tenant.clone(),
        profile: body.into(),
    };
    Ok(ok(crate::act::run(
        &state.store::<TenantProfile>(),
        &ctx,
        Target::Any(profile_id(tenant)),
        &if_match,
        |_| Ok(command.clone()),
    )
    .await?))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new().checked_routes(routes!(get, put))
}
