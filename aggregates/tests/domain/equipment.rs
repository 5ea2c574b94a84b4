//! Given/when/then tests of the `Equipment` aggregate, and properties of its
//! depreciation.

use aggregates::equipment::{
    CompleteMaintenance, Equipment, EquipmentAction, EquipmentCommand, EquipmentDetailsInput,
    EquipmentError, MaintenanceState, RegisterEquipment, ScheduleMaintenance, current_value,
    next_due_date,
};
use aggregates::{DomainError, ErrorKind, TenantOwned, ValidationErrors};
use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::equipment::{
    DefectReported, DefectSeverity, Depreciation, DepreciationMethod, EquipmentDetails,
    EquipmentEvent, EquipmentRegistered, EquipmentRepaired, EquipmentRetired, EquipmentSold,
    EquipmentStatus, EquipmentType, EquipmentUpdated, MaintenanceCancelled, MaintenanceCompleted,
    MaintenancePart, MaintenanceSchedule, MaintenanceScheduled, MaintenanceStarted,
    MaintenanceType,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Map, json};
use uuid::Uuid;

const EQUIPMENT_ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_5001);
const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);
const TECH: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a003);
const DEFECT_1: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_d001);
const DEFECT_2: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_d002);
const MAINT_1: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_e001);
const MAINT_2: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_e002);
const AT: &str = "2026-05-01T08:00:00Z";
const WINDOW_START: &str = "2026-05-10T08:00:00Z";
const WINDOW_END: &str = "2026-05-10T16:00:00Z";

fn ts(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339 timestamp")
        .to_utc()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").expect("valid tenant id")
}

fn command(action: EquipmentAction) -> EquipmentCommand {
    EquipmentCommand {
        at: ts(AT),
        actor: ACTOR,
        action,
    }
}

fn run(
    history: &[EquipmentEvent],
    action: EquipmentAction,
) -> Result<Vec<EquipmentEvent>, EquipmentError> {
    TestFramework::<Equipment>::with(())
        .given(history.to_vec())
        .when(command(action))
        .inspect_result()
}

fn expect(history: &[EquipmentEvent], action: EquipmentAction, events: Vec<EquipmentEvent>) {
    TestFramework::<Equipment>::with(())
        .given(history.to_vec())
        .when(command(action))
        .then_expect_events(events);
}

fn rule(error: &EquipmentError) -> &'static str {
    match error.kind() {
        ErrorKind::Conflict { rule } => rule,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn state(events: &[EquipmentEvent]) -> Equipment {
    let mut e = Equipment::default();
    for event in events {
        e.apply(event.clone());
    }
    e
}

fn straight_line() -> Depreciation {
    Depreciation {
        method: DepreciationMethod::StraightLine,
        annual_rate: None,
        useful_life_years: Some(10),
        salvage_value: dec!(10000),
    }
}

fn specs() -> Map<String, serde_json::Value> {
    json!({"box_length_ft": 26, "liftgate": true})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn details_input() -> EquipmentDetailsInput {
    EquipmentDetailsInput {
        location_id: "montreal-east".into(),
        name: " Truck 7 ".into(),
        equipment_type: EquipmentType::Truck,
        serial_number: Some(" 1FVACWDT3HHJ12345 ".into()),
        manufacturer: Some("Freightliner".into()),
        model: Some("M2 106".into()),
        year: Some(2022),
        capacity: Some("26 ft, 10 000 lb".into()),
        specifications: specs(),
        purchase_date: Some(date(2022, 3, 1)),
        purchase_price: Some(dec!(110000)),
        depreciation: Some(straight_line()),
        maintenance_schedule: MaintenanceSchedule {
            interval_days: Some(90),
            interval_km: Some(15000),
        },
        current_location: None,
        assigned_user: None,
        odometer_km: Some(42_000),
    }
}

fn details() -> EquipmentDetails {
    EquipmentDetails {
        location_id: "montreal-east".into(),
        name: "Truck 7".into(),
        equipment_type: EquipmentType::Truck,
        serial_number: Some("1FVACWDT3HHJ12345".into()),
        manufacturer: Some("Freightliner".into()),
        model: Some("M2 106".into()),
        year: Some(2022),
        capacity: Some("26 ft, 10 000 lb".into()),
        specifications: specs(),
        purchase_date: Some(date(2022, 3, 1)),
        purchase_price: Some(dec!(110000.00)),
        depreciation: Some(Depreciation {
            salvage_value: dec!(10000.00),
            ..straight_line()
        }),
        maintenance_schedule: MaintenanceSchedule {
            interval_days: Some(90),
            interval_km: Some(15000),
        },
        current_location: None,
        assigned_user: None,
        odometer_km: Some(42_000),
    }
}

fn registered() -> EquipmentEvent {
    EquipmentRegistered {
        tenant_id: tenant(),
        equipment_id: EQUIPMENT_ID,
        details: details(),
        registered_by: ACTOR,
        registered_at: ts(AT),
    }
    .into()
}

fn defect(id: Uuid) -> EquipmentEvent {
    DefectReported {
        defect_id: id,
        description: "Brake light out".into(),
        severity: Some(DefectSeverity::High),
        reported_by: ACTOR,
        reported_at: ts(AT),
    }
    .into()
}

fn scheduled(id: Uuid) -> EquipmentEvent {
    MaintenanceScheduled {
        maintenance_id: id,
        maintenance_type: MaintenanceType::Preventive,
        window_start: ts(WINDOW_START),
        window_end: ts(WINDOW_END),
        description: "Oil change and inspection".into(),
        technician: Some(TECH),
        scheduled_by: ACTOR,
        scheduled_at: ts(AT),
    }
    .into()
}

fn started(id: Uuid) -> EquipmentEvent {
    MaintenanceStarted {
        maintenance_id: id,
        started_by: ACTOR,
        started_at: ts(AT),
    }
    .into()
}

fn schedule_cmd(id: Uuid) -> EquipmentAction {
    EquipmentAction::ScheduleMaintenance(ScheduleMaintenance {
        maintenance_id: id,
        maintenance_type: MaintenanceType::Preventive,
        window_start: ts(WINDOW_START),
        window_end: ts(WINDOW_END),
        description: " Oil change and inspection ".into(),
        technician: Some(TECH),
    })
}

fn complete_cmd(id: Uuid) -> CompleteMaintenance {
    CompleteMaintenance {
        maintenance_id: id,
        cost: dec!(412.5),
        parts: vec![MaintenancePart {
            name: "Oil filter".into(),
            quantity: dec!(1),
            unit_cost: dec!(32.5),
        }],
        labour_hours: dec!(2.5),
        technician: None,
        odometer_km: Some(45_500),
        notes: None,
    }
}

// ---------------------------------------------------------------- register and update

#[test]
fn registering_equipment_normalizes_its_details_and_makes_it_active() {
    expect(
        &[],
        EquipmentAction::Register(RegisterEquipment {
            equipment_id: EQUIPMENT_ID,
            tenant_id: tenant(),
            details: details_input(),
        }),
        vec![registered()],
    );
    let e = state(&[registered()]);
    assert!(e.is_created());
    assert_eq!(e.status(), EquipmentStatus::Active);
    assert_eq!(e.location_id(), Some("montreal-east"));
    assert_eq!(e.serial_number(), Some("1FVACWDT3HHJ12345"));
    assert_eq!(e.tenant(), Some(&tenant()));
}

#[test]
fn every_invalid_detail_is_reported_at_once() {
    let input = EquipmentDetailsInput {
        name: "".into(),
        serial_number: Some("bad serial!".into()),
        year: Some(1800),
        purchase_date: Some(date(2026, 6, 1)),
        depreciation: Some(Depreciation {
            method: DepreciationMethod::DecliningBalance,
            annual_rate: Some(dec!(1.5)),
            useful_life_years: Some(5),
            salvage_value: dec!(200000),
        }),
        maintenance_schedule: MaintenanceSchedule {
            interval_days: Some(0),
            interval_km: None,
        },
        ..details_input()
    };
    let err = run(
        &[],
        EquipmentAction::Register(RegisterEquipment {
            equipment_id: EQUIPMENT_ID,
            tenant_id: tenant(),
            details: input,
        }),
    )
    .unwrap_err();
    let EquipmentError::Invalid(errors) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        [
            "name",
            "serial_number",
            "year",
            "purchase_date",
            "depreciation.salvage_value",
            "depreciation.useful_life_years",
            "depreciation.annual_rate",
            "maintenance_schedule.interval_days"
        ]
    );
}

#[test]
fn depreciation_needs_a_purchase_price_and_date() {
    let input = EquipmentDetailsInput {
        purchase_price: None,
        purchase_date: None,
        ..details_input()
    };
    let err = run(&[registered()], EquipmentAction::Update(input)).unwrap_err();
    let EquipmentError::Invalid(errors) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        ["purchase_price", "purchase_date"]
    );
}

#[test]
fn registering_twice_is_refused() {
    let err = run(
        &[registered()],
        EquipmentAction::Register(RegisterEquipment {
            equipment_id: EQUIPMENT_ID,
            tenant_id: tenant(),
            details: details_input(),
        }),
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::AlreadyExists(EQUIPMENT_ID));
    assert_eq!(rule(&err), "equipment.already-exists");
}

#[test]
fn commands_on_missing_equipment_are_not_found() {
    let err = run(
        &[],
        EquipmentAction::Retire {
            reason: "old".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn updating_lists_the_changed_fields_and_the_same_details_do_nothing() {
    let input = EquipmentDetailsInput {
        current_location: Some("Yard B".into()),
        odometer_km: Some(43_000),
        ..details_input()
    };
    expect(
        &[registered()],
        EquipmentAction::Update(input),
        vec![
            EquipmentUpdated {
                details: EquipmentDetails {
                    current_location: Some("Yard B".into()),
                    odometer_km: Some(43_000),
                    ..details()
                },
                changed_fields: vec!["current_location".into(), "odometer_km".into()],
                updated_by: ACTOR,
                updated_at: ts(AT),
            }
            .into(),
        ],
    );
    expect(
        &[registered()],
        EquipmentAction::Update(details_input()),
        vec![],
    );
}

// ---------------------------------------------------------------- retire and sell

#[test]
fn retiring_is_final() {
    let retired: EquipmentEvent = EquipmentRetired {
        reason: "End of life".into(),
        retired_by: ACTOR,
        at: ts(AT),
    }
    .into();
    expect(
        &[registered()],
        EquipmentAction::Retire {
            reason: " End of life ".into(),
        },
        vec![retired.clone()],
    );
    let history = [registered(), retired];
    assert_eq!(state(&history).status(), EquipmentStatus::Retired);
    for action in [
        EquipmentAction::Update(details_input()),
        EquipmentAction::Retire { reason: "x".into() },
        EquipmentAction::Sell {
            price: dec!(1),
            buyer: "x".into(),
        },
        EquipmentAction::ReportDefect {
            defect_id: DEFECT_1,
            description: "x".into(),
            severity: None,
        },
        schedule_cmd(MAINT_1),
    ] {
        let err = run(&history, action).unwrap_err();
        assert_eq!(err, EquipmentError::Final(EquipmentStatus::Retired));
        assert_eq!(rule(&err), "equipment.final");
    }
}

#[test]
fn selling_is_final_and_records_the_price_and_buyer() {
    let sold: EquipmentEvent = EquipmentSold {
        price: dec!(45000.00),
        buyer: "Déménagement Lévesque".into(),
        sold_by: ACTOR,
        at: ts(AT),
    }
    .into();
    expect(
        &[registered()],
        EquipmentAction::Sell {
            price: dec!(45000),
            buyer: "Déménagement Lévesque".into(),
        },
        vec![sold.clone()],
    );
    let err = run(
        &[registered(), sold],
        EquipmentAction::Repair {
            defect_id: None,
            notes: None,
            cost: dec!(0),
        },
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::Final(EquipmentStatus::Sold));
}

#[test]
fn a_sale_needs_a_price_and_a_buyer() {
    let err = run(
        &[registered()],
        EquipmentAction::Sell {
            price: dec!(-1),
            buyer: " ".into(),
        },
    )
    .unwrap_err();
    let EquipmentError::Invalid(errors) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(errors.fields().collect::<Vec<_>>(), ["price", "buyer"]);
}

#[test]
fn retiring_needs_a_reason() {
    let err = run(
        &[registered()],
        EquipmentAction::Retire { reason: "".into() },
    )
    .unwrap_err();
    assert_eq!(
        err,
        EquipmentError::Invalid(ValidationErrors::single("reason", "must not be empty"))
    );
}

// ---------------------------------------------------------------- defects

#[test]
fn a_reported_defect_puts_the_equipment_in_repair() {
    expect(
        &[registered()],
        EquipmentAction::ReportDefect {
            defect_id: DEFECT_1,
            description: "Brake light out".into(),
            severity: Some(DefectSeverity::High),
        },
        vec![defect(DEFECT_1)],
    );
    assert_eq!(
        state(&[registered(), defect(DEFECT_1)]).status(),
        EquipmentStatus::Repair
    );
}

#[test]
fn a_defect_is_reported_once() {
    let err = run(
        &[registered(), defect(DEFECT_1)],
        EquipmentAction::ReportDefect {
            defect_id: DEFECT_1,
            description: "again".into(),
            severity: None,
        },
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::DuplicateDefect(DEFECT_1));
    assert_eq!(rule(&err), "equipment.duplicate-defect");
}

#[test]
fn repairing_the_last_defect_makes_the_equipment_active_again() {
    let repaired: EquipmentEvent = EquipmentRepaired {
        defect_id: Some(DEFECT_1),
        repaired_defects: vec![DEFECT_1],
        notes: Some("Bulb replaced".into()),
        cost: dec!(12.00),
        repaired_by: ACTOR,
        repaired_at: ts(AT),
        status_after: EquipmentStatus::Active,
    }
    .into();
    expect(
        &[registered(), defect(DEFECT_1)],
        EquipmentAction::Repair {
            defect_id: Some(DEFECT_1),
            notes: Some("Bulb replaced".into()),
            cost: dec!(12),
        },
        vec![repaired.clone()],
    );
    let e = state(&[registered(), defect(DEFECT_1), repaired]);
    assert_eq!(e.status(), EquipmentStatus::Active);
    assert_eq!(e.repair_cost, dec!(12.00));
}

#[test]
fn a_repair_stays_in_repair_while_defects_remain_and_otherwise_returns_to_maintenance() {
    let history = [
        registered(),
        scheduled(MAINT_1),
        started(MAINT_1),
        defect(DEFECT_1),
        defect(DEFECT_2),
    ];
    assert_eq!(state(&history).status(), EquipmentStatus::Repair);
    let one = run(
        &history,
        EquipmentAction::Repair {
            defect_id: Some(DEFECT_1),
            notes: None,
            cost: dec!(0),
        },
    )
    .unwrap();
    let EquipmentEvent::EquipmentRepaired(e) = &one[0] else {
        panic!("expected EquipmentRepaired");
    };
    assert_eq!(e.status_after, EquipmentStatus::Repair);
    let all = run(
        &history,
        EquipmentAction::Repair {
            defect_id: None,
            notes: None,
            cost: dec!(80),
        },
    )
    .unwrap();
    let EquipmentEvent::EquipmentRepaired(e) = &all[0] else {
        panic!("expected EquipmentRepaired");
    };
    assert_eq!(e.repaired_defects, vec![DEFECT_1, DEFECT_2]);
    assert_eq!(e.status_after, EquipmentStatus::Maintenance);
    let after = state(&[history.to_vec(), all].concat());
    assert_eq!(after.status(), EquipmentStatus::Maintenance);
}

#[test]
fn repairing_needs_an_open_defect() {
    let err = run(
        &[registered()],
        EquipmentAction::Repair {
            defect_id: None,
            notes: None,
            cost: dec!(0),
        },
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::NoOpenDefect);
    assert_eq!(rule(&err), "equipment.no-open-defect");
    let err = run(
        &[registered()],
        EquipmentAction::Repair {
            defect_id: Some(DEFECT_2),
            notes: None,
            cost: dec!(0),
        },
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::UnknownDefect(DEFECT_2));
    assert_eq!(rule(&err), "equipment.unknown-defect");
    let mut history = vec![registered(), defect(DEFECT_1)];
    history.extend(
        run(
            &history,
            EquipmentAction::Repair {
                defect_id: Some(DEFECT_1),
                notes: None,
                cost: dec!(0),
            },
        )
        .unwrap(),
    );
    let err = run(
        &history,
        EquipmentAction::Repair {
            defect_id: Some(DEFECT_1),
            notes: None,
            cost: dec!(0),
        },
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::DefectAlreadyRepaired(DEFECT_1));
    assert_eq!(rule(&err), "equipment.defect-already-repaired");
}

// ---------------------------------------------------------------- maintenance

#[test]
fn scheduling_a_maintenance_records_its_window() {
    expect(
        &[registered()],
        schedule_cmd(MAINT_1),
        vec![scheduled(MAINT_1)],
    );
    let e = state(&[registered(), scheduled(MAINT_1)]);
    assert_eq!(e.status(), EquipmentStatus::Active);
    assert_eq!(
        e.maintenance(MAINT_1).map(|m| m.state),
        Some(MaintenanceState::Scheduled)
    );
}

#[test]
fn a_maintenance_window_must_end_after_it_starts() {
    let action = EquipmentAction::ScheduleMaintenance(ScheduleMaintenance {
        maintenance_id: MAINT_1,
        maintenance_type: MaintenanceType::Inspection,
        window_start: ts(WINDOW_END),
        window_end: ts(WINDOW_END),
        description: "x".into(),
        technician: None,
    });
    let err = run(&[registered()], action).unwrap_err();
    assert_eq!(
        err,
        EquipmentError::Invalid(ValidationErrors::single(
            "window_end",
            "must be after window_start"
        ))
    );
}

#[test]
fn a_maintenance_id_is_scheduled_once() {
    let err = run(&[registered(), scheduled(MAINT_1)], schedule_cmd(MAINT_1)).unwrap_err();
    assert_eq!(err, EquipmentError::DuplicateMaintenance(MAINT_1));
    assert_eq!(rule(&err), "equipment.duplicate-maintenance");
}

#[test]
fn starting_a_scheduled_maintenance_puts_the_equipment_in_maintenance() {
    expect(
        &[registered(), scheduled(MAINT_1)],
        EquipmentAction::StartMaintenance {
            maintenance_id: MAINT_1,
        },
        vec![started(MAINT_1)],
    );
    let e = state(&[registered(), scheduled(MAINT_1), started(MAINT_1)]);
    assert_eq!(e.status(), EquipmentStatus::Maintenance);
    assert_eq!(e.maintenance_in_progress(), Some(MAINT_1));
}

#[test]
fn starting_needs_a_scheduled_maintenance_and_none_in_progress() {
    let err = run(
        &[registered()],
        EquipmentAction::StartMaintenance {
            maintenance_id: MAINT_1,
        },
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::UnknownMaintenance(MAINT_1));
    assert_eq!(rule(&err), "equipment.unknown-maintenance");
    let history = [
        registered(),
        scheduled(MAINT_1),
        started(MAINT_1),
        scheduled(MAINT_2),
    ];
    let err = run(
        &history,
        EquipmentAction::StartMaintenance {
            maintenance_id: MAINT_1,
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        EquipmentError::MaintenanceNotStartable {
            id: MAINT_1,
            state: MaintenanceState::Started
        }
    );
    assert_eq!(rule(&err), "equipment.maintenance-not-startable");
    let err = run(
        &history,
        EquipmentAction::StartMaintenance {
            maintenance_id: MAINT_2,
        },
    )
    .unwrap_err();
    assert_eq!(err, EquipmentError::MaintenanceInProgress(MAINT_1));
    assert_eq!(rule(&err), "equipment.maintenance-in-progress");
}

#[test]
fn completing_a_maintenance_records_its_cost_and_the_next_due_date() {
    let completed: EquipmentEvent = MaintenanceCompleted {
        maintenance_id: MAINT_1,
        completed_at: ts(AT),
        completed_by: ACTOR,
        cost: dec!(412.50),
        parts: vec![MaintenancePart {
            name: "Oil filter".into(),
            quantity: dec!(1),
            unit_cost: dec!(32.50),
        }],
        labour_hours: dec!(2.50),
        technician: Some(TECH),
        odometer_km: Some(45_500),
        notes: None,
        // 2026-05-01 + 90 days.
        next_due_date: Some(date(2026, 7, 30)),
    }
    .into();
    let history = [registered(), scheduled(MAINT_1), started(MAINT_1)];
    expect(
        &history,
        EquipmentAction::CompleteMaintenance(complete_cmd(MAINT_1)),
        vec![completed.clone()],
    );
    let e = state(&[history.to_vec(), vec![completed]].concat());
    assert_eq!(e.status(), EquipmentStatus::Active);
    assert_eq!(e.odometer_km(), Some(45_500));
    assert_eq!(e.next_maintenance_due, Some(date(2026, 7, 30)));
    assert_eq!(e.maintenance_cost, dec!(412.50));
}

#[test]
fn completing_needs_a_started_maintenance() {
    let err = run(
        &[registered(), scheduled(MAINT_1)],
        EquipmentAction::CompleteMaintenance(complete_cmd(MAINT_1)),
    )
    .unwrap_err();
    assert_eq!(
        err,
        EquipmentError::MaintenanceNotStarted {
            id: MAINT_1,
            state: MaintenanceState::Scheduled
        }
    );
    assert_eq!(rule(&err), "equipment.maintenance-not-started");
}

#[test]
fn completion_details_are_validated_together() {
    let cmd = CompleteMaintenance {
        cost: dec!(-1),
        parts: vec![MaintenancePart {
            name: "".into(),
            quantity: dec!(0),
            unit_cost: dec!(1.001),
        }],
        labour_hours: dec!(-1),
        odometer_km: Some(41_000),
        ..complete_cmd(MAINT_1)
    };
    let err = run(
        &[registered(), scheduled(MAINT_1), started(MAINT_1)],
        EquipmentAction::CompleteMaintenance(cmd),
    )
    .unwrap_err();
    let EquipmentError::Invalid(errors) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        [
            "cost",
            "parts[0].name",
            "parts[0].quantity",
            "parts[0].unit_cost",
            "labour_hours",
            "odometer_km"
        ]
    );
}

#[test]
fn cancelling_a_started_maintenance_makes_the_equipment_active_and_closes_it() {
    let cancelled: EquipmentEvent = MaintenanceCancelled {
        maintenance_id: MAINT_1,
        reason: "Parts on back order".into(),
        cancelled_by: ACTOR,
        cancelled_at: ts(AT),
    }
    .into();
    let history = [registered(), scheduled(MAINT_1), started(MAINT_1)];
    expect(
        &history,
        EquipmentAction::CancelMaintenance {
            maintenance_id: MAINT_1,
            reason: "Parts on back order".into(),
        },
        vec![cancelled.clone()],
    );
    let all = [history.to_vec(), vec![cancelled]].concat();
    assert_eq!(state(&all).status(), EquipmentStatus::Active);
    let err = run(
        &all,
        EquipmentAction::CancelMaintenance {
            maintenance_id: MAINT_1,
            reason: "again".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        EquipmentError::MaintenanceClosed {
            id: MAINT_1,
            state: MaintenanceState::Cancelled
        }
    );
    assert_eq!(rule(&err), "equipment.maintenance-closed");
    let err = run(
        &all,
        EquipmentAction::StartMaintenance {
            maintenance_id: MAINT_1,
        },
    )
    .unwrap_err();
    assert_eq!(rule(&err), "equipment.maintenance-not-startable");
}

// ---------------------------------------------------------------- pure functions

#[test]
fn the_next_due_date_is_the_completion_date_plus_the_interval() {
    let schedule = MaintenanceSchedule {
        interval_days: Some(30),
        interval_km: None,
    };
    assert_eq!(
        next_due_date(date(2026, 1, 31), &schedule),
        Some(date(2026, 3, 2))
    );
    assert_eq!(
        next_due_date(date(2026, 1, 31), &MaintenanceSchedule::default()),
        None
    );
}

#[test]
fn straight_line_reaches_salvage_at_the_end_of_its_life_and_stays_there() {
    let bought = date(2020, 1, 1);
    let d = straight_line();
    assert_eq!(
        current_value(dec!(110000), bought, &d, bought - Days::new(5)),
        dec!(110000.00)
    );
    assert_eq!(
        current_value(dec!(110000), bought, &d, date(2030, 1, 2)),
        dec!(10000.00)
    );
    assert_eq!(
        current_value(dec!(110000), bought, &d, date(2045, 1, 1)),
        dec!(10000.00)
    );
    let mid = current_value(dec!(110000), bought, &d, date(2025, 1, 1));
    assert!(mid > dec!(59000) && mid < dec!(61000), "{mid}");
}

#[test]
fn declining_balance_compounds_by_fractional_years_down_to_salvage() {
    let bought = date(2020, 1, 1);
    let d = Depreciation {
        method: DepreciationMethod::DecliningBalance,
        annual_rate: Some(dec!(0.25)),
        useful_life_years: None,
        salvage_value: dec!(500),
    };
    // 365.25 × 4 = 1461 days: exactly four years, 10000 × 0.75⁴ = 3164.0625.
    assert_eq!(
        current_value(dec!(10000), bought, &d, bought + Days::new(1461)),
        dec!(3164.06)
    );
    assert_eq!(
        current_value(dec!(10000), bought, &d, date(2060, 1, 1)),
        dec!(500.00)
    );
    let equipment = state(&[registered()]);
    assert!(equipment.current_value(date(2026, 5, 1)).is_some());
}

fn depreciation_strategy() -> impl Strategy<Value = (Decimal, Depreciation)> {
    (
        1i64..100_000_000,
        0u32..=100,
        any::<bool>(),
        1u32..=40,
        1i64..10_000,
    )
        .prop_map(|(cents, salvage_pct, straight, life, rate)| {
            let price = Decimal::new(cents, 2);
            let salvage = (price * Decimal::from(salvage_pct) / dec!(100)).round_dp(2);
            let d = if straight {
                Depreciation {
                    method: DepreciationMethod::StraightLine,
                    annual_rate: None,
                    useful_life_years: Some(life),
                    salvage_value: salvage,
                }
            } else {
                Depreciation {
                    method: DepreciationMethod::DecliningBalance,
                    annual_rate: Some(Decimal::new(rate, 4)),
                    useful_life_years: None,
                    salvage_value: salvage,
                }
            };
            (price, d)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_value_never_rises_over_time_and_never_falls_below_salvage(
        (price, d) in depreciation_strategy(),
        mut days in prop::collection::vec(-400i64..20_000, 2..20),
    ) {
        let bought = date(2015, 6, 15);
        days.sort_unstable();
        let mut previous = None;
        for offset in days {
            let as_of = bought + Duration::days(offset);
            let value = current_value(price, bought, &d, as_of);
            prop_assert!(value >= d.salvage_value, "{} below salvage {}", value, d.salvage_value);
            prop_assert!(value <= price);
            prop_assert_eq!(value.scale(), 2);
            if let Some(p) = previous {
                prop_assert!(value <= p, "rose from {} to {} on {}", p, value, as_of);
            }
            previous = Some(value);
        }
    }
}
