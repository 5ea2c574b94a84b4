//! The relay: publishes every committed event, in commit order, exactly once
//! into the JetStream stream.
//!
//! ```text
//!   events table ──(txid < horizon, ORDER BY txid, position)──▶ batch
//!        ▲                                                              │ publish, pipelined; message i carries
//!   LISTEN crm_events / poll                                            │ Nats-Msg-Id = event id and
//!   (announced after commits)                                           │
//!                                                                       │ Nats-Expected-Last-Sequence = S + i
//!   relay_checkpoints ◀──(after every PubAck of the batch)──────────────┘
//! ```
//!
//! Why it never skips: a sequence hands out positions before commit, so a
//! transaction can commit a lower position after a higher one is visible.
//! The relay reads only rows whose transaction id is below the oldest
//! transaction still running (`pg_snapshot_xmin`), so every transaction that
//! could still add a row before its cursor has finished. Rows are ordered by
//! (transaction id, position), an order that respects each aggregate's
//! sequence (its next event is written by a transaction that began after the
//! previous one committed).
//!
//! Why it never loses or duplicates: message k+1 can only be stored right
//! after message k (expected last sequence), so the stream always holds a
//! gap-free prefix of the commit order, and its last message (headers
//! `Crm-Txid`, `Crm-Position`) says exactly where to resume. On start, on
//! takeover and after any publish error the relay resumes from there, so a
//! crash anywhere republishes at most what the stream does not have yet;
//! `Nats-Msg-Id` makes JetStream drop a message it already has within its
//! duplicate window. The checkpoint row in Postgres mirrors the progress for
//! monitoring and lag.
//!
//! One leader: the relay holds a session advisory lock on a dedicated
//! connection and does all its reads and writes on that connection; standby
//! relays retry the lock every second and take over when the leader's
//! connection goes away.
//!
//! It never parses what it only forwards: the payload is read as text and
//! travels as the envelope's raw `data`. An event it truly cannot publish
//! (metadata that is not valid, a message over NATS's `max_payload`) is
//! never skipped: the relay publishes everything before it, then stops and
//! records the event and the reason in `relay_checkpoints` (shown by `crm
//! projections status`, `/readyz`, the `relay_failed` metric and an error
//! log). `crm relay retry` lets it try again after a fix.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use event_schemas::{CloudEvent, TenantId, envelope};
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{Connection, PgConnection, PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const NOTIFY_CHANNEL: &str = "crm_events";

/// How many relays lead in this process: while one does, it is woken by
/// this process's commits directly and [`announce_commits`] stays silent.
static LEADING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts a leading relay while it lives.
struct Leading;

impl Leading {
    fn start() -> Self {
        LEADING.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Leading
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        LEADING.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Announces this process's commits on `crm_events` to a relay leading in
/// another process (a relay leading here is woken directly), with at most
/// one notification in flight: the commits made while one is sent are
/// announced by the next. The notification is its own transaction, after
/// the commits it announces: a `NOTIFY` inside an event commit made every
/// committing transaction wait for the previous one's disk flush
/// (PostgreSQL's notify queue lock), one commit per flush (decision 0020).
/// Events written by other means (SQL, tools) are found by the relay's poll.
pub async fn announce_commits(pool: PgPool, shutdown: CancellationToken) {
    let mut commits = event_store::signal::commits();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = commits.changed() => if changed.is_err() { break },
        }
        commits.borrow_and_update();
        if LEADING.load(std::sync::atomic::Ordering::Acquire) > 0 {
            continue;
        }
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(NOTIFY_CHANNEL)
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %e, "announcing commits failed; the relay's poll finds them");
        }
    }
}

/// The projectors' commit notifications (`projections::READ_MODEL_CHANNEL`;
/// the end-to-end tests check the copies agree). The relay does not listen
/// to them.
pub const READ_MODEL_CHANNEL: &str = "crm_read_models";
/// The first pause before the tail is looked at again after a commit.
const QUICK_REPOLL_FIRST: Duration = Duration::from_millis(1);

/// How often the relay looks for chain heads due a seal: a tenth of the
/// seal interval, at most every 10 s (a zero interval seals every batch).
fn seal_check_every(config: &RelayConfig) -> Duration {
    (config.seal_interval / 10).min(Duration::from_secs(10))
}
/// The `application_name` of the connections that write derived data only
/// (projectors, rebuilds, the relay's bookkeeping;
/// `projections::DERIVED_APPLICATION_NAME`, the end-to-end tests check the
/// copies agree): a trigger refuses events from them, so the horizon does
/// not wait for their transactions.
pub const DERIVED_APPLICATION_NAME: &str = "crm-derived";
pub const HEADER_POSITION: &str = "Crm-Position";
pub const HEADER_TXID: &str = "Crm-Txid";
/// Bytes counted for a message's headers when checking its size.
const HEADER_ALLOWANCE: usize = 512;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The JetStream stream name.
    pub stream: String,
    /// Subject prefix: subjects are `<prefix>.events.<tenant>.<aggregate>.<event>`.
    pub subject_prefix: String,
    /// Events read and published per round trip.
    pub batch_size: i64,
    /// How often to look for events when no notification arrives.
    pub poll_interval: Duration,
    /// How often a standby relay retries the leader lock.
    pub standby_retry: Duration,
    /// A name for logs and the checkpoint's `leader` column.
    pub relay_id: String,
    /// How often each tenant's chain head is sealed (when it advanced).
    pub seal_interval: Duration,
    /// The largest message (body and headers) the relay publishes; the
    /// server's `max_payload` caps it. A larger event stops the relay.
    pub max_message_bytes: usize,
    /// How often a failed relay looks whether `crm relay retry` was run.
    pub failed_poll: Duration,
}

impl RelayConfig {
    pub fn new(stream: impl Into<String>, subject_prefix: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            subject_prefix: subject_prefix.into(),
            batch_size: 256,
            poll_interval: Duration::from_millis(100),
            standby_retry: Duration::from_secs(1),
            relay_id: format!("relay-{}", Uuid::now_v7()),
            seal_interval: Duration::from_secs(60),
            max_message_bytes: usize::MAX,
            failed_poll: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("nats: {0}")]
    Nats(String),
    #[error(
        "the stream's last message has no {HEADER_TXID}/{HEADER_POSITION} headers: was it written by something other than the relay?"
    )]
    ForeignMessage,
}

/// An event the relay cannot publish: no retry of the same code and
/// configuration would publish it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error(
    "event {event_id} (position {position}, {event_type} of {aggregate}) cannot be published: {reason}"
)]
pub struct Unpublishable {
    pub event_id: Uuid,
    pub position: i64,
    pub event_type: String,
    /// `<aggregate type> <aggregate id>`.
    pub aggregate: String,
    pub reason: String,
}

fn nats_err(e: impl std::fmt::Display) -> RelayError {
    RelayError::Nats(e.to_string())
}

/// Where the relay is in the commit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub txid: i64,
    pub position: i64,
    /// The stream sequence of the message for (txid, position).
    pub stream_seq: u64,
}

/// One event row, as the relay reads it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub txid: i64,
    pub position: i64,
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The payload as stored (JSON text), never parsed here.
    pub payload: String,
    /// The metadata as stored (JSON text).
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
}

const SELECT_COLUMNS: &str = "txid::text::bigint AS txid, position, event_id, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload::text AS payload, metadata::text AS metadata, recorded_at";

/// The metadata fields the envelope carries.
#[derive(Deserialize)]
struct StoredMetadata {
    tenant_id: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    causation_id: Option<String>,
    #[serde(default)]
    command_id: Option<String>,
}

impl EventRow {
    pub fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            txid: row.try_get("txid")?,
            position: row.try_get("position")?,
            event_id: row.try_get("event_id")?,
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }

    /// This event named in a failure.
    pub fn unpublishable(&self, reason: impl Into<String>) -> Unpublishable {
        Unpublishable {
            event_id: self.event_id,
            position: self.position,
            event_type: self.event_type.clone(),
            aggregate: format!("{} {}", self.aggregate_type, self.aggregate_id),
            reason: reason.into(),
        }
    }

    /// The CloudEvents envelope of this event, its `data` the stored text.
    pub fn to_cloud_event(&self) -> Result<CloudEvent<Box<RawValue>>, Unpublishable> {
        let meta: StoredMetadata = serde_json::from_str(&self.metadata)
            .map_err(|e| self.unpublishable(format!("its metadata is not valid: {e}")))?;
        let tenant = TenantId::parse(&meta.tenant_id)
            .map_err(|e| self.unpublishable(format!("its tenant is not valid: {e}")))?;
        let data = CloudEvent::raw_data_from_stored_payload(&self.event_type, self.payload.clone())
            .map_err(|e| self.unpublishable(format!("its payload is not JSON: {e}")))?;
        Ok(CloudEvent {
            specversion: envelope::SPEC_VERSION.to_owned(),
            id: self.event_id,
            source: CloudEvent::source_for(&tenant, &self.aggregate_type),
            event_type: self.event_type.clone(),
            subject: self.aggregate_id.clone(),
            time: self.recorded_at,
            datacontenttype: envelope::CONTENT_TYPE.to_owned(),
            dataschema: CloudEvent::dataschema_for(&self.event_type, &self.event_version),
            data,
            tenant,
            aggregatetype: self.aggregate_type.clone(),
            aggregateid: self.aggregate_id.clone(),
            sequence: self.sequence,
            eventversion: self.event_version.clone(),
            position: self.position,
            correlationid: meta.correlation_id.unwrap_or_default(),
            causationid: meta.causation_id.unwrap_or_default(),
            commandid: meta.command_id.unwrap_or_default(),
            actor: meta.user_id.unwrap_or_default(),
            actorrole: meta.role.unwrap_or_default(),
        })
    }

    /// The NATS message of this event: subject, headers and body, checked
    /// against `max_bytes`.
    pub fn to_message(
        &self,
        subject_prefix: &str,
        max_bytes: usize,
    ) -> Result<(String, HeaderMap, Bytes), Unpublishable> {
        let event = self.to_cloud_event()?;
        let subject = event.nats_subject(subject_prefix);
        let body = serde_json::to_vec(&event)
            .map_err(|e| self.unpublishable(format!("its envelope does not serialize: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_TXID, self.txid.to_string().as_str());
        headers.insert(HEADER_POSITION, self.position.to_string().as_str());
        headers.insert("Content-Type", "application/cloudevents+json");
        // The headers as sent (ours, Nats-Msg-Id and the expected sequence)
        // stay well under this allowance.
        let size = body.len() + HEADER_ALLOWANCE;
        if size > max_bytes {
            return Err(self.unpublishable(format!(
                "its message is {size} bytes, over the {max_bytes}-byte limit (NATS max_payload)"
            )));
        }
        Ok((subject, headers, Bytes::from(body)))
    }
}

/// The next committed events after `cursor`, in commit order.
pub async fn next_batch(
    conn: &mut PgConnection,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    // Ordered by the table's columns (`txid` alone would name the selected
    // bigint and sort every row after the cursor instead of reading the
    // commit-order index up to the limit).
    // The horizon: the oldest transaction still running that may write
    // events, i.e. of the statement's snapshot's running transactions those
    // not on a projector's connection (which never write events: a trigger
    // refuses them), else the snapshot's xmax. A transaction that gets its
    // id after the snapshot gets one at or above xmax. Reading a
    // connection's current transaction id is racy only towards waiting
    // longer (an id no longer listed is not excluded).
    let sql = format!(
        "WITH snap AS (SELECT pg_current_snapshot() AS s),
              readers AS (
                SELECT backend_xid::text::bigint AS xid FROM pg_stat_get_activity(NULL)
                 WHERE application_name = $4 AND backend_xid IS NOT NULL),
              horizon AS (
                SELECT coalesce(
                  (SELECT min(x) FROM snap, pg_snapshot_xip(snap.s) AS x
                    WHERE x::text::bigint % 4294967296 NOT IN (SELECT xid FROM readers)),
                  (SELECT pg_snapshot_xmax(s) FROM snap)) AS h)
         SELECT {SELECT_COLUMNS} FROM events, horizon
          WHERE (events.txid, events.position) > ($1::text::xid8, $2)
            AND events.txid < horizon.h
          ORDER BY events.txid, events.position
          LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(cursor.txid.to_string())
        .bind(cursor.position)
        .bind(limit)
        .bind(DERIVED_APPLICATION_NAME)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(EventRow::from_row).collect()
}

/// Ensures the stream exists (created with unlimited retention: the stream
/// is the projections' source for rebuilds).
///
/// A server-side failure to create the stream's store (JetStream's 500
/// "error creating store for stream", seen once under a parallel test load)
/// or a timed-out request is retried a few times with a growing pause before
/// the error is returned; a refused configuration is returned at once.
pub async fn ensure_stream(
    js: &jetstream::Context,
    stream: &str,
    subject_prefix: &str,
    duplicate_window: Duration,
    replicas: usize,
) -> Result<jetstream::stream::Stream, RelayError> {
    use jetstream::context::CreateStreamErrorKind;
    const ATTEMPTS: u32 = 5;
    let config = jetstream::stream::Config {
        name: stream.to_owned(),
        description: Some("Movers CRM domain events, in commit order".to_owned()),
        subjects: vec![format!("{subject_prefix}.events.>")],
        retention: jetstream::stream::RetentionPolicy::Limits,
        storage: jetstream::stream::StorageType::File,
        duplicate_window,
        num_replicas: replicas,
        allow_direct: true,
        // The stream is an audit log and the projections' replay source:
        // no message is ever removed from it.
        deny_delete: true,
        deny_purge: true,
        ..Default::default()
    };
    let mut attempt = 1;
    loop {
        match js.get_or_create_stream(config.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                let transient = match e.kind() {
                    CreateStreamErrorKind::JetStream(err) => err.code() >= 500,
                    CreateStreamErrorKind::TimedOut => true,
                    _ => false,
                };
                if !transient || attempt >= ATTEMPTS {
                    return Err(nats_err(e));
                }
                tracing::warn!(stream, attempt, error = %e, "creating the stream failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
        }
    }
}

/// Runs one relay until `shutdown`: standby until it holds the lock, then
/// leader until its connection fails (then standby again).
pub async fn run(
    pool: PgPool,
    js: jetstream::Context,
    config: RelayConfig,
    shutdown: CancellationToken,
) {
    let options = (*pool.connect_options()).clone();
    let mut backoff = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        match lead(&options, &pool, &js, &config, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(relay = %config.relay_id, error = %e, "relay stopped leading; retrying");
                metrics::gauge!("relay_leader", "stream" => config.stream.clone()).set(0.0);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Advisory-lock key of the relay of `stream`.
fn lock_key(stream: &str) -> String {
    format!("crm-relay:{stream}")
}

async fn lead(
    options: &PgConnectOptions,
    pool: &PgPool,
    js: &jetstream::Context,
    config: &RelayConfig,
    shutdown: &CancellationToken,
) -> Result<(), RelayError> {
    let mut conn = PgConnection::connect_with(options).await?;
    // The relay's writes (its checkpoint, the tenant chain, seals, a failure)
    // do not wait for the disk: each is rebuilt from the stream and the
    // events table after a crash that lost them (decision 0020).
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut conn)
        .await?;
    loop {
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(lock_key(&config.stream))
                .fetch_one(&mut conn)
                .await?;
        if locked {
            break;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(config.standby_retry) => {}
        }
    }
    tracing::info!(relay = %config.relay_id, stream = %config.stream, "relay is the leader");
    let result = lead_locked(&mut conn, pool, js, config, shutdown).await;
    if result.is_ok() {
        // Stopping: hand the lock over at once (a dropped connection's locks
        // go only when the server notices).
        let _ = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(lock_key(&config.stream))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
    result
}

/// The leader's loop, holding the lock on `conn`.
async fn lead_locked(
    conn: &mut PgConnection,
    pool: &PgPool,
    js: &jetstream::Context,
    config: &RelayConfig,
    shutdown: &CancellationToken,
) -> Result<(), RelayError> {
    let _leading = Leading::start();
    let mut commits = event_store::signal::commits();
    metrics::gauge!("relay_leader", "stream" => config.stream.clone()).set(1.0);

    // Only event commits wake the relay; projector commits do not (they
    // would wake it once per projection per batch).
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    let mut stream = js.get_stream(&config.stream).await.map_err(nats_err)?;
    let mut cursor = reconcile(&mut *conn, &mut stream, config).await?;
    crate::chain::chain_up_to(&mut *conn, cursor).await?;
    crate::chain::seal_due(&mut *conn, config.seal_interval).await?;
    // The checkpoint, the tenant chain and the seals are written by a task of
    // their own on another connection: publishing never waits for them.
    let mut books = Bookkeeper::start(pool, config, cursor);
    // Set when something was committed that the last tail query may not
    // have seen yet (a notification, or a batch just published); while it is
    // set, an empty tail is looked at again soon, with a growing pause.
    let mut quick_repoll: Option<Duration> = Some(QUICK_REPOLL_FIRST);
    let max_bytes = config.max_message_bytes.min(js.client().max_payload());
    let mut failures = 0u32;
    // A failure recorded by an earlier leader stands until `crm relay retry`.
    let mut failed = failure(&mut *conn, &config.stream).await?.is_some();
    set_failed_gauge(config, failed);

    loop {
        if shutdown.is_cancelled() {
            books.finish().await;
            return Ok(());
        }
        if failed {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(config.failed_poll) => {}
            }
            failed = failure(&mut *conn, &config.stream).await?.is_some();
            if !failed {
                tracing::info!(relay = %config.relay_id, "relay retries after `crm relay retry`");
                set_failed_gauge(config, false);
            }
            continue;
        }
        let batch = next_batch(&mut *conn, cursor, config.batch_size).await?;
        if batch.is_empty() {
            // Rows committed past the cursor may not be readable yet: they
            // wait for an older transaction to end (often a projector's),
            // which sends no notification. So right after a commit the tail
            // is looked at again within milliseconds, backing off to the
            // poll interval; otherwise only a notification or the poll wakes
            // the relay.
            let pause = match quick_repoll {
                Some(pause) => {
                    quick_repoll = (pause * 2 < config.poll_interval).then_some(pause * 2);
                    pause
                }
                None => config.poll_interval,
            };
            tokio::select! {
                _ = shutdown.cancelled() => {
                    books.finish().await;
                    return Ok(());
                }
                n = listener.recv() => {
                    n?;
                    // One tail query serves every notification that has
                    // arrived meanwhile.
                    let mut coalesced = 1u64;
                    while listener.next_buffered().is_some() {
                        coalesced += 1;
                    }
                    metrics::counter!("relay_wakeups_total", "stream" => config.stream.clone()).increment(1);
                    metrics::counter!("relay_notifications_total", "stream" => config.stream.clone()).increment(coalesced);
                    quick_repoll = Some(QUICK_REPOLL_FIRST);
                }
                // This process committed (woken without a notification).
                _ = commits.changed() => {
                    commits.borrow_and_update();
                    metrics::counter!("relay_wakeups_total", "stream" => config.stream.clone()).increment(1);
                    metrics::counter!("relay_notifications_total", "stream" => config.stream.clone()).increment(1);
                    quick_repoll = Some(QUICK_REPOLL_FIRST);
                }
                _ = tokio::time::sleep(pause) => {}
            }
            continue;
        }
        quick_repoll = Some(QUICK_REPOLL_FIRST);
        match publish(js, config, &batch, cursor.stream_seq, max_bytes).await {
            Ok(published) => {
                if let Some(last) = published.count.checked_sub(1).map(|i| &batch[i]) {
                    cursor = Cursor {
                        txid: last.txid,
                        position: last.position,
                        stream_seq: published.last_seq,
                    };
                    books.published(cursor);
                    metrics::counter!("relay_published_total", "stream" => config.stream.clone())
                        .increment(published.count as u64);
                }
                failures = 0;
                if let Some(stop) = published.stopped_at {
                    // Written down before the failure (status reads the
                    // failure, then the checkpoint it was recorded after).
                    books.wait_saved(cursor).await;
                    tracing::error!(
                        relay = %config.relay_id, event_id = %stop.event_id, position = stop.position,
                        event_type = %stop.event_type, aggregate = %stop.aggregate, reason = %stop.reason,
                        "relay stopped: an event cannot be published; nothing after it is published until `crm relay retry`"
                    );
                    record_failure(&mut *conn, &config.stream, &stop).await?;
                    failed = true;
                    set_failed_gauge(config, true);
                }
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(relay = %config.relay_id, error = %e, failures, "publish failed; resuming from the stream's last message");
                if failures > 3 {
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(50)))) => {}
                    }
                }
                cursor = reconcile(&mut *conn, &mut stream, config).await?;
            }
        }
    }
}

/// How long published progress may go unrecorded while the tail is never
/// empty.
const BOOKKEEPING_EVERY: Duration = Duration::from_millis(50);

/// How long the tail stays quiet before what was published is written down.
const BOOKKEEPING_QUIET: Duration = Duration::from_millis(1);

/// Writes down what the relay published, apart from it: the checkpoint
/// (status and lag), the tenant chain up to it, and the seals that are due,
/// once the published cursor stays still for a moment (or every
/// [`BOOKKEEPING_EVERY`] under load). Its connection is named like the
/// projectors' ([`DERIVED_APPLICATION_NAME`]): its transactions write no
/// events, so the relay's horizon does not wait for them.
struct Bookkeeper {
    published: tokio::sync::watch::Sender<Cursor>,
    saved: tokio::sync::watch::Receiver<Cursor>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Bookkeeper {
    fn start(pool: &PgPool, config: &RelayConfig, cursor: Cursor) -> Self {
        let (published, watched) = tokio::sync::watch::channel(cursor);
        let (saved_tx, saved) = tokio::sync::watch::channel(cursor);
        let stop = CancellationToken::new();
        let options = pool
            .connect_options()
            .as_ref()
            .clone()
            .application_name(DERIVED_APPLICATION_NAME);
        let task = tokio::spawn(keep_books_apart(
            options,
            config.clone(),
            watched,
            saved_tx,
            stop.clone(),
        ));
        Self {
            published,
            saved,
            stop,
            task: Some(task),
        }
    }

    fn published(&self, cursor: Cursor) {
        self.published.send_replace(cursor);
    }

    /// Waits until everything up to `cursor` is written down (at most a
    /// few seconds: a database that refuses the bookkeeping must not keep
    /// the relay from recording why it stopped).
    async fn wait_saved(&mut self, cursor: Cursor) {
        self.published(cursor);
        let saved = self
            .saved
            .wait_for(|saved| (saved.txid, saved.position) >= (cursor.txid, cursor.position));
        if tokio::time::timeout(Duration::from_secs(5), saved)
            .await
            .is_err()
        {
            tracing::warn!(
                "the relay's progress is not written down yet; recording the failure anyway"
            );
        }
    }

    /// Writes down the last progress and stops.
    async fn finish(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Bookkeeper {
    fn drop(&mut self) {
        // Leadership lost: the task writes down what was published and ends.
        self.stop.cancel();
    }
}

async fn keep_books_apart(
    options: PgConnectOptions,
    config: RelayConfig,
    mut published: tokio::sync::watch::Receiver<Cursor>,
    saved: tokio::sync::watch::Sender<Cursor>,
    stop: CancellationToken,
) {
    let mut written = *published.borrow_and_update();
    let mut conn: Option<PgConnection> = None;
    let mut next_seal_check = Instant::now() + seal_check_every(&config);
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            changed = published.changed() => changed.is_err(),
            _ = tokio::time::sleep_until(next_seal_check.into()) => false,
        };
        if !stopping {
            // Until the cursor stays still for a moment, at most a while.
            let first = Instant::now();
            while first.elapsed() < BOOKKEEPING_EVERY {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(BOOKKEEPING_QUIET) => break,
                    changed = published.changed() => if changed.is_err() { break },
                }
            }
        }
        let cursor = *published.borrow_and_update();
        let result = async {
            let db = match conn.as_mut() {
                Some(db) => db,
                None => {
                    let mut db = PgConnection::connect_with(&options).await?;
                    // Rebuilt from the stream and the events table after a
                    // crash that lost them (decision 0020).
                    sqlx::query("SET synchronous_commit = off")
                        .execute(&mut db)
                        .await?;
                    conn.insert(db)
                }
            };
            if cursor != written {
                save_checkpoint(db, &config, cursor).await?;
                crate::chain::chain_up_to(db, cursor).await?;
            }
            if Instant::now() >= next_seal_check {
                crate::chain::seal_due(db, config.seal_interval).await?;
                next_seal_check = Instant::now() + seal_check_every(&config);
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                written = cursor;
                saved.send_replace(cursor);
            }
            Err(e) => {
                tracing::warn!(relay = %config.relay_id, error = %e, "writing down the relay's progress failed; retrying");
                conn = None;
                if !stopping {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
        if stopping {
            if let Some(db) = conn.take() {
                let _ = db.close().await;
            }
            return;
        }
    }
}

fn set_failed_gauge(config: &RelayConfig, failed: bool) {
    metrics::gauge!("relay_failed", "stream" => config.stream.clone()).set(if failed {
        1.0
    } else {
        0.0
    });
}

/// What one publish round did.
struct Published {
    /// How many events of the batch (a prefix) were published.
    count: usize,
    /// The stream sequence of the last one.
    last_seq: u64,
    /// The event that stopped the round, if one cannot be published.
    stopped_at: Option<Unpublishable>,
}

/// Publishes `batch` after stream sequence `last_seq`, up to the first event
/// that cannot be published.
async fn publish(
    js: &jetstream::Context,
    config: &RelayConfig,
    batch: &[EventRow],
    last_seq: u64,
    max_bytes: usize,
) -> Result<Published, RelayError> {
    let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(batch.len());
    let mut stopped_at = None;
    for (i, row) in batch.iter().enumerate() {
        let (subject, headers, body) = match row.to_message(&config.subject_prefix, max_bytes) {
            Ok(message) => message,
            Err(stop) => {
                stopped_at = Some(stop);
                break;
            }
        };
        let message = PublishMessage::build()
            .headers(headers)
            .payload(body)
            .message_id(row.event_id.to_string())
            .expected_last_sequence(last_seq + i as u64);
        acks.push(js.send_publish(subject, message).await.map_err(nats_err)?);
    }
    let count = acks.len();
    let mut seq = last_seq;
    for ack in acks {
        let ack = ack.await.map_err(nats_err)?;
        seq = ack.sequence;
    }
    // How long after its transaction began each event was in the stream
    // (same-host clocks; an approximation across hosts).
    let now = Utc::now();
    for row in &batch[..count] {
        let lag = (now - row.recorded_at)
            .num_microseconds()
            .unwrap_or(0)
            .max(0);
        metrics::histogram!("relay_publish_lag_seconds").record(lag as f64 / 1e6);
    }
    Ok(Published {
        count,
        last_seq: seq,
        stopped_at,
    })
}

/// Resumes from the stream's last message (or the beginning of an empty
/// stream), and mirrors that into the checkpoint.
async fn reconcile(
    conn: &mut PgConnection,
    stream: &mut jetstream::stream::Stream,
    config: &RelayConfig,
) -> Result<Cursor, RelayError> {
    let last_seq = stream.info().await.map_err(nats_err)?.state.last_sequence;
    let cursor = if last_seq == 0 {
        let published: Option<i64> =
            sqlx::query_scalar("SELECT last_stream_seq FROM relay_checkpoints WHERE stream = $1")
                .bind(&config.stream)
                .fetch_optional(&mut *conn)
                .await?;
        if published.unwrap_or(0) > 0 {
            tracing::warn!(stream = %config.stream, "the stream is empty but events were published before: it was recreated; republishing every event");
        }
        Cursor::default()
    } else {
        let message = stream.get_raw_message(last_seq).await.map_err(nats_err)?;
        let header = |name: &str| -> Option<i64> {
            message
                .headers
                .get(name)
                .and_then(|v| v.as_str().parse().ok())
        };
        let (Some(txid), Some(position)) = (header(HEADER_TXID), header(HEADER_POSITION)) else {
            return Err(RelayError::ForeignMessage);
        };
        Cursor {
            txid,
            position,
            stream_seq: last_seq,
        }
    };
    save_checkpoint(conn, config, cursor).await?;
    tracing::info!(relay = %config.relay_id, ?cursor, "relay resumes");
    Ok(cursor)
}

async fn save_checkpoint(
    conn: &mut PgConnection,
    config: &RelayConfig,
    cursor: Cursor,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (stream, last_txid, last_position, last_stream_seq, leader, leader_since, updated_at)
         VALUES ($1, $2::text::xid8, $3, $4, $5, now(), now())
         ON CONFLICT (stream) DO UPDATE SET
            last_txid = EXCLUDED.last_txid, last_position = EXCLUDED.last_position,
            last_stream_seq = EXCLUDED.last_stream_seq, updated_at = now(),
            leader_since = CASE WHEN relay_checkpoints.leader = EXCLUDED.leader
                                THEN relay_checkpoints.leader_since ELSE now() END,
            leader = EXCLUDED.leader",
    )
    .bind(&config.stream)
    .bind(cursor.txid.to_string())
    .bind(cursor.position)
    .bind(cursor.stream_seq as i64)
    .bind(&config.relay_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The event that stopped the relay.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RelayFailure {
    #[serde(flatten)]
    pub event: Unpublishable,
    pub failed_at: DateTime<Utc>,
    /// How many times the relay failed on this event (retries included).
    pub attempts: i32,
}

async fn record_failure(
    conn: &mut PgConnection,
    stream: &str,
    stop: &Unpublishable,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE relay_checkpoints SET failed_event_id = $2, failed_position = $3, failed_event_type = $4,
                failed_aggregate = $5, failed_reason = $6, failed_at = now(),
                failed_attempts = CASE WHEN last_failed_event_id = $2 THEN failed_attempts + 1 ELSE 1 END,
                last_failed_event_id = $2
          WHERE stream = $1",
    )
    .bind(stream)
    .bind(stop.event_id)
    .bind(stop.position)
    .bind(&stop.event_type)
    .bind(&stop.aggregate)
    .bind(&stop.reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// The failure that stopped the relay of `stream`, if it is stopped.
pub async fn failure<'c, E>(executor: E, stream: &str) -> Result<Option<RelayFailure>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let row = sqlx::query(
        "SELECT failed_event_id, failed_position, failed_event_type, failed_aggregate, failed_reason,
                failed_at, failed_attempts
           FROM relay_checkpoints WHERE stream = $1 AND failed_event_id IS NOT NULL",
    )
    .bind(stream)
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        Ok(RelayFailure {
            event: Unpublishable {
                event_id: row.try_get("failed_event_id")?,
                position: row.try_get("failed_position")?,
                event_type: row.try_get("failed_event_type")?,
                aggregate: row.try_get("failed_aggregate")?,
                reason: row.try_get("failed_reason")?,
            },
            failed_at: row.try_get("failed_at")?,
            attempts: row.try_get("failed_attempts")?,
        })
    })
    .transpose()
}

/// Lets a stopped relay try its failed event again (after a fix); `false`
/// when it was not stopped.
pub async fn retry(pool: &PgPool, stream: &str) -> Result<bool, sqlx::Error> {
    let cleared = sqlx::query(
        "UPDATE relay_checkpoints
            SET failed_event_id = NULL, failed_position = NULL, failed_event_type = NULL,
                failed_aggregate = NULL, failed_reason = NULL, failed_at = NULL
          WHERE stream = $1 AND failed_event_id IS NOT NULL",
    )
    .bind(stream)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(cleared > 0)
}

/// How far the relay is behind: committed events not yet published, and
/// the event that stopped it, if one did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RelayStatus {
    pub stream: String,
    /// `running`, or `failed` (see `failure`).
    pub state: &'static str,
    pub leader: Option<String>,
    pub last_position: i64,
    pub last_stream_seq: i64,
    pub unpublished: i64,
    pub updated_at: Option<DateTime<Utc>>,
    pub failure: Option<RelayFailure>,
}

pub async fn status(pool: &PgPool, stream: &str) -> Result<RelayStatus, sqlx::Error> {
    // The failure first: the relay records it after its checkpoint, so a
    // failure seen here comes with the checkpoint it stopped at.
    let failure = failure(pool, stream).await?;
    let row = sqlx::query(
        "SELECT c.leader, coalesce(c.last_position, 0) AS last_position,
                coalesce(c.last_stream_seq, 0) AS last_stream_seq, c.updated_at,
                (SELECT count(*) FROM events e
                  WHERE c.stream IS NULL OR (e.txid, e.position) > (c.last_txid, c.last_position)) AS unpublished
           FROM (SELECT 1) AS one
           LEFT JOIN relay_checkpoints c ON c.stream = $1",
    )
    .bind(stream)
    .fetch_one(pool)
    .await?;
    Ok(RelayStatus {
        stream: stream.to_owned(),
        state: if failure.is_some() {
            "failed"
        } else {
            "running"
        },
        failure,
        leader: row.try_get("leader")?,
        last_position: row.try_get("last_position")?,
        last_stream_seq: row.try_get("last_stream_seq")?,
        unpublished: row.try_get("unpublished")?,
        updated_at: row.try_get("updated_at")?,
    })
}
