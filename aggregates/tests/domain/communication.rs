//! Given/when/then tests of the `Communication` aggregate: drafts, the
//! marketing consent rule, the status machine (only forward), the sender's
//! attempts and deduplicated provider reports.

use aggregates::communication::{
    Attachment, Communication, CommunicationAction, CommunicationCommand, CommunicationError,
    DraftInput, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, Outcome,
};
use aggregates::customer::NoConsent;
use aggregates::{DomainError, ErrorKind};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::communication::{
    AttachmentRef, CommunicationEvent, CommunicationLinks, CommunicationStatus, CommunicationType,
};
use event_schemas::template::MessagePurpose;
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);
const ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_d001);
const CUSTOMER: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_e001);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn email(purpose: MessagePurpose) -> DraftInput {
    DraftInput {
        channel: CommunicationType::Email,
        purpose,
        customer_id: Some(CUSTOMER),
        staff_user_id: None,
        recipient: " Jane@Example.COM ".into(),
        subject: Some("Your move\r\nBcc: x@evil.example".into()),
        content: "<p>Hello</p>".into(),
        template: None,
        variables: None,
        attachments: vec![],
        metadata: None,
        unsubscribe_url: None,
        tags: vec!["Reminder".into()],
        links: CommunicationLinks::default(),
        rule: None,
    }
}

fn draft(input: DraftInput, send: bool) -> CommunicationAction {
    CommunicationAction::Draft {
        tenant_id: TenantId::parse("acme-movers").unwrap(),
        communication_id: ID,
        input: Box::new(input),
        send,
    }
}

fn run_with(
    history: &[CommunicationEvent],
    consent: Option<Result<(), NoConsent>>,
    action: CommunicationAction,
) -> Result<Vec<CommunicationEvent>, CommunicationError> {
    TestFramework::<Communication>::with(())
        .given(history.to_vec())
        .when(CommunicationCommand {
            at: at(),
            actor: ACTOR,
            consent,
            action,
        })
        .inspect_result()
}

fn run(
    history: &[CommunicationEvent],
    action: CommunicationAction,
) -> Result<Vec<CommunicationEvent>, CommunicationError> {
    run_with(history, None, action)
}

fn then(history: &[CommunicationEvent], action: CommunicationAction) -> Vec<CommunicationEvent> {
    let mut all = history.to_vec();
    all.extend(run(history, action).expect("accepted"));
    all
}

fn status_after(history: &[CommunicationEvent]) -> CommunicationStatus {
    use cqrs_es::Aggregate;
    let mut c = Communication::default();
    for e in history {
        c.apply(e.clone());
    }
    c.status.unwrap()
}

fn queued() -> Vec<CommunicationEvent> {
    run(&[], draft(email(MessagePurpose::Transactional), true)).unwrap()
}

fn report(outcome: Outcome, id: &str) -> CommunicationAction {
    CommunicationAction::Report {
        outcome,
        provider_event_id: Some(id.into()),
    }
}

#[test]
fn a_draft_is_normalized_sealed_with_the_customers_key_and_queued_when_sent() {
    let events = queued();
    let CommunicationEvent::CommunicationDrafted(d) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(d.recipient, "Jane@example.com");
    assert_eq!(d.subject.as_deref(), Some("Your move  Bcc: x@evil.example"));
    assert_eq!(d.sealed_with, CUSTOMER);
    assert_eq!(d.tags, vec!["reminder".to_owned()]);
    assert!(matches!(
        events[1],
        CommunicationEvent::CommunicationQueued(_)
    ));
    assert_eq!(status_after(&events), CommunicationStatus::Queued);

    // To a bare address: sealed with the message's own key.
    let mut bare = email(MessagePurpose::Transactional);
    bare.customer_id = None;
    let events = run(&[], draft(bare, false)).unwrap();
    let CommunicationEvent::CommunicationDrafted(d) = &events[0] else {
        panic!()
    };
    assert_eq!(d.sealed_with, ID);
    assert_eq!(events.len(), 1, "a draft only");
}

#[test]
fn every_invalid_field_of_a_draft_is_named() {
    let bad = DraftInput {
        channel: CommunicationType::Sms,
        recipient: "not a phone".into(),
        subject: Some("x".into()),
        content: " ".into(),
        tags: vec!["#!".into()],
        staff_user_id: Some(ACTOR),
        ..email(MessagePurpose::Transactional)
    };
    let error = run(&[], draft(bad, false)).unwrap_err();
    let ErrorKind::Invalid(errors) = error.kind() else {
        panic!("{error:?}")
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        vec![
            "recipient",
            "subject",
            "content",
            "tags[0]",
            "staff_user_id"
        ]
    );
}

/// A file of `size` bytes, sealed with `sealed_with`'s key (`None`: its own).
fn file(n: u128, size: u64, sealed_with: Option<Uuid>) -> Attachment {
    let id = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_f000 + n);
    Attachment {
        reference: AttachmentRef {
            attachment_id: id,
            sha256: format!("{n:064x}"),
            content_type: "application/pdf".into(),
            size,
        },
        sealed_with: sealed_with.unwrap_or(id),
    }
}

fn attachment_errors(input: DraftInput) -> Vec<String> {
    let error = run(&[], draft(input, false)).unwrap_err();
    let ErrorKind::Invalid(errors) = error.kind() else {
        panic!("{error:?}")
    };
    errors.fields().map(str::to_owned).collect()
}

#[test]
fn a_draft_records_its_files_by_reference_only_its_customers_or_no_ones() {
    let files = vec![file(1, 1_000, Some(CUSTOMER)), file(2, 2_000, None)];
    let events = then(
        &[],
        draft(
            DraftInput {
                attachments: files.clone(),
                ..email(MessagePurpose::Transactional)
            },
            false,
        ),
    );
    let CommunicationEvent::CommunicationDrafted(drafted) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        drafted.attachments,
        files
            .iter()
            .map(|f| f.reference.clone())
            .collect::<Vec<_>>()
    );
    // Another customer's file.
    let other = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_e002);
    assert_eq!(
        attachment_errors(DraftInput {
            attachments: vec![file(1, 10, None), file(2, 10, Some(other))],
            ..email(MessagePurpose::Transactional)
        }),
        vec!["attachments[1]"]
    );
    // A customer's file to a bare address.
    assert_eq!(
        attachment_errors(DraftInput {
            customer_id: None,
            attachments: vec![file(1, 10, Some(CUSTOMER))],
            ..email(MessagePurpose::Transactional)
        }),
        vec!["attachments[0]"]
    );
    // The same file twice.
    assert_eq!(
        attachment_errors(DraftInput {
            attachments: vec![file(1, 10, None), file(1, 10, None)],
            ..email(MessagePurpose::Transactional)
        }),
        vec!["attachments[1]"]
    );
    // Too many, too large together.
    let many = (0..=MAX_ATTACHMENTS as u128)
        .map(|n| file(n, 10, None))
        .collect();
    assert_eq!(
        attachment_errors(DraftInput {
            attachments: many,
            ..email(MessagePurpose::Transactional)
        }),
        vec!["attachments"]
    );
    let half = MAX_ATTACHMENT_BYTES / 2;
    assert_eq!(
        attachment_errors(DraftInput {
            attachments: vec![file(1, half, None), file(2, half + 1, None)],
            ..email(MessagePurpose::Transactional)
        }),
        vec!["attachments"]
    );
    then(
        &[],
        draft(
            DraftInput {
                attachments: vec![file(1, half, None), file(2, half, None)],
                ..email(MessagePurpose::Transactional)
            },
            false,
        ),
    );
    // Files go by email or letter, not SMS.
    assert_eq!(
        attachment_errors(DraftInput {
            channel: CommunicationType::Sms,
            recipient: "+15145550123".into(),
            subject: None,
            attachments: vec![file(1, 10, None)],
            ..email(MessagePurpose::Transactional)
        }),
        vec!["attachments"]
    );
    then(
        &[],
        draft(
            DraftInput {
                channel: CommunicationType::Letter,
                recipient: "1 Main St, Montreal".into(),
                attachments: vec![file(1, 10, None)],
                ..email(MessagePurpose::Transactional)
            },
            false,
        ),
    );
}

#[test]
fn marketing_needs_live_consent_when_written_and_when_sent_and_transactional_does_not() {
    for (consent, expected) in [
        (None, "marketing goes only to customers"),
        (Some(Err(NoConsent::Missing)), "none was recorded"),
        (Some(Err(NoConsent::Withdrawn)), "unsubscribed"),
        (Some(Err(NoConsent::Expired)), "lapsed"),
    ] {
        let error =
            run_with(&[], consent, draft(email(MessagePurpose::Marketing), true)).unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::Conflict {
                rule: "communication.no-consent"
            }
        );
        assert!(error.to_string().contains(expected), "{error}");
    }
    let drafted = run_with(
        &[],
        Some(Ok(())),
        draft(email(MessagePurpose::Marketing), false),
    )
    .unwrap();
    // Withdrawn between the draft and the send.
    let error = run_with(
        &drafted,
        Some(Err(NoConsent::Withdrawn)),
        CommunicationAction::Send,
    )
    .unwrap_err();
    assert!(matches!(error, CommunicationError::NoConsent(_)));
    assert!(run_with(&drafted, Some(Ok(())), CommunicationAction::Send).is_ok());
    // Transactional: no consent needed.
    assert!(run(&[], draft(email(MessagePurpose::Transactional), true)).is_ok());
}

#[test]
fn phone_calls_and_letters_are_recorded_as_made_and_push_has_no_provider() {
    let call = DraftInput {
        channel: CommunicationType::PhoneCall,
        recipient: "514 555 0123".into(),
        subject: None,
        content: "Confirmed the move date by phone.".into(),
        ..email(MessagePurpose::Transactional)
    };
    let events = run(&[], draft(call, true)).unwrap();
    assert!(matches!(&events[1], CommunicationEvent::CommunicationSent(s) if s.attempt == 0));
    let push = DraftInput {
        channel: CommunicationType::PushNotification,
        recipient: "device-1".into(),
        subject: None,
        ..email(MessagePurpose::Transactional)
    };
    assert!(matches!(
        run(&[], draft(push, true)),
        Err(CommunicationError::NotSendable(
            CommunicationType::PushNotification
        ))
    ));
}

#[test]
fn the_sender_records_each_attempt_before_and_its_outcome_after() {
    let history = queued();
    let history = then(
        &history,
        CommunicationAction::StartAttempt {
            message_id: "<m@x>".into(),
        },
    );
    let history = then(
        &history,
        CommunicationAction::AttemptFailed {
            reason: "451 try later".into(),
            retry_at: at() + Duration::seconds(30),
        },
    );
    let events = run(
        &history,
        CommunicationAction::StartAttempt {
            message_id: "<m@x>".into(),
        },
    )
    .unwrap();
    assert!(
        matches!(&events[0], CommunicationEvent::CommunicationSendAttempted(a) if a.attempt == 2 && a.message_id == "<m@x>")
    );
    let history: Vec<_> = history.into_iter().chain(events).collect();
    let sent = then(
        &history,
        CommunicationAction::MarkSent {
            provider_message_id: Some("<m@x>".into()),
        },
    );
    assert_eq!(status_after(&sent), CommunicationStatus::Sent);
    // No attempt on a sent message; marking it sent again records nothing.
    assert!(matches!(
        run(
            &sent,
            CommunicationAction::StartAttempt {
                message_id: "<m@x>".into()
            }
        ),
        Err(CommunicationError::WrongStatus(
            CommunicationStatus::Sent,
            _
        ))
    ));
    assert_eq!(
        run(
            &sent,
            CommunicationAction::MarkSent {
                provider_message_id: None
            }
        ),
        Ok(vec![])
    );
    // A retry without an attempt is a bug of the caller.
    assert!(
        run(
            &queued(),
            CommunicationAction::AttemptFailed {
                reason: "x".into(),
                retry_at: at()
            }
        )
        .is_err()
    );
}

#[test]
fn status_only_moves_forward_and_reports_are_deduplicated_by_event_id() {
    let history = then(
        &then(
            &queued(),
            CommunicationAction::StartAttempt {
                message_id: "<m@x>".into(),
            },
        ),
        CommunicationAction::MarkSent {
            provider_message_id: None,
        },
    );
    let delivered = then(&history, report(Outcome::Delivered, "e1"));
    assert_eq!(status_after(&delivered), CommunicationStatus::Delivered);
    // The same callback again: nothing.
    assert_eq!(
        run(&delivered, report(Outcome::Delivered, "e1")),
        Ok(vec![])
    );
    let read = then(&delivered, report(Outcome::Read, "e2"));
    assert_eq!(status_after(&read), CommunicationStatus::Read);
    // A late "delivered" after "read" changes nothing, nor a late bounce.
    assert_eq!(run(&read, report(Outcome::Delivered, "e3")), Ok(vec![]));
    assert_eq!(
        run(
            &read,
            report(
                Outcome::Failed {
                    reason: "bounce".into()
                },
                "e4"
            )
        ),
        Ok(vec![])
    );
    // Read straight after sent (a pixel before any delivery report).
    assert_eq!(
        status_after(&then(&history, report(Outcome::Read, "e5"))),
        CommunicationStatus::Read
    );
    // A bounce after sent fails the message.
    let bounced = then(
        &history,
        report(
            Outcome::Failed {
                reason: "550 no such user".into(),
            },
            "e6",
        ),
    );
    assert_eq!(status_after(&bounced), CommunicationStatus::Failed);
    // A report on a draft or a cancelled message: nothing.
    let draft_only = run(&[], draft(email(MessagePurpose::Transactional), false)).unwrap();
    assert_eq!(
        run(&draft_only, report(Outcome::Delivered, "e7")),
        Ok(vec![])
    );
}

#[test]
fn only_unsent_messages_are_cancelled_and_a_cancelled_one_is_never_sent() {
    let cancelled = then(&queued(), CommunicationAction::Cancel { reason: None });
    assert_eq!(status_after(&cancelled), CommunicationStatus::Cancelled);
    assert_eq!(
        run(&cancelled, CommunicationAction::Cancel { reason: None }),
        Ok(vec![])
    );
    assert!(matches!(
        run(&cancelled, CommunicationAction::Send),
        Err(CommunicationError::WrongStatus(
            CommunicationStatus::Cancelled,
            _
        ))
    ));
    assert!(matches!(
        run(
            &cancelled,
            CommunicationAction::StartAttempt {
                message_id: "<m@x>".into()
            }
        ),
        Err(CommunicationError::WrongStatus(..))
    ));
    let sent = then(
        &then(
            &queued(),
            CommunicationAction::StartAttempt {
                message_id: "<m@x>".into(),
            },
        ),
        CommunicationAction::MarkSent {
            provider_message_id: None,
        },
    );
    let error = run(&sent, CommunicationAction::Cancel { reason: None }).unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Conflict {
            rule: "communication.status"
        }
    );
    assert_eq!(
        run(&[], CommunicationAction::Send),
        Err(CommunicationError::NotFound)
    );
}

#[test]
fn a_permanent_failure_ends_a_queued_message_once() {
    let history = then(
        &queued(),
        CommunicationAction::StartAttempt {
            message_id: "<m@x>".into(),
        },
    );
    let failed = then(
        &history,
        CommunicationAction::Fail {
            reason: "550 5.1.1 mailbox unavailable".into(),
        },
    );
    let CommunicationEvent::CommunicationFailed(f) = failed.last().unwrap() else {
        panic!()
    };
    assert_eq!(f.attempts, 1);
    assert_eq!(status_after(&failed), CommunicationStatus::Failed);
    assert_eq!(
        run(
            &failed,
            CommunicationAction::Fail {
                reason: "again".into()
            }
        ),
        Ok(vec![])
    );
}
