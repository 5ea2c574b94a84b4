//! The `Webhook` and `WebhookDelivery` aggregates: settings, the secret's
//! overlap on rotation, enabling and disabling once, recovery bounds; a
//! delivery queued once, each attempt started before its result, results
//! only for the current attempt, retries only when not on its way.

use std::collections::BTreeMap;

use aggregates::webhook::{
    DeliveryAction, DeliveryCommand, DeliveryError, Webhook, WebhookAction, WebhookCommand,
    WebhookDelivery, WebhookError, WebhookSettings,
};
use aggregates::{DomainError, ErrorKind};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use event_schemas::TenantId;
use event_schemas::webhook::{
    AttemptResult, DeliveryStatus, DisableReason, RetryReason, WebhookDeliveryEvent, WebhookEvent,
};
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0xa1);
const ID: Uuid = Uuid::from_u128(0xb1);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-01-10T09:00:00Z")
        .unwrap()
        .to_utc()
}

fn settings() -> WebhookSettings {
    WebhookSettings {
        name: " Accounting ".into(),
        description: Some("  ".into()),
        url: "https://hooks.example.com/crm".into(),
        event_types: vec!["Invoice*".into(), "Invoice*".into(), "LeadCreated".into()],
        headers: BTreeMap::from([("X-Source".to_owned(), "crm".to_owned())]),
    }
}

fn webhook_after(events: &[WebhookEvent]) -> Webhook {
    let mut webhook = Webhook::default();
    for e in events {
        webhook.apply(e.clone());
    }
    webhook
}

fn decide(
    webhook: &Webhook,
    at: DateTime<Utc>,
    action: WebhookAction,
) -> Result<Vec<WebhookEvent>, WebhookError> {
    webhook.decide(WebhookCommand {
        at,
        actor: ACTOR,
        action,
    })
}

fn created() -> Vec<WebhookEvent> {
    decide(
        &Webhook::default(),
        at(),
        WebhookAction::Create {
            tenant_id: TenantId::parse("acme").unwrap(),
            webhook_id: ID,
            settings: settings(),
            secret: "whsec_old".into(),
            active: true,
        },
    )
    .unwrap()
}

#[test]
fn settings_are_normalized_and_an_unchanged_edit_records_nothing() {
    let events = created();
    let WebhookEvent::WebhookCreated(e) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(e.name, "Accounting");
    assert_eq!(e.description, None);
    assert_eq!(e.event_types, vec!["Invoice*", "LeadCreated"]);
    let webhook = webhook_after(&events);
    assert!(
        decide(&webhook, at(), WebhookAction::Update(settings()))
            .unwrap()
            .is_empty()
    );
    let error = decide(
        &webhook,
        at(),
        WebhookAction::Update(WebhookSettings {
            name: String::new(),
            event_types: vec![],
            ..settings()
        }),
    )
    .unwrap_err();
    let ErrorKind::Invalid(errors) = error.kind() else {
        panic!("{error:?}")
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        vec!["name", "event_types"]
    );
}

#[test]
fn a_rotated_secret_signs_beside_the_new_one_for_24_hours() {
    let mut events = created();
    let webhook = webhook_after(&events);
    assert_eq!(webhook.signing_secrets(at()), vec!["whsec_old"]);
    events.extend(
        decide(
            &webhook,
            at(),
            WebhookAction::RotateSecret {
                secret: "whsec_new".into(),
            },
        )
        .unwrap(),
    );
    let webhook = webhook_after(&events);
    assert_eq!(
        webhook.signing_secrets(at() + Duration::hours(23)),
        vec!["whsec_new", "whsec_old"]
    );
    assert_eq!(
        webhook.signing_secrets(at() + Duration::hours(24)),
        vec!["whsec_new"]
    );
}

#[test]
fn disabling_and_enabling_happen_once_and_deleted_webhooks_are_gone() {
    let mut events = created();
    let disable = WebhookAction::Disable {
        reason: DisableReason::Gone,
        detail: Some("410".into()),
    };
    events.extend(decide(&webhook_after(&events), at(), disable.clone()).unwrap());
    let webhook = webhook_after(&events);
    assert!(!webhook.active);
    assert_eq!(webhook.disabled_reason, Some(DisableReason::Gone));
    assert!(decide(&webhook, at(), disable).unwrap().is_empty());
    events.extend(decide(&webhook, at(), WebhookAction::Enable).unwrap());
    let webhook = webhook_after(&events);
    assert!(webhook.active);
    assert!(
        decide(&webhook, at(), WebhookAction::Enable)
            .unwrap()
            .is_empty()
    );
    // Recovery: not from the future, at most 30 days back.
    for since in [at() + Duration::seconds(1), at() - Duration::days(31)] {
        let error = decide(&webhook, at(), WebhookAction::Recover { since }).unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::Invalid(_)), "{error:?}");
    }
    decide(
        &webhook,
        at(),
        WebhookAction::Recover {
            since: at() - Duration::days(30),
        },
    )
    .unwrap();
    events.extend(decide(&webhook, at(), WebhookAction::Delete).unwrap());
    let webhook = webhook_after(&events);
    assert_eq!(
        decide(&webhook, at(), WebhookAction::Enable).unwrap_err(),
        WebhookError::NotFound
    );
}

fn deliver(
    delivery: &WebhookDelivery,
    action: DeliveryAction,
) -> Result<Vec<WebhookDeliveryEvent>, DeliveryError> {
    delivery.decide(DeliveryCommand {
        at: at(),
        actor: ACTOR,
        action,
    })
}

fn delivery_after(events: &[WebhookDeliveryEvent]) -> WebhookDelivery {
    let mut delivery = WebhookDelivery::default();
    for e in events {
        delivery.apply(e.clone());
    }
    delivery
}

fn result(attempt: u32) -> AttemptResult {
    AttemptResult {
        attempt,
        status_code: Some(500),
        response_excerpt: "oops".into(),
        duration_ms: 12,
        error: Some("HTTP 500".into()),
    }
}

#[test]
fn a_delivery_is_queued_once_attempted_in_order_and_retried_only_when_not_on_its_way() {
    let queue = DeliveryAction::Queue {
        tenant_id: TenantId::parse("acme").unwrap(),
        delivery_id: ID,
        webhook_id: Uuid::from_u128(2),
        event_id: Uuid::from_u128(3),
        event_type: "InvoiceIssued".into(),
    };
    let mut events = deliver(&WebhookDelivery::default(), queue.clone()).unwrap();
    assert!(deliver(&delivery_after(&events), queue).unwrap().is_empty());
    // No result before an attempt started.
    assert_eq!(
        deliver(&delivery_after(&events), DeliveryAction::Fail(result(1))).unwrap_err(),
        DeliveryError::WrongStatus(DeliveryStatus::Pending, "failed")
    );
    events.extend(deliver(&delivery_after(&events), DeliveryAction::StartAttempt).unwrap());
    let d = delivery_after(&events);
    assert_eq!((d.status, d.attempts), (Some(DeliveryStatus::Sent), 1));
    // A retry while on its way records nothing.
    assert!(
        deliver(
            &d,
            DeliveryAction::RequestRetry {
                reason: RetryReason::Manual
            }
        )
        .unwrap()
        .is_empty()
    );
    // A result for another attempt is refused.
    assert!(matches!(
        deliver(&d, DeliveryAction::Succeed(result(2))).unwrap_err(),
        DeliveryError::StaleAttempt {
            given: 2,
            current: 1
        }
    ));
    events.extend(
        deliver(
            &d,
            DeliveryAction::FailAttempt {
                result: result(1),
                retry_at: at() + Duration::seconds(5),
            },
        )
        .unwrap(),
    );
    // A crashed worker's SENT attempt is followed by the next one.
    events.extend(deliver(&delivery_after(&events), DeliveryAction::StartAttempt).unwrap());
    events.extend(deliver(&delivery_after(&events), DeliveryAction::StartAttempt).unwrap());
    let d = delivery_after(&events);
    assert_eq!((d.attempts, d.round_attempts), (3, 3));
    events.extend(deliver(&d, DeliveryAction::Fail(result(3))).unwrap());
    let d = delivery_after(&events);
    assert_eq!(d.status, Some(DeliveryStatus::Failed));
    assert_eq!(
        deliver(&d, DeliveryAction::StartAttempt).unwrap_err(),
        DeliveryError::WrongStatus(DeliveryStatus::Failed, "attempted")
    );
    // A recovery leaves a delivered one alone; a manual retry resends it.
    let mut delivered = events.clone();
    delivered.push(
        event_schemas::webhook::WebhookDeliverySucceeded {
            result: result(3),
            delivered_at: at(),
        }
        .into(),
    );
    let done = delivery_after(&delivered);
    assert!(
        deliver(
            &done,
            DeliveryAction::RequestRetry {
                reason: RetryReason::Recovery
            }
        )
        .unwrap()
        .is_empty()
    );
    assert_eq!(
        deliver(
            &done,
            DeliveryAction::RequestRetry {
                reason: RetryReason::Manual
            }
        )
        .unwrap()
        .len(),
        1
    );
    // Retried: pending, its schedule from the start, its count going on.
    events.extend(
        deliver(
            &d,
            DeliveryAction::RequestRetry {
                reason: RetryReason::Recovery,
            },
        )
        .unwrap(),
    );
    let d = delivery_after(&events);
    assert_eq!(
        (d.status, d.attempts, d.round_attempts),
        (Some(DeliveryStatus::Pending), 3, 0)
    );
}
