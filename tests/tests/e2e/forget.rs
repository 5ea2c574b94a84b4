//! Forgettable personal data: sealed in events, erased everywhere once the
//! customer is forgotten, while the history and the money stay intact.

use std::sync::Arc;

use aggregates::customer::Customer;
use base64::Engine;
use crm_tests::TestApp;
use event_schemas::Role;
use event_schemas::integrity::verify_export;
use keystore::{KeyStore, MasterKeys};
use projections::ProjectorConfig;
use serde_json::json;

const FIRST: &str = "Jeannette";
const EMAIL: &str = "jeannette.secret@example.com";
const PHONE_DIGITS: &str = "5145550199";
const NOTES: &str = "prefers morning calls";

/// Whether any of the person's data appears in `text`.
fn leaks(text: &str) -> Option<&'static str> {
    [
        FIRST,
        "jeannette.secret",
        PHONE_DIGITS,
        NOTES,
        "Rue des Secrets",
    ]
    .into_iter()
    .find(|needle| text.contains(needle))
}

async fn stored_text(app: &TestApp) -> String {
    sqlx::query_scalar(
        "SELECT coalesce(string_agg(payload::text || metadata::text, ' '), '') FROM events",
    )
    .fetch_one(app.pool())
    .await
    .unwrap()
}

async fn published_text(app: &TestApp) -> String {
    app.env
        .stream_messages()
        .await
        .iter()
        .map(|(_, event, _)| serde_json::to_string(event).unwrap())
        .collect()
}

struct Person {
    admin: String,
    customer: String,
    lead: String,
}

async fn register(app: &TestApp) -> Person {
    let admin = app.token("acme", Role::Admin);
    let created = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": FIRST, "last_name": "Tremblay", "email": EMAIL, "phone": PHONE_DIGITS,
                   "address": {"line1": "12 Rue des Secrets", "city": "Montréal", "province": "QC", "postal_code": "H2X 1Y4"},
                   "notes": NOTES}),
        )
        .await;
    created.expect(201);
    let customer = created.id();
    let lead = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "website", "estimated_value": "4500.00"}),
        )
        .await;
    lead.expect(201);
    let lead = lead.id();
    app.post(
        &format!("/v1/leads/{lead}/activities"),
        &admin,
        json!({"type": "PHONE_CALL", "description": "Quote walkthrough", "cost": "2.50"}),
    )
    .await
    .expect(201);
    app.settle().await;
    Person {
        admin,
        customer,
        lead,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_sealed_where_it_is_stored_and_published_but_readable_through_the_api() {
    let app = TestApp::spawn().await;
    let p = register(&app).await;
    assert_eq!(
        leaks(&stored_text(&app).await),
        None,
        "the events table holds no personal data"
    );
    assert_eq!(
        leaks(&published_text(&app).await),
        None,
        "NATS carries no personal data"
    );
    assert_eq!(
        leaks(&app.env.export_text(Some("acme"), None).await),
        None,
        "exports carry no personal data"
    );
    let payload: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = 'CustomerRegistered'",
    )
    .bind(&p.customer)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let data = &payload["CustomerRegistered"];
    assert_eq!(data["first_name"]["$sealed"], "A256GCM");
    assert!(
        data["email_index"].as_str().is_some_and(|i| i.len() == 64),
        "a blind index: {data}"
    );
    assert_eq!(
        data["tags"],
        json!([]),
        "what is not personal stays readable"
    );

    let read = app
        .get(&format!("/v1/customers/{}", p.customer), &p.admin)
        .await;
    read.expect(200);
    assert_eq!(read.body["first_name"], FIRST);
    assert_eq!(read.body["email"], EMAIL);
    assert_eq!(read.body["notes"], NOTES);
    assert_eq!(read.body["forgotten"], false);
    // Commands load the aggregate through the sealing layer too.
    app.patch(
        &format!("/v1/customers/{}", p.customer),
        &p.admin,
        json!({"last_name": "Roy"}),
    )
    .await
    .expect(200);
    // Uniqueness still works through the blind index.
    app.post(
        "/v1/customers",
        &p.admin,
        json!({"first_name": "X", "last_name": "Y", "email": EMAIL.to_uppercase()}),
    )
    .await
    .expect_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_customer_is_erased_everywhere_while_the_history_and_the_money_stay() {
    let app = TestApp::spawn().await;
    let p = register(&app).await;
    let forget = format!("/v1/customers/{}/forget", p.customer);

    // Only admins forget, with a reason; another tenant cannot even see the customer.
    let manager = app.token("acme", Role::Manager);
    app.post(&forget, &manager, json!({"reason": "erasure request"}))
        .await
        .expect_problem(403, "forbidden");
    app.post(
        &forget,
        &app.token("globex", Role::Admin),
        json!({"reason": "x"}),
    )
    .await
    .expect_problem(404, "not-found");
    app.post(&forget, &p.admin, json!({"reason": " "}))
        .await
        .expect_problem(422, "validation");

    let forgotten = app
        .post(&forget, &p.admin, json!({"reason": "erasure request #114"}))
        .await;
    forgotten.expect(200);
    let key_destroyed: bool =
        sqlx::query_scalar("SELECT wrapped_dek IS NULL AND destroyed_at IS NOT NULL FROM data_keys WHERE subject_id = $1")
            .bind(&p.customer)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert!(key_destroyed, "the data key is destroyed with the event");

    // The record can no longer change, nor be forgotten twice.
    app.patch(
        &format!("/v1/customers/{}", p.customer),
        &p.admin,
        json!({"first_name": "Back"}),
    )
    .await
    .expect_problem(409, "conflict");
    app.post(&forget, &p.admin, json!({"reason": "again"}))
        .await
        .expect_problem(409, "conflict");

    // The API and the read models show the person as forgotten.
    let read = app
        .get(
            &format!(
                "/v1/customers/{}?min_version={}",
                p.customer,
                forgotten.version()
            ),
            &p.admin,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["first_name"], "[erased]");
    assert_eq!(read.body["last_name"], "[erased]");
    assert!(
        read.body["email"].is_null()
            && read.body["phone"].is_null()
            && read.body["address"].is_null()
    );
    assert!(read.body["notes"].is_null());
    assert_eq!(read.body["forgotten"], true);
    app.settle().await;
    for search in [
        format!("/v1/customers?q={FIRST}"),
        format!("/v1/customers?email={EMAIL}"),
    ] {
        let list = app.get(&search, &p.admin).await;
        list.expect(200);
        assert_eq!(list.body["items"], json!([]), "{search}");
    }
    let lead = app.get(&format!("/v1/leads/{}", p.lead), &p.admin).await;
    lead.expect(200);
    assert_eq!(lead.body["customer_name"], "[erased] [erased]");
    assert_eq!(lead.body["estimated_value"], "4500.00", "the money stays");
    assert_eq!(lead.body["activity_count"], 1);

    // No personal data anywhere: read models, audit trail, stream, export.
    let read_models: String = sqlx::query_scalar(
        "SELECT (SELECT string_agg(to_jsonb(c)::text, ' ') FROM read.customers c) ||
                (SELECT string_agg(to_jsonb(l)::text, ' ') FROM read.leads l) ||
                (SELECT string_agg(to_jsonb(a)::text, ' ') FROM read.audit_events a)",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(leaks(&read_models), None);
    assert_eq!(leaks(&published_text(&app).await), None);
    let export = app.env.export_text(Some("acme"), None).await;
    assert_eq!(leaks(&export), None);

    // A rebuild brings nothing back.
    let config = ProjectorConfig::new(&app.env.config.nats_stream, &app.env.config.subject_prefix);
    for projection in projections::all(app.env.infra.keystore.clone()) {
        projections::rebuild(
            app.pool(),
            app.env.js(),
            &config,
            projection.as_ref(),
            &|_, _| {},
        )
        .await
        .unwrap();
    }
    let rebuilt = app
        .get(&format!("/v1/customers/{}", p.customer), &p.admin)
        .await;
    assert_eq!(rebuilt.body["first_name"], "[erased]");
    assert_eq!(rebuilt.body["email"], json!(null));
    let rebuilt_lead = app.get(&format!("/v1/leads/{}", p.lead), &p.admin).await;
    assert_eq!(rebuilt_lead.body["customer_name"], "[erased] [erased]");
    assert_eq!(rebuilt_lead.body["estimated_value"], "4500.00");

    // The history is intact: forgetting breaks no hash.
    let mut chained = 0;
    for _ in 0..200 {
        chained = sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM events) - (SELECT count(*) FROM tenant_chain)",
        )
        .fetch_one(app.pool())
        .await
        .unwrap();
        if chained == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(chained, 0);
    relay::history::verify_database(app.pool(), None)
        .await
        .unwrap()
        .unwrap();
    verify_export(app.env.export_text(Some("acme"), None).await.as_bytes()).unwrap();

    // The email and phone are free again.
    app.post(
        "/v1/customers",
        &p.admin,
        json!({"first_name": "New", "last_name": "Person", "email": EMAIL, "phone": PHONE_DIGITS}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_master_and_tenant_keys_keeps_every_old_event_readable() {
    let key = |id: &str, byte: u8| {
        format!(
            "{id}:{}",
            base64::engine::general_purpose::STANDARD.encode([byte; 32])
        )
    };
    let mut env = crm_tests::TestEnv::new().await;
    env.infra.config.master_key = Some(key("m1", 1).into());
    let m1 = MasterKeys::parse(&key("m1", 1), &[]).unwrap();
    env.infra.keystore = Arc::new(KeyStore::new(env.pool().clone(), m1));
    let app = TestApp::start_on(env, crm::app::Parts::all()).await;
    let p = register(&app).await;

    // Rotate: m2 becomes the master key (m1 still configured for the step),
    // then new tenant keys.
    let during = KeyStore::new(
        app.pool().clone(),
        MasterKeys::parse(&key("m2", 2), &[key("m1", 1)]).unwrap(),
    );
    let master = during.rotate_master().await.unwrap();
    assert_eq!((master.tenant_keys, master.index_keys), (1, 1));
    let tenant = during.rotate_tenant_keys(None).await.unwrap();
    assert_eq!((tenant.tenant_keys, tenant.data_keys), (1, 1));

    // With only m2, every old event still opens: through the command path …
    let after = Arc::new(KeyStore::new(
        app.pool().clone(),
        MasterKeys::parse(&key("m2", 2), &[]).unwrap(),
    ));
    let store = event_store::Store::<Customer>::new(app.pool().clone(), after.clone());
    let tenant_id = event_schemas::TenantId::parse("acme").unwrap();
    let loaded = store
        .load(&tenant_id, p.customer.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(loaded.state().first_name, FIRST);
    assert_eq!(loaded.state().email.as_deref(), Some(EMAIL));
    // … and through a rebuild of the read model.
    let config = ProjectorConfig::new(&app.env.config.nats_stream, &app.env.config.subject_prefix);
    for projection in projections::all(after.clone()) {
        projections::rebuild(
            app.pool(),
            app.env.js(),
            &config,
            projection.as_ref(),
            &|_, _| {},
        )
        .await
        .unwrap();
    }
    let read = app
        .get(&format!("/v1/customers/{}", p.customer), &p.admin)
        .await;
    assert_eq!(read.body["email"], EMAIL);
    // The blind index did not change: uniqueness still holds.
    assert_eq!(
        after.blind_index("acme", "email", EMAIL).await.unwrap(),
        app.env
            .infra
            .keystore
            .blind_index("acme", "email", EMAIL)
            .await
            .unwrap()
    );
    // The old master key alone no longer opens anything.
    let old_only = KeyStore::new(
        app.pool().clone(),
        MasterKeys::parse(&key("m1", 1), &[]).unwrap(),
    );
    assert!(
        old_only
            .existing_data_key("acme", &p.customer)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_cached_the_tenant_key_wraps_new_data_keys_under_the_rotated_one() {
    let master = || {
        MasterKeys::parse(
            &format!(
                "m1:{}",
                base64::engine::general_purpose::STANDARD.encode([7u8; 32])
            ),
            &[],
        )
        .unwrap()
    };
    let env = crm_tests::TestEnv::new().await;
    let (one, other) = (
        KeyStore::new(env.pool().clone(), master()),
        KeyStore::new(env.pool().clone(), master()),
    );
    let version_of = |subject: &'static str| {
        let pool = env.pool().clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT kek_version FROM data_keys WHERE tenant_id = 'acme' AND subject_id = $1",
            )
            .bind(subject)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let first = one.data_key("acme", "subject-1").await.unwrap();
    assert_eq!(version_of("subject-1").await, 1);
    // Asked again, the same key.
    assert_eq!(one.data_key("acme", "subject-1").await.unwrap(), first);
    // Another process rotates the tenant key; the first one, which has
    // version 1 cached, wraps its next new key under version 2.
    other.rotate_tenant_keys(Some("acme")).await.unwrap();
    one.data_key("acme", "subject-2").await.unwrap();
    assert_eq!(version_of("subject-2").await, 2);
    // Both keys still open in either process.
    assert_eq!(
        other.existing_data_key("acme", "subject-1").await.unwrap(),
        Some(first)
    );
    // A destroyed key is refused at once, also by the process that made it.
    sqlx::query("UPDATE data_keys SET wrapped_dek = NULL WHERE tenant_id = 'acme' AND subject_id = 'subject-2'")
        .execute(env.pool())
        .await
        .unwrap();
    assert!(matches!(
        one.data_key("acme", "subject-2").await,
        Err(keystore::KeyError::Destroyed(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_customers_key_is_stored_with_its_first_event_and_under_a_key_rotated_elsewhere() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let version_of = |customer: String| {
        let pool = app.pool().clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT kek_version FROM data_keys WHERE tenant_id = 'acme' AND subject_id = $1 AND wrapped_dek IS NOT NULL",
            )
            .bind(customer)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let first = app.customer(&admin, "first-key@example.com").await;
    assert_eq!(
        version_of(first.clone()).await,
        [1],
        "one key, under version 1"
    );
    // Another process rotates the tenant key; the app, which has version 1
    // cached, finds out when storing the next customer's key with its event,
    // and stores it under version 2.
    let other = KeyStore::new(
        app.pool().clone(),
        app.env.infra.config.master_keys().unwrap(),
    );
    other.rotate_tenant_keys(Some("acme")).await.unwrap();
    let second = app.customer(&admin, "second-key@example.com").await;
    assert_eq!(version_of(second.clone()).await, [2]);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
        .bind(&second)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(events, 1, "the refused first try wrote nothing");
    app.settle().await;
    for (customer, email) in [
        (first, "first-key@example.com"),
        (second, "second-key@example.com"),
    ] {
        let read = app.get(&format!("/v1/customers/{customer}"), &admin).await;
        read.expect(200);
        assert_eq!(read.body["email"], email, "the key opens what it sealed");
    }
}
