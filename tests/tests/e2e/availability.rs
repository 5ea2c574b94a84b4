//! Availability over HTTP: an unavailability blocks scheduling and is
//! refused over a schedule (also when both race), recurrences block their
//! occurrences only, crew keep their own, tenants are apart.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use futures::future::join_all;
use serde_json::{Value, json};
use uuid::Uuid;

fn at(hours_from_now: i64) -> DateTime<Utc> {
    Utc::now() + Duration::hours(hours_from_now)
}

async fn person(app: &TestApp, admin: &str) -> Uuid {
    let user = Uuid::new_v4();
    app.post(
        "/v1/staff",
        admin,
        json!({"user_id": user, "display_name": "Dana", "crew_roles": ["DRIVER"]}),
    )
    .await
    .expect(201);
    user
}

async fn schedule(
    app: &TestApp,
    token: &str,
    user: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> TestResponse {
    app.post(
        "/v1/schedules",
        token,
        json!({"location_id": "tor-1", "title": "Job", "type": "JOURNEY",
               "starts_at": from.to_rfc3339(), "ends_at": to.to_rfc3339(),
               "crew": [{"user_id": user, "role": "DRIVER"}]}),
    )
    .await
}

async fn unavailable(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.post("/v1/availability", token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailability_and_a_schedule_never_overlap_whichever_comes_first() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let dana = person(&app, &admin).await;
    let dana_token = app.token_for("acme", dana, Role::Crew);
    // Dana is away tomorrow from 24 h to 32 h; she records it herself.
    let away = unavailable(
        &app,
        &dana_token,
        json!({"starts_at": at(24).to_rfc3339(), "ends_at": at(32).to_rfc3339(), "type": "VACATION", "reason": "dentist"}),
    )
    .await;
    away.expect(201);
    let away_id = away.id();
    let refused = schedule(&app, &dispatcher, dana, (at(30), at(34))).await;
    refused.expect_problem(409, "conflict");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&away_id) && detail.contains("unavailable"),
        "{detail}"
    );
    let job = schedule(&app, &dispatcher, dana, (at(40), at(44))).await;
    job.expect(201);
    let job_id = job.id();
    // An unavailability over her schedule is refused, naming it.
    let over = unavailable(
        &app,
        &dispatcher,
        json!({"user_id": dana, "starts_at": at(42).to_rfc3339(), "ends_at": at(48).to_rfc3339()}),
    )
    .await;
    over.expect_problem(409, "conflict");
    assert_eq!(over.body["rule"], "availability.conflict");
    assert!(over.body["detail"].as_str().unwrap().contains(&job_id));
    // Extra availability never blocks.
    unavailable(
        &app,
        &dispatcher,
        json!({"user_id": dana, "is_available": true, "starts_at": at(42).to_rfc3339(), "ends_at": at(48).to_rfc3339()}),
    )
    .await
    .expect(201);
    // Removed: the time is free again.
    app.delete(&format!("/v1/availability/{away_id}"), &dana_token)
        .await
        .expect(200);
    schedule(&app, &dispatcher, dana, (at(30), at(34)))
        .await
        .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_unavailability_blocks_its_days_only() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let dana = person(&app, &admin).await;
    // Every Monday 08:00–17:00 (America/Toronto, the default zone), from
    // next week on.
    let tz = chrono_tz::America::Toronto;
    let mut monday = (Utc::now().with_timezone(&tz) + Duration::days(7)).date_naive();
    while monday.weekday() != Weekday::Mon {
        monday = monday.succ_opt().unwrap();
    }
    let eight = monday.and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    unavailable(
        &app,
        &dispatcher,
        json!({"user_id": dana, "type": "PERSONAL",
               "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=MO", "local_start": eight, "duration_minutes": 540}}),
    )
    .await
    .expect(201);
    let local = |day: chrono::NaiveDate, h: u32| {
        day.and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap())
            .and_local_timezone(tz)
            .earliest()
            .unwrap()
            .to_utc()
    };
    // Monday in three weeks, 10:00–12:00: blocked.
    let later_monday = monday + Duration::days(21);
    schedule(
        &app,
        &dispatcher,
        dana,
        (local(later_monday, 10), local(later_monday, 12)),
    )
    .await
    .expect_problem(409, "conflict");
    // The Tuesday after, and the Monday evening: free.
    let tuesday = later_monday + Duration::days(1);
    schedule(
        &app,
        &dispatcher,
        dana,
        (local(tuesday, 10), local(tuesday, 12)),
    )
    .await
    .expect(201);
    schedule(
        &app,
        &dispatcher,
        dana,
        (local(later_monday, 17), local(later_monday, 19)),
    )
    .await
    .expect(201);
    // A bad rule names the field.
    let bad = unavailable(
        &app,
        &dispatcher,
        json!({"user_id": dana, "recurrence": {"rule": "FREQ=HOURLY", "local_start": eight, "duration_minutes": 30}}),
    )
    .await;
    bad.expect_problem(422, "validation");
    assert_eq!(bad.problem_fields(), vec!["recurrence"]);
    let both = unavailable(
        &app,
        &dispatcher,
        json!({"user_id": dana, "starts_at": at(1).to_rfc3339(), "ends_at": at(2).to_rfc3339(),
               "recurrence": {"rule": "FREQ=DAILY", "local_start": eight, "duration_minutes": 30}}),
    )
    .await;
    both.expect_problem(422, "validation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailability_racing_a_schedule_leaves_them_never_overlapping() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let mut pairs = Vec::new();
    for i in 0..8 {
        let dana = person(&app, &admin).await;
        let (from, to) = (at(24 + i * 10), at(30 + i * 10));
        pairs.push((dana, from, to));
    }
    let answers = join_all(pairs.iter().map(|(dana, from, to)| {
        let (app, dispatcher) = (&app, &dispatcher);
        async move {
            let (s, u) = futures::join!(
                schedule(app, dispatcher, *dana, (*from, *to)),
                unavailable(
                    app,
                    dispatcher,
                    json!({"user_id": dana, "starts_at": (*from + Duration::hours(1)).to_rfc3339(),
                           "ends_at": (*to + Duration::hours(1)).to_rfc3339()})
                )
            );
            (s.status, u.status)
        }
    }))
    .await;
    for (schedule, unavailability) in &answers {
        assert!(
            matches!((schedule, unavailability), (201, 409) | (409, 201)),
            "exactly one of each pair: {answers:?}"
        );
    }
    let overlapping: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM crew_bookings a JOIN crew_bookings b
            ON a.tenant_id = b.tenant_id AND a.user_id = b.user_id AND a.booking_id < b.booking_id
           AND a.period && b.period AND (a.kind = 'schedule' OR b.kind = 'schedule')",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(overlapping, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crew_keep_their_own_availability_and_tenants_are_apart() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dana = person(&app, &admin).await;
    let sam = person(&app, &admin).await;
    let dana_token = app.token_for("acme", dana, Role::Crew);
    let body = |user: Uuid| json!({"user_id": user, "starts_at": at(24).to_rfc3339(), "ends_at": at(25).to_rfc3339()});
    unavailable(&app, &dana_token, body(sam))
        .await
        .expect_problem(403, "forbidden");
    let sams = unavailable(&app, &admin, body(sam)).await;
    sams.expect(201);
    app.delete(&format!("/v1/availability/{}", sams.id()), &dana_token)
        .await
        .expect_problem(403, "forbidden");
    unavailable(&app, &app.token("acme", Role::Sales), body(dana))
        .await
        .expect_problem(403, "forbidden");
    app.delete(
        &format!("/v1/availability/{}", sams.id()),
        &app.token("globex", Role::Admin),
    )
    .await
    .expect_problem(404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_expanded_occurrences_with_their_rule_and_crew_see_their_own() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dana = person(&app, &admin).await;
    let sam = person(&app, &admin).await;
    let eight = (Utc::now() + Duration::days(1))
        .date_naive()
        .and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    let weekly = unavailable(
        &app,
        &admin,
        json!({"user_id": dana, "type": "PERSONAL", "reason": "school run",
               "recurrence": {"rule": "FREQ=DAILY;COUNT=3", "local_start": eight, "duration_minutes": 60}}),
    )
    .await;
    weekly.expect(201);
    unavailable(
        &app,
        &admin,
        json!({"user_id": sam, "type": "VACATION", "starts_at": at(24).to_rfc3339(), "ends_at": at(48).to_rfc3339()}),
    )
    .await
    .expect(201);
    app.settle().await;
    let from = urlencode(&Utc::now().to_rfc3339());
    let list = app
        .get(
            &format!("/v1/availability?user_id={dana}&from={from}"),
            &admin,
        )
        .await;
    list.expect(200);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", list.body);
    assert_eq!(items[0]["availability_id"], weekly.id().as_str());
    assert_eq!(items[0]["recurrence"]["rule"], "FREQ=DAILY;COUNT=3");
    assert_eq!(items[0]["recurrence"]["time_zone"], "America/Toronto");
    assert_eq!(items[0]["reason"], "school run");
    assert_eq!(items[0]["is_available"], false);
    let starts: Vec<DateTime<Utc>> = items
        .iter()
        .map(|i| i["starts_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[1] - w[0] == Duration::days(1)));
    // Everyone's, for a dispatcher; Dana's own only, for Dana.
    let everyone = app
        .get(
            &format!("/v1/availability?from={from}"),
            &app.token("acme", Role::Dispatcher),
        )
        .await;
    assert_eq!(everyone.body["items"].as_array().unwrap().len(), 4);
    let own = app
        .get(
            &format!("/v1/availability?from={from}"),
            &app.token_for("acme", dana, Role::Crew),
        )
        .await;
    assert_eq!(own.body["items"].as_array().unwrap().len(), 3);
    // Removed: gone from the list.
    app.delete(&format!("/v1/availability/{}", weekly.id()), &admin)
        .await
        .expect(200);
    app.settle().await;
    let after = app
        .get(
            &format!("/v1/availability?user_id={dana}&from={from}"),
            &admin,
        )
        .await;
    assert_eq!(after.body["items"].as_array().unwrap().len(), 0);
    let wide = app
        .get(
            &format!(
                "/v1/availability?from={from}&to={}",
                urlencode(&(Utc::now() + Duration::days(400)).to_rfc3339())
            ),
            &admin,
        )
        .await;
    wide.expect_problem(422, "validation");
    assert_eq!(wide.problem_fields(), vec!["to"]);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_horizon_policy_expands_an_open_ended_rule_as_time_passes_once() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dana = person(&app, &admin).await;
    let eight = (Utc::now() + Duration::days(1))
        .date_naive()
        .and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    let weekly = unavailable(
        &app,
        &admin,
        json!({"user_id": dana, "recurrence": {"rule": "FREQ=WEEKLY", "local_start": eight, "duration_minutes": 60}}),
    )
    .await;
    weekly.expect(201);
    let id = weekly.id();
    app.settle().await;
    let bookings = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM crew_bookings WHERE kind = 'unavailable'",
        )
        .fetch_one(app.pool())
        .await
        .unwrap()
    };
    let before = bookings().await;
    assert!((77..=80).contains(&before), "18 months of weeks: {before}");
    let stores =
        processes::policies::PolicyStores::new(app.pool().clone(), app.env.infra.keystore.clone());
    // Today: nothing to do yet.
    let now = Utc::now();
    let report = processes::policies::run_at(&stores, now.date_naive(), now)
        .await
        .unwrap();
    assert_eq!(report.availability_extended, 0);
    // Two months on: the rule is expanded to the new horizon, once.
    let later = now + Duration::days(61);
    let report = processes::policies::run_at(&stores, later.date_naive(), later)
        .await
        .unwrap();
    assert_eq!(report.availability_extended, 1);
    let after = bookings().await;
    assert!(
        (8..=10).contains(&(after - before)),
        "two months more of weeks: {before} → {after}"
    );
    app.settle().await;
    let report = processes::policies::run_at(&stores, later.date_naive(), later)
        .await
        .unwrap();
    assert_eq!(report.availability_extended, 0, "already expanded");
    let last: DateTime<Utc> =
        sqlx::query_scalar("SELECT max(upper(period)) FROM crew_bookings WHERE source_id = $1")
            .bind(&id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    let horizon = aggregates::recurrence::horizon(later);
    assert!(
        last <= horizon && last > horizon - Duration::days(8),
        "{last} near {horizon}"
    );
    // Removed: no longer expanded.
    app.delete(&format!("/v1/availability/{id}"), &admin)
        .await
        .expect(200);
    app.settle().await;
    let much_later = later + Duration::days(61);
    let report = processes::policies::run_at(&stores, much_later.date_naive(), much_later)
        .await
        .unwrap();
    assert_eq!(report.availability_extended, 0);
}
