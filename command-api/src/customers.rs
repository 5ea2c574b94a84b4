//! Customer commands: register, update contact details and profile, tag and
//! untag, deactivate and reactivate.

use aggregates::Patch;
use aggregates::customer::Customer;
use aggregates::customer::{CustomerCommand, RegisterCustomer, UpdateCustomer};
use aggregates::values::AddressInput;
use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::act;
use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, JsonOrEmpty, created, ok};
use event_store::CommandError;

/// A postal address. `country` defaults to `CA`; for Canada `province` is a
/// province/territory code and `postal_code` looks like `H2X 1Y4`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    #[schema(example = "123 Rue Principale")]
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    #[schema(example = "Montréal")]
    pub city: String,
    #[serde(default)]
    #[schema(example = "QC")]
    pub province: Option<String>,
    #[schema(example = "H2X 1Y4")]
    pub postal_code: String,
    #[serde(default)]
    #[schema(example = "CA")]
    pub country: Option<String>,
}

impl From<AddressRequest> for AddressInput {
    fn from(a: AddressRequest) -> Self {
        Self {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            province: a.province,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

/// Register a customer. At least one of `email` and `phone` is required;
/// each is unique within the tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCustomerRequest {
    #[schema(example = "Jeanne")]
    pub first_name: String,
    #[schema(example = "Tremblay")]
    pub last_name: String,
    #[serde(default)]
    #[schema(example = "jeanne@example.com")]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(example = "+1 514 555 0123")]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<AddressRequest>,
    #[serde(default)]
    #[schema(example = "website")]
    pub lead_source: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub preferences: Map<String, Value>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// Change any of the fields below; a field left out is unchanged, `null`
/// clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub email: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub phone: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<AddressRequest>)]
    pub address: Patch<AddressRequest>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub lead_source: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub preferences: Option<Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub notes: Patch<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateCustomerRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

/// Forget the person: their data key is destroyed, their personal data can
/// never be read again; the rest of the history stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetCustomerRequest {
    /// Why (e.g. the erasure request's reference). Must not hold personal data.
    #[schema(example = "erasure request #2026-114")]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    #[schema(example = "vip")]
    pub tag: String,
}

/// A refused registration leaves nothing behind: sealing made a data key
/// for an id that will never have an event.
async fn discard_key(state: &CommandState, ctx: &CommandContext, id: Uuid) {
    let tenant = ctx.principal.tenant.as_str();
    if let Err(e) = state
        .keystore
        .discard_unused_data_key(tenant, &id.to_string())
        .await
    {
        tracing::warn!(error = %e, customer = %id, "the refused registration's data key stays");
    }
}

#[utoipa::path(
    post, path = "/v1/customers", tag = "customers",
    request_body = RegisterCustomerRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Registered", body = CommandResponse),
        (status = 409, description = "Email or phone already used by another customer", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn register(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<RegisterCustomerRequest>,
) -> ApiResult<Response> {
    authz::authorize(
        &ctx.principal,
        Resource::Customer,
        Action::Create,
        authz::unowned(),
    )?;
    let id = Uuid::now_v7();
    let command = CustomerCommand::Register(RegisterCustomer {
        customer_id: id,
        tenant_id: ctx.principal.tenant.clone(),
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
        phone: body.phone,
        address: body.address.map(Into::into),
        lead_source: body.lead_source,
        tags: body.tags,
        preferences: body.preferences,
        notes: body.notes,
    });
    // The database checks email and phone inside the commit and names the
    // customer holding the value (`Taken`, a 409 naming the field).
    let committed = match act::create(&state.store::<Customer>(), &ctx, id, command).await {
        Err(taken @ CommandError::Taken { .. }) => {
            discard_key(&state, &ctx, id).await;
            return Err(taken.into());
        }
        other => other?,
    };
    Ok(created(
        &format!("/v1/customers/{}", committed.id),
        committed,
    ))
}

#[utoipa::path(
    patch, path = "/v1/customers/{id}", tag = "customers",
    request_body = UpdateCustomerRequest,
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"; a stale one answers 412"),
    ),
    responses(
        (status = 200, description = "Updated (or unchanged)", body = CommandResponse),
        (status = 404, description = "No such customer in this tenant", body = api_common::Problem),
        (status = 409, description = "Email or phone already used, or a concurrent write", body = api_common::Problem),
        (status = 412, description = "Stale If-Match", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateCustomerRequest>,
) -> ApiResult<Response> {
    let command = CustomerCommand::Update(UpdateCustomer {
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
        phone: body.phone,
        address: body.address.map(Into::into),
        lead_source: body.lead_source,
        preferences: body.preferences,
        notes: body.notes,
    });
    let permission = (Resource::Customer, Action::Update);
    let committed = act::act(
        &state.store::<Customer>(),
        &ctx,
        id,
        &if_match,
        permission,
        act::unowned,
        |_| command.clone(),
    )
    .await?;
    Ok(ok(committed))
}

async fn simple(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: IfMatch,
    action: Action,
    command: CustomerCommand,
) -> ApiResult<Response> {
    let permission = (Resource::Customer, action);
    let committed = act::act(
        &state.store::<Customer>(),
        ctx,
        id,
        &if_match,
        permission,
        act::unowned,
        |_| command.clone(),
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/customers/{id}/deactivate", tag = "customers",
    request_body(content = Option<DeactivateCustomerRequest>, description = "Optional reason"),
    params(("id" = Uuid, Path, description = "Customer id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Deactivated", body = CommandResponse),
        (status = 409, description = "Already inactive", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn deactivate(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    JsonOrEmpty(body): JsonOrEmpty<DeactivateCustomerRequest>,
) -> ApiResult<Response> {
    let command = CustomerCommand::Deactivate {
        reason: body.reason,
    };
    simple(&state, &ctx, id, if_match, Action::Delete, command).await
}

#[utoipa::path(
    post, path = "/v1/customers/{id}/reactivate", tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Reactivated", body = CommandResponse),
        (status = 409, description = "Already active", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn reactivate(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    JsonOrEmpty(_body): JsonOrEmpty<EmptyRequest>,
) -> ApiResult<Response> {
    simple(
        &state,
        &ctx,
        id,
        if_match,
        Action::Delete,
        CustomerCommand::Reactivate,
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/customers/{id}/forget", tag = "customers",
    request_body = ForgetCustomerRequest,
    params(("id" = Uuid, Path, description = "Customer id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Forgotten: personal data erased everywhere", body = CommandResponse),
        (status = 403, description = "Only admins forget customers", body = api_common::Problem),
        (status = 409, description = "Already forgotten", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn forget(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ForgetCustomerRequest>,
) -> ApiResult<Response> {
    authz::authorize(&ctx.principal, Resource::PersonalData, Action::Delete, None)?;
    let command = CustomerCommand::Forget {
        reason: body.reason,
    };
    simple(&state, &ctx, id, if_match, Action::Read, command).await
}

#[utoipa::path(
    post, path = "/v1/customers/{id}/tags", tag = "customers",
    request_body = TagRequest,
    params(("id" = Uuid, Path, description = "Customer id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Tagged (or already tagged)", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn tag(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<TagRequest>,
) -> ApiResult<Response> {
    simple(
        &state,
        &ctx,
        id,
        if_match,
        Action::Update,
        CustomerCommand::Tag { tag: body.tag },
    )
    .await
}

#[utoipa::path(
    delete, path = "/v1/customers/{id}/tags/{tag}", tag = "customers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("tag" = String, Path, description = "The tag to remove"),
        ("If-Match" = Option<String>, Header, description = "Expected version"),
    ),
    responses((status = 200, description = "Untagged (or was not tagged)", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn untag(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path((id, tag)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no customer with id `{id}`")))?;
    simple(
        &state,
        &ctx,
        id,
        if_match,
        Action::Update,
        CustomerCommand::Untag { tag },
    )
    .await
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(register))
        .checked_routes(routes!(update))
        .checked_routes(routes!(deactivate))
        .checked_routes(routes!(reactivate))
        .checked_routes(routes!(forget))
        .checked_routes(routes!(tag))
        .checked_routes(routes!(untag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_store::Committed;

    #[test]
    fn a_command_response_is_the_committed_id_and_version() {
        let committed = Committed {
            id: Uuid::nil(),
            version: 3,
            events: 1,
        };
        let response = CommandResponse::from(committed);
        assert_eq!(response.version, 3);
    }
}
