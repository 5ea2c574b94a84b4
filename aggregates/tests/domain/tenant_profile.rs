//! Given/when/then tests of the `TenantProfile` aggregate.

use aggregates::tenant_profile::{
    DEFAULT_JOB_DURATION_MINUTES, LocationInput, ProfileInput, TenantProfile, TenantProfileCommand,
    TenantProfileError, WorkingDayInput, default_working_hours, locale,
};
use aggregates::values::AddressInput;
use aggregates::{DomainError, ErrorKind};
use chrono::{DateTime, NaiveTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::tenant::{Location, TenantProfileChanged, TenantProfileEvent, Weekday};
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").unwrap()
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn input() -> ProfileInput {
    ProfileInput {
        company_name: "Acme Movers".into(),
        ..Default::default()
    }
}

fn command(profile: ProfileInput) -> TenantProfileCommand {
    TenantProfileCommand {
        at: at(),
        actor: ACTOR,
        tenant_id: tenant(),
        profile,
    }
}

fn run(
    history: &[TenantProfileEvent],
    profile: ProfileInput,
) -> Result<Vec<TenantProfileEvent>, TenantProfileError> {
    TestFramework::<TenantProfile>::with(())
        .given(history.to_vec())
        .when(command(profile))
        .inspect_result()
}

fn invalid_fields(result: Result<Vec<TenantProfileEvent>, TenantProfileError>) -> Vec<String> {
    let error = result.expect_err("the profile is invalid");
    match error.kind() {
        ErrorKind::Invalid(errors) => errors.0.iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn changed(events: &[TenantProfileEvent]) -> &TenantProfileChanged {
    match events {
        [TenantProfileEvent::TenantProfileChanged(e)] => e,
        other => panic!("expected one change, got {other:?}"),
    }
}

#[test]
fn a_new_profile_takes_the_defaults_for_what_it_leaves_out() {
    let events = run(&[], input()).unwrap();
    let e = changed(&events);
    assert_eq!(e.company_name, "Acme Movers");
    assert_eq!(e.time_zone, "America/Toronto");
    assert_eq!(e.locale, "en-CA");
    assert_eq!(e.working_hours, default_working_hours());
    assert_eq!(e.working_hours.len(), 5);
    assert_eq!(e.default_job_duration_minutes, DEFAULT_JOB_DURATION_MINUTES);
    assert_eq!(e.changed_fields, vec!["company_name"]);
    assert_eq!((e.changed_by, e.changed_at), (ACTOR, at()));
}

#[test]
fn an_unchanged_profile_records_nothing_and_a_change_names_its_fields() {
    let first = run(&[], input()).unwrap();
    assert_eq!(run(&first, input()).unwrap(), vec![]);
    let next = ProfileInput {
        time_zone: Some("America/Vancouver".into()),
        locale: Some("fr-ca".into()),
        locations: vec![LocationInput {
            location_id: "van-1".into(),
            name: "Vancouver".into(),
            address: None,
        }],
        ..input()
    };
    let events = run(&first, next).unwrap();
    let e = changed(&events);
    assert_eq!(e.time_zone, "America/Vancouver");
    assert_eq!(e.locale, "fr-CA", "normalized");
    assert_eq!(
        e.locations,
        vec![Location {
            location_id: "van-1".into(),
            name: "Vancouver".into(),
            address: None
        }]
    );
    assert_eq!(e.changed_fields, vec!["locations", "time_zone", "locale"]);
    // Folded: the profile answers with the new values.
    let mut profile = TenantProfile::default();
    for event in first.into_iter().chain(events) {
        profile.apply(event);
    }
    assert_eq!(profile.time_zone(), chrono_tz::America::Vancouver);
    assert_eq!(profile.location("van-1").unwrap().name, "Vancouver");
    assert!(profile.location("tor-1").is_none());
}

#[test]
fn working_hours_are_sorted_by_day_and_read_per_weekday() {
    let events = run(
        &[],
        ProfileInput {
            working_hours: Some(vec![
                WorkingDayInput {
                    day: Weekday::Saturday,
                    opens: time(9, 0),
                    closes: time(13, 0),
                },
                WorkingDayInput {
                    day: Weekday::Monday,
                    opens: time(7, 30),
                    closes: time(16, 0),
                },
            ]),
            default_job_duration_minutes: Some(180),
            ..input()
        },
    )
    .unwrap();
    let mut profile = TenantProfile::default();
    profile.apply(events[0].clone());
    let days: Vec<Weekday> = profile.working_hours().iter().map(|w| w.day).collect();
    assert_eq!(days, vec![Weekday::Monday, Weekday::Saturday]);
    assert_eq!(
        profile.hours_of(chrono::Weekday::Mon).map(|w| w.opens),
        Some(time(7, 30))
    );
    assert!(profile.hours_of(chrono::Weekday::Tue).is_none());
    assert_eq!(profile.default_job_duration_minutes(), 180);
}

#[test]
fn every_invalid_field_is_named_at_once() {
    let bad = ProfileInput {
        company_name: "  ".into(),
        address: Some(AddressInput {
            line1: "1 Main St".into(),
            line2: None,
            city: "Toronto".into(),
            province: Some("XX".into()),
            postal_code: "M5V 2T6".into(),
            country: None,
        }),
        locations: vec![
            LocationInput {
                location_id: "tor".into(),
                name: "Toronto".into(),
                address: None,
            },
            LocationInput {
                location_id: "tor".into(),
                name: "".into(),
                address: None,
            },
        ],
        time_zone: Some("Mars/Olympus".into()),
        locale: Some("english".into()),
        email_sender_name: Some("Acme <sales>".into()),
        email_sender_address: Some("not-an-email".into()),
        working_hours: Some(vec![
            WorkingDayInput {
                day: Weekday::Monday,
                opens: time(17, 0),
                closes: time(8, 0),
            },
            WorkingDayInput {
                day: Weekday::Tuesday,
                opens: time(8, 0),
                closes: time(17, 0),
            },
            WorkingDayInput {
                day: Weekday::Tuesday,
                opens: time(8, 0),
                closes: time(12, 0),
            },
        ]),
        default_job_duration_minutes: Some(5),
        email_open_tracking: None,
        report_retention_days: None,
    };
    assert_eq!(
        invalid_fields(run(&[], bad)),
        vec![
            "company_name",
            "address.province",
            "locations[1].location_id",
            "locations[1].name",
            "time_zone",
            "locale",
            "email_sender_name",
            "email_sender_address",
            "working_hours[0].closes",
            "working_hours[2].day",
            "default_job_duration_minutes",
        ]
    );
}

#[test]
fn another_tenants_profile_is_refused() {
    let first = run(&[], input()).unwrap();
    let other = TenantProfileCommand {
        tenant_id: TenantId::parse("other").unwrap(),
        ..command(input())
    };
    let result = TestFramework::<TenantProfile>::with(())
        .given(first)
        .when(other)
        .inspect_result();
    assert!(matches!(result, Err(TenantProfileError::WrongTenant(_))));
}

#[test]
fn locales_are_language_and_region_tags() {
    assert_eq!(locale("en").unwrap(), "en");
    assert_eq!(locale("EN_ca").unwrap(), "en-CA");
    assert_eq!(locale("es-419").unwrap(), "es-419");
    for bad in ["", "e", "english", "en-CAN", "en-CA-x", "en-4", "12"] {
        assert!(locale(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_profile_never_set_has_the_defaults() {
    let profile = TenantProfile::default();
    assert_eq!(profile.company_name(), None);
    assert_eq!(profile.time_zone(), chrono_tz::America::Toronto);
    assert_eq!(profile.locale(), "en-CA");
    assert_eq!(profile.working_hours(), default_working_hours());
    assert_eq!(
        profile.default_job_duration_minutes(),
        DEFAULT_JOB_DURATION_MINUTES
    );
    assert!(profile.locations().is_empty());
}
