//! Inbound lead capture: `POST /v1/inbound/leads`, called by a website form
//! or a lead aggregator with an integration's API key (not a user's token).
//!
//! A post registers the person as a customer, or finds the customer with
//! the same email or phone, and opens a lead from the integration's source.
//! The same person posted again through the same integration within 24
//! hours, while that lead is open, becomes an activity on it instead of a
//! second lead. A post is idempotent by the sender's `reference` (the same
//! answer again), one person's posts run one at a time (an advisory lock on
//! their email or phone), and each post is one entry of the integration's
//! sync log. Events are recorded with role `integration` and the
//! integration's id as the actor; the lead's creation time starts its
//! speed to lead.

use aggregates::customer::{Customer, CustomerCommand, RegisterCustomer};
use aggregates::integration::{Integration, IntegrationSync, SyncAction, SyncCommand};
use aggregates::lead::{CreateLead, CustomerFacts, Lead, LeadAction, LeadCommand, RecordActivity};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::integration::{InboundOutcome, InboundResult, RecordFailure};
use event_schemas::{EventMetadata, LeadStatus, Role, SalesActivityType, TenantId};
use event_store::{CommandError, Run, Target};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::CommandState;

/// How long a person's open lead from the same integration takes their
/// new posts as activities.
pub const SAME_PERSON_WINDOW_HOURS: i64 = 24;
/// The prefix of an integration API key.
pub const KEY_PREFIX: &str = "crmk";

/// A lead as a website form or an aggregator sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundLeadRequest {
    /// The sender's id for this submission: posting it again answers the
    /// same and writes nothing.
    #[schema(example = "form-2031-77")]
    pub reference: String,
    pub first_name: String,
    pub last_name: String,
    /// An email or a phone (or both) is required.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// Default: the integration's lead source.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub estimated_move_date: Option<NaiveDate>,
    /// What the person wrote.
    #[serde(default)]
    pub notes: Option<String>,
}

/// What a post became.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundLeadResponse {
    /// The sync log entry of this post.
    pub sync_id: Uuid,
    #[serde(flatten)]
    pub result: InboundResult,
}

/// The integration behind a key, checked.
struct Caller {
    tenant: TenantId,
    integration_id: Uuid,
    key_id: Uuid,
    integration: Integration,
}

/// An API key: `crmk_<integration id>_<key id>_<secret>`.
pub fn make_key(integration: Uuid, key_id: Uuid, secret: &str) -> String {
    format!(
        "{KEY_PREFIX}_{}_{}_{secret}",
        integration.simple(),
        key_id.simple()
    )
}

fn parse_key(key: &str) -> Option<(Uuid, Uuid, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?.strip_prefix('_')?;
    let (integration, rest) = rest.split_once('_')?;
    let (key_id, secret) = rest.split_once('_')?;
    Some((
        Uuid::try_parse(integration).ok()?,
        Uuid::try_parse(key_id).ok()?,
        secret,
    ))
}

fn unauthorized() -> ApiError {
    ApiError::unauthorized(
        "an integration API key is required: `Authorization: Bearer crmk_…` (or `X-Api-Key`) of an active integration",
    )
}

async fn caller(state: &CommandState, headers: &HeaderMap) -> ApiResult<Caller> {
    let key = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .ok_or_else(unauthorized)?;
    let (integration_id, key_id, secret) = parse_key(key.trim()).ok_or_else(unauthorized)?;
    let tenant = event_store::lookups::tenant_of(
        &state.pool,
        (event_schemas::integration::AGGREGATE_TYPE, integration_id),
    )
    .await?
    .and_then(|t| TenantId::parse(&t).ok())
    .ok_or_else(unauthorized)?;
    let integration = state
        .store::<Integration>()
        .load(&tenant, integration_id)
        .await?
        .state()
        .clone();
    if !integration.accepts_key(key_id, &keystore::secret_digest(secret)) {
        return Err(unauthorized());
    }
    Ok(Caller {
        tenant,
        integration_id,
        key_id,
        integration,
    })
}

fn metadata(caller: &Caller, reference: &str, now: DateTime<Utc>) -> EventMetadata {
    let command_id = Uuid::now_v7();
    EventMetadata {
        tenant_id: caller.tenant.clone(),
        user_id: caller.integration_id,
        role: Role::Integration,
        correlation_id: format!("inbound:{}:{reference}", caller.integration_id),
        causation_id: command_id.to_string(),
        command_id,
        recorded_at: now,
        policy_version: None,
        policy_valid_until: None,
    }
}

/// The sync log entry of a post with `reference`.
pub fn sync_id(integration: Uuid, reference: &str) -> Uuid {
    Uuid::new_v5(&integration, format!("inbound:{reference}").as_bytes())
}

/// The lead a post with `reference` opens, when it opens one.
pub fn lead_id(integration: Uuid, reference: &str) -> Uuid {
    Uuid::new_v5(&integration, format!("lead:{reference}").as_bytes())
}

#[utoipa::path(
    post, path = "/v1/inbound/leads", tag = "integrations",
    request_body = InboundLeadRequest,
    params(("X-Api-Key" = String, Header, description = "An integration's API key `crmk_…` (or `Authorization: Bearer crmk_…`)")),
    responses(
        (status = 201, description = "A new lead (and customer, unless one has this email or phone)", body = InboundLeadResponse),
        (status = 200, description = "An activity on the same person's open lead from this integration, or the same reference posted again", body = InboundLeadResponse),
        (status = 401, description = "No key, an unknown or revoked key, or a disabled integration", body = api_common::Problem),
        (status = 409, description = "The customer is inactive or forgotten", body = api_common::Problem),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
        (status = 429, description = "Over the key's rate (`Retry-After`)", body = api_common::Problem),
    ),
    security(())
)]
async fn inbound_lead(
    State(state): State<CommandState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<InboundLeadRequest>,
) -> ApiResult<Response> {
    let caller = caller(&state, &headers).await?;
    if let Err(wait) = state.inbound_limiter.check(
        caller.tenant.as_str(),
        &caller.key_id.to_string(),
        std::time::Instant::now(),
    ) {
        return Err(ApiError::too_many_requests(wait.as_secs().max(1)));
    }
    let now = Utc::now();
    let reference = body.reference.trim().to_owned();
    if reference.is_empty()
        || reference.chars().count() > 200
        || reference.chars().any(char::is_control)
    {
        let error = ApiError::invalid_field(
            "reference",
            "1 to 200 characters, without control characters",
        );
        record_failure(&state, &caller, "(no reference)", &error, now).await;
        return Err(error);
    }
    let person = match (&body.email, &body.phone) {
        (Some(email), _) if !email.trim().is_empty() => email.trim().to_lowercase(),
        (_, Some(phone)) if !phone.trim().is_empty() => phone
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>(),
        _ => {
            let error = ApiError::invalid_field("email", "give an email or a phone");
            record_failure(&state, &caller, &reference, &error, now).await;
            return Err(error);
        }
    };
    let lock =
        event_store::inbound::PersonLock::acquire(&state.pool, caller.tenant.as_str(), &person)
            .await?;
    let outcome = take(&state, &caller, &reference, body, now).await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "releasing an inbound lead's lock failed (its session closes)");
    }
    match outcome {
        Ok((status, response)) => {
            let mut answer = (status, axum::Json(response)).into_response();
            if status == StatusCode::OK {
                answer
                    .headers_mut()
                    .insert("x-inbound-outcome", HeaderValue::from_static("existing"));
            }
            Ok(answer)
        }
        Err(error) => {
            record_failure(&state, &caller, &reference, &error, now).await;
            Err(error)
        }
    }
}

/// A post that could not be taken, in the sync log (FAILED, the record
/// named with its reason). Its own failure is only logged.
async fn record_failure(
    state: &CommandState,
    caller: &Caller,
    reference: &str,
    error: &ApiError,
    now: DateTime<Utc>,
) {
    let sync_id = Uuid::now_v7();
    let problem = error.to_problem();
    let failures: Vec<RecordFailure> = if problem.errors.is_empty() {
        vec![RecordFailure {
            record: reference.to_owned(),
            field: None,
            reason: problem.detail.clone(),
        }]
    } else {
        problem
            .errors
            .iter()
            .map(|f| RecordFailure {
                record: reference.to_owned(),
                field: Some(f.field.clone()),
                reason: f.message.clone(),
            })
            .collect()
    };
    let refusal = SyncCommand {
        at: now,
        action: SyncAction::RecordRefusal {
            tenant_id: caller.tenant.clone(),
            sync_id,
            integration_id: caller.integration_id,
            reference: reference.chars().take(200).collect(),
            error: problem.detail.clone(),
            failures,
        },
    };
    if let Err(e) = state
        .store::<IntegrationSync>()
        .run(
            Run::new(&caller.tenant, Target::New(sync_id)),
            || metadata(caller, reference, now),
            |_| Ok::<_, CommandError<aggregates::integration::SyncError>>(refusal.clone()),
        )
        .await
    {
        tracing::warn!(error = %e, %sync_id, "recording a refused inbound lead in the sync log failed");
    }
}

/// Registers the person, or finds the customer with their email or phone:
/// (customer id, registered now).
async fn customer_of(
    state: &CommandState,
    caller: &Caller,
    reference: &str,
    body: &InboundLeadRequest,
    now: DateTime<Utc>,
) -> ApiResult<(Uuid, bool)> {
    let id = Uuid::now_v7();
    let register = CustomerCommand::Register(RegisterCustomer {
        customer_id: id,
        tenant_id: caller.tenant.clone(),
        first_name: body.first_name.clone(),
        last_name: body.last_name.clone(),
        email: body.email.clone().filter(|e| !e.trim().is_empty()),
        phone: body.phone.clone().filter(|p| !p.trim().is_empty()),
        address: None,
        lead_source: Some(caller.integration.lead_source.clone()),
        tags: Vec::new(),
        preferences: serde_json::Map::new(),
        notes: None,
    });
    match state
        .store::<Customer>()
        .run(
            Run::new(&caller.tenant, Target::New(id)),
            || metadata(caller, reference, now),
            |_| Ok(register.clone()),
        )
        .await
    {
        Ok(_) => Ok((id, true)),
        Err(CommandError::Taken { holder, .. }) => {
            if let Err(e) = state
                .keystore
                .discard_unused_data_key(caller.tenant.as_str(), &id.to_string())
                .await
            {
                tracing::warn!(error = %e, "the refused registration's data key stays");
            }
            Uuid::try_parse(&holder)
                .map(|holder| (holder, false))
                .map_err(|_| ApiError::internal(format!("a claim names `{holder}`")))
        }
        Err(e) => Err(e.into()),
    }
}

async fn lead_command(
    state: &CommandState,
    caller: &Caller,
    reference: &str,
    target: Target,
    action: LeadAction,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let command = LeadCommand {
        at: now,
        actor: caller.integration_id,
        action,
    };
    state
        .store::<Lead>()
        .run(
            Run::new(&caller.tenant, target),
            || metadata(caller, reference, now),
            |_| Ok::<_, CommandError<aggregates::lead::LeadError>>(command.clone()),
        )
        .await
        .map(drop)
        .map_err(Into::into)
}

/// One post, with the person's lock held.
async fn take(
    state: &CommandState,
    caller: &Caller,
    reference: &str,
    body: InboundLeadRequest,
    now: DateTime<Utc>,
) -> ApiResult<(StatusCode, InboundLeadResponse)> {
    let sync_id = sync_id(caller.integration_id, reference);
    let syncs = state.store::<IntegrationSync>();
    if let Some(sync) = syncs.find(&caller.tenant, sync_id).await?
        && let Some(result) = sync.state().result.clone()
    {
        // Posted before: the same answer.
        return Ok((StatusCode::OK, InboundLeadResponse { sync_id, result }));
    }
    let (customer_id, customer_created) = customer_of(state, caller, reference, &body, now).await?;
    let customer = state
        .store::<Customer>()
        .load(&caller.tenant, customer_id)
        .await?
        .state()
        .clone();
    if customer.forgotten {
        return Err(ApiError::conflict(
            "customer.forgotten",
            "the person was forgotten at their request: their leads are not taken",
        ));
    }
    let new_lead = lead_id(caller.integration_id, reference);
    let leads = state.store::<Lead>();
    let since = now - chrono::Duration::hours(SAME_PERSON_WINDOW_HOURS);
    let open = match leads.find(&caller.tenant, new_lead).await? {
        // This reference opened it before a crash: finish the post.
        Some(_) => None,
        None => match event_store::inbound::latest_lead(
            &state.pool,
            caller.tenant.as_str(),
            caller.integration_id,
            customer_id,
            since,
        )
        .await?
        {
            Some(lead) => leads
                .find(&caller.tenant, lead)
                .await?
                .filter(|l| {
                    !matches!(
                        l.state().status,
                        Some(LeadStatus::Won | LeadStatus::Lost | LeadStatus::Archived) | None
                    )
                })
                .map(|_| lead),
            None => None,
        },
    };
    let result = match open {
        Some(lead) => {
            let activity_id = Uuid::now_v7();
            let description = match body.notes.as_deref().map(str::trim) {
                Some(notes) if !notes.is_empty() => format!(
                    "Submitted again through {} (reference {reference}): {notes}",
                    caller.integration.name
                ),
                _ => format!(
                    "Submitted again through {} (reference {reference})",
                    caller.integration.name
                ),
            };
            lead_command(
                state,
                caller,
                reference,
                Target::Existing(lead),
                LeadAction::RecordActivity(RecordActivity {
                    activity_id,
                    activity_type: SalesActivityType::Other,
                    subject: Some("Inbound lead again".into()),
                    description: description.chars().take(5_000).collect(),
                    outcome: None,
                    next_action: None,
                    scheduled_at: None,
                    completed_at: Some(now),
                    duration_minutes: None,
                    cost: None,
                    notes: None,
                }),
                now,
            )
            .await?;
            InboundResult {
                outcome: InboundOutcome::ActivityRecorded,
                customer_id,
                lead_id: lead,
                activity_id: Some(activity_id),
                customer_created,
            }
        }
        None => {
            if leads.find(&caller.tenant, new_lead).await?.is_none() {
                lead_command(
                    state,
                    caller,
                    reference,
                    Target::New(new_lead),
                    LeadAction::Create(CreateLead {
                        lead_id: new_lead,
                        tenant_id: caller.tenant.clone(),
                        customer: CustomerFacts {
                            id: customer_id,
                            active: customer.active,
                        },
                        source: body
                            .source
                            .clone()
                            .unwrap_or_else(|| caller.integration.lead_source.clone()),
                        priority: None,
                        estimated_move_date: body.estimated_move_date,
                        estimated_value: None,
                        notes: body.notes.clone(),
                        follow_up_date: None,
                        score: None,
                        qualification: Default::default(),
                        assigned_to: None,
                        location_id: None,
                    }),
                    now,
                )
                .await?;
            }
            event_store::inbound::record_lead(
                &state.pool,
                caller.tenant.as_str(),
                caller.integration_id,
                customer_id,
                new_lead,
                now,
            )
            .await?;
            InboundResult {
                outcome: InboundOutcome::LeadCreated,
                customer_id,
                lead_id: new_lead,
                activity_id: None,
                customer_created,
            }
        }
    };
    let record = SyncCommand {
        at: now,
        action: SyncAction::Record {
            tenant_id: caller.tenant.clone(),
            sync_id,
            integration_id: caller.integration_id,
            reference: reference.to_owned(),
            result: result.clone(),
        },
    };
    syncs
        .run(
            Run::new(&caller.tenant, Target::New(sync_id)),
            || metadata(caller, reference, now),
            |_| Ok::<_, CommandError<aggregates::integration::SyncError>>(record.clone()),
        )
        .await?;
    tracing::info!(integration = %caller.integration_id, outcome = %result.outcome, lead = %result.lead_id, "inbound lead taken");
    let status = match result.outcome {
        InboundOutcome::LeadCreated => StatusCode::CREATED,
        InboundOutcome::ActivityRecorded => StatusCode::OK,
    };
    Ok((status, InboundLeadResponse { sync_id, result }))
}

/// The inbound routes: outside the bearer-token layer (they take an API
/// key).
pub(crate) fn public_router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new().checked_routes(routes!(inbound_lead))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_integration_and_key() {
        let (integration, key) = (Uuid::now_v7(), Uuid::now_v7());
        let made = make_key(integration, key, "s3cr3t_with_underscore");
        assert_eq!(
            parse_key(&made),
            Some((integration, key, "s3cr3t_with_underscore"))
        );
        for bad in [
            "",
            "crmk",
            "crmk_x_y_z",
            "other_a_b_c",
            &made.replacen("crmk", "crmx", 1),
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }
}
