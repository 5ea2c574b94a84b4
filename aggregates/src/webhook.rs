//! The `Webhook` and `WebhookDelivery` aggregates (the seed's Webhook and
//! WebhookDelivery).
//!
//! A webhook is a tenant's endpoint. Its URL, subscribed event types and
//! custom headers reach the aggregate already checked by the handler
//! (`outbound`: the SSRF guard, the pattern grammar, the header rules); the
//! aggregate keeps the rest of the rules: names, at least one event type,
//! the secret's overlap on rotation, enabling and disabling, deletion.
//!
//! A delivery is one event on its way to one endpoint: queued once (its id
//! derived from the endpoint and the event, so a redelivered stream message
//! queues nothing new), each attempt recorded before the request is written
//! and its result after, retried on the schedule the worker keeps, and
//! queued again on request.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::webhook::{
    AttemptResult, DeliveryStatus, DisableReason, RetryReason, WebhookCreated, WebhookDeleted,
    WebhookDeliveryAttemptFailed, WebhookDeliveryAttemptStarted, WebhookDeliveryEvent,
    WebhookDeliveryFailed, WebhookDeliveryQueued, WebhookDeliveryRetryRequested,
    WebhookDeliverySucceeded, WebhookDisabled, WebhookEnabled, WebhookEvent,
    WebhookRecoveryRequested, WebhookSecretRotated, WebhookUpdated,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values;

/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_OVERLAP_HOURS: i64 = 24;
/// At most this many event type patterns per endpoint.
pub const MAX_EVENT_TYPES: usize = 50;
/// How far back a recovery may reach.
pub const MAX_RECOVERY_DAYS: i64 = 30;

/// An endpoint's settings, as the handler checked them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    pub name: String,
    pub description: Option<String>,
    /// Checked by the SSRF guard.
    pub url: String,
    /// Each parsed by the pattern grammar.
    pub event_types: Vec<String>,
    /// Each checked by the header rules.
    pub headers: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WebhookAction {
    Create {
        tenant_id: TenantId,
        webhook_id: Uuid,
        settings: WebhookSettings,
        /// A new `whsec_…` secret.
        secret: String,
        active: bool,
    },
    /// The settings as they are to stand (nothing changes: no event).
    Update(WebhookSettings),
    RotateSecret {
        secret: String,
    },
    Enable,
    Disable {
        reason: DisableReason,
        detail: Option<String>,
    },
    Delete,
    Recover {
        since: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: WebhookAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("invalid webhook: {0}")]
    Invalid(ValidationErrors),
    #[error("this webhook exists already")]
    AlreadyExists,
    #[error("no such webhook")]
    NotFound,
}

impl DomainError for WebhookError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "webhook.exists",
            },
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

impl From<ValidationErrors> for WebhookError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// An endpoint as it stands. The secrets are in the clear here (the event
/// store opens them when it loads the aggregate).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub tenant_id: Option<TenantId>,
    pub id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub event_types: Vec<String>,
    pub headers: BTreeMap<String, String>,
    pub active: bool,
    pub disabled_reason: Option<DisableReason>,
    pub secret: String,
    pub previous_secret: Option<(String, DateTime<Utc>)>,
    pub deleted: bool,
    pub created_by: Option<Uuid>,
}

impl Webhook {
    pub fn exists(&self) -> bool {
        self.id.is_some() && !self.deleted
    }

    /// The secrets that sign a delivery at `now`: the current one, and the
    /// previous one during its overlap.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut secrets = vec![self.secret.clone()];
        if let Some((previous, until)) = &self.previous_secret
            && now < *until
        {
            secrets.push(previous.clone());
        }
        secrets
    }

    fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            name: self.name.clone(),
            description: self.description.clone(),
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            headers: self.headers.clone(),
        }
    }

    pub fn decide(&self, command: WebhookCommand) -> Result<Vec<WebhookEvent>, WebhookError> {
        let WebhookCommand { at, actor, action } = command;
        if let WebhookAction::Create {
            tenant_id,
            webhook_id,
            settings,
            secret,
            active,
        } = action
        {
            if self.id.is_some() {
                return Err(WebhookError::AlreadyExists);
            }
            let settings = validate(settings)?;
            return Ok(vec![
                WebhookCreated {
                    tenant_id,
                    webhook_id,
                    name: settings.name,
                    description: settings.description,
                    url: settings.url,
                    event_types: settings.event_types,
                    headers: settings.headers,
                    active,
                    secret,
                    created_by: actor,
                    created_at: at,
                }
                .into(),
            ]);
        }
        if !self.exists() {
            return Err(WebhookError::NotFound);
        }
        Ok(match action {
            WebhookAction::Create { .. } => unreachable!("handled above"),
            WebhookAction::Update(settings) => {
                let settings = validate(settings)?;
                if settings == self.settings() {
                    vec![]
                } else {
                    vec![
                        WebhookUpdated {
                            name: settings.name,
                            description: settings.description,
                            url: settings.url,
                            event_types: settings.event_types,
                            headers: settings.headers,
                            updated_by: actor,
                            updated_at: at,
                        }
                        .into(),
                    ]
                }
            }
            WebhookAction::RotateSecret { secret } => vec![
                WebhookSecretRotated {
                    secret,
                    previous_valid_until: at + Duration::hours(SECRET_OVERLAP_HOURS),
                    rotated_by: actor,
                    rotated_at: at,
                }
                .into(),
            ],
            WebhookAction::Enable if self.active => vec![],
            WebhookAction::Enable => vec![
                WebhookEnabled {
                    enabled_by: actor,
                    enabled_at: at,
                }
                .into(),
            ],
            WebhookAction::Disable { .. } if !self.active => vec![],
            WebhookAction::Disable { reason, detail } => vec![
                WebhookDisabled {
                    reason,
                    detail: detail.map(|d| cut(&d, 1_000)),
                    disabled_by: actor,
                    disabled_at: at,
                }
                .into(),
            ],
            WebhookAction::Delete => vec![
                WebhookDeleted {
                    deleted_by: actor,
                    deleted_at: at,
                }
                .into(),
            ],
            WebhookAction::Recover { since } => {
                if since > at {
                    return Err(
                        ValidationErrors::single("since", "must not be in the future").into(),
                    );
                }
                if at - since > Duration::days(MAX_RECOVERY_DAYS) {
                    return Err(ValidationErrors::single(
                        "since",
                        format!("at most {MAX_RECOVERY_DAYS} days back"),
                    )
                    .into());
                }
                vec![
                    WebhookRecoveryRequested {
                        since,
                        requested_by: actor,
                        requested_at: at,
                    }
                    .into(),
                ]
            }
        })
    }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

fn validate(settings: WebhookSettings) -> Result<WebhookSettings, ValidationErrors> {
    let mut v = Validator::new();
    let name = v.check(
        "name",
        values::required_text(&settings.name, values::MAX_SHORT_TEXT),
    );
    let description = v.check(
        "description",
        values::optional_text(settings.description.as_deref(), values::MAX_LONG_TEXT),
    );
    let mut event_types: Vec<String> = Vec::new();
    for pattern in settings.event_types {
        if !event_types.contains(&pattern) {
            event_types.push(pattern);
        }
    }
    if event_types.is_empty() {
        v.error(
            "event_types",
            "subscribe to at least one event type (or `*`)",
        );
    } else if event_types.len() > MAX_EVENT_TYPES {
        v.error(
            "event_types",
            format!("at most {MAX_EVENT_TYPES} event types"),
        );
    }
    v.finish()?;
    Ok(WebhookSettings {
        name: name.unwrap_or_default(),
        description: description.flatten(),
        event_types,
        ..settings
    })
}

impl Aggregate for Webhook {
    const TYPE: &'static str = event_schemas::webhook::AGGREGATE_TYPE;
    type Command = WebhookCommand;
    type Event = WebhookEvent;
    type Error = WebhookError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            WebhookEvent::WebhookCreated(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.id = Some(e.webhook_id);
                self.name = e.name;
                self.description = e.description;
                self.url = e.url;
                self.event_types = e.event_types;
                self.headers = e.headers;
                self.active = e.active;
                self.disabled_reason = (!e.active).then_some(DisableReason::Manual);
                self.secret = e.secret;
                self.created_by = Some(e.created_by);
            }
            WebhookEvent::WebhookUpdated(e) => {
                self.name = e.name;
                self.description = e.description;
                self.url = e.url;
                self.event_types = e.event_types;
                self.headers = e.headers;
            }
            WebhookEvent::WebhookSecretRotated(e) => {
                let previous = std::mem::replace(&mut self.secret, e.secret);
                self.previous_secret = Some((previous, e.previous_valid_until));
            }
            WebhookEvent::WebhookEnabled(_) => {
                self.active = true;
                self.disabled_reason = None;
            }
            WebhookEvent::WebhookDisabled(e) => {
                self.active = false;
                self.disabled_reason = Some(e.reason);
            }
            WebhookEvent::WebhookDeleted(_) => {
                self.deleted = true;
                self.active = false;
            }
            WebhookEvent::WebhookRecoveryRequested(_) => {}
        }
    }
}

// ------------------------------------------------------------- deliveries

/// What a delivery's worker or a user asks of it.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryAction {
    /// Queue an event for an endpoint; again with the same event: nothing.
    Queue {
        tenant_id: TenantId,
        delivery_id: Uuid,
        webhook_id: Uuid,
        event_id: Uuid,
        event_type: String,
    },
    /// The worker is about to write attempt `attempts + 1` (PENDING, RETRY,
    /// or SENT left by a crashed worker).
    StartAttempt,
    /// The attempt's answer was 2xx.
    Succeed(AttemptResult),
    /// The attempt failed and will be tried again at `retry_at`.
    FailAttempt {
        result: AttemptResult,
        retry_at: DateTime<Utc>,
    },
    /// The attempt failed and the delivery gives up.
    Fail(AttemptResult),
    /// Try it again from the start of the schedule (manually: FAILED,
    /// RETRY or DELIVERED; by a recovery: FAILED only; otherwise nothing).
    RequestRetry { reason: RetryReason },
}

#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: DeliveryAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    #[error("no such delivery")]
    NotFound,
    #[error("the delivery is {0} and can't be {1}")]
    WrongStatus(DeliveryStatus, &'static str),
    #[error("attempt {given} is not the delivery's current attempt ({current})")]
    StaleAttempt { given: u32, current: u32 },
}

impl DomainError for DeliveryError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::NotFound => ErrorKind::NotFound,
            Self::WrongStatus(..) | Self::StaleAttempt { .. } => ErrorKind::Conflict {
                rule: "webhook-delivery.status",
            },
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub tenant_id: Option<TenantId>,
    pub id: Option<Uuid>,
    pub webhook_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub status: Option<DeliveryStatus>,
    /// Attempts made, in all.
    pub attempts: u32,
    /// Attempts made since it was last queued (the retry schedule's index).
    pub round_attempts: u32,
}

impl WebhookDelivery {
    fn status(&self) -> Result<DeliveryStatus, DeliveryError> {
        self.status.ok_or(DeliveryError::NotFound)
    }

    fn check_current(
        &self,
        result: &AttemptResult,
        doing: &'static str,
    ) -> Result<(), DeliveryError> {
        let status = self.status()?;
        if status != DeliveryStatus::Sent {
            return Err(DeliveryError::WrongStatus(status, doing));
        }
        if result.attempt != self.attempts {
            return Err(DeliveryError::StaleAttempt {
                given: result.attempt,
                current: self.attempts,
            });
        }
        Ok(())
    }

    pub fn decide(
        &self,
        command: DeliveryCommand,
    ) -> Result<Vec<WebhookDeliveryEvent>, DeliveryError> {
        let DeliveryCommand { at, actor, action } = command;
        use DeliveryStatus as S;
        Ok(match action {
            DeliveryAction::Queue {
                tenant_id,
                delivery_id,
                webhook_id,
                event_id,
                event_type,
            } => {
                if self.status.is_some() {
                    return Ok(vec![]);
                }
                vec![
                    WebhookDeliveryQueued {
                        tenant_id,
                        delivery_id,
                        webhook_id,
                        event_id,
                        event_type,
                        queued_at: at,
                    }
                    .into(),
                ]
            }
            DeliveryAction::StartAttempt => match self.status()? {
                S::Pending | S::Retry | S::Sent => vec![
                    WebhookDeliveryAttemptStarted {
                        attempt: self.attempts + 1,
                        started_at: at,
                    }
                    .into(),
                ],
                status => return Err(DeliveryError::WrongStatus(status, "attempted")),
            },
            DeliveryAction::Succeed(result) => {
                self.check_current(&result, "delivered")?;
                vec![
                    WebhookDeliverySucceeded {
                        result,
                        delivered_at: at,
                    }
                    .into(),
                ]
            }
            DeliveryAction::FailAttempt { result, retry_at } => {
                self.check_current(&result, "retried")?;
                vec![
                    WebhookDeliveryAttemptFailed {
                        result,
                        retry_at,
                        failed_at: at,
                    }
                    .into(),
                ]
            }
            DeliveryAction::Fail(result) => {
                self.check_current(&result, "failed")?;
                vec![
                    WebhookDeliveryFailed {
                        result,
                        failed_at: at,
                    }
                    .into(),
                ]
            }
            // A recovery takes failed deliveries only (replayed, it leaves
            // one delivered since alone); a manual retry any that is not on
            // its way.
            DeliveryAction::RequestRetry {
                reason: RetryReason::Recovery,
            } if self.status()? != S::Failed => vec![],
            DeliveryAction::RequestRetry { reason } => match self.status()? {
                S::Failed | S::Retry | S::Delivered => vec![
                    WebhookDeliveryRetryRequested {
                        reason,
                        requested_by: actor,
                        requested_at: at,
                    }
                    .into(),
                ],
                S::Pending | S::Sent => vec![],
            },
        })
    }
}

impl Aggregate for WebhookDelivery {
    const TYPE: &'static str = event_schemas::webhook::DELIVERY_AGGREGATE_TYPE;
    type Command = DeliveryCommand;
    type Event = WebhookDeliveryEvent;
    type Error = DeliveryError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use DeliveryStatus as S;
        match event {
            WebhookDeliveryEvent::WebhookDeliveryQueued(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.id = Some(e.delivery_id);
                self.webhook_id = Some(e.webhook_id);
                self.event_id = Some(e.event_id);
                self.event_type = e.event_type;
                self.status = Some(S::Pending);
            }
            WebhookDeliveryEvent::WebhookDeliveryAttemptStarted(e) => {
                self.attempts = e.attempt;
                self.round_attempts += 1;
                self.status = Some(S::Sent);
            }
            WebhookDeliveryEvent::WebhookDeliverySucceeded(_) => self.status = Some(S::Delivered),
            WebhookDeliveryEvent::WebhookDeliveryAttemptFailed(_) => self.status = Some(S::Retry),
            WebhookDeliveryEvent::WebhookDeliveryFailed(_) => self.status = Some(S::Failed),
            WebhookDeliveryEvent::WebhookDeliveryRetryRequested(_) => {
                self.status = Some(S::Pending);
                self.round_attempts = 0;
            }
        }
    }
}
