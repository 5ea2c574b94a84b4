//! Given/when/then tests of the `Schedule` aggregate: every command and
//! every rejection.

use std::collections::HashMap;

use aggregates::schedule::{
    CrewFact, Schedule, ScheduleAction, ScheduleCommand, ScheduleError, ScheduleFacts,
    ScheduleInput, SchedulePatch,
};
use aggregates::{DomainError, ErrorKind, Patch};
use chrono::{DateTime, FixedOffset, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::schedule::{
    CrewMember, CrewMemberResponded, CrewResponse, ScheduleCancelled, ScheduleCompleted,
    ScheduleCrewChanged, ScheduleDetailsUpdated, ScheduleEquipmentChanged, ScheduleEvent,
    ScheduleLink, SchedulePriority, ScheduleRescheduled, ScheduleStarted, ScheduleStatus,
    ScheduleType,
};
use event_schemas::staff::CrewRole;
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0xa001);
const ID: Uuid = Uuid::from_u128(0x5001);
const DANA: Uuid = Uuid::from_u128(0xd001);
const SAM: Uuid = Uuid::from_u128(0xd002);
const LEE: Uuid = Uuid::from_u128(0xd003);
const TRUCK: Uuid = Uuid::from_u128(0xe001);
const DOLLY: Uuid = Uuid::from_u128(0xe002);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-05-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn facts() -> ScheduleFacts {
    let fact = |active, roles: &[CrewRole]| CrewFact {
        active,
        roles: roles.to_vec(),
    };
    ScheduleFacts {
        staff: HashMap::from([
            (DANA, fact(true, &[CrewRole::Driver, CrewRole::Mover])),
            (SAM, fact(true, &[CrewRole::Foreman])),
            (LEE, fact(false, &[CrewRole::Mover])),
        ]),
        locations: vec!["tor-1".into(), "ott-1".into()],
    }
}

fn input() -> ScheduleInput {
    ScheduleInput {
        location_id: "tor-1".into(),
        title: "Smith move".into(),
        description: None,
        schedule_type: ScheduleType::Journey,
        priority: SchedulePriority::Normal,
        starts_at: t("2027-05-10T08:00:00-04:00"),
        ends_at: t("2027-05-10T12:00:00-04:00"),
        crew: vec![(DANA, CrewRole::Driver), (SAM, CrewRole::Foreman)],
        equipment_ids: vec![DOLLY],
        vehicle_ids: vec![TRUCK],
        link: ScheduleLink::default(),
    }
}

fn create(input: ScheduleInput) -> ScheduleAction {
    ScheduleAction::Create {
        tenant_id: TenantId::parse("acme").unwrap(),
        schedule_id: ID,
        input,
        cause: None,
    }
}

fn run(
    history: &[ScheduleEvent],
    action: ScheduleAction,
) -> Result<Vec<ScheduleEvent>, ScheduleError> {
    TestFramework::<Schedule>::with(())
        .given(history.to_vec())
        .when(ScheduleCommand {
            at: at(),
            actor: ACTOR,
            facts: facts(),
            action,
        })
        .inspect_result()
}

fn created() -> Vec<ScheduleEvent> {
    run(&[], create(input())).unwrap()
}

fn then(events: Vec<ScheduleEvent>, more: Vec<ScheduleEvent>) -> Vec<ScheduleEvent> {
    events.into_iter().chain(more).collect()
}

fn fold(events: &[ScheduleEvent]) -> Schedule {
    let mut s = Schedule::default();
    for e in events {
        s.apply(e.clone());
    }
    s
}

fn fields(result: Result<Vec<ScheduleEvent>, ScheduleError>) -> Vec<String> {
    match result.expect_err("invalid").kind() {
        ErrorKind::Invalid(errors) => errors.0.iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn a_schedule_is_created_scheduled_with_its_crew_invited() {
    let events = created();
    let [ScheduleEvent::ScheduleCreated(e)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        e.crew,
        vec![
            CrewMember {
                user_id: DANA,
                role: CrewRole::Driver,
                response: CrewResponse::Invited
            },
            CrewMember {
                user_id: SAM,
                role: CrewRole::Foreman,
                response: CrewResponse::Invited
            },
        ]
    );
    assert_eq!(
        e.starts_at.offset().local_minus_utc(),
        -4 * 3600,
        "the offset is kept"
    );
    assert_eq!(
        (e.equipment_ids.clone(), e.vehicle_ids.clone()),
        (vec![DOLLY], vec![TRUCK])
    );
    let s = fold(&events);
    assert_eq!(s.status, Some(ScheduleStatus::Scheduled));
    assert_eq!(s.equipment(), vec![DOLLY, TRUCK]);
    assert!(s.on_crew(SAM) && !s.on_crew(LEE));
    assert_eq!(
        run(&events, create(input())),
        Err(ScheduleError::AlreadyExists)
    );
}

#[test]
fn a_bad_schedule_names_every_field() {
    let bad = ScheduleInput {
        location_id: "mtl-1".into(),
        title: " ".into(),
        ends_at: t("2027-05-10T07:00:00-04:00"),
        crew: vec![
            (DANA, CrewRole::Foreman),
            (LEE, CrewRole::Mover),
            (Uuid::from_u128(0xdead), CrewRole::Mover),
            (DANA, CrewRole::Driver),
        ],
        equipment_ids: vec![DOLLY, DOLLY],
        ..input()
    };
    assert_eq!(
        fields(run(&[], create(bad))),
        vec![
            "location_id",
            "title",
            "ends_at",
            "crew[0].role",
            "crew[1].user_id",
            "crew[2].user_id",
            "crew[3].user_id",
            "equipment_ids[1]",
        ]
    );
    let too_long = ScheduleInput {
        ends_at: t("2027-06-30T08:00:00-04:00"),
        ..input()
    };
    assert_eq!(fields(run(&[], create(too_long))), vec!["ends_at"]);
}

#[test]
fn a_change_records_details_crew_and_equipment_apart_and_keeps_answers() {
    let history = then(
        created(),
        vec![
            CrewMemberResponded {
                user_id: DANA,
                response: CrewResponse::Accepted,
                responded_at: at(),
            }
            .into(),
        ],
    );
    let events = run(
        &history,
        ScheduleAction::Update(SchedulePatch {
            title: Some("Smith move (2 trucks)".into()),
            priority: Some(SchedulePriority::High),
            crew: Some(vec![(DANA, CrewRole::Mover), (SAM, CrewRole::Foreman)]),
            vehicle_ids: Some(vec![]),
            ..Default::default()
        }),
    )
    .unwrap();
    assert_eq!(events.len(), 3);
    let ScheduleEvent::ScheduleDetailsUpdated(ScheduleDetailsUpdated { changed_fields, .. }) =
        &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        changed_fields,
        &vec!["title".to_owned(), "priority".to_owned()]
    );
    let ScheduleEvent::ScheduleCrewChanged(ScheduleCrewChanged { crew, .. }) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(
        crew[0].response,
        CrewResponse::Accepted,
        "Dana's answer stays"
    );
    assert_eq!(crew[0].role, CrewRole::Mover);
    let ScheduleEvent::ScheduleEquipmentChanged(ScheduleEquipmentChanged {
        vehicle_ids,
        equipment_ids,
        ..
    }) = &events[2]
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (equipment_ids.clone(), vehicle_ids.clone()),
        (vec![DOLLY], vec![])
    );
    // Nothing changed: nothing recorded.
    assert_eq!(
        run(
            &created(),
            ScheduleAction::Update(SchedulePatch {
                title: Some("Smith move".into()),
                description: Patch::Clear,
                ..Default::default()
            })
        ),
        Ok(vec![])
    );
}

#[test]
fn rescheduling_records_the_old_and_new_times_and_stays_scheduled() {
    let events = run(
        &created(),
        ScheduleAction::Reschedule {
            starts_at: t("2027-05-11T13:00:00Z"),
            ends_at: t("2027-05-11T17:00:00Z"),
            reason: Some("customer asked".into()),
        },
    )
    .unwrap();
    assert_eq!(
        events,
        vec![
            ScheduleRescheduled {
                previous_starts_at: t("2027-05-10T08:00:00-04:00"),
                previous_ends_at: t("2027-05-10T12:00:00-04:00"),
                starts_at: t("2027-05-11T13:00:00Z"),
                ends_at: t("2027-05-11T17:00:00Z"),
                reason: Some("customer asked".into()),
                rescheduled_by: ACTOR,
                rescheduled_at: at(),
            }
            .into()
        ]
    );
    let s = fold(&then(created(), events));
    assert_eq!(s.status, Some(ScheduleStatus::Scheduled));
    assert_eq!(s.period().unwrap().0, t("2027-05-11T13:00:00Z"));
    // The same times again: nothing.
    assert_eq!(
        run(
            &created(),
            ScheduleAction::Reschedule {
                starts_at: t("2027-05-10T12:00:00Z"),
                ends_at: t("2027-05-10T16:00:00Z"),
                reason: None
            }
        ),
        Ok(vec![]),
        "the same instants in another offset are the same times"
    );
}

#[test]
fn the_status_moves_scheduled_in_progress_completed_or_cancelled() {
    let started = then(created(), run(&created(), ScheduleAction::Start).unwrap());
    assert!(matches!(
        started.last(),
        Some(ScheduleEvent::ScheduleStarted(ScheduleStarted { .. }))
    ));
    let completed = run(
        &started,
        ScheduleAction::Complete {
            notes: Some("ok".into()),
        },
    )
    .unwrap();
    assert!(matches!(
        completed.as_slice(),
        [ScheduleEvent::ScheduleCompleted(ScheduleCompleted { .. })]
    ));
    let done = then(started.clone(), completed);
    assert_eq!(fold(&done).status, Some(ScheduleStatus::Completed));
    let cancelled = run(
        &created(),
        ScheduleAction::Cancel {
            reason: "rain".into(),
        },
    )
    .unwrap();
    assert!(matches!(
        cancelled.as_slice(),
        [ScheduleEvent::ScheduleCancelled(ScheduleCancelled { .. })]
    ));

    let illegal = |history: &[ScheduleEvent], action| match run(history, action) {
        Err(e @ ScheduleError::IllegalTransition { .. }) => {
            assert!(matches!(
                e.kind(),
                ErrorKind::Conflict {
                    rule: "schedule.illegal-transition"
                }
            ));
        }
        other => panic!("expected an illegal transition, got {other:?}"),
    };
    illegal(&created(), ScheduleAction::Complete { notes: None });
    illegal(&started, ScheduleAction::Start);
    illegal(
        &started,
        ScheduleAction::Reschedule {
            starts_at: t("2027-05-12T08:00:00Z"),
            ends_at: t("2027-05-12T09:00:00Z"),
            reason: None,
        },
    );
    illegal(
        &done,
        ScheduleAction::Cancel {
            reason: "late".into(),
        },
    );
    illegal(&done, ScheduleAction::Update(SchedulePatch::default()));
    assert_eq!(
        fields(run(
            &created(),
            ScheduleAction::Cancel { reason: "".into() }
        )),
        vec!["reason"]
    );
    assert_eq!(
        run(&[], ScheduleAction::Start),
        Err(ScheduleError::NotFound)
    );
}

#[test]
fn crew_members_accept_or_decline_their_own_slot() {
    let declined = run(
        &created(),
        ScheduleAction::Respond {
            user_id: SAM,
            response: CrewResponse::Declined,
        },
    )
    .unwrap();
    assert_eq!(
        declined,
        vec![
            CrewMemberResponded {
                user_id: SAM,
                response: CrewResponse::Declined,
                responded_at: at()
            }
            .into()
        ]
    );
    let s = fold(&then(created(), declined.clone()));
    assert!(!s.crew()[1].holds_slot());
    // The same answer again: nothing.
    assert_eq!(
        run(
            &then(created(), declined),
            ScheduleAction::Respond {
                user_id: SAM,
                response: CrewResponse::Declined
            }
        ),
        Ok(vec![])
    );
    assert_eq!(
        run(
            &created(),
            ScheduleAction::Respond {
                user_id: LEE,
                response: CrewResponse::Accepted
            }
        ),
        Err(ScheduleError::NotOnCrew(LEE))
    );
    assert_eq!(
        fields(run(
            &created(),
            ScheduleAction::Respond {
                user_id: DANA,
                response: CrewResponse::Invited
            }
        )),
        vec!["response"]
    );
}

#[test]
fn a_journey_is_planned_at_the_start_of_the_move_days_working_hours() {
    use aggregates::schedule::journey_plan;
    use aggregates::tenant_profile::{
        ProfileInput, TenantProfile, TenantProfileCommand, WorkingDayInput,
    };
    use chrono::{NaiveDate, NaiveTime};
    use event_schemas::tenant::Weekday;
    let default = TenantProfile::default();
    // A Monday in May (EDT): 08:00–12:00 local, the default 4 hours.
    let monday = NaiveDate::from_ymd_opt(2027, 5, 10).unwrap();
    let (start, end) = journey_plan(&default, Some(monday)).unwrap();
    assert_eq!(start.to_rfc3339(), "2027-05-10T08:00:00-04:00");
    assert_eq!(end.to_rfc3339(), "2027-05-10T12:00:00-04:00");
    assert_eq!(journey_plan(&default, None), None, "no move date, no plan");
    // A tenant in Vancouver working Saturdays from 09:30, 3-hour jobs.
    let events = TestFramework::<TenantProfile>::with(())
        .given_no_previous_events()
        .when(TenantProfileCommand {
            at: at(),
            actor: ACTOR,
            tenant_id: TenantId::parse("acme").unwrap(),
            profile: ProfileInput {
                company_name: "Acme".into(),
                time_zone: Some("America/Vancouver".into()),
                working_hours: Some(vec![
                    WorkingDayInput {
                        day: Weekday::Tuesday,
                        opens: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
                        closes: NaiveTime::from_hms_opt(15, 0, 0).unwrap(),
                    },
                    WorkingDayInput {
                        day: Weekday::Saturday,
                        opens: NaiveTime::from_hms_opt(9, 30, 0).unwrap(),
                        closes: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
                    },
                ]),
                default_job_duration_minutes: Some(180),
                ..Default::default()
            },
        })
        .inspect_result()
        .unwrap();
    let mut profile = TenantProfile::default();
    for e in events {
        profile.apply(e);
    }
    // Saturday 2027-01-09 (PST): 09:30–12:30 local.
    let (start, end) = journey_plan(&profile, NaiveDate::from_ymd_opt(2027, 1, 9)).unwrap();
    assert_eq!(start.to_rfc3339(), "2027-01-09T09:30:00-08:00");
    assert_eq!(end.to_rfc3339(), "2027-01-09T12:30:00-08:00");
    // A Sunday (a day off): the earliest start of the week, 07:00.
    let (start, _) = journey_plan(&profile, NaiveDate::from_ymd_opt(2027, 1, 10)).unwrap();
    assert_eq!(start.to_rfc3339(), "2027-01-10T07:00:00-08:00");
}
