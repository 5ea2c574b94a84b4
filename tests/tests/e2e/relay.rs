//! The relay: every committed event reaches the stream exactly once, in
//! commit order, whatever happens to the relay.

use std::time::Duration;

use command_api::relay::{self, RelayConfig};
use crm_tests::TestEnv;
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
    let mut config = RelayConfig::new(&env.config.nats_stream, &env.config.subject_prefix);
    config.relay_id = id.to_owned();
    config.standby_retry = Duration::from_millis(50);
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
