//! The servers the system needs, and what it says when they are missing.

use crm::infra;
use crm_tests::{TestEnv, server_urls};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_postgres_fails_with_instructions_to_start_it() {
    // Nothing listens on port 1.
    let err = infra::connect_postgres("postgres://postgres@127.0.0.1:1/crm", 1)
        .await
        .expect_err("no PostgreSQL on port 1");
    let message = format!("{err:#}");
    assert!(
        message.contains("PostgreSQL is not reachable at postgres://postgres@127.0.0.1:1/crm"),
        "{message}"
    );
    assert!(
        message.contains("pg_ctlcluster") && message.contains("scripts/services.sh"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_nats_fails_with_instructions_to_start_it() {
    let err = infra::connect_nats("nats://127.0.0.1:1")
        .await
        .expect_err("no NATS on port 1");
    let message = format!("{err:#}");
    assert!(
        message.contains("NATS is not reachable at nats://127.0.0.1:1"),
        "{message}"
    );
    assert!(
        message.contains("nats-server") && message.contains("-js"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_harness_reports_a_missing_server_instead_of_skipping() {
    let (postgres, _) = server_urls();
    let err = TestEnv::try_new(&postgres, "nats://127.0.0.1:1")
        .await
        .err()
        .expect("the environment needs NATS");
    assert!(
        format!("{err:#}").contains("NATS is not reachable"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_events_cannot_be_updated_or_deleted() {
    let env = TestEnv::new().await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Customer', 'x', 1, 'CustomerTagged', '1.0', '{}', '{\"tenant_id\": \"acme\"}')",
    )
    .execute(env.pool())
    .await
    .unwrap();
    for statement in [
        "UPDATE events SET payload = '{\"x\": 1}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let err = sqlx::query(statement)
            .execute(env.pool())
            .await
            .expect_err(statement);
        assert!(
            err.to_string().contains("events are immutable"),
            "{statement}: {err}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projections_notify_the_channel_the_query_api_waits_on() {
    assert_eq!(projections::READ_MODEL_CHANNEL, query_api::wait::CHANNEL);
    assert_eq!(projections::READ_MODEL_CHANNEL, relay::READ_MODEL_CHANNEL);
    // A GET waits on the notifications of the projection that owns its
    // table, by name: every name is a projection's.
    let env = TestEnv::new().await;
    let names: Vec<&str> = projections::all(env.infra.keystore.clone())
        .iter()
        .map(|p| p.name())
        .collect();
    for owner in query_api::wait::owners::ALL {
        assert!(
            names.contains(owner),
            "{owner} is not a projection: {names:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_from_configured_origins_only_get_cors_headers() {
    let mut env = TestEnv::new().await;
    env.infra.config.cors_origins = vec!["https://app.example.com".to_owned()];
    let app = crm_tests::TestApp::start_on(env, crm::app::Parts::all()).await;
    async fn preflight(app: &crm_tests::TestApp, origin: &str) -> crm_tests::TestResponse {
        app.request(
            reqwest::Method::OPTIONS,
            "/v1/customers",
            None,
            None,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization,content-type,idempotency-key",
                ),
            ],
        )
        .await
    }
    let allowed = preflight(&app, "https://app.example.com").await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        allowed
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("idempotency-key")),
        "{:?}",
        allowed.headers
    );
    let refused = preflight(&app, "https://evil.example.com").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
}
