//! Events of outbound webhooks (the seed's Webhook and WebhookDelivery).
//!
//! A `Webhook` is a tenant's endpoint: a URL, the event types it subscribes
//! to, custom headers and a Standard Webhooks secret (`whsec_…`). The secret
//! and the headers are sealed with the webhook's own data key.
//!
//! A `WebhookDelivery` is one event (or a test ping) on its way to one
//! endpoint; its id is the `webhook-id` header of every attempt:
//!
//! ```text
//! Queued (PENDING) ─▶ AttemptStarted (SENT) ─▶ Succeeded (DELIVERED)
//!                          │  ╰─▶ AttemptFailed (RETRY) ─▶ AttemptStarted …
//!                          ╰───▶ Failed (FAILED: retries used up, or 410)
//! RetryRequested (manual, or a recovery) ─▶ PENDING again
//! ```
//!
//! Events of both aggregates are never delivered to webhooks (a feedback
//! loop): every type starts with `Webhook`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name of an endpoint's events.
pub const AGGREGATE_TYPE: &str = "Webhook";
/// The aggregate type name of a delivery's events.
pub const DELIVERY_AGGREGATE_TYPE: &str = "WebhookDelivery";
/// Event types starting with this are the webhook system's own: never
/// delivered to webhooks.
pub const OWN_EVENT_PREFIX: &str = "Webhook";
/// The event type of a test delivery (`POST /v1/webhooks/{id}/test`).
pub const TEST_EVENT_TYPE: &str = "WebhookTest";

/// The personal (secret) fields of each webhook event: sealed when stored.
pub fn personal_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "WebhookCreated" => &["secret", "headers"],
        "WebhookUpdated" => &["headers"],
        "WebhookSecretRotated" => &["secret"],
        _ => &[],
    }
}

crate::common::wire_enum! {
    /// Where a delivery is (the seed's DeliveryStatus).
    DeliveryStatus {
        /// Queued, waiting for the worker.
        Pending => "PENDING",
        /// The request was written; awaiting the answer.
        Sent => "SENT",
        /// Answered 2xx.
        Delivered => "DELIVERED",
        /// Failed; will be tried again.
        Retry => "RETRY",
        /// Gave up (retries used up, or the endpoint answered 410).
        Failed => "FAILED",
    }
}

crate::common::wire_enum! {
    /// Why an endpoint was disabled.
    DisableReason {
        /// An admin disabled it.
        Manual => "MANUAL",
        /// It answered 410 Gone.
        Gone => "GONE",
        /// Every delivery failed for the configured time (5 days).
        Failing => "FAILING",
    }
}

crate::common::wire_enum! {
    /// Why a delivery was queued again.
    RetryReason {
        /// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry`.
        Manual => "MANUAL",
        /// `POST /v1/webhooks/{id}/recover`: every failed delivery since an instant.
        Recovery => "RECOVERY",
    }
}

/// The schema of a sealed field: the value in memory, sealed once stored.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum Sealed<T> {
    Plain(T),
}

/// An endpoint was created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookCreated {
    pub tenant_id: TenantId,
    pub webhook_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `https://…` (plain http and private addresses only where the
    /// deployment allows them).
    pub url: String,
    /// Exact event types, prefixes ending in `*`, or `*`.
    pub event_types: Vec<String>,
    /// Sent with every delivery (sealed: they may hold credentials).
    #[schemars(with = "Sealed<BTreeMap<String, String>>")]
    pub headers: BTreeMap<String, String>,
    pub active: bool,
    /// The Standard Webhooks secret (`whsec_…`), sealed.
    #[schemars(with = "Sealed<String>")]
    pub secret: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// An endpoint's settings were edited: all of them as they now stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookUpdated {
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub event_types: Vec<String>,
    #[schemars(with = "Sealed<BTreeMap<String, String>>")]
    pub headers: BTreeMap<String, String>,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

/// A new secret signs from now on; the previous one also signs until
/// `previous_valid_until` (24 hours), as a second signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookSecretRotated {
    #[schemars(with = "Sealed<String>")]
    pub secret: String,
    pub previous_valid_until: DateTime<Utc>,
    pub rotated_by: Uuid,
    pub rotated_at: DateTime<Utc>,
}

/// The endpoint receives deliveries again (those waiting resume).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookEnabled {
    pub enabled_by: Uuid,
    pub enabled_at: DateTime<Utc>,
}

/// The endpoint receives nothing until enabled: no new deliveries are
/// queued, those waiting wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDisabled {
    pub reason: DisableReason,
    /// What made the worker disable it (the answer, how long it failed).
    pub detail: Option<String>,
    pub disabled_by: Uuid,
    pub disabled_at: DateTime<Utc>,
}

/// The endpoint was deleted: nothing more is delivered to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeleted {
    pub deleted_by: Uuid,
    pub deleted_at: DateTime<Utc>,
}

/// Every delivery to the endpoint that FAILED at or after `since` is to be
/// tried again (the worker queues each: `WebhookDeliveryRetryRequested`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookRecoveryRequested {
    pub since: DateTime<Utc>,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
}

crate::event_enum! {
    WebhookEvent for AGGREGATE_TYPE {
        WebhookCreated("1.0", "An outbound webhook endpoint was created: name, URL, subscribed event types (exact, `Prefix*` or `*`), custom headers and secret (both sealed with the webhook's own key), active or not."),
        WebhookUpdated("1.0", "An endpoint's settings were edited: name, description, URL, event types and headers (sealed), all of them as they now stand."),
        WebhookSecretRotated("1.0", "A new signing secret (sealed); the previous one keeps signing beside it until `previous_valid_until`."),
        WebhookEnabled("1.0", "The endpoint receives deliveries again."),
        WebhookDisabled("1.0", "The endpoint was disabled: by an admin, because it answered 410 Gone, or because every delivery failed for 5 days."),
        WebhookDeleted("1.0", "The endpoint was deleted."),
        WebhookRecoveryRequested("1.0", "Every delivery to the endpoint that failed since an instant is to be tried again."),
    }
}

/// An event (or a test ping) was queued for an endpoint (PENDING).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeliveryQueued {
    pub tenant_id: TenantId,
    /// Also the `webhook-id` of every attempt.
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    /// The event delivered (a test ping: the delivery's own id).
    pub event_id: Uuid,
    pub event_type: String,
    pub queued_at: DateTime<Utc>,
}

/// The worker is about to write the request (SENT): recorded before, so a
/// crash mid-delivery shows, and the next attempt carries the same
/// `webhook-id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeliveryAttemptStarted {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
}

/// What the endpoint answered to one attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct AttemptResult {
    pub attempt: u32,
    /// The HTTP status, if an answer came.
    pub status_code: Option<u16>,
    /// The first 4 KB of the answer's body.
    pub response_excerpt: String,
    pub duration_ms: u64,
    /// Why it failed (a timeout, a refused address, a status).
    pub error: Option<String>,
}

/// The endpoint answered 2xx (DELIVERED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeliverySucceeded {
    pub result: AttemptResult,
    pub delivered_at: DateTime<Utc>,
}

/// The attempt failed; the delivery is tried again at `retry_at` (RETRY).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeliveryAttemptFailed {
    pub result: AttemptResult,
    pub retry_at: DateTime<Utc>,
    pub failed_at: DateTime<Utc>,
}

/// The delivery gave up (FAILED): its retries are used up, or the endpoint
/// answered 410 Gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeliveryFailed {
    pub result: AttemptResult,
    pub failed_at: DateTime<Utc>,
}

/// The delivery is to be tried again (PENDING), from the start of the
/// retry schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeliveryRetryRequested {
    pub reason: RetryReason,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
}

crate::event_enum! {
    WebhookDeliveryEvent for DELIVERY_AGGREGATE_TYPE {
        WebhookDeliveryQueued("1.0", "An event (or a test ping) was queued for one endpoint (PENDING); the delivery id is the `webhook-id` of every attempt."),
        WebhookDeliveryAttemptStarted("1.0", "The worker is about to write an attempt's request (SENT)."),
        WebhookDeliverySucceeded("1.0", "The endpoint answered 2xx (DELIVERED): status, the answer's first 4 KB, duration."),
        WebhookDeliveryAttemptFailed("1.0", "An attempt failed (RETRY): status or error, the answer's first 4 KB, duration, and when it is tried again."),
        WebhookDeliveryFailed("1.0", "The delivery gave up (FAILED): retries used up, or 410 Gone."),
        WebhookDeliveryRetryRequested("1.0", "The delivery is to be tried again (PENDING): asked for it alone, or by a recovery of the endpoint's failed deliveries."),
    }
}
