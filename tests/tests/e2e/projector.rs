//! Projectors: exactly-once in effect, visible failures, rebuilds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crm::app::Parts;
use crm_tests::{TestApp, TestEnv};
use event_schemas::Role;
use projections::runner::{BatchOutcome, apply_batch, prepare};
use projections::{ProjectedEvent, Projection, ProjectionError, ProjectorConfig};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// Records how often each stream sequence was applied; can be told to fail.
struct Recorder {
    name: &'static str,
    /// Its table: `recorded` for the recorder named "recorder",
    /// `recorded_<name>` for others (so several can run side by side).
    table: &'static str,
    /// Fail transiently (as if the database connection dropped) on this
    /// sequence, once.
    transient_failure_at: Option<u64>,
    failed_once: AtomicBool,
    /// Fail permanently on this sequence while set.
    poison_at: AtomicU64,
}

impl Recorder {
    fn new(name: &'static str) -> Self {
        let table: &'static str = if name == "recorder" {
            "recorded"
        } else {
            Box::leak(format!("recorded_{name}").into_boxed_str())
        };
        Self {
            name,
            table,
            transient_failure_at: None,
            failed_once: AtomicBool::new(false),
            poison_at: AtomicU64::new(0),
        }
    }
}

#[async_trait::async_trait]
impl Projection for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn version(&self) -> i32 {
        1
    }
    fn tables(&self) -> &'static [&'static str] {
        Box::leak(vec![self.table].into_boxed_slice())
    }
    fn ddl(&self) -> &'static str {
        Box::leak(
            format!(
                "CREATE TABLE {} (seq bigint PRIMARY KEY, applied integer NOT NULL)",
                self.table
            )
            .into_boxed_str(),
        )
    }
    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if self.poison_at.load(Ordering::SeqCst) == event.stream_seq {
            return Err(ProjectionError::Decode(format!(
                "poisoned at {}",
                event.stream_seq
            )));
        }
        sqlx::query(&format!(
            "INSERT INTO {t} (seq, applied) VALUES ($1, 1)
             ON CONFLICT (seq) DO UPDATE SET applied = {t}.applied + 1",
            t = self.table
        ))
        .bind(event.stream_seq as i64)
        .execute(&mut *conn)
        .await?;
        // Fail after writing, so a missing rollback would show as applied twice.
        if self.transient_failure_at == Some(event.stream_seq)
            && !self.failed_once.swap(true, Ordering::SeqCst)
        {
            return Err(ProjectionError::Db(sqlx::Error::PoolTimedOut));
        }
        Ok(())
    }
}

/// An app without projectors: commands are stored and published, nothing is
/// projected until a test starts its own projector.
async fn app_without_projectors() -> TestApp {
    TestApp::spawn_with(Parts {
        command_api: true,
        query_api: true,
        relay: true,
        projectors: crm::app::ProjectorSet::None,
        http: true,
    })
    .await
}

async fn publish_customers(app: &TestApp, count: usize) -> u64 {
    let admin = app.token("acme", Role::Admin);
    for i in 0..count {
        app.customer(&admin, &format!("c{i}@example.com")).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.env.stream_head().await < count as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "events were not published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.env.stream_head().await
}

fn start_projector(
    env: &TestEnv,
    projection: Arc<dyn Projection>,
) -> (tokio::task::JoinHandle<()>, CancellationToken) {
    let mut config = ProjectorConfig::new(&env.config.nats_stream, &env.config.subject_prefix);
    config.standby_retry = Duration::from_millis(50);
    let token = CancellationToken::new();
    let handle = tokio::spawn(projections::run_projector(
        env.pool().clone(),
        env.js().clone(),
        config,
        projection,
        token.clone(),
    ));
    (handle, token)
}

async fn checkpoint(pool: &PgPool, name: &str) -> (i64, String) {
    sqlx::query_as("SELECT last_seq, state FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or((0, "missing".to_owned()))
}

async fn wait_for_checkpoint(pool: &PgPool, name: &str, seq: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (last, state) = checkpoint(pool, name).await;
        if last >= seq {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} stuck at {last} ({state}), expected {seq}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn applied_counts(pool: &PgPool) -> Vec<(i64, i32)> {
    applied_counts_in(pool, "recorded").await
}

async fn applied_counts_in(pool: &PgPool, table: &str) -> Vec<(i64, i32)> {
    sqlx::query_as(&format!(
        "SELECT seq, applied FROM read.{table} ORDER BY seq"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_the_middle_of_a_batch_applies_the_batch_exactly_once() {
    let app = app_without_projectors().await;
    let head = publish_customers(&app, 6).await;
    let recorder = Recorder {
        transient_failure_at: Some(3),
        ..Recorder::new("recorder")
    };
    let recorder = Arc::new(recorder);
    let (projector, stop) = start_projector(&app.env, recorder.clone());
    wait_for_checkpoint(app.pool(), "recorder", head as i64).await;
    assert!(
        recorder.failed_once.load(Ordering::SeqCst),
        "the failure happened"
    );
    let counts = applied_counts(app.pool()).await;
    assert_eq!(
        counts,
        (1..=head as i64).map(|s| (s, 1)).collect::<Vec<_>>(),
        "each event once"
    );
    stop.cancel();
    projector.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_events_at_or_below_the_checkpoint_are_skipped() {
    let app = app_without_projectors().await;
    let head = publish_customers(&app, 5).await;
    let recorder = Recorder::new("recorder");
    let mut conn = app.pool().acquire().await.unwrap();
    prepare(
        &mut conn,
        app.pool(),
        app.env.js(),
        &ProjectorConfig::new(&app.env.config.nats_stream, &app.env.config.subject_prefix),
        &recorder,
    )
    .await
    .unwrap();
    let messages: Vec<(u64, Vec<u8>)> = {
        let stream = app
            .env
            .js()
            .get_stream(&app.env.config.nats_stream)
            .await
            .unwrap();
        let mut out = Vec::new();
        for seq in 1..=head {
            out.push((
                seq,
                stream.get_raw_message(seq).await.unwrap().payload.to_vec(),
            ));
        }
        out
    };
    let batch = |range: std::ops::RangeInclusive<u64>| -> Vec<(u64, &[u8])> {
        messages
            .iter()
            .filter(|(s, _)| range.contains(s))
            .map(|(s, p)| (*s, p.as_slice()))
            .collect()
    };

    assert_eq!(
        apply_batch(&mut conn, &recorder, &batch(1..=3))
            .await
            .unwrap(),
        BatchOutcome::Applied
    );
    // Redelivery of what was applied, then an overlapping batch.
    assert_eq!(
        apply_batch(&mut conn, &recorder, &batch(1..=3))
            .await
            .unwrap(),
        BatchOutcome::Applied
    );
    assert_eq!(
        apply_batch(&mut conn, &recorder, &batch(2..=5))
            .await
            .unwrap(),
        BatchOutcome::Applied
    );
    assert_eq!(
        applied_counts(app.pool()).await,
        (1..=5).map(|s| (s, 1)).collect::<Vec<_>>()
    );
    assert_eq!(checkpoint(app.pool(), "recorder").await.0, 5);

    // A gap applies nothing.
    sqlx::query("UPDATE projection_checkpoints SET last_seq = 2 WHERE name = 'recorder'")
        .execute(app.pool())
        .await
        .unwrap();
    let outcome = apply_batch(&mut conn, &recorder, &batch(4..=5))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        BatchOutcome::Gap {
            expected: 3,
            got: 4
        }
    );
    assert_eq!(checkpoint(app.pool(), "recorder").await.0, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_cannot_be_applied_stops_the_projection_visibly_until_retried() {
    let app = app_without_projectors().await;
    let head = publish_customers(&app, 4).await;
    let recorder = Arc::new(Recorder::new("recorder"));
    recorder.poison_at.store(3, Ordering::SeqCst);
    let (projector, stop) = start_projector(&app.env, recorder.clone());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (last, state) = checkpoint(app.pool(), "recorder").await;
        if state == "failed" {
            assert_eq!(
                last, 2,
                "everything before the poison event is applied, nothing after"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projection never failed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let statuses = projections::status(
        app.pool(),
        app.env.js(),
        &app.env.config.nats_stream,
        &[recorder.clone() as Arc<dyn Projection>],
    )
    .await
    .unwrap();
    assert_eq!(statuses[0].state, "failed");
    assert_eq!(statuses[0].failed_seq, Some(3));
    assert!(
        statuses[0]
            .error
            .as_deref()
            .unwrap()
            .contains("poisoned at 3")
    );
    assert_eq!(statuses[0].lag, head - 2);
    // Not skipped: still stuck a while later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        checkpoint(app.pool(), "recorder").await,
        (2, "failed".to_owned())
    );

    // A fix is deployed (the poison is gone) and an operator retries.
    recorder.poison_at.store(0, Ordering::SeqCst);
    assert!(
        projections::runner::retry(app.pool(), "recorder")
            .await
            .unwrap()
    );
    wait_for_checkpoint(app.pool(), "recorder", head as i64).await;
    assert_eq!(
        applied_counts(app.pool()).await,
        (1..=head as i64).map(|s| (s, 1)).collect::<Vec<_>>()
    );
    stop.cancel();
    projector.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_behind_one_consumer_fail_alone_and_catch_up_once_after_a_retry() {
    let app = app_without_projectors().await;
    let head = publish_customers(&app, 6).await as i64;
    let failing = Arc::new(Recorder::new("failing"));
    failing.poison_at.store(3, Ordering::SeqCst);
    let healthy = Arc::new(Recorder::new("healthy"));
    let mut config =
        ProjectorConfig::new(&app.env.config.nats_stream, &app.env.config.subject_prefix);
    config.standby_retry = Duration::from_millis(50);
    let stop = CancellationToken::new();
    let group = tokio::spawn(projections::run_projectors(
        app.pool().clone(),
        app.env.js().clone(),
        config,
        vec![failing.clone() as Arc<dyn Projection>, healthy.clone()],
        stop.clone(),
    ));
    wait_for_checkpoint(app.pool(), "healthy", head).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while checkpoint(app.pool(), "failing").await != (2, "failed".to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failing projection stops at 2: {:?}",
            checkpoint(app.pool(), "failing").await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let once = |upto: i64| (1..=upto).map(|s| (s, 1)).collect::<Vec<_>>();
    assert_eq!(
        applied_counts_in(app.pool(), "recorded_failing").await,
        once(2)
    );
    assert_eq!(
        applied_counts_in(app.pool(), "recorded_healthy").await,
        once(head)
    );

    // The healthy one keeps going while the other is stopped.
    let admin = app.token("acme", Role::Admin);
    app.customer(&admin, "later@example.com").await;
    wait_for_checkpoint(app.pool(), "healthy", head + 1).await;
    assert_eq!(
        checkpoint(app.pool(), "failing").await,
        (2, "failed".to_owned())
    );

    // After a fix and a retry, the consumer starts again from the failed
    // one's checkpoint; the healthy one applies nothing twice.
    failing.poison_at.store(0, Ordering::SeqCst);
    assert!(
        projections::runner::retry(app.pool(), "failing")
            .await
            .unwrap()
    );
    wait_for_checkpoint(app.pool(), "failing", head + 1).await;
    assert_eq!(
        applied_counts_in(app.pool(), "recorded_failing").await,
        once(head + 1)
    );
    assert_eq!(
        applied_counts_in(app.pool(), "recorded_healthy").await,
        once(head + 1)
    );
    stop.cancel();
    group.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_reads_the_stream_once_for_all_its_read_models() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    app.customer(&admin, "once@example.com").await;
    app.settle().await;
    let mut stream = app
        .env
        .js()
        .get_stream(&app.env.config.nats_stream)
        .await
        .unwrap();
    let info = stream.info().await.unwrap();
    // The read models (and the deadlines) share one consumer; the sales
    // process and the webhook fan-out, which issue commands, have their own.
    assert_eq!(info.state.consumer_count, 3, "{:?}", info.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_copies_of_a_projector_apply_each_event_once() {
    let app = app_without_projectors().await;
    let recorder: Arc<dyn Projection> = Arc::new(Recorder::new("recorder"));
    let (first, stop_first) = start_projector(&app.env, recorder.clone());
    let (second, stop_second) = start_projector(&app.env, recorder.clone());
    let head = publish_customers(&app, 30).await;
    wait_for_checkpoint(app.pool(), "recorder", head as i64).await;
    // Kill whichever is active, publish more: the other continues.
    first.abort();
    let _ = first.await;
    let admin = app.token("acme", Role::Admin);
    for i in 0..10 {
        app.customer(&admin, &format!("late{i}@example.com")).await;
    }
    wait_for_checkpoint(app.pool(), "recorder", head as i64 + 10).await;
    let counts = applied_counts(app.pool()).await;
    assert_eq!(
        counts,
        (1..=head as i64 + 10).map(|s| (s, 1)).collect::<Vec<_>>()
    );
    stop_first.cancel();
    stop_second.cancel();
    second.await.unwrap();
}

/// A projection applied strictly one event at a time (its batch path, if it
/// has one, is not used).
struct OneByOne(Arc<dyn Projection>);

#[async_trait::async_trait]
impl Projection for OneByOne {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn version(&self) -> i32 {
        self.0.version()
    }
    fn tables(&self) -> &'static [&'static str] {
        self.0.tables()
    }
    fn ddl(&self) -> &'static str {
        self.0.ddl()
    }
    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        self.0.apply(conn, event).await
    }
}

/// Every read-model table, row by row, as JSON.
async fn dump_read_models(app: &TestApp) -> Vec<(String, Vec<Value>)> {
    let pool = app.pool();
    let mut out = Vec::new();
    for projection in projections::all(app.env.infra.keystore.clone()) {
        for table in projection.tables() {
            let rows: Vec<Value> = sqlx::query_scalar(&format!(
                "SELECT to_jsonb(t) FROM read.{table} t ORDER BY to_jsonb(t)::text"
            ))
            .fetch_all(pool)
            .await
            .unwrap();
            out.push(((*table).to_owned(), rows));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_yields_the_same_tables_as_live_while_queries_keep_working() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let other = app.token("globex", Role::Admin);
    // An endpoint that refuses connections (port 9999 on loopback, which
    // the tests allow): each customer event is queued for it, and one
    // attempt each is logged below.
    for token in [&admin, &other] {
        app.post(
            "/v1/webhooks",
            token,
            json!({"name": "Books", "url": "http://127.0.0.1:9999/h", "event_types": ["CustomerRegistered"]}),
        )
        .await
        .expect(201);
    }
    // An integration with a key, and a lead it posted (the sync log).
    let integration = app
        .post(
            "/v1/integrations",
            &admin,
            json!({"name": "Form", "type": "CUSTOM", "secrets": {"token": "t"}}),
        )
        .await;
    integration.expect(201);
    let key = app
        .post(
            &format!("/v1/integrations/{}/api-keys", integration.id()),
            &admin,
            json!({}),
        )
        .await;
    key.expect(201);
    app.request(
        reqwest::Method::POST,
        "/v1/inbound/leads",
        None,
        Some(json!({"reference": "r1", "first_name": "In", "last_name": "Bound", "email": "inbound@example.com"})),
        &[("x-api-key", key.body["key"].as_str().unwrap())],
    )
    .await
    .expect(201);
    app.settle().await;
    for (token, n) in [(&admin, 6), (&other, 3)] {
        for i in 0..n {
            let customer = app.customer(token, &format!("r{i}@example.com")).await;
            let lead = app.lead(token, &customer).await;
            app.post(&format!("/v1/leads/{lead}/activities"), token, json!({"type": "EMAIL", "description": "hello", "completed_at": "2026-01-02T03:04:05Z"}))
                .await
                .expect(201);
            app.post(
                &format!("/v1/leads/{lead}/transition"),
                token,
                json!({"to": "QUALIFIED"}),
            )
            .await
            .expect(200);
            app.patch(
                &format!("/v1/customers/{customer}"),
                token,
                json!({"last_name": format!("Renamed {i}"), "notes": "n"}),
            )
            .await
            .expect(200);
            app.post(
                &format!("/v1/customers/{customer}/tags"),
                token,
                json!({"tag": "moved"}),
            )
            .await
            .expect(200);
        }
    }
    // Quotes, invoices, the ledger and operations have no write side here yet: their
    // events go straight into the event store.
    crate::sales_read::feed_a_sale(&app, "acme").await;
    crate::sales_read::feed_a_sale(&app, "globex").await;
    // Likewise equipment, assignments and inventory (with a transfer).
    for tenant in ["acme", "globex"] {
        let fleet = crate::ops_read::feed_operations(&app, tenant).await;
        crate::ops_read::feed_a_transfer(&app, tenant, &fleet).await;
    }
    // The staff directory and the dispatch board.
    for tenant in ["acme", "globex"] {
        let admin = app.token(tenant, Role::Admin);
        app.request(
            reqwest::Method::PUT,
            "/v1/tenant/profile",
            Some(&admin),
            Some(json!({"company_name": format!("{tenant} movers"),
                        "locations": [{"location_id": "tor-1", "name": "Toronto"}]})),
            &[],
        )
        .await
        .expect(200);
        let user = uuid::Uuid::new_v4();
        app.post(
            "/v1/staff",
            &admin,
            json!({"user_id": user, "display_name": "Dana", "crew_roles": ["DRIVER"], "email": "dana@example.com"}),
        )
        .await
        .expect(201);
        let start = chrono::Utc::now() + chrono::Duration::days(2);
        let schedule = app
            .post(
                "/v1/schedules",
                &admin,
                json!({"location_id": "tor-1", "title": "Move", "type": "JOURNEY",
                       "starts_at": start.to_rfc3339(), "ends_at": (start + chrono::Duration::hours(4)).to_rfc3339(),
                       "crew": [{"user_id": user, "role": "DRIVER"}]}),
            )
            .await;
        schedule.expect(201);
        app.post(
            &format!("/v1/schedules/{}/crew/{user}/accept", schedule.id()),
            &app.token_for(tenant, user, Role::Crew),
            json!({}),
        )
        .await
        .expect(200);
        app.post(
            "/v1/availability",
            &admin,
            json!({"user_id": user, "type": "VACATION",
                   "starts_at": (start + chrono::Duration::days(3)).to_rfc3339(),
                   "ends_at": (start + chrono::Duration::days(4)).to_rfc3339()}),
        )
        .await
        .expect(201);
        app.post("/v1/calendar/feed-tokens", &admin, json!({"user_id": user}))
            .await
            .expect(201);
        // A dashboard, edited, and its owner's default.
        let dashboard = app
            .post(
                "/v1/dashboards",
                &admin,
                json!({"name": "Board", "is_default": true,
                       "widgets": [{"id": "l", "kind": "kpi", "metric": "new_leads"}]}),
            )
            .await;
        dashboard.expect(201);
        app.patch(
            &format!("/v1/dashboards/{}", dashboard.id()),
            &admin,
            json!({"is_public": true}),
        )
        .await
        .expect(200);
        // Message templates and their versions.
        let template = app
            .post(
                "/v1/templates",
                &admin,
                json!({"name": format!("Reminder {tenant}"), "type": "SMS",
                       "content": "Hi {{ customer.first_name }}, see you {{ when }}",
                       "variables": [{"name": "when", "required": true}], "tags": ["reminder"]}),
            )
            .await;
        template.expect(201);
        app.patch(
            &format!("/v1/templates/{}", template.id()),
            &admin,
            json!({"content": "Hello {{ customer.first_name }}, see you {{ when }}"}),
        )
        .await
        .expect(200);
        // An automated rule, and a lead it is due for.
        let welcome = app
            .post(
                "/v1/templates",
                &admin,
                json!({"name": "Welcome", "type": "SMS", "content": "Welcome, {{ customer.first_name }}"}),
            )
            .await;
        welcome.expect(201);
        app.post(
            "/v1/communication-rules",
            &admin,
            json!({"name": "Welcome", "trigger": "LEAD_CREATED", "template_id": welcome.id(),
                   "channel": "SMS", "timing": {"kind": "AFTER_EVENT", "minutes": 1440}}),
        )
        .await
        .expect(201);
        app.settle().await;
        let customer = app
            .customer(&admin, &format!("rule-{tenant}@example.com"))
            .await;
        app.lead(&admin, &customer).await;
        // A message queued for the sender (which these tests leave off).
        app.post(
            "/v1/communications",
            &admin,
            json!({"type": "SMS", "recipient": "+15145550100", "content": "See you at 8", "send": true}),
        )
        .await
        .expect(201);
    }
    app.settle().await;
    let worker = app.webhook_worker(
        Arc::new(outbound::ManualClock::new(chrono::Utc::now())),
        processes::webhooks::WorkerConfig::default(),
    );
    assert!(!worker.run_once().await.unwrap().is_empty());
    // A saved report with a run (its file in report_files).
    let report = app
        .post(
            "/v1/reports",
            &admin,
            json!({"name": "Stock", "parameters": {"report": "inventory_valuation"}, "format": "CSV"}),
        )
        .await;
    report.expect(201);
    app.post(
        &format!("/v1/reports/{}/generate", report.id()),
        &admin,
        json!({}),
    )
    .await
    .expect(202);
    app.settle().await;
    let reports = app.report_worker(Arc::new(outbound::ManualClock::new(chrono::Utc::now())));
    assert_eq!(reports.run_once().await.unwrap().generated, 1);
    app.settle().await;
    let live = dump_read_models(&app).await;
    assert!(
        live.iter().all(|(_, rows)| !rows.is_empty()),
        "every table has rows"
    );

    // Readers keep getting answers while the rebuilds run.
    let reader = {
        let (client, base, token) = (app.client.clone(), app.base.clone(), admin.clone());
        tokio::spawn(async move {
            let mut answered = 0;
            for _ in 0..40 {
                let status = client
                    .get(format!("{base}/v1/customers"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 200, "queries keep working during a rebuild");
                answered += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            answered
        })
    };
    let config = ProjectorConfig::new(&app.env.config.nats_stream, &app.env.config.subject_prefix);
    for projection in projections::all(app.env.infra.keystore.clone()) {
        let progress = AtomicU64::new(0);
        let report = projections::rebuild(
            app.pool(),
            app.env.js(),
            &config,
            projection.as_ref(),
            &|applied, _| {
                progress.store(applied, Ordering::SeqCst);
            },
        )
        .await
        .unwrap();
        assert_eq!(report.last_seq, app.env.stream_head().await);
        assert_eq!(
            progress.load(Ordering::SeqCst),
            report.last_seq,
            "progress reached the end"
        );
    }
    assert_eq!(reader.await.unwrap(), 40);
    assert_eq!(
        dump_read_models(&app).await,
        live,
        "rebuilt tables equal the live ones"
    );
    // The batch paths (live batches and rebuilds use them) agree with the
    // events applied one by one.
    for projection in projections::all(app.env.infra.keystore.clone()) {
        projections::rebuild(
            app.pool(),
            app.env.js(),
            &config,
            &OneByOne(projection),
            &|_, _| {},
        )
        .await
        .unwrap();
    }
    assert_eq!(
        dump_read_models(&app).await,
        live,
        "tables built event by event equal the batched ones"
    );

    // The live projectors carry on with the swapped-in tables.
    let customer = app.customer(&admin, "after-rebuild@example.com").await;
    app.get(&format!("/v1/customers/{customer}?min_version=1"), &admin)
        .await
        .expect(200);
    app.settle().await;
    let leftovers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(leftovers, 0, "staging schemas are dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_type_stops_the_projections_that_read_its_aggregate() {
    let env = TestEnv::new().await;
    // A newer writer's event this build does not know, published directly.
    let event = json!({
        "specversion": "1.0", "id": uuid::Uuid::new_v4(), "source": "/tenants/acme/Customer",
        "type": "CustomerTeleported", "subject": uuid::Uuid::new_v4().to_string(),
        "time": "2026-01-01T00:00:00Z", "datacontenttype": "application/json",
        "dataschema": "urn:crm:event:CustomerTeleported:1.0", "data": {"to": "Mars"},
        "tenant": "acme", "aggregatetype": "Customer", "aggregateid": "x", "sequence": 2,
        "eventversion": "1.0", "position": 1, "correlationid": "c", "causationid": "c",
        "commandid": "c", "actor": "a", "actorrole": "admin"
    });
    env.js()
        .publish(
            format!(
                "{}.events.acme.Customer.CustomerTeleported",
                env.config.subject_prefix
            ),
            serde_json::to_vec(&event).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let mut handles = Vec::new();
    for projection in projections::all(env.infra.keystore.clone()) {
        handles.push(start_projector(&env, projection));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let customers = checkpoint(env.pool(), "customers").await;
        let leads = checkpoint(env.pool(), "leads").await;
        let timeline = checkpoint(env.pool(), "lead_timeline").await;
        let audit = checkpoint(env.pool(), "audit_trail").await;
        if customers.1 == "failed" && leads.1 == "failed" && timeline.0 == 1 && audit.0 == 1 {
            // Customer readers stop at it; the lead timeline does not read
            // customers and the audit trail records any event.
            assert_eq!(customers.0, 0);
            assert_eq!(leads.0, 0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "unexpected states: {customers:?} {leads:?} {timeline:?} {audit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let error: String =
        sqlx::query_scalar("SELECT error FROM projection_checkpoints WHERE name = 'customers'")
            .fetch_one(env.pool())
            .await
            .unwrap();
    assert!(error.contains("CustomerTeleported"), "{error}");
    for (handle, stop) in handles {
        stop.cancel();
        handle.await.unwrap();
    }
}

/// Reads lead events only: every customer event is one it ignores.
struct LeadsOnly;

#[async_trait::async_trait]
impl Projection for LeadsOnly {
    fn name(&self) -> &'static str {
        "leads_only"
    }
    fn version(&self) -> i32 {
        1
    }
    fn tables(&self) -> &'static [&'static str] {
        &["leads_only"]
    }
    fn ddl(&self) -> &'static str {
        "CREATE TABLE leads_only (seq bigint PRIMARY KEY)"
    }
    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if event.typed::<event_schemas::lead::LeadEvent>()?.is_none() {
            return Ok(());
        }
        sqlx::query("INSERT INTO leads_only (seq) VALUES ($1)")
            .bind(event.stream_seq as i64)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_a_projection_ignores_costs_it_no_statement_of_its_own() {
    let app = app_without_projectors().await;
    // Every statement that moves checkpoints, with the transaction it ran
    // in and how many checkpoints it moved (a worker's start-up writes move
    // none).
    sqlx::raw_sql(
        "CREATE TABLE public.checkpoint_writes (txid xid8 NOT NULL, moved bigint NOT NULL);
         CREATE FUNCTION log_checkpoint_writes() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO public.checkpoint_writes
             SELECT pg_current_xact_id(), count(*) FROM moved JOIN before USING (name)
              WHERE moved.last_seq <> before.last_seq
             HAVING count(*) > 0;
             RETURN NULL;
         END $$;
         CREATE TRIGGER log_checkpoint_writes AFTER UPDATE ON public.projection_checkpoints
             REFERENCING OLD TABLE AS before NEW TABLE AS moved FOR EACH STATEMENT EXECUTE FUNCTION log_checkpoint_writes();",
    )
    .execute(app.pool())
    .await
    .unwrap();
    let head = publish_customers(&app, 12).await as i64;
    let mut config =
        ProjectorConfig::new(&app.env.config.nats_stream, &app.env.config.subject_prefix);
    config.standby_retry = Duration::from_millis(50);
    let stop = CancellationToken::new();
    let group = tokio::spawn(projections::run_projectors(
        app.pool().clone(),
        app.env.js().clone(),
        config,
        vec![
            Arc::new(Recorder::new("everything")) as Arc<dyn Projection>,
            Arc::new(LeadsOnly),
        ],
        stop.clone(),
    ));
    // The projection that ignores every event is at the head all the same.
    wait_for_checkpoint(app.pool(), "everything", head).await;
    wait_for_checkpoint(app.pool(), "leads_only", head).await;
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM read.leads_only")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(written, 0, "no customer event is written by leads_only");
    // Its checkpoint moved with the other's, in the batch's one statement:
    // one checkpoint write per batch, whatever the number of projections.
    let (statements, transactions, fewest, most): (i64, i64, Option<i64>, Option<i64>) =
        sqlx::query_as(
            "SELECT count(*), count(DISTINCT txid::text), min(moved), max(moved) FROM public.checkpoint_writes",
        )
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(statements >= 1);
    assert_eq!(statements, transactions, "one checkpoint write per batch");
    assert_eq!(
        (fewest, most),
        (Some(2), Some(2)),
        "each moved both projections"
    );

    // A lead event is the one it writes.
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "lead@example.com").await;
    app.lead(&admin, &customer).await;
    // One registration and one lead opened.
    let head = head + 2;
    wait_for_checkpoint(app.pool(), "leads_only", head).await;
    let written: Vec<i64> = sqlx::query_scalar("SELECT seq FROM read.leads_only")
        .fetch_all(app.pool())
        .await
        .unwrap();
    assert_eq!(written, vec![head], "only the lead event");
    stop.cancel();
    group.await.unwrap();
}
