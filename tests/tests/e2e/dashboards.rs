//! Dashboards: create, list, read, edit, delete (fields named), tenancy,
//! OWN against tenant-wide scopes, one default per user however many
//! requests race, each widget kind's figures, and the live stream.

use std::time::Duration;

use crm_tests::TestApp;
use event_schemas::{Role, TenantId};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// One widget of each kind (and a second KPI).
fn widgets() -> Value {
    json!([
        {"id": "leads", "kind": "kpi", "metric": "new_leads", "params": {}},
        {"id": "revenue", "kind": "kpi", "metric": "revenue", "title": "Money in", "params": {"days": 7}},
        {"id": "daily", "kind": "timeseries", "metric": "new_leads", "params": {"days": 7}},
        {"id": "sources", "kind": "bar", "metric": "leads_by_source", "params": {"limit": 5}},
        {"id": "recent", "kind": "table", "metric": "recent_leads", "params": {"limit": 3}}
    ])
}

async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/v1/dashboards", token, body).await;
    r.expect(201);
    r.id()
}

/// The dashboards `token` lists (one page of 200), by id.
async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/v1/dashboards?limit=200", token).await;
    r.expect(200);
    r.body["items"].as_array().expect("items").clone()
}

fn ids(items: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = items
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_are_created_read_edited_and_deleted_and_mistakes_name_their_field() {
    let app = TestApp::spawn().await;
    let user = Uuid::new_v4();
    let dispatcher = app.token_for("acme", user, Role::Dispatcher);

    let created = app
        .post(
            "/v1/dashboards",
            &dispatcher,
            json!({"name": "Ops", "description": "Mornings", "widgets": widgets()}),
        )
        .await;
    created.expect(201);
    assert_eq!(created.version(), 1);
    let id = created.id();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/dashboards/{id}").as_str())
    );

    let read = app
        .get(&format!("/v1/dashboards/{id}?min_version=1"), &dispatcher)
        .await;
    read.expect(200);
    assert_eq!(read.header("etag"), Some("\"1\""));
    let d = &read.body;
    assert_eq!(d["name"], "Ops");
    assert_eq!(d["description"], "Mornings");
    assert_eq!(d["owner_id"], user.to_string());
    assert_eq!(d["is_default"], false);
    assert_eq!(d["is_public"], false);
    assert_eq!(d["theme"], "dark", "dark by default");
    assert_eq!(d["refresh_interval_seconds"], Value::Null);
    assert_eq!(d["widgets"], widgets());
    // Without a layout: one widget per row, full width, in order.
    let layout = d["layout"].as_array().unwrap();
    assert_eq!(layout.len(), 5);
    for (i, item) in layout.iter().enumerate() {
        assert_eq!(item["widget"], widgets()[i]["id"]);
        assert_eq!(
            (item["x"].as_u64(), item["w"].as_u64()),
            (Some(0), Some(12))
        );
        assert_eq!(item["y"].as_u64(), Some(4 * i as u64));
    }

    // Mistakes: a 422 naming each field, and nothing written.
    let bad = app
        .post(
            "/v1/dashboards",
            &dispatcher,
            json!({"name": " ", "widgets": [
                       {"id": "a", "kind": "kpi", "metric": "leads_by_source"},
                       {"id": "b", "kind": "kpi", "metric": "new_leads", "params": {"limit": 3}},
                       {"id": "b", "kind": "bar", "metric": "leads_by_status", "params": {"days": 400}}],
                   "layout": [{"widget": "zzz", "x": 0, "y": 0, "w": 4, "h": 2},
                              {"widget": "a", "x": 10, "y": 0, "w": 4, "h": 2}],
                   "refresh_interval_seconds": 1}),
        )
        .await;
    bad.expect_problem(422, "validation");
    let mut fields = bad.problem_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "layout[0].widget",
            "layout[1].x",
            "name",
            "refresh_interval_seconds",
            "widgets[0].metric",
            "widgets[1].params.limit",
            "widgets[2].id",
            "widgets[2].params.days",
        ],
        "{}",
        bad.body
    );
    app.post(
        "/v1/dashboards",
        &dispatcher,
        json!({"name": "X", "widgets": [], "colour": "red"}),
    )
    .await
    .expect_problem(400, "bad-request");
    app.post(
        "/v1/dashboards",
        &dispatcher,
        json!({"name": "X", "widgets": [], "theme": "pink"}),
    )
    .await
    .expect(422)
    .expect_field("theme");

    // A partial edit; the rest stays.
    let edited = app
        .patch(
            &format!("/v1/dashboards/{id}"),
            &dispatcher,
            json!({"name": "Operations", "is_public": true, "theme": "light", "refresh_interval_seconds": 60}),
        )
        .await;
    edited.expect(200);
    assert_eq!(edited.version(), 2);
    // New widgets without a layout: kept widgets keep their place, new ones go below.
    let edited = app
        .patch(
            &format!("/v1/dashboards/{id}"),
            &dispatcher,
            json!({"widgets": [
                {"id": "daily", "kind": "timeseries", "metric": "quotes_sent"},
                {"id": "stock", "kind": "table", "metric": "low_stock_items"}]}),
        )
        .await;
    edited.expect(200);
    assert_eq!(edited.version(), 3);
    let read = app
        .get(&format!("/v1/dashboards/{id}?min_version=3"), &dispatcher)
        .await;
    read.expect(200);
    let d = &read.body;
    assert_eq!(d["name"], "Operations");
    assert_eq!(d["description"], "Mornings");
    assert_eq!(
        (&d["is_public"], &d["theme"]),
        (&json!(true), &json!("light"))
    );
    assert_eq!(d["refresh_interval_seconds"], 60);
    assert_eq!(d["widgets"][0]["metric"], "quotes_sent");
    assert_eq!(
        d["layout"],
        json!([{"widget": "daily", "x": 0, "y": 8, "w": 12, "h": 4},
               {"widget": "stock", "x": 0, "y": 12, "w": 12, "h": 4}])
    );
    // A bad edit names its field; a stale If-Match is 412.
    app.patch(
        &format!("/v1/dashboards/{id}"),
        &dispatcher,
        json!({"layout": [{"widget": "daily", "x": 0, "y": 0, "w": 13, "h": 1}]}),
    )
    .await
    .expect(422)
    .expect_field("layout[0].x");
    app.request(
        Method::PATCH,
        &format!("/v1/dashboards/{id}"),
        Some(&dispatcher),
        Some(json!({"name": "Late"})),
        &[("if-match", "\"1\"")],
    )
    .await
    .expect_problem(412, "precondition-failed");
    // `null` clears.
    app.patch(
        &format!("/v1/dashboards/{id}"),
        &dispatcher,
        json!({"description": null, "refresh_interval_seconds": null}),
    )
    .await
    .expect(200);

    // The default: its own command, the dashboard's version unchanged.
    let chosen = app
        .patch(
            &format!("/v1/dashboards/{id}"),
            &dispatcher,
            json!({"is_default": true}),
        )
        .await;
    chosen.expect(200);
    assert_eq!(chosen.version(), 4);
    app.settle().await;
    let items = listed(&app, &dispatcher).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["is_default"], true);
    assert_eq!(items[0]["description"], Value::Null);
    assert_eq!(items[0]["version"], 4);

    // Deleted: gone from reads, and no longer the default.
    app.delete(&format!("/v1/dashboards/{id}"), &dispatcher)
        .await
        .expect(200);
    app.delete(&format!("/v1/dashboards/{id}"), &dispatcher)
        .await
        .expect_problem(404, "not-found");
    app.patch(
        &format!("/v1/dashboards/{id}"),
        &dispatcher,
        json!({"name": "Back"}),
    )
    .await
    .expect_problem(404, "not-found");
    app.settle().await;
    app.get(&format!("/v1/dashboards/{id}"), &dispatcher)
        .await
        .expect_problem(404, "not-found");
    assert!(listed(&app, &dispatcher).await.is_empty());
    let admin = app.token("acme", Role::Admin);
    let default = aggregates::dashboard::default_id(&TenantId::parse("acme").unwrap(), user);
    let state = app
        .get(
            &format!("/v1/audit/DashboardDefault/{default}/state"),
            &admin,
        )
        .await;
    state.expect(200);
    assert_eq!(
        state.body["state"]["dashboard_id"],
        Value::Null,
        "{}",
        state.body
    );
    assert_eq!(state.body["state"]["user_id"], user.to_string());
    let history = app
        .get(&format!("/v1/audit/Dashboard/{id}/history"), &admin)
        .await;
    history.expect(200);
    let types: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "DashboardCreated",
            "DashboardUpdated",
            "DashboardUpdated",
            "DashboardUpdated",
            "DashboardDeleted"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_dashboard_is_404_on_every_route() {
    let app = TestApp::spawn().await;
    let acme = app.token("acme", Role::Admin);
    let globex = app.token("globex", Role::Admin);
    let id = create(
        &app,
        &acme,
        json!({"name": "Acme", "widgets": widgets(), "is_public": true}),
    )
    .await;
    app.settle().await;
    let path = format!("/v1/dashboards/{id}");
    for suffix in ["", "/data", "/stream"] {
        app.get(&format!("{path}{suffix}"), &globex)
            .await
            .expect_problem(404, "not-found");
    }
    app.get(&format!("{path}?min_version=1"), &globex)
        .await
        .expect_problem(404, "not-found");
    app.patch(&path, &globex, json!({"name": "Mine"}))
        .await
        .expect_problem(404, "not-found");
    app.patch(&path, &globex, json!({"is_default": true}))
        .await
        .expect_problem(404, "not-found");
    app.delete(&path, &globex)
        .await
        .expect_problem(404, "not-found");
    assert!(listed(&app, &globex).await.is_empty());
    // Nothing changed in Acme's.
    let read = app.get(&path, &acme).await;
    read.expect(200);
    assert_eq!(
        (&read.body["name"], &read.body["version"]),
        (&json!("Acme"), &json!(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_sees_their_own_and_public_dashboards_and_managers_see_all() {
    let app = TestApp::spawn().await;
    let (rep, other) = (Uuid::new_v4(), Uuid::new_v4());
    let rep_token = app.token_for("acme", rep, Role::Sales);
    let other_token = app.token_for("acme", other, Role::Sales);
    let manager = app.token("acme", Role::Manager);
    let auditor = app.token("acme", Role::Auditor);
    let crew = app.token("acme", Role::Crew);

    let mine = create(
        &app,
        &rep_token,
        json!({"name": "Mine", "widgets": widgets()}),
    )
    .await;
    let private = create(
        &app,
        &other_token,
        json!({"name": "Private", "widgets": widgets()}),
    )
    .await;
    let public = create(
        &app,
        &other_token,
        json!({"name": "Public", "widgets": widgets(), "is_public": true}),
    )
    .await;
    app.settle().await;

    let mut expected = vec![mine.clone(), public.clone()];
    expected.sort();
    assert_eq!(ids(&listed(&app, &rep_token).await), expected);
    let mut all = vec![mine.clone(), private.clone(), public.clone()];
    all.sort();
    assert_eq!(ids(&listed(&app, &manager).await), all);
    assert_eq!(ids(&listed(&app, &auditor).await), all);
    app.get("/v1/dashboards", &crew)
        .await
        .expect_problem(403, "forbidden");

    // Another rep's private dashboard does not exist for the rep.
    let path = format!("/v1/dashboards/{private}");
    for suffix in ["", "/data", "/stream"] {
        app.get(&format!("{path}{suffix}"), &rep_token)
            .await
            .expect_problem(404, "not-found");
    }
    app.patch(&path, &rep_token, json!({"name": "Taken"}))
        .await
        .expect_problem(404, "not-found");
    app.delete(&path, &rep_token)
        .await
        .expect_problem(404, "not-found");
    // A public one: readable, and the rep may make it their default, but
    // not change or delete it.
    let path = format!("/v1/dashboards/{public}");
    app.get(&path, &rep_token).await.expect(200);
    app.get(&format!("{path}/data"), &rep_token)
        .await
        .expect(200);
    app.patch(&path, &rep_token, json!({"name": "Taken"}))
        .await
        .expect_problem(404, "not-found");
    app.delete(&path, &rep_token)
        .await
        .expect_problem(404, "not-found");
    app.patch(&path, &rep_token, json!({"is_default": true}))
        .await
        .expect(200);
    // A manager changes anyone's; an auditor only reads.
    app.patch(
        &format!("/v1/dashboards/{private}"),
        &manager,
        json!({"name": "Reviewed"}),
    )
    .await
    .expect(200);
    app.get(&format!("/v1/dashboards/{private}"), &auditor)
        .await
        .expect(200);
    app.patch(
        &format!("/v1/dashboards/{private}"),
        &auditor,
        json!({"name": "Audited"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post("/v1/dashboards", &crew, json!({"name": "C", "widgets": []}))
        .await
        .expect_problem(403, "forbidden");
    app.settle().await;

    // The default is each reader's own.
    let for_rep = listed(&app, &rep_token).await;
    let default_of = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .filter(|d| d["is_default"] == true)
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(default_of(&for_rep), std::slice::from_ref(&public));
    assert!(default_of(&listed(&app, &other_token).await).is_empty());
    assert!(default_of(&listed(&app, &manager).await).is_empty());
    let read = app
        .get(&format!("/v1/dashboards/{private}"), &manager)
        .await;
    assert_eq!(read.body["name"], "Reviewed");
    assert_eq!(read.body["owner_id"], other.to_string(), "the owner stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_defaults_leave_exactly_one_and_the_aggregate_agrees() {
    let app = TestApp::spawn().await;
    let user = Uuid::new_v4();
    let token = app.token_for("acme", user, Role::Accountant);
    let responses = join_all((0..10).map(|i| {
        app.post(
            "/v1/dashboards",
            &token,
            json!({"name": format!("Board {i}"), "widgets": [], "is_default": true}),
        )
    }))
    .await;
    for r in &responses {
        // A choice that lost every retry of its race is a 409 naming the
        // conflict; its dashboard exists, not as the default.
        match r.status {
            201 => {}
            409 => {
                r.expect_problem(409, "conflict");
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert!(responses.iter().any(|r| r.status == 201));
    app.settle().await;

    let items = listed(&app, &token).await;
    assert_eq!(items.len(), 10, "every dashboard was made");
    let defaults: Vec<&Value> = items.iter().filter(|d| d["is_default"] == true).collect();
    assert_eq!(defaults.len(), 1, "exactly one default: {items:?}");
    let default = aggregates::dashboard::default_id(&TenantId::parse("acme").unwrap(), user);
    let admin = app.token("acme", Role::Admin);
    let state = app
        .get(
            &format!("/v1/audit/DashboardDefault/{default}/state"),
            &admin,
        )
        .await;
    state.expect(200);
    assert_eq!(state.body["state"]["dashboard_id"], defaults[0]["id"]);
    // Each choice that was answered 201 is one event of the one aggregate.
    let history = app
        .get(
            &format!("/v1/audit/DashboardDefault/{default}/history?limit=200"),
            &admin,
        )
        .await;
    history.expect(200);
    let chosen = history.body["items"].as_array().unwrap().len();
    let created = responses.iter().filter(|r| r.status == 201).count();
    assert_eq!(chosen, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_gives_every_widget_kind_with_the_callers_figures() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let rep = Uuid::new_v4();
    let rep_token = app.token_for("acme", rep, Role::Sales);
    let dispatcher = app.token("acme", Role::Dispatcher);
    for (token, source, email) in [
        (&admin, "website", "a@example.com"),
        (&admin, "referral", "b@example.com"),
        (&rep_token, "website", "c@example.com"),
    ] {
        let customer = app.customer(&admin, email).await;
        app.post(
            "/v1/leads",
            token,
            json!({"customer_id": customer, "source": source, "estimated_value": "100.00"}),
        )
        .await
        .expect(201);
    }
    // The admin's dashboard, public: each viewer gets their own figures.
    let id = create(
        &app,
        &admin,
        json!({"name": "All", "widgets": widgets(), "is_public": true}),
    )
    .await;
    app.settle().await;

    let data = app.get(&format!("/v1/dashboards/{id}/data"), &admin).await;
    data.expect(200);
    assert_eq!(data.body["dashboard_id"], id);
    assert!(data.body["generated_at"].is_string());
    let w = data.body["widgets"].as_array().unwrap();
    assert_eq!(w.len(), 5);
    let keys: Vec<_> = w
        .iter()
        .map(|w| {
            (
                w["id"].as_str().unwrap(),
                w["kind"].as_str().unwrap(),
                w["metric"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("leads", "kpi", "new_leads"),
            ("revenue", "kpi", "revenue"),
            ("daily", "timeseries", "new_leads"),
            ("sources", "bar", "leads_by_source"),
            ("recent", "table", "recent_leads"),
        ]
    );
    assert_eq!(w[0]["label"], "New leads");
    assert_eq!(
        w[0]["data"],
        json!({"unit": "count", "currency": null, "value": "3", "previous": "0"})
    );
    assert_eq!(w[1]["label"], "Money in", "the title wins");
    assert_eq!(
        w[1]["data"],
        json!({"unit": "money", "currency": "CAD", "value": "0.00", "previous": "0.00"})
    );
    let points = w[2]["data"]["points"].as_array().unwrap();
    assert_eq!(w[2]["data"]["unit"], "count");
    assert_eq!(points.len(), 7, "one point per day of the last 7");
    let total: u64 = points
        .iter()
        .map(|p| p["value"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 3);
    assert_eq!(points[6]["value"], "3", "today's");
    assert!(points[6]["date"].is_string());
    assert_eq!(
        w[3]["data"],
        json!({"unit": "count", "currency": null,
               "bars": [{"label": "website", "value": "2"}, {"label": "referral", "value": "1"}]})
    );
    let columns: Vec<&str> = w[4]["data"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "id",
            "created_at",
            "customer_name",
            "source",
            "status",
            "assigned_to",
            "estimated_value"
        ]
    );
    let rows = w[4]["data"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "limit 3 of 3");
    assert_eq!(rows[0]["source"], "website", "newest first: the rep's");
    assert_eq!(rows[0]["estimated_value"], "100.00");
    assert_eq!(rows[0]["status"], "NEW");

    // The rep sees the same dashboard with their own leads only.
    let theirs = app
        .get(&format!("/v1/dashboards/{id}/data"), &rep_token)
        .await;
    theirs.expect(200);
    let w = theirs.body["widgets"].as_array().unwrap();
    assert_eq!(w[0]["data"]["value"], "1");
    assert_eq!(
        w[3]["data"]["bars"],
        json!([{"label": "website", "value": "1"}])
    );
    assert_eq!(w[4]["data"]["rows"].as_array().unwrap().len(), 1);
    // A dispatcher reads dashboards but no figures.
    app.get(&format!("/v1/dashboards/{id}"), &dispatcher)
        .await
        .expect(200);
    app.get(&format!("/v1/dashboards/{id}/data"), &dispatcher)
        .await
        .expect_problem(403, "forbidden");
    app.get(&format!("/v1/dashboards/{id}/stream"), &dispatcher)
        .await
        .expect_problem(403, "forbidden");
}

/// A Server-Sent Events reader over a response's chunks.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// The next event's name and data (comments skipped); `None` when the
    /// stream ended.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                return Some((name, serde_json::from_str(&data).expect("JSON data")));
            }
            // A connection closed mid-way (shutdown) ends the stream too.
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_a_snapshot_then_the_widgets_a_new_lead_changes() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "first@example.com").await;
    app.lead(&admin, &customer).await;
    let id = create(
        &app,
        &admin,
        json!({"name": "Live", "widgets": [
            {"id": "leads", "kind": "kpi", "metric": "new_leads"},
            {"id": "stock", "kind": "kpi", "metric": "low_stock_items"}]}),
    )
    .await;
    app.settle().await;

    // No client timeout: the stream stays open.
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/v1/dashboards/{id}/stream", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut events = Events {
        response,
        buffer: String::new(),
    };
    let (name, snapshot) = events.next().await.expect("a snapshot");
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["dashboard_id"], id);
    assert_eq!(snapshot["widgets"][0]["data"]["value"], "1");
    assert_eq!(snapshot["widgets"][1]["data"]["value"], "0");

    // Without a token, no stream.
    let anonymous = client
        .get(format!("{}/v1/dashboards/{id}/stream", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let customer = app.customer(&admin, "second@example.com").await;
    app.lead(&admin, &customer).await;
    // Up to 30 s, generously: the widget event that carries the new lead.
    let widget = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (name, data) = events.next().await.expect("the stream stays open");
            if name == "widget" && data["id"] == "leads" && data["data"]["value"] == "2" {
                return data;
            }
            assert_eq!(name, "widget", "only widgets follow the snapshot");
            assert_ne!(
                data["id"], "stock",
                "an unchanged widget is not sent: {data}"
            );
        }
    })
    .await
    .expect("a widget event with the new lead arrives");
    assert_eq!(widget["kind"], "kpi");
    assert_eq!(widget["metric"], "new_leads");
    assert_eq!(widget["label"], "New leads");
    assert_eq!(
        widget["data"],
        json!({"unit": "count", "currency": null, "value": "2", "previous": "0"})
    );

    // Deleting the dashboard ends its stream.
    app.delete(&format!("/v1/dashboards/{id}"), &admin)
        .await
        .expect(200);
    let end = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some((name, _)) = events.next().await {
            assert_eq!(name, "widget");
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ends once the dashboard is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_the_limit_are_refused_and_shutdown_ends_them() {
    let mut env = crm_tests::TestEnv::new().await;
    env.infra.config.max_sse_streams = 1;
    let mut app = TestApp::start_on(env, crm::app::Parts::all()).await;
    let admin = app.token("acme", Role::Admin);
    let id = create(&app, &admin, json!({"name": "One", "widgets": widgets()})).await;
    app.settle().await;
    let client = reqwest::Client::new();
    let open = || {
        client
            .get(format!("{}/v1/dashboards/{id}/stream", app.base))
            .bearer_auth(&admin)
            .send()
    };
    let first = open().await.unwrap();
    assert_eq!(first.status(), 200);
    let mut events = Events {
        response: first,
        buffer: String::new(),
    };
    assert_eq!(events.next().await.expect("a snapshot").0, "snapshot");
    let second = crm_tests::TestResponse::read(open().await.unwrap()).await;
    second.expect_problem(503, "unavailable");
    assert!(second.header("retry-after").is_some());

    app.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while events.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "shutdown ends the stream");
}
