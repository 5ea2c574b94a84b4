//! Given/when/then tests of the `StaffMember` aggregate.

use aggregates::staff::{
    StaffAction, StaffCommand, StaffError, StaffInput, StaffMember, StaffPatch,
};
use aggregates::{DomainError, ErrorKind, Patch};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::staff::{CrewRole, StaffMemberAdded, StaffMemberEvent, StaffMemberUpdated};
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);
const USER: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_b001);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").unwrap()
}

fn input() -> StaffInput {
    StaffInput {
        display_name: "Dana Driver".into(),
        crew_roles: vec![CrewRole::Mover, CrewRole::Driver, CrewRole::Mover],
        home_location_id: Some("tor-1".into()),
        phone: Some("416 555 0101".into()),
        email: Some("Dana@Example.COM".into()),
        active: true,
    }
}

fn command(action: StaffAction, known: &[&str]) -> StaffCommand {
    StaffCommand {
        at: at(),
        actor: ACTOR,
        known_locations: known.iter().map(|s| s.to_string()).collect(),
        action,
    }
}

fn add(input: StaffInput) -> StaffAction {
    StaffAction::Add {
        tenant_id: tenant(),
        user_id: USER,
        input,
    }
}

fn run(
    history: &[StaffMemberEvent],
    action: StaffAction,
    known: &[&str],
) -> Result<Vec<StaffMemberEvent>, StaffError> {
    TestFramework::<StaffMember>::with(())
        .given(history.to_vec())
        .when(command(action, known))
        .inspect_result()
}

fn added() -> Vec<StaffMemberEvent> {
    run(&[], add(input()), &["tor-1", "ott-1"]).unwrap()
}

fn fields(result: Result<Vec<StaffMemberEvent>, StaffError>) -> Vec<String> {
    let error = result.expect_err("invalid");
    match error.kind() {
        ErrorKind::Invalid(errors) => errors.0.iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn a_person_is_added_with_normalized_contact_details_and_roles() {
    assert_eq!(
        added(),
        vec![
            StaffMemberAdded {
                tenant_id: tenant(),
                user_id: USER,
                display_name: "Dana Driver".into(),
                crew_roles: vec![CrewRole::Driver, CrewRole::Mover],
                home_location_id: Some("tor-1".into()),
                phone: Some("+14165550101".into()),
                email: Some("Dana@example.com".into()),
                active: true,
                added_by: ACTOR,
                added_at: at(),
            }
            .into()
        ]
    );
}

#[test]
fn a_person_is_added_once() {
    let result = run(&added(), add(input()), &[]);
    assert_eq!(result, Err(StaffError::AlreadyExists(USER)));
    assert!(matches!(
        StaffError::AlreadyExists(USER).kind(),
        ErrorKind::Conflict {
            rule: "staff.already-exists"
        }
    ));
}

#[test]
fn a_change_keeps_what_it_leaves_out_and_names_what_changed() {
    let events = run(
        &added(),
        StaffAction::Update(StaffPatch {
            active: Some(false),
            phone: Patch::Clear,
            crew_roles: Some(vec![CrewRole::Foreman]),
            ..Default::default()
        }),
        &[],
    )
    .unwrap();
    assert_eq!(
        events,
        vec![
            StaffMemberUpdated {
                display_name: "Dana Driver".into(),
                crew_roles: vec![CrewRole::Foreman],
                home_location_id: Some("tor-1".into()),
                phone: None,
                email: Some("Dana@example.com".into()),
                active: false,
                changed_fields: vec!["crew_roles".into(), "phone".into(), "active".into()],
                changed_by: ACTOR,
                changed_at: at(),
            }
            .into()
        ]
    );
    let mut member = StaffMember::default();
    for event in added().into_iter().chain(events) {
        member.apply(event);
    }
    assert!(!member.schedulable(), "inactive staff cannot be scheduled");
    assert!(member.has_role(CrewRole::Foreman));
    assert!(!member.has_role(CrewRole::Driver));
}

#[test]
fn an_unchanged_entry_records_nothing() {
    let same = StaffPatch {
        display_name: Some("Dana Driver".into()),
        active: Some(true),
        ..Default::default()
    };
    assert_eq!(
        run(&added(), StaffAction::Update(same), &[]).unwrap(),
        vec![]
    );
}

#[test]
fn a_change_of_someone_not_in_the_directory_is_not_found() {
    let result = run(&[], StaffAction::Update(StaffPatch::default()), &[]);
    assert_eq!(result, Err(StaffError::NotFound));
}

#[test]
fn the_home_location_must_be_one_of_the_profiles_when_it_lists_any() {
    let elsewhere = StaffInput {
        home_location_id: Some("mtl-1".into()),
        ..input()
    };
    assert_eq!(
        fields(run(&[], add(elsewhere.clone()), &["tor-1"])),
        vec!["home_location_id"]
    );
    // A tenant whose profile lists no branch accepts any location id.
    assert!(run(&[], add(elsewhere), &[]).is_ok());
}

#[test]
fn every_invalid_field_is_named_at_once() {
    let bad = StaffInput {
        display_name: " ".into(),
        crew_roles: vec![],
        home_location_id: Some("no spaces allowed".into()),
        phone: Some("12".into()),
        email: Some("nope".into()),
        active: true,
    };
    assert_eq!(
        fields(run(&[], add(bad), &[])),
        vec!["display_name", "home_location_id", "phone", "email"]
    );
}
