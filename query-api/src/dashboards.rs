//! `GET /v1/dashboards[/{id}]`, `GET /v1/dashboards/{id}/data` and
//! `GET /v1/dashboards/{id}/stream`: dashboards, their widgets' figures,
//! and the same figures pushed as the read models change.
//!
//! **Who sees a dashboard**: its owner, everyone of the tenant when it is
//! public, and the tenant-wide scopes (admins, managers, auditors); to
//! anyone else it does not exist (404). **Whose figures**: the caller's,
//! not the owner's: the widgets are computed with the caller's Report/Read
//! scope (tenant-wide, or a sales rep's own; none is 403), so a public
//! dashboard shows each viewer what they may see.
//!
//! **The stream** (Server-Sent Events): `event: snapshot` with the `/data`
//! answer, then `event: widget` with one widget whenever its figures
//! differ from what the stream last sent, and a `: keep-alive` comment
//! every 15 s. It follows the projectors' `NOTIFY crm_read_models`
//! (through [`crate::wait::ReadModelWatch`], one listener per process): it
//! watches the projections its widgets read, and after a notification
//! recomputes the widgets that read a projection that moved, at most once
//! per [`COALESCE`] (a burst of batches is one recomputation). Every
//! minute it recomputes everything (today moves, invoices fall overdue).
//! An edit of the dashboard is followed (new widgets are sent); its
//! deletion ends the stream. The streams of a process are bounded
//! (`CRM_MAX_SSE_STREAMS`, then 503) and end on shutdown.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use aggregates::dashboard::{DEFAULT_DAYS, DEFAULT_LIMIT};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use event_schemas::dashboard::{DashboardTheme, LayoutItem, Widget, WidgetKind};
use projections::queries;
use projections::queries::analytics::{self, BarMetric, Kpi, SeriesMetric, TableMetric};
use projections::queries::dashboards::{self as query, DashboardRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;
use crate::kpis::{figure, figures_scope, last_days, time_zone};

/// A stream recomputes at most this often.
pub const COALESCE: Duration = Duration::from_millis(250);
/// A stream recomputes everything this often, notified or not.
pub const REFRESH: Duration = Duration::from_secs(60);
/// The keep-alive comment's interval.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub owner_id: Uuid,
    /// Whether it is the caller's default dashboard.
    pub is_default: bool,
    /// Visible to the whole tenant.
    pub is_public: bool,
    pub refresh_interval_seconds: Option<i32>,
    #[schema(value_type = DashboardTheme)]
    pub theme: String,
    #[schema(value_type = Vec<LayoutItem>)]
    pub layout: Value,
    #[schema(value_type = Vec<Widget>)]
    pub widgets: Value,
    /// The dashboard's version (events applied; its ETag); see `min_version`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DashboardRow> for DashboardView {
    fn from(row: DashboardRow) -> Self {
        let DashboardRow {
            id,
            owner_id,
            name,
            description,
            widgets,
            layout,
            is_public,
            refresh_interval_seconds,
            theme,
            deleted_at: _,
            created_at,
            updated_at,
            version,
            is_default,
        } = row;
        Self {
            id,
            name,
            description,
            owner_id,
            is_default,
            is_public,
            refresh_interval_seconds,
            theme,
            layout,
            widgets,
            version,
            created_at,
            updated_at,
        }
    }
}

/// One widget's figures.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WidgetDataView {
    pub id: String,
    pub kind: WidgetKind,
    pub metric: String,
    /// The widget's title, else the metric's label.
    pub label: String,
    /// kpi: `{unit, currency, value, previous}`; timeseries: `{unit,
    /// currency, points: [{date, value}]}`; bar: `{unit, currency, bars:
    /// [{label, value}]}`; table: `{columns: [{key, label}], rows: [{<key>:
    /// text or null}]}`. Numbers are decimal strings.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A dashboard's figures, computed for the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardDataView {
    pub dashboard_id: Uuid,
    pub generated_at: DateTime<Utc>,
    pub widgets: Vec<WidgetDataView>,
}

/// What OWN scopes look at: the owner.
fn ownership(row: &DashboardRow) -> RecordOwnership {
    RecordOwnership {
        assigned_to: Some(row.owner_id),
        created_by: Some(row.owner_id),
        location_id: None,
    }
}

/// `row` if the caller sees it (403 for a role that reads no dashboards):
/// their own, a public one, or any with a tenant-wide scope; not deleted.
fn visible(principal: &Principal, row: Option<DashboardRow>) -> ApiResult<Option<DashboardRow>> {
    authz::authorize(principal, Resource::Dashboard, Action::Read, None)?;
    Ok(row.filter(|row| {
        row.deleted_at.is_none()
            && (row.is_public
                || authz::authorize(
                    principal,
                    Resource::Dashboard,
                    Action::Read,
                    Some(ownership(row)),
                )
                .is_ok())
    }))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no dashboard {id}"))
}

/// The dashboard `id` as the caller sees it now (no waiting).
async fn current(state: &QueryState, principal: &Principal, id: Uuid) -> ApiResult<DashboardRow> {
    let row = query::get(&state.pool, &principal.tenant, principal.user_id, id).await?;
    visible(principal, row)?.ok_or_else(|| not_found(id))
}

fn widgets_of(row: &DashboardRow) -> ApiResult<Vec<Widget>> {
    serde_json::from_value(row.widgets.clone())
        .map_err(|e| ApiError::internal(format!("a stored dashboard's widgets do not read: {e}")))
}

#[utoipa::path(
    get, path = "/v1/dashboards/{id}", tag = "dashboards",
    params(("id" = Uuid, Path, description = "Dashboard id"), crate::quotes::GetParams),
    responses(
        (status = 200, description = "The dashboard (`is_default`: the caller's default)", body = DashboardView),
        (status = 404, description = "No such dashboard the caller may see", body = api_common::Problem),
        (status = 422, description = "min_version beyond the dashboard's version (`current_version` given)", body = api_common::Problem),
        (status = 503, description = "min_version not reached within 5 s", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get_dashboard(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::quotes::GetParams>,
) -> ApiResult<WithETag<DashboardView>> {
    authz::authorize(&principal, Resource::Dashboard, Action::Read, None)?;
    let row = crate::wait::fetch_versioned(
        &state,
        &principal,
        (event_schemas::dashboard::AGGREGATE_TYPE, id),
        crate::wait::owners::DASHBOARDS,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, principal.user_id, id),
        |d: &DashboardRow| d.version,
    )
    .await?;
    let view: DashboardView = visible(&principal, row)?
        .ok_or_else(|| not_found(id))?
        .into();
    Ok(WithETag::new(view.version, view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/dashboards", tag = "dashboards",
    params(ListParams),
    responses(
        (status = 200, description = "The caller's dashboards and the public ones (tenant-wide scopes: all), newest first", body = ListResponse<DashboardView>),
        (status = 403, description = "The role reads no dashboards", body = api_common::Problem),
        (status = 422, description = "A parameter is invalid (named in `errors`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list_dashboards(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<DashboardView>>> {
    let scope = authz::list_scope(&principal, Resource::Dashboard)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::list(
        &state.pool,
        &principal.tenant,
        principal.user_id,
        &crate::scope(&scope),
        page,
    )
    .await?;
    Ok(Json(pagination::page(
        rows.into_iter().map(DashboardView::from).collect(),
        page.limit,
        |d| (d.created_at, d.id),
    )))
}

/// The projections a widget's figures are read from (a change of any of
/// them may change the widget).
fn sources(widget: &Widget) -> &'static [&'static str] {
    use queries::{assignments, equipment, inventory, invoices, leads, quotes};
    // Money figures are in the reporting currency, read from quotes and
    // invoices.
    const LEADS: &[&str] = &[leads::PROJECTION];
    const QUOTES: &[&str] = &[quotes::PROJECTION, invoices::PROJECTION];
    const INVOICES: &[&str] = &[invoices::PROJECTION, quotes::PROJECTION];
    // The overdue invoices' table names their customers.
    const OVERDUE: &[&str] = &[
        invoices::PROJECTION,
        quotes::PROJECTION,
        queries::customers::PROJECTION,
    ];
    const TRUCKS: &[&str] = &[equipment::PROJECTION, assignments::PROJECTION];
    const STOCK: &[&str] = &[inventory::PROJECTION];
    const NONE: &[&str] = &[];
    let metric = widget.metric.as_str();
    match widget.kind {
        WidgetKind::Kpi => match Kpi::parse(metric) {
            Some(Kpi::NewLeads | Kpi::SpeedToLead | Kpi::LeadConversionRate) => LEADS,
            Some(
                Kpi::QuotesSent
                | Kpi::QuoteAcceptanceRate
                | Kpi::BookedMoves
                | Kpi::AverageMoveValue,
            ) => QUOTES,
            Some(
                Kpi::Revenue
                | Kpi::ArOutstanding
                | Kpi::DaysSalesOutstanding
                | Kpi::OverdueInvoices,
            ) => INVOICES,
            Some(Kpi::TruckUtilization) => TRUCKS,
            Some(Kpi::LowStockItems) => STOCK,
            None => NONE,
        },
        WidgetKind::Timeseries => match SeriesMetric::parse(metric) {
            Some(SeriesMetric::NewLeads) => LEADS,
            Some(SeriesMetric::QuotesSent | SeriesMetric::BookedMoves) => QUOTES,
            Some(SeriesMetric::Revenue) => INVOICES,
            None => NONE,
        },
        WidgetKind::Bar => match BarMetric::parse(metric) {
            Some(BarMetric::LeadsByStatus | BarMetric::LeadsBySource) => LEADS,
            Some(BarMetric::RevenueByMonth) => INVOICES,
            None => NONE,
        },
        WidgetKind::Table => match TableMetric::parse(metric) {
            Some(TableMetric::RecentLeads) => LEADS,
            Some(TableMetric::OverdueInvoices) => OVERDUE,
            Some(TableMetric::LowStockItems) => STOCK,
            None => NONE,
        },
    }
}

fn unknown_metric(widget: &Widget) -> ApiError {
    ApiError::internal(format!(
        "widget `{}` shows `{}`, which no {} widget computes",
        widget.id, widget.metric, widget.kind
    ))
}

/// One widget's figures for `scope` (the widget's `location_id` narrows it).
async fn widget_data(
    state: &QueryState,
    scope: &analytics::Scope,
    tz: chrono_tz::Tz,
    widget: &Widget,
) -> ApiResult<WidgetDataView> {
    let scope = analytics::Scope {
        location_id: widget
            .params
            .location_id
            .clone()
            .or_else(|| scope.location_id.clone()),
        ..scope.clone()
    };
    let period = last_days(tz, widget.params.days.unwrap_or(DEFAULT_DAYS));
    let limit = i64::from(widget.params.limit.unwrap_or(DEFAULT_LIMIT));
    let pool = &state.pool;
    let (label, data) = match widget.kind {
        WidgetKind::Kpi => {
            let kpi = Kpi::parse(&widget.metric).ok_or_else(|| unknown_metric(widget))?;
            let view = crate::kpis::compute(state, &scope, &period, &[kpi])
                .await?
                .pop()
                .ok_or_else(|| unknown_metric(widget))?;
            (
                kpi.label(),
                json!({"unit": view.unit, "currency": view.currency, "value": view.value, "previous": view.previous}),
            )
        }
        WidgetKind::Timeseries => {
            let metric =
                SeriesMetric::parse(&widget.metric).ok_or_else(|| unknown_metric(widget))?;
            let s = analytics::series(pool, &scope, &period, metric).await?;
            let points: Vec<Value> = s
                .points
                .into_iter()
                .map(|(date, v)| json!({"date": date, "value": figure(s.unit, v)}))
                .collect();
            (
                metric.label(),
                json!({"unit": s.unit.key(), "currency": s.currency, "points": points}),
            )
        }
        WidgetKind::Bar => {
            let metric = BarMetric::parse(&widget.metric).ok_or_else(|| unknown_metric(widget))?;
            let b = analytics::bars(pool, &scope, &period, metric, limit).await?;
            let bars: Vec<Value> = b
                .bars
                .into_iter()
                .map(|(label, v)| json!({"label": label, "value": figure(b.unit, v)}))
                .collect();
            (
                metric.label(),
                json!({"unit": b.unit.key(), "currency": b.currency, "bars": bars}),
            )
        }
        WidgetKind::Table => {
            let metric =
                TableMetric::parse(&widget.metric).ok_or_else(|| unknown_metric(widget))?;
            let t = analytics::table(pool, &scope, &period, metric, limit).await?;
            let columns: Vec<Value> = t
                .columns
                .iter()
                .map(|(key, label)| json!({"key": key, "label": label}))
                .collect();
            let rows: Vec<BTreeMap<&str, Option<String>>> = t
                .rows
                .into_iter()
                .map(|row| t.columns.iter().map(|(key, _)| *key).zip(row).collect())
                .collect();
            (metric.label(), json!({"columns": columns, "rows": rows}))
        }
    };
    Ok(WidgetDataView {
        id: widget.id.clone(),
        kind: widget.kind,
        metric: widget.metric.clone(),
        label: widget.title.clone().unwrap_or_else(|| label.to_owned()),
        data,
    })
}

/// Every widget's figures, in the dashboard's order.
async fn data_of(
    state: &QueryState,
    scope: &analytics::Scope,
    tz: chrono_tz::Tz,
    id: Uuid,
    widgets: &[Widget],
) -> ApiResult<DashboardDataView> {
    let mut out = Vec::with_capacity(widgets.len());
    for widget in widgets {
        out.push(widget_data(state, scope, tz, widget).await?);
    }
    Ok(DashboardDataView {
        dashboard_id: id,
        generated_at: Utc::now(),
        widgets: out,
    })
}

#[utoipa::path(
    get, path = "/v1/dashboards/{id}/data", tag = "dashboards",
    params(("id" = Uuid, Path, description = "Dashboard id")),
    responses(
        (status = 200, description = "Each widget's figures, computed with the caller's report scope", body = DashboardDataView),
        (status = 403, description = "The role may not read reports (the figures)", body = api_common::Problem),
        (status = 404, description = "No such dashboard the caller may see", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn dashboard_data(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
) -> ApiResult<Json<DashboardDataView>> {
    let row = current(&state, &principal, id).await?;
    let scope = figures_scope(&principal, None)?;
    let tz = time_zone(&state, &principal).await?;
    let widgets = widgets_of(&row)?;
    Ok(Json(data_of(&state, &scope, tz, id, &widgets).await?))
}

/// The watches of the projections a stream follows.
type Watches = Vec<(&'static str, watch::Receiver<u64>)>;

/// Waits until one of `watches` moves; the names of those that moved (each
/// marked seen).
async fn moved(watches: &mut Watches) -> HashSet<&'static str> {
    if watches.is_empty() {
        return std::future::pending().await;
    }
    // `changed` marks the value it waited for as seen: the one that woke
    // is named here, the others by `seen`.
    let woke = {
        let changes = watches.iter_mut().map(|(_, rx)| Box::pin(rx.changed()));
        futures::future::select_all(changes).await.1
    };
    let mut names = seen(watches);
    names.insert(watches[woke].0);
    names
}

/// The names of `watches` that moved since last seen (now marked seen).
fn seen(watches: &mut Watches) -> HashSet<&'static str> {
    watches
        .iter_mut()
        .filter_map(|(name, rx)| {
            rx.has_changed().unwrap_or(false).then(|| {
                rx.borrow_and_update();
                *name
            })
        })
        .collect()
}

/// A stream's state: what it follows and what it last sent.
struct Follower {
    state: QueryState,
    principal: Principal,
    scope: analytics::Scope,
    tz: chrono_tz::Tz,
    id: Uuid,
    widgets: Vec<Widget>,
    /// Each widget's last sent figures, by widget id.
    sent: HashMap<String, WidgetDataView>,
    tx: mpsc::Sender<Event>,
}

fn widget_event(view: &WidgetDataView) -> Option<Event> {
    Event::default().event("widget").json_data(view).ok()
}

impl Follower {
    /// The projections the widgets read, and the dashboards'.
    fn watches(&self) -> Watches {
        let mut names: Vec<&'static str> = vec![crate::wait::owners::DASHBOARDS];
        for widget in &self.widgets {
            for name in sources(widget) {
                if !names.contains(name) {
                    names.push(name);
                }
            }
        }
        names
            .into_iter()
            .map(|name| (name, self.state.watch.changes(name)))
            .collect()
    }

    /// Follows until the client leaves, the dashboard goes, or shutdown.
    async fn run(mut self, mut watches: Watches) {
        let shutdown = self.state.watch.shutdown().clone();
        let mut last = Instant::now();
        let mut refresh = tokio::time::interval_at(last + REFRESH, REFRESH);
        loop {
            let mut names = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.tx.closed() => return,
                names = moved(&mut watches) => names,
                _ = refresh.tick() => watches.iter().map(|(n, _)| *n).collect(),
            };
            // Coalesce: whatever else moves before the next slot is one
            // recomputation.
            let slot = last + COALESCE;
            if Instant::now() < slot {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.tx.closed() => return,
                    _ = tokio::time::sleep_until(slot) => {}
                }
            }
            names.extend(seen(&mut watches));
            last = Instant::now();
            let mut all = false;
            if names.contains(crate::wait::owners::DASHBOARDS) {
                match self.reload().await {
                    Ok(true) => {
                        all = true;
                        watches = self.watches();
                        for (_, rx) in &mut watches {
                            rx.borrow_and_update();
                        }
                    }
                    Ok(false) => {}
                    // Deleted, or no longer visible: the stream ends.
                    Err(_) => return,
                }
            }
            if !self.push(&names, all).await {
                return;
            }
        }
    }

    /// Reads the dashboard again; `Ok(true)` when its widgets changed.
    async fn reload(&mut self) -> ApiResult<bool> {
        let row = current(&self.state, &self.principal, self.id).await?;
        let widgets = widgets_of(&row)?;
        if widgets == self.widgets {
            return Ok(false);
        }
        self.sent
            .retain(|id, _| widgets.iter().any(|w| &w.id == id));
        self.widgets = widgets;
        Ok(true)
    }

    /// Recomputes the widgets reading a projection in `names` (all with
    /// `all`) and sends those that changed; `false` once the client left.
    async fn push(&mut self, names: &HashSet<&'static str>, all: bool) -> bool {
        for widget in &self.widgets {
            if !all && !sources(widget).iter().any(|s| names.contains(s)) {
                continue;
            }
            let view = match widget_data(&self.state, &self.scope, self.tz, widget).await {
                Ok(view) => view,
                Err(e) => {
                    tracing::warn!(dashboard = %self.id, widget = %widget.id, error = ?e, "a dashboard widget was not recomputed");
                    continue;
                }
            };
            if self.sent.get(&widget.id) == Some(&view) {
                continue;
            }
            let Some(event) = widget_event(&view) else {
                continue;
            };
            if self.tx.send(event).await.is_err() {
                return false;
            }
            self.sent.insert(widget.id.clone(), view);
        }
        true
    }
}

#[utoipa::path(
    get, path = "/v1/dashboards/{id}/stream", tag = "dashboards",
    params(("id" = Uuid, Path, description = "Dashboard id")),
    responses(
        (status = 200, description = "Server-Sent Events: `snapshot` (the `/data` answer), then `widget` (one widget's figures, `{id, kind, metric, label, data}`) whenever they change; `: keep-alive` every 15 s",
         content_type = "text/event-stream", body = String),
        (status = 403, description = "The role may not read reports (the figures)", body = api_common::Problem),
        (status = 404, description = "No such dashboard the caller may see", body = api_common::Problem),
        (status = 503, description = "Too many streams open in this process; retry later", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn stream_dashboard(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let row = current(&state, &principal, id).await?;
    let scope = figures_scope(&principal, None)?;
    let permit = state.watch.stream_permit().ok_or_else(|| {
        ApiError::unavailable("too many dashboard streams are open here; retry shortly", 5)
    })?;
    let tz = time_zone(&state, &principal).await?;
    let widgets = widgets_of(&row)?;
    let (tx, rx) = mpsc::channel::<Event>(32);
    let mut follower = Follower {
        state: state.clone(),
        principal,
        scope,
        tz,
        id,
        widgets,
        sent: HashMap::new(),
        tx,
    };
    // Watch before computing: a change projected meanwhile is recomputed.
    let mut watches = follower.watches();
    for (_, rx) in &mut watches {
        rx.borrow_and_update();
    }
    let snapshot = data_of(&state, &follower.scope, tz, id, &follower.widgets).await?;
    let first = Event::default()
        .event("snapshot")
        .json_data(&snapshot)
        .map_err(|e| ApiError::internal(format!("a snapshot does not serialize: {e}")))?;
    follower.sent = snapshot
        .widgets
        .into_iter()
        .map(|w| (w.id.clone(), w))
        .collect();
    // The channel has room: the first event never waits.
    let _ = follower.tx.try_send(first);
    tokio::spawn(async move {
        let _permit = permit;
        follower.run(watches).await;
    });
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

/// This module's routes, and the KPIs' (each handler is private: one left
/// out of here is dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(list_dashboards))
        .checked_routes(routes!(get_dashboard))
        .checked_routes(routes!(dashboard_data))
        .checked_routes(routes!(stream_dashboard))
        .checked_merge(crate::kpis::router())
}
