//! The `Integration` and `IntegrationSync` aggregates: settings checked,
//! keys accepted only while live and the integration active (a rotation
//! revokes the old key in the same commit), the sync log's order.

use std::collections::BTreeMap;

use aggregates::integration::{
    Integration, IntegrationAction, IntegrationCommand, IntegrationError, IntegrationSettings,
    IntegrationSync, MAX_KEYS, SyncAction, SyncCommand, SyncError,
};
use aggregates::{DomainError, ErrorKind};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use event_schemas::TenantId;
use event_schemas::integration::{
    IntegrationEvent, IntegrationSyncEvent, IntegrationType, RecordFailure, SyncSource, SyncStatus,
    SyncType,
};
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0xa1);
const ID: Uuid = Uuid::from_u128(0xc1);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-02-01T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn settings() -> IntegrationSettings {
    IntegrationSettings {
        name: " Website ".into(),
        description: None,
        version: Some("2".into()),
        config: BTreeMap::from([("form".to_owned(), "quote".to_owned())]),
        secrets: BTreeMap::from([("token".to_owned(), "s".to_owned())]),
        lead_source: None,
        sync_interval_minutes: None,
        auto_sync: false,
    }
}

fn after(events: &[IntegrationEvent]) -> Integration {
    let mut integration = Integration::default();
    for e in events {
        integration.apply(e.clone());
    }
    integration
}

fn decide(
    i: &Integration,
    action: IntegrationAction,
) -> Result<Vec<IntegrationEvent>, IntegrationError> {
    i.decide(IntegrationCommand {
        at: at(),
        actor: ACTOR,
        action,
    })
}

fn created() -> Vec<IntegrationEvent> {
    decide(
        &Integration::default(),
        IntegrationAction::Create {
            tenant_id: TenantId::parse("acme").unwrap(),
            integration_id: ID,
            integration_type: IntegrationType::Custom,
            settings: settings(),
        },
    )
    .unwrap()
}

fn issue(
    i: &Integration,
    key: u128,
    replaces: Option<Uuid>,
) -> Result<Vec<IntegrationEvent>, IntegrationError> {
    decide(
        i,
        IntegrationAction::IssueKey {
            key_id: Uuid::from_u128(key),
            digest: format!("{key:064x}"),
            hint: "abcd".into(),
            replaces,
        },
    )
}

#[test]
fn settings_are_checked_and_the_lead_source_defaults_to_the_name() {
    let events = created();
    let IntegrationEvent::IntegrationCreated(e) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (e.name.as_str(), e.lead_source.as_str()),
        ("Website", "Website")
    );
    let bad = IntegrationSettings {
        name: "".into(),
        config: BTreeMap::from([
            ("token".to_owned(), "x".to_owned()),
            ("bad key!".to_owned(), "x".to_owned()),
        ]),
        sync_interval_minutes: Some(1),
        ..settings()
    };
    let error = decide(&after(&events), IntegrationAction::Update(bad)).unwrap_err();
    let ErrorKind::Invalid(errors) = error.kind() else {
        panic!("{error:?}")
    };
    let fields: Vec<&str> = errors.fields().collect();
    for field in [
        "name",
        "config.bad key!",
        "config.token",
        "sync_interval_minutes",
    ] {
        assert!(fields.contains(&field), "{fields:?}");
    }
}

#[test]
fn keys_are_accepted_while_live_and_the_integration_active() {
    let mut events = created();
    events.extend(issue(&after(&events), 1, None).unwrap());
    let i = after(&events);
    let digest = format!("{:064x}", 1);
    assert!(i.accepts_key(Uuid::from_u128(1), &digest));
    assert!(!i.accepts_key(Uuid::from_u128(1), &format!("{:064x}", 2)));
    assert!(!i.accepts_key(Uuid::from_u128(2), &digest));
    // Rotation: the old key revoked in the same commit as the new one.
    let rotated = issue(&i, 2, Some(Uuid::from_u128(1))).unwrap();
    assert_eq!(rotated.len(), 2);
    events.extend(rotated);
    let i = after(&events);
    assert!(!i.accepts_key(Uuid::from_u128(1), &digest));
    assert!(i.accepts_key(Uuid::from_u128(2), &format!("{:064x}", 2)));
    assert_eq!(
        issue(&i, 3, Some(Uuid::from_u128(1))).unwrap_err(),
        IntegrationError::NoSuchKey
    );
    // Disabled: no key works.
    events.extend(decide(&i, IntegrationAction::Disable).unwrap());
    let i = after(&events);
    assert!(!i.accepts_key(Uuid::from_u128(2), &format!("{:064x}", 2)));
    assert!(decide(&i, IntegrationAction::Disable).unwrap().is_empty());
    // At most MAX_KEYS live keys.
    let mut events = created();
    for n in 0..MAX_KEYS as u128 {
        events.extend(issue(&after(&events), 10 + n, None).unwrap());
    }
    assert_eq!(
        issue(&after(&events), 99, None).unwrap_err(),
        IntegrationError::TooManyKeys
    );
}

#[test]
fn a_sync_is_queued_started_processed_and_finished_in_order() {
    let sync = |events: &[IntegrationSyncEvent]| {
        let mut s = IntegrationSync::default();
        for e in events {
            s.apply(e.clone());
        }
        s
    };
    let run = |s: &IntegrationSync, action| s.decide(SyncCommand { at: at(), action });
    let mut events = run(
        &IntegrationSync::default(),
        SyncAction::Queue {
            tenant_id: TenantId::parse("acme").unwrap(),
            sync_id: ID,
            integration_id: Uuid::from_u128(7),
            sync_type: SyncType::Manual,
            source: SyncSource::CsvImport,
            reference: Some("import-1".into()),
        },
    )
    .unwrap();
    let process = SyncAction::Process {
        processed: 3,
        created: 1,
        updated: 1,
        failures: vec![RecordFailure {
            record: "3".into(),
            field: Some("email".into()),
            reason: "not an email".into(),
        }],
        total: Some(3),
    };
    assert_eq!(
        run(&sync(&events), process.clone()).unwrap_err(),
        SyncError::WrongStatus(SyncStatus::Pending, "processed")
    );
    events.extend(run(&sync(&events), SyncAction::Start).unwrap());
    let processed = run(&sync(&events), process).unwrap();
    let IntegrationSyncEvent::IntegrationSyncRecordsProcessed(p) = &processed[0] else {
        panic!("{processed:?}")
    };
    assert_eq!((p.processed, p.failed), (3, 1));
    events.extend(processed);
    events.extend(run(&sync(&events), SyncAction::Complete { result: None }).unwrap());
    let s = sync(&events);
    assert_eq!((s.status, s.processed), (Some(SyncStatus::Completed), 3));
    assert!(matches!(
        run(&s, SyncAction::Fail { error: "x".into() }).unwrap_err(),
        SyncError::WrongStatus(SyncStatus::Completed, "failed")
    ));
}
