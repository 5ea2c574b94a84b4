//! The `Report` aggregate and its catalogue: parameters checked per report
//! (each error naming `parameters.<name>`), relative periods, the cron
//! schedule in the tenant's time zone across DST, scheduled runs asked for
//! once per due time, and a run's life (restarted after a crash, then
//! failed after too many).

use aggregates::report::{
    CatalogueReport, CronSchedule, MAX_ATTEMPTS, Parameters, Report, ReportAction, ReportCommand,
    ReportError, ReportSettings, relative_period, scheduled_run_id,
};
use aggregates::{DomainError, ErrorKind};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cqrs_es::Aggregate;
use event_schemas::TenantId;
use event_schemas::report::{
    Recipient, ReportEvent, ReportFile, ReportFormat, ReportSchedule, ReportStatus, ReportType,
    RunTrigger,
};
use serde_json::json;
use uuid::Uuid;

fn acme() -> TenantId {
    TenantId::parse("acme").expect("a valid tenant id")
}

const ACTOR: Uuid = Uuid::from_u128(0xa1);
const ID: Uuid = Uuid::from_u128(0xc1);

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 10, 9, 0, 0).unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn settings(parameters: serde_json::Value) -> ReportSettings {
    ReportSettings {
        report_type: None,
        name: " Monthly revenue ".into(),
        description: None,
        parameters,
        format: ReportFormat::Excel,
        schedule: Some(ReportSchedule {
            cron: "0  8 1 * *".into(),
        }),
        recipients: vec![
            Recipient::Email {
                email: "Owner@Example.com".into(),
            },
            Recipient::Staff {
                staff_id: Uuid::from_u128(7),
            },
        ],
    }
}

fn run(report: &Report, action: ReportAction) -> Result<Vec<ReportEvent>, ReportError> {
    report.decide(ReportCommand {
        at: at(),
        actor: ACTOR,
        action,
    })
}

fn apply(report: &mut Report, events: Vec<ReportEvent>) {
    for e in events {
        report.apply(e);
    }
}

fn created() -> Report {
    let mut report = Report::default();
    let events = run(
        &report,
        ReportAction::Create {
            tenant_id: acme(),
            report_id: ID,
            settings: settings(json!({"report": "revenue", "period": "LAST_MONTH"})),
        },
    )
    .unwrap();
    apply(&mut report, events);
    report
}

fn invalid_fields(result: Result<Vec<ReportEvent>, ReportError>) -> Vec<String> {
    match result {
        Err(ReportError::Invalid(errors)) => errors.fields().map(str::to_owned).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn creating_fills_the_type_from_the_catalogue_and_tidies_the_settings() {
    let report = created();
    assert_eq!(report.report_type, Some(ReportType::Financial));
    assert_eq!(report.name, "Monthly revenue");
    assert_eq!(report.schedule.as_ref().unwrap().cron, "0 8 1 * *");
    assert_eq!(
        report.recipients[0],
        Recipient::Email {
            email: "Owner@example.com".into()
        }
    );
    assert_eq!(
        report.parameters,
        json!({"report": "revenue", "period": "LAST_MONTH"})
    );
}

#[test]
fn each_bad_parameter_is_named() {
    let cases = [
        (json!({"period": "LAST_MONTH"}), "parameters.report"),
        (json!({"report": "nope"}), "parameters.report"),
        (
            json!({"report": "revenue", "as_of": "2027-01-01"}),
            "parameters.as_of",
        ),
        (
            json!({"report": "revenue", "from": "2027-13-01", "to": "2027-01-31"}),
            "parameters.from",
        ),
        (
            json!({"report": "revenue", "from": "2027-02-01", "to": "2027-01-31"}),
            "parameters.to",
        ),
        (
            json!({"report": "revenue", "from": "2027-02-01"}),
            "parameters.to",
        ),
        (
            json!({"report": "revenue", "period": "LAST_DECADE"}),
            "parameters.period",
        ),
        (
            json!({"report": "revenue", "group_by": "color"}),
            "parameters.group_by",
        ),
        (
            json!({"report": "maintenance_due", "within_days": 5000}),
            "parameters.within_days",
        ),
        (
            json!({"report": "sales_pipeline", "location_id": "no spaces"}),
            "parameters.location_id",
        ),
        (
            json!({"report": "revenue", "period": "LAST_MONTH", "from": "2027-01-01", "to": "2027-01-31"}),
            "parameters.period",
        ),
        (json!("revenue"), "parameters"),
    ];
    for (parameters, field) in cases {
        let result = run(
            &Report::default(),
            ReportAction::Create {
                tenant_id: acme(),
                report_id: ID,
                settings: settings(parameters.clone()),
            },
        );
        assert_eq!(invalid_fields(result), vec![field], "{parameters}");
    }
}

#[test]
fn other_settings_are_checked_too() {
    let mut s = settings(json!({"report": "ar_aging"}));
    s.name = " ".into();
    s.report_type = Some(ReportType::Sales);
    s.schedule = Some(ReportSchedule {
        cron: "61 * * * *".into(),
    });
    s.recipients.push(Recipient::Email {
        email: "not-an-address".into(),
    });
    s.recipients.push(Recipient::Staff {
        staff_id: Uuid::from_u128(7),
    });
    let result = run(
        &Report::default(),
        ReportAction::Create {
            tenant_id: acme(),
            report_id: ID,
            settings: s,
        },
    );
    assert_eq!(
        invalid_fields(result),
        vec![
            "name",
            "report_type",
            "schedule.cron",
            "recipients[2].email",
            "recipients[3]"
        ]
    );
    let error = ReportError::Invalid(Default::default());
    assert!(matches!(error.kind(), ErrorKind::Invalid(_)));
}

#[test]
fn relative_periods_resolve_against_the_day_of_the_run() {
    let today = date("2027-05-15");
    let p = |name: &str| {
        let p = relative_period(name, today);
        (p.from.to_string(), p.to.to_string())
    };
    assert_eq!(p("TODAY"), ("2027-05-15".into(), "2027-05-15".into()));
    assert_eq!(p("YESTERDAY"), ("2027-05-14".into(), "2027-05-14".into()));
    assert_eq!(p("LAST_7_DAYS"), ("2027-05-09".into(), "2027-05-15".into()));
    assert_eq!(
        p("LAST_30_DAYS"),
        ("2027-04-16".into(), "2027-05-15".into())
    );
    assert_eq!(
        p("MONTH_TO_DATE"),
        ("2027-05-01".into(), "2027-05-15".into())
    );
    assert_eq!(p("LAST_MONTH"), ("2027-04-01".into(), "2027-04-30".into()));
    assert_eq!(
        p("QUARTER_TO_DATE"),
        ("2027-04-01".into(), "2027-05-15".into())
    );
    assert_eq!(
        p("LAST_QUARTER"),
        ("2027-01-01".into(), "2027-03-31".into())
    );
    assert_eq!(
        p("YEAR_TO_DATE"),
        ("2027-01-01".into(), "2027-05-15".into())
    );
    assert_eq!(p("LAST_YEAR"), ("2026-01-01".into(), "2026-12-31".into()));
    let march = relative_period("LAST_MONTH", date("2028-03-01"));
    assert_eq!(
        (march.from, march.to),
        (date("2028-02-01"), date("2028-02-29"))
    );

    let absolute =
        Parameters::parse(&json!({"report": "quotes", "from": "2027-01-01", "to": "2027-01-31"}))
            .unwrap();
    assert_eq!(
        absolute.period(today).unwrap().label(),
        "2027-01-01 – 2027-01-31"
    );
    let default = Parameters::parse(&json!({"report": "quotes"})).unwrap();
    assert_eq!(default.period(today).unwrap().from, date("2027-04-16"));
    let none = Parameters::parse(&json!({"report": "inventory_valuation"})).unwrap();
    assert_eq!(none.period(today), None);
}

#[test]
fn the_catalogue_publishes_a_schema_per_report() {
    for report in aggregates::report::Catalogue::ALL {
        let schema = report.parameters_schema();
        assert_eq!(schema["properties"]["report"]["const"], report.key());
        assert_eq!(schema["additionalProperties"], false);
        for param in report.params() {
            assert!(
                schema["properties"][param.name].is_object(),
                "{}",
                param.name
            );
        }
    }
    assert_eq!(
        aggregates::report::Catalogue::find("sales_pipeline"),
        Some(CatalogueReport::SalesPipeline)
    );
}

fn toronto() -> chrono_tz::Tz {
    chrono_tz::America::Toronto
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[test]
fn a_schedule_runs_at_local_time_in_the_tenants_zone() {
    let monthly = CronSchedule::parse("0 8 1 * *").unwrap();
    // 08:00 in Toronto is 13:00 UTC in winter (EST) and 12:00 in summer (EDT).
    assert_eq!(
        monthly.next_after(utc("2027-01-10T00:00:00Z"), toronto()),
        Some(utc("2027-02-01T13:00:00Z"))
    );
    assert_eq!(
        monthly.next_after(utc("2027-06-10T00:00:00Z"), toronto()),
        Some(utc("2027-07-01T12:00:00Z"))
    );
    // Strictly after: the due instant itself gives the next one.
    assert_eq!(
        monthly.next_after(utc("2027-02-01T13:00:00Z"), toronto()),
        Some(utc("2027-03-01T13:00:00Z"))
    );
    assert!(CronSchedule::parse("0 8 1 *").is_err());
    assert!(CronSchedule::parse("0 0 8 1 * *").is_err());
}

#[test]
fn a_due_time_in_the_spring_gap_runs_at_the_next_valid_instant() {
    // 2027-03-14: Toronto's clocks go from 02:00 EST to 03:00 EDT, so 02:30
    // does not exist that day. The run is due when the gap ends, 03:00 EDT
    // (07:00 UTC), once; the next day it is 02:30 EDT again.
    let daily = CronSchedule::parse("30 2 * * *").unwrap();
    let first = daily
        .next_after(utc("2027-03-13T12:00:00Z"), toronto())
        .unwrap();
    assert_eq!(first, utc("2027-03-14T07:00:00Z"));
    let second = daily.next_after(first, toronto()).unwrap();
    assert_eq!(second, utc("2027-03-15T06:30:00Z"));
}

#[test]
fn a_repeated_autumn_hour_runs_once() {
    // 2027-11-07: Toronto's clocks go back from 02:00 EDT to 01:00 EST, so
    // 01:30 happens twice (05:30 and 06:30 UTC). The run is due at the first
    // only; the next is the following day's 01:30 EST.
    let daily = CronSchedule::parse("30 1 * * *").unwrap();
    let first = daily
        .next_after(utc("2027-11-06T12:00:00Z"), toronto())
        .unwrap();
    assert_eq!(first, utc("2027-11-07T05:30:00Z"));
    let second = daily.next_after(first, toronto()).unwrap();
    assert_eq!(second, utc("2027-11-08T06:30:00Z"));
}

#[test]
fn a_due_time_asked_for_twice_is_one_run() {
    let mut report = created();
    let due = utc("2027-02-01T13:00:00Z");
    let run_id = scheduled_run_id(ID, due);
    assert_eq!(run_id, scheduled_run_id(ID, due));
    assert_ne!(run_id, scheduled_run_id(ID, utc("2027-03-01T13:00:00Z")));
    let request = ReportAction::RequestRun {
        run_id,
        trigger: RunTrigger::Schedule,
        due_at: Some(due),
    };
    let events = run(&report, request.clone()).unwrap();
    assert_eq!(events.len(), 1);
    apply(&mut report, events);
    assert_eq!(run(&report, request).unwrap(), vec![]);
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].status, ReportStatus::Pending);
}

fn file() -> ReportFile {
    ReportFile {
        file_id: Uuid::from_u128(0xf1),
        file_name: "revenue.xlsx".into(),
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        rows: 10,
    }
}

#[test]
fn a_run_is_restarted_after_a_crash_then_fails_after_too_many() {
    let mut report = created();
    let run_id = Uuid::from_u128(0xd1);
    let events = run(
        &report,
        ReportAction::RequestRun {
            run_id,
            trigger: RunTrigger::Manual,
            due_at: None,
        },
    )
    .unwrap();
    apply(&mut report, events);
    // Completing before starting is refused.
    assert_eq!(
        run(
            &report,
            ReportAction::CompleteRun {
                run_id,
                file: file(),
                period: "x".into()
            }
        ),
        Err(ReportError::RunOver(ReportStatus::Pending))
    );
    for attempt in 1..=MAX_ATTEMPTS {
        let events = run(&report, ReportAction::StartRun { run_id }).unwrap();
        match &events[..] {
            [ReportEvent::ReportRunStarted(e)] => assert_eq!(e.attempt, attempt),
            other => panic!("{other:?}"),
        }
        apply(&mut report, events);
        assert_eq!(report.run(run_id).unwrap().status, ReportStatus::Generating);
    }
    let events = run(&report, ReportAction::StartRun { run_id }).unwrap();
    assert!(matches!(&events[..], [ReportEvent::ReportRunFailed(_)]));
    apply(&mut report, events);
    assert_eq!(report.run(run_id).unwrap().status, ReportStatus::Failed);
    assert_eq!(
        run(&report, ReportAction::StartRun { run_id }),
        Err(ReportError::RunOver(ReportStatus::Failed))
    );
}

#[test]
fn a_completed_run_is_sent_once_and_its_file_expires_once() {
    let mut report = created();
    let run_id = Uuid::from_u128(0xd2);
    for action in [
        ReportAction::RequestRun {
            run_id,
            trigger: RunTrigger::Manual,
            due_at: None,
        },
        ReportAction::StartRun { run_id },
        ReportAction::CompleteRun {
            run_id,
            file: file(),
            period: "2027-01-01 – 2027-01-31".into(),
        },
        ReportAction::MarkSent {
            run_id,
            communication_ids: vec![Uuid::from_u128(1)],
        },
        ReportAction::ExpireFile { run_id },
    ] {
        let events = run(&report, action).unwrap();
        assert_eq!(events.len(), 1);
        apply(&mut report, events);
    }
    let r = report.run(run_id).unwrap();
    assert_eq!(r.status, ReportStatus::Completed);
    assert_eq!(r.file, Some(file()));
    assert!(r.sent && r.expired);
    assert_eq!(
        run(
            &report,
            ReportAction::MarkSent {
                run_id,
                communication_ids: vec![]
            }
        )
        .unwrap(),
        vec![]
    );
    assert_eq!(
        run(&report, ReportAction::ExpireFile { run_id }).unwrap(),
        vec![]
    );
    assert_eq!(
        run(
            &report,
            ReportAction::StartRun {
                run_id: Uuid::from_u128(9)
            }
        ),
        Err(ReportError::RunNotFound)
    );
}

#[test]
fn a_deleted_report_takes_no_runs_and_an_unchanged_update_is_nothing() {
    let mut report = created();
    let same = settings(json!({"report": "revenue", "period": "LAST_MONTH"}));
    assert_eq!(run(&report, ReportAction::Update(same)).unwrap(), vec![]);
    let events = run(&report, ReportAction::Delete).unwrap();
    apply(&mut report, events);
    assert_eq!(
        run(
            &report,
            ReportAction::RequestRun {
                run_id: Uuid::from_u128(3),
                trigger: RunTrigger::Manual,
                due_at: None
            }
        ),
        Err(ReportError::NotFound)
    );
}
