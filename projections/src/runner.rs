//! The live projector loop of one projection.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use futures::{FutureExt, StreamExt};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::{
    LIVE_SCHEMA, ProjectedEvent, Projection, ProjectionError, READ_MODEL_CHANNEL, create_tables,
    use_schema,
};

#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    pub stream: String,
    pub subject_prefix: String,
    /// Messages applied per transaction, at most.
    pub batch_size: usize,
    /// How often a standby worker retries the projection's lock, and a failed
    /// projection checks whether it was reset.
    pub standby_retry: Duration,
}

impl ProjectorConfig {
    pub fn new(stream: impl Into<String>, subject_prefix: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            subject_prefix: subject_prefix.into(),
            batch_size: 256,
            standby_retry: Duration::from_secs(1),
        }
    }

    pub fn consumer_name(projection: &str) -> String {
        format!("proj-{projection}")
    }

    pub fn filter_subject(&self) -> String {
        format!("{}.events.>", self.subject_prefix)
    }
}

pub(crate) fn lock_key(projection: &str) -> String {
    format!("crm-projection:{projection}")
}

/// Runs the projection until `shutdown`: standby until it holds the
/// projection's lock, then live.
pub async fn run_projector(
    pool: PgPool,
    js: jetstream::Context,
    config: ProjectorConfig,
    projection: Arc<dyn Projection>,
    shutdown: CancellationToken,
) {
    let options = (*pool.connect_options()).clone();
    let name = projection.name();
    let mut backoff = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        match work(
            &options,
            &pool,
            &js,
            &config,
            projection.as_ref(),
            &shutdown,
        )
        .await
        {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(projection = name, error = %e, "projector interrupted; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Holds the lock on a dedicated connection for as long as the worker lives.
async fn acquire(
    options: &PgConnectOptions,
    key: &str,
    retry: Duration,
    shutdown: &CancellationToken,
) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    loop {
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(key)
                .fetch_one(&mut conn)
                .await?;
        if locked {
            return Ok(Some(conn));
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(retry) => {}
        }
    }
}

#[derive(Debug)]
struct Checkpoint {
    last_seq: i64,
    state: String,
    schema_version: i32,
}

async fn read_checkpoint(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Checkpoint>, sqlx::Error> {
    let row: Option<(i64, String, i32)> = sqlx::query_as(
        "SELECT last_seq, state, schema_version FROM projection_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(last_seq, state, schema_version)| Checkpoint {
        last_seq,
        state,
        schema_version,
    }))
}

async fn tables_exist(
    conn: &mut PgConnection,
    projection: &dyn Projection,
) -> Result<bool, sqlx::Error> {
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = ANY($2)",
    )
    .bind(LIVE_SCHEMA)
    .bind(projection.tables())
    .fetch_one(&mut *conn)
    .await?;
    Ok(found == projection.tables().len() as i64)
}

/// Creates the live tables of `projections` that do not exist yet, with a
/// checkpoint at 0, so queries never meet a missing table — also in a
/// process that runs no projector. Existing tables are left alone (a
/// projector rebuilds them if their version is stale).
pub async fn install(
    pool: &PgPool,
    projections: &[Arc<dyn Projection>],
) -> Result<(), ProjectionError> {
    let mut conn = pool.acquire().await?;
    for projection in projections {
        let mut tx = conn.begin().await?;
        // Serializes with other processes installing at the same moment.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("crm-projection-install:{}", projection.name()))
            .execute(&mut *tx)
            .await?;
        if !tables_exist(&mut tx, projection.as_ref()).await?
            && read_checkpoint(&mut tx, projection.name()).await?.is_none()
        {
            create_tables(&mut tx, projection.as_ref(), LIVE_SCHEMA).await?;
            sqlx::query(
                "INSERT INTO projection_checkpoints (name, last_seq, state, schema_version) VALUES ($1, 0, 'running', $2)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(projection.name())
            .bind(projection.version())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Makes sure the projection's live tables exist at this build's version:
/// creates them when the projection is new, rebuilds them from the stream
/// when the stored version differs.
pub async fn prepare(
    conn: &mut PgConnection,
    pool: &PgPool,
    js: &jetstream::Context,
    config: &ProjectorConfig,
    projection: &dyn Projection,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let checkpoint = read_checkpoint(conn, name).await?;
    let exists = tables_exist(conn, projection).await?;
    match checkpoint {
        Some(c) if c.schema_version == projection.version() && exists => Ok(()),
        Some(c) if c.last_seq > 0 || exists => {
            tracing::info!(
                projection = name,
                stored = c.schema_version,
                current = projection.version(),
                "projection changed; rebuilding"
            );
            crate::rebuild::rebuild(pool, js, config, projection, &|_, _| {})
                .await
                .map(|_| ())
        }
        _ => {
            let mut tx = conn.begin().await?;
            create_tables(&mut tx, projection, LIVE_SCHEMA).await?;
            sqlx::query(
                "INSERT INTO projection_checkpoints (name, last_seq, state, schema_version) VALUES ($1, 0, 'running', $2)
                 ON CONFLICT (name) DO UPDATE SET last_seq = 0, state = 'running', error = NULL, failed_seq = NULL,
                     schema_version = EXCLUDED.schema_version, updated_at = now()",
            )
            .bind(name)
            .bind(projection.version())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

async fn work(
    options: &PgConnectOptions,
    pool: &PgPool,
    js: &jetstream::Context,
    config: &ProjectorConfig,
    projection: &dyn Projection,
    shutdown: &CancellationToken,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let Some(mut conn) = acquire(options, &lock_key(name), config.standby_retry, shutdown).await?
    else {
        return Ok(());
    };
    tracing::info!(projection = name, "projector is live");
    prepare(&mut conn, pool, js, config, projection).await?;
    let stream = js
        .get_stream(&config.stream)
        .await
        .map_err(|e| ProjectionError::Nats(e.to_string()))?;

    'consumer: loop {
        // A failed projection waits until someone resets it (rebuild or retry).
        let checkpoint = loop {
            let c = read_checkpoint(&mut conn, name).await?.ok_or_else(|| {
                ProjectionError::Stopped(format!("checkpoint of {name} vanished"))
            })?;
            if c.state != "failed" {
                break c;
            }
            metrics::gauge!("projection_failed", "projection" => name).set(1.0);
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(config.standby_retry) => {}
            }
        };
        metrics::gauge!("projection_failed", "projection" => name).set(0.0);
        let consumer =
            start_consumer(&stream, config, name, checkpoint.last_seq as u64 + 1).await?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(config.batch_size)
            .messages()
            .await
            .map_err(|e| ProjectionError::Nats(e.to_string()))?;

        loop {
            // Wait for one message, then take whatever else has already
            // arrived: batches grow under load, latency stays low when idle.
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let Some(first) = first else {
                continue 'consumer;
            };
            let mut batch = vec![first.map_err(|e| ProjectionError::Nats(e.to_string()))?];
            while batch.len() < config.batch_size {
                match messages.next().now_or_never() {
                    Some(Some(Ok(message))) => batch.push(message),
                    Some(Some(Err(e))) => return Err(ProjectionError::Nats(e.to_string())),
                    Some(None) | None => break,
                }
            }
            let mut events = Vec::with_capacity(batch.len());
            for message in &batch {
                let seq = message
                    .info()
                    .map_err(|e| ProjectionError::Nats(e.to_string()))?
                    .stream_sequence;
                events.push((seq, message.payload.as_ref()));
            }
            match apply_batch(&mut conn, projection, &events).await? {
                BatchOutcome::Applied => {
                    for message in &batch {
                        message
                            .ack()
                            .await
                            .map_err(|e| ProjectionError::Nats(e.to_string()))?;
                    }
                }
                BatchOutcome::Gap { expected, got } => {
                    let first = stream_first_seq(&stream).await?;
                    if first > expected {
                        let reason = format!(
                            "the stream no longer holds events {expected}..{}; rebuild the projection",
                            first - 1
                        );
                        mark_failed(&mut conn, name, expected as i64, &reason).await?;
                    } else {
                        tracing::warn!(
                            projection = name,
                            expected,
                            got,
                            "out-of-order delivery; restarting the consumer at the checkpoint"
                        );
                    }
                    continue 'consumer;
                }
                BatchOutcome::Failed { seq, error } => {
                    // Keep what precedes the bad event, so the read model is
                    // as complete as it can be and the failure is exact.
                    let before: Vec<(u64, &[u8])> = events
                        .iter()
                        .copied()
                        .filter(|(s, _)| (*s as i64) < seq)
                        .collect();
                    if !before.is_empty()
                        && apply_batch(&mut conn, projection, &before).await?
                            == BatchOutcome::Applied
                    {
                        for message in batch.iter().take(before.len()) {
                            message
                                .ack()
                                .await
                                .map_err(|e| ProjectionError::Nats(e.to_string()))?;
                        }
                    }
                    tracing::error!(projection = name, seq, %error, "event cannot be applied; projection stopped");
                    mark_failed(&mut conn, name, seq, &error).await?;
                    continue 'consumer;
                }
            }
        }
    }
}

async fn stream_first_seq(stream: &jetstream::stream::Stream) -> Result<u64, ProjectionError> {
    let mut stream = stream.clone();
    Ok(stream
        .info()
        .await
        .map_err(|e| ProjectionError::Nats(e.to_string()))?
        .state
        .first_sequence)
}

/// (Re)creates the projection's durable consumer starting right after the
/// checkpoint: Postgres, not the consumer's ack floor, says where to resume.
async fn start_consumer(
    stream: &jetstream::stream::Stream,
    config: &ProjectorConfig,
    name: &str,
    start: u64,
) -> Result<jetstream::consumer::Consumer<pull::Config>, ProjectionError> {
    let durable = ProjectorConfig::consumer_name(name);
    let _ = stream.delete_consumer(&durable).await;
    stream
        .create_consumer(pull::Config {
            durable_name: Some(durable),
            description: Some(format!("projection {name}")),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 20_000,
            filter_subject: config.filter_subject(),
            ..Default::default()
        })
        .await
        .map_err(|e| ProjectionError::Nats(e.to_string()))
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Applied (events at or below the checkpoint skipped); ack the batch.
    Applied,
    /// A sequence is missing; nothing was applied.
    Gap { expected: u64, got: u64 },
    /// The event at `seq` cannot be applied; nothing was applied.
    Failed { seq: i64, error: String },
}

/// Applies a batch of `(stream sequence, message payload)` in one
/// transaction with the checkpoint. Events at or below the checkpoint are
/// skipped (redelivery); a sequence that is not the checkpoint's successor
/// is a gap and applies nothing; a transient error rolls everything back.
pub async fn apply_batch(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    batch: &[(u64, &[u8])],
) -> Result<BatchOutcome, ProjectionError> {
    let name = projection.name();
    let mut tx = conn.begin().await?;
    use_schema(&mut tx, LIVE_SCHEMA).await?;
    let (mut last, state): (i64, String) = sqlx::query_as(
        "SELECT last_seq, state FROM public.projection_checkpoints WHERE name = $1 FOR UPDATE",
    )
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    if state == "failed" {
        return Ok(BatchOutcome::Failed {
            seq: last + 1,
            error: "the projection was marked failed".into(),
        });
    }
    let before = last;
    for &(seq, payload) in batch {
        if seq as i64 <= last {
            continue; // Redelivered and already applied.
        }
        if seq as i64 != last + 1 {
            return Ok(BatchOutcome::Gap {
                expected: last as u64 + 1,
                got: seq,
            });
        }
        let event = match decode(seq, payload) {
            Ok(event) => event,
            Err(e) => {
                return Ok(BatchOutcome::Failed {
                    seq: seq as i64,
                    error: e.to_string(),
                });
            }
        };
        match projection.apply(&mut tx, &event).await {
            Ok(()) => last = seq as i64,
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                return Ok(BatchOutcome::Failed {
                    seq: seq as i64,
                    error: e.to_string(),
                });
            }
        }
    }
    if last > before {
        sqlx::query("UPDATE public.projection_checkpoints SET last_seq = $2, updated_at = now() WHERE name = $1")
            .bind(name)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(READ_MODEL_CHANNEL)
            .bind(format!("{name}:{last}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    metrics::counter!("projection_events_applied_total", "projection" => name)
        .increment((last - before) as u64);
    Ok(BatchOutcome::Applied)
}

pub(crate) fn decode(seq: u64, payload: &[u8]) -> Result<ProjectedEvent, ProjectionError> {
    let event = serde_json::from_slice(payload).map_err(|e| {
        ProjectionError::Decode(format!("stream message {seq} is not a CloudEvent: {e}"))
    })?;
    Ok(ProjectedEvent {
        stream_seq: seq,
        event,
    })
}

async fn mark_failed(
    conn: &mut PgConnection,
    name: &str,
    seq: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints SET state = 'failed', error = $3, failed_seq = $2, updated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(seq)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Clears a failed projection so its worker tries the event again (after a
/// fix was deployed). `crm projections retry NAME`.
pub async fn retry(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE projection_checkpoints SET state = 'running', error = NULL, failed_seq = NULL, updated_at = now()
          WHERE name = $1 AND state = 'failed'",
    )
    .bind(name)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}
