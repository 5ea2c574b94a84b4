//! Schedules over HTTP: crew and trucks never double-booked (also under
//! concurrency), conflicts named, crew answers, transitions, roles and
//! tenancy.

use chrono::{DateTime, Duration, Utc};
use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use futures::future::join_all;
use serde_json::{Value, json};
use uuid::Uuid;

fn at(hours_from_now: i64) -> String {
    let t: DateTime<Utc> = Utc::now() + Duration::hours(hours_from_now);
    t.to_rfc3339()
}

async fn person(app: &TestApp, admin: &str, name: &str, roles: Value) -> Uuid {
    let user = Uuid::new_v4();
    app.post(
        "/v1/staff",
        admin,
        json!({"user_id": user, "display_name": name, "crew_roles": roles}),
    )
    .await
    .expect(201);
    user
}

async fn truck(app: &TestApp, token: &str) -> String {
    let r = app
        .post(
            "/v1/equipment",
            token,
            json!({"location_id": "tor-1", "name": "Truck", "equipment_type": "TRUCK"}),
        )
        .await;
    r.expect(201);
    r.id()
}

fn schedule(crew: Value, vehicles: Value, from: i64, to: i64) -> Value {
    json!({
        "location_id": "tor-1", "title": "Smith move", "type": "JOURNEY",
        "starts_at": at(from), "ends_at": at(to), "crew": crew, "vehicle_ids": vehicles
    })
}

async fn create(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.post("/v1/schedules", token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_or_truck_already_booked_is_a_conflict_naming_every_booking() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let dana = person(&app, &admin, "Dana", json!(["DRIVER"])).await;
    let sam = person(&app, &admin, "Sam", json!(["MOVER", "FOREMAN"])).await;
    let truck_a = truck(&app, &admin).await;
    let first = create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": dana, "role": "DRIVER"}]),
            json!([truck_a]),
            24,
            28,
        ),
    )
    .await;
    first.expect(201);
    let first_id = first.id();
    let second = create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": sam, "role": "MOVER"}]),
            json!([]),
            25,
            29,
        ),
    )
    .await;
    second.expect(201);
    let second_id = second.id();
    // Dana and Sam are both booked, and so is the truck: all three named.
    let clash = create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": dana, "role": "DRIVER"}, {"user_id": sam, "role": "FOREMAN"}]),
            json!([truck_a]),
            26,
            27,
        ),
    )
    .await;
    clash.expect_problem(409, "conflict");
    assert_eq!(clash.body["rule"], "schedule.conflict", "{}", clash.body);
    let detail = clash.body["detail"].as_str().unwrap();
    for named in [&first_id, &second_id, &truck_a] {
        assert!(detail.contains(named.as_str()), "{named} in {detail}");
    }
    assert!(detail.contains(&dana.to_string()) && detail.contains(&sam.to_string()));
    // Nothing was written: the same crew fits after the others end.
    create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": dana, "role": "DRIVER"}, {"user_id": sam, "role": "FOREMAN"}]),
            json!([truck_a]),
            29,
            31,
        ),
    )
    .await
    .expect(201);
    // A truck assignment over a schedule's time is refused too.
    let assignment = app
        .post(
            "/v1/equipment-assignments",
            &dispatcher,
            json!({"equipment_id": truck_a, "journey_id": Uuid::new_v4(), "starts_at": at(25), "ends_at": at(26)}),
        )
        .await;
    assignment.expect_problem(409, "conflict");
    assert!(
        assignment.body["detail"]
            .as_str()
            .unwrap()
            .contains("schedule"),
        "{}",
        assignment.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_racing_schedules_for_one_person_or_one_truck_give_one_each() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let dana = person(&app, &admin, "Dana", json!(["DRIVER"])).await;
    let racing = |crew: Value, vehicles: Value| {
        let (app, dispatcher) = (&app, &dispatcher);
        join_all((0..20).map(move |i| {
            let mut body = schedule(crew.clone(), vehicles.clone(), 24, 30);
            body["starts_at"] =
                json!((Utc::now() + Duration::hours(24) + Duration::minutes(i)).to_rfc3339());
            async move { create(app, dispatcher, body).await }
        }))
    };
    let answers = racing(json!([{"user_id": dana, "role": "DRIVER"}]), json!([])).await;
    let won = answers.iter().filter(|r| r.status == 201).count();
    let refused = answers.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        (won, refused),
        (1, 19),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let truck_a = truck(&app, &admin).await;
    let answers = racing(json!([]), json!([truck_a])).await;
    let won = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let bookings: i64 = sqlx::query_scalar("SELECT count(*) FROM crew_bookings")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(bookings, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_releases_the_slot_and_moving_or_cancelling_moves_or_frees_everything() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let dana = person(&app, &admin, "Dana", json!(["DRIVER"])).await;
    let sam = person(&app, &admin, "Sam", json!(["MOVER"])).await;
    let truck_a = truck(&app, &admin).await;
    let first = create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": dana, "role": "DRIVER"}, {"user_id": sam, "role": "MOVER"}]),
            json!([truck_a]),
            24,
            28,
        ),
    )
    .await;
    first.expect(201);
    let id = first.id();
    let dana_token = app.token_for("acme", dana, Role::Crew);
    // Only Dana answers for Dana; Sam's path is not hers.
    app.post(
        &format!("/v1/schedules/{id}/crew/{sam}/decline"),
        &dana_token,
        json!({}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        &format!("/v1/schedules/{id}/crew/{dana}/decline"),
        &dana_token,
        json!({}),
    )
    .await
    .expect(200);
    // Dana is free again; Sam is not.
    create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": dana, "role": "DRIVER"}]),
            json!([]),
            25,
            26,
        ),
    )
    .await
    .expect(201);
    create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": sam, "role": "MOVER"}]),
            json!([]),
            25,
            26,
        ),
    )
    .await
    .expect_problem(409, "conflict");
    // Accepting again now clashes with her new schedule.
    let again = app
        .post(
            &format!("/v1/schedules/{id}/crew/{dana}/accept"),
            &dana_token,
            json!({}),
        )
        .await;
    again.expect_problem(409, "conflict");
    assert_eq!(again.body["rule"], "schedule.conflict");

    // Moving the schedule moves Sam and the truck with it.
    app.post(
        &format!("/v1/schedules/{id}/reschedule"),
        &dispatcher,
        json!({"starts_at": at(48), "ends_at": at(52), "reason": "customer asked"}),
    )
    .await
    .expect(200);
    create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": sam, "role": "MOVER"}]),
            json!([truck_a]),
            25,
            26,
        ),
    )
    .await
    .expect(201);
    create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": sam, "role": "MOVER"}]),
            json!([]),
            49,
            50,
        ),
    )
    .await
    .expect_problem(409, "conflict");
    // Cancelled: everything it held is free.
    app.post(
        &format!("/v1/schedules/{id}/cancel"),
        &dispatcher,
        json!({"reason": "rain"}),
    )
    .await
    .expect(200);
    create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": sam, "role": "MOVER"}]),
            json!([truck_a]),
            49,
            50,
        ),
    )
    .await
    .expect(201);
    app.post(&format!("/v1/schedules/{id}/start"), &dispatcher, json!({}))
        .await
        .expect_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_schedules_name_their_fields_and_roles_and_tenants_are_kept_apart() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let dana = person(&app, &admin, "Dana", json!(["DRIVER"])).await;
    let gone = person(&app, &admin, "Gone", json!(["MOVER"])).await;
    app.patch(
        &format!("/v1/staff/{gone}"),
        &admin,
        json!({"active": false}),
    )
    .await
    .expect(200);
    let bad = create(
        &app,
        &dispatcher,
        json!({
            "location_id": "tor-1", "title": "", "type": "JOURNEY",
            "starts_at": at(30), "ends_at": at(29),
            "crew": [{"user_id": dana, "role": "FOREMAN"}, {"user_id": gone, "role": "MOVER"},
                     {"user_id": Uuid::new_v4(), "role": "MOVER"}]
        }),
    )
    .await;
    bad.expect_problem(422, "validation");
    assert_eq!(
        bad.problem_fields(),
        vec![
            "title",
            "ends_at",
            "crew[0].role",
            "crew[1].user_id",
            "crew[2].user_id"
        ]
    );
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Schedule'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(written, 0, "nothing was written");
    for role in [Role::Sales, Role::Crew, Role::Accountant, Role::Auditor] {
        create(
            &app,
            &app.token("acme", role),
            schedule(json!([]), json!([]), 24, 25),
        )
        .await
        .expect_problem(403, "forbidden");
    }
    let ok = create(&app, &dispatcher, schedule(json!([]), json!([]), 24, 25)).await;
    ok.expect(201);
    let id = ok.id();
    let other = app.token("globex", Role::Admin);
    app.post(&format!("/v1/schedules/{id}/start"), &other, json!({}))
        .await
        .expect_problem(404, "not-found");
    app.patch(
        &format!("/v1/schedules/{id}"),
        &other,
        json!({"title": "mine"}),
    )
    .await
    .expect_problem(404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_lists_schedules_in_start_order_through_the_stream_and_crew_see_their_own() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let dana = person(&app, &admin, "Dana", json!(["DRIVER"])).await;
    let sam = person(&app, &admin, "Sam", json!(["MOVER"])).await;
    let later = create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": dana, "role": "DRIVER"}]),
            json!([]),
            48,
            50,
        ),
    )
    .await;
    later.expect(201);
    let mut early_body = schedule(
        json!([{"user_id": sam, "role": "MOVER"}]),
        json!([]),
        24,
        26,
    );
    // Given in Toronto's offset, shown back in it.
    let start = (Utc::now() + Duration::hours(24))
        .with_timezone(&chrono::FixedOffset::west_opt(4 * 3600).unwrap());
    early_body["starts_at"] = json!(start.to_rfc3339());
    let early = create(&app, &dispatcher, early_body).await;
    early.expect(201);
    let (later_id, early_id) = (later.id(), early.id());
    let dana_token = app.token_for("acme", dana, Role::Crew);
    app.post(
        &format!("/v1/schedules/{later_id}/crew/{dana}/accept"),
        &dana_token,
        json!({}),
    )
    .await
    .expect(200);
    let moved = app
        .post(
            &format!("/v1/schedules/{later_id}/reschedule"),
            &dispatcher,
            json!({"starts_at": at(72), "ends_at": at(75)}),
        )
        .await;
    moved.expect(200);
    let read = app
        .get(
            &format!("/v1/schedules/{later_id}?min_version={}", moved.version()),
            &dispatcher,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["crew"][0]["response"], "ACCEPTED");
    assert_eq!(read.body["status"], "SCHEDULED");
    assert!(read.body["rescheduled_at"].is_string());
    app.settle().await;
    let ids = |r: &TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.get("/v1/schedules", &dispatcher).await;
    all.expect(200);
    assert_eq!(
        ids(&all),
        vec![early_id.clone(), later_id.clone()],
        "earliest first"
    );
    assert!(
        all.body["items"][0]["starts_at"]
            .as_str()
            .unwrap()
            .ends_with("-04:00")
    );
    let dana_only = app
        .get(&format!("/v1/schedules?user_id={dana}"), &dispatcher)
        .await;
    assert_eq!(ids(&dana_only), vec![later_id.clone()]);
    let window = app
        .get(
            &format!(
                "/v1/schedules?from={}&to={}",
                urlencode(&at(20)),
                urlencode(&at(30))
            ),
            &dispatcher,
        )
        .await;
    assert_eq!(ids(&window), vec![early_id.clone()]);
    // Crew see the schedules they are on, and only those.
    let own = app.get("/v1/schedules", &dana_token).await;
    assert_eq!(ids(&own), vec![later_id.clone()]);
    app.get(&format!("/v1/schedules/{early_id}"), &dana_token)
        .await
        .expect_problem(403, "forbidden");
    app.post(
        &format!("/v1/schedules/{early_id}/cancel"),
        &dispatcher,
        json!({"reason": "rain"}),
    )
    .await
    .expect(200);
    app.settle().await;
    let cancelled = app.get("/v1/schedules?status=CANCELLED", &dispatcher).await;
    assert_eq!(ids(&cancelled), vec![early_id.clone()]);
    app.get("/v1/schedules?status=LATE", &dispatcher)
        .await
        .expect_problem(422, "validation");
    let other = app.token("globex", Role::Admin);
    app.get(&format!("/v1/schedules/{early_id}"), &other)
        .await
        .expect_problem(404, "not-found");
    assert_eq!(
        ids(&app.get("/v1/schedules", &other).await),
        Vec::<String>::new()
    );
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_and_crew_utilization_count_the_board_in_the_tenants_time_zone() {
    use chrono::{Datelike, NaiveTime, Weekday};
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    let dana = person(&app, &admin, "Dana", json!(["DRIVER"])).await;
    let sam = person(&app, &admin, "Sam", json!(["MOVER"])).await;
    let lee = person(&app, &admin, "Lee", json!(["MOVER"])).await;
    app.patch(
        &format!("/v1/staff/{lee}"),
        &admin,
        json!({"active": false}),
    )
    .await
    .expect(200);
    let truck_a = truck(&app, &admin).await;
    truck(&app, &admin).await;
    // A Monday at least a week ahead, in Toronto (the default zone; working
    // hours Monday–Friday 08:00–17:00).
    let tz = chrono_tz::America::Toronto;
    let mut monday = (Utc::now().with_timezone(&tz) + Duration::days(7)).date_naive();
    while monday.weekday() != Weekday::Mon {
        monday = monday.succ_opt().unwrap();
    }
    let local = |h: u32| {
        monday
            .and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap())
            .and_local_timezone(tz)
            .earliest()
            .unwrap()
            .to_rfc3339()
    };
    let job = |crew: Value, vehicles: Value, from: u32, to: u32| {
        json!({"location_id": "tor-1", "title": "Job", "type": "JOURNEY",
               "starts_at": local(from), "ends_at": local(to), "crew": crew, "vehicle_ids": vehicles})
    };
    create(
        &app,
        &dispatcher,
        job(
            json!([{"user_id": dana, "role": "DRIVER"}]),
            json!([truck_a]),
            9,
            13,
        ),
    )
    .await
    .expect(201);
    create(&app, &dispatcher, job(json!([]), json!([]), 14, 16))
        .await
        .expect(201);
    app.post(
        "/v1/availability",
        &dispatcher,
        json!({"user_id": sam, "type": "SICK", "starts_at": local(8), "ends_at": local(17)}),
    )
    .await
    .expect(201);
    app.settle().await;

    let tuesday = monday.succ_opt().unwrap();
    let wednesday = tuesday.succ_opt().unwrap();
    let capacity = app
        .get(
            &format!("/v1/calendar/capacity?from={monday}&to={wednesday}"),
            &dispatcher,
        )
        .await;
    capacity.expect(200);
    assert_eq!(capacity.body["time_zone"], "America/Toronto");
    let day = |i: usize| &capacity.body["days"][i];
    assert_eq!(day(0)["day"], monday.to_string());
    assert_eq!(
        (day(0)["jobs"].as_i64(), day(0)["unstaffed_jobs"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (
            day(0)["trucks_committed"].as_i64(),
            day(0)["active_trucks"].as_i64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(
        (
            day(0)["crew_committed"].as_i64(),
            day(0)["crew_available"].as_i64()
        ),
        (Some(1), Some(1)),
        "Sam is sick all Monday, Lee is inactive"
    );
    assert_eq!(
        (day(1)["jobs"].as_i64(), day(1)["crew_available"].as_i64()),
        (Some(0), Some(2))
    );
    app.get(
        &format!("/v1/calendar/capacity?from={monday}&to={monday}"),
        &dispatcher,
    )
    .await
    .expect_problem(422, "validation");
    app.get(
        &format!("/v1/calendar/capacity?from={monday}&to={wednesday}"),
        &app.token("acme", Role::Crew),
    )
    .await
    .expect_problem(403, "forbidden");

    let report = app
        .get(
            &format!("/v1/reports/crew-utilization?from={monday}&to={tuesday}"),
            &dispatcher,
        )
        .await;
    report.expect(200);
    let rows = report.body["crew"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "active crew only: {}", report.body);
    assert_eq!(rows[0]["display_name"], "Dana");
    assert_eq!(rows[0]["scheduled_hours"], "4.00");
    assert_eq!(rows[0]["available_hours"], "9.00");
    assert_eq!(rows[0]["utilization_percent"], "44.44");
    assert_eq!(rows[1]["display_name"], "Sam");
    assert_eq!(rows[1]["available_hours"], "0.00");
    assert_eq!(rows[1]["utilization_percent"], Value::Null);
    let csv = app
        .request(
            reqwest::Method::GET,
            &format!("/v1/reports/crew-utilization?from={monday}&to={tuesday}"),
            Some(&dispatcher),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    csv.expect(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = csv.body.as_str().expect("CSV text").to_owned();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "user_id,display_name,home_location_id,scheduled_hours,available_hours,utilization_percent"
        )
    );
    assert_eq!(
        lines.next(),
        Some(format!("{dana},Dana,,4.00,9.00,44.44").as_str())
    );
    assert_eq!(
        lines.next(),
        Some(format!("{sam},Sam,,0.00,0.00,").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_feed_is_valid_icalendar_with_or_without_a_bearer_and_a_revoked_token_is_gone() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let dispatcher = app.token("acme", Role::Dispatcher);
    app.request(
        reqwest::Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(json!({"company_name": "Acme Movers", "locations": [{"location_id": "tor-1", "name": "Toronto North"}]})),
        &[],
    )
    .await
    .expect(200);
    let dana = person(&app, &admin, "Dana Driver", json!(["DRIVER"])).await;
    let sam = person(&app, &admin, "Sam Mover", json!(["MOVER"])).await;
    let both = json!([{"user_id": dana, "role": "DRIVER"}, {"user_id": sam, "role": "MOVER"}]);
    let first = create(&app, &dispatcher, schedule(both.clone(), json!([]), 24, 28)).await;
    first.expect(201);
    let second = create(&app, &dispatcher, schedule(both, json!([]), 48, 50)).await;
    second.expect(201);
    let other = create(
        &app,
        &dispatcher,
        schedule(
            json!([{"user_id": sam, "role": "MOVER"}]),
            json!([]),
            72,
            73,
        ),
    )
    .await;
    other.expect(201);
    let dana_token = app.token_for("acme", dana, Role::Crew);
    app.post(
        &format!("/v1/schedules/{}/crew/{dana}/accept", first.id()),
        &dana_token,
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/schedules/{}/crew/{dana}/decline", second.id()),
        &dana_token,
        json!({}),
    )
    .await
    .expect(200);
    app.settle().await;

    let feed = app.get("/v1/calendar/feed.ics", &dana_token).await;
    feed.expect(200);
    assert!(
        feed.header("content-type")
            .unwrap()
            .starts_with("text/calendar")
    );
    let text = feed.body.as_str().expect("iCalendar text").to_owned();
    let parsed = crm_tests::parse_ics(&text);
    let events = parsed["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        2,
        "Dana's two schedules, not Sam's third: {parsed}"
    );
    let e = &events[0];
    assert_eq!(e["uid"], format!("{}@movers-crm", first.id()));
    assert_eq!(e["summary"], "Smith move");
    assert_eq!(e["location"], "Toronto North");
    assert_eq!(e["status"], "CONFIRMED");
    let description = e["description"].as_str().unwrap();
    assert!(
        description.contains("Dana Driver (DRIVER, ACCEPTED)"),
        "{description}"
    );
    assert!(
        description.contains("Sam Mover (MOVER, INVITED)"),
        "{description}"
    );
    let start: DateTime<Utc> = e["start"].as_str().unwrap().parse().unwrap();
    let end: DateTime<Utc> = e["end"].as_str().unwrap().parse().unwrap();
    assert_eq!(end - start, Duration::hours(4));
    assert!(
        (start - (Utc::now() + Duration::hours(24)))
            .num_minutes()
            .abs()
            < 10
    );
    assert_eq!(events[1]["status"], "CANCELLED", "declined");
    // No customer data in it, whatever else it holds.
    assert!(!text.contains("@example.com"));

    // Someone else's feed: crew may not; a dispatcher may.
    app.get(&format!("/v1/calendar/feed.ics?user_id={sam}"), &dana_token)
        .await
        .expect_problem(403, "forbidden");
    let sams = app
        .get(&format!("/v1/calendar/feed.ics?user_id={sam}"), &dispatcher)
        .await;
    sams.expect(200);
    assert_eq!(
        crm_tests::parse_ics(sams.body.as_str().unwrap())["events"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A secret URL for a phone: no bearer header needed.
    let issued = app
        .post("/v1/calendar/feed-tokens", &dana_token, json!({}))
        .await;
    issued.expect(201);
    let path = issued.body["path"].as_str().unwrap().to_owned();
    app.settle().await;
    let by_url = app
        .request(reqwest::Method::GET, &path, None, None, &[])
        .await;
    by_url.expect(200);
    let parsed = crm_tests::parse_ics(by_url.body.as_str().unwrap());
    assert_eq!(parsed["events"].as_array().unwrap().len(), 2);
    // A forged secret, or another id: 404.
    let forged = format!("{}X.ics", path.trim_end_matches(".ics"));
    app.request(reqwest::Method::GET, &forged, None, None, &[])
        .await
        .expect_problem(404, "not-found");
    app.request(
        reqwest::Method::GET,
        "/v1/calendar/feeds/nothing.ics",
        None,
        None,
        &[],
    )
    .await
    .expect_problem(404, "not-found");
    // Revoked: 404 from then on.
    let id = issued.body["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/v1/calendar/feed-tokens/{id}"), &dispatcher)
        .await
        .expect(200);
    app.settle().await;
    app.request(reqwest::Method::GET, &path, None, None, &[])
        .await
        .expect_problem(404, "not-found");
    // Crew issue their own only; another tenant cannot revoke.
    app.post(
        "/v1/calendar/feed-tokens",
        &dana_token,
        json!({"user_id": sam}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.delete(
        &format!("/v1/calendar/feed-tokens/{id}"),
        &app.token("globex", Role::Admin),
    )
    .await
    .expect_problem(404, "not-found");
}
