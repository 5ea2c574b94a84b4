//! Invoice commands: draft (standalone or from an accepted quote), edit the
//! draft, issue (numbered by the database, taxes snapshotted), void, record
//! payments, refund them, write credit notes, stop a recurring schedule.
//!
//! Commands without `If-Match` that lose a race on the invoice are retried
//! on the fresh state (a few times), so concurrent payments are decided one
//! after the other: each one that would take the balance below zero is
//! refused with the balance named, never applied.

use aggregates::Patch;
use aggregates::customer::Customer;
use aggregates::invoice::{
    AcceptedQuote, DraftInvoice, Invoice, InvoiceAction, InvoiceCommand, InvoiceError,
    UpdateInvoice,
};
use aggregates::lead::Lead;
use aggregates::quote::{Quote, QuoteAction};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use event_schemas::invoice::RecurringSchedule;
use event_schemas::money::{Province, QuoteStatus, RecurringInterval};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::money::{self, ItemRequest, PaymentRequest, ReasonRequest};
use crate::quotes::payment_created;
use crate::settings::SalesDefaults;
use crate::{CommandResponse, CommandState, JsonOrEmpty, created, ok, respond};
use event_store::{CommandError, Committed, Loaded, Run, Target};

/// A recurring schedule (storage billing): a new invoice every `interval`
/// from `start_date` (this invoice covers the first cycle) until stopped or
/// `end_date`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringRequest {
    pub interval: RecurringInterval,
    #[schema(value_type = String, format = Date)]
    pub start_date: NaiveDate,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<NaiveDate>,
}

impl From<RecurringRequest> for RecurringSchedule {
    fn from(r: RecurringRequest) -> Self {
        Self {
            interval: r.interval,
            start_date: r.start_date,
            end_date: r.end_date,
        }
    }
}

/// Draft a standalone invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceRequest {
    pub customer_id: Uuid,
    #[serde(default)]
    pub lead_id: Option<Uuid>,
    #[serde(default)]
    pub location_id: Option<String>,
    /// The rep credited with the revenue.
    #[serde(default)]
    pub sales_rep: Option<Uuid>,
    #[serde(default)]
    pub currency: Option<String>,
    /// The tenant's default province when absent.
    #[serde(default)]
    pub province: Option<Province>,
    #[serde(default)]
    pub tax_exempt: bool,
    /// The tenant's default terms when absent.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 365)]
    pub payment_terms_days: Option<u32>,
    #[serde(default)]
    pub terms: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub journey_id: Option<Uuid>,
    pub items: Vec<ItemRequest>,
    #[serde(default)]
    pub recurring: Option<RecurringRequest>,
}

/// Invoice an accepted quote: its items (accepted optional items included)
/// and deposits are carried over.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceQuoteRequest {
    #[serde(default)]
    #[schema(minimum = 0, maximum = 365)]
    pub payment_terms_days: Option<u32>,
    #[serde(default)]
    pub terms: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// Edit a draft. Absent fields stay; `null` clears; `items` replaces all.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInvoiceRequest {
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub province: Option<Province>,
    #[serde(default)]
    pub tax_exempt: Option<bool>,
    #[serde(default)]
    pub payment_terms_days: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub terms: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub notes: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub journey_id: Patch<Uuid>,
    #[serde(default)]
    pub items: Option<Vec<ItemRequest>>,
    #[serde(default)]
    #[schema(value_type = Option<RecurringRequest>)]
    pub recurring: Patch<RecurringRequest>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The date whose tax rates apply (default: today).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub tax_date: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Issued {
    pub id: Uuid,
    pub version: u64,
    /// `INV-<year>-<sequence>`: sequential per tenant, no gaps.
    #[schema(example = "INV-2026-000123")]
    pub invoice_number: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    #[schema(value_type = String, example = "50.00", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub amount: Decimal,
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRecurringRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// The new refund's or credit note's id.
    pub created_id: Uuid,
    /// The invoice.
    pub id: Uuid,
    pub version: u64,
}

/// Who owns an invoice for OWN scopes: its sales rep, else its author (as
/// on the read side).
pub fn ownership(invoice: &Invoice) -> RecordOwnership {
    let owner = invoice.sales_rep.or(invoice.created_by);
    RecordOwnership {
        assigned_to: owner,
        created_by: owner,
        location_id: invoice.location_id.clone(),
    }
}

fn command(ctx: &CommandContext, action: InvoiceAction) -> InvoiceCommand {
    InvoiceCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action,
    }
}

async fn load_authorized(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    resource: Resource,
    action: Action,
) -> ApiResult<Loaded<Invoice>> {
    crate::act::load_authorized(
        &state.store::<Invoice>(),
        ctx,
        id,
        (resource, action),
        ownership,
    )
    .await
}

/// Runs `action` on an invoice the caller may `permission` (see [`crate::act`]).
async fn act(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    permission: (Resource, Action),
    action: InvoiceAction,
) -> ApiResult<Committed> {
    crate::act::act(
        &state.store::<Invoice>(),
        ctx,
        id,
        if_match,
        permission,
        ownership,
        |_| command(ctx, action.clone()),
    )
    .await
}

async fn check_customer(state: &CommandState, ctx: &CommandContext, id: Uuid) -> ApiResult<()> {
    match state
        .store::<Customer>()
        .find(&ctx.principal.tenant, id)
        .await?
    {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid_field(
            "customer_id",
            "no customer with this id",
        )),
    }
}

#[utoipa::path(
    post, path = "/v1/invoices", tag = "invoices",
    request_body = CreateInvoiceRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Invoice drafted", body = CommandResponse),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateInvoiceRequest>,
) -> ApiResult<Response> {
    let facts = RecordOwnership {
        assigned_to: body.sales_rep.or(Some(ctx.principal.user_id)),
        created_by: Some(ctx.principal.user_id),
        location_id: body.location_id.clone(),
    };
    authz::authorize(
        &ctx.principal,
        Resource::Invoice,
        Action::Create,
        Some(facts),
    )?;
    check_customer(&state, &ctx, body.customer_id).await?;
    if let Some(lead) = body.lead_id {
        let found = state
            .store::<Lead>()
            .find(&ctx.principal.tenant, lead)
            .await?;
        if found.and_then(|l| l.state().customer_id) != Some(body.customer_id) {
            return Err(ApiError::invalid_field(
                "lead_id",
                "no lead of this customer with this id",
            ));
        }
    }
    let defaults = crate::settings::current(&state, &ctx.principal.tenant).await?;
    let id = Uuid::now_v7();
    let action = InvoiceAction::Draft(DraftInvoice {
        invoice_id: id,
        tenant_id: ctx.principal.tenant.clone(),
        customer_id: body.customer_id,
        lead_id: body.lead_id,
        location_id: body.location_id,
        sales_rep: body.sales_rep,
        currency: body.currency,
        province: body.province.unwrap_or(defaults.default_province),
        tax_exempt: body.tax_exempt,
        payment_terms_days: body
            .payment_terms_days
            .unwrap_or(defaults.default_payment_terms_days),
        terms: body.terms,
        notes: body.notes,
        journey_id: body.journey_id,
        items: money::items(body.items),
        recurring: body.recurring.map(Into::into),
        recurring_origin: None,
    });
    let committed =
        crate::act::create(&state.store::<Invoice>(), &ctx, id, command(&ctx, action)).await?;
    Ok(created(
        &format!("/v1/invoices/{}", committed.id),
        committed,
    ))
}

/// The invoice of a quote has an id derived from the quote's, so a quote is
/// invoiced at most once, and a retry after a crash finishes the job.
pub fn invoice_id_for_quote(quote_id: Uuid) -> Uuid {
    Uuid::new_v5(&quote_id, b"invoice")
}

#[utoipa::path(
    post, path = "/v1/quotes/{id}/invoice", tag = "invoices",
    request_body = InvoiceQuoteRequest,
    params(("id" = Uuid, Path, description = "The accepted quote's id")),
    responses(
        (status = 201, description = "Invoice drafted from the quote (items, accepted optional items, deposits)", body = CommandResponse),
        (status = 409, description = "The quote is not accepted, or already invoiced", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn from_quote(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(quote_id): PathId,
    JsonOrEmpty(body): JsonOrEmpty<InvoiceQuoteRequest>,
) -> ApiResult<Response> {
    let defaults = crate::settings::current(&state, &ctx.principal.tenant).await?;
    let invoice_id = invoice_id_for_quote(quote_id);
    // Mark the quote (no more deposits on it), deciding the invoice from the
    // quote at the version marked; the invoice is decided before anything is
    // written, so bad input writes nothing.
    let mut decided = None;
    crate::act::run(
        &state.store::<Quote>(),
        &ctx,
        Target::Existing(quote_id),
        &IfMatch(None),
        |quote| {
            let owner = Some(crate::quotes::ownership(quote.state()));
            authz::authorize(&ctx.principal, Resource::Quote, Action::Read, owner.clone())?;
            authz::authorize(&ctx.principal, Resource::Invoice, Action::Create, owner)?;
            let action = invoice_of_quote(
                &ctx,
                (quote_id, quote.state()),
                invoice_id,
                &defaults,
                &body,
            )?;
            Invoice::default()
                .decide(command(&ctx, action.clone()))
                .map_err(|e| ApiError::from_domain(&e))?;
            decided = Some(action);
            Ok(aggregates::quote::QuoteCommand {
                at: ctx.now,
                actor: ctx.principal.user_id,
                action: QuoteAction::MarkInvoiced { invoice_id },
            })
        },
    )
    .await?;
    let action = decided.ok_or_else(|| ApiError::internal("the invoice was not decided"))?;
    let committed = state
        .store::<Invoice>()
        .run(
            Run::new(&ctx.principal.tenant, Target::Any(invoice_id)),
            || ctx.metadata(),
            |_| Ok(command(&ctx, action.clone())),
        )
        .await
        .map_err(|e| match e {
            CommandError::Domain(InvoiceError::AlreadyExists(id)) => ApiError::conflict(
                "quote.already-invoiced",
                format!("the quote was already invoiced as {id}"),
            ),
            other => other.into(),
        })?;
    Ok(created(
        &format!("/v1/invoices/{}", committed.id),
        committed,
    ))
}

/// The invoice an accepted (or converted) quote becomes.
fn invoice_of_quote(
    ctx: &CommandContext,
    (quote_id, q): (Uuid, &Quote),
    invoice_id: Uuid,
    defaults: &SalesDefaults,
    body: &InvoiceQuoteRequest,
) -> ApiResult<InvoiceAction> {
    if !matches!(q.status(), QuoteStatus::Accepted | QuoteStatus::Converted) {
        return Err(ApiError::conflict(
            "quote.wrong-status",
            format!(
                "the quote is {}; only an ACCEPTED or CONVERTED quote can be invoiced",
                q.status()
            ),
        ));
    }
    let terms = q
        .terms
        .as_ref()
        .ok_or_else(|| ApiError::internal("a quote without terms"))?;
    Ok(InvoiceAction::DraftFromQuote(AcceptedQuote {
        invoice_id,
        tenant_id: ctx.principal.tenant.clone(),
        quote_id,
        quote_revision: q.accepted.as_ref().map_or(q.revision, |a| a.revision),
        customer_id: q.customer_id.unwrap_or_default(),
        lead_id: q.lead_id,
        location_id: q.location_id.clone(),
        sales_rep: q.created_by,
        currency: terms.currency.clone(),
        province: terms.province,
        tax_exempt: terms.tax_exempt,
        payment_terms_days: body
            .payment_terms_days
            .unwrap_or(defaults.default_payment_terms_days),
        terms: body.terms.clone().or_else(|| terms.terms.clone()),
        notes: body.notes.clone().or_else(|| terms.notes.clone()),
        journey_id: q.journey_id,
        items: q.accepted_items(),
        deposits: q.deposits.clone(),
    }))
}

#[utoipa::path(
    patch, path = "/v1/invoices/{id}", tag = "invoices",
    request_body = UpdateInvoiceRequest,
    params(("id" = Uuid, Path, description = "Invoice id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Updated (or unchanged)", body = CommandResponse),
        (status = 409, description = "Issued invoices are locked (`invoice.locked`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<UpdateInvoiceRequest>,
) -> ApiResult<Response> {
    let action = InvoiceAction::Update(UpdateInvoice {
        currency: body.currency,
        province: body.province,
        tax_exempt: body.tax_exempt,
        payment_terms_days: body.payment_terms_days,
        terms: body.terms,
        notes: body.notes,
        journey_id: body.journey_id,
        items: body.items.map(money::items),
        recurring: body.recurring.map(Into::into),
    });
    let permission = (Resource::Invoice, Action::Update);
    Ok(ok(
        act(&state, &ctx, id, &if_match, permission, action).await?
    ))
}

/// The number the database gave an issued invoice.
async fn invoice_number(state: &CommandState, ctx: &CommandContext, id: Uuid) -> ApiResult<String> {
    let number =
        event_store::lookups::invoice_number(&state.pool, &ctx.principal.tenant, id).await?;
    number.ok_or_else(|| ApiError::internal(format!("issued invoice {id} has no number")))
}

#[utoipa::path(
    post, path = "/v1/invoices/{id}/issue", tag = "invoices",
    request_body = IssueRequest,
    params(("id" = Uuid, Path, description = "Invoice id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Issued: numbered, taxes snapshotted, locked", body = Issued),
        (status = 409, description = "Not a draft, or deposits above the total", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn issue(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    JsonOrEmpty(body): JsonOrEmpty<IssueRequest>,
) -> ApiResult<Response> {
    let action = InvoiceAction::Issue {
        tax_date: body.tax_date,
    };
    let permission = (Resource::Invoice, Action::Approve);
    let committed = act(&state, &ctx, id, &if_match, permission, action).await?;
    let invoice_number = invoice_number(&state, &ctx, id).await?;
    Ok(respond(
        StatusCode::OK,
        None,
        committed.version,
        &Issued {
            id,
            version: committed.version,
            invoice_number,
        },
    ))
}

#[utoipa::path(
    post, path = "/v1/invoices/{id}/void", tag = "invoices",
    request_body = ReasonRequest,
    params(("id" = Uuid, Path, description = "Invoice id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Voided", body = CommandResponse),
        (status = 409, description = "Payments are applied (`invoice.has-payments`), or not issued", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn void(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Response> {
    let action = InvoiceAction::Void {
        reason: body.reason,
    };
    let permission = (Resource::Invoice, Action::Delete);
    Ok(ok(
        act(&state, &ctx, id, &if_match, permission, action).await?
    ))
}

#[utoipa::path(
    post, path = "/v1/invoices/{id}/payments", tag = "invoices",
    request_body = PaymentRequest,
    params(
        ("id" = Uuid, Path, description = "Invoice id"),
        ("If-Match" = Option<String>, Header, description = "Expected version"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    responses(
        (status = 201, description = "Payment applied", body = crate::quotes::PaymentCreated),
        (status = 409, description = "More than the balance (`invoice.overpayment`, naming the balance), or not issued", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn pay(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<PaymentRequest>,
) -> ApiResult<Response> {
    // Recording a payment settles the invoice: it takes the right to
    // change invoices too (accountants, managers), not just to take
    // payments (sales reps take deposits on their quotes).
    let invoice = load_authorized(&state, &ctx, id, Resource::Invoice, Action::Update).await?;
    drop(invoice);
    let payment_id = Uuid::now_v7();
    let action = InvoiceAction::RecordPayment(body.into_input(payment_id));
    let permission = (Resource::Payment, Action::Create);
    let committed = act(&state, &ctx, id, &if_match, permission, action).await?;
    Ok(payment_created(
        &format!("/v1/invoices/{id}"),
        payment_id,
        committed,
    ))
}

fn parse_id(raw: &str, what: &str) -> ApiResult<Uuid> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no {what} with id `{raw}`")))
}

fn created_child(id: Uuid, created_id: Uuid, committed: Committed) -> Response {
    respond(
        StatusCode::CREATED,
        Some(&format!("/v1/invoices/{id}")),
        committed.version,
        &Created {
            created_id,
            id,
            version: committed.version,
        },
    )
}

#[utoipa::path(
    post, path = "/v1/invoices/{id}/payments/{payment_id}/refunds", tag = "invoices",
    request_body = AmountRequest,
    params(
        ("id" = Uuid, Path, description = "Invoice id"),
        ("payment_id" = Uuid, Path, description = "The payment refunded"),
        ("If-Match" = Option<String>, Header, description = "Expected version"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    responses(
        (status = 201, description = "Refunded; the balance reopens", body = Created),
        (status = 409, description = "More than what remains of the payment (`invoice.refund-exceeds-payment`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn refund(
    State(state): State<CommandState>,
    ctx: CommandContext,
    Path((id, payment_id)): Path<(String, String)>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<AmountRequest>,
) -> ApiResult<Response> {
    let id = parse_id(&id, "invoice")?;
    let payment_id = parse_id(&payment_id, "payment")?;
    let refund_id = Uuid::now_v7();
    let action = InvoiceAction::Refund {
        refund_id,
        payment_id,
        amount: body.amount,
        reason: body.reason,
    };
    let permission = (Resource::Payment, Action::Update);
    let committed = act(&state, &ctx, id, &if_match, permission, action).await?;
    Ok(created_child(id, refund_id, committed))
}

#[utoipa::path(
    post, path = "/v1/invoices/{id}/credit-notes", tag = "invoices",
    request_body = AmountRequest,
    params(
        ("id" = Uuid, Path, description = "Invoice id"),
        ("If-Match" = Option<String>, Header, description = "Expected version"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response"),
    ),
    responses(
        (status = 201, description = "Credit note issued", body = Created),
        (status = 409, description = "More than the balance (`invoice.credit-exceeds-balance`), or not issued", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn credit_note(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<AmountRequest>,
) -> ApiResult<Response> {
    let credit_note_id = Uuid::now_v7();
    let action = InvoiceAction::IssueCreditNote {
        credit_note_id,
        amount: body.amount,
        reason: body.reason,
    };
    let permission = (Resource::Invoice, Action::Approve);
    let committed = act(&state, &ctx, id, &if_match, permission, action).await?;
    Ok(created_child(id, credit_note_id, committed))
}

#[utoipa::path(
    post, path = "/v1/invoices/{id}/recurring/stop", tag = "invoices",
    request_body = StopRecurringRequest,
    params(("id" = Uuid, Path, description = "Invoice id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, description = "No further invoices will be generated", body = CommandResponse)),
    security(("bearer" = []))
)]
async fn stop_recurring(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    JsonOrEmpty(body): JsonOrEmpty<StopRecurringRequest>,
) -> ApiResult<Response> {
    let action = InvoiceAction::StopRecurring {
        reason: body.reason,
    };
    let permission = (Resource::Invoice, Action::Update);
    Ok(ok(
        act(&state, &ctx, id, &if_match, permission, action).await?
    ))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(from_quote))
        .checked_routes(routes!(update))
        .checked_routes(routes!(issue))
        .checked_routes(routes!(void))
        .checked_routes(routes!(pay))
        .checked_routes(routes!(refund))
        .checked_routes(routes!(credit_note))
        .checked_routes(routes!(stop_recurring))
}
