//! The `Communication` aggregate: one message to one recipient on one
//! channel (the seed's Communication), from its draft to its delivery.
//!
//! ```text
//! DRAFT ─send─▶ QUEUED ─attempt…─▶ SENT ─▶ DELIVERED ─▶ READ
//!   ╰──cancel──▶ CANCELLED ◀─cancel─╯          (bounce) ─▶ FAILED
//! ```
//!
//! Status only moves forward: a late "delivered" after "read" changes
//! nothing; provider callbacks are deduplicated by the provider's event
//! id. EMAIL and SMS are sent by the sender process (an attempt is recorded
//! before each try, the outcome after); PHONE_CALL, LETTER and IN_APP are
//! recorded as made when sent; PUSH_NOTIFICATION has no provider.
//!
//! A MARKETING message needs the customer's live consent on the channel
//! (CASL), checked when it is written and again when it is sent; a
//! TRANSACTIONAL one does not.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::communication::{
    AttachmentRef, CommunicationAttemptFailed, CommunicationCancelled, CommunicationDelivered,
    CommunicationDrafted, CommunicationEvent, CommunicationFailed, CommunicationLinks,
    CommunicationQueued, CommunicationRead, CommunicationSendAttempted, CommunicationSent,
    CommunicationStatus, CommunicationType, RuleCause, TemplateRef,
};
use event_schemas::template::MessagePurpose;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::customer::NoConsent;
use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values;

/// The largest content, in bytes (the renderer's output limit).
pub const MAX_CONTENT_BYTES: usize = 512 * 1024;
/// At most this many provider event ids are remembered for deduplication.
const MAX_SEEN_EVENTS: usize = 64;
/// How long a failure reason is kept (the rest is cut).
const MAX_REASON: usize = 1_000;

/// The message as it stands. Recipient, subject and content are in the
/// clear here (the event store opens them when it loads the aggregate;
/// they read `[erased]` once the key is destroyed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Communication {
    pub tenant_id: Option<TenantId>,
    pub id: Option<Uuid>,
    pub channel: Option<CommunicationType>,
    pub purpose: Option<MessagePurpose>,
    pub status: Option<CommunicationStatus>,
    pub customer_id: Option<Uuid>,
    pub staff_user_id: Option<Uuid>,
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
    pub attachments: Vec<AttachmentRef>,
    pub unsubscribe_url: Option<String>,
    pub links: CommunicationLinks,
    pub created_by: Option<Uuid>,
    /// Attempts made by the sender.
    pub attempts: u32,
    pub message_id: Option<String>,
    pub provider_message_id: Option<String>,
    /// Provider event ids already applied (the most recent ones).
    pub seen_provider_events: BTreeSet<String>,
}

impl Communication {
    pub fn exists(&self) -> bool {
        self.status.is_some()
    }

    /// The `Message-ID` of every attempt of communication `id` (the same on
    /// each, so a receiver can drop a duplicate after a crash).
    pub fn message_id_of(id: Uuid, domain: &str) -> String {
        format!("<{}@{domain}>", id.simple())
    }
}

/// Whether a MARKETING message may go: the customer's consent on the
/// channel as the caller found it (`None`: no customer).
pub type ConsentFact = Option<Result<(), NoConsent>>;

/// At most this many files go with one message …
pub const MAX_ATTACHMENTS: usize = 10;
/// … together at most this many bytes (before the email's base64).
pub const MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;

/// A file a message sends, as the handler found it stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub reference: AttachmentRef,
    /// Whose data key seals it: the customer it was uploaded for, or the
    /// file itself.
    pub sealed_with: Uuid,
}

/// A new message as a client (or a rule) writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftInput {
    pub channel: CommunicationType,
    pub purpose: MessagePurpose,
    pub customer_id: Option<Uuid>,
    pub staff_user_id: Option<Uuid>,
    pub recipient: String,
    pub subject: Option<String>,
    pub content: String,
    pub template: Option<TemplateRef>,
    pub variables: Option<Map<String, Value>>,
    pub attachments: Vec<Attachment>,
    pub metadata: Option<Map<String, Value>>,
    pub unsubscribe_url: Option<String>,
    pub tags: Vec<String>,
    pub links: CommunicationLinks,
    pub rule: Option<RuleCause>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CommunicationAction {
    /// Write a DRAFT; with `send`, queue it (or record it as made) at once.
    Draft {
        tenant_id: TenantId,
        communication_id: Uuid,
        input: Box<DraftInput>,
        send: bool,
    },
    /// DRAFT → QUEUED (EMAIL, SMS) or SENT as recorded (PHONE_CALL, LETTER,
    /// IN_APP); again on a queued or sent message: nothing.
    Send,
    /// DRAFT or QUEUED → CANCELLED; again: nothing.
    Cancel { reason: Option<String> },
    /// The sender is about to try (QUEUED only); `message_id` is the one
    /// every attempt of the message uses.
    StartAttempt { message_id: String },
    /// The attempt failed for a reason that may pass.
    AttemptFailed {
        reason: String,
        retry_at: DateTime<Utc>,
    },
    /// The provider accepted the message.
    MarkSent { provider_message_id: Option<String> },
    /// A provider's report: delivered, read, or failed (bounced).
    Report {
        outcome: Outcome,
        provider_event_id: Option<String>,
    },
    /// The message can't be delivered: a permanent refusal or the last
    /// retry used up (the sender's).
    Fail { reason: String },
}

/// What a provider reported about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Read,
    Failed { reason: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct CommunicationCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    /// The customer's marketing consent on the message's channel, as the
    /// handler found it (for Draft and Send of MARKETING messages).
    pub consent: ConsentFact,
    pub action: CommunicationAction,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CommunicationError {
    #[error("invalid message: {0}")]
    Invalid(ValidationErrors),
    #[error("this message exists already")]
    AlreadyExists,
    #[error("no such message")]
    NotFound,
    #[error("a marketing message needs the customer's consent on the channel: {0}")]
    NoConsent(&'static str),
    #[error("the message is {0} and can't be {1}")]
    WrongStatus(CommunicationStatus, &'static str),
    #[error("a {0} can't be sent: no provider is configured for it")]
    NotSendable(CommunicationType),
}

impl DomainError for CommunicationError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "communication.exists",
            },
            Self::NotFound => ErrorKind::NotFound,
            Self::NoConsent(_) => ErrorKind::Conflict {
                rule: "communication.no-consent",
            },
            Self::WrongStatus(..) => ErrorKind::Conflict {
                rule: "communication.status",
            },
            Self::NotSendable(_) => ErrorKind::Conflict {
                rule: "communication.not-sendable",
            },
        }
    }
}

impl From<ValidationErrors> for CommunicationError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

fn no_consent_text(reason: NoConsent) -> &'static str {
    match reason {
        NoConsent::Missing => "none was recorded",
        NoConsent::Withdrawn => "the customer unsubscribed",
        NoConsent::Expired => "the implied consent lapsed",
    }
}

/// The marketing rule: consent on the channel, or a transactional message.
fn check_consent(purpose: MessagePurpose, consent: &ConsentFact) -> Result<(), CommunicationError> {
    if purpose != MessagePurpose::Marketing {
        return Ok(());
    }
    match consent {
        Some(Ok(())) => Ok(()),
        Some(Err(reason)) => Err(CommunicationError::NoConsent(no_consent_text(*reason))),
        None => Err(CommunicationError::NoConsent(
            "marketing goes only to customers, whose consent is recorded",
        )),
    }
}

/// Whether the sender sends the channel (the others are recorded).
pub fn sent_by_sender(channel: CommunicationType) -> bool {
    matches!(channel, CommunicationType::Email | CommunicationType::Sms)
}

fn recipient(channel: CommunicationType, value: &str) -> Result<String, String> {
    match channel {
        CommunicationType::Email => values::email(value),
        CommunicationType::Sms | CommunicationType::PhoneCall => values::phone(value),
        _ => values::required_text(value, values::MAX_SHORT_TEXT),
    }
}

fn cut(reason: &str) -> String {
    let reason = reason.trim();
    match reason.char_indices().nth(MAX_REASON) {
        Some((i, _)) => format!("{}…", &reason[..i]),
        None if reason.is_empty() => "no reason given".to_owned(),
        None => reason.to_owned(),
    }
}

/// The files of a draft: on a channel that carries them, few and small
/// enough, each once, and each uploaded for this message's customer or for
/// no one (a file sealed with another customer's key would outlive what
/// forgetting this one erases).
fn check_attachments(v: &mut Validator, input: &DraftInput) {
    if input.attachments.is_empty() {
        return;
    }
    if !matches!(
        input.channel,
        CommunicationType::Email | CommunicationType::Letter
    ) {
        v.check::<()>(
            "attachments",
            Err(format!("a {} carries no attachments", input.channel)),
        );
        return;
    }
    if input.attachments.len() > MAX_ATTACHMENTS {
        v.check::<()>(
            "attachments",
            Err(format!("at most {MAX_ATTACHMENTS} files")),
        );
    }
    let total: u64 = input.attachments.iter().map(|a| a.reference.size).sum();
    if total > MAX_ATTACHMENT_BYTES {
        v.check::<()>(
            "attachments",
            Err(format!(
                "{total} bytes in all; at most {MAX_ATTACHMENT_BYTES}"
            )),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, a) in input.attachments.iter().enumerate() {
        let id = a.reference.attachment_id;
        if !seen.insert(id) {
            v.check::<()>(
                &format!("attachments[{i}]"),
                Err(format!("{id} is given twice")),
            );
        } else if a.sealed_with != id && Some(a.sealed_with) != input.customer_id {
            v.check::<()>(
                &format!("attachments[{i}]"),
                Err(format!(
                    "{id} was uploaded for another customer; upload it for this message's customer, or for no one"
                )),
            );
        }
    }
}

/// Every field of a draft checked (all errors at once).
fn validate(input: DraftInput) -> Result<DraftInput, ValidationErrors> {
    let mut v = Validator::new();
    let channel = input.channel;
    check_attachments(&mut v, &input);
    let recipient = v.check("recipient", recipient(channel, &input.recipient));
    let subject = match (channel, input.subject) {
        (CommunicationType::Sms, Some(_)) => {
            v.check::<()>("subject", Err("an SMS has no subject".into()));
            None
        }
        (CommunicationType::Email, None) => {
            v.check::<()>("subject", Err("an email needs a subject".into()));
            None
        }
        (_, Some(s)) => v
            .check("subject", values::optional_text(Some(&s), 998))
            .map(|s| s.map(|s| s.replace(['\r', '\n'], " "))),
        (_, None) => Some(None),
    };
    let content = if input.content.trim().is_empty() {
        v.check::<()>("content", Err("must not be empty".into()));
        None
    } else if input.content.len() > MAX_CONTENT_BYTES {
        v.check::<()>(
            "content",
            Err(format!("must be at most {MAX_CONTENT_BYTES} bytes")),
        );
        None
    } else {
        Some(input.content)
    };
    let metadata = match input.metadata {
        Some(m) => v.check("metadata", values::free_json(&m)).map(Some),
        None => Some(None),
    };
    let mut tags = BTreeSet::new();
    for (i, tag) in input.tags.iter().enumerate() {
        if let Some(tag) = v.check(&format!("tags[{i}]"), values::tag(tag)) {
            tags.insert(tag);
        }
    }
    if tags.len() > values::MAX_TAGS {
        v.check::<()>("tags", Err(format!("at most {} tags", values::MAX_TAGS)));
    }
    if input.customer_id.is_some() && input.staff_user_id.is_some() {
        v.check::<()>(
            "staff_user_id",
            Err("a message goes to a customer or to a staff member, not both".into()),
        );
    }
    v.finish()?;
    Ok(DraftInput {
        recipient: recipient.unwrap_or_default(),
        subject: subject.flatten(),
        content: content.unwrap_or_default(),
        metadata: metadata.flatten(),
        tags: tags.into_iter().collect(),
        ..input
    })
}

impl Communication {
    fn status(&self) -> Result<CommunicationStatus, CommunicationError> {
        self.status.ok_or(CommunicationError::NotFound)
    }

    /// The events `command` produces against the current state.
    pub fn decide(
        &self,
        command: CommunicationCommand,
    ) -> Result<Vec<CommunicationEvent>, CommunicationError> {
        let CommunicationCommand {
            at,
            actor,
            consent,
            action,
        } = command;
        use CommunicationStatus as S;
        match action {
            CommunicationAction::Draft {
                tenant_id,
                communication_id,
                input,
                send,
            } => {
                if self.exists() {
                    return Err(CommunicationError::AlreadyExists);
                }
                let input = validate(*input)?;
                check_consent(input.purpose, &consent)?;
                if send && input.channel == CommunicationType::PushNotification {
                    return Err(CommunicationError::NotSendable(input.channel));
                }
                let channel = input.channel;
                let mut events = vec![
                    CommunicationDrafted {
                        tenant_id,
                        communication_id,
                        channel,
                        purpose: input.purpose,
                        customer_id: input.customer_id,
                        staff_user_id: input.staff_user_id,
                        sealed_with: input.customer_id.unwrap_or(communication_id),
                        recipient: input.recipient,
                        subject: input.subject,
                        content: input.content,
                        template: input.template,
                        variables: input.variables.map(Value::Object),
                        attachments: input.attachments.into_iter().map(|a| a.reference).collect(),
                        metadata: input.metadata.map(Value::Object),
                        unsubscribe_url: input.unsubscribe_url,
                        tags: input.tags,
                        links: input.links,
                        rule: input.rule,
                        created_by: actor,
                        created_at: at,
                    }
                    .into(),
                ];
                if send {
                    events.push(Self::sending(channel, actor, at));
                }
                Ok(events)
            }
            CommunicationAction::Send => match self.status()? {
                S::Draft => {
                    let channel = self.channel.ok_or(CommunicationError::NotFound)?;
                    if channel == CommunicationType::PushNotification {
                        return Err(CommunicationError::NotSendable(channel));
                    }
                    check_consent(
                        self.purpose.unwrap_or(MessagePurpose::Transactional),
                        &consent,
                    )?;
                    Ok(vec![Self::sending(channel, actor, at)])
                }
                S::Queued | S::Sent | S::Delivered | S::Read => Ok(vec![]),
                status => Err(CommunicationError::WrongStatus(status, "sent")),
            },
            CommunicationAction::Cancel { reason } => match self.status()? {
                S::Draft | S::Queued => {
                    let reason = values::optional_text(reason.as_deref(), values::MAX_SHORT_TEXT)
                        .map_err(|m| ValidationErrors::single("reason", m))?;
                    Ok(vec![
                        CommunicationCancelled {
                            reason,
                            cancelled_by: actor,
                            cancelled_at: at,
                        }
                        .into(),
                    ])
                }
                S::Cancelled => Ok(vec![]),
                status => Err(CommunicationError::WrongStatus(status, "cancelled")),
            },
            CommunicationAction::StartAttempt { message_id } => match self.status()? {
                S::Queued => Ok(vec![
                    CommunicationSendAttempted {
                        attempt: self.attempts + 1,
                        message_id,
                        attempted_at: at,
                    }
                    .into(),
                ]),
                status => Err(CommunicationError::WrongStatus(status, "attempted")),
            },
            CommunicationAction::AttemptFailed { reason, retry_at } => match self.status()? {
                S::Queued if self.attempts > 0 => Ok(vec![
                    CommunicationAttemptFailed {
                        attempt: self.attempts,
                        reason: cut(&reason),
                        retry_at,
                        failed_at: at,
                    }
                    .into(),
                ]),
                status => Err(CommunicationError::WrongStatus(status, "retried")),
            },
            CommunicationAction::MarkSent {
                provider_message_id,
            } => match self.status()? {
                S::Queued => Ok(vec![
                    CommunicationSent {
                        attempt: self.attempts,
                        provider_message_id,
                        sent_at: at,
                    }
                    .into(),
                ]),
                // A report (a fast callback) got there first.
                S::Sent | S::Delivered | S::Read | S::Failed => Ok(vec![]),
                status => Err(CommunicationError::WrongStatus(status, "marked sent")),
            },
            CommunicationAction::Fail { reason } => match self.status()? {
                S::Queued => Ok(vec![
                    CommunicationFailed {
                        reason: cut(&reason),
                        attempts: self.attempts,
                        provider_event_id: None,
                        failed_at: at,
                    }
                    .into(),
                ]),
                S::Failed => Ok(vec![]),
                status => Err(CommunicationError::WrongStatus(status, "failed")),
            },
            CommunicationAction::Report {
                outcome,
                provider_event_id,
            } => {
                let status = self.status()?;
                if provider_event_id
                    .as_ref()
                    .is_some_and(|id| self.seen_provider_events.contains(id))
                {
                    return Ok(vec![]);
                }
                // Only forward: QUEUED (a callback before our SENT) → …
                let (rank, event): (u8, CommunicationEvent) = match outcome {
                    Outcome::Delivered => (
                        3,
                        CommunicationDelivered {
                            provider_event_id,
                            delivered_at: at,
                        }
                        .into(),
                    ),
                    Outcome::Read => (
                        4,
                        CommunicationRead {
                            provider_event_id,
                            read_at: at,
                        }
                        .into(),
                    ),
                    Outcome::Failed { reason } => (
                        3,
                        CommunicationFailed {
                            reason: cut(&reason),
                            attempts: self.attempts,
                            provider_event_id,
                            failed_at: at,
                        }
                        .into(),
                    ),
                };
                let current = match status {
                    S::Queued => 1,
                    S::Sent => 2,
                    S::Delivered => 3,
                    S::Read => 4,
                    // Never sent, or already over.
                    S::Draft | S::Cancelled | S::Failed => return Ok(vec![]),
                };
                Ok(if rank > current { vec![event] } else { vec![] })
            }
        }
    }

    /// What sending a drafted message on `channel` records.
    fn sending(channel: CommunicationType, actor: Uuid, at: DateTime<Utc>) -> CommunicationEvent {
        if sent_by_sender(channel) {
            CommunicationQueued {
                queued_by: actor,
                queued_at: at,
            }
            .into()
        } else {
            CommunicationSent {
                attempt: 0,
                provider_message_id: None,
                sent_at: at,
            }
            .into()
        }
    }

    fn remember(&mut self, provider_event_id: Option<String>) {
        if let Some(id) = provider_event_id {
            if self.seen_provider_events.len() >= MAX_SEEN_EVENTS {
                let oldest = self.seen_provider_events.iter().next().cloned();
                if let Some(oldest) = oldest {
                    self.seen_provider_events.remove(&oldest);
                }
            }
            self.seen_provider_events.insert(id);
        }
    }
}

impl Aggregate for Communication {
    const TYPE: &'static str = event_schemas::communication::AGGREGATE_TYPE;
    type Command = CommunicationCommand;
    type Event = CommunicationEvent;
    type Error = CommunicationError;
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
        use CommunicationStatus as S;
        match event {
            CommunicationEvent::CommunicationDrafted(e) => {
                *self = Self {
                    tenant_id: Some(e.tenant_id),
                    id: Some(e.communication_id),
                    channel: Some(e.channel),
                    purpose: Some(e.purpose),
                    status: Some(S::Draft),
                    customer_id: e.customer_id,
                    staff_user_id: e.staff_user_id,
                    recipient: e.recipient,
                    subject: e.subject,
                    content: e.content,
                    attachments: e.attachments,
                    unsubscribe_url: e.unsubscribe_url,
                    links: e.links,
                    created_by: Some(e.created_by),
                    ..Self::default()
                }
            }
            CommunicationEvent::CommunicationQueued(_) => self.status = Some(S::Queued),
            CommunicationEvent::CommunicationCancelled(_) => self.status = Some(S::Cancelled),
            CommunicationEvent::CommunicationSendAttempted(e) => {
                self.attempts = e.attempt;
                self.message_id = Some(e.message_id);
            }
            CommunicationEvent::CommunicationAttemptFailed(_) => {}
            CommunicationEvent::CommunicationSent(e) => {
                self.status = Some(S::Sent);
                self.provider_message_id = e.provider_message_id;
            }
            CommunicationEvent::CommunicationDelivered(e) => {
                self.status = Some(S::Delivered);
                self.remember(e.provider_event_id);
            }
            CommunicationEvent::CommunicationRead(e) => {
                self.status = Some(S::Read);
                self.remember(e.provider_event_id);
            }
            CommunicationEvent::CommunicationFailed(e) => {
                self.status = Some(S::Failed);
                self.remember(e.provider_event_id);
            }
        }
    }
}
