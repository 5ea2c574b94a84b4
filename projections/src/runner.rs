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

/// Runs one projection until `shutdown` (a group of one; see
/// [`run_projectors`]).
pub async fn run_projector(
    pool: PgPool,
    js: jetstream::Context,
    config: ProjectorConfig,
    projection: Arc<dyn Projection>,
    shutdown: CancellationToken,
) {
    run_projectors(pool, js, config, vec![projection], shutdown).await
}

/// Runs `projections` until `shutdown` behind one stream consumer: each
/// message is read and decoded once and handed to every projection, and a
/// batch is one transaction with a checkpoint per projection. A projection
/// is live while this worker holds its lock (other copies wait as
/// standbys, per projection); one that fails leaves the fan-out, marked
/// failed, while the others go on.
pub async fn run_projectors(
    pool: PgPool,
    js: jetstream::Context,
    config: ProjectorConfig,
    projections: Vec<Arc<dyn Projection>>,
    shutdown: CancellationToken,
) {
    let options = (*pool.connect_options()).clone();
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    let mut backoff = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        match work(&options, &pool, &js, &config, &projections, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(projections = ?names, error = %e, "projector interrupted; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Takes the projection's lock on `conn` (a session lock: held for as long
/// as the connection lives) if no other worker holds it.
async fn try_lock(conn: &mut PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(lock_key(name))
        .fetch_one(conn)
        .await
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

/// The projections this worker runs live, with what their checkpoints said
/// when the consumer started.
struct Members {
    /// Locked by this worker and prepared.
    held: Vec<Arc<dyn Projection>>,
    /// Held and not failed: the fan-out.
    live: Vec<Arc<dyn Projection>>,
    /// The lowest checkpoint among `live`.
    low: i64,
}

/// Takes the locks still free, prepares what it got, and reads where the
/// live ones stand.
async fn gather(
    conn: &mut PgConnection,
    pool: &PgPool,
    js: &jetstream::Context,
    config: &ProjectorConfig,
    projections: &[Arc<dyn Projection>],
    held: Vec<Arc<dyn Projection>>,
) -> Result<Members, ProjectionError> {
    let mut held = held;
    for projection in projections {
        let name = projection.name();
        if held.iter().any(|h| h.name() == name) || !try_lock(conn, name).await? {
            continue;
        }
        tracing::info!(projection = name, "projector is live");
        prepare(conn, pool, js, config, projection.as_ref()).await?;
        held.push(projection.clone());
    }
    let mut live = Vec::new();
    let mut low = i64::MAX;
    for projection in &held {
        let name = projection.name();
        let c = read_checkpoint(conn, name)
            .await?
            .ok_or_else(|| ProjectionError::Stopped(format!("checkpoint of {name} vanished")))?;
        let failed = c.state == "failed";
        metrics::gauge!("projection_failed", "projection" => name).set(if failed {
            1.0
        } else {
            0.0
        });
        if !failed {
            low = low.min(c.last_seq);
            live.push(projection.clone());
        }
    }
    Ok(Members { held, live, low })
}

/// Whether the membership must be gathered again: a lock this worker does
/// not hold came free, or a failed projection was reset.
async fn membership_changed(
    conn: &mut PgConnection,
    projections: &[Arc<dyn Projection>],
    members: &Members,
) -> Result<bool, ProjectionError> {
    for projection in projections {
        let name = projection.name();
        // A lock taken here stays taken (session locks stack); `gather`
        // takes it again and prepares the projection.
        if !members.held.iter().any(|h| h.name() == name) && try_lock(conn, name).await? {
            return Ok(true);
        }
    }
    if members.live.len() < members.held.len() {
        let failed: Vec<&str> = members
            .held
            .iter()
            .filter(|h| !members.live.iter().any(|l| l.name() == h.name()))
            .map(|h| h.name())
            .collect();
        let reset: bool = sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE state <> 'failed') > 0 FROM projection_checkpoints WHERE name = ANY($1)",
        )
        .bind(&failed)
        .fetch_one(&mut *conn)
        .await?;
        if reset {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn work(
    options: &PgConnectOptions,
    pool: &PgPool,
    js: &jetstream::Context,
    config: &ProjectorConfig,
    projections: &[Arc<dyn Projection>],
    shutdown: &CancellationToken,
) -> Result<(), ProjectionError> {
    // The locks live on this connection; batches run on it too. Its name
    // tells the relay that its transactions never write events.
    let options = options
        .clone()
        .application_name(crate::DERIVED_APPLICATION_NAME);
    let mut conn = PgConnection::connect_with(&options).await?;
    // A batch's commit does not wait for the disk: a batch lost with an
    // unflushed WAL loses its checkpoint with it (one transaction), so the
    // consumer, which starts from the checkpoints, applies it again
    // (decision 0020).
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut conn)
        .await?;
    let stream = js
        .get_stream(&config.stream)
        .await
        .map_err(|e| ProjectionError::Nats(e.to_string()))?;
    let mut held = Vec::new();
    let mut previous: Option<String> = None;

    'consumer: loop {
        let mut members = gather(&mut conn, pool, js, config, projections, held).await?;
        held = members.held.clone();
        if members.live.is_empty() {
            // Standby (no lock) or every projection failed: look again later.
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(config.standby_retry) => {}
            }
            continue 'consumer;
        }
        let mut expected = members.low as u64 + 1;
        if let Some(old) = previous.take() {
            // The server would drop it once idle; no need to wait for that.
            let _ = stream.delete_consumer(&old).await;
        }
        let consumer = start_consumer(&stream, config, expected).await?;
        previous = Some(consumer.cached_info().name.clone());
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(config.batch_size)
            .messages()
            .await
            .map_err(|e| ProjectionError::Nats(e.to_string()))?;
        let mut recheck = tokio::time::interval(config.standby_retry);
        recheck.tick().await;

        loop {
            // Wait for one message, then take whatever else has already
            // arrived: batches grow under load, latency stays low when idle.
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = recheck.tick() => {
                    if membership_changed(&mut conn, projections, &members).await? {
                        continue 'consumer;
                    }
                    continue;
                }
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
                if seq != expected {
                    let first = stream_first_seq(&stream).await?;
                    if first > expected {
                        let reason = format!(
                            "the stream no longer holds events {expected}..{}; rebuild the projection",
                            first - 1
                        );
                        for projection in &members.live {
                            mark_failed(&mut conn, projection.name(), expected as i64, &reason)
                                .await?;
                        }
                    } else {
                        tracing::warn!(
                            expected,
                            got = seq,
                            "out-of-order delivery; restarting the consumer at the checkpoints"
                        );
                    }
                    continue 'consumer;
                }
                expected += 1;
                // Decoded once, for every projection.
                events.push((seq, decode(seq, &message.payload)));
            }
            match apply_to_all(&mut conn, &members.live, &events).await? {
                GroupOutcome::Gap {
                    name,
                    expected,
                    got,
                } => {
                    tracing::warn!(
                        projection = name,
                        expected,
                        got,
                        "a checkpoint moved back; restarting the consumer at the checkpoints"
                    );
                    continue 'consumer;
                }
                GroupOutcome::Applied { failed } => {
                    record_lag(&events);
                    // One ack for the batch (AckPolicy::All).
                    if let Some(last) = batch.last() {
                        last.ack()
                            .await
                            .map_err(|e| ProjectionError::Nats(e.to_string()))?;
                    }
                    if !failed.is_empty() {
                        for f in &failed {
                            tracing::error!(projection = f.name, seq = f.seq, error = %f.error, "event cannot be applied; projection stopped");
                            metrics::gauge!("projection_failed", "projection" => f.name).set(1.0);
                        }
                        members
                            .live
                            .retain(|p| !failed.iter().any(|f| f.name == p.name()));
                        if members.live.is_empty() {
                            continue 'consumer;
                        }
                    }
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

/// A consumer of the whole stream starting at `start`. Postgres, not the
/// consumer, says where to resume, so it is ephemeral: the server removes
/// it once nobody pulls from it.
async fn start_consumer(
    stream: &jetstream::stream::Stream,
    config: &ProjectorConfig,
    start: u64,
) -> Result<jetstream::consumer::Consumer<pull::Config>, ProjectionError> {
    stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ack_policy: AckPolicy::All,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 20_000,
            inactive_threshold: Duration::from_secs(60),
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

/// Applies a batch of `(stream sequence, message payload)` to one
/// projection in one transaction with its checkpoint. Events at or below the
/// checkpoint are skipped (redelivery); a sequence that is not the
/// checkpoint's successor is a gap and applies nothing; a transient error
/// rolls everything back. An event that cannot be applied commits what
/// precedes it and marks the projection failed at it.
pub async fn apply_batch(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    batch: &[(u64, &[u8])],
) -> Result<BatchOutcome, ProjectionError> {
    let events: Vec<_> = batch
        .iter()
        .map(|&(seq, payload)| (seq, decode(seq, payload)))
        .collect();
    let one = [Borrowed(projection)];
    Ok(match apply_to_all(conn, &one, &events).await? {
        GroupOutcome::Gap { expected, got, .. } => BatchOutcome::Gap { expected, got },
        GroupOutcome::Applied { failed } => match failed.into_iter().next() {
            Some(f) => BatchOutcome::Failed {
                seq: f.seq,
                error: f.error,
            },
            None => BatchOutcome::Applied,
        },
    })
}

/// A projection taken by reference where the group takes `Arc`s.
struct Borrowed<'a>(&'a dyn Projection);

trait Member {
    fn projection(&self) -> &dyn Projection;
}

impl Member for Arc<dyn Projection> {
    fn projection(&self) -> &dyn Projection {
        self.as_ref()
    }
}

impl Member for Borrowed<'_> {
    fn projection(&self) -> &dyn Projection {
        self.0
    }
}

/// A projection that stopped at an event of the batch.
#[derive(Debug)]
pub(crate) struct Failure {
    name: &'static str,
    seq: i64,
    error: String,
    /// Found failed at the start of the batch: already recorded.
    recorded: bool,
}

pub(crate) enum GroupOutcome {
    /// Committed: every projection's checkpoint is at the batch's end,
    /// except those in `failed`, which are at the event before the one they
    /// failed on and marked failed.
    Applied { failed: Vec<Failure> },
    /// A projection's checkpoint is not right before the batch's first new
    /// event: nothing was applied.
    Gap {
        name: &'static str,
        expected: u64,
        got: u64,
    },
}

/// Opens a batch's transaction on the live read models.
const BEGIN_LIVE: &str = "BEGIN; SET LOCAL search_path TO \"read\", public";

/// Applies a batch to every member in one transaction, with a checkpoint
/// per member (read `FOR UPDATE`: a rebuild's swap and another batch wait).
/// An event is decoded once for all. A member that cannot apply an event
/// leaves the batch at that event: the transaction is tried again with that
/// member stopping before it (its failure recorded in the same commit), so
/// the others are not held back by it.
async fn apply_to_all<M: Member>(
    conn: &mut PgConnection,
    members: &[M],
    events: &[(u64, Result<ProjectedEvent, ProjectionError>)],
) -> Result<GroupOutcome, ProjectionError> {
    let names: Vec<&'static str> = members.iter().map(|m| m.projection().name()).collect();
    let mut failed: Vec<Failure> = Vec::new();
    // Members whose batch path failed in this batch: applied one by one.
    let mut one_by_one: Vec<&'static str> = Vec::new();
    'attempt: loop {
        // BEGIN and the schema in one round trip.
        let mut tx = conn.begin_with(BEGIN_LIVE).await?;
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT name, last_seq, state FROM public.projection_checkpoints WHERE name = ANY($1) FOR UPDATE",
        )
        .bind(&names)
        .fetch_all(&mut *tx)
        .await?;
        let mut before = Vec::with_capacity(members.len());
        for name in &names {
            match rows.iter().find(|r| r.0 == *name) {
                Some((_, last, state)) if state == "failed" => {
                    // Marked failed meanwhile (by another batch's failure).
                    if !failed.iter().any(|f| f.name == *name) {
                        failed.push(Failure {
                            name,
                            seq: last + 1,
                            error: "the projection was marked failed".into(),
                            recorded: true,
                        });
                    }
                    before.push(*last);
                }
                Some((_, last, _)) => before.push(*last),
                None => {
                    return Err(ProjectionError::Stopped(format!(
                        "checkpoint of {name} vanished"
                    )));
                }
            }
        }
        let mut last = before.clone();
        for (i, member) in members.iter().enumerate() {
            let stop = failed
                .iter()
                .find(|f| f.name == names[i])
                .map_or(i64::MAX, |f| f.seq);
            // This member's part of the batch: after its checkpoint, before
            // the event it stopped at.
            let mine: Vec<&(u64, Result<ProjectedEvent, ProjectionError>)> = events
                .iter()
                .filter(|(seq, _)| (*seq as i64) > last[i] && (*seq as i64) < stop)
                .collect();
            let Some(first) = mine.first() else {
                continue;
            };
            if first.0 as i64 != last[i] + 1 {
                return Ok(GroupOutcome::Gap {
                    name: names[i],
                    expected: last[i] as u64 + 1,
                    got: first.0,
                });
            }
            // The batch path first; if it fails, one by one, to find the
            // event that cannot be applied.
            let decoded: Option<Vec<&ProjectedEvent>> =
                mine.iter().map(|(_, e)| e.as_ref().ok()).collect();
            if let (Some(decoded), false) = (&decoded, one_by_one.contains(&names[i])) {
                match member.projection().apply_all(&mut tx, decoded).await {
                    Ok(()) => {
                        last[i] = mine.last().map_or(last[i], |(seq, _)| *seq as i64);
                        continue;
                    }
                    Err(e) if e.is_transient() => return Err(e),
                    Err(_) => {
                        one_by_one.push(names[i]);
                        drop(tx);
                        continue 'attempt;
                    }
                }
            }
            for (seq, event) in mine {
                let outcome = match event {
                    Ok(event) => member.projection().apply(&mut tx, event).await,
                    Err(e) => Err(ProjectionError::Stopped(e.to_string())),
                };
                match outcome {
                    Ok(()) => last[i] = *seq as i64,
                    Err(e) if e.is_transient() => return Err(e),
                    Err(e) => {
                        failed.push(Failure {
                            name: names[i],
                            seq: *seq as i64,
                            error: e.to_string(),
                            recorded: false,
                        });
                        // The transaction may be aborted: start again
                        // without this member's failing event.
                        drop(tx);
                        continue 'attempt;
                    }
                }
            }
        }
        let (mut moved, mut to) = (Vec::new(), Vec::new());
        for (i, name) in names.iter().enumerate() {
            if last[i] > before[i] {
                moved.push(*name);
                to.push(last[i]);
                metrics::counter!("projection_events_applied_total", "projection" => *name)
                    .increment((last[i] - before[i]) as u64);
            }
        }
        if !moved.is_empty() {
            // The checkpoints and their notifications in one statement.
            sqlx::query(
                "WITH moved AS (
                     UPDATE public.projection_checkpoints c SET last_seq = v.last_seq, updated_at = now()
                       FROM unnest($1::text[], $2::bigint[]) AS v(name, last_seq) WHERE c.name = v.name
                     RETURNING c.name, c.last_seq)
                 SELECT pg_notify($3, name || ':' || last_seq) FROM moved",
            )
            .bind(&moved)
            .bind(&to)
            .bind(READ_MODEL_CHANNEL)
            .execute(&mut *tx)
            .await?;
        }
        for f in failed.iter().filter(|f| !f.recorded) {
            sqlx::query(
                "UPDATE public.projection_checkpoints SET state = 'failed', error = $3, failed_seq = $2, updated_at = now()
                  WHERE name = $1",
            )
            .bind(f.name)
            .bind(f.seq)
            .bind(&f.error)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        return Ok(GroupOutcome::Applied { failed });
    }
}

/// How long after its transaction began each event of a committed batch
/// was in the read models (same-host clocks; an approximation across hosts).
fn record_lag(events: &[(u64, Result<ProjectedEvent, ProjectionError>)]) {
    let now = chrono::Utc::now();
    for event in events.iter().filter_map(|(_, e)| e.as_ref().ok()) {
        let lag = (now - event.event.time)
            .num_microseconds()
            .unwrap_or(0)
            .max(0);
        metrics::histogram!("projection_lag_seconds").record(lag as f64 / 1e6);
    }
}

pub(crate) fn decode(seq: u64, payload: &[u8]) -> Result<ProjectedEvent, ProjectionError> {
    let event = serde_json::from_slice(payload).map_err(|e| {
        ProjectionError::Decode(format!("stream message {seq} is not a CloudEvent: {e}"))
    })?;
    Ok(ProjectedEvent::new(seq, event))
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

#[cfg(test)]
mod begin_tests {
    use super::*;

    #[test]
    fn a_batch_writes_to_the_live_schema() {
        assert!(BEGIN_LIVE.starts_with("BEGIN;"));
        assert!(BEGIN_LIVE.contains(&format!("\"{LIVE_SCHEMA}\", public")));
    }
}
