//! The permission matrix, grants, and rate limits, through the API.

use std::time::Duration;

use api_common::Principal;
use crm_tests::{TestApp, TestEnv};
use event_schemas::{Role, TenantId};
use serde_json::json;
use uuid::Uuid;

fn token_with_locations(app: &TestApp, role: Role, user: Uuid, locations: &[&str]) -> String {
    let principal = Principal::new(
        TenantId::parse("acme").unwrap(),
        user,
        role,
        locations.iter().map(|l| (*l).to_owned()).collect(),
    );
    app.keys
        .issue(&principal, chrono::Duration::hours(1))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_the_matrix_applies_from_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "matrix@example.com").await;
    let mut leads = Vec::new();
    for location in ["mtl", "qc", "mtl"] {
        let lead = app
            .post(
                "/v1/leads",
                &admin,
                json!({"customer_id": customer, "source": "web", "location_id": location}),
            )
            .await;
        lead.expect(201);
        leads.push(lead.id());
    }
    app.settle().await;
    let dispatcher = token_with_locations(&app, Role::Dispatcher, Uuid::new_v4(), &["mtl"]);
    app.get("/v1/customers", &dispatcher).await.expect(200);
    assert_eq!(
        app.get("/v1/leads", &dispatcher).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Dispatchers lose customers, and see only their locations' leads.
    app.request(
        reqwest::Method::PUT,
        "/v1/permissions/roles/dispatcher/CUSTOMER/READ",
        Some(&admin),
        Some(json!({"scope": null, "reason": "need to know"})),
        &[],
    )
    .await
    .expect(200);
    app.request(
        reqwest::Method::PUT,
        "/v1/permissions/roles/dispatcher/LEAD/READ",
        Some(&admin),
        Some(json!({"scope": "LOCATION", "reason": "branch dispatch"})),
        &[],
    )
    .await
    .expect(200);
    app.get("/v1/customers", &dispatcher)
        .await
        .expect_problem(403, "forbidden");
    let visible = app.get("/v1/leads", &dispatcher).await;
    visible.expect(200);
    let ids: Vec<&str> = visible.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&leads[0].as_str()) && ids.contains(&leads[2].as_str()));
    app.get(&format!("/v1/leads/{}", leads[0]), &dispatcher)
        .await
        .expect(200);
    app.get(&format!("/v1/leads/{}", leads[1]), &dispatcher)
        .await
        .expect_problem(403, "forbidden");

    // The matrix shows what is in force, marked as overrides.
    let auditor = app.token("acme", Role::Auditor);
    let matrix = app.get("/v1/permissions", &auditor).await;
    matrix.expect(200);
    let entry = matrix.body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["role"] == "dispatcher" && e["resource"] == "LEAD" && e["action"] == "READ")
        .unwrap()
        .clone();
    assert_eq!(
        entry,
        json!({"role": "dispatcher", "resource": "LEAD", "action": "READ", "scope": "LOCATION", "source": "override"})
    );

    // Another tenant keeps its defaults.
    let theirs = app.token("globex", Role::Dispatcher);
    app.get("/v1/customers", &theirs).await.expect(200);

    // The changes are audited events with their reasons.
    app.settle().await;
    let trail = app
        .get("/v1/audit/events?aggregate_type=TenantPermissions", &admin)
        .await;
    let reasons: Vec<&str> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["branch dispatch", "need to know"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_works_until_it_expires_or_is_revoked_without_anyone_acting() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    app.customer(&admin, "grant@example.com").await;
    let crew_user = Uuid::new_v4();
    let crew = app.token_for("acme", crew_user, Role::Crew);
    app.get("/v1/customers", &crew)
        .await
        .expect_problem(403, "forbidden");

    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    let grant = app
        .post(
            "/v1/permissions/grants",
            &admin,
            json!({"user_id": crew_user, "resource": "CUSTOMER", "action": "READ", "scope": "CLIENT",
                   "expires_at": expires, "reason": "helping at the front desk today"}),
        )
        .await;
    grant.expect(201);
    app.get("/v1/customers", &crew).await.expect(200);
    app.get("/v1/leads", &crew)
        .await
        .expect_problem(403, "forbidden");
    let listed = app
        .get(
            &format!("/v1/permissions/grants?user_id={crew_user}"),
            &admin,
        )
        .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["reason"], "helping at the front desk today");

    tokio::time::sleep(Duration::from_millis(2300)).await;
    app.get("/v1/customers", &crew)
        .await
        .expect_problem(403, "forbidden");
    let all = app
        .get(
            &format!("/v1/permissions/grants?user_id={crew_user}&active=false"),
            &admin,
        )
        .await;
    assert_eq!(all.body[0]["active"], false, "expired");
    app.post(
        &format!("/v1/permissions/grants/{}/revoke", grant.id()),
        &admin,
        json!({"reason": "late"}),
    )
    .await
    .expect_problem(409, "conflict");

    // A grant without expiry stops when revoked.
    let forever = app
        .post(
            "/v1/permissions/grants",
            &admin,
            json!({"user_id": crew_user, "resource": "CUSTOMER", "action": "READ", "scope": "CLIENT", "reason": "cover"}),
        )
        .await;
    forever.expect(201);
    app.get("/v1/customers", &crew).await.expect(200);
    app.post(
        &format!("/v1/permissions/grants/{}/revoke", forever.id()),
        &admin,
        json!({"reason": "done"}),
    )
    .await
    .expect(200);
    app.get("/v1/customers", &crew)
        .await
        .expect_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_change_permissions_and_bad_changes_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let put = |role: &str, body: serde_json::Value, token: String| {
        let path = format!("/v1/permissions/roles/{role}");
        let app = &app;
        async move {
            app.request(reqwest::Method::PUT, &path, Some(&token), Some(body), &[])
                .await
        }
    };
    put(
        "sales/LEAD/READ",
        json!({"scope": "CLIENT", "reason": "x"}),
        app.token("acme", Role::Manager),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        "/v1/permissions/grants",
        &app.token("acme", Role::Auditor),
        json!({"user_id": Uuid::new_v4(), "resource": "LEAD", "action": "READ", "scope": "CLIENT", "reason": "x"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.get("/v1/permissions", &app.token("acme", Role::Sales))
        .await
        .expect_problem(403, "forbidden");

    let locked = put(
        "admin/PERMISSION/UPDATE",
        json!({"scope": null, "reason": "x"}),
        admin.clone(),
    )
    .await;
    locked.expect_problem(409, "conflict");
    assert_eq!(locked.body["rule"], "permissions.admin-locked");
    let unknown = put(
        "pilot/LEAD/READ",
        json!({"scope": "CLIENT", "reason": "x"}),
        admin.clone(),
    )
    .await;
    unknown.expect_problem(422, "validation");
    assert_eq!(unknown.problem_fields(), ["role"]);
    put(
        "sales/LEAD/READ",
        json!({"scope": "EVERYWHERE", "reason": "x"}),
        admin.clone(),
    )
    .await
    .expect_problem(422, "validation");
    put(
        "sales/LEAD/READ",
        json!({"scope": "CLIENT", "reason": " "}),
        admin.clone(),
    )
    .await
    .expect_problem(422, "validation");
    let past = app
        .post(
            "/v1/permissions/grants",
            &admin,
            json!({"user_id": Uuid::new_v4(), "resource": "LEAD", "action": "READ", "scope": "CLIENT",
                   "expires_at": "2020-01-01T00:00:00Z", "reason": "x"}),
        )
        .await;
    past.expect_problem(422, "validation");
    assert_eq!(past.problem_fields(), ["expires_at"]);
    // Another tenant's grant cannot be revoked from here.
    let globex_admin = app.token("globex", Role::Admin);
    let theirs = app
        .post(
            "/v1/permissions/grants",
            &globex_admin,
            json!({"user_id": Uuid::new_v4(), "resource": "LEAD", "action": "READ", "scope": "CLIENT", "reason": "x"}),
        )
        .await;
    theirs.expect(201);
    app.post(
        &format!("/v1/permissions/grants/{}/revoke", theirs.id()),
        &admin,
        json!({"reason": "x"}),
    )
    .await
    .expect_problem(404, "not-found");
}

async fn app_with_limits(per_user: f64, per_tenant: f64) -> TestApp {
    let mut env = TestEnv::new().await;
    env.infra.config.rate_limit_user_rps = per_user;
    env.infra.config.rate_limit_tenant_rps = per_tenant;
    TestApp::start_on(env, crm::app::Parts::all()).await
}

async fn burst(app: &TestApp, token: &str, n: usize) -> Vec<u16> {
    futures::future::join_all((0..n).map(|_| app.get("/v1/customers", token)))
        .await
        .iter()
        .map(|r| r.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_their_rate_gets_429_with_retry_after() {
    let app = app_with_limits(2.0, 0.0).await;
    let first = app.token("acme", Role::Admin);
    let answers = burst(&app, &first, 6).await;
    assert_eq!(
        answers.iter().filter(|s| **s == 200).count(),
        4,
        "a burst of twice the rate: {answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|s| **s == 429).count(),
        2,
        "{answers:?}"
    );
    let limited = app.get("/v1/customers", &first).await;
    limited.expect_problem(429, "rate-limited");
    assert!(
        limited
            .header("retry-after")
            .is_some_and(|s| s.parse::<u64>().unwrap() >= 1)
    );
    // Another user has their own bucket; unauthenticated calls get their 401.
    app.get("/v1/customers", &app.token("acme", Role::Admin))
        .await
        .expect(200);
    app.request(reqwest::Method::GET, "/v1/customers", None, None, &[])
        .await
        .expect_problem(401, "unauthorized");
    // Tokens come back at the rate.
    tokio::time::sleep(Duration::from_millis(600)).await;
    app.get("/v1/customers", &first).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_users_share_the_tenants_rate() {
    let app = app_with_limits(0.0, 5.0).await;
    let answers = burst(&app, &app.token("acme", Role::Admin), 6).await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    let answers = burst(&app, &app.token("acme", Role::Sales), 6).await;
    assert_eq!(
        answers.iter().filter(|s| **s == 200).count(),
        4,
        "10 per burst for the whole tenant: {answers:?}"
    );
    assert_eq!(answers.iter().filter(|s| **s == 429).count(), 2);
    app.get("/v1/customers", &app.token("globex", Role::Admin))
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_scopes_narrow_lists_and_reads_and_the_history_needs_the_whole_tenant() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "narrow@example.com").await;
    app.settle().await;
    let put = |path: &str, body: serde_json::Value| {
        let (app, admin, path) = (&app, admin.clone(), path.to_owned());
        async move {
            app.request(reqwest::Method::PUT, &path, Some(&admin), Some(body), &[])
                .await
        }
    };
    put(
        "/v1/permissions/roles/manager/CUSTOMER/READ",
        json!({"scope": "LOCATION", "reason": "branches"}),
    )
    .await
    .expect(200);
    put(
        "/v1/permissions/roles/manager/AUDIT_LOG/READ",
        json!({"scope": "OWN", "reason": "own actions only"}),
    )
    .await
    .expect(200);
    let manager = token_with_locations(&app, Role::Manager, Uuid::new_v4(), &["mtl"]);
    // Customers belong to no location: a LOCATION scope sees none of them.
    let list = app.get("/v1/customers", &manager).await;
    list.expect(200);
    assert_eq!(list.body["items"], json!([]));
    app.get(&format!("/v1/customers/{customer}"), &manager)
        .await
        .expect_problem(403, "forbidden");
    // Still allowed to update (CLIENT by default).
    app.patch(
        &format!("/v1/customers/{customer}"),
        &manager,
        json!({"notes": "n"}),
    )
    .await
    .expect(200);
    // History and exports cannot be narrowed to own records.
    for path in [
        "/v1/audit/events".to_owned(),
        "/v1/audit/export".to_owned(),
        format!("/v1/audit/Customer/{customer}/history"),
    ] {
        app.get(&path, &manager)
            .await
            .expect_problem(403, "forbidden");
    }
}
