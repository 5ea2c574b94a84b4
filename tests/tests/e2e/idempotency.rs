//! `Idempotency-Key` on every POST: the same key with the same body returns
//! the first response (status and body) without acting again; the same key
//! with a different body answers 422. Keys are per tenant and kept at least
//! 24 h.

use std::collections::BTreeSet;

use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

const REPLAYED: &str = "idempotent-replayed";

async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> TestResponse {
    app.request(
        Method::POST,
        path,
        Some(token),
        Some(body),
        &[("Idempotency-Key", key)],
    )
    .await
}

/// A POST whose body is sent byte for byte as given.
async fn post_raw_with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &str,
) -> TestResponse {
    app.raw(
        Method::POST,
        path,
        Some(token),
        &[
            ("content-type", "application/json"),
            ("Idempotency-Key", key),
        ],
        body.to_owned(),
    )
    .await
}

async fn events_of_type(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(app.pool())
        .await
        .expect("count events")
}

async fn all_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .expect("count events")
}

fn customer(email: &str) -> Value {
    json!({"first_name": "Ida", "last_name": "Empotent", "email": email})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_and_body_replay_the_first_response_without_acting_again() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let body = customer("ida@example.com");

    let first = post_with_key(&app, "/v1/customers", &admin, "key-1", body.clone()).await;
    first.expect(201);
    assert_eq!(
        first.header(REPLAYED),
        None,
        "the first answer is not a replay"
    );
    let second = post_with_key(&app, "/v1/customers", &admin, "key-1", body.clone()).await;
    second.expect(201);
    assert_eq!(second.header(REPLAYED), Some("true"));
    assert_eq!(second.body, first.body, "the same body, hence the same id");
    assert_eq!(second.id(), first.id());
    assert_eq!(second.header("location"), first.header("location"));
    assert!(first.header("location").is_some());
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(second.header("etag"), Some("\"1\""));
    assert_eq!(second.header("content-type"), first.header("content-type"));

    // A key replays only to the user who used it first.
    let colleague = app.token("acme", Role::Admin);
    let third = post_with_key(&app, "/v1/customers", &colleague, "key-1", body).await;
    third.expect_problem(422, "idempotency-key-reused");

    assert_eq!(events_of_type(&app, "CustomerRegistered").await, 1);
    assert_eq!(all_events(&app).await, 1);

    // Without a key the same request acts (and meets the uniqueness rule).
    app.post("/v1/customers", &admin, customer("ida@example.com"))
        .await
        .expect_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_json_with_other_whitespace_and_key_order_is_the_same_request() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);

    let first = post_raw_with_key(
        &app,
        "/v1/customers",
        &admin,
        "k",
        r#"{"first_name":"Ida","last_name":"Empotent","email":"ida@example.com","tags":["a","b"]}"#,
    )
    .await;
    first.expect(201);
    let second = post_raw_with_key(
        &app,
        "/v1/customers",
        &admin,
        "k",
        "{\n  \"tags\" : [ \"a\", \"b\" ],\n  \"email\": \"ida@example.com\",\n\t\"last_name\":\"Empotent\",  \"first_name\" : \"Ida\"\n}\n",
    )
    .await;
    second.expect(201);
    assert_eq!(second.header(REPLAYED), Some("true"));
    assert_eq!(second.id(), first.id());

    // Array order is meaningful: that is another request.
    let third = post_raw_with_key(
        &app,
        "/v1/customers",
        &admin,
        "k",
        r#"{"first_name":"Ida","last_name":"Empotent","email":"ida@example.com","tags":["b","a"]}"#,
    )
    .await;
    third.expect_problem(422, "idempotency-key-reused");
    assert_eq!(events_of_type(&app, "CustomerRegistered").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_another_body_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let first = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "reused",
        customer("first@example.com"),
    )
    .await;
    first.expect(201);

    let other = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "reused",
        customer("second@example.com"),
    )
    .await;
    other.expect_problem(422, "idempotency-key-reused");
    assert_eq!(other.header(REPLAYED), None);
    assert_eq!(all_events(&app).await, 1, "nothing was written");
    let claimed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM customer_contact_claims WHERE value_key = 'second@example.com'",
    )
    .fetch_one(app.pool())
    .await
    .expect("claims");
    assert_eq!(claimed, 0);

    // The key still answers its own request.
    let replay = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "reused",
        customer("first@example.com"),
    )
    .await;
    replay.expect(201);
    assert_eq!(replay.id(), first.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_per_tenant() {
    let app = TestApp::spawn().await;
    let acme = app.token("acme", Role::Admin);
    let globex = app.token("globex", Role::Admin);
    let body = customer("shared@example.com");

    let in_acme = post_with_key(&app, "/v1/customers", &acme, "shared-key", body.clone()).await;
    in_acme.expect(201);
    let in_globex = post_with_key(&app, "/v1/customers", &globex, "shared-key", body.clone()).await;
    in_globex.expect(201);
    assert_eq!(in_globex.header(REPLAYED), None, "not acme's answer");
    assert_ne!(in_acme.id(), in_globex.id());
    assert_eq!(events_of_type(&app, "CustomerRegistered").await, 2);

    // With another body, globex's key is globex's own business.
    let globex_other = post_with_key(
        &app,
        "/v1/customers",
        &globex,
        "other-key",
        customer("globex-only@example.com"),
    )
    .await;
    globex_other.expect(201);
    post_with_key(
        &app,
        "/v1/customers",
        &acme,
        "other-key",
        customer("acme-only@example.com"),
    )
    .await
    .expect(201);

    // Each tenant's retry replays its own answer.
    let again = post_with_key(&app, "/v1/customers", &globex, "shared-key", body).await;
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.id(), in_globex.id());
    assert_eq!(events_of_type(&app, "CustomerRegistered").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_on_another_path_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let ann = app.customer(&admin, "ann@example.com").await;
    let bob = app.customer(&admin, "bob@example.com").await;
    let tag = json!({"tag": "vip"});

    post_with_key(
        &app,
        &format!("/v1/customers/{ann}/tags"),
        &admin,
        "tag-key",
        tag.clone(),
    )
    .await
    .expect(200);
    let other_path = post_with_key(
        &app,
        &format!("/v1/customers/{bob}/tags"),
        &admin,
        "tag-key",
        tag,
    )
    .await;
    other_path.expect_problem(422, "idempotency-key-reused");
    let bob_events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
        .bind(&bob)
        .fetch_one(app.pool())
        .await
        .expect("count");
    assert_eq!(bob_events, 1, "Bob was not tagged");

    // Another route altogether.
    post_with_key(
        &app,
        "/v1/leads",
        &admin,
        "tag-key",
        json!({"customer_id": ann, "source": "website"}),
    )
    .await
    .expect_problem(422, "idempotency-key-reused");
    assert_eq!(events_of_type(&app, "LeadCreated").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_is_not_stored_so_a_corrected_retry_with_the_key_acts() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);

    let invalid = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "retry-me",
        customer("not-an-email"),
    )
    .await;
    invalid.expect_problem(422, "validation");
    assert_eq!(invalid.problem_fields(), ["email"]);
    // The same invalid request again is answered afresh, not replayed.
    let again = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "retry-me",
        customer("not-an-email"),
    )
    .await;
    again.expect_problem(422, "validation");
    assert_eq!(again.header(REPLAYED), None);

    let corrected = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "retry-me",
        customer("fixed@example.com"),
    )
    .await;
    corrected.expect(201);
    assert_eq!(corrected.header(REPLAYED), None);

    // A 409 is not stored either.
    let taken = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "clash",
        customer("fixed@example.com"),
    )
    .await;
    taken.expect_problem(409, "conflict");
    let fixed = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "clash",
        customer("other@example.com"),
    )
    .await;
    fixed.expect(201);

    // The stored responses are the successes.
    let replay = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "retry-me",
        customer("fixed@example.com"),
    )
    .await;
    assert_eq!(replay.header(REPLAYED), Some("true"));
    assert_eq!(replay.id(), corrected.id());
    assert_eq!(events_of_type(&app, "CustomerRegistered").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_simultaneous_requests_with_one_key_create_one_customer() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let body = customer("burst@example.com");

    let responses = join_all(
        (0..10).map(|_| post_with_key(&app, "/v1/customers", &admin, "burst", body.clone())),
    )
    .await;

    assert_eq!(events_of_type(&app, "CustomerRegistered").await, 1);
    let created: Vec<&TestResponse> = responses.iter().filter(|r| r.status == 201).collect();
    assert!(!created.is_empty(), "{responses:#?}");
    let ids: BTreeSet<String> = created.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), 1, "every 201 names the same customer: {ids:?}");
    assert_eq!(
        created
            .iter()
            .filter(|r| r.header(REPLAYED).is_none())
            .count(),
        1,
        "exactly one answer is not a replay"
    );
    for r in &responses {
        match r.status {
            201 => {}
            409 => {
                r.expect_problem(409, "conflict");
                assert_eq!(r.body["rule"], "idempotency.in-progress", "{}", r.body);
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }

    // Once done, a retry is a replay.
    let retry = post_with_key(&app, "/v1/customers", &admin, "burst", body).await;
    retry.expect(201);
    assert_eq!(retry.header(REPLAYED), Some("true"));
    assert!(ids.contains(&retry.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_work_on_every_post_route() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer_id = app.customer(&admin, "routes@example.com").await;

    // Opening a lead.
    let open = json!({"customer_id": customer_id, "source": "website"});
    let lead = post_with_key(&app, "/v1/leads", &admin, "open", open.clone()).await;
    lead.expect(201);
    let replay = post_with_key(&app, "/v1/leads", &admin, "open", open).await;
    replay.expect(201);
    assert_eq!(replay.header(REPLAYED), Some("true"));
    assert_eq!(replay.id(), lead.id());
    assert_eq!(events_of_type(&app, "LeadCreated").await, 1);
    let lead = lead.id();

    // Recording an activity.
    let path = format!("/v1/leads/{lead}/activities");
    let activity = json!({"type": "OTHER", "description": "Left a voicemail"});
    let first = post_with_key(&app, &path, &admin, "activity", activity.clone()).await;
    first.expect(201);
    let second = post_with_key(&app, &path, &admin, "activity", activity).await;
    second.expect(201);
    assert_eq!(second.header(REPLAYED), Some("true"));
    assert_eq!(second.body, first.body, "the same activity id");
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(events_of_type(&app, "SalesActivityRecorded").await, 1);

    // A transition: a second real one would be an illegal CONTACTED → CONTACTED.
    let path = format!("/v1/leads/{lead}/transition");
    let move_on = json!({"to": "CONTACTED"});
    let first = post_with_key(&app, &path, &admin, "move", move_on.clone()).await;
    first.expect(200);
    let second = post_with_key(&app, &path, &admin, "move", move_on.clone()).await;
    second.expect(200);
    assert_eq!(second.header(REPLAYED), Some("true"));
    assert_eq!(second.body, first.body);
    app.post(&path, &admin, move_on)
        .await
        .expect_problem(409, "conflict");
    assert_eq!(events_of_type(&app, "LeadStatusChanged").await, 1);

    // Tagging, deactivating (with an empty body) and assigning.
    let tag_path = format!("/v1/customers/{customer_id}/tags");
    for _ in 0..2 {
        post_with_key(&app, &tag_path, &admin, "tag", json!({"tag": "vip"}))
            .await
            .expect(200);
    }
    let deactivate = format!("/v1/customers/{customer_id}/deactivate");
    for expected_replay in [None, Some("true")] {
        let response = app
            .request(
                Method::POST,
                &deactivate,
                Some(&admin),
                None,
                &[("Idempotency-Key", "off")],
            )
            .await;
        response.expect(200);
        assert_eq!(response.header(REPLAYED), expected_replay);
    }
    assert_eq!(events_of_type(&app, "CustomerDeactivated").await, 1);
    let assign = format!("/v1/leads/{lead}/assign");
    let rep = uuid::Uuid::new_v4();
    for expected_replay in [None, Some("true")] {
        let response =
            post_with_key(&app, &assign, &admin, "assign", json!({"user_id": rep})).await;
        response.expect(200);
        assert_eq!(response.header(REPLAYED), expected_replay);
    }
    assert_eq!(events_of_type(&app, "LeadAssigned").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_kept_for_24_hours_and_then_treated_as_new() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer_id = app.customer(&admin, "aging@example.com").await;
    let lead = app.lead(&admin, &customer_id).await;
    let path = format!("/v1/leads/{lead}/activities");
    let activity = json!({"type": "OTHER", "description": "Checked the calendar"});

    let first = post_with_key(&app, &path, &admin, "aging", activity.clone()).await;
    first.expect(201);

    // 23 hours later it is still the same request.
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '23 hours' WHERE key = 'aging'",
    )
    .execute(app.pool())
    .await
    .expect("age the key");
    let kept = post_with_key(&app, &path, &admin, "aging", activity.clone()).await;
    kept.expect(201);
    assert_eq!(kept.header(REPLAYED), Some("true"));
    assert_eq!(kept.body, first.body);
    assert_eq!(events_of_type(&app, "SalesActivityRecorded").await, 1);

    // After 25 hours it is forgotten: the request acts again.
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'aging'",
    )
    .execute(app.pool())
    .await
    .expect("age the key");
    let anew = post_with_key(&app, &path, &admin, "aging", activity.clone()).await;
    anew.expect(201);
    assert_eq!(anew.header(REPLAYED), None);
    assert_ne!(anew.body["id"], first.body["id"], "a second activity");
    assert_eq!(events_of_type(&app, "SalesActivityRecorded").await, 2);
    // ...and the new answer is the one kept from now on.
    let replay = post_with_key(&app, &path, &admin, "aging", activity).await;
    assert_eq!(replay.header(REPLAYED), Some("true"));
    assert_eq!(replay.body, anew.body);

    // An expired customer registration acts again too: the email is taken now.
    let body = customer("expired@example.com");
    post_with_key(&app, "/v1/customers", &admin, "register", body.clone())
        .await
        .expect(201);
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'register'",
    )
    .execute(app.pool())
    .await
    .expect("age the key");
    let acted = post_with_key(&app, "/v1/customers", &admin, "register", body).await;
    acted.expect_problem(409, "conflict");
    assert_eq!(acted.problem_fields(), ["email"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_removes_only_keys_older_than_24_hours() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "old",
        customer("old@example.com"),
    )
    .await
    .expect(201);
    post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "fresh",
        customer("fresh@example.com"),
    )
    .await
    .expect(201);
    post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "day-old",
        customer("day@example.com"),
    )
    .await
    .expect(201);
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'",
    )
    .execute(app.pool())
    .await
    .expect("age the key");
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '23 hours 59 minutes' WHERE key = 'day-old'",
    )
    .execute(app.pool())
    .await
    .expect("age the key");

    let purged = command_api::idempotency::purge_expired(app.pool())
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys ORDER BY key")
        .fetch_all(app.pool())
        .await
        .expect("keys");
    assert_eq!(left, ["day-old", "fresh"]);

    // The kept ones still replay.
    let replay = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        "day-old",
        customer("day@example.com"),
    )
    .await;
    assert_eq!(replay.header(REPLAYED), Some("true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_key_is_a_bad_request_and_nothing_is_done() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let too_long = "k".repeat(300);
    let longest = "k".repeat(255);

    for key in [too_long.as_str(), "", "has space", "tab\there"] {
        let response = post_with_key(
            &app,
            "/v1/customers",
            &admin,
            key,
            customer("bad-key@example.com"),
        )
        .await;
        assert_eq!(response.status, 400, "key {key:?}: {}", response.body);
        response.expect_problem(400, "bad-request");
        assert_eq!(
            response.problem_fields(),
            ["Idempotency-Key"],
            "key {key:?}"
        );
    }
    assert_eq!(all_events(&app).await, 0);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(app.pool())
        .await
        .expect("count");
    assert_eq!(stored, 0);

    // 255 printable characters are fine.
    let response = post_with_key(
        &app,
        "/v1/customers",
        &admin,
        &longest,
        customer("bad-key@example.com"),
    )
    .await;
    response.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_still_in_progress_answers_409_until_its_lock_runs_out() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer_id = app.customer(&admin, "lock@example.com").await;
    let lead = app.lead(&admin, &customer_id).await;
    let path = format!("/v1/leads/{lead}/activities");
    let activity = json!({"type": "OTHER", "description": "Started, then the server died"});
    let first = post_with_key(&app, &path, &admin, "held", activity.clone()).await;
    first.expect(201);

    // As if the first request were still running.
    sqlx::query(
        "UPDATE idempotency_keys
            SET state = 'in_progress', response_status = NULL, response_headers = NULL, response_body = NULL,
                locked_until = now() + interval '1 minute'
          WHERE key = 'held'",
    )
    .execute(app.pool())
    .await
    .expect("hold the key");
    let busy = post_with_key(&app, &path, &admin, "held", activity.clone()).await;
    busy.expect_problem(409, "conflict");
    assert_eq!(busy.body["rule"], "idempotency.in-progress");
    // Another body is still another request.
    post_with_key(
        &app,
        &path,
        &admin,
        "held",
        json!({"type": "OTHER", "description": "Something else"}),
    )
    .await
    .expect_problem(422, "idempotency-key-reused");
    assert_eq!(events_of_type(&app, "SalesActivityRecorded").await, 1);

    // Its holder presumed dead, the key is taken over and the request acts.
    sqlx::query(
        "UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = 'held'",
    )
    .execute(app.pool())
    .await
    .expect("expire the lock");
    let taken_over = post_with_key(&app, &path, &admin, "held", activity.clone()).await;
    taken_over.expect(201);
    assert_eq!(taken_over.header(REPLAYED), None);
    assert_eq!(events_of_type(&app, "SalesActivityRecorded").await, 2);
    let replay = post_with_key(&app, &path, &admin, "held", activity).await;
    assert_eq!(replay.header(REPLAYED), Some("true"));
    assert_eq!(replay.body, taken_over.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_reusing_a_key_gets_no_replay_of_someone_elses_response() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let crew = app.token("acme", Role::Crew);
    let body = customer("first-user@example.com");
    post_with_key(&app, "/v1/customers", &admin, "shared-key", body.clone())
        .await
        .expect(201);
    // A crew member may not register customers; replaying the admin's
    // response would hand them what their role could never produce.
    let other = post_with_key(&app, "/v1/customers", &crew, "shared-key", body).await;
    other.expect_problem(422, "idempotency-key-reused");
    assert!(other.header(REPLAYED).is_none());
    assert_eq!(events_of_type(&app, "CustomerRegistered").await, 1);
}
