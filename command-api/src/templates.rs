//! Message templates: create, edit (each edit a new version), deactivate,
//! activate, and preview. Managers and admins write them; whoever may read
//! them may preview them. Reads are in `query_api::templates`.
//!
//! A preview renders the current version in the sandboxed renderer
//! (`templating::Renderer`: worker processes with fuel, output and memory
//! limits), with the given variables, each declared variable's example for
//! the rest, and made-up records for the built-ins. Its 422 names the
//! missing or unknown variable, or the line of a syntax error; a template
//! that loops or grows without bound is stopped with a 422 too.

use aggregates::Patch;
use aggregates::template::{
    MessageTemplate, TemplateAction, TemplateCommand, TemplateInput, TemplatePatch,
};
use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use event_schemas::template::{MessagePurpose, TemplateType, TemplateVariable};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, act, ok, respond};

/// A new template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplateRequest {
    #[schema(example = "Quote follow-up")]
    pub name: String,
    #[serde(rename = "type")]
    pub template_type: TemplateType,
    /// Required for EMAIL, none for SMS. A template itself (one line).
    #[serde(default)]
    #[schema(example = "Your quote {{ quote.reference }} from {{ company.name }}")]
    pub subject: Option<String>,
    /// The body: a minijinja template. EMAIL content is HTML (values are
    /// escaped); the others are plain text.
    #[schema(
        example = "<p>Hello {{ customer.first_name }},</p><p>Your quote totals {{ quote.total | money }}.</p>"
    )]
    pub content: String,
    /// Variables beside the built-ins (customer, lead, quote, invoice,
    /// schedule, company, unsubscribe_url).
    #[serde(default)]
    pub variables: Vec<TemplateVariable>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Default TRANSACTIONAL. MARKETING messages need the recipient's consent.
    #[serde(default)]
    pub purpose: Option<MessagePurpose>,
}

/// An edit: absent fields stay, `null` clears. Makes a new version.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplateRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub subject: Patch<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub variables: Option<Vec<TemplateVariable>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub category: Patch<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub purpose: Option<MessagePurpose>,
}

/// What to preview the template with.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Values of declared or built-in variables; declared ones left out take
    /// their example, built-ins left out are made-up records.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
}

/// The length of an SMS text.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsLengthView {
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub characters: usize,
    /// Messages the text is sent as.
    pub segments: usize,
}

/// A rendered preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewResponse {
    pub template_id: Uuid,
    pub template_version: u32,
    pub subject: Option<String>,
    pub content: String,
    /// For SMS templates.
    pub sms: Option<SmsLengthView>,
    /// The variables it was rendered with.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
}

pub(crate) fn sms_view(text: &str) -> SmsLengthView {
    let length = templating::sms_length(text);
    SmsLengthView {
        encoding: match length.encoding {
            templating::SmsEncoding::Gsm7 => "GSM-7",
            templating::SmsEncoding::Ucs2 => "UCS-2",
        },
        characters: length.characters,
        segments: length.segments,
    }
}

/// A template error as the answer to the client: the template's fault is a
/// 422 naming the field (the variable, or the line); a broken renderer is a
/// 503.
pub(crate) fn render_error(e: templating::TemplateError) -> ApiError {
    use templating::TemplateError as E;
    match e {
        E::Unavailable(cause) => {
            tracing::error!(%cause, "the template renderer is unavailable");
            ApiError::unavailable("template rendering is unavailable; try again", 5)
        }
        E::Undefined { ref name, .. } if name != "?" => {
            ApiError::invalid_field(format!("variables.{name}"), e.to_string())
        }
        E::Syntax { field, .. }
        | E::TooLarge { field, .. }
        | E::OutputTooLarge { field, .. }
        | E::Render { field, .. }
        | E::Undefined { field, .. } => ApiError::invalid_field(field, e.to_string()),
        E::OutOfFuel | E::Timeout | E::MemoryLimit => ApiError::invalid_field(
            "content",
            format!("{e}: the template was stopped (simplify its loops and string building)"),
        ),
    }
}

/// The tenant's company as templates see it (`company`).
async fn company(state: &CommandState, ctx: &CommandContext) -> ApiResult<Value> {
    let profile = crate::profile::current(state, &ctx.principal.tenant).await?;
    Ok(processes::compose::company(&profile, &ctx.principal.tenant))
}

fn answer(status: StatusCode, id: Uuid, version: u64) -> Response {
    let location = format!("/v1/templates/{id}");
    respond(
        status,
        (status == StatusCode::CREATED).then_some(location.as_str()),
        version,
        &CommandResponse { id, version },
    )
}

#[utoipa::path(
    post, path = "/v1/templates", tag = "communications",
    request_body = CreateTemplateRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Created (version 1)", body = CommandResponse),
        (status = 403, description = "Not allowed (managers and admins)", body = api_common::Problem),
        (status = 422, description = "Invalid field (named): a syntax error names its line, an unknown variable its name", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateTemplateRequest>,
) -> ApiResult<Response> {
    authz::authorize(&ctx.principal, Resource::Template, Action::Create, None)?;
    let id = Uuid::now_v7();
    let command = TemplateCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action: TemplateAction::Create {
            tenant_id: ctx.principal.tenant.clone(),
            template_id: id,
            template_type: body.template_type,
            input: TemplateInput {
                name: body.name,
                subject: body.subject,
                content: body.content,
                variables: body.variables,
                description: body.description,
                category: body.category,
                tags: body.tags,
                purpose: body.purpose,
            },
        },
    };
    let committed = act::create(&state.store::<MessageTemplate>(), &ctx, id, command).await?;
    Ok(answer(StatusCode::CREATED, id, committed.version))
}

#[utoipa::path(
    patch, path = "/v1/templates/{id}", tag = "communications",
    request_body = UpdateTemplateRequest,
    params(
        ("id" = Uuid, Path, description = "Template id"),
        ("If-Match" = Option<String>, Header, description = "Expected version; a stale one answers 412"),
    ),
    responses(
        (status = 200, description = "A new version (or unchanged)", body = CommandResponse),
        (status = 404, description = "No such template in this tenant", body = api_common::Problem),
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
    ApiJson(body): ApiJson<UpdateTemplateRequest>,
) -> ApiResult<Response> {
    let patch = TemplatePatch {
        name: body.name,
        subject: body.subject,
        content: body.content,
        variables: body.variables,
        description: body.description,
        category: body.category,
        tags: body.tags,
        purpose: body.purpose,
    };
    let committed = act::act(
        &state.store::<MessageTemplate>(),
        &ctx,
        id,
        &if_match,
        (Resource::Template, Action::Update),
        act::unowned,
        |_| TemplateCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            action: TemplateAction::Revise(patch.clone()),
        },
    )
    .await?;
    Ok(answer(StatusCode::OK, id, committed.version))
}

async fn switch(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    action: TemplateAction,
) -> ApiResult<Response> {
    let committed = act::act(
        &state.store::<MessageTemplate>(),
        ctx,
        id,
        if_match,
        (Resource::Template, Action::Update),
        act::unowned,
        |_| TemplateCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            action: action.clone(),
        },
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/templates/{id}/deactivate", tag = "communications",
    params(("id" = Uuid, Path, description = "Template id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Deactivated (or already): no new message can use it", body = CommandResponse),
        (status = 404, description = "No such template in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn deactivate(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    switch(&state, &ctx, id, &if_match, TemplateAction::Deactivate).await
}

#[utoipa::path(
    post, path = "/v1/templates/{id}/activate", tag = "communications",
    params(("id" = Uuid, Path, description = "Template id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Active again (or already)", body = CommandResponse),
        (status = 404, description = "No such template in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn activate(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    switch(&state, &ctx, id, &if_match, TemplateAction::Activate).await
}

#[utoipa::path(
    post, path = "/v1/templates/{id}/preview", tag = "communications",
    request_body = PreviewRequest,
    params(("id" = Uuid, Path, description = "Template id")),
    responses(
        (status = 200, description = "The current version rendered", body = PreviewResponse),
        (status = 404, description = "No such template in this tenant", body = api_common::Problem),
        (status = 422, description = "A missing or unknown variable (named), a syntax error (its line), or a template stopped for its cost", body = api_common::Problem),
        (status = 503, description = "The renderer is unavailable", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn preview(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    crate::JsonOrEmpty(body): crate::JsonOrEmpty<PreviewRequest>,
) -> ApiResult<Response> {
    let loaded = act::load_authorized(
        &state.store::<MessageTemplate>(),
        &ctx,
        id,
        (Resource::Template, Action::Read),
        act::unowned,
    )
    .await?;
    let template = loaded.state();
    let (Some(content), Some(template_type)) = (&template.content, template.template_type) else {
        return Err(ApiError::not_found("template"));
    };
    let built_ins = aggregates::template::sample_built_ins(company(&state, &ctx).await?);
    let variables =
        aggregates::template::message_variables(content, body.variables, built_ins, true).map_err(
            |errors| ApiError::from_domain(&aggregates::template::TemplateError::Invalid(errors)),
        )?;
    let source = templating::Source {
        subject: content.subject.clone(),
        content: content.content.clone(),
        escape: aggregates::template::escape_of(template_type),
    };
    let rendered = state
        .renderer
        .render(&source, &variables)
        .await
        .map_err(render_error)?;
    let sms = (template_type == TemplateType::Sms).then(|| sms_view(&rendered.content));
    Ok(Json(PreviewResponse {
        template_id: id,
        template_version: template.version,
        subject: rendered.subject,
        content: rendered.content,
        sms,
        variables,
    })
    .into_response())
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    // One `routes!` per path: a method router serves one path.
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(update))
        .checked_routes(routes!(deactivate))
        .checked_routes(routes!(activate))
        .checked_routes(routes!(preview))
}
