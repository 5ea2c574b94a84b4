//! The tenant's profile and its staff directory, end to end: commands,
//! the `staff` read model through NATS, sealed contact details, roles and
//! tenancy.

use crm_tests::TestApp;
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

async fn put_profile(app: &TestApp, token: &str, body: Value) -> crm_tests::TestResponse {
    app.request(
        Method::PUT,
        "/v1/tenant/profile",
        Some(token),
        Some(body),
        &[],
    )
    .await
}

fn profile() -> Value {
    json!({
        "company_name": "Acme Movers",
        "address": {"line1": "1 King St W", "city": "Toronto", "province": "ON", "postal_code": "m5h 1a1"},
        "locations": [
            {"location_id": "tor-1", "name": "Toronto"},
            {"location_id": "ott-1", "name": "Ottawa"}
        ],
        "time_zone": "America/Toronto",
        "locale": "en-CA",
        "email_sender_name": "Acme Movers",
        "email_sender_address": "hello@acme-movers.example",
        "working_hours": [
            {"day": "MONDAY", "opens": "07:30:00", "closes": "16:30:00"},
            {"day": "SATURDAY", "opens": "09:00:00", "closes": "13:00:00"}
        ],
        "default_job_duration_minutes": 300
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_the_profile_and_reads_it_back_with_defaults_until_then() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let before = app.get("/v1/tenant/profile", &admin).await;
    before.expect(200);
    assert_eq!(before.body["company_name"], Value::Null);
    assert_eq!(before.body["time_zone"], "America/Toronto");
    assert_eq!(before.body["working_hours"].as_array().unwrap().len(), 5);
    assert_eq!(before.body["default_job_duration_minutes"], 240);

    put_profile(&app, &admin, profile()).await.expect(200);
    let after = app.get("/v1/tenant/profile", &admin).await;
    after.expect(200);
    assert_eq!(after.header("etag"), Some("\"1\""));
    assert_eq!(after.body["company_name"], "Acme Movers");
    assert_eq!(after.body["address"]["postal_code"], "M5H 1A1");
    assert_eq!(after.body["locations"][1]["name"], "Ottawa");
    assert_eq!(after.body["working_hours"][0]["opens"], "07:30:00");
    assert_eq!(after.body["working_hours"][1]["day"], "SATURDAY");
    assert_eq!(after.body["default_job_duration_minutes"], 300);
    // The same profile again changes nothing.
    let same = put_profile(&app, &admin, profile()).await;
    same.expect(200);
    assert_eq!(same.version(), 1);
    // A stale If-Match is refused.
    app.request(
        Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(json!({"company_name": "Acme"})),
        &[("if-match", "\"0\"")],
    )
    .await
    .expect_problem(412, "precondition-failed");

    // Another tenant's profile is its own.
    let other = app.token("globex", Role::Admin);
    let theirs = app.get("/v1/tenant/profile", &other).await;
    assert_eq!(theirs.body["company_name"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_profile_names_every_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let bad = put_profile(
        &app,
        &admin,
        json!({
            "company_name": "",
            "time_zone": "Mars/Olympus",
            "locale": "klingon",
            "email_sender_address": "nope",
            "locations": [{"location_id": "a b", "name": "X"}],
            "working_hours": [{"day": "MONDAY", "opens": "17:00:00", "closes": "08:00:00"}],
            "default_job_duration_minutes": 0
        }),
    )
    .await;
    bad.expect_problem(422, "validation");
    assert_eq!(
        bad.problem_fields(),
        vec![
            "company_name",
            "locations[0].location_id",
            "time_zone",
            "locale",
            "email_sender_address",
            "working_hours[0].closes",
            "default_job_duration_minutes",
        ]
    );
    let unknown = put_profile(&app, &admin, json!({"company_name": "A", "colour": "red"})).await;
    unknown.expect_problem(400, "bad-request");
    assert_eq!(unknown.problem_fields(), vec!["colour"]);
    let profile = app.get("/v1/tenant/profile", &admin).await;
    assert_eq!(profile.header("etag"), Some("\"0\""), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_keep_the_profile() {
    let app = TestApp::spawn().await;
    for role in [Role::Manager, Role::Dispatcher, Role::Sales, Role::Crew] {
        let token = app.token("acme", role);
        app.get("/v1/tenant/profile", &token)
            .await
            .expect_problem(403, "forbidden");
        put_profile(&app, &token, profile())
            .await
            .expect_problem(403, "forbidden");
    }
}

async fn add_staff(app: &TestApp, token: &str, user: Uuid, body: Value) -> crm_tests::TestResponse {
    let mut body = body;
    body["user_id"] = json!(user);
    app.post("/v1/staff", token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_are_added_changed_listed_and_their_contact_details_are_sealed() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    put_profile(&app, &admin, profile()).await.expect(200);
    let (dana, sam, lee) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let added = add_staff(
        &app,
        &admin,
        dana,
        json!({"display_name": "Dana Driver", "crew_roles": ["DRIVER", "MOVER"], "home_location_id": "tor-1",
               "phone": "416 555 0101", "email": "dana@example.com"}),
    )
    .await;
    added.expect(201);
    assert_eq!(added.id(), dana.to_string());
    assert_eq!(
        added.header("location"),
        Some(format!("/v1/staff/{dana}").as_str())
    );
    add_staff(
        &app,
        &admin,
        sam,
        json!({"display_name": "Sam Foreman", "crew_roles": ["FOREMAN"], "home_location_id": "ott-1"}),
    )
    .await
    .expect(201);
    add_staff(
        &app,
        &admin,
        lee,
        json!({"display_name": "Lee Office", "active": false}),
    )
    .await
    .expect(201);
    // Added twice: 409 naming the rule.
    add_staff(&app, &admin, dana, json!({"display_name": "Dana again"}))
        .await
        .expect_problem(409, "conflict");
    // A home location the profile does not list.
    let elsewhere = add_staff(
        &app,
        &admin,
        Uuid::new_v4(),
        json!({"display_name": "X", "home_location_id": "mtl-1"}),
    )
    .await;
    elsewhere.expect_problem(422, "validation");
    assert_eq!(elsewhere.problem_fields(), vec!["home_location_id"]);

    let changed = app
        .patch(
            &format!("/v1/staff/{dana}"),
            &admin,
            json!({"phone": null, "crew_roles": ["DRIVER"]}),
        )
        .await;
    changed.expect(200);
    let read = app
        .get(
            &format!("/v1/staff/{dana}?min_version={}", changed.version()),
            &admin,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["display_name"], "Dana Driver");
    assert_eq!(read.body["crew_roles"], json!(["DRIVER"]));
    assert_eq!(read.body["phone"], Value::Null);
    assert_eq!(read.body["email"], "dana@example.com");

    // Stored sealed: the plain email is nowhere in the event store.
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'StaffMember' AND payload::text LIKE '%dana@example.com%'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(plain, 0);
    let sealed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'StaffMember' AND payload::text LIKE '%$sealed%'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(sealed >= 1);

    app.settle().await;
    let names = |r: &crm_tests::TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["display_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.get("/v1/staff", &admin).await;
    all.expect(200);
    assert_eq!(
        names(&all),
        vec!["Lee Office", "Sam Foreman", "Dana Driver"]
    );
    let drivers = app.get("/v1/staff?role=DRIVER", &admin).await;
    assert_eq!(names(&drivers), vec!["Dana Driver"]);
    let ottawa = app.get("/v1/staff?location_id=ott-1", &admin).await;
    assert_eq!(names(&ottawa), vec!["Sam Foreman"]);
    let active = app.get("/v1/staff?active=true", &admin).await;
    assert_eq!(names(&active), vec!["Sam Foreman", "Dana Driver"]);
    let page = app.get("/v1/staff?limit=2", &admin).await;
    assert_eq!(names(&page), vec!["Lee Office", "Sam Foreman"]);
    let next = page.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(&format!("/v1/staff?limit=2&cursor={next}"), &admin)
        .await;
    assert_eq!(names(&rest), vec!["Dana Driver"]);
    app.get("/v1/staff?role=PILOT", &admin)
        .await
        .expect_problem(422, "validation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crew_see_only_their_own_entry_and_other_tenants_see_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let (dana, sam) = (Uuid::new_v4(), Uuid::new_v4());
    for (user, name) in [(dana, "Dana"), (sam, "Sam")] {
        add_staff(&app, &admin, user, json!({"display_name": name}))
            .await
            .expect(201);
    }
    app.settle().await;
    let dana_token = app.token_for("acme", dana, Role::Crew);
    let own = app.get("/v1/staff", &dana_token).await;
    own.expect(200);
    assert_eq!(own.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(own.body["items"][0]["display_name"], "Dana");
    app.get(&format!("/v1/staff/{dana}"), &dana_token)
        .await
        .expect(200);
    app.get(&format!("/v1/staff/{sam}"), &dana_token)
        .await
        .expect_problem(403, "forbidden");
    // Crew change nothing; dispatchers read but do not add.
    app.patch(
        &format!("/v1/staff/{dana}"),
        &dana_token,
        json!({"active": false}),
    )
    .await
    .expect_problem(403, "forbidden");
    let dispatcher = app.token("acme", Role::Dispatcher);
    app.get("/v1/staff", &dispatcher).await.expect(200);
    add_staff(
        &app,
        &dispatcher,
        Uuid::new_v4(),
        json!({"display_name": "X"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.get("/v1/staff", &app.token("acme", Role::Sales))
        .await
        .expect_problem(403, "forbidden");

    // Another tenant: not found, and its list is empty.
    let other = app.token("globex", Role::Admin);
    app.get(&format!("/v1/staff/{dana}"), &other)
        .await
        .expect_problem(404, "not-found");
    app.patch(
        &format!("/v1/staff/{dana}"),
        &other,
        json!({"display_name": "Mine"}),
    )
    .await
    .expect_problem(404, "not-found");
    let theirs = app.get("/v1/staff", &other).await;
    assert_eq!(theirs.body["items"].as_array().unwrap().len(), 0);
    // The same user id in another tenant's directory is another entry.
    add_staff(
        &app,
        &other,
        dana,
        json!({"display_name": "Dana at Globex"}),
    )
    .await
    .expect(201);
    app.settle().await;
    let ours = app.get(&format!("/v1/staff/{dana}"), &admin).await;
    assert_eq!(ours.body["display_name"], "Dana");
}
