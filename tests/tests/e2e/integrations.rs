//! Integrations end to end: admins create them (secret settings sealed,
//! read as `***`), issue API keys (shown once), revoke and rotate them;
//! inbound leads posted with a key create a customer and a lead, or find
//! the customer by email or phone; the same person again within 24 h
//! becomes an activity on their open lead; one reference posted 20 times at
//! once makes one lead, 20 references for one person make one customer,
//! one lead and 19 activities; every post is in the sync log; bad posts
//! name their field; revoked keys, disabled integrations and other
//! tenants are refused.

use crm_tests::{TestApp, TestEnv};
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};

struct Inbound {
    integration: String,
    key: String,
}

async fn integration(app: &TestApp, admin: &str) -> Inbound {
    let created = app
        .post(
            "/v1/integrations",
            admin,
            json!({"name": "Website form", "type": "CUSTOM", "lead_source": "website",
                   "config": {"form": "quote"}, "secrets": {"webhook_token": "t0ps3cret"}}),
        )
        .await;
    created.expect(201);
    let integration = created.id();
    let key = app
        .post(
            &format!("/v1/integrations/{integration}/api-keys"),
            admin,
            json!({}),
        )
        .await;
    key.expect(201);
    Inbound {
        integration,
        key: key.body["key"].as_str().unwrap().to_owned(),
    }
}

async fn post(app: &TestApp, key: &str, body: Value) -> crm_tests::TestResponse {
    app.request(
        Method::POST,
        "/v1/inbound/leads",
        None,
        Some(body),
        &[("authorization", &format!("Bearer {key}"))],
    )
    .await
}

fn jane(reference: &str) -> Value {
    json!({"reference": reference, "first_name": "Jane", "last_name": "Doe",
           "email": "Jane@Example.com", "estimated_move_date": "2027-07-01",
           "notes": "3 bedrooms, piano"})
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.pool()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_lead_opens_a_lead_for_a_new_or_found_customer_and_is_in_the_sync_log() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let inbound = integration(&app, &admin).await;
    assert!(inbound.key.starts_with("crmk_"));

    let first = post(&app, &inbound.key, jane("form-1")).await;
    first.expect(201);
    assert_eq!(first.body["outcome"], "LEAD_CREATED");
    assert_eq!(first.body["customer_created"], true);
    let lead = first.body["lead_id"].as_str().unwrap().to_owned();
    let customer = first.body["customer_id"].as_str().unwrap().to_owned();
    app.settle().await;
    let read = app.get(&format!("/v1/leads/{lead}"), &admin).await;
    read.expect(200);
    assert_eq!(read.body["source"], "website");
    assert_eq!(read.body["customer_id"], customer);
    assert_eq!(read.body["status"], "NEW");
    // The actor is the integration, with role `integration`.
    let history = app
        .get(&format!("/v1/audit/Lead/{lead}/history"), &admin)
        .await;
    history.expect(200);
    assert_eq!(history.body["items"][0]["metadata"]["role"], "integration");
    assert_eq!(
        history.body["items"][0]["metadata"]["user_id"],
        inbound.integration
    );

    // The same reference again: the same answer, nothing written.
    let events = count(&app, "SELECT count(*) FROM events").await;
    let again = post(&app, &inbound.key, jane("form-1")).await;
    again.expect(200);
    assert_eq!(again.body["lead_id"], lead);
    assert_eq!(again.body["sync_id"], first.body["sync_id"]);
    assert_eq!(count(&app, "SELECT count(*) FROM events").await, events);

    // Another post by the same person within 24 h: an activity on the lead.
    let repeat = post(&app, &inbound.key, jane("form-2")).await;
    repeat.expect(200);
    assert_eq!(repeat.body["outcome"], "ACTIVITY_RECORDED");
    assert_eq!(repeat.body["lead_id"], lead);
    assert_eq!(repeat.body["customer_created"], false);

    // Someone known by phone only: found, a new lead for them.
    let bob = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "Bob", "last_name": "Roy", "phone": "514 555 0199"}),
        )
        .await;
    bob.expect(201);
    let by_phone = post(
        &app,
        &inbound.key,
        json!({"reference": "form-3", "first_name": "Robert", "last_name": "Roy", "phone": "+1 (514) 555-0199"}),
    )
    .await;
    by_phone.expect(201);
    assert_eq!(by_phone.body["customer_id"], bob.id());
    assert_eq!(by_phone.body["customer_created"], false);

    // Once the lead is closed, the person's next post opens a new lead.
    app.post(
        &format!("/v1/leads/{lead}/transition"),
        &admin,
        json!({"to": "LOST", "reason": "went elsewhere"}),
    )
    .await
    .expect(200);
    let after_close = post(&app, &inbound.key, jane("form-4")).await;
    after_close.expect(201);
    assert_ne!(after_close.body["lead_id"], lead);

    // Bad posts name their field, write no lead, and are in the log too.
    post(
        &app,
        &inbound.key,
        json!({"reference": "form-5", "first_name": "X", "last_name": "Y"}),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("email");
    post(
        &app,
        &inbound.key,
        json!({"reference": "form-6", "first_name": "X", "last_name": "Y", "email": "not-an-email"}),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("email");
    post(
        &app,
        &inbound.key,
        json!({"reference": "", "first_name": "X", "last_name": "Y", "email": "x@example.com"}),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("reference");

    app.settle().await;
    let log = app
        .get(
            &format!("/v1/integrations/{}/sync-logs", inbound.integration),
            &admin,
        )
        .await;
    log.expect(200);
    let items = log.body["items"].as_array().unwrap();
    let completed = items.iter().filter(|s| s["status"] == "COMPLETED").count();
    let failed: Vec<&Value> = items.iter().filter(|s| s["status"] == "FAILED").collect();
    assert_eq!(completed, 4, "{items:?}");
    assert_eq!(failed.len(), 3, "{items:?}");
    assert!(
        failed
            .iter()
            .any(|s| s["failures"][0]["field"] == "email" && s["failures"][0]["record"] == "form-6"),
        "{failed:?}"
    );
    let one = items.iter().find(|s| s["reference"] == "form-1").unwrap();
    assert_eq!(one["records_created"], 1);
    assert_eq!(one["source"], "INBOUND_LEAD");
    assert_eq!(one["result"]["lead_id"], lead);
    let read = app
        .get(&format!("/v1/integrations/{}", inbound.integration), &admin)
        .await;
    read.expect(200);
    assert_eq!(read.body["status"], "ERROR", "the last post failed");
    assert_eq!(read.body["error_count"], 3);
    assert_eq!(read.body["config"]["webhook_token"], "***");
    assert_eq!(read.body["config"]["form"], "quote");
    assert!(!read.body.to_string().contains("t0ps3cret"));
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE aggregate_type = 'Integration'")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert!(!stored.concat().contains("t0ps3cret"));
    assert!(
        !stored
            .concat()
            .contains(&inbound.key[inbound.key.len() - 20..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_posts_of_one_person_make_one_lead() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let inbound = integration(&app, &admin).await;
    // One reference, 20 times at once: one lead, the same answer to all.
    let posts = (0..20).map(|_| post(&app, &inbound.key, jane("same-ref")));
    let answers = futures::future::join_all(posts).await;
    let leads: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|a| {
            assert!(
                a.status == 201 || a.status == 200,
                "{} {}",
                a.status,
                a.body
            );
            a.body["lead_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(leads.len(), 1);
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = 'LeadCreated'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = 'CustomerRegistered'"
        )
        .await,
        1
    );

    // 20 references for another person at once: one customer, one lead and
    // 19 activities on it.
    let posts = (0..20).map(|i| {
        post(
            &app,
            &inbound.key,
            json!({"reference": format!("ref-{i}"), "first_name": "Max", "last_name": "Lee",
                   "email": "max@example.com"}),
        )
    });
    let answers = futures::future::join_all(posts).await;
    for a in &answers {
        assert!(
            a.status == 201 || a.status == 200,
            "{} {}",
            a.status,
            a.body
        );
    }
    let customers: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|a| a.body["customer_id"].as_str().unwrap())
        .collect();
    let leads: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|a| a.body["lead_id"].as_str().unwrap())
        .collect();
    assert_eq!((customers.len(), leads.len()), (1, 1));
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.body["outcome"] == "ACTIVITY_RECORDED")
            .count(),
        19
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = 'LeadCreated'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = 'CustomerRegistered'"
        )
        .await,
        2
    );
    let lead = leads.iter().next().unwrap();
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM events WHERE event_type = 'SalesActivityRecorded' AND aggregate_id = '{lead}'"
            ),
        )
        .await,
        19
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_revoked_rotated_and_refused_when_disabled_or_another_tenants() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let inbound = integration(&app, &admin).await;
    post(&app, &inbound.key, jane("k-1")).await.expect(201);
    // No key, a made-up key, a key with another secret.
    for key in [
        "",
        "crmk_nope",
        &format!("{}x", &inbound.key[..inbound.key.len() - 1]),
    ] {
        post(&app, key, jane("k-2"))
            .await
            .expect_problem(401, "unauthorized");
    }
    // X-Api-Key works as well.
    app.request(
        Method::POST,
        "/v1/inbound/leads",
        None,
        Some(jane("k-3")),
        &[("x-api-key", &inbound.key)],
    )
    .await
    .expect(200);
    // Rotate: the old key is refused at once, the new one works.
    app.settle().await;
    let read = app
        .get(&format!("/v1/integrations/{}", inbound.integration), &admin)
        .await;
    let old_id = read.body["api_keys"][0]["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(read.body["api_keys"][0]["hint"].as_str().unwrap().len(), 4);
    // The list carries each integration's keys too.
    let listed = app.get("/v1/integrations", &admin).await;
    assert_eq!(listed.body["items"][0]["api_keys"], read.body["api_keys"]);
    assert!(!read.body.to_string().contains(&inbound.key));
    let rotated = app
        .post(
            &format!("/v1/integrations/{}/api-keys", inbound.integration),
            &admin,
            json!({"replaces": old_id}),
        )
        .await;
    rotated.expect(201);
    let new_key = rotated.body["key"].as_str().unwrap().to_owned();
    post(&app, &inbound.key, jane("k-4"))
        .await
        .expect_problem(401, "unauthorized");
    post(&app, &new_key, jane("k-4")).await.expect(200);
    // Disabled: refused; enabled again: accepted.
    app.post(
        &format!("/v1/integrations/{}/disable", inbound.integration),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    post(&app, &new_key, jane("k-5"))
        .await
        .expect_problem(401, "unauthorized");
    app.post(
        &format!("/v1/integrations/{}/enable", inbound.integration),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    post(&app, &new_key, jane("k-5")).await.expect(200);
    // Revoked: refused.
    let new_id = rotated.body["key_id"].as_str().unwrap();
    app.post(
        &format!(
            "/v1/integrations/{}/api-keys/{new_id}/revoke",
            inbound.integration
        ),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    post(&app, &new_key, jane("k-6"))
        .await
        .expect_problem(401, "unauthorized");

    // Roles and tenants.
    for role in [Role::Manager, Role::Sales, Role::Auditor] {
        app.post(
            "/v1/integrations",
            &app.token("acme", role),
            json!({"name": "x", "type": "CUSTOM"}),
        )
        .await
        .expect_problem(403, "forbidden");
    }
    app.settle().await;
    let auditor = app.token("acme", Role::Auditor);
    app.get(
        &format!("/v1/integrations/{}", inbound.integration),
        &auditor,
    )
    .await
    .expect(200);
    app.get(
        &format!("/v1/integrations/{}/sync-logs", inbound.integration),
        &auditor,
    )
    .await
    .expect(200);
    let other = app.token("globex", Role::Admin);
    let missing = uuid::Uuid::new_v4();
    for (method, path) in [
        (
            Method::GET,
            format!("/v1/integrations/{}", inbound.integration),
        ),
        (
            Method::GET,
            format!("/v1/integrations/{}/sync-logs", inbound.integration),
        ),
        (
            Method::GET,
            format!(
                "/v1/integrations/{}/sync-logs/{missing}",
                inbound.integration
            ),
        ),
        (
            Method::PATCH,
            format!("/v1/integrations/{}", inbound.integration),
        ),
        (
            Method::POST,
            format!("/v1/integrations/{}/api-keys", inbound.integration),
        ),
        (
            Method::POST,
            format!("/v1/integrations/{}/disable", inbound.integration),
        ),
        (
            Method::POST,
            format!(
                "/v1/integrations/{}/api-keys/{old_id}/revoke",
                inbound.integration
            ),
        ),
    ] {
        let body = (method != Method::GET).then(|| json!({}));
        app.request(method.clone(), &path, Some(&other), body, &[])
            .await
            .expect_problem(404, "not-found");
    }
    assert_eq!(
        app.get("/v1/integrations", &other).await.body["items"],
        json!([])
    );
    // PATCH keeps a secret given as *** and removes one left out.
    app.patch(
        &format!("/v1/integrations/{}", inbound.integration),
        &admin,
        json!({"secrets": {"webhook_token": "***", "other": "v"}, "name": " Website form v2 "}),
    )
    .await
    .expect(200);
    app.settle().await;
    let read = app
        .get(&format!("/v1/integrations/{}", inbound.integration), &admin)
        .await;
    assert_eq!(read.body["name"], "Website form v2");
    assert_eq!(read.body["config"]["webhook_token"], "***");
    assert_eq!(read.body["config"]["other"], "***");
    assert_eq!(read.body["lead_source"], "website");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_is_answered_429() {
    let mut env = TestEnv::new().await;
    env.infra.config.inbound_rps_per_key = 1.0;
    let app = TestApp::start_on(env, crm::app::Parts::all()).await;
    let admin = app.token("acme", Role::Admin);
    let inbound = integration(&app, &admin).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let answer = post(&app, &inbound.key, jane(&format!("r-{i}"))).await;
        statuses.push(answer.status);
        if answer.status == 429 {
            assert!(answer.headers.contains_key("retry-after"));
        }
    }
    // A burst of 2, then refused.
    assert_eq!(&statuses[..2], &[201, 200]);
    assert!(statuses[2..].contains(&429), "{statuses:?}");
}
