//! Message templates end to end: versions, the read model through NATS,
//! previews in the sandboxed renderer (escaping, SMS segments, named
//! variables and lines), templates that loop or grow stopped with a 422
//! while the server keeps answering, roles and tenancy.

use crm_tests::TestApp;
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};

fn email_template() -> Value {
    json!({
        "name": "Quote follow-up",
        "type": "EMAIL",
        "subject": "Your quote {{ quote.reference }} from {{ company.name }}",
        "content": "<p>Hello {{ customer.first_name }},</p>\n<p>{{ note }}</p>\n<p>Total: {{ quote.total | money }} {{ quote.currency }}</p>",
        "variables": [
            {"name": "note", "required": true, "description": "A personal line", "example": "Thanks for asking!"},
            {"name": "crew_size", "required": false}
        ],
        "category": "sales",
        "tags": ["follow-up"]
    })
}

async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let created = app.post("/v1/templates", token, body).await;
    created.expect(201);
    created.id()
}

async fn preview(
    app: &TestApp,
    token: &str,
    id: &str,
    variables: Value,
) -> crm_tests::TestResponse {
    app.post(
        &format!("/v1/templates/{id}/preview"),
        token,
        json!({ "variables": variables }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_writes_a_template_each_edit_is_a_version_and_a_preview_renders_it_escaped() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let manager = app.token("acme", Role::Manager);
    app.request(
        Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(json!({"company_name": "Acme Movers"})),
        &[],
    )
    .await
    .expect(200);
    let id = create(&app, &manager, email_template()).await;

    let read = app
        .get(&format!("/v1/templates/{id}?min_version=1"), &manager)
        .await;
    read.expect(200);
    assert_eq!(read.body["type"], "EMAIL");
    assert_eq!(read.body["template_version"], 1);
    assert_eq!(read.body["active"], true);
    assert_eq!(read.body["purpose"], "TRANSACTIONAL");
    assert_eq!(read.body["variables"][0]["name"], "note");

    // The preview: the example fills `note`, made-up records the
    // built-ins, the profile the company; values are HTML-escaped.
    let shown = preview(
        &app,
        &manager,
        &id,
        json!({"note": "<b>See you</b> & soon"}),
    )
    .await;
    shown.expect(200);
    assert_eq!(
        shown.body["subject"],
        "Your quote 0196ABCD from Acme Movers"
    );
    let content = shown.body["content"].as_str().unwrap();
    assert!(content.contains("<p>Hello Alex,</p>"), "{content}");
    assert!(
        content.contains("&lt;b&gt;See you&lt;&#x2f;b&gt; &amp; soon"),
        "{content}"
    );
    assert!(content.contains("Total: 1808.00 CAD"), "{content}");
    assert_eq!(shown.body["template_version"], 1);
    let example = preview(&app, &manager, &id, json!({})).await;
    assert!(
        example.body["content"]
            .as_str()
            .unwrap()
            .contains("Thanks for asking!")
    );

    // An edit is version 2; version 1's text stays readable.
    let edited = app
        .patch(
            &format!("/v1/templates/{id}"),
            &manager,
            json!({"content": "<p>Hi {{ customer.first_name }}! {{ note }}</p>", "tags": ["reminder"]}),
        )
        .await;
    edited.expect(200);
    let read = app
        .get(
            &format!("/v1/templates/{id}?min_version={}", edited.version()),
            &manager,
        )
        .await;
    assert_eq!(read.body["template_version"], 2);
    assert_eq!(read.body["tags"], json!(["reminder"]));
    let versions = app
        .get(&format!("/v1/templates/{id}/versions"), &manager)
        .await;
    versions.expect(200);
    assert_eq!(versions.body.as_array().unwrap().len(), 2);
    assert_eq!(
        versions.body[1]["changed_fields"],
        json!(["content", "tags"])
    );
    let first = app
        .get(&format!("/v1/templates/{id}/versions/1"), &manager)
        .await;
    first.expect(200);
    assert!(first.body["content"].as_str().unwrap().contains("Total:"));
    app.get(&format!("/v1/templates/{id}/versions/3"), &manager)
        .await
        .expect_problem(404, "not-found");

    // Deactivated templates are listed as such.
    app.post(
        &format!("/v1/templates/{id}/deactivate"),
        &manager,
        json!({}),
    )
    .await
    .expect(200);
    app.settle().await;
    let inactive = app.get("/v1/templates?active=false", &manager).await;
    assert_eq!(inactive.body["items"][0]["id"].as_str(), Some(id.as_str()));
    let active = app
        .get("/v1/templates?active=true&type=EMAIL", &manager)
        .await;
    assert_eq!(active.body["items"], json!([]));
    app.post(&format!("/v1/templates/{id}/activate"), &manager, json!({}))
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_preview_is_plain_text_with_its_segments_counted() {
    let app = TestApp::spawn().await;
    let manager = app.token("acme", Role::Manager);
    let id = create(
        &app,
        &manager,
        json!({
            "name": "Move reminder",
            "type": "SMS",
            "content": "Hi {{ customer.first_name }}, your movers arrive {{ when }}. {{ extra }}",
            "variables": [{"name": "when", "required": true}, {"name": "extra", "required": false}]
        }),
    )
    .await;
    let short = preview(&app, &manager, &id, json!({"when": "at 8 <am>"})).await;
    short.expect(200);
    assert_eq!(
        short.body["content"],
        "Hi Alex, your movers arrive at 8 <am>. "
    );
    assert_eq!(short.body["subject"], Value::Null);
    assert_eq!(short.body["sms"]["encoding"], "GSM-7");
    assert_eq!(short.body["sms"]["segments"], 1);
    let long = preview(
        &app,
        &manager,
        &id,
        json!({"when": "tomorrow", "extra": "x".repeat(200)}),
    )
    .await;
    assert_eq!(long.body["sms"]["segments"], 2);
    let unicode = preview(&app, &manager, &id, json!({"when": "demain 🚚"})).await;
    assert_eq!(unicode.body["sms"]["encoding"], "UCS-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_names_the_missing_or_unknown_variable_and_a_save_the_line_of_a_syntax_error() {
    let app = TestApp::spawn().await;
    let manager = app.token("acme", Role::Manager);
    let mut body = email_template();
    body["variables"][0]["example"] = Value::Null;
    let id = create(&app, &manager, body).await;

    let missing = preview(&app, &manager, &id, json!({})).await;
    missing.expect_problem(422, "validation");
    assert_eq!(missing.problem_fields(), vec!["variables.note"]);
    let unknown = preview(&app, &manager, &id, json!({"note": "x", "coupon": "FREE"})).await;
    unknown.expect_problem(422, "validation");
    assert_eq!(unknown.problem_fields(), vec!["variables.coupon"]);
    // A built-in record without the attribute the template reads.
    let undefined = preview(
        &app,
        &manager,
        &id,
        json!({"note": "x", "customer": {"last_name": "Only"}}),
    )
    .await;
    undefined.expect_problem(422, "validation");
    assert_eq!(
        undefined.problem_fields(),
        vec!["variables.customer.first_name"]
    );

    let mut broken = email_template();
    broken["content"] = json!("<p>Hello</p>\n<p>{% if customer %}open</p>\n");
    let refused = app.post("/v1/templates", &manager, broken).await;
    refused.expect_problem(422, "validation");
    assert_eq!(refused.problem_fields(), vec!["content"]);
    assert!(
        refused.body.to_string().contains("line"),
        "{}",
        refused.body
    );
    let mut undeclared = email_template();
    undeclared["content"] = json!("{{ coupon_code }}");
    let refused = app.post("/v1/templates", &manager, undeclared).await;
    assert_eq!(refused.problem_fields(), vec!["variables"]);
    assert!(refused.body.to_string().contains("coupon_code"));
    app.settle().await;
    let list = app.get("/v1/templates", &manager).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "nothing else was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_loops_forever_or_renders_megabytes_is_stopped_and_the_server_keeps_answering()
 {
    let app = TestApp::spawn().await;
    let manager = app.token("acme", Role::Manager);
    let hostile = [
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "{{ '-' * 1000000000 }}",
        "{{ 'x' | indent(width=1000000000) }}",
        "{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }}{% endfor %}",
        "{% macro grow(s, n) %}{% if n > 0 %}{{ grow(s ~ s, n - 1) }}{% else %}{{ s }}{% endif %}{% endmacro %}{{ grow('ab', 45) }}",
    ];
    let mut ids = Vec::new();
    for (i, content) in hostile.iter().enumerate() {
        ids.push(
            create(
                &app,
                &manager,
                json!({"name": format!("hostile {i}"), "type": "LETTER", "content": content}),
            )
            .await,
        );
    }
    // All of them at once, while the server keeps answering reads.
    let previews =
        futures::future::join_all(ids.iter().map(|id| preview(&app, &manager, id, json!({}))));
    let reads = async {
        let mut statuses = Vec::new();
        for _ in 0..10 {
            statuses.push(app.get("/v1/templates", &manager).await.status);
        }
        statuses
    };
    let (previews, reads) = tokio::join!(previews, reads);
    assert!(reads.iter().all(|s| *s == 200), "{reads:?}");
    for (content, answer) in hostile.iter().zip(&previews) {
        answer.expect_problem(422, "validation");
        assert_eq!(answer.problem_fields(), vec!["content"], "{content}");
    }
    // The renderer still works.
    let fine = create(
        &app,
        &manager,
        json!({"name": "fine", "type": "LETTER", "content": "Dear {{ customer.full_name }}"}),
    )
    .await;
    let shown = preview(&app, &manager, &fine, json!({})).await;
    shown.expect(200);
    assert_eq!(shown.body["content"], "Dear Alex Sample");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_write_templates_others_read_or_nothing_and_other_tenants_see_404() {
    let app = TestApp::spawn().await;
    let manager = app.token("acme", Role::Manager);
    let id = create(&app, &manager, email_template()).await;
    app.settle().await;
    for role in [
        Role::Sales,
        Role::Dispatcher,
        Role::Accountant,
        Role::Auditor,
    ] {
        let token = app.token("acme", role);
        app.get(&format!("/v1/templates/{id}"), &token)
            .await
            .expect(200);
        preview(&app, &token, &id, json!({})).await.expect(200);
        app.post("/v1/templates", &token, email_template())
            .await
            .expect_problem(403, "forbidden");
        app.patch(&format!("/v1/templates/{id}"), &token, json!({"name": "x"}))
            .await
            .expect_problem(403, "forbidden");
    }
    let crew = app.token("acme", Role::Crew);
    app.get(&format!("/v1/templates/{id}"), &crew)
        .await
        .expect_problem(403, "forbidden");
    app.get("/v1/templates", &crew)
        .await
        .expect_problem(403, "forbidden");

    let other = app.token("globex", Role::Admin);
    for (method, path) in [
        (Method::GET, format!("/v1/templates/{id}")),
        (Method::GET, format!("/v1/templates/{id}/versions")),
        (Method::GET, format!("/v1/templates/{id}/versions/1")),
        (Method::PATCH, format!("/v1/templates/{id}")),
        (Method::POST, format!("/v1/templates/{id}/preview")),
        (Method::POST, format!("/v1/templates/{id}/deactivate")),
        (Method::POST, format!("/v1/templates/{id}/activate")),
    ] {
        let body = (method != Method::GET).then(|| json!({}));
        app.request(method.clone(), &path, Some(&other), body, &[])
            .await
            .expect_problem(404, "not-found");
    }
    assert_eq!(
        app.get("/v1/templates", &other).await.body["items"],
        json!([])
    );
}
