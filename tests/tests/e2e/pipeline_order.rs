//! The sales process orders its decisions by the event stream, never by
//! clocks: a quote sent and accepted back to back wins its lead, a person's
//! later change is never overridden by a replay, and a move that can never
//! succeed stops the process visibly.

use chrono::{Duration, Utc};
use crm_tests::TestApp;
use event_schemas::Role;
use serde_json::{Value, json};

fn quote_body(lead: &str) -> Value {
    json!({
        "lead_id": lead,
        "valid_until": (Utc::now().date_naive() + Duration::days(30)).to_string(),
        "province": "ON",
        "items": [{"description": "Movers", "quantity": "1", "unit_price": "900.00", "category": "MOVING_SERVICES"}]
    })
}

async fn lead_state(app: &TestApp, token: &str, lead: &str) -> Value {
    let state = app
        .get(&format!("/v1/audit/lead/{lead}/state"), token)
        .await;
    state.expect(200);
    state.body["state"].clone()
}

async fn lead_moves(app: &TestApp, token: &str, lead: &str) -> usize {
    let history = app
        .get(&format!("/v1/audit/lead/{lead}/history"), token)
        .await;
    history.expect(200);
    history.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["event_type"] == "LeadStatusChanged")
        .count()
}

async fn rebuild_pipeline(app: &TestApp) {
    let pipeline = app
        .env
        .infra
        .select_consumers(&["lead-pipeline".to_owned()])
        .unwrap();
    projections::rebuild(
        app.pool(),
        app.env.js(),
        &projections::ProjectorConfig::new(
            &app.env.config.nats_stream,
            &app.env.config.subject_prefix,
        ),
        pipeline[0].as_ref(),
        &|_, _| {},
    )
    .await
    .expect("the process manager replays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_quotes_sent_and_accepted_back_to_back_all_win_their_leads() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let mut deals = Vec::new();
    for i in 0..50 {
        let customer = app.customer(&admin, &format!("race{i}@example.com")).await;
        let lead = app.lead(&admin, &customer).await;
        let quote = app.post("/v1/quotes", &admin, quote_body(&lead)).await;
        quote.expect(201);
        deals.push((lead, quote.id()));
    }
    // Each quote is sent, then accepted at once: the sales process handles
    // the sending after the acceptance was committed.
    let runs = deals.iter().map(|(_, quote)| {
        let app = &app;
        let admin = &admin;
        async move {
            app.post(&format!("/v1/quotes/{quote}/send"), admin, json!({}))
                .await
                .expect(200);
            app.post(
                &format!("/v1/quotes/{quote}/accept"),
                admin,
                json!({"revision": 1, "accepted_by_name": "Jeanne Tremblay"}),
            )
            .await
            .expect(200);
        }
    });
    futures::future::join_all(runs).await;
    app.settle().await;
    let mut not_won = Vec::new();
    for (lead, _) in &deals {
        let status = lead_state(&app, &admin, lead).await["status"].clone();
        if status != "WON" {
            not_won.push((lead.clone(), status));
        }
    }
    assert!(not_won.is_empty(), "leads left behind: {not_won:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reopening_a_lead_after_the_acceptance_is_not_overridden_on_replay() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "reopen@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let quote = app.post("/v1/quotes", &admin, quote_body(&lead)).await.id();
    // The lead is lost while its quote is sent and accepted: nothing moves.
    app.post(
        &format!("/v1/leads/{lead}/transition"),
        &admin,
        json!({"to": "LOST", "reason": "price"}),
    )
    .await
    .expect(200);
    app.post(&format!("/v1/quotes/{quote}/send"), &admin, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/quotes/{quote}/accept"),
        &admin,
        json!({"revision": 1, "accepted_by_name": "Jeanne Tremblay"}),
    )
    .await
    .expect(200);
    app.settle().await;
    assert_eq!(lead_state(&app, &admin, &lead).await["status"], "LOST");
    // Later, a person reopens the lead.
    app.post(
        &format!("/v1/leads/{lead}/transition"),
        &admin,
        json!({"to": "CONTACTED"}),
    )
    .await
    .expect(200);
    app.settle().await;
    let moves = lead_moves(&app, &admin, &lead).await;
    // A replay of the whole stream into the process (a rebuild) meets the
    // old sending and acceptance again: the person's change stands.
    rebuild_pipeline(&app).await;
    app.settle().await;
    assert_eq!(lead_state(&app, &admin, &lead).await["status"], "CONTACTED");
    assert_eq!(lead_moves(&app, &admin, &lead).await, moves);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_the_process_can_never_move_stops_the_process_visibly() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "stuck@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let quote = app.post("/v1/quotes", &admin, quote_body(&lead)).await.id();
    app.settle().await;
    // The lead's history holds an event no version of the Lead knows (as an
    // older or newer deployment could have written): it cannot be loaded.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT aggregate_type, aggregate_id, sequence + 1, 'LeadTeleported', '1.0', '{\"LeadTeleported\": {}}', metadata
           FROM events WHERE aggregate_type = 'Lead' AND aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(&lead)
    .execute(app.pool())
    .await
    .unwrap();
    app.post(&format!("/v1/quotes/{quote}/send"), &admin, json!({}))
        .await
        .expect(200);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let failed = loop {
        let statuses = projections::status(
            app.pool(),
            app.env.js(),
            &app.env.config.nats_stream,
            &app.env.infra.consumers(),
        )
        .await
        .unwrap();
        let pipeline = statuses
            .into_iter()
            .find(|s| s.name == "lead-pipeline")
            .expect("the process is listed");
        if pipeline.state == "failed" {
            break pipeline;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the process never stopped: {pipeline:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let error = failed.error.unwrap_or_default();
    assert!(error.contains(&lead), "{error}");
    assert!(failed.failed_seq.is_some());
}
