//! Dashboards: create, edit, delete, and the caller's default. Reads,
//! figures and the live stream are in `query_api::dashboards`.
//!
//! A dashboard belongs to the user who made it. Its owner (an OWN scope)
//! or a tenant-wide scope may change it; to anyone else it does not exist
//! (404, like another tenant's). Which dashboard is a user's default is
//! their own `DashboardDefault` aggregate (one per user, id derived from
//! the tenant and the user), changed by a second command after the
//! dashboard's own commit: concurrent choices are decided one after the
//! other on that one aggregate, so a user never has two defaults.

use aggregates::Patch;
use aggregates::dashboard::{
    ChooseDefault, Dashboard, DashboardAction, DashboardCommand, DashboardDefault,
    DashboardSettings, GRID_COLUMNS, default_id,
};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::State;
use axum::response::Response;
use event_schemas::dashboard::{DashboardTheme, LayoutItem, Widget};
use event_store::{Committed, Target};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, act, created, ok, respond};

/// A new dashboard, the caller's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDashboardRequest {
    #[schema(example = "Sales this month")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Each a metric of the catalogue for its kind (at most 24).
    pub widgets: Vec<Widget>,
    /// Where each widget sits on the 12-column grid; left out (or empty):
    /// one widget per row, full width, in order.
    #[serde(default)]
    pub layout: Option<Vec<LayoutItem>>,
    /// Make it the caller's default dashboard.
    #[serde(default)]
    pub is_default: Option<bool>,
    /// Visible to the whole tenant (default false: the owner's alone).
    #[serde(default)]
    pub is_public: Option<bool>,
    /// How often a page without the live stream reloads (5–86400 s).
    #[serde(default)]
    pub refresh_interval_seconds: Option<u32>,
    /// Default `dark`.
    #[serde(default)]
    pub theme: Option<DashboardTheme>,
}

/// An edit: absent fields stay, `null` clears (description, refresh
/// interval). `is_default` alone needs only to see the dashboard.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDashboardRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    /// The whole list. Without `layout`, widgets kept keep their place and
    /// new ones go below, full width.
    #[serde(default)]
    pub widgets: Option<Vec<Widget>>,
    #[serde(default)]
    pub layout: Option<Vec<LayoutItem>>,
    /// `true`: the caller's default from now on; `false`: no default, if it
    /// was this one (another default is left alone).
    #[serde(default)]
    pub is_default: Option<bool>,
    #[serde(default)]
    pub is_public: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    pub refresh_interval_seconds: Patch<u32>,
    #[serde(default)]
    pub theme: Option<DashboardTheme>,
}

impl UpdateDashboardRequest {
    /// Whether it changes the dashboard itself (not only the default).
    fn edits(&self) -> bool {
        self.name.is_some()
            || !self.description.is_unchanged()
            || self.widgets.is_some()
            || self.layout.is_some()
            || self.is_public.is_some()
            || !self.refresh_interval_seconds.is_unchanged()
            || self.theme.is_some()
    }

    /// The settings `current` takes with this edit.
    fn apply_to(&self, current: &Dashboard) -> DashboardSettings {
        let widgets = self
            .widgets
            .clone()
            .unwrap_or_else(|| current.widgets.clone());
        let layout = match (&self.layout, &self.widgets) {
            (Some(layout), _) => layout.clone(),
            (None, Some(widgets)) => replace_widgets(&current.layout, widgets),
            (None, None) => current.layout.clone(),
        };
        DashboardSettings {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            description: self
                .description
                .clone()
                .apply_to(current.description.clone()),
            widgets,
            layout,
            is_public: self.is_public.unwrap_or(current.is_public),
            refresh_interval_seconds: self
                .refresh_interval_seconds
                .clone()
                .apply_to(current.refresh_interval_seconds),
            theme: self.theme.or(current.theme).unwrap_or(DashboardTheme::Dark),
        }
    }
}

/// `layout` for a new list of widgets: the places of widgets kept, the new
/// ones below everything, one per row, full width.
fn replace_widgets(layout: &[LayoutItem], widgets: &[Widget]) -> Vec<LayoutItem> {
    let mut kept: Vec<LayoutItem> = layout
        .iter()
        .filter(|item| widgets.iter().any(|w| w.id == item.widget))
        .cloned()
        .collect();
    let mut y = kept.iter().map(|i| i.y + i.h).max().unwrap_or(0);
    for w in widgets {
        if !kept.iter().any(|item| item.widget == w.id) {
            kept.push(LayoutItem {
                widget: w.id.clone(),
                x: 0,
                y,
                w: GRID_COLUMNS,
                h: 4,
            });
            y += 4;
        }
    }
    kept
}

/// What OWN scopes look at: the owner.
fn ownership(d: &Dashboard) -> RecordOwnership {
    RecordOwnership {
        assigned_to: d.owner_id,
        created_by: d.owner_id,
        location_id: None,
    }
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no dashboard {id}"))
}

/// The caller may `action` on `dashboard`: 403 when their role may not
/// `action` on dashboards at all, 404 (as if it did not exist) when their
/// scope does not cover it, or it is deleted.
fn authorize(
    ctx: &CommandContext,
    action: Action,
    id: Uuid,
    dashboard: &Dashboard,
) -> ApiResult<()> {
    authz::authorize(&ctx.principal, Resource::Dashboard, action, None)?;
    let covered = authz::authorize(
        &ctx.principal,
        Resource::Dashboard,
        action,
        Some(ownership(dashboard)),
    )
    .is_ok();
    // Public dashboards are the whole tenant's to read.
    let readable = action == Action::Read && dashboard.is_public;
    if dashboard.exists() && (covered || readable) {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

/// Makes `dashboard` the caller's default (`None`: no default). With
/// `only_if`, changes the default only when it is that dashboard now.
async fn choose_default(
    state: &CommandState,
    ctx: &CommandContext,
    dashboard: Option<Uuid>,
    only_if: Option<Uuid>,
) -> ApiResult<Committed> {
    let principal = &ctx.principal;
    let id = default_id(&principal.tenant, principal.user_id);
    act::run(
        &state.store::<DashboardDefault>(),
        ctx,
        Target::Any(id),
        &IfMatch(None),
        |loaded| {
            let current = loaded.state().dashboard_id;
            let dashboard_id = match only_if {
                Some(only) if current != Some(only) => current,
                _ => dashboard,
            };
            Ok(ChooseDefault {
                at: ctx.now,
                actor: principal.user_id,
                tenant_id: principal.tenant.clone(),
                user_id: principal.user_id,
                dashboard_id,
            })
        },
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/dashboards", tag = "dashboards",
    request_body = CreateDashboardRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Created (the caller owns it); with `is_default`, the caller's default", body = CommandResponse),
        (status = 403, description = "The role may not make dashboards", body = api_common::Problem),
        (status = 422, description = "Invalid field (named, e.g. `widgets[0].metric`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateDashboardRequest>,
) -> ApiResult<Response> {
    authz::authorize(&ctx.principal, Resource::Dashboard, Action::Create, None)?;
    let id = Uuid::now_v7();
    let command = DashboardCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action: DashboardAction::Create {
            tenant_id: ctx.principal.tenant.clone(),
            dashboard_id: id,
            owner_id: ctx.principal.user_id,
            settings: DashboardSettings {
                name: body.name,
                description: body.description,
                widgets: body.widgets,
                layout: body.layout.unwrap_or_default(),
                is_public: body.is_public.unwrap_or(false),
                refresh_interval_seconds: body.refresh_interval_seconds,
                theme: body.theme.unwrap_or(DashboardTheme::Dark),
            },
        },
    };
    let committed = act::create(&state.store::<Dashboard>(), &ctx, id, command).await?;
    if body.is_default == Some(true) {
        choose_default(&state, &ctx, Some(id), None).await?;
    }
    Ok(created(&format!("/v1/dashboards/{id}"), committed))
}

#[utoipa::path(
    patch, path = "/v1/dashboards/{id}", tag = "dashboards",
    request_body = UpdateDashboardRequest,
    params(
        ("id" = Uuid, Path, description = "Dashboard id"),
        ("If-Match" = Option<String>, Header, description = "Expected version; a stale one answers 412"),
    ),
    responses(
        (status = 200, description = "Edited (or unchanged); the dashboard's version", body = CommandResponse),
        (status = 403, description = "The role may not change dashboards", body = api_common::Problem),
        (status = 404, description = "No such dashboard the caller may change (or see, for `is_default` alone)", body = api_common::Problem),
        (status = 412, description = "Stale If-Match", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateDashboardRequest>,
) -> ApiResult<Response> {
    let store = state.store::<Dashboard>();
    let version = if body.edits() {
        act::run(&store, &ctx, Target::Existing(id), &if_match, |loaded| {
            authorize(&ctx, Action::Update, id, loaded.state())?;
            Ok(DashboardCommand {
                at: ctx.now,
                actor: ctx.principal.user_id,
                action: DashboardAction::Update(body.apply_to(loaded.state())),
            })
        })
        .await?
        .version
    } else {
        let loaded = store.load(&ctx.principal.tenant, id).await?;
        authorize(&ctx, Action::Read, id, loaded.state())?;
        if_match.check(loaded.version())?;
        loaded.version()
    };
    match body.is_default {
        Some(true) => {
            choose_default(&state, &ctx, Some(id), None).await?;
        }
        Some(false) => {
            choose_default(&state, &ctx, None, Some(id)).await?;
        }
        None => {}
    }
    Ok(respond(
        axum::http::StatusCode::OK,
        None,
        version,
        &CommandResponse { id, version },
    ))
}

#[utoipa::path(
    delete, path = "/v1/dashboards/{id}", tag = "dashboards",
    params(("id" = Uuid, Path, description = "Dashboard id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Deleted; it is no longer the caller's default", body = CommandResponse),
        (status = 403, description = "The role may not delete dashboards", body = api_common::Problem),
        (status = 404, description = "No such dashboard the caller may delete", body = api_common::Problem),
        (status = 412, description = "Stale If-Match", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn delete(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let committed = act::run(
        &state.store::<Dashboard>(),
        &ctx,
        Target::Existing(id),
        &if_match,
        |loaded| {
            authorize(&ctx, Action::Delete, id, loaded.state())?;
            Ok(DashboardCommand {
                at: ctx.now,
                actor: ctx.principal.user_id,
                action: DashboardAction::Delete,
            })
        },
    )
    .await?;
    choose_default(&state, &ctx, None, Some(id)).await?;
    Ok(ok(committed))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(update, delete))
}
