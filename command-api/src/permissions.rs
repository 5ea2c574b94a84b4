//! The permission matrix over HTTP: admins change a role's scopes and grant
//! or revoke per-user permissions (each change an event, effective from the
//! next request); admins, managers and auditors read them.

use aggregates::permissions::TenantPermissions;
use aggregates::permissions::{PermissionAction, PermissionCommand};
use api_common::authz::{self, Action, Resource, Scope, default_scope};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiQuery, ApiResult, IfMatch, Principal};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use event_schemas::Role;
use event_schemas::permissions::matrix_id;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, ok, respond};
use event_store::{Committed, Target};

#[derive(Debug, Serialize, ToSchema)]
pub struct MatrixEntry {
    pub role: Role,
    pub resource: Resource,
    pub action: Action,
    /// `null`: not allowed.
    pub scope: Option<Scope>,
    /// `default` (built in) or `override` (set by an admin).
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub grant_id: Uuid,
    pub user_id: Uuid,
    #[schema(value_type = Resource)]
    pub resource: String,
    #[schema(value_type = Action)]
    pub action: String,
    #[schema(value_type = Scope)]
    pub scope: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Neither revoked nor expired.
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Matrix {
    /// Every role × resource × action, as in force for the tenant.
    pub permissions: Vec<MatrixEntry>,
    /// Grants in force.
    pub grants: Vec<GrantView>,
}

impl From<event_store::lookups::Grant> for GrantView {
    fn from(g: event_store::lookups::Grant) -> Self {
        Self {
            grant_id: g.grant_id,
            user_id: g.user_id,
            resource: g.resource,
            action: g.action,
            scope: g.scope,
            expires_at: g.expires_at,
            reason: g.reason,
            granted_at: g.granted_at,
            revoked_at: g.revoked_at,
            active: g.active,
        }
    }
}

#[utoipa::path(
    get, path = "/v1/permissions", tag = "permissions",
    responses((status = 200, description = "The tenant's permission matrix and the grants in force", body = Matrix)),
    security(("bearer" = []))
)]
async fn matrix(
    State(state): State<CommandState>,
    principal: Principal,
) -> ApiResult<Json<Matrix>> {
    authz::authorize(&principal, Resource::Permission, Action::Read, None)?;
    let overrides =
        event_store::lookups::permission_overrides(&state.pool, &principal.tenant).await?;
    let mut permissions = Vec::new();
    for role in Role::ALL.iter().filter(|r| r.is_person()) {
        for resource in Resource::ALL {
            for action in Action::ALL {
                let overridden = overrides.iter().find(|o| {
                    o.role == role.as_str()
                        && o.resource == resource.as_str()
                        && o.action == action.as_str()
                });
                let (scope, source) = match overridden {
                    Some(o) => (o.scope.as_deref().and_then(|s| s.parse().ok()), "override"),
                    None => (default_scope(*role, *resource, *action), "default"),
                };
                permissions.push(MatrixEntry {
                    role: *role,
                    resource: *resource,
                    action: *action,
                    scope,
                    source: source.to_owned(),
                });
            }
        }
    }
    let in_force = event_store::lookups::GrantFilter {
        active_only: true,
        ..Default::default()
    };
    let grants = event_store::lookups::grants(&state.pool, &principal.tenant, in_force)
        .await?
        .into_iter()
        .map(GrantView::from)
        .collect();
    Ok(Json(Matrix {
        permissions,
        grants,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRolePermissionRequest {
    /// `null` takes the permission away from the role.
    pub scope: Option<Scope>,
    pub reason: String,
}

fn parse<T: std::str::FromStr<Err = event_schemas::UnknownVariant>>(
    field: &str,
    raw: &str,
) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|e: event_schemas::UnknownVariant| ApiError::invalid_field(field, e.to_string()))
}

async fn act(
    state: &CommandState,
    ctx: &CommandContext,
    if_match: IfMatch,
    action: PermissionAction,
) -> ApiResult<Committed> {
    let tenant = &ctx.principal.tenant;
    let command = PermissionCommand {
        tenant_id: tenant.clone(),
        at: ctx.now,
        action,
    };
    let target = Target::Any(matrix_id(tenant));
    let committed = crate::act::run(
        &state.store::<TenantPermissions>(),
        ctx,
        target,
        &if_match,
        |_| Ok(command.clone()),
    )
    .await?;
    // This process's cached policies at once; other processes' on the
    // `crm_permissions` notification, and their commands at commit.
    state.policies.invalidate(tenant);
    Ok(committed)
}

#[utoipa::path(
    put, path = "/v1/permissions/roles/{role}/{resource}/{action}", tag = "permissions",
    request_body = SetRolePermissionRequest,
    params(
        ("role" = Role, Path, description = "e.g. `sales`"),
        ("resource" = Resource, Path, description = "e.g. `LEAD`"),
        ("action" = Action, Path, description = "e.g. `READ`"),
        ("If-Match" = Option<String>, Header, description = "Expected version of the matrix"),
    ),
    responses(
        (status = 200, description = "Set; in force from the next request", body = CommandResponse),
        (status = 409, description = "The admin role's rights on the matrix are locked", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn set_role_permission(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path((role, resource, action)): Path<(String, String, String)>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<SetRolePermissionRequest>,
) -> ApiResult<Response> {
    authz::authorize(&ctx.principal, Resource::Permission, Action::Update, None)?;
    let role: Role = parse("role", &role)?;
    if !role.is_person() {
        return Err(ApiError::invalid_field(
            "role",
            "`system` is the backend's own role and has no permissions to set",
        ));
    }
    let action = PermissionAction::SetRolePermission {
        role,
        resource: parse("resource", &resource.to_uppercase())?,
        action: parse("action", &action.to_uppercase())?,
        scope: body.scope,
        reason: body.reason,
    };
    Ok(ok(act(&state, &ctx, if_match, action).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub user_id: Uuid,
    pub resource: Resource,
    pub action: Action,
    pub scope: Scope,
    /// When the grant stops working by itself (RFC 3339, in the future).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: String,
}

#[utoipa::path(
    post, path = "/v1/permissions/grants", tag = "permissions",
    request_body = GrantRequest,
    responses((status = 201, description = "Granted; `id` is the grant's", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn grant(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<GrantRequest>,
) -> ApiResult<Response> {
    authz::authorize(&ctx.principal, Resource::Permission, Action::Create, None)?;
    let grant_id = Uuid::now_v7();
    let action = PermissionAction::Grant {
        grant_id,
        user_id: body.user_id,
        resource: body.resource,
        action: body.action,
        scope: body.scope,
        expires_at: body.expires_at,
        reason: body.reason,
    };
    let committed = act(&state, &ctx, IfMatch(None), action).await?;
    let body = CommandResponse {
        id: grant_id,
        version: committed.version,
    };
    Ok(respond(
        StatusCode::CREATED,
        Some("/v1/permissions/grants"),
        committed.version,
        &body,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub reason: String,
}

#[utoipa::path(
    post, path = "/v1/permissions/grants/{grant_id}/revoke", tag = "permissions",
    request_body = RevokeRequest,
    params(("grant_id" = Uuid, Path, description = "The grant")),
    responses(
        (status = 200, description = "Revoked; no longer in force from the next request", body = CommandResponse),
        (status = 404, description = "No such grant in this tenant", body = api_common::Problem),
        (status = 409, description = "Already revoked or expired", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn revoke(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path(grant_id): Path<String>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> ApiResult<Response> {
    authz::authorize(&ctx.principal, Resource::Permission, Action::Delete, None)?;
    let grant_id: Uuid = grant_id
        .parse()
        .map_err(|_| ApiError::not_found("no such grant"))?;
    let action = PermissionAction::Revoke {
        grant_id,
        reason: body.reason,
    };
    Ok(ok(act(&state, &ctx, IfMatch(None), action).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantsParams {
    pub user_id: Option<Uuid>,
    /// Only grants in force (default), or all with `false`.
    pub active: Option<bool>,
}

#[utoipa::path(
    get, path = "/v1/permissions/grants", tag = "permissions",
    params(GrantsParams),
    responses((status = 200, description = "Grants, newest first", body = Vec<GrantView>)),
    security(("bearer" = []))
)]
async fn grants(
    State(state): State<CommandState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<GrantsParams>,
) -> ApiResult<Json<Vec<GrantView>>> {
    authz::authorize(&principal, Resource::Permission, Action::Read, None)?;
    let filter = event_store::lookups::GrantFilter {
        user_id: params.user_id,
        active_only: params.active.unwrap_or(true),
        newest_first: true,
    };
    let rows = event_store::lookups::grants(&state.pool, &principal.tenant, filter)
        .await?
        .into_iter()
        .map(GrantView::from)
        .collect();
    Ok(Json(rows))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(matrix))
        .checked_routes(routes!(set_role_permission))
        .checked_routes(routes!(grant, grants))
        .checked_routes(routes!(revoke))
}
