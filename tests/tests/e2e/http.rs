//! HTTP details every route shares: token times, authentication before any
//! other check, `min_version` that never waits for a version that does not
//! exist, header limits answered with a problem, `ETag` on reads, strict
//! `If-Match`, JSON errors people can read, and bodies ending in a newline.

use std::time::{Duration, Instant};

use api_common::auth::Claims;
use chrono::Utc;
use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

fn claims(iat: i64, nbf: Option<i64>) -> Claims {
    Claims {
        sub: Uuid::new_v4().to_string(),
        tenant: "acme".into(),
        role: "admin".into(),
        locations: vec![],
        exp: Utc::now().timestamp() + 3600,
        iat,
        nbf,
    }
}

fn in_days(days: i64) -> String {
    (Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

/// Sends `request` as bytes on a fresh connection; the answer as text.
async fn raw_http(app: &TestApp, request: &[u8]) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("a connection");
    stream
        .write_all(request)
        .await
        .expect("the request is sent");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

// ---------------------------------------------------------------- tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_not_valid_yet_or_issued_in_the_future_beyond_the_leeway_are_refused() {
    let app = TestApp::spawn().await;
    let now = Utc::now().timestamp();
    let leeway = api_common::auth::CLOCK_LEEWAY_SECS as i64;
    assert_eq!(leeway, 30);
    let get = |token: String| {
        let app = &app;
        async move { app.get("/v1/customers", &token).await }
    };

    let not_yet = get(app.keys.sign(&claims(now, Some(now + 120))).unwrap()).await;
    not_yet.expect_problem(401, "unauthorized");
    assert!(not_yet.body["detail"].as_str().unwrap().contains("nbf"));

    let from_the_future = get(app.keys.sign(&claims(now + 120, None)).unwrap()).await;
    from_the_future.expect_problem(401, "unauthorized");
    assert!(
        from_the_future.body["detail"]
            .as_str()
            .unwrap()
            .contains("iat")
    );

    // A clock a few seconds ahead is within the leeway.
    get(app.keys.sign(&claims(now + 10, Some(now + 10))).unwrap())
        .await
        .expect(200);
    get(app.keys.sign(&claims(now, Some(now - 60))).unwrap())
        .await
        .expect(200);
}

// ---------------------------------------------------------------- 401 first

/// A request: method, path, headers, body.
type Case = (
    Method,
    String,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_checked_before_anything_else_on_every_api_route() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "first@example.com").await;
    let bad_token = app
        .keys
        .sign(&claims(Utc::now().timestamp() + 3600, None))
        .unwrap();
    let cases: Vec<Case> = vec![
        // A malformed Idempotency-Key (was 400 before 401).
        (
            Method::POST,
            "/v1/customers".into(),
            vec![
                ("idempotency-key", ""),
                ("content-type", "application/json"),
            ],
            "{}",
        ),
        // A body that is not JSON.
        (
            Method::POST,
            "/v1/leads".into(),
            vec![("content-type", "application/json")],
            "{not json",
        ),
        // Not sent as JSON.
        (
            Method::POST,
            "/v1/quotes".into(),
            vec![("content-type", "text/plain")],
            "hello",
        ),
        // A malformed If-Match.
        (
            Method::PATCH,
            format!("/v1/customers/{customer}"),
            vec![("if-match", "2"), ("content-type", "application/json")],
            "{}",
        ),
        // A malformed min_version, and an unknown parameter.
        (
            Method::GET,
            format!("/v1/customers/{customer}?min_version=x"),
            vec![],
            "",
        ),
        (Method::GET, "/v1/invoices?colour=red".into(), vec![], ""),
        (Method::GET, "/v1/audit/export".into(), vec![], ""),
        (Method::PUT, "/v1/settings/sales".into(), vec![], "[]"),
        // A method the route does not have.
        (Method::DELETE, "/v1/customers".into(), vec![], ""),
    ];
    for (method, path, headers, body) in &cases {
        for token in [None, Some(bad_token.as_str())] {
            let response = app.raw(method.clone(), path, token, headers, body).await;
            assert_eq!(
                response.status,
                401,
                "{method} {path} with token {}: {}",
                token.is_some(),
                response.body
            );
            assert_eq!(response.body["type"], "urn:crm:problem:unauthorized");
        }
    }
    // With a token the same requests get their own answer.
    let keyless = app
        .raw(
            Method::POST,
            "/v1/customers",
            Some(&admin),
            &[
                ("idempotency-key", ""),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    keyless.expect_problem(400, "bad-request");
    assert_eq!(keyless.problem_fields(), ["Idempotency-Key"]);
    // Operations stay public.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let response = app.raw(Method::GET, path, None, &[], "").await;
        assert_eq!(response.status, 200, "{path}: {}", response.body);
    }
}

// ---------------------------------------------------------------- min_version

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_min_version_the_entity_never_reached_is_a_422_at_once_naming_the_current_version() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "mv@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    app.settle().await;

    for (path, current) in [
        (format!("/v1/customers/{customer}"), 1),
        (format!("/v1/leads/{lead}"), 1),
    ] {
        for version in ["2", "1000", "9223372036854775808", "18446744073709551615"] {
            let started = Instant::now();
            let response = app
                .get(&format!("{path}?min_version={version}"), &admin)
                .await;
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{path} min_version={version} waited"
            );
            response.expect_problem(422, "validation");
            assert_eq!(response.problem_fields(), ["min_version"]);
            assert_eq!(response.body["current_version"], current);
            assert!(
                response.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("at version {current}")),
                "{}",
                response.body
            );
        }
        for bad in ["x", "-1", "1.5", "18446744073709551616", ""] {
            let response = app.get(&format!("{path}?min_version={bad}"), &admin).await;
            response.expect_problem(400, "bad-request");
            assert_eq!(response.problem_fields(), ["min_version"], "{bad}");
        }
        app.get(&format!("{path}?min_version=1"), &admin)
            .await
            .expect(200);
    }
    // Another tenant's entity, or none, is 404 at once whatever the version.
    let globex = app.token("globex", Role::Admin);
    for path in [
        format!("/v1/customers/{customer}?min_version=1"),
        format!("/v1/customers/{customer}?min_version=1000"),
        format!("/v1/leads/{lead}?min_version=5"),
    ] {
        let started = Instant::now();
        app.get(&path, &globex)
            .await
            .expect_problem(404, "not-found");
        assert!(started.elapsed() < Duration::from_secs(2), "{path}");
    }
    app.get(
        &format!("/v1/customers/{}?min_version=3", Uuid::new_v4()),
        &admin,
    )
    .await
    .expect_problem(404, "not-found");
}

// ---------------------------------------------------------------- 431

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_headers_get_a_431_problem() {
    let app = TestApp::spawn().await;
    let problem = |answer: &str| {
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{answer}"
        );
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: Value = serde_json::from_str(body.trim()).expect("a JSON body");
        assert_eq!(
            body["type"], "urn:crm:problem:request-header-fields-too-large",
            "{body}"
        );
        body
    };

    // 150 header fields (hyper alone answers 431 with an empty body past 100).
    let mut request =
        String::from("GET /v1/customers HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for i in 0..150 {
        request.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    request.push_str("\r\n");
    let body = problem(&raw_http(&app, request.as_bytes()).await);
    assert!(body["detail"].as_str().unwrap().contains("100"), "{body}");

    // One 20 KiB header.
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let body = problem(&raw_http(&app, request.as_bytes()).await);
    assert!(body["detail"].as_str().unwrap().contains("16384"), "{body}");

    // Within the limits: answered as usual.
    let mut request = String::from("GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for i in 0..90 {
        request.push_str(&format!("X-Filler-{i}: {}\r\n", "b".repeat(100)));
    }
    request.push_str("\r\n");
    let answer = raw_http(&app, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

// ---------------------------------------------------------------- ETag

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_entity_get_carries_its_version_as_an_etag() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "etag@example.com").await;
    app.patch(
        &format!("/v1/customers/{customer}"),
        &admin,
        json!({"first_name": "Anna"}),
    )
    .await
    .expect(200);
    let lead = app.lead(&admin, &customer).await;
    let quote = app
        .post(
            "/v1/quotes",
            &admin,
            json!({"lead_id": lead, "valid_until": in_days(30), "province": "QC",
                   "items": [{"description": "Movers", "quantity": "1", "unit_price": "100.00", "category": "MOVING_SERVICES"}]}),
        )
        .await;
    quote.expect(201);
    let invoice = app
        .post(
            "/v1/invoices",
            &admin,
            json!({"customer_id": customer, "province": "ON",
                   "items": [{"description": "Local move", "quantity": "1", "unit_price": "1000.00", "category": "MOVING_SERVICES"}]}),
        )
        .await;
    invoice.expect(201);
    let truck = app
        .post(
            "/v1/equipment",
            &admin,
            json!({"location_id": "mtl-1", "name": "Truck 7", "equipment_type": "TRUCK"}),
        )
        .await;
    truck.expect(201);
    let booking = app
        .post(
            "/v1/equipment-assignments",
            &admin,
            json!({"equipment_id": truck.id(), "journey_id": Uuid::new_v4(),
                   "starts_at": (Utc::now() + chrono::Duration::hours(24)).to_rfc3339(),
                   "ends_at": (Utc::now() + chrono::Duration::hours(30)).to_rfc3339()}),
        )
        .await;
    booking.expect(201);
    let item = app
        .post(
            "/v1/inventory",
            &admin,
            json!({"location_id": "mtl-1", "sku": "BLK-01", "name": "Moving blankets", "category": "PACKING",
                   "min_quantity": "20", "unit_cost": "8.00", "unit_price": "15.00"}),
        )
        .await;
    item.expect(201);
    app.settle().await;

    for path in [
        format!("/v1/customers/{customer}"),
        format!("/v1/leads/{lead}"),
        format!("/v1/quotes/{}", quote.id()),
        format!("/v1/invoices/{}", invoice.id()),
        format!("/v1/equipment/{}", truck.id()),
        format!("/v1/equipment-assignments/{}", booking.id()),
        format!("/v1/inventory/{}", item.id()),
    ] {
        let read = app.get(&path, &admin).await;
        read.expect(200);
        let version = read.body["version"].as_u64().expect("a version");
        assert!(version >= 1, "{path}");
        assert_eq!(
            read.header("etag"),
            Some(format!("\"{version}\"").as_str()),
            "{path}"
        );
    }
    let read = app.get(&format!("/v1/customers/{customer}"), &admin).await;
    assert_eq!(read.header("etag"), Some("\"2\""));
}

// ---------------------------------------------------------------- If-Match

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_takes_quoted_strong_tags_only() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "im@example.com").await;
    let path = format!("/v1/customers/{customer}");
    let patch = |if_match: &'static str, name: &'static str| {
        let (app, admin, path) = (&app, &admin, &path);
        async move {
            app.request(
                Method::PATCH,
                path,
                Some(admin),
                Some(json!({"first_name": name})),
                &[("if-match", if_match)],
            )
            .await
        }
    };

    // Unquoted: malformed.
    for bad in ["1", "\"1", "W/1", "\"1\" \"2\""] {
        let response = patch(bad, "Bad").await;
        response.expect_problem(400, "bad-request");
        assert_eq!(response.problem_fields(), ["If-Match"], "{bad}");
        assert!(
            response.body["detail"].as_str().unwrap().contains("\"3\""),
            "the problem shows the form: {}",
            response.body
        );
    }
    // A weak tag never matches, even the current version's.
    let weak = patch("W/\"1\"", "Weak").await;
    weak.expect_problem(412, "precondition-failed");
    assert_eq!(weak.body["current_version"], 1);
    // A tag that is not a version we gave out never matches either.
    patch("\"one\"", "Other")
        .await
        .expect_problem(412, "precondition-failed");
    // The strong tag, alone or in a list, and `*` pass.
    let ok = patch("\"1\"", "Strong").await;
    ok.expect(200);
    assert_eq!(ok.header("etag"), Some("\"2\""));
    patch("\"7\", \"2\"", "Listed").await.expect(200);
    patch("*", "Any").await.expect(200);
    let stale = patch("\"1\"", "Stale").await;
    stale.expect_problem(412, "precondition-failed");
    assert_eq!(stale.body["current_version"], 4);
}

// ---------------------------------------------------------------- JSON errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_name_the_field_and_say_what_to_send() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "json@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let message = |r: &TestResponse| r.body["errors"][0]["message"].as_str().unwrap().to_owned();

    let quote = app
        .post(
            "/v1/quotes",
            &admin,
            json!({"lead_id": lead, "valid_until": in_days(30),
                   "items": [{"description": "Movers", "quantity": "1", "unit_price": 12.5, "category": "MOVING_SERVICES"}]}),
        )
        .await;
    quote.expect_problem(422, "validation");
    assert_eq!(quote.problem_fields(), ["items[0].unit_price"]);
    let text = message(&quote);
    assert!(
        text.contains("\"12.50\"") && text.contains("12.5"),
        "{text}"
    );
    assert!(!text.contains("fixed-point"), "{text}");

    let bad_uuid = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": "nope", "source": "web"}),
        )
        .await;
    bad_uuid.expect_problem(422, "validation");
    assert_eq!(bad_uuid.problem_fields(), ["customer_id"]);
    assert!(
        message(&bad_uuid).starts_with("must be a UUID"),
        "{}",
        bad_uuid.body
    );

    let bad_enum = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "web", "priority": "SOON"}),
        )
        .await;
    bad_enum.expect_problem(422, "validation");
    assert_eq!(bad_enum.problem_fields(), ["priority"]);
    assert_eq!(
        message(&bad_enum),
        "must be one of LOW, MEDIUM, HIGH, URGENT (got `SOON`)"
    );

    let bad_time = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "web", "follow_up_date": "tomorrow"}),
        )
        .await;
    bad_time.expect_problem(422, "validation");
    assert_eq!(bad_time.problem_fields(), ["follow_up_date"]);
    assert!(message(&bad_time).contains("RFC 3339"), "{}", bad_time.body);

    let wrong_type = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "web", "score": "high"}),
        )
        .await;
    wrong_type.expect_problem(422, "validation");
    assert_eq!(wrong_type.problem_fields(), ["score"]);
    assert!(
        message(&wrong_type).starts_with("must be a whole number"),
        "{}",
        wrong_type.body
    );

    let unknown = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer, "source": "web", "colour": "red"}),
        )
        .await;
    unknown.expect_problem(400, "bad-request");
    assert_eq!(unknown.problem_fields(), ["colour"]);
    assert!(
        message(&unknown).contains("accepted fields are"),
        "{}",
        unknown.body
    );

    let missing = app
        .post("/v1/leads", &admin, json!({"source": "web"}))
        .await;
    missing.expect_problem(422, "validation");
    assert_eq!(missing.problem_fields(), ["customer_id"]);
    assert_eq!(message(&missing), "is required");
}

// ---------------------------------------------------------------- newline

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_end_with_a_newline_and_a_right_content_length() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let send = |method: Method, path: String, body: Option<Value>| {
        let (app, admin) = (&app, &admin);
        async move {
            let mut request = app
                .client
                .request(method, format!("{}{path}", app.base))
                .bearer_auth(admin);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("an answer");
            let length = response
                .headers()
                .get("content-length")
                .map(|v| v.to_str().unwrap().parse::<usize>().unwrap());
            let status = response.status().as_u16();
            let bytes = response.bytes().await.expect("a body");
            (status, length, bytes)
        }
    };
    let customer = json!({"first_name": "N", "last_name": "L", "email": "nl@example.com"});
    let (status, length, bytes) = send(Method::POST, "/v1/customers".into(), Some(customer)).await;
    assert_eq!(status, 201);
    assert_eq!(bytes.last(), Some(&b'\n'), "{bytes:?}");
    assert_eq!(length, Some(bytes.len()));
    let id: Value = serde_json::from_slice(&bytes).unwrap();
    let (status, length, bytes) = send(
        Method::POST,
        format!("/v1/customers/{}/tags", id["id"].as_str().unwrap()),
        Some(json!({"tag": "vip"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(bytes.last(), Some(&b'\n'));
    assert_eq!(length, Some(bytes.len()));
    // Problems too.
    let (status, length, bytes) = send(Method::POST, "/v1/customers".into(), Some(json!({}))).await;
    assert_eq!(status, 422);
    assert_eq!(bytes.last(), Some(&b'\n'));
    assert_eq!(length, Some(bytes.len()));
    assert!(!bytes.ends_with(b"\n\n"), "exactly one newline");
}
