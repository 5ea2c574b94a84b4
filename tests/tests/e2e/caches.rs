//! Per-process caches that must never be wrong, tried with two app instances
//! (each with its own pool and caches) on one database: a permission change,
//! an expired grant and a forgotten customer apply to the other instance's
//! very next command (docs/decisions/0019-policy-cache.md).

use std::time::Duration;

use aggregates::Patch;
use aggregates::settings::{SalesSettings, SalesSettingsAction, SalesSettingsCommand};
use api_common::policies::Purpose;
use chrono::Utc;
use crm::app::{Parts, ProjectorSet};
use crm_tests::{Instance, TestApp};
use event_schemas::{EventMetadata, Role, TenantId};
use event_store::{CommandError, Run, Store, Target};
use serde_json::json;
use uuid::Uuid;

/// The HTTP API alone: no relay, no projectors.
fn api_only() -> Parts {
    Parts {
        command_api: true,
        query_api: true,
        relay: false,
        projectors: ProjectorSet::None,
        http: true,
    }
}

async fn second(app: &TestApp) -> Instance {
    let other = app.another_instance(api_only()).await;
    // Reads use the cache once the instance hears of permission changes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !other.infra.policies.listening() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second instance listens for permission changes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    other
}

async fn put_role(app: &TestApp, admin: &str, path: &str, scope: serde_json::Value) {
    app.request(
        reqwest::Method::PUT,
        path,
        Some(admin),
        Some(json!({"scope": scope, "reason": "cache test"})),
        &[],
    )
    .await
    .expect(200);
}

async fn customer_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Customer'")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_change_on_one_instance_applies_to_the_next_command_on_another() {
    let app = TestApp::spawn().await;
    let other = second(&app).await;
    let admin = app.token("acme", Role::Admin);
    let sales = app.token("acme", Role::Sales);
    let body = |n: u32| {
        json!({"first_name": "Ada", "last_name": "Cache", "email": format!("cache{n}@example.com"),
               "phone": format!("+1514555{n:04}")})
    };

    // The other instance caches the sales role's policy.
    other
        .post("/v1/customers", &sales, body(1))
        .await
        .expect(201);
    other.get("/v1/customers", &sales).await.expect(200);
    let before = customer_events(&app).await;

    // Taken away on this instance: refused on the other at once, nothing written.
    put_role(
        &app,
        &admin,
        "/v1/permissions/roles/sales/CUSTOMER/CREATE",
        json!(null),
    )
    .await;
    other
        .post("/v1/customers", &sales, body(2))
        .await
        .expect_problem(403, "forbidden");
    assert_eq!(customer_events(&app).await, before, "nothing was written");

    // Given back: allowed on the other at once, though it cached the refusal.
    put_role(
        &app,
        &admin,
        "/v1/permissions/roles/sales/CUSTOMER/CREATE",
        json!("CLIENT"),
    )
    .await;
    other
        .post("/v1/customers", &sales, body(3))
        .await
        .expect(201);

    // Reads follow within the notification's delay.
    put_role(
        &app,
        &admin,
        "/v1/permissions/roles/sales/CUSTOMER/READ",
        json!(null),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = other.get("/v1/customers", &sales).await.status;
        if status == 403 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other instance's reads see the change"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_grant_stops_working_on_an_instance_that_cached_it() {
    let app = TestApp::spawn().await;
    let other = second(&app).await;
    let admin = app.token("acme", Role::Admin);
    let crew_user = Uuid::new_v4();
    let crew = app.token_for("acme", crew_user, Role::Crew);
    let customer = app.customer(&admin, "expiry@example.com").await;
    app.settle().await;
    let expires = Utc::now() + chrono::Duration::seconds(2);
    app.post(
        "/v1/permissions/grants",
        &admin,
        json!({"user_id": crew_user, "resource": "CUSTOMER", "action": "UPDATE", "scope": "CLIENT",
               "expires_at": expires, "reason": "fixing typos today"}),
    )
    .await
    .expect(201);
    let rename = |name: &str| json!({"last_name": name});
    other
        .patch(
            &format!("/v1/customers/{customer}"),
            &crew,
            rename("Before"),
        )
        .await
        .expect(200);
    tokio::time::sleep_until(tokio::time::Instant::now() + until(expires)).await;
    other
        .patch(&format!("/v1/customers/{customer}"), &crew, rename("After"))
        .await
        .expect_problem(403, "forbidden");
}

fn until(t: chrono::DateTime<Utc>) -> Duration {
    (t - Utc::now())
        .to_std()
        .unwrap_or_default()
        .saturating_add(Duration::from_millis(200))
}

/// The check at commit, on its own: a command decided under a policy version
/// that is no longer current, or after its grants expired, writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_decided_under_an_outdated_policy_is_refused_at_commit() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let tenant = TenantId::parse("acme").unwrap();
    let policies = api_common::PolicyStore::new(app.pool().clone());
    let user = Uuid::new_v4();
    let old = policies
        .load(&tenant, Role::Manager, user, Purpose::Command)
        .await
        .unwrap();
    assert_eq!(old.policy.version, 0);
    put_role(
        &app,
        &admin,
        "/v1/permissions/roles/sales/LEAD/DELETE",
        json!(null),
    )
    .await;
    policies.invalidate(&tenant);
    let current = policies
        .load(&tenant, Role::Manager, user, Purpose::Command)
        .await
        .unwrap();
    assert_eq!(current.policy.version, 1, "one change, one version");

    let store: Store<SalesSettings> =
        Store::new(app.pool().clone(), app.env.infra.keystore.clone());
    let id = Uuid::new_v4();
    let change = |threshold: &str| SalesSettingsCommand {
        at: Utc::now(),
        actor: user,
        action: SalesSettingsAction::Change {
            tenant_id: tenant.clone(),
            quote_approval_threshold: Patch::Set(threshold.parse().unwrap()),
            default_province: None,
            default_payment_terms_days: None,
        },
    };
    let metadata = |version: i64, valid_until: Option<chrono::DateTime<Utc>>| EventMetadata {
        tenant_id: tenant.clone(),
        user_id: user,
        role: Role::Manager,
        correlation_id: "cache-test".to_owned(),
        causation_id: "cache-test".to_owned(),
        command_id: Uuid::now_v7(),
        recorded_at: Utc::now(),
        policy_version: Some(version),
        policy_valid_until: valid_until,
    };
    for (version, valid_until) in [
        (0, None),
        (1, Some(Utc::now() - chrono::Duration::seconds(1))),
    ] {
        let run = Run::new(&tenant, Target::Any(id));
        let refused = store
            .run(
                run,
                || metadata(version, valid_until),
                |_| Ok::<_, CommandError<_>>(change("1000")),
            )
            .await;
        assert!(
            matches!(refused, Err(CommandError::PermissionsChanged)),
            "version {version}, valid until {valid_until:?}: {refused:?}"
        );
    }
    let loaded = store.load_or_new(&tenant, id).await.unwrap();
    assert_eq!(loaded.version(), 0, "nothing was written");
    let later = Some(Utc::now() + chrono::Duration::hours(1));
    store
        .run(
            Run::new(&tenant, Target::Any(id)),
            || metadata(1, later),
            |_| Ok::<_, CommandError<_>>(change("1000")),
        )
        .await
        .expect("decided under the current policy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_forgotten_on_one_instance_is_never_opened_or_changed_on_another() {
    let app = TestApp::spawn().await;
    let other = second(&app).await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "forget-cache@example.com").await;
    app.settle().await;
    // The other instance reads and changes the customer (its key in use).
    other
        .patch(
            &format!("/v1/customers/{customer}"),
            &admin,
            json!({"notes": "call after 5"}),
        )
        .await
        .expect(200);
    app.post(
        &format!("/v1/customers/{customer}/forget"),
        &admin,
        json!({"reason": "customer asked"}),
    )
    .await
    .expect(200);
    let changed = other
        .patch(
            &format!("/v1/customers/{customer}"),
            &admin,
            json!({"notes": "again"}),
        )
        .await;
    changed.expect_problem(409, "conflict");
    assert_eq!(changed.body["rule"], "customer.forgotten");
    app.settle().await;
    let read = other
        .get(&format!("/v1/customers/{customer}"), &admin)
        .await;
    assert_ne!(
        read.body["email"], "forget-cache@example.com",
        "the email is erased"
    );
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM data_keys WHERE subject_id = $1 AND wrapped_dek IS NOT NULL",
    )
    .bind(&customer)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(keys, 0, "no key for the customer exists again");
}
