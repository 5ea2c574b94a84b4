//! Free-form JSON fields (customer preferences, equipment specifications,
//! payment gateway data) are bounded in depth and size on input: one such
//! field once stopped event publishing for every tenant.

use crm_tests::TestApp;
use event_schemas::Role;
use serde_json::{Value, json};

/// An object `depth` levels deep in all (itself, then nested arrays).
fn nested(depth: usize) -> Value {
    let inner: Value = serde_json::from_str(&format!(
        "{}1{}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    ))
    .unwrap();
    json!({ "deep": inner })
}

async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_preferences_are_refused_naming_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let sales = app.token("acme", Role::Sales);
    let before = event_count(&app).await;
    let refused = app
        .post(
            "/v1/customers",
            &sales,
            json!({"first_name": "Deep", "last_name": "Nest", "email": "deep@example.com",
                   "preferences": nested(126)}),
        )
        .await;
    refused.expect(422);
    assert_eq!(refused.problem_fields(), ["preferences"]);
    assert!(
        refused.body.to_string().contains("32 levels"),
        "{}",
        refused.body
    );
    assert_eq!(event_count(&app).await, before, "nothing is written");

    // At the limit it is accepted, and the system keeps publishing.
    let customer = app
        .post(
            "/v1/customers",
            &sales,
            json!({"first_name": "Deep", "last_name": "Nest", "email": "deep@example.com",
                   "preferences": nested(32)}),
        )
        .await;
    customer.expect(201);
    let id = customer.id();
    // An update with a deeper value is refused too.
    app.patch(
        &format!("/v1/customers/{id}"),
        &sales,
        json!({"preferences": nested(33)}),
    )
    .await
    .expect(422);
    app.settle().await;
    let read = app
        .get(&format!("/v1/customers/{id}?min_version=1"), &sales)
        .await;
    read.expect(200);
    let relay = relay::status(app.pool(), &app.env.config.nats_stream)
        .await
        .unwrap();
    assert_eq!(relay.state, "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_or_oversized_specifications_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let before = event_count(&app).await;
    let refused = app
        .post(
            "/v1/equipment",
            &admin,
            json!({"location_id": "mtl-1", "name": "Truck 7", "equipment_type": "TRUCK",
                   "specifications": nested(40)}),
        )
        .await;
    refused.expect(422);
    assert_eq!(refused.problem_fields(), ["specifications"]);
    // Too large, though flat.
    let big: serde_json::Map<String, Value> = (0..2000)
        .map(|i| (format!("key{i}"), json!("0123456789")))
        .collect();
    let refused = app
        .post(
            "/v1/equipment",
            &admin,
            json!({"location_id": "mtl-1", "name": "Truck 7", "equipment_type": "TRUCK",
                   "specifications": big}),
        )
        .await;
    refused.expect(422);
    assert_eq!(refused.problem_fields(), ["specifications"]);
    assert_eq!(event_count(&app).await, before, "nothing is written");
}
