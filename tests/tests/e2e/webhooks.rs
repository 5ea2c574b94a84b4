//! Outbound webhooks end to end: an endpoint subscribes to event types, the
//! fan-out process queues each subscribed event once, the worker (driven
//! here on a test clock) delivers it signed in the Standard Webhooks format
//! to a real receiver that verifies the signature on its own, and the log
//! records every attempt; the retry schedule, recovery, a manual retry,
//! 410 disabling the endpoint, secret rotation's two signatures, the SSRF
//! guard at creation, roles and tenancy.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_tests::{TestApp, TestEnv};
use event_schemas::Role;
use outbound::ManualClock;
use processes::webhooks::{Handed, WorkerConfig};
use reqwest::Method;
use serde_json::{Value, json};
use test_peers::webhooks::{Answer, WebhookReceiver};

const WAIT: Duration = Duration::from_secs(20);

async fn create(app: &TestApp, token: &str, url: &str, event_types: Value) -> (String, String) {
    let created = app
        .post(
            "/v1/webhooks",
            token,
            json!({"name": "Accounting", "url": url, "event_types": event_types,
                   "headers": {"X-Source": "crm-tests"}}),
        )
        .await;
    created.expect(201);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (created.id(), secret)
}

async fn customer(app: &TestApp, token: &str, email: &str) -> String {
    let created = app
        .post(
            "/v1/customers",
            token,
            json!({"first_name": "Jane", "last_name": "Doe", "email": email}),
        )
        .await;
    created.expect(201);
    created.id()
}

async fn deliveries(app: &TestApp, token: &str, webhook: &str) -> Vec<Value> {
    let listed = app
        .get(&format!("/v1/webhooks/{webhook}/deliveries"), token)
        .await;
    listed.expect(200);
    listed.body["items"].as_array().unwrap().clone()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_event_arrives_signed_with_its_personal_data_and_is_logged_once() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let receiver = WebhookReceiver::start(&[]).await;
    let (webhook, secret) = create(
        &app,
        &admin,
        &receiver.url("/hooks/crm"),
        json!(["Customer*"]),
    )
    .await;
    receiver.set_secrets(&[&secret]);
    let jane = customer(&app, &admin, "jane@example.com").await;
    // A lead event is not subscribed to.
    app.post(
        "/v1/leads",
        &admin,
        json!({"customer_id": jane, "source": "website"}),
    )
    .await
    .expect(201);
    app.settle().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let worker = app.webhook_worker(clock.clone(), WorkerConfig::default());
    let handed = worker.run_once().await.unwrap();
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0].1, Handed::Delivered);

    let received = receiver.wait_for(1, WAIT).await;
    let hook = &received[0];
    assert!(hook.verified, "the signature verifies: {hook:?}");
    assert!(hook.timestamp_ok);
    assert_eq!(hook.id.as_deref(), Some(handed[0].0.to_string().as_str()));
    assert_eq!(hook.header("x-source"), Some("crm-tests"));
    assert_eq!(hook.header("content-type"), Some("application/json"));
    let body = hook.json();
    assert_eq!(body["type"], "CustomerRegistered");
    assert_eq!(body["subject"], jane);
    assert_eq!(body["tenant"], "acme");
    // Personal data is opened for the tenant's own endpoint.
    assert_eq!(body["data"]["email"], "jane@example.com");
    assert_eq!(body["data"]["first_name"], "Jane");

    app.settle().await;
    let log = deliveries(&app, &admin, &webhook).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "DELIVERED");
    assert_eq!(log[0]["event_type"], "CustomerRegistered");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["last_status_code"], 200);
    let detail = app
        .get(
            &format!(
                "/v1/webhooks/{webhook}/deliveries/{}",
                log[0]["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    detail.expect(200);
    assert_eq!(detail.body["attempt_log"][0]["outcome"], "DELIVERED");
    assert_eq!(detail.body["attempt_log"][0]["response_excerpt"], "{}");
    let read = app.get(&format!("/v1/webhooks/{webhook}"), &admin).await;
    read.expect(200);
    assert_eq!(read.body["success_count"], 1);
    assert_eq!(read.body["failure_count"], 0);
    assert!(read.body["last_triggered_at"].is_string());
    assert_eq!(read.body["header_names"], json!(["X-Source"]));
    assert!(!read.body.to_string().contains("whsec_"), "{}", read.body);

    // The delivery's own events are not delivered (no feedback loop), and
    // nothing is delivered twice.
    assert!(worker.run_once().await.unwrap().is_empty());
    assert_eq!(receiver.count(), 1);
    // The secret is sealed in the store.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE aggregate_type = 'Webhook'")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert!(!stored.concat().contains(&secret));
    assert!(!stored.concat().contains("crm-tests"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_follow_the_retry_schedule_then_fail_and_a_recovery_delivers_them() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let receiver = WebhookReceiver::start(&[]).await;
    receiver.set_tolerance(Duration::from_secs(30 * 24 * 3600));
    let (webhook, secret) = create(&app, &admin, &receiver.url("/h"), json!(["*"])).await;
    receiver.set_secrets(&[&secret]);
    receiver.answer_always(Answer::Status(500));
    customer(&app, &admin, "jane@example.com").await;
    app.settle().await;
    let start = at("2027-03-01T12:00:00Z");
    let clock = Arc::new(ManualClock::new(start));
    let worker = app.webhook_worker(clock.clone(), WorkerConfig::default());
    // The default schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h,
    // 10 h, 10 h (no jitter here).
    let pauses = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
    let delivery = {
        let handed = worker.run_once().await.unwrap();
        assert_eq!(handed.len(), 1, "{handed:?}");
        handed[0].0
    };
    let mut now = start;
    for (i, pause) in pauses.iter().enumerate() {
        app.settle().await;
        // Not due a second early.
        clock.set(now + chrono::Duration::seconds(pause - 1));
        assert!(
            worker.run_once().await.unwrap().is_empty(),
            "attempt {} came early",
            i + 2
        );
        now += chrono::Duration::seconds(*pause);
        clock.set(now);
        let handed = worker.run_once().await.unwrap();
        let expected = if i + 1 == pauses.len() {
            Handed::Failed
        } else {
            Handed::Retry(now + chrono::Duration::seconds(pauses[i + 1]))
        };
        assert_eq!(handed, vec![(delivery, expected)], "attempt {}", i + 2);
    }
    assert_eq!(receiver.count(), 8);
    // Every copy carries the same webhook-id.
    assert_eq!(receiver.distinct_ids().len(), 1);
    app.settle().await;
    let log = deliveries(&app, &admin, &webhook).await;
    assert_eq!(log[0]["status"], "FAILED");
    assert_eq!(log[0]["attempts"], 8);
    assert_eq!(log[0]["last_status_code"], 500);
    let read = app.get(&format!("/v1/webhooks/{webhook}"), &admin).await;
    assert_eq!(read.body["failure_count"], 8);
    assert_eq!(read.body["active"], true, "failing for a day is not five");

    // Recover every failure since the start: queued again, delivered.
    receiver.clear_script();
    app.post(
        &format!("/v1/webhooks/{webhook}/recover"),
        &admin,
        json!({"since": "2027-03-01T00:00:00Z"}),
    )
    .await
    .expect_problem(422, "validation");
    clock.set(Utc::now());
    app.post(
        &format!("/v1/webhooks/{webhook}/recover"),
        &admin,
        json!({"since": (Utc::now() - chrono::Duration::days(1)).to_rfc3339()}),
    )
    .await
    .expect(200);
    app.settle().await;
    // The failure happened on the test clock in 2027: not since yesterday.
    assert!(worker.run_once().await.unwrap().is_empty());
    // A manual retry of that one delivery.
    app.post(
        &format!("/v1/webhooks/{webhook}/deliveries/{delivery}/retry"),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    app.settle().await;
    clock.set(Utc::now());
    assert_eq!(
        worker.run_once().await.unwrap(),
        vec![(delivery, Handed::Delivered)]
    );
    app.settle().await;
    let log = deliveries(&app, &admin, &webhook).await;
    assert_eq!(log[0]["status"], "DELIVERED");
    assert_eq!(log[0]["attempts"], 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_queues_the_failures_since_an_instant_and_410_disables_the_endpoint() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let receiver = WebhookReceiver::start(&[]).await;
    let (webhook, secret) = create(&app, &admin, &receiver.url("/h"), json!(["Customer*"])).await;
    receiver.set_secrets(&[&secret]);
    // A schedule of one attempt: the first failure fails the delivery.
    let config = WorkerConfig {
        schedule: outbound::RetrySchedule::parse("0s").unwrap(),
        ..WorkerConfig::default()
    };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let worker = app.webhook_worker(clock.clone(), config);
    receiver.answer_next(2, Answer::Status(503));
    customer(&app, &admin, "a@example.com").await;
    customer(&app, &admin, "b@example.com").await;
    app.settle().await;
    clock.set(Utc::now());
    let handed = worker.run_once().await.unwrap();
    assert_eq!(handed.len(), 2);
    assert!(
        handed.iter().all(|(_, h)| *h == Handed::Failed),
        "{handed:?}"
    );
    app.settle().await;
    app.post(
        &format!("/v1/webhooks/{webhook}/recover"),
        &admin,
        json!({"since": (Utc::now() - chrono::Duration::hours(1)).to_rfc3339()}),
    )
    .await
    .expect(200);
    app.settle().await;
    clock.set(Utc::now());
    let handed = worker.run_once().await.unwrap();
    assert_eq!(handed.len(), 2, "both failures are queued again");
    assert!(
        handed.iter().all(|(_, h)| *h == Handed::Delivered),
        "{handed:?}"
    );
    app.settle().await;
    assert!(
        deliveries(&app, &admin, &webhook)
            .await
            .iter()
            .all(|d| d["status"] == "DELIVERED")
    );

    // 410: the delivery fails and the endpoint is disabled (an event).
    receiver.answer_next(1, Answer::Gone);
    customer(&app, &admin, "c@example.com").await;
    app.settle().await;
    clock.set(Utc::now());
    assert_eq!(worker.run_once().await.unwrap()[0].1, Handed::Failed);
    app.settle().await;
    let read = app.get(&format!("/v1/webhooks/{webhook}"), &admin).await;
    assert_eq!(read.body["active"], false);
    assert_eq!(read.body["disabled_reason"], "GONE");
    // Disabled: nothing new is queued or sent.
    customer(&app, &admin, "d@example.com").await;
    app.settle().await;
    clock.set(Utc::now());
    assert!(worker.run_once().await.unwrap().is_empty());
    assert_eq!(deliveries(&app, &admin, &webhook).await.len(), 3);
    app.post(&format!("/v1/webhooks/{webhook}/test"), &admin, json!({}))
        .await
        .expect_problem(409, "conflict");
    // Enabled again, a test ping goes out.
    app.post(&format!("/v1/webhooks/{webhook}/enable"), &admin, json!({}))
        .await
        .expect(200);
    let test = app
        .post(&format!("/v1/webhooks/{webhook}/test"), &admin, json!({}))
        .await;
    test.expect(202);
    app.settle().await;
    clock.set(Utc::now());
    assert_eq!(worker.run_once().await.unwrap()[0].1, Handed::Delivered);
    let last = receiver.received().pop().unwrap();
    assert_eq!(last.json()["type"], "WebhookTest");
    assert_eq!(last.id.as_deref(), test.body["delivery_id"].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_for_a_day() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let receiver = WebhookReceiver::start(&[]).await;
    let (webhook, old) = create(&app, &admin, &receiver.url("/h"), json!(["*"])).await;
    let rotated = app
        .post(
            &format!("/v1/webhooks/{webhook}/rotate-secret"),
            &admin,
            json!({}),
        )
        .await;
    rotated.expect(200);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // A receiver that only knows the old secret still verifies.
    receiver.set_secrets(&[&old]);
    customer(&app, &admin, "a@example.com").await;
    app.settle().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let worker = app.webhook_worker(clock.clone(), WorkerConfig::default());
    worker.run_once().await.unwrap();
    let first = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(first.signatures.len(), 2);
    assert!(first.verified);
    receiver.set_secrets(&[&new]);
    receiver.clear();
    // A day later, only the new secret signs.
    clock.advance(Duration::from_secs(25 * 3600));
    receiver.set_tolerance(Duration::from_secs(2 * 24 * 3600));
    customer(&app, &admin, "b@example.com").await;
    app.settle().await;
    worker.run_once().await.unwrap();
    let second = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(second.signatures.len(), 1);
    assert!(second.verified);
    assert_eq!(second.matched_secrets, vec![0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_metadata_destinations_are_refused_when_written_without_a_connection() {
    let mut env = TestEnv::new().await;
    env.infra.config.webhook_allow_private = false;
    let tripwire = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tripwire.set_nonblocking(true).unwrap();
    let trip = tripwire.local_addr().unwrap().ip();
    let resolver = outbound::StaticResolver::new()
        .with("loopback.example", [trip])
        .with("ten.example", ["10.0.0.1".parse().unwrap()])
        .with("metadata.example", ["169.254.169.254".parse().unwrap()])
        .with("v6.example", ["::1".parse().unwrap()])
        .with("hooks.example", ["93.184.216.34".parse().unwrap()]);
    env.infra.webhook_resolver = Arc::new(resolver);
    let app = TestApp::start_on(env, crm::app::Parts::all()).await;
    let admin = app.token("acme", Role::Admin);
    for url in [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://loopback.example/hook",
        "https://ten.example/hook",
        "https://metadata.example/hook",
        "https://v6.example/hook",
        "http://hooks.example/hook",
        "ftp://hooks.example/hook",
    ] {
        let refused = app
            .post(
                "/v1/webhooks",
                &admin,
                json!({"name": "x", "url": url, "event_types": ["*"]}),
            )
            .await;
        refused
            .expect_problem(422, "validation")
            .expect_field("url");
    }
    // No connection was attempted.
    assert!(
        tripwire.accept().is_err(),
        "a connection reached the tripwire"
    );
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Webhook'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(count, 0);
    // A public name is accepted (nothing is sent to it here).
    app.post(
        "/v1/webhooks",
        &admin,
        json!({"name": "x", "url": "https://hooks.example/hook", "event_types": ["Invoice*"]}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhooks_name_their_field_admins_manage_auditors_read_and_tenants_are_apart() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let bad = app
        .post(
            "/v1/webhooks",
            &admin,
            json!({"name": " ", "url": "http://127.0.0.1:9999/h", "event_types": ["Invoice*", "not a type", "Webhook*"],
                   "headers": {"Authorization": "Bearer x"}}),
        )
        .await;
    bad.expect_problem(422, "validation");
    for field in ["event_types[1]", "event_types[2]", "headers"] {
        bad.expect_field(field);
    }
    app.post(
        "/v1/webhooks",
        &admin,
        json!({"name": "x", "url": "http://127.0.0.1:9999/h", "event_types": []}),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("event_types");
    let (webhook, _) = create(&app, &admin, "http://127.0.0.1:9999/h", json!(["Lead*"])).await;
    for role in [Role::Manager, Role::Sales, Role::Crew, Role::Auditor] {
        app.post(
            "/v1/webhooks",
            &app.token("acme", role),
            json!({"name": "x", "url": "http://127.0.0.1:9999/h", "event_types": ["*"]}),
        )
        .await
        .expect_problem(403, "forbidden");
    }
    app.settle().await;
    let auditor = app.token("acme", Role::Auditor);
    app.get(&format!("/v1/webhooks/{webhook}"), &auditor)
        .await
        .expect(200);
    app.get(&format!("/v1/webhooks/{webhook}/deliveries"), &auditor)
        .await
        .expect(200);
    app.post(
        &format!("/v1/webhooks/{webhook}/disable"),
        &auditor,
        json!({}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.get("/v1/webhooks", &app.token("acme", Role::Sales))
        .await
        .expect_problem(403, "forbidden");
    // PATCH keeps what it is not given.
    app.patch(
        &format!("/v1/webhooks/{webhook}"),
        &admin,
        json!({"event_types": ["Lead*", "Quote*"]}),
    )
    .await
    .expect(200);
    app.settle().await;
    let read = app.get(&format!("/v1/webhooks/{webhook}"), &admin).await;
    assert_eq!(read.body["event_types"], json!(["Lead*", "Quote*"]));
    assert_eq!(read.body["header_names"], json!(["X-Source"]));

    let other = app.token("globex", Role::Admin);
    let missing = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::GET, format!("/v1/webhooks/{webhook}")),
        (Method::GET, format!("/v1/webhooks/{webhook}/deliveries")),
        (Method::PATCH, format!("/v1/webhooks/{webhook}")),
        (Method::DELETE, format!("/v1/webhooks/{webhook}")),
        (
            Method::POST,
            format!("/v1/webhooks/{webhook}/rotate-secret"),
        ),
        (Method::POST, format!("/v1/webhooks/{webhook}/test")),
        (Method::POST, format!("/v1/webhooks/{webhook}/enable")),
        (Method::POST, format!("/v1/webhooks/{webhook}/disable")),
        (
            Method::GET,
            format!("/v1/webhooks/{webhook}/deliveries/{missing}"),
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{webhook}/deliveries/{missing}/retry"),
        ),
    ] {
        let body = (method != Method::GET).then(|| json!({}));
        app.request(method.clone(), &path, Some(&other), body, &[])
            .await
            .expect_problem(404, "not-found");
    }
    assert_eq!(
        app.get("/v1/webhooks", &other).await.body["items"],
        json!([])
    );
    app.request(
        Method::DELETE,
        &format!("/v1/webhooks/{webhook}"),
        Some(&admin),
        None,
        &[],
    )
    .await
    .expect(200);
    app.settle().await;
    assert_eq!(
        app.get("/v1/webhooks", &admin).await.body["items"],
        json!([])
    );
}
