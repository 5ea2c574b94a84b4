//! The role baseline: crew cannot touch customers or leads; auditor is
//! read-only; dispatcher and accountant read; sales sees and changes only
//! leads assigned to them or unassigned; admin and manager do everything.
//! Every refusal is a 403 problem and writes nothing.

use std::collections::BTreeSet;

use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const TENANT: &str = "acme";

/// A customer with one lead, created by an admin and projected.
struct World {
    admin: String,
    customer: String,
    lead: String,
}

async fn world(app: &TestApp) -> World {
    let admin = app.token(TENANT, Role::Admin);
    let customer = app.customer(&admin, "world@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    app.settle().await;
    World {
        admin,
        customer,
        lead,
    }
}

/// Every read of a customer or a lead (not the audit trail).
fn reads(w: &World) -> Vec<String> {
    vec![
        format!("/v1/customers/{}", w.customer),
        "/v1/customers".to_owned(),
        format!("/v1/leads/{}", w.lead),
        "/v1/leads".to_owned(),
        format!("/v1/leads/{}/timeline", w.lead),
    ]
}

/// Every command on customers and leads, with a body that is valid.
fn writes(w: &World) -> Vec<(Method, String, Option<Value>)> {
    let c = &w.customer;
    let l = &w.lead;
    vec![
        (
            Method::POST,
            "/v1/customers".to_owned(),
            Some(json!({"first_name": "New", "last_name": "One", "email": "new@example.com"})),
        ),
        (
            Method::PATCH,
            format!("/v1/customers/{c}"),
            Some(json!({"notes": "changed"})),
        ),
        (
            Method::POST,
            format!("/v1/customers/{c}/tags"),
            Some(json!({"tag": "vip"})),
        ),
        (Method::DELETE, format!("/v1/customers/{c}/tags/vip"), None),
        (
            Method::POST,
            format!("/v1/customers/{c}/deactivate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/customers/{c}/reactivate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/leads".to_owned(),
            Some(json!({"customer_id": c, "source": "website"})),
        ),
        (
            Method::PATCH,
            format!("/v1/leads/{l}"),
            Some(json!({"notes": "changed"})),
        ),
        (
            Method::POST,
            format!("/v1/leads/{l}/transition"),
            Some(json!({"to": "CONTACTED"})),
        ),
        (
            Method::POST,
            format!("/v1/leads/{l}/assign"),
            Some(json!({"user_id": null})),
        ),
        (
            Method::POST,
            format!("/v1/leads/{l}/activities"),
            Some(json!({"type": "PHONE_CALL", "description": "Called"})),
        ),
    ]
}

async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .expect("events can be counted")
}

#[track_caller]
fn expect_forbidden(response: &TestResponse, role: Role, what: &str) {
    assert_eq!(response.status, 403, "{role} {what}: {}", response.body);
    response.expect_problem(403, "forbidden");
}

/// Asserts that `role` is refused every command, and that nothing is written.
async fn assert_every_write_forbidden(app: &TestApp, w: &World, role: Role) {
    let token = app.token(TENANT, role);
    let before = event_count(app).await;
    for (method, path, body) in writes(w) {
        let response = app
            .request(method.clone(), &path, Some(&token), body, &[])
            .await;
        expect_forbidden(&response, role, &format!("{method} {path}"));
    }
    assert_eq!(
        event_count(app).await,
        before,
        "{role}: nothing was written"
    );
}

/// Asserts that `role` reads the world's customer and lead.
async fn assert_every_read_allowed(app: &TestApp, w: &World, role: Role) {
    let token = app.token(TENANT, role);
    let customer = app
        .get(&format!("/v1/customers/{}", w.customer), &token)
        .await;
    customer.expect(200);
    assert_eq!(customer.body["id"], w.customer.as_str());
    let lead = app.get(&format!("/v1/leads/{}", w.lead), &token).await;
    lead.expect(200);
    assert_eq!(lead.body["id"], w.lead.as_str());
    let customers = app.get("/v1/customers", &token).await;
    customers.expect(200);
    assert_eq!(ids(&customers), [w.customer.clone()].into());
    let leads = app.get("/v1/leads", &token).await;
    leads.expect(200);
    assert_eq!(ids(&leads), [w.lead.clone()].into());
    let timeline = app
        .get(&format!("/v1/leads/{}/timeline", w.lead), &token)
        .await;
    timeline.expect(200);
    assert!(
        !timeline.body["items"].as_array().unwrap().is_empty(),
        "{role}: {}",
        timeline.body
    );
}

fn ids(response: &TestResponse) -> BTreeSet<String> {
    response.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {} {}", response.status, response.body))
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn set(values: &[&String]) -> BTreeSet<String> {
    values.iter().map(|v| (*v).clone()).collect()
}

// ---------------------------------------------------------------- crew

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crew_cannot_read_or_change_customers_leads_or_the_audit_trail() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let crew = app.token(TENANT, Role::Crew);
    for path in reads(&w).into_iter().chain(["/v1/audit/events".to_owned()]) {
        let response = app.get(&path, &crew).await;
        expect_forbidden(&response, Role::Crew, &format!("GET {path}"));
        assert!(
            response.body["detail"].as_str().unwrap().contains("crew"),
            "the detail names the role: {}",
            response.body
        );
    }
    assert_every_write_forbidden(&app, &w, Role::Crew).await;
    // The same requests succeed for an admin (the refusals are about the role).
    app.get(&format!("/v1/leads/{}", w.lead), &w.admin)
        .await
        .expect(200);
}

// ---------------------------------------------------------------- read-only roles

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_everything_including_the_audit_trail_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    assert_every_read_allowed(&app, &w, Role::Auditor).await;
    let auditor = app.token(TENANT, Role::Auditor);
    let audit = app.get("/v1/audit/events", &auditor).await;
    audit.expect(200);
    let types: BTreeSet<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, BTreeSet::from(["CustomerRegistered", "LeadCreated"]));
    assert_every_write_forbidden(&app, &w, Role::Auditor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatchers_and_accountants_read_customers_and_leads_but_not_the_audit_trail_and_change_nothing()
 {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    for role in [Role::Dispatcher, Role::Accountant] {
        assert_every_read_allowed(&app, &w, role).await;
        let token = app.token(TENANT, role);
        let audit = app.get("/v1/audit/events", &token).await;
        expect_forbidden(&audit, role, "GET /v1/audit/events");
        assert_every_write_forbidden(&app, &w, role).await;
    }
}

// ---------------------------------------------------------------- admin and manager

/// Runs every command as `role` on a fresh customer and lead; each succeeds.
async fn assert_every_write_allowed(app: &TestApp, role: Role, email: &str) {
    let token = app.token(TENANT, role);
    let before = event_count(app).await;
    let created = app
        .post(
            "/v1/customers",
            &token,
            json!({"first_name": "Ann", "last_name": "Lee", "email": email}),
        )
        .await;
    created.expect(201);
    let c = created.id();
    app.patch(
        &format!("/v1/customers/{c}"),
        &token,
        json!({"notes": "changed"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/customers/{c}/tags"),
        &token,
        json!({"tag": "vip"}),
    )
    .await
    .expect(200);
    app.delete(&format!("/v1/customers/{c}/tags/vip"), &token)
        .await
        .expect(200);
    let lead = app
        .post(
            "/v1/leads",
            &token,
            json!({"customer_id": c, "source": "website"}),
        )
        .await;
    lead.expect(201);
    let l = lead.id();
    // Assign to anyone, then keep working on a lead that is not theirs.
    let someone = Uuid::new_v4();
    app.post(
        &format!("/v1/leads/{l}/assign"),
        &token,
        json!({"user_id": someone}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/v1/leads/{l}"),
        &token,
        json!({"notes": "changed"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/leads/{l}/transition"),
        &token,
        json!({"to": "CONTACTED"}),
    )
    .await
    .expect(200);
    let activity = app
        .post(
            &format!("/v1/leads/{l}/activities"),
            &token,
            json!({"type": "PHONE_CALL", "description": "Called"}),
        )
        .await;
    activity.expect(201);
    app.post(&format!("/v1/customers/{c}/deactivate"), &token, json!({}))
        .await
        .expect(200);
    app.post(&format!("/v1/customers/{c}/reactivate"), &token, json!({}))
        .await
        .expect(200);
    assert!(
        event_count(app).await >= before + 11,
        "{role}: every command wrote"
    );

    let read = app
        .get(
            &format!("/v1/leads/{l}?min_version={}", activity.version()),
            &token,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["assigned_to"], someone.to_string(), "{role}");
    assert_eq!(read.body["status"], "CONTACTED");
    assert_eq!(read.body["notes"], "changed");
    app.get(&format!("/v1/leads/{l}/timeline"), &token)
        .await
        .expect(200);
    // Each projection catches up on its own: wait for this one too.
    app.get(&format!("/v1/customers/{c}?min_version=1"), &token)
        .await
        .expect(200);
    let audit = app
        .get(&format!("/v1/audit/events?aggregate_id={c}"), &token)
        .await;
    audit.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_and_managers_do_everything_including_assigning_leads_to_anyone() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    assert_every_write_allowed(&app, Role::Admin, "admin-made@example.com").await;
    assert_every_write_allowed(&app, Role::Manager, "manager-made@example.com").await;
    app.settle().await;
    for role in [Role::Admin, Role::Manager] {
        let token = app.token(TENANT, role);
        let leads = app.get("/v1/leads", &token).await;
        leads.expect(200);
        assert_eq!(ids(&leads).len(), 3, "{role} sees every lead of the tenant");
        assert!(ids(&leads).contains(&w.lead));
        app.get("/v1/audit/events", &token).await.expect(200);
    }
    // A manager hands the world's lead to a rep and back.
    let manager = app.token(TENANT, Role::Manager);
    let rep = Uuid::new_v4();
    app.post(
        &format!("/v1/leads/{}/assign", w.lead),
        &manager,
        json!({"user_id": rep}),
    )
    .await
    .expect(200);
    let back = app
        .post(
            &format!("/v1/leads/{}/assign", w.lead),
            &manager,
            json!({"user_id": null}),
        )
        .await;
    back.expect(200);
    let read = app
        .get(
            &format!("/v1/leads/{}?min_version={}", w.lead, back.version()),
            &manager,
        )
        .await;
    read.expect(200);
    assert!(read.body["assigned_to"].is_null(), "{}", read.body);
}

// ---------------------------------------------------------------- sales

/// Three leads opened by a manager: assigned to rep A, to rep B, and to nobody.
struct Pipeline {
    manager: String,
    customer: String,
    rep_a: Uuid,
    rep_b: Uuid,
    a: String,
    b: String,
    unassigned: String,
}

impl Pipeline {
    async fn open(app: &TestApp) -> Self {
        let manager = app.token(TENANT, Role::Manager);
        let customer = app.customer(&manager, "pipeline@example.com").await;
        let (rep_a, rep_b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut leads = Vec::new();
        for assignee in [Some(rep_a), Some(rep_b), None] {
            let response = app
                .post(
                    "/v1/leads",
                    &manager,
                    json!({"customer_id": customer, "source": "website", "assigned_to": assignee}),
                )
                .await;
            response.expect(201);
            leads.push(response.id());
        }
        app.settle().await;
        let [a, b, unassigned] = <[String; 3]>::try_from(leads).unwrap();
        Self {
            manager,
            customer,
            rep_a,
            rep_b,
            a,
            b,
            unassigned,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_rep_sees_only_leads_assigned_to_them_or_unassigned() {
    let app = TestApp::spawn().await;
    let p = Pipeline::open(&app).await;
    let rep_a = app.token_for(TENANT, p.rep_a, Role::Sales);
    let rep_b = app.token_for(TENANT, p.rep_b, Role::Sales);

    let list = app.get("/v1/leads", &rep_a).await;
    list.expect(200);
    assert_eq!(ids(&list), set(&[&p.a, &p.unassigned]));
    let list = app.get("/v1/leads", &rep_b).await;
    list.expect(200);
    assert_eq!(ids(&list), set(&[&p.b, &p.unassigned]));
    let list = app.get("/v1/leads", &p.manager).await;
    list.expect(200);
    assert_eq!(ids(&list), set(&[&p.a, &p.b, &p.unassigned]));
    // A filter cannot widen the scope.
    let list = app
        .get(&format!("/v1/leads?assigned_to={}", p.rep_b), &rep_a)
        .await;
    list.expect(200);
    assert_eq!(ids(&list), set(&[]));
    let list = app
        .get(&format!("/v1/leads?assigned_to={}", p.rep_a), &rep_a)
        .await;
    list.expect(200);
    assert_eq!(ids(&list), set(&[&p.a]));
    let list = app
        .get(&format!("/v1/leads?customer_id={}", p.customer), &rep_a)
        .await;
    list.expect(200);
    assert_eq!(ids(&list), set(&[&p.a, &p.unassigned]));

    for lead in [&p.a, &p.unassigned] {
        let read = app.get(&format!("/v1/leads/{lead}"), &rep_a).await;
        read.expect(200);
        assert_eq!(read.body["id"], lead.as_str());
        app.get(&format!("/v1/leads/{lead}/timeline"), &rep_a)
            .await
            .expect(200);
    }
    let read = app.get(&format!("/v1/leads/{}", p.b), &rep_a).await;
    expect_forbidden(&read, Role::Sales, "GET another rep's lead");
    let timeline = app
        .get(&format!("/v1/leads/{}/timeline", p.b), &rep_a)
        .await;
    expect_forbidden(&timeline, Role::Sales, "GET another rep's timeline");
    // Customers are not scoped.
    app.get(&format!("/v1/customers/{}", p.customer), &rep_a)
        .await
        .expect(200);
    let customers = app.get("/v1/customers", &rep_a).await;
    customers.expect(200);
    assert_eq!(ids(&customers), set(&[&p.customer]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_rep_cannot_change_another_reps_lead_but_can_change_unassigned_ones() {
    let app = TestApp::spawn().await;
    let p = Pipeline::open(&app).await;
    let rep_a = app.token_for(TENANT, p.rep_a, Role::Sales);
    let before = event_count(&app).await;

    let changes = |lead: &str| {
        vec![
            (
                Method::PATCH,
                format!("/v1/leads/{lead}"),
                json!({"notes": "mine now"}),
            ),
            (
                Method::POST,
                format!("/v1/leads/{lead}/transition"),
                json!({"to": "CONTACTED"}),
            ),
            (
                Method::POST,
                format!("/v1/leads/{lead}/activities"),
                json!({"type": "EMAIL", "description": "Sent a quote"}),
            ),
            (
                Method::POST,
                format!("/v1/leads/{lead}/assign"),
                json!({"user_id": p.rep_a}),
            ),
            (
                Method::POST,
                format!("/v1/leads/{lead}/assign"),
                json!({"user_id": null}),
            ),
        ]
    };
    for (method, path, body) in changes(&p.b) {
        let response = app
            .request(method.clone(), &path, Some(&rep_a), Some(body), &[])
            .await;
        expect_forbidden(
            &response,
            Role::Sales,
            &format!("{method} {path} (rep B's lead)"),
        );
    }
    assert_eq!(event_count(&app).await, before, "nothing was written");

    // The unassigned lead is fair game.
    let mut last = None;
    for (method, path, body) in changes(&p.unassigned).into_iter().take(3) {
        let response = app
            .request(method.clone(), &path, Some(&rep_a), Some(body), &[])
            .await;
        assert!(
            response.status == 200 || response.status == 201,
            "{method} {path}: {} {}",
            response.status,
            response.body
        );
        last = Some(response.body["version"].as_u64().unwrap());
    }
    assert!(event_count(&app).await > before);
    let read = app
        .get(
            &format!("/v1/leads/{}?min_version={}", p.unassigned, last.unwrap()),
            &rep_a,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["status"], "CONTACTED");
    assert_eq!(read.body["notes"], "mine now");
    assert_eq!(read.body["activity_count"], 1);
    // Rep A's own lead too.
    app.post(
        &format!("/v1/leads/{}/transition", p.a),
        &rep_a,
        json!({"to": "QUALIFIED"}),
    )
    .await
    .expect(200);

    // Once a manager hands the unassigned lead to rep B, rep A is out.
    app.post(
        &format!("/v1/leads/{}/assign", p.unassigned),
        &p.manager,
        json!({"user_id": p.rep_b}),
    )
    .await
    .expect(200);
    let response = app
        .patch(
            &format!("/v1/leads/{}", p.unassigned),
            &rep_a,
            json!({"notes": "again"}),
        )
        .await;
    expect_forbidden(&response, Role::Sales, "PATCH a lead handed to rep B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_reps_new_lead_is_theirs_and_they_may_assign_leads_only_to_themselves() {
    let app = TestApp::spawn().await;
    let p = Pipeline::open(&app).await;
    let rep_a = app.token_for(TENANT, p.rep_a, Role::Sales);

    let created = app
        .post(
            "/v1/leads",
            &rep_a,
            json!({"customer_id": p.customer, "source": "phone"}),
        )
        .await;
    created.expect(201);
    let own = created.id();
    let read = app
        .get(&format!("/v1/leads/{own}?min_version=1"), &p.manager)
        .await;
    read.expect(200);
    assert_eq!(
        read.body["assigned_to"],
        p.rep_a.to_string(),
        "assigned to the rep by default"
    );
    assert_eq!(read.body["created_by"], p.rep_a.to_string());
    let list = app.get("/v1/leads", &rep_a).await;
    list.expect(200);
    assert!(ids(&list).contains(&own), "the rep sees it");

    let explicit = app
        .post(
            "/v1/leads",
            &rep_a,
            json!({"customer_id": p.customer, "source": "phone", "assigned_to": p.rep_a}),
        )
        .await;
    explicit.expect(201);

    let before = event_count(&app).await;
    let response = app
        .post(
            "/v1/leads",
            &rep_a,
            json!({"customer_id": p.customer, "source": "phone", "assigned_to": p.rep_b}),
        )
        .await;
    expect_forbidden(&response, Role::Sales, "open a lead for rep B");
    for lead in [&own, &p.unassigned, &p.a] {
        let response = app
            .post(
                &format!("/v1/leads/{lead}/assign"),
                &rep_a,
                json!({"user_id": p.rep_b}),
            )
            .await;
        expect_forbidden(&response, Role::Sales, "assign a lead to rep B");
    }
    assert_eq!(event_count(&app).await, before, "nothing was written");

    // Taking an unassigned lead, and taking oneself off one's own lead, are fine.
    app.post(
        &format!("/v1/leads/{}/assign", p.unassigned),
        &rep_a,
        json!({"user_id": p.rep_a}),
    )
    .await
    .expect(200);
    let off = app
        .post(
            &format!("/v1/leads/{own}/assign"),
            &rep_a,
            json!({"user_id": null}),
        )
        .await;
    off.expect(200);
    let read = app
        .get(
            &format!("/v1/leads/{}?min_version=2", p.unassigned),
            &p.manager,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["assigned_to"], p.rep_a.to_string());
    let read = app
        .get(
            &format!("/v1/leads/{own}?min_version={}", off.version()),
            &p.manager,
        )
        .await;
    read.expect(200);
    assert!(read.body["assigned_to"].is_null(), "{}", read.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_rep_registers_and_updates_customers_but_cannot_deactivate_them_or_read_the_audit_trail()
 {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let sales = app.token(TENANT, Role::Sales);

    let created = app
        .post(
            "/v1/customers",
            &sales,
            json!({"first_name": "Sam", "last_name": "Rep", "email": "sam@example.com"}),
        )
        .await;
    created.expect(201);
    let mine = created.id();
    app.patch(
        &format!("/v1/customers/{}", w.customer),
        &sales,
        json!({"notes": "called"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/customers/{mine}/tags"),
        &sales,
        json!({"tag": "hot"}),
    )
    .await
    .expect(200);
    app.delete(&format!("/v1/customers/{mine}/tags/hot"), &sales)
        .await
        .expect(200);

    let before = event_count(&app).await;
    let response = app
        .post(
            &format!("/v1/customers/{}/deactivate", w.customer),
            &sales,
            json!({}),
        )
        .await;
    expect_forbidden(&response, Role::Sales, "deactivate a customer");
    app.post(
        &format!("/v1/customers/{mine}/deactivate"),
        &w.admin,
        json!({}),
    )
    .await
    .expect(200);
    let before_reactivate = event_count(&app).await;
    assert_eq!(before_reactivate, before + 1);
    let response = app
        .post(
            &format!("/v1/customers/{mine}/reactivate"),
            &sales,
            json!({}),
        )
        .await;
    expect_forbidden(&response, Role::Sales, "reactivate a customer");
    let audit = app.get("/v1/audit/events", &sales).await;
    expect_forbidden(&audit, Role::Sales, "read the audit trail");
    assert_eq!(
        event_count(&app).await,
        before_reactivate,
        "nothing was written"
    );

    let read = app
        .get(
            &format!("/v1/customers/{}?min_version=2", w.customer),
            &sales,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["notes"], "called");
}
