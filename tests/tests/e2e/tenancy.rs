//! Tenant isolation is absolute: any id from another tenant answers 404, and
//! lists never show another tenant's rows.

use std::collections::{BTreeMap, BTreeSet};

use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};

/// Acme's world: a tagged customer with a lead that has an activity.
struct Acme {
    token: String,
    customer: String,
    lead: String,
}

async fn acme_world(app: &TestApp) -> Acme {
    let token = app.token("acme", Role::Admin);
    let customer = app
        .post(
            "/v1/customers",
            &token,
            json!({"first_name": "Wile", "last_name": "Coyote", "email": "wile@acme.example.com",
                   "phone": "+1 514 555 0100", "tags": ["vip"]}),
        )
        .await;
    customer.expect(201);
    let customer = customer.id();
    let lead = app.lead(&token, &customer).await;
    app.post(
        &format!("/v1/leads/{lead}/activities"),
        &token,
        json!({"type": "PHONE_CALL", "description": "Wants rockets moved",
               "completed_at": "2026-01-01T10:00:00Z"}),
    )
    .await
    .expect(201);
    app.settle().await;
    Acme {
        token,
        customer,
        lead,
    }
}

async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .expect("count events")
}

fn items(response: &TestResponse) -> &Vec<Value> {
    response.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {} {}", response.status, response.body))
}

fn ids(response: &TestResponse, field: &str) -> BTreeSet<String> {
    items(response)
        .iter()
        .map(|item| item[field].as_str().expect("a string id").to_owned())
        .collect()
}

/// What acme sees of its own data (to show nothing changed).
async fn acme_snapshot(app: &TestApp, acme: &Acme) -> (Value, Value, Value, Value) {
    let customer = app
        .get(&format!("/v1/customers/{}", acme.customer), &acme.token)
        .await;
    customer.expect(200);
    let lead = app
        .get(&format!("/v1/leads/{}", acme.lead), &acme.token)
        .await;
    lead.expect(200);
    let timeline = app
        .get(&format!("/v1/leads/{}/timeline", acme.lead), &acme.token)
        .await;
    timeline.expect(200);
    let audit = app.get("/v1/audit/events?limit=200", &acme.token).await;
    audit.expect(200);
    (customer.body, lead.body, timeline.body, audit.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_404_to_another_tenants_ids_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let acme = acme_world(&app).await;
    let globex = app.token("globex", Role::Admin);
    let before = acme_snapshot(&app, &acme).await;
    assert_eq!(before.1["activity_count"], 1, "the lead has an activity");
    assert!(
        before.2["items"].as_array().is_some_and(|a| !a.is_empty()),
        "the timeline is not empty: {}",
        before.2
    );
    let events_before = event_count(&app).await;
    let head_before = app.env.stream_head().await;

    let (c, l) = (&acme.customer, &acme.lead);
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::PATCH,
            format!("/v1/customers/{c}"),
            Some(json!({"first_name": "Hacked"})),
        ),
        (
            Method::POST,
            format!("/v1/customers/{c}/deactivate"),
            Some(json!({"reason": "globex says so"})),
        ),
        (Method::POST, format!("/v1/customers/{c}/deactivate"), None),
        (Method::POST, format!("/v1/customers/{c}/reactivate"), None),
        (
            Method::POST,
            format!("/v1/customers/{c}/tags"),
            Some(json!({"tag": "pwned"})),
        ),
        (Method::DELETE, format!("/v1/customers/{c}/tags/vip"), None),
        (
            Method::POST,
            format!("/v1/leads/{l}/transition"),
            Some(json!({"to": "QUALIFIED"})),
        ),
        (
            Method::POST,
            format!("/v1/leads/{l}/assign"),
            Some(json!({"user_id": uuid::Uuid::new_v4()})),
        ),
        (
            Method::POST,
            format!("/v1/leads/{l}/activities"),
            Some(json!({"type": "EMAIL", "description": "spam from globex"})),
        ),
        (
            Method::PATCH,
            format!("/v1/leads/{l}"),
            Some(json!({"notes": "globex was here"})),
        ),
        (Method::GET, format!("/v1/customers/{c}"), None),
        (Method::GET, format!("/v1/leads/{l}"), None),
        (Method::GET, format!("/v1/leads/{l}/timeline"), None),
    ];
    for (method, path, body) in attempts {
        let response = app
            .request(method.clone(), &path, Some(&globex), body.clone(), &[])
            .await;
        assert_eq!(
            response.status, 404,
            "globex {method} {path}: expected 404, got {} {}",
            response.status, response.body
        );
        response.expect_problem(404, "not-found");
        // The same with an If-Match that would match acme's version.
        if method != Method::GET {
            let response = app
                .request(
                    method.clone(),
                    &path,
                    Some(&globex),
                    body,
                    &[("If-Match", "\"1\"")],
                )
                .await;
            assert_eq!(
                response.status, 404,
                "globex {method} {path} with If-Match: {}",
                response.status
            );
        }
    }

    assert_eq!(
        event_count(&app).await,
        events_before,
        "no event was written"
    );
    app.settle().await;
    assert_eq!(
        app.env.stream_head().await,
        head_before,
        "nothing was published"
    );
    let after = acme_snapshot(&app, &acme).await;
    assert_eq!(after.0, before.0, "acme's customer is unchanged");
    assert_eq!(after.1, before.1, "acme's lead is unchanged");
    assert_eq!(after.2, before.2, "acme's timeline is unchanged");
    assert_eq!(after.3, before.3, "acme's audit trail is unchanged");
    assert_eq!(after.0["first_name"], "Wile");
    assert_eq!(after.0["active"], true);
    assert_eq!(after.0["tags"], json!(["vip"]));
    assert_eq!(after.1["status"], "NEW");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_cannot_be_opened_in_one_tenant_for_another_tenants_customer() {
    let app = TestApp::spawn().await;
    let acme = acme_world(&app).await;
    let globex = app.token("globex", Role::Admin);
    let events_before = event_count(&app).await;

    let response = app
        .post(
            "/v1/leads",
            &globex,
            json!({"customer_id": acme.customer, "source": "website"}),
        )
        .await;
    response.expect_problem(422, "validation");
    assert_eq!(response.problem_fields(), ["customer_id"]);
    assert_eq!(event_count(&app).await, events_before, "no lead was opened");

    // The same request is fine for the customer's own tenant.
    app.post(
        "/v1/leads",
        &acme.token,
        json!({"customer_id": acme.customer, "source": "website"}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_the_audit_trail_show_only_the_callers_tenant() {
    let app = TestApp::spawn().await;
    let acme = acme_world(&app).await;
    let globex = app.token("globex", Role::Admin);
    let globex_customer = app.customer(&globex, "hank@globex.example.com").await;
    let globex_lead = app.lead(&globex, &globex_customer).await;
    app.settle().await;

    // Customers.
    let list = app.get("/v1/customers", &globex).await;
    list.expect(200);
    assert_eq!(ids(&list, "id"), BTreeSet::from([globex_customer.clone()]));
    let list = app.get("/v1/customers", &acme.token).await;
    list.expect(200);
    assert_eq!(ids(&list, "id"), BTreeSet::from([acme.customer.clone()]));
    for query in [
        "email=wile@acme.example.com",
        "q=coyote",
        "q=wile",
        "tag=vip",
        "active=true",
    ] {
        let list = app.get(&format!("/v1/customers?{query}"), &globex).await;
        list.expect(200);
        assert!(
            !ids(&list, "id").contains(&acme.customer),
            "globex finds acme's customer with ?{query}: {}",
            list.body
        );
        let list = app
            .get(&format!("/v1/customers?{query}"), &acme.token)
            .await;
        list.expect(200);
        assert!(
            ids(&list, "id").contains(&acme.customer),
            "acme finds its customer with ?{query}"
        );
    }

    // Leads.
    let list = app.get("/v1/leads", &globex).await;
    list.expect(200);
    assert_eq!(ids(&list, "id"), BTreeSet::from([globex_lead.clone()]));
    let list = app
        .get(&format!("/v1/leads?customer_id={}", acme.customer), &globex)
        .await;
    list.expect(200);
    assert!(items(&list).is_empty(), "{}", list.body);
    let list = app.get("/v1/leads", &acme.token).await;
    list.expect(200);
    assert_eq!(ids(&list, "id"), BTreeSet::from([acme.lead.clone()]));

    // The audit trail.
    let acme_ids = BTreeSet::from([acme.customer.clone(), acme.lead.clone()]);
    let globex_ids = BTreeSet::from([globex_customer.clone(), globex_lead.clone()]);
    let audit = app.get("/v1/audit/events?limit=200", &globex).await;
    audit.expect(200);
    assert_eq!(ids(&audit, "aggregate_id"), globex_ids);
    let audit = app.get("/v1/audit/events?limit=200", &acme.token).await;
    audit.expect(200);
    assert_eq!(ids(&audit, "aggregate_id"), acme_ids);
    for filter in [
        format!("aggregate_id={}", acme.lead),
        format!("aggregate_type=Lead&aggregate_id={}", acme.lead),
        format!("aggregate_id={}", acme.customer),
    ] {
        let audit = app
            .get(&format!("/v1/audit/events?{filter}"), &globex)
            .await;
        audit.expect(200);
        assert!(
            items(&audit).is_empty(),
            "globex sees acme's events with ?{filter}: {}",
            audit.body
        );
        let audit = app
            .get(&format!("/v1/audit/events?{filter}"), &acme.token)
            .await;
        audit.expect(200);
        assert!(
            !items(&audit).is_empty(),
            "acme sees its events with ?{filter}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_email_and_phone_can_be_registered_in_two_tenants() {
    let app = TestApp::spawn().await;
    let acme = app.token("acme", Role::Admin);
    let globex = app.token("globex", Role::Admin);

    let first = app
        .post(
            "/v1/customers",
            &acme,
            json!({"first_name": "Sam", "last_name": "Same", "email": "same@example.com", "phone": "(514) 555-0123"}),
        )
        .await;
    first.expect(201);
    let second = app
        .post(
            "/v1/customers",
            &globex,
            json!({"first_name": "Sam", "last_name": "Same", "email": "SAME@example.com", "phone": "+1 514 555 0123"}),
        )
        .await;
    second.expect(201);
    assert_ne!(first.id(), second.id());

    // Within a tenant the value stays unique.
    app.post(
        "/v1/customers",
        &globex,
        json!({"first_name": "Other", "last_name": "One", "email": "Same@Example.com"}),
    )
    .await
    .expect_problem(409, "conflict");

    let claims: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT tenant_id, kind, customer_id FROM customer_contact_claims ORDER BY tenant_id, kind",
    )
    .fetch_all(app.pool())
    .await
    .expect("claims");
    assert_eq!(
        claims,
        [
            ("acme".to_owned(), "email".to_owned(), first.id()),
            ("acme".to_owned(), "phone".to_owned(), first.id()),
            ("globex".to_owned(), "email".to_owned(), second.id()),
            ("globex".to_owned(), "phone".to_owned(), second.id()),
        ]
    );

    app.settle().await;
    for (token, id) in [(&acme, first.id()), (&globex, second.id())] {
        let list = app.get("/v1/customers?email=same@example.com", token).await;
        list.expect(200);
        assert_eq!(ids(&list, "id"), BTreeSet::from([id]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_carry_their_writers_tenant_in_the_envelope_and_the_subject() {
    let app = TestApp::spawn().await;
    let acme = acme_world(&app).await;
    let globex = app.token("globex", Role::Admin);
    let globex_customer = app.customer(&globex, "hank@globex.example.com").await;
    let globex_lead = app.lead(&globex, &globex_customer).await;
    app.settle().await;

    let writer: BTreeMap<String, &str> = BTreeMap::from([
        (acme.customer.clone(), "acme"),
        (acme.lead.clone(), "acme"),
        (globex_customer.clone(), "globex"),
        (globex_lead.clone(), "globex"),
    ]);
    let messages = app.env.stream_messages().await;
    assert_eq!(
        messages.len() as i64,
        event_count(&app).await,
        "every event is published"
    );
    let stream = app
        .env
        .js()
        .get_stream(&app.env.config.nats_stream)
        .await
        .expect("the stream");
    let mut seen = BTreeMap::<&str, usize>::new();
    for (seq, event, _) in &messages {
        let tenant = writer
            .get(&event.aggregateid)
            .unwrap_or_else(|| panic!("an event of an unknown aggregate: {event:?}"));
        assert_eq!(
            event.tenant.as_str(),
            *tenant,
            "the envelope of {} {}",
            event.event_type,
            event.aggregateid
        );
        assert!(
            event.source.starts_with(&format!("/tenants/{tenant}/")),
            "source {}",
            event.source
        );
        let raw = stream.get_raw_message(*seq).await.expect("the message");
        let subject = raw.subject.as_str();
        let expected = format!(
            "{}.events.{tenant}.{}.{}",
            app.env.config.subject_prefix, event.aggregatetype, event.event_type
        );
        assert_eq!(subject, expected);
        *seen.entry(tenant).or_default() += 1;
    }
    assert!(
        seen.get("acme").is_some_and(|n| *n >= 3) && seen.get("globex").is_some_and(|n| *n >= 2),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_id_answers_404_also_when_waiting_for_a_min_version() {
    let app = TestApp::spawn().await;
    let acme = acme_world(&app).await;
    let globex = app.token("globex", Role::Admin);

    for path in [
        format!("/v1/customers/{}?min_version=1", acme.customer),
        format!("/v1/leads/{}?min_version=1", acme.lead),
    ] {
        // Acme's own read is immediate: the version is there.
        app.get(&path, &acme.token).await.expect(200);
        let response = app.get(&path, &globex).await;
        assert_eq!(
            response.status, 404,
            "globex GET {path}: {} {}",
            response.status, response.body
        );
        response.expect_problem(404, "not-found");
    }
}
