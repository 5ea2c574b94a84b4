//! Saved reports (issue 14): `GET /v1/reports/catalogue` (every report
//! with its parameters as JSON Schema), `GET /v1/reports[/{id}]`,
//! `GET /v1/reports/{id}/runs` (every run, kept with its file until the
//! tenant's retention), and the files: `GET /v1/reports/{id}/file` (the
//! latest completed run's) and `GET /v1/reports/{id}/runs/{run_id}/file`,
//! streamed from PostgreSQL a chunk at a time. Writes are in
//! `command_api::reports`; the worker (`processes::reports`) generates.

use aggregates::report::Catalogue;
use api_common::authz::{self, Action, Resource};
use api_common::http::WithETag;
use api_common::openapi::CheckedRoutes;
use api_common::pagination::{self, ListResponse};
use api_common::{ApiError, ApiQuery, ApiResult, PathId, Principal};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use event_schemas::report::{
    Recipient, ReportFile, ReportFormat, ReportSchedule, ReportStatus, ReportType, RunTrigger,
};
use projections::queries::saved_reports::{self as query, ReportRow, RunRow};
use projections::report_files;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::QueryState;

/// One report of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogueEntry {
    /// What `parameters.report` names.
    #[schema(example = "revenue")]
    pub key: String,
    pub report_type: ReportType,
    pub title: String,
    pub description: String,
    /// The JSON Schema of `parameters`.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    pub formats: Vec<ReportFormat>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogueResponse {
    pub items: Vec<CatalogueEntry>,
    /// The most rows a PDF holds; spreadsheets, CSV and JSON hold 1,000,000.
    pub pdf_max_rows: u64,
    /// The periods `parameters.period` takes, relative to the day a run
    /// starts (tenant time zone).
    pub relative_periods: Vec<&'static str>,
}

/// A file to download.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    /// Where to download it.
    pub url: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub rows: u64,
}

impl FileView {
    fn of(report: Uuid, run: Option<Uuid>, file: ReportFile) -> Self {
        Self {
            url: match run {
                Some(run) => format!("/v1/reports/{report}/runs/{run}/file"),
                None => format!("/v1/reports/{report}/file"),
            },
            file_name: file.file_name,
            content_type: file.content_type,
            size: file.size,
            sha256: file.sha256,
            rows: file.rows,
        }
    }
}

/// A saved report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    pub id: Uuid,
    pub report_type: String,
    pub name: String,
    pub description: Option<String>,
    /// `report` and its parameters.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    pub format: String,
    /// The latest run's status (PENDING before the first run).
    pub status: String,
    pub schedule: Option<ReportSchedule>,
    /// The next due instant of the schedule (tenant time zone applied).
    pub scheduled_at: Option<DateTime<Utc>>,
    pub recipients: Vec<Recipient>,
    pub latest_run_id: Option<Uuid>,
    /// Why the latest run failed.
    pub error: Option<String>,
    pub last_generated_at: Option<DateTime<Utc>>,
    /// The latest completed run's file, until it expires.
    pub file: Option<FileView>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl ReportView {
    fn new(row: ReportRow, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Self {
        let file = row
            .last_file
            .and_then(|f| serde_json::from_value::<ReportFile>(f).ok())
            .map(|f| FileView::of(row.id, None, f));
        let scheduled_at = row.schedule_cron.as_deref().and_then(|cron| {
            let cron = aggregates::report::CronSchedule::parse(cron).ok()?;
            cron.next_after(row.last_due_at.unwrap_or(now).max(now), tz)
        });
        Self {
            id: row.id,
            report_type: row.report_type,
            name: row.name,
            description: row.description,
            parameters: row.parameters,
            format: row.format,
            status: row.status,
            schedule: row.schedule_cron.map(|cron| ReportSchedule { cron }),
            scheduled_at,
            recipients: serde_json::from_value(row.recipients).unwrap_or_default(),
            latest_run_id: row.latest_run_id,
            error: row.last_error,
            last_generated_at: row.last_generated_at,
            file,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// One run of a report.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub run_id: Uuid,
    pub report_id: Uuid,
    pub trigger: RunTrigger,
    /// A scheduled run's due instant.
    pub due_at: Option<DateTime<Utc>>,
    pub status: ReportStatus,
    /// Times the worker started it (more than one: a worker stopped).
    pub attempts: i32,
    /// The period the file covers, as its heading says.
    pub period: Option<String>,
    pub file: Option<FileView>,
    pub error: Option<String>,
    /// The messages that emailed the file.
    pub communication_ids: Vec<Uuid>,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When the file was deleted under the tenant's retention.
    pub expired_at: Option<DateTime<Utc>>,
}

impl From<RunRow> for RunView {
    fn from(r: RunRow) -> Self {
        let file = if r.expired_at.is_none() {
            r.file
                .and_then(|f| serde_json::from_value::<ReportFile>(f).ok())
                .map(|f| FileView::of(r.report_id, Some(r.run_id), f))
        } else {
            None
        };
        Self {
            run_id: r.run_id,
            report_id: r.report_id,
            trigger: serde_json::from_value(serde_json::Value::String(r.trigger))
                .unwrap_or(RunTrigger::Manual),
            due_at: r.due_at,
            status: serde_json::from_value(serde_json::Value::String(r.status))
                .unwrap_or(ReportStatus::Pending),
            attempts: r.attempts,
            period: r.period,
            file,
            error: r.error,
            communication_ids: r
                .communication_ids
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            sent_at: r.sent_at,
            expired_at: r.expired_at,
        }
    }
}

#[utoipa::path(
    get, path = "/v1/reports/catalogue", tag = "reports",
    responses(
        (status = 200, description = "Every report that can be saved, with its parameters as JSON Schema", body = CatalogueResponse),
    ),
    security(("bearer" = []))
)]
async fn catalogue(principal: Principal) -> ApiResult<Json<CatalogueResponse>> {
    authz::authorize(&principal, Resource::Report, Action::Read, None)?;
    let items = Catalogue::ALL
        .iter()
        .map(|r| CatalogueEntry {
            key: r.key().to_owned(),
            report_type: r.report_type(),
            title: r.title().to_owned(),
            description: r.description().to_owned(),
            parameters: r.parameters_schema(),
            formats: ReportFormat::ALL.to_vec(),
        })
        .collect();
    Ok(Json(CatalogueResponse {
        items,
        pdf_max_rows: report_formats::PDF_MAX_ROWS,
        relative_periods: aggregates::report::RELATIVE_PERIODS.to_vec(),
    }))
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
    get, path = "/v1/reports", tag = "reports",
    params(ListParams),
    responses(
        (status = 200, description = "The tenant's saved reports, newest first", body = ListResponse<ReportView>),
        (status = 403, description = "Not allowed", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<QueryState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<ReportView>>> {
    let scope = authz::list_scope(&principal, Resource::Report)?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::list(&state.pool, &principal.tenant, &crate::scope(&scope), page).await?;
    let tz = crate::calendar::time_zone(&state, &principal.tenant).await?;
    let now = Utc::now();
    let views: Vec<ReportView> = rows
        .into_iter()
        .map(|r| ReportView::new(r, tz, now))
        .collect();
    Ok(Json(pagination::page(views, page.limit, |r| {
        (r.created_at, r.id)
    })))
}

/// The report, if the caller may read it (another tenant's, or one a
/// limited scope does not cover: 404).
async fn readable(state: &QueryState, principal: &Principal, id: Uuid) -> ApiResult<ReportRow> {
    let row = query::get(&state.pool, &principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no report {id}")))?;
    authorize_row(principal, &row)?;
    Ok(row)
}

fn authorize_row(principal: &Principal, row: &ReportRow) -> ApiResult<()> {
    authz::authorize(
        principal,
        Resource::Report,
        Action::Read,
        Some(authz::RecordOwnership {
            created_by: Some(row.created_by),
            ..Default::default()
        }),
    )
    .map_err(|e| match e.status() {
        StatusCode::FORBIDDEN => ApiError::not_found(format!("no report {}", row.id)),
        _ => e,
    })
}

#[utoipa::path(
    get, path = "/v1/reports/{id}", tag = "reports",
    params(("id" = Uuid, Path, description = "Report id"), crate::wait::GetParams),
    responses(
        (status = 200, description = "The report: settings, the latest run's status and file, the next scheduled run", body = ReportView),
        (status = 404, description = "No such report in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn get(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<crate::wait::GetParams>,
) -> ApiResult<WithETag<ReportView>> {
    authz::authorize(&principal, Resource::Report, Action::Read, None)?;
    let row = crate::wait::fetch_versioned(
        &state,
        &principal,
        (event_schemas::report::AGGREGATE_TYPE, id),
        crate::wait::owners::REPORTS,
        params.min_version()?,
        || query::get(&state.pool, &principal.tenant, id),
        |r: &ReportRow| r.version,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no report {id}")))?;
    authorize_row(&principal, &row)?;
    let tz = crate::calendar::time_zone(&state, &principal.tenant).await?;
    let view = ReportView::new(row, tz, Utc::now());
    Ok(WithETag::new(view.version, view))
}

#[utoipa::path(
    get, path = "/v1/reports/{id}/runs", tag = "reports",
    params(("id" = Uuid, Path, description = "Report id"), ListParams),
    responses(
        (status = 200, description = "The report's runs, newest first", body = ListResponse<RunView>),
        (status = 404, description = "No such report in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn runs(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<RunView>>> {
    readable(&state, &principal, id).await?;
    let page = crate::page(params.limit, params.cursor.as_deref())?;
    let rows = query::runs(&state.pool, &principal.tenant, id, page).await?;
    let views: Vec<RunView> = rows.into_iter().map(RunView::from).collect();
    Ok(Json(pagination::page(views, page.limit, |r| {
        (r.requested_at, r.run_id)
    })))
}

#[utoipa::path(
    get, path = "/v1/reports/{id}/file", tag = "reports",
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 200, description = "The latest completed run's file (`Content-Disposition: attachment`)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such report in this tenant, or no file yet (or it expired)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn latest_file(
    State(state): State<QueryState>,
    principal: Principal,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let row = readable(&state, &principal, id).await?;
    let run = row
        .last_file
        .as_ref()
        .and_then(|f| f.get("run_id"))
        .and_then(|r| r.as_str())
        .and_then(|r| r.parse::<Uuid>().ok())
        .ok_or_else(|| ApiError::not_found(format!("report {id} has no file yet")))?;
    serve(&state, &principal, id, run).await
}

#[utoipa::path(
    get, path = "/v1/reports/{id}/runs/{run_id}/file", tag = "reports",
    params(("id" = Uuid, Path, description = "Report id"), ("run_id" = Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run's file (`Content-Disposition: attachment`)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such run of this report in this tenant, or no file", body = api_common::Problem),
        (status = 410, description = "The file was deleted under the tenant's retention", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn run_file(
    State(state): State<QueryState>,
    principal: Principal,
    Path((id, run_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found(format!("no run `{run_id}` of report `{id}`"));
    let (Ok(id), Ok(run_id)) = (id.parse::<Uuid>(), run_id.parse::<Uuid>()) else {
        return Err(not_found());
    };
    readable(&state, &principal, id).await?;
    let run = query::run(&state.pool, &principal.tenant, id, run_id)
        .await?
        .ok_or_else(not_found)?;
    if run.expired_at.is_some() {
        return Err(ApiError::gone(
            "the file was deleted under the tenant's report retention",
        ));
    }
    serve(&state, &principal, id, run_id).await
}

async fn serve(
    state: &QueryState,
    principal: &Principal,
    report: Uuid,
    run: Uuid,
) -> ApiResult<Response> {
    let info = report_files::of_run(&state.pool, principal.tenant.as_str(), run)
        .await?
        .filter(|f| f.report_id == report)
        .ok_or_else(|| ApiError::not_found(format!("run {run} has no file")))?;
    let body = Body::from_stream(report_files::chunks(
        state.pool.clone(),
        principal.tenant.as_str().to_owned(),
        info.file_id,
    ));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&info.content_type) {
        headers.insert(CONTENT_TYPE, v);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(info.size.max(0) as u64));
    let safe: String = info
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", info.sha256)) {
        headers.insert(axum::http::header::ETAG, v);
    }
    Ok(response)
}

pub(crate) fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .checked_routes(routes!(catalogue))
        .checked_routes(routes!(list))
        .checked_routes(routes!(get))
        .checked_routes(routes!(runs))
        .checked_routes(routes!(latest_file))
        .checked_routes(routes!(run_file))
}
