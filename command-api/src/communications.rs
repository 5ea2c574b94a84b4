//! Communications: write a message (a DRAFT, or queued at once with
//! `"send": true`), send it, cancel it; record a customer's consent and an
//! unsubscribe request; and the public unsubscribe link of marketing
//! emails. Reads are in `query_api::communications`; the sender process
//! (`processes::sender`) delivers queued EMAIL and SMS.
//!
//! A message from a template is rendered here, in the sandboxed renderer,
//! with the template's declared variables and the built-ins gathered from
//! the records it is about (customer, lead, quote, invoice, schedule, the
//! tenant's company); it records the template version it used. Recipient,
//! subject, content and variables are sealed with the customer's key (a
//! message to a staff member or a bare address: its own).
//!
//! Who may write to whom: sales write to their own customers (a customer
//! whose leads are theirs, or nobody's), dispatchers and accountants to
//! anyone, crew to no one. A MARKETING message needs the customer's live
//! consent on the channel (409 `communication.no-consent`), checked again
//! when a draft is sent; every marketing email carries an unsubscribe link.

use aggregates::communication::{
    Attachment, Communication, CommunicationAction, CommunicationCommand, ConsentFact, DraftInput,
};
use aggregates::customer::{Customer, CustomerCommand};
use aggregates::lead::Lead;
use aggregates::template::MessageTemplate;
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult, IfMatch, PathId};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use event_schemas::communication::{
    CommunicationLinks, CommunicationType, ConsentKind, TemplateRef, UnsubscribeSource,
};
use event_schemas::template::MessagePurpose;
use event_schemas::{EventMetadata, SYSTEM_USER, TenantId};
use event_store::{CommandError, Run, Target};
use processes::compose::{self, ComposeError};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, act, ok, respond};

/// Write a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCommunicationRequest {
    #[serde(rename = "type")]
    pub channel: CommunicationType,
    /// The customer it goes to (its email or phone by default).
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    /// Or a staff member (their email or phone by default).
    #[serde(default)]
    pub staff_user_id: Option<Uuid>,
    /// The address or number; required without a customer or staff member.
    #[serde(default)]
    pub recipient: Option<String>,
    /// Render subject and content from this template (its current version).
    #[serde(default)]
    pub template_id: Option<Uuid>,
    /// The template's declared variables (and built-ins to override).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// Without a template: the subject (EMAIL) …
    #[serde(default)]
    pub subject: Option<String>,
    /// … and the content as sent.
    #[serde(default)]
    pub content: Option<String>,
    /// Without a template (a template sets its own); default TRANSACTIONAL.
    #[serde(default)]
    pub purpose: Option<MessagePurpose>,
    #[serde(default)]
    pub lead_id: Option<Uuid>,
    #[serde(default)]
    pub quote_id: Option<Uuid>,
    #[serde(default)]
    pub invoice_id: Option<Uuid>,
    #[serde(default)]
    pub schedule_id: Option<Uuid>,
    /// Files to send with it (EMAIL and LETTER), each uploaded first with
    /// `POST /v1/attachments` for this customer or for no one; at most 10,
    /// 20 MiB in all.
    #[serde(default)]
    pub attachments: Vec<Uuid>,
    /// Free-form JSON (sealed like the content).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Queue it for the sender at once (a phone call or letter: recorded as made).
    #[serde(default)]
    pub send: bool,
}

/// Cancel a draft or a queued message.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

/// A customer's consent to messages on a channel (CASL).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    pub channel: CommunicationType,
    pub kind: ConsentKind,
    /// When they gave it (not in the future).
    pub given_on: NaiveDate,
    /// Where: a web form, a signed quote, a phone call (no personal data).
    #[schema(example = "website quote form")]
    pub source: String,
    /// The last day it holds; IMPLIED consent without one lapses after two years.
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
}

/// A customer asked to receive no more marketing on a channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeRequest {
    pub channel: CommunicationType,
}

/// Owner of a message to `customer` for OWN scopes: the caller when one of
/// the customer's leads is theirs, else whoever has one, else nobody (the
/// open pool).
pub(crate) async fn customer_owner(
    state: &CommandState,
    ctx: &CommandContext,
    customer: Uuid,
) -> ApiResult<Option<Uuid>> {
    let owners = projections::queries::leads::owners_of_customer(
        &state.pool,
        &ctx.principal.tenant,
        customer,
    )
    .await?;
    let me = ctx.principal.user_id;
    Ok(if owners.contains(&Some(me)) {
        Some(me)
    } else {
        owners.into_iter().flatten().next()
    })
}

/// A composition failure as the answer to the client.
fn compose_error(e: ComposeError) -> ApiError {
    match e {
        ComposeError::Missing { field, id } => {
            ApiError::invalid_field(field, format!("no such record {id} in this tenant"))
        }
        ComposeError::Inactive => ApiError::conflict("template.inactive", e.to_string()),
        ComposeError::WrongChannel { .. } => ApiError::invalid_field("type", e.to_string()),
        ComposeError::Variables(errors) => {
            ApiError::from_domain(&aggregates::template::TemplateError::Invalid(errors))
        }
        ComposeError::Render(e) => crate::templates::render_error(e),
        ComposeError::Store(cause) => ApiError::internal(cause),
    }
}

/// Loads a record a request refers to: missing or another tenant's is a
/// 422 naming `field`.
pub(crate) async fn referenced<A>(
    state: &CommandState,
    ctx: &CommandContext,
    field: &'static str,
    id: Uuid,
) -> ApiResult<A>
where
    A: cqrs_es::Aggregate<Services = ()> + aggregates::TenantOwned + Clone + 'static,
    A::Error: aggregates::DomainError,
{
    compose::load(&state.stores, &ctx.principal.tenant, field, id)
        .await
        .map_err(compose_error)
}

/// The customer's marketing consent on `channel` today (tenant time).
fn consent_of(
    ctx: &CommandContext,
    profile: &aggregates::tenant_profile::TenantProfile,
    customer: Option<&Customer>,
    channel: CommunicationType,
) -> ConsentFact {
    let customer = customer?;
    let today = ctx.now.with_timezone(&profile.time_zone()).date_naive();
    Some(customer.marketing_consent(channel, today).map(drop))
}

/// The stored files `ids` name, in order: one that isn't this tenant's is a
/// 422 naming its place (the aggregate checks the rest).
async fn attachments_of(
    state: &CommandState,
    ctx: &CommandContext,
    ids: &[Uuid],
) -> ApiResult<Vec<Attachment>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if ids.len() > aggregates::communication::MAX_ATTACHMENTS {
        return Err(ApiError::invalid_field(
            "attachments",
            format!(
                "at most {} files",
                aggregates::communication::MAX_ATTACHMENTS
            ),
        ));
    }
    let found =
        event_store::attachments::infos(&state.pool, ctx.principal.tenant.as_str(), ids).await?;
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            found
                .iter()
                .find(|a| a.attachment_id == *id)
                .map(|a| Attachment {
                    reference: a.reference(),
                    sealed_with: a.sealed_with,
                })
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        format!("attachments[{i}]"),
                        format!("no such attachment {id} in this tenant"),
                    )
                })
        })
        .collect()
}

/// What a message's text is: rendered from a template, or as given.
struct Text {
    subject: Option<String>,
    content: String,
    purpose: MessagePurpose,
    template: Option<TemplateRef>,
    variables: Option<Map<String, Value>>,
}

#[utoipa::path(
    post, path = "/v1/communications", tag = "communications",
    request_body = CreateCommunicationRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses(
        (status = 201, description = "Written (DRAFT), or QUEUED with `send`", body = CommandResponse),
        (status = 403, description = "Not allowed (sales: their own customers; crew: none)", body = api_common::Problem),
        (status = 409, description = "A rule refused it: `communication.no-consent`, `template.inactive`, `customer.forgotten`", body = api_common::Problem),
        (status = 422, description = "Invalid field (named): a missing or unknown variable, a record that doesn't exist", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<CreateCommunicationRequest>,
) -> ApiResult<Response> {
    let id = Uuid::now_v7();
    let channel = body.channel;
    // The records the message is about (each of this tenant).
    let customer: Option<Customer> = match body.customer_id {
        Some(c) => Some(referenced(&state, &ctx, "customer_id", c).await?),
        None => None,
    };
    if customer.as_ref().is_some_and(|c| c.forgotten) {
        return Err(ApiError::conflict(
            "customer.forgotten",
            "the customer's personal data was forgotten: nothing can be sent to them",
        ));
    }
    let staff: Option<aggregates::staff::StaffMember> = match body.staff_user_id {
        Some(user) => Some(
            referenced(
                &state,
                &ctx,
                "staff_user_id",
                event_schemas::staff::staff_id(&ctx.principal.tenant, user),
            )
            .await?,
        ),
        None => None,
    };
    let lead: Option<Lead> = match body.lead_id {
        Some(l) => Some(referenced(&state, &ctx, "lead_id", l).await?),
        None => None,
    };
    // Who the message belongs to, for OWN scopes.
    let owner = match (&lead, body.customer_id) {
        (Some(lead), _) => lead.assigned_to,
        (None, Some(customer)) => customer_owner(&state, &ctx, customer).await?,
        (None, None) => None,
    };
    authz::authorize(
        &ctx.principal,
        Resource::Communication,
        Action::Create,
        Some(RecordOwnership {
            assigned_to: owner,
            created_by: None,
            location_id: lead.as_ref().and_then(|l| l.location_id.clone()),
        }),
    )?;

    let recipient = match (&body.recipient, &customer, &staff) {
        (Some(r), _, _) => r.clone(),
        (None, Some(c), _) => match channel {
            CommunicationType::Email => c.email.clone(),
            CommunicationType::Sms | CommunicationType::PhoneCall => c.phone.clone(),
            _ => Some(c.full_name()),
        }
        .ok_or_else(|| {
            ApiError::invalid_field(
                "recipient",
                format!("the customer has no address for {channel}; give a recipient"),
            )
        })?,
        (None, None, Some(s)) => {
            let details = s.details.as_ref();
            match channel {
                CommunicationType::Email => details.and_then(|d| d.email.clone()),
                CommunicationType::Sms | CommunicationType::PhoneCall => {
                    details.and_then(|d| d.phone.clone())
                }
                _ => details.map(|d| d.display_name.clone()),
            }
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "recipient",
                    format!("the staff member has no address for {channel}; give a recipient"),
                )
            })?
        }
        (None, None, None) => {
            return Err(ApiError::invalid_field(
                "recipient",
                "give a recipient, a customer_id or a staff_user_id",
            ));
        }
    };

    let purpose_hint = body.purpose.unwrap_or(MessagePurpose::Transactional);
    let marketing_email = |purpose: MessagePurpose| {
        purpose == MessagePurpose::Marketing && channel == CommunicationType::Email
    };
    // A marketing email's unsubscribe link (made before rendering: the
    // template may place it).
    let unsubscribe_url = match body.customer_id {
        Some(customer) => Some(
            compose::unsubscribe_url(
                &state.keystore,
                &state.public_url,
                &ctx.principal.tenant,
                customer,
                channel,
                id,
            )
            .await
            .map_err(ApiError::internal)?,
        ),
        None => None,
    };

    // The tenant's profile: its company, time zone and open tracking.
    let profile = crate::profile::current(&state, &ctx.principal.tenant).await?;
    let text = match (body.template_id, &body.content) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "content",
                "give a template_id or a content, not both",
            ));
        }
        (Some(template_id), None) => {
            let about = compose::About {
                customer: body.customer_id,
                lead: body.lead_id,
                quote: body.quote_id,
                invoice: body.invoice_id,
                schedule: body.schedule_id,
            };
            let built_ins = compose::built_ins(
                &state.stores,
                &ctx.principal.tenant,
                &profile,
                (&about, customer.as_ref()),
                unsubscribe_url.as_deref(),
            )
            .await
            .map_err(compose_error)?;
            let template: MessageTemplate =
                referenced(&state, &ctx, "template_id", template_id).await?;
            authz::authorize(&ctx.principal, Resource::Template, Action::Read, None)?;
            let rendered = compose::render(
                &state.renderer,
                template_id,
                &template,
                channel,
                body.variables,
                built_ins,
            )
            .await
            .map_err(compose_error)?;
            Text {
                subject: rendered.subject,
                content: rendered.content,
                purpose: rendered.purpose,
                template: Some(rendered.template),
                variables: Some(rendered.variables),
            }
        }
        (None, content) => {
            if !body.variables.is_empty() {
                return Err(ApiError::invalid_field(
                    "variables",
                    "variables need a template_id",
                ));
            }
            Text {
                subject: body.subject.clone(),
                content: content.clone().unwrap_or_default(),
                purpose: purpose_hint,
                template: None,
                variables: None,
            }
        }
    };
    if body.template_id.is_some() && body.subject.is_some() {
        return Err(ApiError::invalid_field(
            "subject",
            "the template makes the subject",
        ));
    }
    if body.template_id.is_some() && body.purpose.is_some_and(|p| p != text.purpose) {
        return Err(ApiError::invalid_field(
            "purpose",
            format!("the template's messages are {}", text.purpose),
        ));
    }
    let purpose = text.purpose;
    let unsubscribe_url = if marketing_email(purpose) {
        unsubscribe_url
    } else {
        None
    };
    // Every marketing email carries its unsubscribe link.
    let mut content = match &unsubscribe_url {
        Some(url) => compose::with_unsubscribe_link(text.content, url),
        None => text.content,
    };
    if channel == CommunicationType::Email && profile.email_open_tracking() {
        content.push_str(
            &compose::open_pixel(
                &state.keystore,
                &state.public_url,
                &ctx.principal.tenant,
                id,
            )
            .await
            .map_err(ApiError::internal)?,
        );
    }
    let attachments = attachments_of(&state, &ctx, &body.attachments).await?;
    let consent = if purpose == MessagePurpose::Marketing {
        consent_of(&ctx, &profile, customer.as_ref(), channel)
    } else {
        None
    };
    let command = CommunicationCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        consent,
        action: CommunicationAction::Draft {
            tenant_id: ctx.principal.tenant.clone(),
            communication_id: id,
            input: Box::new(DraftInput {
                channel,
                purpose,
                customer_id: body.customer_id,
                staff_user_id: body.staff_user_id,
                recipient,
                subject: text.subject,
                content,
                template: text.template,
                variables: text.variables,
                attachments,
                metadata: body.metadata,
                unsubscribe_url,
                tags: body.tags,
                links: CommunicationLinks {
                    lead_id: body.lead_id,
                    quote_id: body.quote_id,
                    invoice_id: body.invoice_id,
                    schedule_id: body.schedule_id,
                },
                rule: None,
            }),
            send: body.send,
        },
    };
    let committed = act::create(&state.store::<Communication>(), &ctx, id, command).await?;
    let location = format!("/v1/communications/{id}");
    Ok(respond(
        StatusCode::CREATED,
        Some(&location),
        committed.version,
        &CommandResponse {
            id,
            version: committed.version,
        },
    ))
}

/// Who a message belongs to for OWN scopes: whoever wrote it.
fn ownership(c: &Communication) -> RecordOwnership {
    RecordOwnership {
        assigned_to: Some(c.created_by.unwrap_or(SYSTEM_USER)),
        created_by: c.created_by,
        location_id: None,
    }
}

#[utoipa::path(
    post, path = "/v1/communications/{id}/send", tag = "communications",
    params(("id" = Uuid, Path, description = "Communication id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Queued for the sender (a phone call or letter: recorded as made); already queued or sent: unchanged", body = CommandResponse),
        (status = 404, description = "No such message in this tenant", body = api_common::Problem),
        (status = 409, description = "Cancelled or failed, no consent any more, or a channel without a provider", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn send(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let loaded = act::load_authorized(
        &state.store::<Communication>(),
        &ctx,
        id,
        (Resource::Communication, Action::Update),
        ownership,
    )
    .await?;
    let message = loaded.state();
    let consent = match (message.purpose, message.customer_id, message.channel) {
        (Some(MessagePurpose::Marketing), Some(customer), Some(channel)) => {
            let customer: Customer = referenced(&state, &ctx, "customer_id", customer).await?;
            let profile = crate::profile::current(&state, &ctx.principal.tenant).await?;
            consent_of(&ctx, &profile, Some(&customer), channel)
        }
        _ => None,
    };
    let committed = act::act(
        &state.store::<Communication>(),
        &ctx,
        id,
        &if_match,
        (Resource::Communication, Action::Update),
        ownership,
        |_| CommunicationCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            consent,
            action: CommunicationAction::Send,
        },
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/communications/{id}/cancel", tag = "communications",
    request_body = CancelRequest,
    params(("id" = Uuid, Path, description = "Communication id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Cancelled (or already)", body = CommandResponse),
        (status = 404, description = "No such message in this tenant", body = api_common::Problem),
        (status = 409, description = "Already sent (`communication.status`)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn cancel(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    crate::JsonOrEmpty(body): crate::JsonOrEmpty<CancelRequest>,
) -> ApiResult<Response> {
    let committed = act::act(
        &state.store::<Communication>(),
        &ctx,
        id,
        &if_match,
        (Resource::Communication, Action::Update),
        ownership,
        |_| CommunicationCommand {
            at: ctx.now,
            actor: ctx.principal.user_id,
            consent: None,
            action: CommunicationAction::Cancel {
                reason: body.reason.clone(),
            },
        },
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/customers/{id}/consent", tag = "communications",
    request_body = ConsentRequest,
    params(("id" = Uuid, Path, description = "Customer id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses(
        (status = 200, description = "Recorded (or unchanged)", body = CommandResponse),
        (status = 404, description = "No such customer in this tenant", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn record_consent(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ConsentRequest>,
) -> ApiResult<Response> {
    let owner = customer_owner(&state, &ctx, id).await?;
    authz::authorize(
        &ctx.principal,
        Resource::Communication,
        Action::Create,
        Some(RecordOwnership {
            assigned_to: owner,
            created_by: None,
            location_id: None,
        }),
    )?;
    let profile = crate::profile::current(&state, &ctx.principal.tenant).await?;
    let today = ctx.now.with_timezone(&profile.time_zone()).date_naive();
    let committed = act::act(
        &state.store::<Customer>(),
        &ctx,
        id,
        &if_match,
        (Resource::Customer, Action::Read),
        act::unowned,
        |_| CustomerCommand::RecordConsent {
            channel: body.channel,
            kind: body.kind,
            given_on: body.given_on,
            source: body.source.clone(),
            expires_on: body.expires_on,
            today,
        },
    )
    .await?;
    Ok(ok(committed))
}

#[utoipa::path(
    post, path = "/v1/customers/{id}/unsubscribe", tag = "communications",
    request_body = UnsubscribeRequest,
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "No more marketing on the channel (or already)", body = CommandResponse),
        (status = 404, description = "No such customer in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn unsubscribe_by_request(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UnsubscribeRequest>,
) -> ApiResult<Response> {
    let owner = customer_owner(&state, &ctx, id).await?;
    authz::authorize(
        &ctx.principal,
        Resource::Communication,
        Action::Create,
        Some(RecordOwnership {
            assigned_to: owner,
            created_by: None,
            location_id: None,
        }),
    )?;
    let committed = act::act(
        &state.store::<Customer>(),
        &ctx,
        id,
        &IfMatch(None),
        (Resource::Customer, Action::Read),
        act::unowned,
        |_| CustomerCommand::Unsubscribe {
            channel: body.channel,
            source: UnsubscribeSource::Request,
            communication_id: None,
        },
    )
    .await?;
    Ok(ok(committed))
}

async fn unsubscribe_with(
    state: &CommandState,
    token: &str,
    source: UnsubscribeSource,
) -> Result<CommunicationType, StatusCode> {
    let Some((tenant, customer, channel, message)) =
        compose::verify_unsubscribe(&state.keystore, token).await
    else {
        return Err(StatusCode::NOT_FOUND);
    };
    let run = Run::new(&tenant, Target::Existing(customer));
    let outcome = state
        .store::<Customer>()
        .run(
            run,
            || EventMetadata::system(&tenant, format!("unsubscribe:{}", source.as_str())),
            |_| {
                Ok::<_, CommandError<aggregates::customer::CustomerError>>(
                    CustomerCommand::Unsubscribe {
                        channel,
                        source,
                        communication_id: Some(message),
                    },
                )
            },
        )
        .await;
    match outcome {
        Ok(_) => Ok(channel),
        // Forgotten since: there is nothing left to send them.
        Err(CommandError::Domain(aggregates::customer::CustomerError::Forgotten)) => Ok(channel),
        Err(CommandError::NotFound { .. }) => Err(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(error = %e, "recording an unsubscribe failed");
            Err(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{text}</p></body></html>"
        )),
    )
        .into_response()
}

#[utoipa::path(
    get, path = "/v1/unsubscribe/{token}", tag = "communications",
    params(("token" = String, Path, description = "The token of a marketing email's unsubscribe link")),
    responses(
        (status = 200, description = "Unsubscribed: an HTML page saying so", content_type = "text/html", body = String),
        (status = 404, description = "Not a valid link (an HTML page for a browser that accepts one)", body = api_common::Problem),
    )
)]
async fn unsubscribe_link(
    State(state): State<CommandState>,
    Path(token): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let outcome = unsubscribe_with(&state, &token, UnsubscribeSource::Link).await;
    if !browser && let Err(status) = outcome {
        return problem(
            status,
            if status == StatusCode::NOT_FOUND {
                "not a valid unsubscribe link"
            } else {
                "could not record it just now; try again"
            },
        );
    }
    match outcome {
        Ok(channel) => page(
            StatusCode::OK,
            "You are unsubscribed",
            &format!(
                "You will receive no more marketing by {}. Messages about your move, quotes and invoices still reach you.",
                channel.as_str().to_lowercase().replace('_', " ")
            ),
        ),
        Err(StatusCode::NOT_FOUND) => page(
            StatusCode::NOT_FOUND,
            "Link not valid",
            "This unsubscribe link is not valid.",
        ),
        Err(status) => page(
            status,
            "Try again",
            "We could not record it just now; please try again.",
        ),
    }
}

#[utoipa::path(
    post, path = "/v1/unsubscribe/{token}", tag = "communications",
    params(("token" = String, Path, description = "The token of a marketing email's unsubscribe link")),
    responses(
        (status = 200, description = "Unsubscribed (RFC 8058 one-click, `List-Unsubscribe-Post`)"),
        (status = 404, description = "Not a valid link", body = api_common::Problem),
    )
)]
async fn unsubscribe_one_click(
    State(state): State<CommandState>,
    Path(token): Path<String>,
) -> Response {
    match unsubscribe_with(&state, &token, UnsubscribeSource::OneClick).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(StatusCode::NOT_FOUND) => {
            problem(StatusCode::NOT_FOUND, "not a valid unsubscribe link")
        }
        Err(status) => problem(status, "could not record it just now; try again"),
    }
}

/// A provider's report about a message (`POST
/// /v1/communications/callbacks/{provider}`, signed in the Standard
/// Webhooks format). Unknown fields are ignored: providers add their own.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeliveryCallback {
    /// The communication id: an SMS provider's `reference`.
    #[serde(default)]
    pub reference: Option<String>,
    /// Or the email's `Message-ID` (`<id@domain>`).
    #[serde(default)]
    pub message_id: Option<String>,
    /// `DELIVERED`, `READ` (`opened`) or `FAILED` (`bounced`), any case.
    #[serde(alias = "status", alias = "type")]
    pub event: String,
    /// Why it failed.
    #[serde(default, alias = "error")]
    pub reason: Option<String>,
    /// The provider's id of this report (else the `webhook-id` header):
    /// a report seen before changes nothing.
    #[serde(default)]
    pub event_id: Option<String>,
}

/// The communication a callback is about.
fn callback_subject(body: &DeliveryCallback) -> Option<Uuid> {
    if let Some(reference) = &body.reference {
        return Uuid::try_parse(reference.trim()).ok();
    }
    let id = body.message_id.as_deref()?.trim().trim_start_matches('<');
    Uuid::try_parse(id.split('@').next()?).ok()
}

/// The API's problem answer for a callback.
fn problem(status: StatusCode, detail: &str) -> Response {
    match status {
        StatusCode::UNAUTHORIZED => ApiError::unauthorized(detail.to_owned()),
        StatusCode::NOT_FOUND => ApiError::not_found(detail.to_owned()),
        StatusCode::UNPROCESSABLE_ENTITY => {
            ApiError::unprocessable("validation", detail.to_owned())
        }
        _ => ApiError::unavailable(detail.to_owned(), 5),
    }
    .into_response()
}

#[utoipa::path(
    post, path = "/v1/communications/callbacks/{provider}", tag = "communications",
    request_body = DeliveryCallback,
    params(
        ("provider" = String, Path, description = "A provider named in CRM_CALLBACK_SECRETS (e.g. `sms`, `email`)"),
        ("webhook-id" = String, Header, description = "Standard Webhooks message id"),
        ("webhook-timestamp" = String, Header, description = "Unix seconds; within 5 minutes"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`"),
    ),
    responses(
        (status = 200, description = "Applied (or seen before, or older than the message's status: nothing changes)"),
        (status = 401, description = "Missing, stale or wrong signature: nothing written", body = api_common::Problem),
        (status = 404, description = "No such provider or message", body = api_common::Problem),
        (status = 422, description = "Not a report this API understands", body = api_common::Problem),
    )
)]
async fn delivery_callback(
    State(state): State<CommandState>,
    Path(provider): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use aggregates::communication::Outcome;
    let Some(secret) = state.callback_secrets.get(&provider) else {
        return problem(StatusCode::NOT_FOUND, "no such callback provider");
    };
    let verified = standardwebhooks::Webhook::new(secret)
        .map_err(|e| e.to_string())
        .and_then(|hook| hook.verify(&body, &headers).map_err(|e| e.to_string()));
    if let Err(why) = verified {
        tracing::warn!(%provider, %why, "a delivery callback was refused");
        return problem(StatusCode::UNAUTHORIZED, &format!("signature: {why}"));
    }
    let report: DeliveryCallback = match serde_json::from_slice(&body) {
        Ok(report) => report,
        Err(e) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("the report: {e}"),
            );
        }
    };
    let outcome = match report.event.to_ascii_lowercase().as_str() {
        "delivered" => Outcome::Delivered,
        "read" | "opened" => Outcome::Read,
        "failed" | "bounced" | "undelivered" | "rejected" => Outcome::Failed {
            reason: report
                .reason
                .clone()
                .unwrap_or_else(|| format!("the provider reported {}", report.event)),
        },
        // Queued, sent, accepted …: nothing this API records.
        _ => return StatusCode::OK.into_response(),
    };
    let Some(id) = callback_subject(&report) else {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference or message_id: not a message of this API",
        );
    };
    let tenant = match event_store::lookups::tenant_of(
        &state.pool,
        (event_schemas::communication::AGGREGATE_TYPE, id),
    )
    .await
    {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "no such message"),
        Err(e) => {
            tracing::error!(error = %e, "looking up a callback's message failed");
            return problem(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let Ok(tenant) = TenantId::parse(&tenant) else {
        return problem(StatusCode::NOT_FOUND, "no such message");
    };
    let event_id = report.event_id.clone().or_else(|| {
        headers
            .get(standardwebhooks::HEADER_WEBHOOK_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let run = Run::new(&tenant, Target::Existing(id));
    let outcome = state
        .store::<Communication>()
        .run(
            run,
            || EventMetadata::system(&tenant, format!("callback:{provider}")),
            |_| {
                Ok::<_, CommandError<aggregates::communication::CommunicationError>>(
                    CommunicationCommand {
                        at: chrono::Utc::now(),
                        actor: SYSTEM_USER,
                        consent: None,
                        action: CommunicationAction::Report {
                            outcome: outcome.clone(),
                            provider_event_id: event_id.clone(),
                        },
                    },
                )
            },
        )
        .await;
    match outcome {
        Ok(_) => StatusCode::OK.into_response(),
        Err(CommandError::NotFound { .. }) => problem(StatusCode::NOT_FOUND, "no such message"),
        Err(e) => {
            tracing::error!(error = %e, "recording a delivery callback failed");
            problem(StatusCode::SERVICE_UNAVAILABLE, "try again")
        }
    }
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

#[utoipa::path(
    get, path = "/v1/communications/{id}/open/{tag}", tag = "communications",
    params(
        ("id" = Uuid, Path, description = "Communication id"),
        ("tag" = String, Path, description = "The pixel's tag (in the email)"),
    ),
    responses(
        (status = 200, description = "A 1×1 GIF; the email is READ (once; a status never moves back)", content_type = "image/gif", body = Vec<u8>),
        (status = 404, description = "Not a tracking pixel of this API", body = api_common::Problem),
    )
)]
async fn open_pixel(
    State(state): State<CommandState>,
    Path((id, tag)): Path<(String, String)>,
) -> Response {
    use aggregates::communication::Outcome;
    let Ok(id) = id.parse::<Uuid>() else {
        return problem(StatusCode::NOT_FOUND, "not a tracking pixel of this API");
    };
    let tenant = event_store::lookups::tenant_of(
        &state.pool,
        (event_schemas::communication::AGGREGATE_TYPE, id),
    )
    .await
    .ok()
    .flatten()
    .and_then(|t| TenantId::parse(&t).ok());
    let Some(tenant) = tenant else {
        return problem(StatusCode::NOT_FOUND, "not a tracking pixel of this API");
    };
    if !compose::verify_open(&state.keystore, &tenant, id, &tag).await {
        return problem(StatusCode::NOT_FOUND, "not a tracking pixel of this API");
    }
    let run = Run::new(&tenant, Target::Existing(id));
    let recorded = state
        .store::<Communication>()
        .run(
            run,
            || EventMetadata::system(&tenant, "open-pixel"),
            |_| {
                Ok::<_, CommandError<aggregates::communication::CommunicationError>>(
                    CommunicationCommand {
                        at: chrono::Utc::now(),
                        actor: SYSTEM_USER,
                        consent: None,
                        action: CommunicationAction::Report {
                            outcome: Outcome::Read,
                            provider_event_id: None,
                        },
                    },
                )
            },
        )
        .await;
    if let Err(e) = recorded {
        tracing::warn!(%id, error = %e, "recording an email open failed");
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store, max-age=0"),
        ],
        PIXEL,
    )
        .into_response()
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(create))
        .checked_routes(routes!(send))
        .checked_routes(routes!(cancel))
        .checked_routes(routes!(record_consent))
        .checked_routes(routes!(unsubscribe_by_request))
}

/// The routes without a login: a marketing email's unsubscribe link, and
/// the providers' signed delivery callbacks.
pub(crate) fn public_router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(unsubscribe_link, unsubscribe_one_click))
        .checked_routes(routes!(delivery_callback))
        .checked_routes(routes!(open_pixel))
}
