//! Tamper evidence: hashes chained per aggregate and per tenant, seals,
//! verification of the database and of exports.

use std::time::Duration;

use crm::app::Parts;
use crm_tests::{TestApp, TestEnv};
use event_schemas::Role;
use event_schemas::integrity::{Break, FileError, verify_export};
use serde_json::json;
use sqlx::PgPool;

async fn app_sealing_every_batch() -> TestApp {
    let mut env = TestEnv::new().await;
    env.infra.config.seal_interval_secs = 0;
    TestApp::start_on(env, Parts::all()).await
}

/// Waits until the relay has chained every event.
async fn chained(pool: &PgPool) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (events, links): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM tenant_chain)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if events == links {
            return events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{links} of {events} events chained"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn some_history(app: &TestApp) -> (String, String) {
    let mut last = (String::new(), String::new());
    for tenant in ["acme", "globex"] {
        let admin = app.token(tenant, Role::Admin);
        for i in 0..3 {
            let customer = app.customer(&admin, &format!("c{i}@example.com")).await;
            let lead = app.lead(&admin, &customer).await;
            app.post(
                &format!("/v1/leads/{lead}/transition"),
                &admin,
                json!({"to": "CONTACTED"}),
            )
            .await
            .expect(200);
            last = (customer, lead);
        }
    }
    app.settle().await;
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intact_history_verifies_from_the_database_and_from_an_export() {
    let app = app_sealing_every_batch().await;
    some_history(&app).await;
    let events = chained(app.pool()).await;
    assert_eq!(events, 2 * 3 * 4);

    let report = relay::history::verify_database(app.pool(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.events, events as u64);
    assert_eq!(report.chained, events as u64);
    assert_eq!(report.tenants, 2);
    assert!(report.seals >= 2, "each tenant was sealed: {report:?}");

    let acme = relay::history::verify_database(app.pool(), Some("acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(acme.events, events as u64 / 2);

    let full = app.env.export_text(Some("acme"), None).await;
    let report = verify_export(full.as_bytes()).unwrap();
    assert_eq!(report.events, events as u64 / 2);
    assert!(full.lines().next().unwrap().contains("crm-events-export/1"));

    // A window (events recorded after some instant) verifies on its own.
    let middle: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT recorded_at FROM events WHERE tenant_id = 'acme' ORDER BY txid, position OFFSET 5 LIMIT 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let window = app.env.export_text(Some("acme"), Some(middle)).await;
    assert!(
        window.contains("\"record\":\"anchor\""),
        "a window carries its anchor"
    );
    let report = verify_export(window.as_bytes()).unwrap();
    assert!(report.events < events as u64 / 2 && report.events > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_pinpoints_an_event_altered_with_sql() {
    let app = app_sealing_every_batch().await;
    let (_, lead) = some_history(&app).await;
    chained(app.pool()).await;
    let exported_before = app.env.export_text(Some("globex"), None).await;

    // Someone with database access rewrites history.
    let (victim, sequence): (uuid::Uuid, i64) = sqlx::query_as(
        "SELECT event_id, sequence FROM events WHERE aggregate_id = $1 AND event_type = 'LeadCreated'",
    )
    .bind(&lead)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let mut conn = app.pool().acquire().await.unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET payload = replace(payload::text, 'website', 'referral')::json WHERE event_id = $1")
        .bind(victim)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete")
        .execute(&mut *conn)
        .await
        .unwrap();

    let found = relay::history::verify_database(app.pool(), None)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        found,
        Break::EventAltered {
            event_id: victim.to_string(),
            aggregate: format!("Lead/{lead}"),
            sequence
        }
    );
    assert!(found.to_string().contains(&victim.to_string()));
    // The other tenant's history is untouched and still verifies.
    relay::history::verify_database(app.pool(), Some("acme"))
        .await
        .unwrap()
        .unwrap();

    // An export taken now carries the alteration; the earlier one does not.
    let after = app.env.export_text(Some("globex"), None).await;
    assert!(matches!(
        verify_export(after.as_bytes()),
        Err(FileError::Broken(Break::EventAltered { .. }))
    ));
    verify_export(exported_before.as_bytes()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_event_is_found() {
    let app = app_sealing_every_batch().await;
    let (customer, _) = some_history(&app).await;
    chained(app.pool()).await;
    let mut conn = app.pool().acquire().await.unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete")
        .execute(&mut *conn)
        .await
        .unwrap();
    // The customer's only event goes, with its chain link.
    sqlx::query("ALTER TABLE tenant_chain DISABLE TRIGGER tenant_chain_no_update_or_delete")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM tenant_chain WHERE position = (SELECT position FROM events WHERE aggregate_id = $1)")
        .bind(&customer)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM events WHERE aggregate_id = $1")
        .bind(&customer)
        .execute(&mut *conn)
        .await
        .unwrap();
    let found = relay::history::verify_database(app.pool(), Some("globex"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            found,
            Break::TenantChainBroken { .. }
                | Break::SealBeyondEvents { .. }
                | Break::SealMismatch { .. }
        ),
        "{found:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_chain_continues_across_commands() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "chain@example.com").await;
    for tag in ["a", "b", "c"] {
        app.post(
            &format!("/v1/customers/{customer}/tags"),
            &admin,
            json!({"tag": tag}),
        )
        .await
        .expect(200);
    }
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT sequence, prev_hash, hash FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&customer)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].1, vec![0u8; 32]);
    for pair in rows.windows(2) {
        assert_eq!(pair[1].1, pair[0].2, "each event chains to its predecessor");
    }
}
