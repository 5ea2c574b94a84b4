//! Events of a communication (the seed's Communication): one message to one
//! recipient on one channel, from its draft to its delivery.
//!
//! ```text
//! DRAFT ─send─▶ QUEUED ─sender─▶ SENT ─callback─▶ DELIVERED ─▶ READ
//!   │             │  ╰─(retries)─╯ ╰──────────────────────────▶ READ
//!   ╰─cancel─▶ CANCELLED ◀─cancel─╯        any unsent or sent ─▶ FAILED
//! ```
//!
//! Status only moves forward. Recipient, subject, content, variables,
//! metadata and failure reasons are personal data, sealed with the data key
//! named by `sealed_with`: the customer's (forgetting the customer erases
//! them), or, for a message to a staff member or a bare address, the
//! communication's own.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;
use crate::customer::SealedValue;
use crate::template::MessagePurpose;

/// The aggregate type name stored with every communication event.
pub const AGGREGATE_TYPE: &str = "Communication";

crate::common::wire_enum! {
    /// A channel (the seed's CommunicationType). EMAIL and SMS are sent by
    /// the sender; PHONE_CALL and LETTER are recorded, not sent.
    CommunicationType {
        Email => "EMAIL",
        Sms => "SMS",
        PushNotification => "PUSH_NOTIFICATION",
        InApp => "IN_APP",
        Letter => "LETTER",
        PhoneCall => "PHONE_CALL",
    }
}

crate::common::wire_enum! {
    /// Where a message is (the seed's CommunicationStatus, with QUEUED and
    /// CANCELLED added). Ordered: a status never moves back.
    CommunicationStatus {
        Draft => "DRAFT",
        Queued => "QUEUED",
        Sent => "SENT",
        Delivered => "DELIVERED",
        Read => "READ",
        Failed => "FAILED",
        Cancelled => "CANCELLED",
    }
}

crate::common::wire_enum! {
    /// How a customer's consent to messages on a channel was given (CASL).
    ConsentKind {
        Express => "EXPRESS",
        Implied => "IMPLIED",
    }
}

crate::common::wire_enum! {
    /// How a customer withdrew consent.
    UnsubscribeSource {
        /// The link in a marketing email (`GET /v1/unsubscribe/{token}`).
        Link => "LINK",
        /// The mail client's one-click `List-Unsubscribe-Post`.
        OneClick => "ONE_CLICK",
        /// Asked a person, who recorded it.
        Request => "REQUEST",
    }
}

/// The personal fields of each communication event: sealed when stored.
pub fn personal_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "CommunicationDrafted" => &[
            "recipient",
            "subject",
            "content",
            "variables",
            "metadata",
            "unsubscribe_url",
        ],
        "CommunicationAttemptFailed" | "CommunicationFailed" => &["reason"],
        _ => &[],
    }
}

/// Personal fields that read `[erased]` once the key is destroyed (the
/// others read `null`).
pub const ERASABLE_NAMES: &[&str] = &["recipient", "content", "reason"];

/// The schema of a personal field: the value in memory, sealed once stored.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum Personal<T> {
    Plain(T),
    Sealed(SealedValue),
}

/// The template version a message was rendered from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateRef {
    pub template_id: Uuid,
    pub template_version: u32,
}

/// A file sent with a message. The bytes and the file name are stored apart
/// from the events (the `attachments` table, by id and SHA-256), sealed with
/// the customer's key (or the file's own); uploaded with
/// `POST /v1/attachments`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct AttachmentRef {
    pub attachment_id: Uuid,
    /// SHA-256 of the plain bytes, hex.
    pub sha256: String,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
}

/// What a message is about, beside its recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationLinks {
    pub lead_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
    pub schedule_id: Option<Uuid>,
}

/// The automated rule and the event that made a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuleCause {
    pub rule_id: Uuid,
    pub cause_event_id: Uuid,
}

/// A message was written (DRAFT).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationDrafted {
    pub tenant_id: TenantId,
    pub communication_id: Uuid,
    pub channel: CommunicationType,
    pub purpose: MessagePurpose,
    /// The customer it goes to (or none: a staff member or a bare address).
    pub customer_id: Option<Uuid>,
    /// The staff member it goes to.
    pub staff_user_id: Option<Uuid>,
    /// The data key the personal fields are sealed with: the customer's id,
    /// else this communication's.
    pub sealed_with: Uuid,
    /// An email address or an E.164 phone number (or a postal address for a
    /// letter).
    #[schemars(with = "Personal<String>")]
    pub recipient: String,
    #[schemars(with = "Option<Personal<String>>")]
    pub subject: Option<String>,
    #[schemars(with = "Personal<String>")]
    pub content: String,
    pub template: Option<TemplateRef>,
    /// The variables the template was rendered with.
    #[schemars(with = "Option<Personal<serde_json::Value>>")]
    pub variables: Option<serde_json::Value>,
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
    #[schemars(with = "Option<Personal<serde_json::Value>>")]
    pub metadata: Option<serde_json::Value>,
    /// A marketing message's unsubscribe link (in its body and its
    /// `List-Unsubscribe` header).
    #[serde(default)]
    #[schemars(with = "Option<Personal<String>>")]
    pub unsubscribe_url: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub links: CommunicationLinks,
    pub rule: Option<RuleCause>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The message waits for the sender (QUEUED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationQueued {
    pub queued_by: Uuid,
    pub queued_at: DateTime<Utc>,
}

/// A draft or queued message was withdrawn before it was sent (CANCELLED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationCancelled {
    pub reason: Option<String>,
    pub cancelled_by: Uuid,
    pub cancelled_at: DateTime<Utc>,
}

/// The sender is about to hand the message to the provider: recorded
/// before it does, so a crash afterwards is visible and the next attempt
/// reuses the same `message_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationSendAttempted {
    /// 1, 2, …
    pub attempt: u32,
    /// The SMTP `Message-ID` (derived from the communication id: the same
    /// on every attempt), or the SMS provider's idempotency reference.
    pub message_id: String,
    pub attempted_at: DateTime<Utc>,
}

/// An attempt failed for a reason that may pass (a 4xx SMTP answer, an
/// HTTP 429 or 5xx, a timeout); the sender tries again at `retry_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationAttemptFailed {
    pub attempt: u32,
    /// The server's answer.
    #[schemars(with = "Personal<String>")]
    pub reason: String,
    pub retry_at: DateTime<Utc>,
    pub failed_at: DateTime<Utc>,
}

/// The provider accepted the message (SENT); for a phone call or a letter,
/// the message was recorded as made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationSent {
    /// 0 for a recorded phone call or letter.
    pub attempt: u32,
    /// The provider's id of the message (an SMS provider's message id; the
    /// SMTP `Message-ID`).
    pub provider_message_id: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// The provider reported the message delivered (DELIVERED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationDelivered {
    /// The provider's event id (callbacks are deduplicated by it).
    pub provider_event_id: Option<String>,
    pub delivered_at: DateTime<Utc>,
}

/// The recipient opened the message (READ): a provider's callback or the
/// open-tracking pixel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationRead {
    pub provider_event_id: Option<String>,
    pub read_at: DateTime<Utc>,
}

/// The message could not be delivered (FAILED): a permanent refusal, the
/// last retry used up, or a bounce reported by the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationFailed {
    #[schemars(with = "Personal<String>")]
    pub reason: String,
    /// The attempts made (0: failed before any).
    pub attempts: u32,
    pub provider_event_id: Option<String>,
    pub failed_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of a communication. (A draft is large and rare; the
    /// status events are small and many: boxing would cost every reader.)
    #[allow(clippy::large_enum_variant)]
    CommunicationEvent for AGGREGATE_TYPE {
        CommunicationDrafted("1.0", "A message was written (DRAFT): channel, purpose, recipient, subject, content, the template version and variables it was rendered from, attachments (by id and hash), what it is about. Recipient, subject, content, variables and metadata sealed with the customer's key (or the message's own)."),
        CommunicationQueued("1.0", "The message waits for the sender (QUEUED)."),
        CommunicationCancelled("1.0", "A draft or queued message was withdrawn before it was sent (CANCELLED)."),
        CommunicationSendAttempted("1.0", "The sender is about to hand the message to the SMTP server or SMS provider (attempt n, the Message-ID every attempt reuses)."),
        CommunicationAttemptFailed("1.0", "An attempt failed for a reason that may pass; the sender retries at retry_at (the server's answer sealed)."),
        CommunicationSent("1.0", "The provider accepted the message, or a phone call or letter was recorded as made (SENT)."),
        CommunicationDelivered("1.0", "The provider reported the message delivered (DELIVERED)."),
        CommunicationRead("1.0", "The recipient opened the message (READ)."),
        CommunicationFailed("1.0", "The message could not be delivered (FAILED), with the reason (sealed)."),
    }
}
