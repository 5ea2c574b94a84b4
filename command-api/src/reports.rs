//! Saved and scheduled reports (issue 14): save one report of the
//! catalogue with its parameters, format, schedule and recipients; edit
//! it; delete it; ask for a run (`generate`: the worker writes the file,
//! `processes::reports`). Reads (the catalogue, the list, runs, files) are
//! in `query_api::saved_reports`.
//!
//! Admins and managers keep every report; accountants save and generate
//! their own (Report CREATE); the parameters are checked per report by the
//! catalogue (`aggregates::report`), each error naming
//! `parameters.<name>`. A PDF holds at most
//! [`report_formats::PDF_MAX_ROWS`] rows: `generate` counts the rows first
//! and answers 422 beyond.

use aggregates::patch::Patch;
use aggregates::report::{Report, ReportAction, ReportCommand, ReportSettings};
use aggregates::tenant_profile::TenantProfile;
use api_common::authz::{Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use event_schemas::report::{Recipient, ReportFormat, ReportSchedule, ReportType, RunTrigger};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandState, act, ok, respond};

/// A report to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReportRequest {
    #[schema(example = "Monthly revenue")]
    pub name: String,
    pub description: Option<String>,
    /// Default: the catalogue report's type.
    pub report_type: Option<ReportType>,
    /// `report` (a key of `GET /v1/reports/catalogue`) and that report's
    /// parameters.
    #[schema(value_type = Object, example = json!({"report": "revenue", "period": "LAST_MONTH", "group_by": "month"}))]
    pub parameters: serde_json::Value,
    /// Default: PDF.
    pub format: Option<ReportFormat>,
    /// Runs by itself on this cron schedule, in the tenant's time zone.
    pub schedule: Option<ReportSchedule>,
    /// Who receives each scheduled run's file by email (at most 20).
    #[serde(default)]
    pub recipients: Vec<Recipient>,
}

/// Changes to a report: what is left out stays as it is; `schedule: null`
/// stops the schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateReportRequest {
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    pub report_type: Option<ReportType>,
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    pub format: Option<ReportFormat>,
    #[serde(default)]
    #[schema(value_type = Option<ReportSchedule>)]
    pub schedule: Patch<ReportSchedule>,
    pub recipients: Option<Vec<Recipient>>,
}

/// A run was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateResponse {
    pub id: Uuid,
    pub run_id: Uuid,
    pub version: u64,
}

fn command(ctx: &CommandContext, action: ReportAction) -> ReportCommand {
    ReportCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

fn owned(report: &Report) -> RecordOwnership {
    RecordOwnership {
        created_by: report.created_by,
        ..RecordOwnership::default()
    }
}

#[utoipa::path(
    post, path = "/v1/reports", tag = "reports",
    request_body = CreateReportRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Saved", body = crate::CommandResponse),
        (status = 403, description = "Not allowed (admins, managers and accountants)", body = api_common::Problem),
        (status = 422, description = "Invalid field (named, e.g. `parameters.from`, `schedule.cron`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateReportRequest>,
) -> ApiResult<Response> {
    api_common::authz::authorize(&ctx.principal, Resource::Report, Action::Create, None)?;
    let id = Uuid::now_v7();
    let settings = ReportSettings {
        report_type: body.report_type,
        name: body.name,
        description: body.description,
        parameters: body.parameters,
        format: body.format.unwrap_or(ReportFormat::Pdf),
        schedule: body.schedule,
        recipients: body.recipients,
    };
    let committed = act::create(
        &state.store::<Report>(),
        &ctx,
        id,
        command(
            &ctx,
            ReportAction::Create {
                tenant_id: ctx.principal.tenant.clone(),
                report_id: id,
                settings,
            },
        ),
    )
    .await?;
    tracing::info!(%id, "report saved");
    Ok(respond(
        StatusCode::CREATED,
        Some(&format!("/v1/reports/{id}")),
        committed.version,
        &crate::CommandResponse {
            id,
            version: committed.version,
        },
    ))
}

#[utoipa::path(
    patch, path = "/v1/reports/{id}", tag = "reports",
    request_body = UpdateReportRequest,
    params(("id" = Uuid, Path, description = "Report id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Changed (or nothing to change)", body = crate::CommandResponse),
        (status = 404, description = "No such report in this tenant", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateReportRequest>,
) -> ApiResult<Response> {
    let store = state.store::<Report>();
    let loaded =
        act::load_authorized(&store, &ctx, id, (Resource::Report, Action::Update), owned).await?;
    let current = loaded.state();
    if !current.exists() {
        return Err(ApiError::not_found(format!("no report {id}")));
    }
    let settings = ReportSettings {
        report_type: body.report_type.or(current.report_type),
        name: body.name.unwrap_or_else(|| current.name.clone()),
        description: body.description.apply_to(current.description.clone()),
        parameters: body
            .parameters
            .unwrap_or_else(|| current.parameters.clone()),
        format: body.format.or(current.format).unwrap_or(ReportFormat::Pdf),
        schedule: body.schedule.apply_to(current.schedule.clone()),
        recipients: body
            .recipients
            .unwrap_or_else(|| current.recipients.clone()),
    };
    let committed = act::act(
        &store,
        &ctx,
        id,
        &if_match,
        (Resource::Report, Action::Update),
        owned,
        |_| command(&ctx, ReportAction::Update(settings.clone())),
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    delete, path = "/v1/reports/{id}", tag = "reports",
    params(("id" = Uuid, Path, description = "Report id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Deleted: no more runs; its files are deleted by the worker", body = crate::CommandResponse),
        (status = 404, description = "No such report in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn delete(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let committed = act::act(
        &state.store::<Report>(),
        &ctx,
        id,
        &if_match,
        (Resource::Report, Action::Delete),
        owned,
        |_| command(&ctx, ReportAction::Delete),
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/reports/{id}/generate", tag = "reports",
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 202, description = "A run was asked for: the worker writes its file (`GET /v1/reports/{id}/runs`)", body = GenerateResponse),
        (status = 404, description = "No such report in this tenant", body = api_common::Problem),
        (status = 422, description = "A PDF would hold more than 10,000 rows (named `format`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn generate(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let store = state.store::<Report>();
    let loaded =
        act::load_authorized(&store, &ctx, id, (Resource::Report, Action::Create), owned).await?;
    let report = loaded.state();
    if !report.exists() {
        return Err(ApiError::not_found(format!("no report {id}")));
    }
    if report.format == Some(ReportFormat::Pdf)
        && let Some(params) = report.parameters()
    {
        let profile = store_profile(&state, &ctx).await?;
        let tz = profile.time_zone();
        let today = ctx.now.with_timezone(&tz).date_naive();
        let source = projections::queries::report_sources::Source::new(
            &state.pool,
            &ctx.principal.tenant,
            params,
            today,
            tz,
        )
        .await
        .map_err(ApiError::internal)?;
        let rows = source
            .count(&state.pool)
            .await
            .map_err(ApiError::internal)?;
        if rows > report_formats::PDF_MAX_ROWS {
            return Err(ApiError::invalid_field(
                "format",
                processes::reports::pdf_cap_message(rows),
            ));
        }
    }
    let run_id = Uuid::now_v7();
    let committed = act::act(
        &store,
        &ctx,
        id,
        &IfMatch(None),
        (Resource::Report, Action::Create),
        owned,
        |_| {
            command(
                &ctx,
                ReportAction::RequestRun {
                    run_id,
                    trigger: RunTrigger::Manual,
                    due_at: None,
                },
            )
        },
    )
    .await?;
    tracing::info!(%id, %run_id, "report run asked for");
    Ok(respond(
        StatusCode::ACCEPTED,
        Some(&format!("/v1/reports/{id}/runs/{run_id}")),
        committed.version,
        &GenerateResponse {
            id,
            run_id,
            version: committed.version,
        },
    ))
}

async fn store_profile(state: &CommandState, ctx: &CommandContext) -> ApiResult<TenantProfile> {
    crate::profile::current(state, &ctx.principal.tenant).await
}

pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(update, delete))
        .checked_routes(routes!(generate))
}
