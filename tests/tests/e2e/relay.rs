//! The relay: every committed event reaches the stream exactly once, in
//! commit order, whatever happens to the relay.

use std::time::Duration;

use crm_tests::TestEnv;
use relay::{self, RelayConfig};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Inserts one event row the way postgres-es does (our extra columns take
/// their defaults) and returns its event id.
async fn insert_event(conn: &mut PgConnection, aggregate_id: Uuid, sequence: i64) -> Uuid {
    let metadata = json!({
        "tenant_id": "acme", "user_id": Uuid::nil(), "role": "admin",
        "correlation_id": "test", "causation_id": "test", "command_id": Uuid::nil(),
        "recorded_at": "2026-01-01T00:00:00Z",
    });
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Customer', $1, $2, 'CustomerTagged', '1.0', $3, $4) RETURNING event_id",
    )
    .bind(aggregate_id.to_string())
    .bind(sequence)
    .bind(json!({"CustomerTagged": {"tag": format!("t{sequence}")}}))
    .bind(metadata)
    .fetch_one(conn)
    .await
    .expect("event inserted")
}

async fn insert_committed(pool: &PgPool, aggregate_id: Uuid, sequence: i64) -> Uuid {
    let mut conn = pool.acquire().await.unwrap();
    insert_event(&mut conn, aggregate_id, sequence).await
}

fn start_relay(env: &TestEnv, id: &str) -> (JoinHandle<()>, CancellationToken) {
    start_relay_with(env, id, usize::MAX)
}

fn start_relay_with(
    env: &TestEnv,
    id: &str,
    max_message_bytes: usize,
) -> (JoinHandle<()>, CancellationToken) {
    let mut config = RelayConfig::new(&env.config.nats_stream, &env.config.subject_prefix);
    config.relay_id = id.to_owned();
    config.standby_retry = Duration::from_millis(50);
    config.failed_poll = Duration::from_millis(50);
    config.max_message_bytes = max_message_bytes;
    let token = CancellationToken::new();
    let handle = tokio::spawn(relay::run(
        env.pool().clone(),
        env.js().clone(),
        config,
        token.clone(),
    ));
    (handle, token)
}

/// The events table in commit order (the relay's order).
async fn commit_order(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT event_id FROM events ORDER BY txid, position")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn wait_for_stream(env: &TestEnv, count: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while env.stream_head().await < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream did not reach {count} messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stream holds exactly the events table, once each, in commit order.
async fn assert_stream_matches_store(env: &TestEnv) {
    let expected = commit_order(env.pool()).await;
    let messages = env.stream_messages().await;
    let published: Vec<Uuid> = messages.iter().map(|(_, event, _)| event.id).collect();
    assert_eq!(
        published, expected,
        "stream = events in commit order, each once"
    );
    for (_, event, msg_id) in &messages {
        assert_eq!(
            msg_id.as_deref(),
            Some(event.id.to_string().as_str()),
            "Nats-Msg-Id is the event id"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_with_a_lower_position_is_still_published_first() {
    let env = TestEnv::new().await;
    let (relay, stop) = start_relay(&env, "relay-a");

    // A takes the lower position and transaction id, but commits last.
    let mut slow = env.pool().begin().await.unwrap();
    let a = insert_event(&mut slow, Uuid::new_v4(), 1).await;
    let b = insert_committed(env.pool(), Uuid::new_v4(), 1).await;
    let positions: Vec<i64> = sqlx::query_scalar("SELECT position FROM events ORDER BY position")
        .fetch_all(env.pool())
        .await
        .unwrap();
    assert_eq!(positions.len(), 1, "only B is committed so far");

    // B is committed and visible, but A might still commit before it in the
    // relay's order: B must wait.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        env.stream_head().await,
        0,
        "B waits while A's transaction is open"
    );

    slow.commit().await.unwrap();
    wait_for_stream(&env, 2).await;
    let published: Vec<Uuid> = env
        .stream_messages()
        .await
        .iter()
        .map(|(_, e, _)| e.id)
        .collect();
    assert_eq!(published, vec![a, b]);
    assert_stream_matches_store(&env).await;

    stop.cancel();
    relay.await.unwrap();
}

/// A connection named like the projectors' (their transactions write read
/// models, never events).
async fn projector_connection(env: &TestEnv) -> PgConnection {
    use sqlx::Connection;
    let options = env
        .pool()
        .connect_options()
        .as_ref()
        .clone()
        .application_name(projections::DERIVED_APPLICATION_NAME);
    PgConnection::connect_with(&options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_transaction_does_not_hold_back_publishing_but_an_event_writer_does() {
    assert_eq!(
        projections::DERIVED_APPLICATION_NAME,
        relay::DERIVED_APPLICATION_NAME
    );
    let env = TestEnv::new().await;
    let (relay, stop) = start_relay(&env, "relay-a");
    // A projector's batch is open and has written (it has a transaction id
    // older than the event below).
    let mut projector = projector_connection(&env).await;
    sqlx::query("BEGIN").execute(&mut projector).await.unwrap();
    let held: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(&mut projector)
        .await
        .unwrap();
    let a = insert_committed(env.pool(), Uuid::new_v4(), 1).await;
    let txid_a: i64 =
        sqlx::query_scalar("SELECT txid::text::bigint FROM events WHERE event_id = $1")
            .bind(a)
            .fetch_one(env.pool())
            .await
            .unwrap();
    assert!(
        held < txid_a,
        "the projector's transaction is the older one"
    );
    // Published while the projector's transaction is still open.
    wait_for_stream(&env, 1).await;

    // Any other open transaction with an older id still holds the event back
    // (it might be writing an event that comes first in commit order).
    let mut other = env.pool().acquire().await.unwrap();
    sqlx::query("BEGIN").execute(&mut *other).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *other)
        .await
        .unwrap();
    insert_committed(env.pool(), Uuid::new_v4(), 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(env.stream_head().await, 1, "held back by the open writer");
    sqlx::query("COMMIT").execute(&mut *other).await.unwrap();
    sqlx::query("COMMIT").execute(&mut projector).await.unwrap();
    wait_for_stream(&env, 2).await;
    assert_stream_matches_store(&env).await;
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_connection_cannot_write_events() {
    let env = TestEnv::new().await;
    let mut projector = projector_connection(&env).await;
    let metadata = json!({"tenant_id": "acme"});
    let refused = sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Customer', $1, 1, 'CustomerTagged', '1.0', '{\"CustomerTagged\": {\"tag\": \"x\"}}', $2)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(metadata)
    .execute(&mut projector)
    .await
    .expect_err("refused");
    let code = refused
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("CRM04"), "{refused}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_relay_at_random_moments_loses_and_duplicates_nothing() {
    let env = TestEnv::new().await;
    const EVENTS: i64 = 400;
    let pool = env.pool().clone();
    let writer = tokio::spawn(async move {
        // Several aggregates written by concurrent transactions.
        let writers = (0..4).map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let aggregate = Uuid::new_v4();
                for seq in 1..=EVENTS / 4 {
                    insert_committed(&pool, aggregate, seq).await;
                    if seq % 10 == w {
                        tokio::time::sleep(Duration::from_millis(3)).await;
                    }
                }
            })
        });
        futures::future::join_all(writers).await;
    });

    // Start and kill relays while the writers run.
    let mut kills = 0;
    let mut delay = 7u64;
    while !writer.is_finished() {
        let (relay, _) = start_relay(&env, &format!("relay-{kills}"));
        delay = (delay * 31 + 11) % 90 + 5;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        relay.abort();
        let _ = relay.await;
        kills += 1;
    }
    assert!(kills >= 3, "the relay was killed several times ({kills})");

    let (relay, stop) = start_relay(&env, "relay-final");
    wait_for_stream(&env, EVENTS as u64).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_stream_matches_store(&env).await;
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_lost_after_the_pub_ack_republishes_nothing_twice() {
    let env = TestEnv::new().await;
    let aggregate = Uuid::new_v4();
    for seq in 1..=20 {
        insert_committed(env.pool(), aggregate, seq).await;
    }
    let (relay, stop) = start_relay(&env, "relay-a");
    wait_for_stream(&env, 20).await;
    stop.cancel();
    relay.await.unwrap();

    // As if the relay died after the PubAcks but before writing its checkpoint.
    sqlx::query(
        "UPDATE relay_checkpoints SET last_txid = '0', last_position = 0, last_stream_seq = 0",
    )
    .execute(env.pool())
    .await
    .unwrap();
    for seq in 21..=25 {
        insert_committed(env.pool(), aggregate, seq).await;
    }
    let (relay, stop) = start_relay(&env, "relay-b");
    wait_for_stream(&env, 25).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.stream_head().await, 25, "nothing published twice");
    assert_stream_matches_store(&env).await;
    let status = relay::status(env.pool(), &env.config.nats_stream)
        .await
        .unwrap();
    assert_eq!(status.unpublished, 0);
    assert_eq!(status.last_stream_seq, 25);
    stop.cancel();
    relay.await.unwrap();
}

async fn leader(env: &TestEnv) -> Option<String> {
    sqlx::query_scalar("SELECT leader FROM relay_checkpoints WHERE stream = $1")
        .bind(&env.config.nats_stream)
        .fetch_optional(env.pool())
        .await
        .unwrap()
        .flatten()
}

async fn relay_locks_held(env: &TestEnv) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND objid::bigint = (hashtextextended($1, 0) & x'FFFFFFFF'::bigint)",
    )
    .bind(format!("crm-relay:{}", env.config.nats_stream))
    .fetch_one(env.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_never_both_publish_and_the_standby_takes_over() {
    let env = TestEnv::new().await;
    let (first, stop_first) = start_relay(&env, "relay-one");
    let (second, stop_second) = start_relay(&env, "relay-two");
    let aggregate = Uuid::new_v4();
    for seq in 1..=100 {
        insert_committed(env.pool(), aggregate, seq).await;
    }
    wait_for_stream(&env, 100).await;
    assert_eq!(
        relay_locks_held(&env).await,
        1,
        "exactly one relay holds the lock"
    );
    let leader_before = leader(&env)
        .await
        .expect("a leader recorded its checkpoint");

    // Kill the leader; the standby must take over and carry on.
    let (dead, survivor) = if leader_before == "relay-one" {
        (first, (second, stop_second))
    } else {
        (second, (first, stop_first))
    };
    dead.abort();
    let _ = dead.await;
    for seq in 101..=150 {
        insert_committed(env.pool(), aggregate, seq).await;
    }
    wait_for_stream(&env, 150).await;
    let leader_after = leader(&env).await.unwrap();
    assert_ne!(leader_after, leader_before, "the standby took over");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_stream_matches_store(&env).await;
    assert_eq!(relay_locks_held(&env).await, 1);

    let (handle, stop) = survivor;
    stop.cancel();
    handle.await.unwrap();
    assert_eq!(
        relay_locks_held(&env).await,
        0,
        "stopping releases the lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_envelopes_carry_the_event_and_its_metadata_on_the_tenant_subject() {
    let env = TestEnv::new().await;
    let aggregate = Uuid::new_v4();
    let id = insert_committed(env.pool(), aggregate, 1).await;
    let (relay, stop) = start_relay(&env, "relay-a");
    wait_for_stream(&env, 1).await;
    let stream = env.js().get_stream(&env.config.nats_stream).await.unwrap();
    let message = stream.get_raw_message(1).await.unwrap();
    assert_eq!(
        message.subject.as_str(),
        format!(
            "{}.events.acme.Customer.CustomerTagged",
            env.config.subject_prefix
        )
    );
    let event: event_schemas::CloudEvent = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(event.specversion, "1.0");
    assert_eq!(event.id, id);
    assert_eq!(event.event_type, "CustomerTagged");
    assert_eq!(event.subject, aggregate.to_string());
    assert_eq!(event.sequence, 1);
    assert_eq!(event.data, json!({"tag": "t1"}));
    assert_eq!(event.tenant.as_str(), "acme");
    assert_eq!(event.correlationid, "test");
    assert_eq!(event.dataschema, "urn:crm:event:CustomerTagged:1.0");
    stop.cancel();
    relay.await.unwrap();
}

/// Inserts an event row with the given payload and metadata.
async fn insert_raw(
    pool: &PgPool,
    aggregate_id: Uuid,
    sequence: i64,
    payload: &str,
    metadata: serde_json::Value,
) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Customer', $1, $2, 'CustomerTagged', '1.0', $3::text::json, $4) RETURNING event_id",
    )
    .bind(aggregate_id.to_string())
    .bind(sequence)
    .bind(payload)
    .bind(metadata)
    .fetch_one(pool)
    .await
    .expect("event inserted")
}

fn metadata(tenant: &str) -> serde_json::Value {
    json!({
        "tenant_id": tenant, "user_id": Uuid::nil(), "role": "admin",
        "correlation_id": "test", "causation_id": "test", "command_id": Uuid::nil(),
        "recorded_at": "2026-01-01T00:00:00Z",
    })
}

async fn wait_for_relay_failure(env: &TestEnv) -> relay::RelayStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = relay::status(env.pool(), &env.config.nats_stream)
            .await
            .unwrap();
        if status.failure.is_some() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never reported a failure: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_data_is_forwarded_as_stored_without_parsing() {
    let env = TestEnv::new().await;
    // Deeper than serde_json's recursion limit (128): parsing it would fail.
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let payload = format!(r#"{{"CustomerTagged": {{"tag": "deep", "extra": {deep}}}}}"#);
    let id = insert_raw(env.pool(), Uuid::new_v4(), 1, &payload, metadata("acme")).await;
    let (relay, stop) = start_relay(&env, "relay-a");
    wait_for_stream(&env, 1).await;
    let stream = env.js().get_stream(&env.config.nats_stream).await.unwrap();
    let message = stream.get_raw_message(1).await.unwrap();
    let body = std::str::from_utf8(&message.payload).unwrap();
    assert!(body.contains(&id.to_string()));
    assert!(body.contains(&deep), "the data travels as stored");
    let status = relay::status(env.pool(), &env.config.nats_stream)
        .await
        .unwrap();
    assert_eq!(status.state, "running");
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_too_large_to_publish_stops_the_relay_visibly_after_the_events_before_it() {
    let env = TestEnv::new().await;
    let aggregate = Uuid::new_v4();
    let first = insert_committed(env.pool(), aggregate, 1).await;
    let second = insert_committed(env.pool(), aggregate, 2).await;
    let big = format!(
        r#"{{"CustomerTagged": {{"tag": "{}"}}}}"#,
        "x".repeat(20_000)
    );
    let too_large = insert_raw(env.pool(), aggregate, 3, &big, metadata("acme")).await;
    let after = insert_committed(env.pool(), aggregate, 4).await;

    let (relay, stop) = start_relay_with(&env, "relay-a", 8 * 1024);
    let status = wait_for_relay_failure(&env).await;
    let failure = status.failure.clone().unwrap();
    assert_eq!(status.state, "failed");
    assert_eq!(failure.event.event_id, too_large);
    assert_eq!(failure.event.event_type, "CustomerTagged");
    assert!(
        failure.event.reason.contains("8192"),
        "{}",
        failure.event.reason
    );
    // Everything before it is published, nothing after it.
    let published: Vec<Uuid> = env
        .stream_messages()
        .await
        .iter()
        .map(|(_, e, _)| e.id)
        .collect();
    assert_eq!(published, vec![first, second]);
    assert_eq!(status.unpublished, 2, "{status:?}");
    // The operator's status report names the event and the way out.
    let projections = projections::status(env.pool(), env.js(), &env.config.nats_stream, &[])
        .await
        .unwrap();
    let report = crm::status::render(&status, &projections);
    assert!(report.contains("relay: FAILED"), "{report}");
    assert!(report.contains(&too_large.to_string()), "{report}");
    assert!(report.contains("crm relay retry"), "{report}");
    // It stays stopped (no retry loop publishing past it).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.stream_head().await, 2);
    stop.cancel();
    relay.await.unwrap();

    // A restarted relay stays stopped until the operator retries.
    let (relay, stop) = start_relay_with(&env, "relay-b", 1024 * 1024);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.stream_head().await, 2);
    assert!(
        relay::retry(env.pool(), &env.config.nats_stream)
            .await
            .unwrap()
    );
    wait_for_stream(&env, 4).await;
    let published: Vec<Uuid> = env
        .stream_messages()
        .await
        .iter()
        .map(|(_, e, _)| e.id)
        .collect();
    assert_eq!(published, vec![first, second, too_large, after]);
    let status = relay::status(env.pool(), &env.config.nats_stream)
        .await
        .unwrap();
    assert_eq!(status.state, "running");
    assert!(status.failure.is_none());
    assert!(
        !relay::retry(env.pool(), &env.config.nats_stream)
            .await
            .unwrap(),
        "nothing left to retry"
    );
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_with_metadata_that_is_not_valid_stops_the_relay_and_retries_count() {
    let env = TestEnv::new().await;
    let aggregate = Uuid::new_v4();
    let first = insert_committed(env.pool(), aggregate, 1).await;
    let bad = insert_raw(
        env.pool(),
        aggregate,
        2,
        r#"{"CustomerTagged": {"tag": "b"}}"#,
        metadata("Not A Tenant"),
    )
    .await;
    let (relay, stop) = start_relay(&env, "relay-a");
    let status = wait_for_relay_failure(&env).await;
    let failure = status.failure.unwrap();
    assert_eq!(failure.event.event_id, bad);
    assert!(
        failure.event.reason.contains("tenant"),
        "{}",
        failure.event.reason
    );
    assert_eq!(failure.attempts, 1);
    let published: Vec<Uuid> = env
        .stream_messages()
        .await
        .iter()
        .map(|(_, e, _)| e.id)
        .collect();
    assert_eq!(published, vec![first]);
    // A retry without a fix fails again on the same event, counted.
    assert!(
        relay::retry(env.pool(), &env.config.nats_stream)
            .await
            .unwrap()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = relay::status(env.pool(), &env.config.nats_stream)
            .await
            .unwrap();
        if status.failure.as_ref().is_some_and(|f| f.attempts == 2) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second attempt: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(env.stream_head().await, 1);
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_a_stopped_relay_and_the_event_that_stopped_it() {
    let app = crm_tests::TestApp::spawn().await;
    let ready = app
        .request(reqwest::Method::GET, "/readyz", None, None, &[])
        .await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(ready.body["relay"], "running");
    let bad = insert_raw(
        app.pool(),
        Uuid::new_v4(),
        1,
        r#"{"CustomerTagged": {"tag": "b"}}"#,
        metadata("NOT VALID"),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let ready = loop {
        let ready = app
            .request(reqwest::Method::GET, "/readyz", None, None, &[])
            .await;
        if ready.status == 503 {
            break ready;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never reported the stopped relay"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ready.body["relay"], "failed");
    assert_eq!(ready.body["relay_failure"]["event_id"], bad.to_string());
    assert_eq!(ready.body["postgres"], true);
}
