//! Given/when/then tests of the `EquipmentAssignment` aggregate, and the
//! property of the no-overlap rule ([`overlaps`] and [`Calendar`]).

use aggregates::assignment::{
    AssignEquipment, AssignmentAction, AssignmentCommand, AssignmentError, AssignmentStatus,
    Calendar, EquipmentAssignment, Period, overlaps,
};
use aggregates::{DomainError, ErrorKind, TenantOwned, ValidationErrors};
use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::assignment::{
    AssignmentCancelled, AssignmentCheckedOut, AssignmentRescheduled, AssignmentReturned,
    EquipmentAssigned, EquipmentAssignmentEvent,
};
use event_schemas::equipment::EquipmentStatus;
use proptest::prelude::*;
use uuid::Uuid;

const ASSIGNMENT_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_6001);
const EQUIPMENT_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_5001);
const JOURNEY_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_4001);
const USER_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a002);
const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);

fn ts(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339 timestamp")
        .to_utc()
}

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").expect("valid tenant id")
}

const AT: &str = "2026-05-01T08:00:00Z";
const STARTS: &str = "2026-05-04T07:00:00Z";
const ENDS: &str = "2026-05-04T19:00:00Z";

fn command(action: AssignmentAction) -> AssignmentCommand {
    AssignmentCommand {
        at: ts(AT),
        actor: ACTOR,
        action,
    }
}

fn run(
    history: &[EquipmentAssignmentEvent],
    action: AssignmentAction,
) -> Result<Vec<EquipmentAssignmentEvent>, AssignmentError> {
    TestFramework::<EquipmentAssignment>::with(())
        .given(history.to_vec())
        .when(command(action))
        .inspect_result()
}

fn rule(error: &AssignmentError) -> &'static str {
    match error.kind() {
        ErrorKind::Conflict { rule } => rule,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn assign_cmd() -> AssignEquipment {
    AssignEquipment {
        assignment_id: ASSIGNMENT_ID,
        tenant_id: tenant(),
        equipment_id: EQUIPMENT_ID,
        equipment_status: Some(EquipmentStatus::Active),
        journey_id: Some(JOURNEY_ID),
        user_id: None,
        starts_at: ts(STARTS),
        ends_at: ts(ENDS),
        purpose: Some("  Move of the Tremblay family ".into()),
        notes: None,
    }
}

fn assigned() -> EquipmentAssignmentEvent {
    EquipmentAssigned {
        tenant_id: tenant(),
        assignment_id: ASSIGNMENT_ID,
        equipment_id: EQUIPMENT_ID,
        journey_id: Some(JOURNEY_ID),
        user_id: None,
        starts_at: ts(STARTS),
        ends_at: ts(ENDS),
        purpose: Some("Move of the Tremblay family".into()),
        notes: None,
        assigned_by: ACTOR,
        assigned_at: ts(AT),
    }
    .into()
}

fn checked_out() -> EquipmentAssignmentEvent {
    AssignmentCheckedOut {
        checked_out_at: ts(AT),
        checked_out_by: ACTOR,
        odometer_km: Some(120_000),
    }
    .into()
}

fn returned() -> EquipmentAssignmentEvent {
    AssignmentReturned {
        returned_at: ts(AT),
        returned_by: ACTOR,
        odometer_km: Some(120_250),
        condition_notes: Some("Scratch on the tailgate".into()),
    }
    .into()
}

fn cancelled() -> EquipmentAssignmentEvent {
    AssignmentCancelled {
        reason: "Job moved to another truck".into(),
        cancelled_by: ACTOR,
        cancelled_at: ts(AT),
    }
    .into()
}

fn state(events: &[EquipmentAssignmentEvent]) -> EquipmentAssignment {
    let mut a = EquipmentAssignment::default();
    for e in events {
        a.apply(e.clone());
    }
    a
}

// ---------------------------------------------------------------- assign

#[test]
fn assigning_active_equipment_books_the_period() {
    TestFramework::<EquipmentAssignment>::with(())
        .given_no_previous_events()
        .when(command(AssignmentAction::Assign(assign_cmd())))
        .then_expect_events(vec![assigned()]);
    let a = state(&[assigned()]);
    assert!(a.is_created());
    assert_eq!(a.status(), AssignmentStatus::Active);
    assert_eq!(a.period(), Some((ts(STARTS), ts(ENDS))));
    assert_eq!(a.tenant(), Some(&tenant()));
}

#[test]
fn assigning_to_a_user_only_is_fine() {
    let cmd = AssignEquipment {
        journey_id: None,
        user_id: Some(USER_ID),
        ..assign_cmd()
    };
    let events = run(&[], AssignmentAction::Assign(cmd)).unwrap();
    let EquipmentAssignmentEvent::EquipmentAssigned(e) = &events[0] else {
        panic!("expected EquipmentAssigned");
    };
    assert_eq!((e.journey_id, e.user_id), (None, Some(USER_ID)));
}

#[test]
fn an_assignment_needs_a_journey_or_a_user_and_a_period_that_ends_after_it_starts() {
    let cmd = AssignEquipment {
        journey_id: None,
        user_id: None,
        ends_at: ts(STARTS),
        ..assign_cmd()
    };
    let err = run(&[], AssignmentAction::Assign(cmd)).unwrap_err();
    let AssignmentError::Invalid(errors) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        ["journey_id", "ends_at"]
    );
}

#[test]
fn equipment_in_maintenance_repair_retired_or_sold_cannot_be_assigned() {
    for status in [
        EquipmentStatus::Maintenance,
        EquipmentStatus::Repair,
        EquipmentStatus::Retired,
        EquipmentStatus::Sold,
    ] {
        let cmd = AssignEquipment {
            equipment_status: Some(status),
            ..assign_cmd()
        };
        let err = run(&[], AssignmentAction::Assign(cmd)).unwrap_err();
        assert_eq!(err, AssignmentError::EquipmentUnavailable(status));
        assert_eq!(rule(&err), "assignment.equipment-unavailable");
        assert!(err.to_string().contains(status.as_str()), "{err}");
    }
}

#[test]
fn unknown_equipment_cannot_be_assigned() {
    let cmd = AssignEquipment {
        equipment_status: None,
        ..assign_cmd()
    };
    let err = run(&[], AssignmentAction::Assign(cmd)).unwrap_err();
    assert_eq!(err, AssignmentError::UnknownEquipment(EQUIPMENT_ID));
    assert_eq!(rule(&err), "assignment.unknown-equipment");
}

#[test]
fn assigning_twice_is_refused() {
    let err = run(&[assigned()], AssignmentAction::Assign(assign_cmd())).unwrap_err();
    assert_eq!(err, AssignmentError::AlreadyExists(ASSIGNMENT_ID));
    assert_eq!(rule(&err), "assignment.already-exists");
}

#[test]
fn commands_on_a_missing_assignment_are_not_found() {
    let err = run(&[], AssignmentAction::CheckOut { odometer_km: None }).unwrap_err();
    assert_eq!(err, AssignmentError::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

// ---------------------------------------------------------------- checkout and return

#[test]
fn checking_out_then_returning_completes_the_assignment() {
    TestFramework::<EquipmentAssignment>::with(())
        .given(vec![assigned()])
        .when(command(AssignmentAction::CheckOut {
            odometer_km: Some(120_000),
        }))
        .then_expect_events(vec![checked_out()]);
    TestFramework::<EquipmentAssignment>::with(())
        .given(vec![assigned(), checked_out()])
        .when(command(AssignmentAction::Return {
            odometer_km: Some(120_250),
            condition_notes: Some("Scratch on the tailgate".into()),
        }))
        .then_expect_events(vec![returned()]);
    let a = state(&[assigned(), checked_out(), returned()]);
    assert_eq!(a.status(), AssignmentStatus::Completed);
}

#[test]
fn checking_out_twice_is_refused() {
    let err = run(
        &[assigned(), checked_out()],
        AssignmentAction::CheckOut { odometer_km: None },
    )
    .unwrap_err();
    assert_eq!(err, AssignmentError::AlreadyCheckedOut);
    assert_eq!(rule(&err), "assignment.already-checked-out");
}

#[test]
fn returning_before_checkout_is_refused() {
    let err = run(
        &[assigned()],
        AssignmentAction::Return {
            odometer_km: None,
            condition_notes: None,
        },
    )
    .unwrap_err();
    assert_eq!(err, AssignmentError::NotCheckedOut);
    assert_eq!(rule(&err), "assignment.not-checked-out");
}

#[test]
fn the_odometer_cannot_go_back_on_return() {
    let err = run(
        &[assigned(), checked_out()],
        AssignmentAction::Return {
            odometer_km: Some(119_999),
            condition_notes: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        AssignmentError::Invalid(ValidationErrors::single(
            "odometer_km",
            "must not be less than the 120000 km read at checkout"
        ))
    );
}

#[test]
fn a_completed_assignment_refuses_every_command() {
    let history = [assigned(), checked_out(), returned()];
    for action in [
        AssignmentAction::CheckOut { odometer_km: None },
        AssignmentAction::Return {
            odometer_km: None,
            condition_notes: None,
        },
        AssignmentAction::Cancel {
            reason: "late".into(),
        },
        AssignmentAction::Reschedule {
            starts_at: ts(STARTS),
            ends_at: ts(ENDS) + Duration::hours(1),
        },
    ] {
        let err = run(&history, action).unwrap_err();
        assert_eq!(err, AssignmentError::Closed(AssignmentStatus::Completed));
        assert_eq!(rule(&err), "assignment.closed");
    }
}

// ---------------------------------------------------------------- cancel

#[test]
fn cancelling_before_checkout_frees_the_equipment() {
    TestFramework::<EquipmentAssignment>::with(())
        .given(vec![assigned()])
        .when(command(AssignmentAction::Cancel {
            reason: " Job moved to another truck ".into(),
        }))
        .then_expect_events(vec![cancelled()]);
    assert_eq!(
        state(&[assigned(), cancelled()]).status(),
        AssignmentStatus::Cancelled
    );
}

#[test]
fn cancelling_needs_a_reason() {
    let err = run(
        &[assigned()],
        AssignmentAction::Cancel {
            reason: "  ".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        AssignmentError::Invalid(ValidationErrors::single("reason", "must not be empty"))
    );
}

#[test]
fn cancelling_after_checkout_is_refused() {
    let err = run(
        &[assigned(), checked_out()],
        AssignmentAction::Cancel {
            reason: "changed plans".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err, AssignmentError::AlreadyCheckedOut);
}

#[test]
fn a_cancelled_assignment_cannot_be_checked_out() {
    let err = run(
        &[assigned(), cancelled()],
        AssignmentAction::CheckOut { odometer_km: None },
    )
    .unwrap_err();
    assert_eq!(err, AssignmentError::Closed(AssignmentStatus::Cancelled));
}

// ---------------------------------------------------------------- reschedule

#[test]
fn rescheduling_moves_the_period_and_remembers_the_previous_one() {
    let (start, end) = (ts("2026-05-05T07:00:00Z"), ts("2026-05-05T17:00:00Z"));
    TestFramework::<EquipmentAssignment>::with(())
        .given(vec![assigned()])
        .when(command(AssignmentAction::Reschedule {
            starts_at: start,
            ends_at: end,
        }))
        .then_expect_events(vec![
            AssignmentRescheduled {
                starts_at: start,
                ends_at: end,
                previous_starts_at: ts(STARTS),
                previous_ends_at: ts(ENDS),
                rescheduled_by: ACTOR,
                rescheduled_at: ts(AT),
            }
            .into(),
        ]);
}

#[test]
fn rescheduling_to_the_same_period_does_nothing() {
    TestFramework::<EquipmentAssignment>::with(())
        .given(vec![assigned()])
        .when(command(AssignmentAction::Reschedule {
            starts_at: ts(STARTS),
            ends_at: ts(ENDS),
        }))
        .then_expect_events(vec![]);
}

#[test]
fn rescheduling_to_an_empty_period_is_invalid() {
    let err = run(
        &[assigned()],
        AssignmentAction::Reschedule {
            starts_at: ts(ENDS),
            ends_at: ts(STARTS),
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        AssignmentError::Invalid(ValidationErrors::single(
            "ends_at",
            "must be after starts_at"
        ))
    );
}

#[test]
fn after_checkout_only_the_end_can_move() {
    let later_end = ts(ENDS) + Duration::hours(3);
    let events = run(
        &[assigned(), checked_out()],
        AssignmentAction::Reschedule {
            starts_at: ts(STARTS),
            ends_at: later_end,
        },
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    let err = run(
        &[assigned(), checked_out()],
        AssignmentAction::Reschedule {
            starts_at: ts(STARTS) + Duration::hours(1),
            ends_at: later_end,
        },
    )
    .unwrap_err();
    assert_eq!(err, AssignmentError::StartFixed);
    assert_eq!(rule(&err), "assignment.start-fixed");
}

// ---------------------------------------------------------------- overlap

fn at_hour(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap() + Duration::hours(h)
}

#[test]
fn half_open_periods_that_touch_do_not_overlap() {
    assert!(overlaps((at_hour(0), at_hour(2)), (at_hour(1), at_hour(3))));
    assert!(overlaps((at_hour(0), at_hour(4)), (at_hour(1), at_hour(2))));
    assert!(!overlaps(
        (at_hour(0), at_hour(2)),
        (at_hour(2), at_hour(3))
    ));
    assert!(!overlaps(
        (at_hour(2), at_hour(3)),
        (at_hour(0), at_hour(2))
    ));
    assert!(!overlaps(
        (at_hour(1), at_hour(1)),
        (at_hour(0), at_hour(2))
    ));
}

#[test]
fn a_released_booking_frees_its_period() {
    let mut calendar = Calendar::default();
    calendar.book("a", (at_hour(0), at_hour(4))).unwrap();
    assert_eq!(calendar.book("b", (at_hour(1), at_hour(2))), Err("a"));
    calendar.release(&"a");
    assert_eq!(calendar.book("b", (at_hour(1), at_hour(2))), Ok(()));
}

fn period_strategy() -> impl Strategy<Value = Period> {
    (0i64..200, 1i64..30).prop_map(|(start, len)| (at_hour(start), at_hour(start + len)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn accepted_bookings_never_overlap_and_every_refusal_names_an_overlapping_one(
        periods in prop::collection::vec(period_strategy(), 0..40)
    ) {
        let mut calendar = Calendar::default();
        for (i, period) in periods.iter().enumerate() {
            match calendar.book(i, *period) {
                Ok(()) => {}
                Err(other) => {
                    let booked = calendar.bookings().iter().find(|(k, _)| *k == other);
                    prop_assert!(booked.is_some_and(|(_, p)| overlaps(*p, *period)));
                }
            }
        }
        let booked = calendar.bookings();
        for (i, (_, a)) in booked.iter().enumerate() {
            for (_, b) in &booked[i + 1..] {
                prop_assert!(!overlaps(*a, *b));
            }
        }
        // A period refused overlaps an accepted one; a period accepted does not.
        for (i, period) in periods.iter().enumerate() {
            let accepted = booked.iter().any(|(k, _)| *k == i);
            let clashes = booked.iter().any(|(k, p)| *k != i && overlaps(*p, *period));
            prop_assert_eq!(accepted, !clashes);
        }
    }

    #[test]
    fn overlap_is_symmetric(a in period_strategy(), b in period_strategy()) {
        prop_assert_eq!(overlaps(a, b), overlaps(b, a));
    }
}
