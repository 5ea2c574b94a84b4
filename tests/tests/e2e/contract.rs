//! The HTTP contract: every error is an RFC 9457 problem of the right kind,
//! nothing is written when a request is refused, lists page with cursors,
//! request ids become correlation ids, and the OpenAPI document matches the
//! router.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use api_common::{JwtKeys, Principal};
use crm_tests::{TestApp, TestResponse};
use event_schemas::{Role, TenantId};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------- helpers

/// Rows in the event store.
async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .expect("events can be counted")
}

/// Rows in the uniqueness claims (written in the same transaction as events).
async fn claim_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM customer_contact_claims")
        .fetch_one(app.pool())
        .await
        .expect("claims can be counted")
}

/// Asserts a 422 validation problem naming exactly `fields` (in any order),
/// each with a non-empty message.
#[track_caller]
fn expect_invalid(response: &TestResponse, fields: &[&str]) {
    response.expect_problem(422, "validation");
    let got: BTreeSet<String> = response.problem_fields().into_iter().collect();
    let want: BTreeSet<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(got, want, "fields of {}", response.body);
    for error in response.body["errors"].as_array().expect("an errors list") {
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "every error has a message: {}",
            response.body
        );
    }
    assert!(
        response.body["title"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "a title: {}",
        response.body
    );
    assert!(
        response.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "a detail: {}",
        response.body
    );
}

fn items(response: &TestResponse) -> &Vec<Value> {
    response.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {} {}", response.status, response.body))
}

fn ids(response: &TestResponse) -> Vec<String> {
    items(response)
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn id_set(response: &TestResponse) -> BTreeSet<String> {
    ids(response).into_iter().collect()
}

/// The ids a GET of `path` lists (asserting 200).
async fn list_ids(app: &TestApp, token: &str, path: &str) -> BTreeSet<String> {
    let response = app.get(path, token).await;
    response.expect(200);
    id_set(&response)
}

fn set(values: &[&String]) -> BTreeSet<String> {
    values.iter().map(|v| (*v).clone()).collect()
}

/// The sum of a Prometheus counter's samples whose labels contain `label`.
fn metric_sum(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn new_customer(first: &str, last: &str, email: &str) -> Value {
    json!({"first_name": first, "last_name": last, "email": email})
}

// ---------------------------------------------------------------- 400

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400_bad_request_problem() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let json = [("content-type", "application/json")];

    for body in [
        &b"{\"first_name\": \"A\","[..],
        b"not json at all",
        b"{\"first_name\": \"A\" \"last_name\": \"B\"}",
    ] {
        let response = app
            .raw(Method::POST, "/v1/customers", Some(&admin), &json, body)
            .await;
        response.expect_problem(400, "bad-request");
        assert_eq!(response.body["title"], "Bad request");
        assert!(
            response.body["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    // The same on a PATCH and on a lead route.
    let customer = app.customer(&admin, "a@example.com").await;
    app.raw(
        Method::PATCH,
        &format!("/v1/customers/{customer}"),
        Some(&admin),
        &json,
        b"{",
    )
    .await
    .expect_problem(400, "bad-request");
    app.raw(
        Method::POST,
        "/v1/leads",
        Some(&admin),
        &json,
        b"{\"customer_id\": ",
    )
    .await
    .expect_problem(400, "bad-request");
    assert_eq!(
        event_count(&app).await,
        1,
        "only the registration was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);

    let response = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "A", "last_name": "B", "email": "a@example.com", "nickname": "Al"}),
        )
        .await;
    response.expect_problem(400, "bad-request");
    assert_eq!(response.problem_fields(), ["nickname"]);
    assert!(
        response.body["detail"]
            .as_str()
            .unwrap()
            .contains("nickname"),
        "{}",
        response.body
    );

    // Inside a nested object the field is named by its path.
    let response = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "A", "last_name": "B", "email": "a@example.com",
                   "address": {"line1": "1 Main", "city": "Laval", "province": "QC",
                               "postal_code": "H7N 1A1", "floor": 3}}),
        )
        .await;
    response.expect_problem(400, "bad-request");
    assert_eq!(response.problem_fields(), ["address.floor"]);

    // On PATCH as well (a typo must not be silently ignored).
    let customer = app.customer(&admin, "b@example.com").await;
    let response = app
        .patch(
            &format!("/v1/customers/{customer}"),
            &admin,
            json!({"frist_name": "X"}),
        )
        .await;
    response.expect_problem(400, "bad-request");
    assert_eq!(response.problem_fields(), ["frist_name"]);

    let lead = app.lead(&admin, &customer).await;
    let response = app
        .post(
            &format!("/v1/leads/{lead}/transition"),
            &admin,
            json!({"to": "CONTACTED", "why": "x"}),
        )
        .await;
    response.expect_problem(400, "bad-request");
    assert_eq!(response.problem_fields(), ["why"]);
    assert_eq!(
        event_count(&app).await,
        2,
        "only the customer and the lead were written"
    );
}

// ---------------------------------------------------------------- 401

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_invalid_token_is_a_401_problem_on_commands_and_queries() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "a@example.com").await;
    let before = event_count(&app).await;

    let principal = Principal::new(
        TenantId::parse("acme").unwrap(),
        Uuid::new_v4(),
        Role::Admin,
        vec![],
    );
    let other_keys = JwtKeys::hs256(
        &"another-secret-another-secret-another-secret"
            .to_owned()
            .into(),
    );
    let foreign = other_keys
        .issue(&principal, chrono::Duration::hours(1))
        .unwrap();
    let expired = app
        .keys
        .issue(&principal, chrono::Duration::minutes(-5))
        .unwrap();
    // The same principal with a valid token is accepted (the setup is sound).
    let valid = app
        .keys
        .issue(&principal, chrono::Duration::minutes(5))
        .unwrap();

    // (what, Authorization header, a word the detail must contain)
    let cases = [
        ("no Authorization header", None, Some("missing")),
        (
            "a garbage token",
            Some("Bearer garbage.not.ajwt".to_owned()),
            None,
        ),
        (
            "another scheme",
            Some(format!("Basic {valid}")),
            Some("Bearer"),
        ),
        (
            "another secret",
            Some(format!("Bearer {foreign}")),
            Some("signature"),
        ),
        (
            "an expired token",
            Some(format!("Bearer {expired}")),
            Some("expired"),
        ),
    ];
    let write = json!({"first_name": "X", "last_name": "Y", "email": "x@example.com"});
    for (what, authorization, detail) in &cases {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|v| ("authorization", v.as_str()))
            .collect();
        for (method, path, body) in [
            (
                Method::POST,
                "/v1/customers".to_owned(),
                Some(write.clone()),
            ),
            (
                Method::PATCH,
                format!("/v1/customers/{customer}"),
                Some(json!({"notes": "x"})),
            ),
            (Method::GET, format!("/v1/customers/{customer}"), None),
            (Method::GET, "/v1/leads".to_owned(), None),
            (Method::GET, "/v1/audit/events".to_owned(), None),
        ] {
            let response = app
                .request(method.clone(), &path, None, body, &headers)
                .await;
            assert_eq!(
                response.status, 401,
                "{what}: {method} {path}: {}",
                response.body
            );
            response.expect_problem(401, "unauthorized");
            if let Some(word) = detail {
                assert!(
                    response.body["detail"].as_str().unwrap().contains(word),
                    "{what}: the detail says why: {}",
                    response.body
                );
            }
        }
    }
    assert_eq!(event_count(&app).await, before, "nothing was written");

    app.settle().await;
    app.request(
        Method::GET,
        &format!("/v1/customers/{customer}?min_version=1"),
        Some(&valid),
        None,
        &[],
    )
    .await
    .expect(200);
}

// ---------------------------------------------------------------- 403

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_the_permission_gets_a_403_problem() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "a@example.com").await;
    let before = event_count(&app).await;

    let auditor = app.token("acme", Role::Auditor);
    let response = app
        .post(
            "/v1/customers",
            &auditor,
            new_customer("A", "B", "b@example.com"),
        )
        .await;
    response.expect_problem(403, "forbidden");
    assert!(
        response.body["detail"]
            .as_str()
            .unwrap()
            .contains("auditor"),
        "{}",
        response.body
    );
    app.post(
        &format!("/v1/customers/{customer}/deactivate"),
        &auditor,
        json!({}),
    )
    .await
    .expect_problem(403, "forbidden");
    let sales = app.token("acme", Role::Sales);
    app.post(
        &format!("/v1/customers/{customer}/deactivate"),
        &sales,
        json!({}),
    )
    .await
    .expect_problem(403, "forbidden");
    let crew = app.token("acme", Role::Crew);
    app.get("/v1/customers", &crew)
        .await
        .expect_problem(403, "forbidden");
    assert_eq!(event_count(&app).await, before, "nothing was written");
}

// ---------------------------------------------------------------- 404 / 405

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_malformed_and_other_tenants_ids_are_404_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "a@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    // Projected first, so another tenant's 404 is isolation, not lag.
    app.settle().await;
    app.settle().await;
    let before = event_count(&app).await;
    let unknown = Uuid::new_v4();

    for path in [
        format!("/v1/customers/{unknown}"),
        format!("/v1/leads/{unknown}"),
        format!("/v1/leads/{unknown}/timeline"),
        "/v1/customers/not-a-uuid".to_owned(),
        "/v1/leads/not-a-uuid".to_owned(),
    ] {
        let response = app.get(&path, &admin).await;
        response.expect_problem(404, "not-found");
    }
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/v1/customers/{unknown}"),
            json!({"notes": "x"}),
        ),
        (
            Method::POST,
            format!("/v1/customers/{unknown}/deactivate"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v1/customers/{unknown}/tags"),
            json!({"tag": "vip"}),
        ),
        (
            Method::POST,
            format!("/v1/leads/{unknown}/transition"),
            json!({"to": "CONTACTED"}),
        ),
        (
            Method::PATCH,
            format!("/v1/leads/{unknown}"),
            json!({"notes": "x"}),
        ),
        (
            Method::PATCH,
            "/v1/customers/not-a-uuid".to_owned(),
            json!({"notes": "x"}),
        ),
        (
            Method::POST,
            "/v1/leads/not-a-uuid/assign".to_owned(),
            json!({"user_id": null}),
        ),
    ] {
        app.request(method, &path, Some(&admin), Some(body), &[])
            .await
            .expect_problem(404, "not-found");
    }
    app.delete(&format!("/v1/customers/{unknown}/tags/vip"), &admin)
        .await
        .expect_problem(404, "not-found");
    app.delete("/v1/customers/not-a-uuid/tags/vip", &admin)
        .await
        .expect_problem(404, "not-found");

    // Another tenant's ids are just as unknown, on reads and writes.
    let other = app.token("globex", Role::Admin);
    app.get(&format!("/v1/customers/{customer}"), &other)
        .await
        .expect_problem(404, "not-found");
    app.get(&format!("/v1/leads/{lead}"), &other)
        .await
        .expect_problem(404, "not-found");
    app.patch(
        &format!("/v1/customers/{customer}"),
        &other,
        json!({"notes": "x"}),
    )
    .await
    .expect_problem(404, "not-found");
    app.post(
        &format!("/v1/leads/{lead}/transition"),
        &other,
        json!({"to": "CONTACTED"}),
    )
    .await
    .expect_problem(404, "not-found");
    // Opening a lead for another tenant's customer names the field.
    let response = app
        .post(
            "/v1/leads",
            &other,
            json!({"customer_id": customer, "source": "web"}),
        )
        .await;
    expect_invalid(&response, &["customer_id"]);

    assert_eq!(event_count(&app).await, before, "nothing was written");
    // The owner still sees them.
    app.get(&format!("/v1/customers/{customer}"), &admin)
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_route_not_found_and_wrong_methods_are_405_with_allow() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);

    for path in ["/v1/nope", "/v2/customers", "/v1/customers/x/y/z", "/nope"] {
        let response = app.get(path, &admin).await;
        response.expect_problem(404, "route-not-found");
    }
    // Without a token too: an unknown route is not an auth question.
    app.request(Method::POST, "/v1/nope", None, Some(json!({})), &[])
        .await
        .expect_problem(404, "route-not-found");

    let id = Uuid::new_v4();
    for (method, path, allowed) in [
        (Method::PUT, "/v1/customers".to_owned(), vec!["GET", "POST"]),
        (
            Method::DELETE,
            "/v1/customers".to_owned(),
            vec!["GET", "POST"],
        ),
        (
            Method::PUT,
            format!("/v1/customers/{id}"),
            vec!["GET", "PATCH"],
        ),
        (
            Method::DELETE,
            format!("/v1/leads/{id}"),
            vec!["GET", "PATCH"],
        ),
        (
            Method::GET,
            format!("/v1/leads/{id}/transition"),
            vec!["POST"],
        ),
        (Method::POST, "/healthz".to_owned(), vec!["GET"]),
    ] {
        let response = app
            .request(method.clone(), &path, Some(&admin), None, &[])
            .await;
        assert_eq!(response.status, 405, "{method} {path}: {}", response.body);
        response.expect_problem(405, "method-not-allowed");
        let allow = response
            .header("allow")
            .unwrap_or_else(|| panic!("{method} {path}: an Allow header"));
        let allow: BTreeSet<&str> = allow.split(',').map(str::trim).collect();
        for m in allowed {
            assert!(
                allow.contains(m),
                "{method} {path}: Allow {allow:?} lacks {m}"
            );
        }
        assert!(
            !allow.contains(method.as_str()),
            "{method} {path}: Allow {allow:?}"
        );
    }
}

// ---------------------------------------------------------------- 409

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_rule_rejections_are_409_problems_naming_the_rule() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "a@example.com").await;
    let lead = app.lead(&admin, &customer).await;

    // An illegal pipeline move names the rule and both states.
    app.post(
        &format!("/v1/leads/{lead}/transition"),
        &admin,
        json!({"to": "QUALIFIED"}),
    )
    .await
    .expect(200);
    let before = event_count(&app).await;
    let response = app
        .post(
            &format!("/v1/leads/{lead}/transition"),
            &admin,
            json!({"to": "CONTACTED"}),
        )
        .await;
    response.expect_problem(409, "conflict");
    assert_eq!(response.body["rule"], "lead.illegal-transition");
    let detail = response.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("QUALIFIED") && detail.contains("CONTACTED"),
        "{detail}"
    );
    // Moving to the same status is not a move either.
    let response = app
        .post(
            &format!("/v1/leads/{lead}/transition"),
            &admin,
            json!({"to": "QUALIFIED"}),
        )
        .await;
    response.expect_problem(409, "conflict");
    assert_eq!(response.body["rule"], "lead.illegal-transition");

    // Deactivating twice.
    app.post(
        &format!("/v1/customers/{customer}/deactivate"),
        &admin,
        json!({"reason": "moved away"}),
    )
    .await
    .expect(200);
    let after_deactivation = event_count(&app).await;
    assert_eq!(after_deactivation, before + 1);
    let response = app
        .post(
            &format!("/v1/customers/{customer}/deactivate"),
            &admin,
            json!({}),
        )
        .await;
    response.expect_problem(409, "conflict");
    assert_eq!(response.body["rule"], "customer.already-inactive");

    // Opening a lead for a deactivated customer.
    let response = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "website"}),
        )
        .await;
    response.expect_problem(409, "conflict");
    assert_eq!(response.body["rule"], "lead.customer-inactive");
    assert!(
        response.body["detail"]
            .as_str()
            .unwrap()
            .contains(&customer),
        "{}",
        response.body
    );

    // Reactivating an active customer.
    let other = app.customer(&admin, "b@example.com").await;
    let after_other = event_count(&app).await;
    let response = app
        .post(
            &format!("/v1/customers/{other}/reactivate"),
            &admin,
            json!({}),
        )
        .await;
    response.expect_problem(409, "conflict");
    assert_eq!(response.body["rule"], "customer.already-active");

    // Another customer's email (compared case-insensitively) names the field.
    let response = app
        .post(
            "/v1/customers",
            &admin,
            new_customer("C", "D", "A@EXAMPLE.COM"),
        )
        .await;
    response.expect_problem(409, "conflict");
    assert_eq!(response.body["rule"], "email.unique");
    assert_eq!(response.problem_fields(), ["email"]);
    let response = app
        .patch(
            &format!("/v1/customers/{other}"),
            &admin,
            json!({"email": "a@example.com"}),
        )
        .await;
    response.expect_problem(409, "conflict");
    assert_eq!(response.body["rule"], "email.unique");

    assert_eq!(
        event_count(&app).await,
        after_other,
        "no rejected command wrote anything"
    );
}

// ---------------------------------------------------------------- 412 / ETag

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_is_a_412_with_the_current_version_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let created = app
        .post(
            "/v1/customers",
            &admin,
            new_customer("A", "B", "a@example.com"),
        )
        .await;
    created.expect(201);
    assert_eq!(created.version(), 1);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.id();
    let path = format!("/v1/customers/{id}");

    let updated = app
        .request(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"first_name": "Anna"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    updated.expect(200);
    assert_eq!(updated.version(), 2);
    assert_eq!(updated.header("etag"), Some("\"2\""));
    assert_eq!(updated.id(), id);
    let before = event_count(&app).await;

    let stale = app
        .request(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"first_name": "Anne"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.expect_problem(412, "precondition-failed");
    assert_eq!(stale.body["current_version"], 2);
    // The same on other commands.
    let stale = app
        .request(
            Method::POST,
            &format!("{path}/tags"),
            Some(&admin),
            Some(json!({"tag": "vip"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.expect_problem(412, "precondition-failed");
    assert_eq!(stale.body["current_version"], 2);
    assert_eq!(event_count(&app).await, before, "nothing was written");

    // A malformed If-Match (a tag without its quotes) is a bad request
    // naming the header.
    let bad = app
        .request(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"first_name": "Anne"})),
            &[("if-match", "2")],
        )
        .await;
    bad.expect_problem(400, "bad-request");
    assert_eq!(bad.problem_fields(), ["If-Match"]);

    // The current version is accepted, and the read model says Anna.
    let tagged = app
        .request(
            Method::POST,
            &format!("{path}/tags"),
            Some(&admin),
            Some(json!({"tag": "vip"})),
            &[("if-match", "\"2\"")],
        )
        .await;
    tagged.expect(200);
    assert_eq!(tagged.version(), 3);
    assert_eq!(tagged.header("etag"), Some("\"3\""));
    let read = app.get(&format!("{path}?min_version=3"), &admin).await;
    read.expect(200);
    assert_eq!(read.body["first_name"], "Anna");
    assert_eq!(read.body["version"], 3);
}

// ---------------------------------------------------------------- 415

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_not_sent_as_json_is_a_415_problem() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let body = br#"{"first_name": "A", "last_name": "B", "email": "a@example.com"}"#;

    for headers in [
        &[("content-type", "text/plain")][..],
        &[("content-type", "application/x-www-form-urlencoded")][..],
        &[][..],
    ] {
        let response = app
            .raw(Method::POST, "/v1/customers", Some(&admin), headers, body)
            .await;
        response.expect_problem(415, "unsupported-media-type");
    }
    // A JSON media type with parameters is fine.
    app.raw(
        Method::POST,
        "/v1/customers",
        Some(&admin),
        &[("content-type", "application/json; charset=utf-8")],
        body,
    )
    .await
    .expect(201);
    assert_eq!(event_count(&app).await, 1);
}

// ---------------------------------------------------------------- 422

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_customer_input_is_a_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);

    let bad_email = app
        .post(
            "/v1/customers",
            &admin,
            new_customer("A", "B", "not-an-email"),
        )
        .await;
    expect_invalid(&bad_email, &["email"]);

    let long = "a".repeat(101);
    let too_long = app
        .post(
            "/v1/customers",
            &admin,
            new_customer(&long, "B", "a@example.com"),
        )
        .await;
    expect_invalid(&too_long, &["first_name"]);

    let address = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "A", "last_name": "B", "email": "a@example.com",
                   "address": {"line1": "1 Main", "city": "Laval", "province": "QC", "postal_code": "12345"}}),
        )
        .await;
    expect_invalid(&address, &["address.postal_code"]);

    // Every invalid field at once, not just the first.
    let many = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": " ", "last_name": long, "email": "x@", "phone": "12",
                   "tags": ["ok", "no;pe"],
                   "address": {"line1": "1 Main", "city": "Laval", "province": "XX", "postal_code": "H7N 1A1"}}),
        )
        .await;
    expect_invalid(
        &many,
        &[
            "first_name",
            "last_name",
            "email",
            "phone",
            "tags[1]",
            "address.province",
        ],
    );

    // A wrong JSON type and a missing required field name the field too.
    let wrong_type = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": 5, "last_name": "B", "email": "a@example.com"}),
        )
        .await;
    expect_invalid(&wrong_type, &["first_name"]);
    let missing = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "A", "email": "a@example.com"}),
        )
        .await;
    expect_invalid(&missing, &["last_name"]);
    // No contact at all.
    let no_contact = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "A", "last_name": "B"}),
        )
        .await;
    expect_invalid(&no_contact, &["email"]);

    assert_eq!(event_count(&app).await, 0, "nothing was written");

    // The limits are exact: 100 characters are fine.
    let ok = app
        .post(
            "/v1/customers",
            &admin,
            new_customer(&"a".repeat(100), "B", "a@example.com"),
        )
        .await;
    ok.expect(201);
    let customer = ok.id();

    // The same rules on PATCH.
    let response = app
        .patch(
            &format!("/v1/customers/{customer}"),
            &admin,
            json!({"email": "nope", "first_name": long}),
        )
        .await;
    expect_invalid(&response, &["email", "first_name"]);
    assert_eq!(
        event_count(&app).await,
        1,
        "only the valid registration was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_lead_input_is_a_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "a@example.com").await;
    let before = event_count(&app).await;
    let lead = |extra: Value| {
        let mut body = json!({"customer_id": customer, "source": "website"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };

    let cases = [
        (
            "unknown enum value",
            lead(json!({"priority": "SUPER"})),
            "priority",
        ),
        (
            "negative money",
            lead(json!({"estimated_value": "-5"})),
            "estimated_value",
        ),
        (
            "money as a JSON number",
            lead(json!({"estimated_value": 12.5})),
            "estimated_value",
        ),
        (
            "money with 3 decimals",
            lead(json!({"estimated_value": "1.234"})),
            "estimated_value",
        ),
        (
            "a move date in the past",
            lead(json!({"estimated_move_date": "2020-01-01"})),
            "estimated_move_date",
        ),
        (
            "a date that is no date",
            lead(json!({"estimated_move_date": "next week"})),
            "estimated_move_date",
        ),
        ("a score over 100", lead(json!({"score": 101})), "score"),
        (
            "an over-long source",
            lead(json!({"source": "s".repeat(101)})),
            "source",
        ),
        (
            "a missing source",
            json!({"customer_id": customer}),
            "source",
        ),
        (
            "a customer id that is no UUID",
            json!({"customer_id": "nope", "source": "web"}),
            "customer_id",
        ),
        (
            "an unknown customer",
            json!({"customer_id": Uuid::new_v4(), "source": "web"}),
            "customer_id",
        ),
    ];
    for (what, body, field) in cases {
        let response = app.post("/v1/leads", &admin, body).await;
        assert_eq!(response.status, 422, "{what}: {}", response.body);
        expect_invalid(&response, &[field]);
    }
    assert_eq!(event_count(&app).await, before, "nothing was written");

    // A valid lead, then invalid changes to it.
    let created = app
        .post(
            "/v1/leads",
            &admin,
            lead(json!({"estimated_value": "12.50", "priority": "HIGH"})),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let before = event_count(&app).await;
    let response = app
        .patch(
            &format!("/v1/leads/{id}"),
            &admin,
            json!({"estimated_value": "-1", "score": -3}),
        )
        .await;
    expect_invalid(&response, &["estimated_value", "score"]);
    let response = app
        .patch(
            &format!("/v1/leads/{id}"),
            &admin,
            json!({"estimated_move_date": "2000-02-02"}),
        )
        .await;
    expect_invalid(&response, &["estimated_move_date"]);
    let response = app
        .post(
            &format!("/v1/leads/{id}/transition"),
            &admin,
            json!({"to": "DONE"}),
        )
        .await;
    expect_invalid(&response, &["to"]);
    let response = app
        .post(
            &format!("/v1/leads/{id}/activities"),
            &admin,
            json!({"type": "TELEPATHY", "description": "x"}),
        )
        .await;
    expect_invalid(&response, &["type"]);
    let response = app
        .post(
            &format!("/v1/leads/{id}/activities"),
            &admin,
            json!({"type": "EMAIL"}),
        )
        .await;
    expect_invalid(&response, &["description"]);
    assert_eq!(event_count(&app).await, before, "nothing was written");
}

// ---------------------------------------------------------------- nothing written

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_rejected_request_of_any_kind_writes_an_event() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "a@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let events = event_count(&app).await;
    let claims = claim_count(&app).await;
    assert_eq!(events, 2);
    assert_eq!(claims, 1, "the email is claimed");
    let auditor = app.token("acme", Role::Auditor);
    let json_type = [("content-type", "application/json")];

    let mut statuses = BTreeSet::new();
    let mut record = |response: TestResponse| {
        assert!(
            response.status >= 400,
            "refused: {} {}",
            response.status,
            response.body
        );
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
        statuses.insert(response.status);
    };
    record(
        app.raw(
            Method::POST,
            "/v1/customers",
            Some(&admin),
            &json_type,
            b"{",
        )
        .await,
    );
    record(
        app.post(
            "/v1/customers",
            &admin,
            json!({"first_name": "N", "last_name": "N", "email": "n@example.com", "nickname": "x"}),
        )
        .await,
    );
    record(
        app.request(
            Method::POST,
            "/v1/customers",
            None,
            Some(new_customer("N", "N", "n@example.com")),
            &[],
        )
        .await,
    );
    record(
        app.post(
            "/v1/customers",
            &auditor,
            new_customer("N", "N", "n@example.com"),
        )
        .await,
    );
    record(
        app.patch(
            &format!("/v1/customers/{}", Uuid::new_v4()),
            &admin,
            json!({"notes": "x"}),
        )
        .await,
    );
    record(
        app.post(
            "/v1/customers",
            &admin,
            new_customer("N", "N", "a@example.com"),
        )
        .await,
    );
    record(
        app.post(
            &format!("/v1/leads/{lead}/transition"),
            &admin,
            json!({"to": "NEW"}),
        )
        .await,
    );
    record(
        app.request(
            Method::PATCH,
            &format!("/v1/customers/{customer}"),
            Some(&admin),
            Some(json!({"email": "z@example.com"})),
            &[("if-match", "\"7\"")],
        )
        .await,
    );
    record(
        app.raw(
            Method::POST,
            "/v1/customers",
            Some(&admin),
            &[("content-type", "text/plain")],
            br#"{"first_name": "N", "last_name": "N", "email": "n@example.com"}"#,
        )
        .await,
    );
    record(
        app.post("/v1/customers", &admin, new_customer("N", "N", "bad email"))
            .await,
    );
    record(
        app.post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "w", "estimated_value": "-5"}),
        )
        .await,
    );
    record(
        app.post(
            &format!("/v1/customers/{customer}/reactivate"),
            &admin,
            json!({}),
        )
        .await,
    );
    assert_eq!(
        statuses,
        BTreeSet::from([400, 401, 403, 404, 409, 412, 415, 422]),
        "every error class was exercised"
    );
    assert_eq!(event_count(&app).await, events, "no event was written");
    assert_eq!(
        claim_count(&app).await,
        claims,
        "no email or phone was claimed"
    );
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(keys, 0, "no idempotency key was kept");
}

// ---------------------------------------------------------------- 500

/// Asserts a generic 500 problem that says nothing about its cause.
#[track_caller]
fn expect_opaque_500(response: &TestResponse, secrets: &[&str]) {
    response.expect_problem(500, "internal");
    let text = response.body.to_string().to_lowercase();
    let common = [
        "sql",
        "postgres",
        "relation",
        "does not exist",
        "select",
        "insert",
        "database",
        "pool",
        "panic",
        "src/",
        "error returned",
    ];
    for internal in common.iter().chain(secrets) {
        assert!(
            !text.contains(internal),
            "the 500 shows `{internal}`: {}",
            response.body
        );
    }
    assert!(
        response.header("x-request-id").is_some(),
        "the request id to quote is echoed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_inside_the_server_is_a_500_that_shows_nothing_internal() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "a@example.com").await;
    app.settle().await;
    let before = event_count(&app).await;

    // Break the database under the running app: a read model and the
    // uniqueness claims go missing.
    sqlx::query("ALTER TABLE read.customers RENAME TO customers_hidden_xyz")
        .execute(app.pool())
        .await
        .unwrap();
    sqlx::query("ALTER TABLE customer_contact_claims RENAME TO claims_hidden_xyz")
        .execute(app.pool())
        .await
        .unwrap();

    let secrets = [
        "customers_hidden_xyz",
        "claims_hidden_xyz",
        "read.customers",
        "customer_contact_claims",
    ];
    expect_opaque_500(&app.get("/v1/customers", &admin).await, &secrets);
    expect_opaque_500(
        &app.get(&format!("/v1/customers/{customer}"), &admin).await,
        &secrets,
    );
    let write = app
        .post(
            "/v1/customers",
            &admin,
            new_customer("C", "D", "c@example.com"),
        )
        .await;
    expect_opaque_500(&write, &secrets);
    assert_eq!(event_count(&app).await, before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_in_preferences_is_a_422_not_a_500() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let response = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "A", "last_name": "B", "email": "a@example.com",
                   "preferences": {"note": "nul \u{0000} byte"}}),
        )
        .await;
    expect_invalid(&response, &["preferences"]);
    assert_eq!(event_count(&app).await, 0, "nothing was written");
}

// ---------------------------------------------------------------- startup

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_right_after_startup_are_never_a_500() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let unknown = Uuid::new_v4();
    let paths = [
        "/v1/customers".to_owned(),
        "/v1/leads".to_owned(),
        "/v1/audit/events".to_owned(),
        format!("/v1/customers/{unknown}"),
        format!("/v1/leads/{unknown}"),
        format!("/v1/leads/{unknown}/timeline"),
    ];
    let responses = futures::future::join_all(paths.iter().map(|p| app.get(p, &admin))).await;
    for (path, response) in paths.iter().zip(&responses) {
        assert!(
            response.status < 500,
            "GET {path}: {} {}",
            response.status,
            response.body
        );
    }
    let created = app
        .post(
            "/v1/customers",
            &admin,
            new_customer("A", "B", "a@example.com"),
        )
        .await;
    created.expect(201);
    app.get(
        &format!("/v1/customers/{}?min_version=1", created.id()),
        &admin,
    )
    .await
    .expect(200);
}

// ---------------------------------------------------------------- read-your-writes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_version_waits_for_a_committed_version_and_gives_up_with_a_503_retry_after() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    // The read-model tables exist once the projectors run (see
    // `queries_right_after_startup_are_never_a_500`).
    app.settle().await;
    let created = app
        .post(
            "/v1/customers",
            &admin,
            new_customer("A", "B", "a@example.com"),
        )
        .await;
    created.expect(201);
    let id = created.id();

    let read = app
        .get(
            &format!("/v1/customers/{id}?min_version={}", created.version()),
            &admin,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["id"], id.as_str());
    assert_eq!(read.body["version"], 1);

    let lead = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": id, "source": "web"}),
        )
        .await;
    lead.expect(201);
    let lead_id = lead.id();
    let moved = app
        .post(
            &format!("/v1/leads/{lead_id}/transition"),
            &admin,
            json!({"to": "CONTACTED"}),
        )
        .await;
    moved.expect(200);
    let read = app
        .get(
            &format!("/v1/leads/{lead_id}?min_version={}", moved.version()),
            &admin,
        )
        .await;
    read.expect(200);
    assert_eq!(read.body["status"], "CONTACTED");

    // A version that is committed but not projected yet is waited for, up
    // to 5 s: hold the projector back with a lock on the customer's row,
    // taken before the write so the projection cannot win the race.
    let mut blocker = app.pool().begin().await.expect("a transaction");
    sqlx::query("SELECT 1 FROM read.customers WHERE id = $1 FOR UPDATE")
        .bind(Uuid::parse_str(&id).unwrap())
        .execute(&mut *blocker)
        .await
        .expect("the row is locked");
    let patched = app
        .patch(
            &format!("/v1/customers/{id}"),
            &admin,
            json!({"first_name": "Anna"}),
        )
        .await;
    patched.expect(200);
    let started = std::time::Instant::now();
    let response = app
        .get(
            &format!("/v1/customers/{id}?min_version={}", patched.version()),
            &admin,
        )
        .await;
    blocker.rollback().await.expect("the lock is released");
    response.expect_problem(503, "unavailable");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "it waited first"
    );
    let retry: u64 = response
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1, "{retry}");

    let response = app
        .get(&format!("/v1/customers/{id}?min_version=x"), &admin)
        .await;
    response.expect_problem(400, "bad-request");
    assert_eq!(response.problem_fields(), ["min_version"]);
}

// ---------------------------------------------------------------- lists

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_newest_first_through_every_item_following_next_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.customer(&admin, &format!("c{i}@example.com")).await);
    }
    app.settle().await;

    let mut seen = Vec::new();
    let mut path = "/v1/customers?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&path, &admin).await;
        page.expect(200);
        pages += 1;
        assert!(items(&page).len() <= 2, "{}", page.body);
        assert!(
            page.body.as_object().unwrap().contains_key("next_cursor"),
            "{}",
            page.body
        );
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/customers?limit=2&cursor={cursor}"),
            None => {
                assert!(page.body["next_cursor"].is_null());
                break;
            }
        }
        assert!(pages < 10, "the cursor moves on");
    }
    assert_eq!(pages, 3);
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "newest first, each once, all of them");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");

    // A page exactly as long as the rest has no cursor.
    let all = app.get("/v1/customers?limit=5", &admin).await;
    all.expect(200);
    assert_eq!(ids(&all), newest_first);
    assert!(all.body["next_cursor"].is_null(), "{}", all.body);

    // The lead list pages the same way.
    let mut leads = Vec::new();
    for _ in 0..3 {
        leads.push(app.lead(&admin, &created[0]).await);
    }
    app.settle().await;
    let first = app.get("/v1/leads?limit=2", &admin).await;
    first.expect(200);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get(&format!("/v1/leads?limit=2&cursor={cursor}"), &admin)
        .await;
    second.expect(200);
    assert!(second.body["next_cursor"].is_null());
    let mut seen = ids(&first);
    seen.extend(ids(&second));
    let newest_first: Vec<String> = leads.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_parameters_are_validated() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    app.settle().await;
    for list in [
        "/v1/customers",
        "/v1/leads",
        "/v1/audit/events",
        "/v1/equipment",
        "/v1/equipment-assignments",
        "/v1/inventory",
    ] {
        for limit in ["0", "201", "-1", "ten"] {
            let response = app.get(&format!("{list}?limit={limit}"), &admin).await;
            assert_eq!(
                response.status, 422,
                "{list} limit={limit}: {}",
                response.body
            );
            expect_invalid(&response, &["limit"]);
        }
        for limit in ["1", "200"] {
            app.get(&format!("{list}?limit={limit}"), &admin)
                .await
                .expect(200);
        }
        let response = app
            .get(&format!("{list}?cursor=not-a-cursor!"), &admin)
            .await;
        expect_invalid(&response, &["cursor"]);
        // Valid base64 of something that is not a cursor.
        let response = app.get(&format!("{list}?cursor=aGVsbG8"), &admin).await;
        expect_invalid(&response, &["cursor"]);
        let response = app.get(&format!("{list}?colour=blue"), &admin).await;
        response.expect_problem(400, "bad-request");
        assert_eq!(response.problem_fields(), ["colour"], "{list}");
    }
    let response = app.get("/v1/leads?status=DONE", &admin).await;
    expect_invalid(&response, &["status"]);
    let response = app.get("/v1/leads?follow_up_before=tomorrow", &admin).await;
    expect_invalid(&response, &["follow_up_before"]);
    let response = app
        .get(&format!("/v1/customers?q={}", "x".repeat(201)), &admin)
        .await;
    expect_invalid(&response, &["q"]);
    let response = app
        .get(&format!("/v1/customers/{}?wait=1", Uuid::new_v4()), &admin)
        .await;
    response.expect_problem(400, "bad-request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_lists_filter_by_email_name_and_tag() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let register = |first: &str, last: &str, email: &str, tags: &[&str]| json!({"first_name": first, "last_name": last, "email": email, "tags": tags});
    let jeanne = app
        .post(
            "/v1/customers",
            &admin,
            register("Jeanne", "Tremblay", "Jeanne@Example.com", &["vip"]),
        )
        .await;
    jeanne.expect(201);
    let jeanne = jeanne.id();
    let marc = app
        .post(
            "/v1/customers",
            &admin,
            register("Marc", "Gagnon", "marc@example.com", &["VIP", "storage"]),
        )
        .await;
    marc.expect(201);
    let marc = marc.id();
    let julie = app
        .post(
            "/v1/customers",
            &admin,
            register("Julie", "Tremblay-Roy", "julie@example.org", &[]),
        )
        .await;
    julie.expect(201);
    let julie = julie.id();
    let other_tenant = app.token("globex", Role::Admin);
    app.post(
        "/v1/customers",
        &other_tenant,
        register("Jeanne", "Tremblay", "jeanne@example.com", &["vip"]),
    )
    .await
    .expect(201);
    app.settle().await;

    let path = |query: &str| format!("/v1/customers?{query}");
    assert_eq!(
        list_ids(&app, &admin, &path("email=jeanne@example.com")).await,
        set(&[&jeanne])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("email=JEANNE@EXAMPLE.COM")).await,
        set(&[&jeanne])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("email=marc@example.com")).await,
        set(&[&marc])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("email=jeanne@example")).await,
        set(&[]),
        "email is exact"
    );
    assert_eq!(
        list_ids(&app, &admin, &path("q=tremblay")).await,
        set(&[&jeanne, &julie])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("q=EANN")).await,
        set(&[&jeanne])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("q=jeanne%20tremblay")).await,
        set(&[&jeanne])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("q=example.org")).await,
        set(&[&julie])
    );
    assert_eq!(list_ids(&app, &admin, &path("q=zzz")).await, set(&[]));
    assert_eq!(
        list_ids(&app, &admin, &path("q=%25")).await,
        set(&[]),
        "% is not a wildcard"
    );
    assert_eq!(
        list_ids(&app, &admin, &path("tag=vip")).await,
        set(&[&jeanne, &marc])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("tag=VIP")).await,
        set(&[&jeanne, &marc])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("tag=storage")).await,
        set(&[&marc])
    );
    assert_eq!(list_ids(&app, &admin, &path("tag=none")).await, set(&[]));
    assert_eq!(
        list_ids(&app, &admin, &path("tag=vip&q=gagnon")).await,
        set(&[&marc]),
        "filters combine"
    );
    assert_eq!(
        list_ids(&app, &admin, &path("")).await,
        set(&[&jeanne, &marc, &julie]),
        "tenant only"
    );

    app.post(
        &format!("/v1/customers/{marc}/deactivate"),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    app.settle().await;
    assert_eq!(
        list_ids(&app, &admin, &path("active=false")).await,
        set(&[&marc])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("active=true")).await,
        set(&[&jeanne, &julie])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_lists_filter_by_status_priority_assignee_source_and_follow_up() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "a@example.com").await;
    let other_customer = app.customer(&admin, "b@example.com").await;
    let rep = Uuid::new_v4();
    let open = |body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let response = app.post("/v1/leads", &admin, body).await;
            response.expect(201);
            response.id()
        }
    };
    let web_high = open(
        json!({"customer_id": customer, "source": "Website", "priority": "HIGH",
                               "assigned_to": rep, "follow_up_date": "2030-01-10T09:00:00Z"}),
    )
    .await;
    let phone_low = open(
        json!({"customer_id": customer, "source": "phone", "priority": "LOW",
                                "follow_up_date": "2030-03-01T09:00:00Z"}),
    )
    .await;
    let web_medium = open(
        json!({"customer_id": other_customer, "source": "website", "assigned_to": Uuid::new_v4()}),
    )
    .await;
    let contacted = app
        .post(
            &format!("/v1/leads/{phone_low}/transition"),
            &admin,
            json!({"to": "CONTACTED"}),
        )
        .await;
    contacted.expect(200);
    app.settle().await;

    let path = |query: &str| format!("/v1/leads?{query}");
    assert_eq!(
        list_ids(&app, &admin, &path("")).await,
        set(&[&web_high, &phone_low, &web_medium])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("status=CONTACTED")).await,
        set(&[&phone_low])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("status=NEW")).await,
        set(&[&web_high, &web_medium])
    );
    assert_eq!(list_ids(&app, &admin, &path("status=WON")).await, set(&[]));
    assert_eq!(
        list_ids(&app, &admin, &path("priority=HIGH")).await,
        set(&[&web_high])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("priority=MEDIUM")).await,
        set(&[&web_medium]),
        "MEDIUM is the default"
    );
    assert_eq!(
        list_ids(&app, &admin, &path("priority=URGENT")).await,
        set(&[])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("source=website")).await,
        set(&[&web_high, &web_medium])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("source=WEBSITE")).await,
        set(&[&web_high, &web_medium])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("source=phone")).await,
        set(&[&phone_low])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("source=web")).await,
        set(&[]),
        "source is exact"
    );
    assert_eq!(
        list_ids(&app, &admin, &path("follow_up_before=2030-02-01T00:00:00Z")).await,
        set(&[&web_high])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("follow_up_before=2031-01-01T00:00:00Z")).await,
        set(&[&web_high, &phone_low])
    );
    assert_eq!(
        list_ids(&app, &admin, &path("follow_up_before=2030-01-10T09:00:00Z")).await,
        set(&[]),
        "strictly before"
    );
    assert_eq!(
        list_ids(&app, &admin, &path(&format!("assigned_to={rep}"))).await,
        set(&[&web_high])
    );
    let nobody = Uuid::new_v4();
    assert_eq!(
        list_ids(&app, &admin, &path(&format!("assigned_to={nobody}"))).await,
        set(&[])
    );
    assert_eq!(
        list_ids(
            &app,
            &admin,
            &path(&format!("customer_id={other_customer}"))
        )
        .await,
        set(&[&web_medium])
    );
    assert_eq!(
        list_ids(
            &app,
            &admin,
            &path("source=website&priority=HIGH&status=NEW")
        )
        .await,
        set(&[&web_high]),
        "filters combine"
    );
}

// ---------------------------------------------------------------- request ids

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_echoed_and_becomes_the_correlation_id_of_its_events() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);

    let sent = app
        .request(
            Method::POST,
            "/v1/customers",
            Some(&admin),
            Some(new_customer("A", "B", "a@example.com")),
            &[("x-request-id", "my-req-123")],
        )
        .await;
    sent.expect(201);
    assert_eq!(sent.header("x-request-id"), Some("my-req-123"));
    let customer = sent.id();

    let generated = app
        .post(
            "/v1/customers",
            &admin,
            new_customer("C", "D", "c@example.com"),
        )
        .await;
    generated.expect(201);
    let generated_id = generated
        .header("x-request-id")
        .expect("a generated request id")
        .to_owned();
    assert!(!generated_id.is_empty() && generated_id != "my-req-123");
    let other = generated.id();

    // Errors and unknown routes carry one too.
    let error = app
        .request(
            Method::GET,
            "/v1/nope",
            Some(&admin),
            None,
            &[("x-request-id", "err-1")],
        )
        .await;
    assert_eq!(error.header("x-request-id"), Some("err-1"));
    let second = app.get("/healthz", &admin).await;
    let third = app.get("/healthz", &admin).await;
    assert_ne!(
        second.header("x-request-id"),
        third.header("x-request-id"),
        "ids are unique"
    );

    app.settle().await;
    let audit = app
        .get(&format!("/v1/audit/events?aggregate_id={customer}"), &admin)
        .await;
    audit.expect(200);
    let events = items(&audit);
    assert_eq!(events.len(), 1, "{}", audit.body);
    assert_eq!(events[0]["correlation_id"], "my-req-123");
    let audit = app
        .get(&format!("/v1/audit/events?aggregate_id={other}"), &admin)
        .await;
    audit.expect(200);
    assert_eq!(items(&audit)[0]["correlation_id"], generated_id.as_str());
}

// ---------------------------------------------------------------- operations

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_answer_without_a_token() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);

    let health = app.request(Method::GET, "/healthz", None, None, &[]).await;
    health.expect(200);
    assert_eq!(health.body, "ok");
    let ready = app.request(Method::GET, "/readyz", None, None, &[]).await;
    ready.expect(200);
    assert_eq!(
        ready.body,
        json!({"postgres": true, "nats": true, "relay": "running", "relay_failure": null})
    );

    let scrape = || async {
        let response = app.request(Method::GET, "/metrics", None, None, &[]).await;
        response.expect(200);
        assert!(
            response
                .header("content-type")
                .unwrap()
                .starts_with("text/plain")
        );
        response.body.as_str().expect("Prometheus text").to_owned()
    };
    let before = scrape().await;
    let appended_before = metric_sum(
        &before,
        "events_appended_total",
        "aggregate_type=\"Customer\"",
    );
    app.customer(&admin, "a@example.com").await;
    app.settle().await;
    let after = scrape().await;
    assert!(after.contains("http_requests_total{"), "request counter");
    assert!(
        metric_sum(&after, "http_requests_total", "route=\"/v1/customers\"") >= 1.0,
        "requests are labelled by route template"
    );
    let appended_after = metric_sum(
        &after,
        "events_appended_total",
        "aggregate_type=\"Customer\"",
    );
    assert!(
        appended_after >= appended_before + 1.0,
        "{appended_before} → {appended_after}"
    );
    assert!(
        after.contains("projection_lag_events{"),
        "projection lag gauge"
    );
    let stream = &app.env.config.nats_stream;
    assert!(
        after.contains(&format!("relay_lag_events{{stream=\"{stream}\"}}")),
        "this app's relay lag is measured at scrape time"
    );
}

// ---------------------------------------------------------------- OpenAPI

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// path → methods, as the document lists them.
async fn documented(app: &TestApp) -> BTreeMap<String, BTreeSet<String>> {
    let doc = app
        .request(Method::GET, "/openapi.json", None, None, &[])
        .await;
    doc.expect(200);
    let version = doc.body["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, not {version}");
    doc.body["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (*m).to_owned())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_3_1_and_documents_every_route_of_the_contract() {
    let app = TestApp::spawn().await;
    let doc = documented(&app).await;
    let contract = [
        ("post", "/v1/customers"),
        ("patch", "/v1/customers/{id}"),
        ("post", "/v1/customers/{id}/deactivate"),
        ("post", "/v1/customers/{id}/reactivate"),
        ("post", "/v1/customers/{id}/tags"),
        ("delete", "/v1/customers/{id}/tags/{tag}"),
        ("post", "/v1/leads"),
        ("post", "/v1/leads/{id}/transition"),
        ("post", "/v1/leads/{id}/assign"),
        ("post", "/v1/leads/{id}/activities"),
        ("patch", "/v1/leads/{id}"),
        ("get", "/v1/customers/{id}"),
        ("get", "/v1/customers"),
        ("get", "/v1/leads/{id}"),
        ("get", "/v1/leads"),
        ("get", "/v1/leads/{id}/timeline"),
        ("get", "/v1/audit/events"),
        ("post", "/v1/quotes"),
        ("patch", "/v1/quotes/{id}"),
        ("post", "/v1/quotes/{id}/send"),
        ("post", "/v1/quotes/{id}/view"),
        ("post", "/v1/quotes/{id}/accept"),
        ("post", "/v1/quotes/{id}/reject"),
        ("post", "/v1/quotes/{id}/revise"),
        ("post", "/v1/quotes/{id}/approve"),
        ("post", "/v1/quotes/{id}/convert"),
        ("post", "/v1/quotes/{id}/copy"),
        ("post", "/v1/quotes/{id}/deposits"),
        ("post", "/v1/quotes/{id}/invoice"),
        ("post", "/v1/invoices"),
        ("patch", "/v1/invoices/{id}"),
        ("post", "/v1/invoices/{id}/issue"),
        ("post", "/v1/invoices/{id}/void"),
        ("post", "/v1/invoices/{id}/payments"),
        ("post", "/v1/invoices/{id}/payments/{payment_id}/refunds"),
        ("post", "/v1/invoices/{id}/credit-notes"),
        ("post", "/v1/financial-transactions"),
        ("get", "/v1/settings/sales"),
        ("put", "/v1/settings/sales"),
        ("post", "/v1/equipment"),
        ("patch", "/v1/equipment/{id}"),
        ("post", "/v1/equipment/{id}/retire"),
        ("post", "/v1/equipment/{id}/sell"),
        ("post", "/v1/equipment/{id}/report-defect"),
        ("post", "/v1/equipment/{id}/repair"),
        ("post", "/v1/equipment/{id}/maintenance"),
        ("post", "/v1/equipment/{id}/maintenance/{mid}/start"),
        ("post", "/v1/equipment/{id}/maintenance/{mid}/complete"),
        ("post", "/v1/equipment/{id}/maintenance/{mid}/cancel"),
        ("post", "/v1/equipment-assignments"),
        ("post", "/v1/equipment-assignments/{id}/checkout"),
        ("post", "/v1/equipment-assignments/{id}/return"),
        ("post", "/v1/equipment-assignments/{id}/cancel"),
        ("post", "/v1/equipment-assignments/{id}/reschedule"),
        ("post", "/v1/inventory"),
        ("patch", "/v1/inventory/{id}"),
        ("post", "/v1/inventory/{id}/transactions"),
        ("post", "/v1/inventory/transfers"),
        ("get", "/v1/quotes/{id}"),
        ("get", "/v1/quotes"),
        ("get", "/v1/invoices/{id}"),
        ("get", "/v1/invoices"),
        ("get", "/v1/financial-transactions"),
        ("get", "/v1/reports/ar-aging"),
        ("get", "/v1/reports/revenue"),
        ("get", "/v1/equipment/{id}"),
        ("get", "/v1/equipment"),
        ("get", "/v1/equipment-assignments/{id}"),
        ("get", "/v1/equipment-assignments"),
        ("get", "/v1/inventory/{id}"),
        ("get", "/v1/inventory"),
        ("get", "/v1/reports/equipment-utilization"),
        ("get", "/v1/reports/maintenance-due"),
        ("get", "/v1/reports/inventory-valuation"),
        ("get", "/v1/tenant/profile"),
        ("put", "/v1/tenant/profile"),
        ("post", "/v1/staff"),
        ("patch", "/v1/staff/{user_id}"),
        ("get", "/v1/staff/{user_id}"),
        ("get", "/v1/staff"),
        ("post", "/v1/schedules"),
        ("patch", "/v1/schedules/{id}"),
        ("post", "/v1/schedules/{id}/start"),
        ("post", "/v1/schedules/{id}/complete"),
        ("post", "/v1/schedules/{id}/cancel"),
        ("post", "/v1/schedules/{id}/reschedule"),
        ("post", "/v1/schedules/{id}/crew/{user_id}/accept"),
        ("post", "/v1/schedules/{id}/crew/{user_id}/decline"),
        ("get", "/v1/schedules/{id}"),
        ("get", "/v1/schedules"),
        ("post", "/v1/availability"),
        ("get", "/v1/availability"),
        ("get", "/v1/calendar/capacity"),
        ("get", "/v1/reports/crew-utilization"),
        ("get", "/v1/calendar/feed.ics"),
        ("get", "/v1/calendar/feeds/{token}"),
        ("post", "/v1/calendar/feed-tokens"),
        ("delete", "/v1/calendar/feed-tokens/{id}"),
        ("delete", "/v1/availability/{id}"),
        ("get", "/healthz"),
        ("post", "/v1/reports"),
        ("get", "/v1/reports"),
        ("get", "/v1/reports/catalogue"),
        ("get", "/v1/reports/{id}"),
        ("patch", "/v1/reports/{id}"),
        ("delete", "/v1/reports/{id}"),
        ("post", "/v1/reports/{id}/generate"),
        ("get", "/v1/reports/{id}/file"),
        ("get", "/v1/reports/{id}/runs"),
        ("get", "/v1/reports/{id}/runs/{run_id}/file"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ];
    for (method, path) in contract {
        assert!(
            doc.get(path)
                .is_some_and(|methods| methods.contains(method)),
            "{method} {path} is documented; the document has {doc:?}"
        );
    }
    // The document also describes problems and bearer auth.
    let full = app
        .request(Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert!(full.body["components"]["schemas"]["Problem"].is_object());
    assert_eq!(
        full.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let create = &full.body["paths"]["/v1/customers"]["post"];
    assert!(
        create["responses"]["422"].is_object(),
        "validation errors are documented"
    );
    assert!(create["requestBody"].is_object(), "the body is documented");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_in_the_openapi_document_is_served_by_the_router() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    app.settle().await;
    let doc = documented(&app).await;
    let mut tried = 0;
    for (template, methods) in &doc {
        let path = template
            .replace("{id}", &Uuid::new_v4().to_string())
            .replace("{tag}", "x")
            .replace("{aggregate_type}", "Customer")
            .replace("{grant_id}", &Uuid::new_v4().to_string())
            .replace("{payment_id}", &Uuid::new_v4().to_string())
            .replace("{mid}", &Uuid::new_v4().to_string())
            .replace("{user_id}", &Uuid::new_v4().to_string())
            .replace("{template_version}", "1")
            .replace("{provider}", "sms")
            .replace("{token}", "unknown.ics")
            .replace("{role}", "sales")
            .replace("{resource}", "LEAD")
            .replace("{action}", "READ")
            .replace("{delivery_id}", &Uuid::new_v4().to_string())
            .replace("{key_id}", &Uuid::new_v4().to_string())
            .replace("{sync_id}", &Uuid::new_v4().to_string())
            .replace("{run_id}", &Uuid::new_v4().to_string());
        assert!(
            !path.contains('{'),
            "every parameter is substituted: {template}"
        );
        for method in methods {
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = (method != Method::GET).then(|| json!({}));
            let response = app
                .request(method.clone(), &path, Some(&admin), body, &[])
                .await;
            assert_ne!(
                response.status, 405,
                "{method} {template} is routed: {}",
                response.body
            );
            assert_ne!(
                response.body["type"], "urn:crm:problem:route-not-found",
                "{method} {template} is routed"
            );
            assert!(
                response.status < 500,
                "{method} {template}: {} {}",
                response.status,
                response.body
            );
            tried += 1;
        }
    }
    assert!(
        tried >= 20,
        "the document lists the whole contract ({tried} operations)"
    );
}
