//! Quote commands: draft (or copy a template), edit the draft, approve, send,
//! record the customer's view, acceptance or rejection, revise, convert to a
//! job, take deposits.

use aggregates::Patch;
use aggregates::customer::Customer;
use aggregates::lead::Lead;
use aggregates::quote::{
    AcceptQuote, DraftQuote, HourlyInput, Quote, QuoteAction, QuoteCommand, QuoteInput,
    QuoteParties, UpdateQuote,
};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::State;
use axum::response::Response;
use chrono::NaiveDate;
use event_schemas::money::{PricingType, Province};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::money::{self, ItemRequest, PaymentRequest, ReasonRequest};
use crate::{CommandResponse, CommandState, JsonOrEmpty, created, ok, respond};
use event_store::{Committed, Loaded};

/// Hourly pricing: `rate × max(estimated_hours, minimum_hours)`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HourlyRequest {
    #[schema(value_type = String, example = "165.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub rate: Decimal,
    #[schema(value_type = String, example = "5.5", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub estimated_hours: Decimal,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "3", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub minimum_hours: Option<Decimal>,
}

impl From<HourlyRequest> for HourlyInput {
    fn from(h: HourlyRequest) -> Self {
        Self {
            rate: h.rate,
            estimated_hours: h.estimated_hours,
            minimum_hours: h.minimum_hours.unwrap_or_default(),
        }
    }
}

/// Draft a quote for a customer (and usually one of their leads). Totals,
/// taxes and line totals are computed by the server.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuoteRequest {
    /// Required unless `lead_id` is given (then the lead's customer).
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    #[serde(default)]
    pub lead_id: Option<Uuid>,
    #[serde(default)]
    #[schema(example = "mtl-1")]
    pub location_id: Option<String>,
    /// A template is never sent; it is copied into new drafts.
    #[serde(default)]
    pub is_template: bool,
    #[serde(default)]
    pub template_name: Option<String>,
    /// ISO 4217; `CAD` by default.
    #[serde(default)]
    pub currency: Option<String>,
    #[schema(value_type = String, format = Date, example = "2026-12-31")]
    pub valid_until: NaiveDate,
    #[serde(default)]
    pub terms: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// `BINDING` by default.
    #[serde(default)]
    pub pricing_type: Option<PricingType>,
    #[serde(default)]
    pub hourly: Option<HourlyRequest>,
    /// Where the move is supplied (picks the taxes); the tenant's default
    /// province when absent.
    #[serde(default)]
    pub province: Option<Province>,
    #[serde(default)]
    pub tax_exempt: bool,
    #[serde(default)]
    pub items: Vec<ItemRequest>,
}

/// Edit a draft. Absent fields stay; `null` clears an optional one; `items`
/// replaces every item (send `item_id` to keep an item's id).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQuoteRequest {
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub terms: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub notes: Patch<String>,
    #[serde(default)]
    pub pricing_type: Option<PricingType>,
    #[serde(default)]
    #[schema(value_type = Option<HourlyRequest>)]
    pub hourly: Patch<HourlyRequest>,
    #[serde(default)]
    pub province: Option<Province>,
    #[serde(default)]
    pub tax_exempt: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub template_name: Patch<String>,
    #[serde(default)]
    pub items: Option<Vec<ItemRequest>>,
}

/// The customer's acceptance of one revision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptQuoteRequest {
    /// The revision the customer saw (an older one is refused).
    pub revision: u32,
    /// The name the customer signed with.
    #[schema(example = "Jeanne Tremblay")]
    pub accepted_by_name: String,
    /// The customer's IP address, as the signing page saw it.
    #[serde(default)]
    #[schema(example = "203.0.113.7")]
    pub accepted_ip: Option<String>,
    /// Ids of the optional items the customer chose.
    #[serde(default)]
    pub selected_optional_items: Vec<Uuid>,
}

/// The job (truck journey) the accepted quote became.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertQuoteRequest {
    pub journey_id: Uuid,
}

/// Copy a template into a new draft for a lead (or a customer).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyQuoteRequest {
    #[serde(default)]
    pub lead_id: Option<Uuid>,
    /// Required unless `lead_id` is given.
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    #[serde(default)]
    pub location_id: Option<String>,
    /// Default: 30 days from today.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
}

/// A deposit taken on an accepted quote (carried onto its invoice).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentCreated {
    /// The new payment's id.
    pub payment_id: Uuid,
    /// The entity the payment was recorded on.
    pub id: Uuid,
    pub version: u64,
}

/// Who owns a quote for OWN scopes: its author.
pub fn ownership(quote: &Quote) -> RecordOwnership {
    RecordOwnership {
        assigned_to: quote.created_by,
        created_by: quote.created_by,
        location_id: quote.location_id.clone(),
    }
}

fn command(ctx: &CommandContext, action: QuoteAction) -> QuoteCommand {
    QuoteCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

/// Loads a quote of the caller's tenant that the caller may `action`.
pub async fn load_authorized(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    resource: Resource,
    action: Action,
) -> ApiResult<Loaded<Quote>> {
    crate::act::load_authorized(
        &state.store::<Quote>(),
        ctx,
        id,
        (resource, action),
        ownership,
    )
    .await
}

/// Runs `action` on a quote the caller may `permission` on `resource`.
async fn act(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: IfMatch,
    permission: (Resource, Action),
    action: QuoteAction,
) -> ApiResult<Committed> {
    crate::act::act(
        &state.store::<Quote>(),
        ctx,
        id,
        &if_match,
        permission,
        ownership,
        |_| command(ctx, action.clone()),
    )
    .await
}

/// Resolves the customer and lead of a new quote: the lead's customer when
/// only a lead is named; both must be the tenant's and belong together.
async fn parties(
    state: &CommandState,
    ctx: &CommandContext,
    customer_id: Option<Uuid>,
    lead_id: Option<Uuid>,
) -> ApiResult<QuoteParties> {
    let tenant = &ctx.principal.tenant;
    let lead_customer = match lead_id {
        Some(lead_id) => {
            let lead = state
                .store::<Lead>()
                .find(tenant, lead_id)
                .await?
                .ok_or_else(|| ApiError::invalid_field("lead_id", "no lead with this id"))?;
            lead.state().customer_id
        }
        None => None,
    };
    let customer_id = match (customer_id, lead_customer) {
        (Some(c), Some(l)) if c != l => {
            return Err(ApiError::invalid_field(
                "lead_id",
                "the lead belongs to another customer",
            ));
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => {
            return Err(ApiError::invalid_field(
                "customer_id",
                "is required unless lead_id is given",
            ));
        }
    };
    let customer = state
        .store::<Customer>()
        .find(tenant, customer_id)
        .await?
        .ok_or_else(|| ApiError::invalid_field("customer_id", "no customer with this id"))?;
    Ok(QuoteParties {
        customer_id,
        customer_active: customer.state().active,
        lead_id,
    })
}

/// Checks that the caller may create a quote at `location_id`, then drafts it.
async fn draft(
    state: &CommandState,
    ctx: &CommandContext,
    parties: QuoteParties,
    location_id: Option<String>,
    is_template: bool,
    copied_from: Option<Uuid>,
    input: QuoteInput,
) -> ApiResult<Committed> {
    let facts = RecordOwnership {
        assigned_to: Some(ctx.principal.user_id),
        created_by: Some(ctx.principal.user_id),
        location_id: location_id.as_deref().map(str::trim).map(str::to_owned),
    };
    authz::authorize(&ctx.principal, Resource::Quote, Action::Create, Some(facts))?;
    let id = Uuid::now_v7();
    let action = QuoteAction::Draft(DraftQuote {
        quote_id: id,
        tenant_id: ctx.principal.tenant.clone(),
        parties,
        location_id,
        is_template,
        copied_from,
        input,
    });
    Ok(crate::act::create(&state.store::<Quote>(), ctx, id, command(ctx, action)).await?)
}

#[utoipa::path(
    post, path = "/v1/quotes", tag = "quotes",
    request_body = CreateQuoteRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Quote drafted (revision 1)", body = CommandResponse),
        (status = 409, description = "The customer is inactive", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateQuoteRequest>,
) -> ApiResult<Response> {
    authz::authorize(&ctx.principal, Resource::Quote, Action::Create, None)?;
    let parties = parties(&state, &ctx, body.customer_id, body.lead_id).await?;
    let province = match body.province {
        Some(p) => p,
        None => {
            crate::settings::current(&state, &ctx.principal.tenant)
                .await?
                .default_province
        }
    };
    let input = QuoteInput {
        currency: body.currency,
        valid_until: body.valid_until,
        terms: body.terms,
        notes: body.notes,
        pricing_type: body.pricing_type.unwrap_or(PricingType::Binding),
        hourly: body.hourly.map(Into::into),
        province,
        tax_exempt: body.tax_exempt,
        template_name: body.template_name,
        items: money::items(body.items),
    };
    let committed = draft(
        &state,
        &ctx,
        parties,
        body.location_id,
        body.is_template,
        None,
        input,
    )
    .await?;
    Ok(created(&format!("/v1/quotes/{}", committed.id), committed))
}

#[utoipa::path(
    post, path = "/v1/quotes/{id}/copy", tag = "quotes",
    request_body = CopyQuoteRequest,
    params(("id" = Uuid, Path, description = "The template's id")),
    responses(
        (status = 201, description = "A new draft copied from the template", body = CommandResponse),
        (status = 409, description = "Not a template (rule `quote.not-a-template`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn copy(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    JsonOrEmpty(body): JsonOrEmpty<CopyQuoteRequest>,
) -> ApiResult<Response> {
    // Templates are shared models: anyone who may read quotes copies them.
    let template = state
        .store::<Quote>()
        .load(&ctx.principal.tenant, id)
        .await?;
    let facts = if template.state().is_template {
        authz::unowned()
    } else {
        Some(ownership(template.state()))
    };
    authz::authorize(&ctx.principal, Resource::Quote, Action::Read, facts)?;
    let valid_until = body
        .valid_until
        .unwrap_or_else(|| ctx.now.date_naive() + chrono::Duration::days(30));
    let input = template
        .state()
        .copy_input(valid_until)
        .map_err(|e| ApiError::from_domain(&e))?;
    let parties = parties(&state, &ctx, body.customer_id, body.lead_id).await?;
    let location_id = body
        .location_id
        .or_else(|| template.state().location_id.clone());
    let committed = draft(&state, &ctx, parties, location_id, false, Some(id), input).await?;
    Ok(created(&format!("/v1/quotes/{}", committed.id), committed))
}

#[utoipa::path(
    patch, path = "/v1/quotes/{id}", tag = "quotes",
    request_body = UpdateQuoteRequest,
    params(("id" = Uuid, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Updated (or unchanged)", body = CommandResponse),
        (status = 409, description = "Not a draft (rule `quote.wrong-status`)", body = api_common::Problem),
        (status = 412, description = "Stale If-Match", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateQuoteRequest>,
) -> ApiResult<Response> {
    let action = QuoteAction::Update(UpdateQuote {
        currency: body.currency,
        valid_until: body.valid_until,
        terms: body.terms,
        notes: body.notes,
        pricing_type: body.pricing_type,
        hourly: body.hourly.map(Into::into),
        province: body.province,
        tax_exempt: body.tax_exempt,
        template_name: body.template_name,
        items: body.items.map(money::items),
    });
    Ok(ok(act(
        &state,
        &ctx,
        id,
        if_match,
        (Resource::Quote, Action::Update),
        action,
    )
    .await?))
}

macro_rules! simple_route {
    ($name:ident, $path:literal, $summary:literal, $permission:expr, $action:expr) => {
        #[utoipa::path(
            post, path = $path, tag = "quotes", description = $summary,
            params(("id" = Uuid, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
            responses(
                (status = 200, description = "Done", body = CommandResponse),
                (status = 409, description = "Not allowed in the quote's status, or a broken rule (named)", body = api_common::Problem),
            ),
            security(("bearer" = []))
        )]
        async fn $name(
            State(state): State<CommandState>,
            ctx: CommandContext,
            PathId(id): PathId,
            if_match: IfMatch,
        ) -> ApiResult<Response> {
            Ok(ok(act(&state, &ctx, id, if_match, (Resource::Quote, $permission), $action).await?))
        }
    };
}

simple_route!(
    approve,
    "/v1/quotes/{id}/approve",
    "A manager approves the draft for sending (needed above the tenant's approval limit).",
    Action::Approve,
    QuoteAction::Approve
);
simple_route!(
    view,
    "/v1/quotes/{id}/view",
    "Records that the customer opened the sent quote.",
    Action::Update,
    QuoteAction::View
);
simple_route!(
    revise,
    "/v1/quotes/{id}/revise",
    "Reopens a sent, viewed, rejected or expired quote as the next revision, in DRAFT; the previous revision can no longer be accepted.",
    Action::Update,
    QuoteAction::Revise
);

#[utoipa::path(
    post, path = "/v1/quotes/{id}/send", tag = "quotes",
    params(("id" = Uuid, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Sent", body = CommandResponse),
        (status = 409, description = "Needs a manager's approval (rule `quote.approval-required`, naming total and limit), not a draft, or past valid_until", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn send(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let settings = crate::settings::current(&state, &ctx.principal.tenant).await?;
    let action = QuoteAction::Send {
        approval_threshold: settings.quote_approval_threshold,
    };
    Ok(ok(act(
        &state,
        &ctx,
        id,
        if_match,
        (Resource::Quote, Action::Update),
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/quotes/{id}/accept", tag = "quotes",
    request_body = AcceptQuoteRequest,
    params(("id" = Uuid, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Accepted", body = CommandResponse),
        (status = 409, description = "Superseded revision (`quote.revision-superseded`), past valid_until (`quote.expired`), or not sent", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn accept(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<AcceptQuoteRequest>,
) -> ApiResult<Response> {
    let action = QuoteAction::Accept(AcceptQuote {
        revision: body.revision,
        accepted_by_name: body.accepted_by_name,
        accepted_ip: body.accepted_ip,
        selected_optional_items: body.selected_optional_items,
    });
    Ok(ok(act(
        &state,
        &ctx,
        id,
        if_match,
        (Resource::Quote, Action::Update),
        action,
    )
    .await?))
}

#[utoipa::path(
    post, path = "/v1/quotes/{id}/reject", tag = "quotes",
    request_body = ReasonRequest,
    params(("id" = Uuid, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Rejected", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn reject(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Response> {
    let action = QuoteAction::Reject {
        reason: body.reason,
    };
    Ok(ok(act(
        &state,
        &ctx,
        id,
        if_match,
        (Resource::Quote, Action::Update),
        action,
    )
    .await?))
}

/// The journey a conversion puts on the dispatch board (the sales process
/// creates it from the event; its id is known now).
#[derive(Debug, Serialize, ToSchema)]
pub struct JourneySchedulePlan {
    pub schedule_id: Uuid,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: chrono::DateTime<chrono::FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: chrono::DateTime<chrono::FixedOffset>,
}

/// A converted quote, and what happens on the dispatch board.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConvertedQuote {
    pub id: Uuid,
    pub version: u64,
    /// The SCHEDULED, unstaffed JOURNEY the sales process creates on the
    /// lead's move date; `null` when none is created (see `journey_schedule_note`).
    pub journey_schedule: Option<JourneySchedulePlan>,
    /// Why no journey is scheduled, when none is.
    pub journey_schedule_note: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/quotes/{id}/convert", tag = "quotes",
    request_body = ConvertQuoteRequest,
    params(("id" = Uuid, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "Converted to a job; the answer says whether and when its journey is scheduled", body = ConvertedQuote)),
    security(("bearer" = []))
)]
async fn convert(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ConvertQuoteRequest>,
) -> ApiResult<Response> {
    let action = QuoteAction::Convert {
        journey_id: body.journey_id,
    };
    let committed = act(
        &state,
        &ctx,
        id,
        if_match,
        (Resource::Quote, Action::Update),
        action,
    )
    .await?;
    // What the sales process will do with the conversion (the same plan).
    let tenant = &ctx.principal.tenant;
    let quote = state.store::<Quote>().load(tenant, id).await?;
    let lead = match quote.state().lead_id {
        Some(lead_id) => {
            state
                .store::<aggregates::lead::Lead>()
                .find(tenant, lead_id)
                .await?
        }
        None => None,
    };
    let (journey_schedule, journey_schedule_note) = match &lead {
        None => (
            None,
            Some("the quote has no lead, so no journey is scheduled".to_owned()),
        ),
        Some(lead) => {
            let profile = crate::profile::current(&state, tenant).await?;
            match aggregates::schedule::journey_plan(&profile, lead.state().estimated_move_date) {
                Some((starts_at, ends_at)) => (
                    Some(JourneySchedulePlan {
                        schedule_id: aggregates::schedule::journey_schedule_id(body.journey_id),
                        starts_at,
                        ends_at,
                    }),
                    None,
                ),
                None => (
                    None,
                    Some("the lead has no move date, so no journey is scheduled".to_owned()),
                ),
            }
        }
    };
    Ok(crate::respond(
        axum::http::StatusCode::OK,
        None,
        committed.version,
        &ConvertedQuote {
            id: committed.id,
            version: committed.version,
            journey_schedule,
            journey_schedule_note,
        },
    ))
}

#[utoipa::path(
    post, path = "/v1/quotes/{id}/deposits", tag = "quotes",
    request_body = PaymentRequest,
    params(
        ("id" = Uuid, Path, description = "Quote id"),
        ("If-Match" = Option<String>, Header, description = "Expected version"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    responses(
        (status = 201, description = "Deposit recorded", body = PaymentCreated),
        (status = 409, description = "Not accepted, already invoiced, or deposits above the accepted total (`quote.deposit-exceeds-total`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn deposit(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<PaymentRequest>,
) -> ApiResult<Response> {
    let payment_id = Uuid::now_v7();
    let action = QuoteAction::RecordDeposit(body.into_input(payment_id));
    let committed = act(
        &state,
        &ctx,
        id,
        if_match,
        (Resource::Payment, Action::Create),
        action,
    )
    .await?;
    Ok(payment_created(
        &format!("/v1/quotes/{id}"),
        payment_id,
        committed,
    ))
}

/// `201` with the new payment's id.
pub(crate) fn payment_created(location: &str, payment_id: Uuid, committed: Committed) -> Response {
    respond(
        axum::http::StatusCode::CREATED,
        Some(location),
        committed.version,
        &PaymentCreated {
            payment_id,
            id: committed.id,
            version: committed.version,
        },
    )
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(update))
        .checked_routes(routes!(copy))
        .checked_routes(routes!(approve))
        .checked_routes(routes!(send))
        .checked_routes(routes!(view))
        .checked_routes(routes!(accept))
        .checked_routes(routes!(reject))
        .checked_routes(routes!(revise))
        .checked_routes(routes!(convert))
        .checked_routes(routes!(deposit))
}
