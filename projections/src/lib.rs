//! # projections: the read side's writers
//!
//! ```text
//!  JetStream stream ──one consumer per projector process──▶ batch, each message decoded once
//!                         (from the lowest checkpoint)                │
//!                                                                     ▼  one Postgres transaction:
//!                       SELECT … FROM projection_checkpoints WHERE name = ANY(…) FOR UPDATE
//!                       every projection applies each event with stream seq > its checkpoint
//!                       (seq must be its checkpoint + 1); one UPDATE of the checkpoints;
//!                       NOTIFY crm_read_models per projection that moved
//!                                                                     │ commit, then one ack (AckPolicy::All)
//!                                                                     ▼
//!                                          read.<tables>  (tenant id in every key)
//! ```
//!
//! A projection that ignores an event costs it nothing but a match in
//! memory: no message of its own, no decode, no SQL (its checkpoint moves
//! with the batch's one UPDATE). A process that issues commands
//! ([`Projection::issues_commands`]) runs behind a consumer of its own.
//!
//! Delivery is at-least-once; the checkpoint, stored in the same transaction
//! as the read-model changes, makes the effect exactly-once: a redelivered
//! message at or below the checkpoint is acked and skipped, and a crash before
//! commit applies nothing. One worker per projection is active at a time
//! (advisory lock); more copies wait as standbys. An event a projection cannot
//! apply stops that projection (state `failed`, error and stream sequence in
//! `projection_checkpoints`), it is never skipped.
//!
//! A projection owns its tables and their DDL. Changing either bumps its
//! [`Projection::version`]; a worker that finds another version in the
//! checkpoint rebuilds the projection from the stream before going live.

pub mod assignments;
pub mod audit;
pub mod customers;
pub mod equipment;
pub mod inventory;
pub mod invoices;
pub mod leads;
pub mod ledger;
pub mod quotes;
pub mod rebuild;
pub mod runner;
pub mod status;
pub mod timeline;

use std::sync::Arc;

use event_schemas::CloudEvent;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

pub use rebuild::rebuild;
pub use runner::{ProjectorConfig, run_projector, run_projectors};
pub use status::{ProjectionStatus, status};

/// The channel a projector notifies after each committed batch
/// (payload `<name>:<last seq>`), for read-your-writes waits.
pub const READ_MODEL_CHANNEL: &str = "crm_read_models";

/// Where a projection opens personal data from.
pub(crate) enum Keys<'a> {
    /// The key store, one query per event.
    Store(&'a keystore::KeyStore),
    /// A batch's keys, fetched at once.
    Prefetched(&'a PrefetchedKeys),
}

impl Keys<'_> {
    /// The event's payload with its personal fields opened.
    pub(crate) async fn open<T: DeserializeOwned>(
        &self,
        ev: &ProjectedEvent,
    ) -> Result<T, ProjectionError> {
        match self {
            Keys::Store(store) => ev.personal_data(store).await,
            Keys::Prefetched(keys) => {
                if !ev.has_sealed_fields() {
                    return ev.data();
                }
                let subject = (ev.event.tenant.to_string(), ev.event.aggregateid.clone());
                ev.personal_data_with(keys.0.get(&subject).and_then(Option::as_ref))
            }
        }
    }
}

/// The data keys of a batch's customer events, fetched in one query (never
/// kept past the batch, so a destroyed key is seen by the next batch).
pub(crate) struct PrefetchedKeys(
    std::collections::HashMap<(String, String), Option<keystore::Key>>,
);

impl PrefetchedKeys {
    pub(crate) async fn fetch(
        keys: &keystore::KeyStore,
        events: &[&ProjectedEvent],
    ) -> Result<Self, ProjectionError> {
        let subjects: Vec<(String, String)> = events
            .iter()
            .filter(|ev| {
                ev.event.aggregatetype == event_schemas::customer::AGGREGATE_TYPE
                    && ev.has_sealed_fields()
            })
            .map(|ev| (ev.event.tenant.to_string(), ev.event.aggregateid.clone()))
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        if subjects.is_empty() {
            return Ok(Self(Default::default()));
        }
        Ok(Self(
            keys.existing_data_keys(&subjects)
                .await
                .map_err(key_error)?,
        ))
    }
}

/// The live schema of every read model.
pub const LIVE_SCHEMA: &str = "read";

/// An event as a projection sees it: the envelope and its stream sequence.
#[derive(Debug, Clone)]
pub struct ProjectedEvent {
    pub stream_seq: u64,
    pub event: CloudEvent,
}

impl ProjectedEvent {
    /// The payload as the event type's struct. A stored version newer (by
    /// major) than the one this build knows is refused; older ones decode
    /// (a 1.0 customer event holds plain values where 2.0 holds sealed ones).
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, ProjectionError> {
        self.decode(self.event.data.clone())
    }

    /// The payload with its personal fields opened with the subject's data
    /// key; once the key is destroyed (the person forgotten) names read
    /// `[erased]` and the other personal fields `null`.
    pub async fn personal_data<T: DeserializeOwned>(
        &self,
        keys: &keystore::KeyStore,
    ) -> Result<T, ProjectionError> {
        if !self.has_sealed_fields() {
            return self.data();
        }
        let key = keys
            .existing_data_key(self.event.tenant.as_str(), &self.event.aggregateid)
            .await
            .map_err(key_error)?;
        self.personal_data_with(key.as_ref())
    }

    /// Whether the payload holds sealed personal fields (which need the
    /// subject's data key).
    pub fn has_sealed_fields(&self) -> bool {
        let fields = event_schemas::customer::personal_fields(&self.event.event_type);
        self.event.data.as_object().is_some_and(|object| {
            fields
                .iter()
                .any(|f| object.get(*f).is_some_and(keystore::sealed::is_sealed))
        })
    }

    /// [`Self::personal_data`] with the subject's key already at hand
    /// (`None`: destroyed or never made).
    pub fn personal_data_with<T: DeserializeOwned>(
        &self,
        key: Option<&keystore::Key>,
    ) -> Result<T, ProjectionError> {
        use event_schemas::customer::{AGGREGATE_TYPE, ERASABLE_NAMES, personal_fields};
        use keystore::sealed;
        let e = &self.event;
        let fields = personal_fields(&e.event_type);
        let mut data = e.data.clone();
        if let Some(object) = data.as_object_mut() {
            sealed::open_fields(key, object, fields, ERASABLE_NAMES, |f| {
                sealed::aad(AGGREGATE_TYPE, &e.aggregateid, e.sequence, f)
            })
            .map_err(|err| {
                ProjectionError::Decode(format!(
                    "{} (stream seq {}): {err}",
                    e.event_type, self.stream_seq
                ))
            })?;
        }
        self.decode(data)
    }

    fn decode<T: DeserializeOwned>(&self, data: serde_json::Value) -> Result<T, ProjectionError> {
        let known = catalogue_entry(&self.event.aggregatetype, &self.event.event_type).ok_or_else(
            || ProjectionError::Decode(format!("unknown event type {}", self.event.event_type)),
        )?;
        let stored = major(&self.event.eventversion)
            .parse::<u32>()
            .unwrap_or(u32::MAX);
        if stored > major(known.version).parse::<u32>().unwrap_or(0) {
            return Err(ProjectionError::Decode(format!(
                "{} version {} is not understood by this build (knows {})",
                self.event.event_type, self.event.eventversion, known.version
            )));
        }
        serde_json::from_value(data).map_err(|e| {
            ProjectionError::Decode(format!(
                "{} (stream seq {}) does not decode: {e}",
                self.event.event_type, self.stream_seq
            ))
        })
    }

    /// The aggregate id, which our aggregates always make a UUID.
    pub fn aggregate_uuid(&self) -> Result<uuid::Uuid, ProjectionError> {
        self.event.aggregateid.parse().map_err(|_| {
            ProjectionError::Decode(format!(
                "aggregate id `{}` is not a UUID",
                self.event.aggregateid
            ))
        })
    }
}

pub(crate) fn key_error(e: keystore::KeyError) -> ProjectionError {
    match e {
        keystore::KeyError::Db(e) => ProjectionError::Db(e),
        other => ProjectionError::Decode(other.to_string()),
    }
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

fn catalogue_entry(
    aggregate_type: &str,
    event_type: &str,
) -> Option<&'static event_schemas::EventInfo> {
    static CATALOGUE: std::sync::LazyLock<Vec<event_schemas::EventInfo>> =
        std::sync::LazyLock::new(event_schemas::catalogue);
    CATALOGUE
        .iter()
        .find(|i| i.aggregate_type == aggregate_type && i.event_type == event_type)
}

/// For an event a projection does not apply. Events of aggregates it does not
/// read pass; known events of aggregates it reads pass; an unknown event type
/// of an aggregate it reads might change what it shows, so it stops the
/// projection (until a build that knows the event is deployed).
pub(crate) fn ignore(ev: &ProjectedEvent, reads: &[&str]) -> Result<(), ProjectionError> {
    let aggregate = ev.event.aggregatetype.as_str();
    if !reads.contains(&aggregate) || catalogue_entry(aggregate, &ev.event.event_type).is_some() {
        Ok(())
    } else {
        Err(ProjectionError::Decode(format!(
            "unknown {aggregate} event type {} (stream seq {})",
            ev.event.event_type, ev.stream_seq
        )))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("event does not decode: {0}")]
    Decode(String),
    #[error("nats: {0}")]
    Nats(String),
    #[error("{0}")]
    Stopped(String),
    /// A command a process manager issued could not be committed now (the
    /// event store is unavailable, or kept losing a race): retried.
    #[error("command not committed: {0}")]
    CommandRetry(String),
    /// A command a process manager issued failed in a way no retry fixes:
    /// the process stops at this event, visibly, like a projection that
    /// cannot apply one (`crm projections retry` after a fix).
    #[error("command failed: {0}")]
    Command(String),
}

impl ProjectionError {
    /// Transient failures (connection lost, pool exhausted, NATS hiccup) are
    /// retried; everything else means the event cannot be applied.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Db(e) => matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
            ),
            Self::Nats(_) | Self::CommandRetry(_) => true,
            Self::Decode(_) | Self::Stopped(_) | Self::Command(_) => false,
        }
    }
}

/// A read model.
#[async_trait::async_trait]
pub trait Projection: Send + Sync {
    /// Stable name: the checkpoint key, the lock's name, and the argument
    /// of `crm projections rebuild`.
    fn name(&self) -> &'static str;
    /// Bump on any change of tables or of how events are applied.
    fn version(&self) -> i32;
    /// The tables this projection owns (unqualified).
    fn tables(&self) -> &'static [&'static str];
    /// `CREATE TABLE` / `CREATE INDEX` statements, unqualified: they run with
    /// `search_path` set to the target schema.
    fn ddl(&self) -> &'static str;
    /// Applies one event inside the batch transaction (`search_path` is the
    /// target schema). Events the projection does not use are ignored.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &ProjectedEvent,
    ) -> Result<(), ProjectionError>;
    /// Applies `events` in order, as many `apply` calls would. The default
    /// does exactly that; a projection may write a batch with multi-row
    /// statements (rebuilds and busy batches go through here). When it
    /// fails, the caller applies the events one by one to find the one
    /// that cannot be applied.
    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[&ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(conn, event).await?;
        }
        Ok(())
    }
    /// True for a process that issues commands from `apply`: it runs behind
    /// its own consumer, so its commands (and their retries) never hold back
    /// the read models, which share one consumer per process.
    fn issues_commands(&self) -> bool {
        false
    }
}

/// Every projection this build knows (the key store opens personal data).
pub fn all(keys: Arc<keystore::KeyStore>) -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(customers::Customers { keys: keys.clone() }),
        Arc::new(leads::Leads { keys }),
        Arc::new(timeline::LeadTimeline),
        Arc::new(audit::AuditTrail),
        Arc::new(quotes::Quotes),
        Arc::new(invoices::Invoices),
        Arc::new(ledger::Ledger),
        Arc::new(equipment::Equipment),
        Arc::new(assignments::Assignments),
        Arc::new(inventory::Inventory),
    ]
}

/// The projections named (all when `names` is empty); unknown names are an error.
pub fn select(
    keys: Arc<keystore::KeyStore>,
    names: &[String],
) -> Result<Vec<Arc<dyn Projection>>, String> {
    let all = all(keys);
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|p| p.name() == n).cloned().ok_or_else(|| {
                let known: Vec<_> = all.iter().map(|p| p.name()).collect();
                format!("unknown projection `{n}`; known: {}", known.join(", "))
            })
        })
        .collect()
}

/// Sets the schema a projection's unqualified SQL works in, for the rest of
/// the transaction. `schema` is ours (`read` or `rebuild_<name>`), never input.
pub(crate) async fn use_schema(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("SET LOCAL search_path TO \"{schema}\", public"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates a projection's tables in `schema` (inside the caller's transaction).
pub(crate) async fn create_tables(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    schema: &str,
) -> Result<(), sqlx::Error> {
    use_schema(conn, schema).await?;
    // A plain &str runs as a simple query, which may hold several statements.
    sqlx::Executor::execute(&mut *conn, projection.ddl()).await?;
    Ok(())
}

/// A statement being bound.
pub(crate) type Statement<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The DDL of a payment's columns (see [`PAYMENT_COLUMNS`]).
macro_rules! payment_ddl {
    () => {
        "payment_id     uuid           NOT NULL,
    amount         numeric(14, 2) NOT NULL,
    method         text           NOT NULL,
    transaction_id text,
    gateway        text,
    gateway_data   jsonb,
    processing_fee numeric(14, 2),
    receipt_url    text,
    notes          text,
    received_at    timestamptz    NOT NULL,
    recorded_by    uuid           NOT NULL,"
    };
}
pub(crate) use payment_ddl;

/// The DDL of server-computed totals (see [`TOTALS_COLUMNS`]).
macro_rules! totals_ddl {
    () => {
        "subtotal  numeric(14, 2) NOT NULL,
    tax_total numeric(14, 2) NOT NULL,
    total     numeric(14, 2) NOT NULL,
    tax_lines jsonb          NOT NULL,
    tax_date  date,"
    };
}
pub(crate) use totals_ddl;

/// A statement about the event's aggregate, with `$1` bound to the tenant
/// and `$2` to the aggregate id.
pub(crate) fn on_aggregate<'q>(
    sql: &'q str,
    ev: &ProjectedEvent,
) -> Result<Statement<'q>, ProjectionError> {
    Ok(sqlx::query(sql)
        .bind(ev.event.tenant.as_str().to_owned())
        .bind(ev.aggregate_uuid()?))
}

/// Moves the row of the event's aggregate in `table` (keyed by `tenant_id`,
/// `id`, with `version` and `updated_at`) to the event's sequence; `false`
/// when the row is missing or already at or past it (nothing else to apply).
pub(crate) async fn advance(
    conn: &mut PgConnection,
    table: &'static str,
    ev: &ProjectedEvent,
) -> Result<bool, ProjectionError> {
    let sql = format!(
        "UPDATE {table} SET version = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2 AND version < $3"
    );
    let done = on_aggregate(&sql, ev)?
        .bind(ev.event.sequence)
        .bind(ev.event.time)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What an event means to a read model with one row per aggregate.
pub(crate) enum Step {
    /// The aggregate's first event: insert the row.
    Create,
    /// A later event, not applied yet (the row's version was advanced).
    Update,
}

/// Sorts an event for a read model keeping one row per `aggregate` in
/// `table`: `None` for events of other aggregates and events already
/// applied; an unknown event type of the aggregate is an error.
pub(crate) async fn step(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    (aggregate, first_event): (&str, &str),
    table: &'static str,
) -> Result<Option<Step>, ProjectionError> {
    if ev.event.aggregatetype != aggregate {
        return Ok(None);
    }
    if ev.event.event_type == first_event {
        return Ok(Some(Step::Create));
    }
    ignore(ev, &[aggregate])?;
    Ok(advance(conn, table, ev).await?.then_some(Step::Update))
}

/// The columns [`bind_totals`] fills, in its order.
pub(crate) const TOTALS_COLUMNS: &str = "subtotal, tax_total, total, tax_lines, tax_date";

/// Binds server-computed totals as [`TOTALS_COLUMNS`].
pub(crate) fn bind_totals<'q>(
    query: Statement<'q>,
    totals: &event_schemas::money::Totals,
) -> Statement<'q> {
    query
        .bind(totals.subtotal)
        .bind(totals.tax_total)
        .bind(totals.total)
        .bind(sqlx::types::Json(totals.tax_lines.clone()))
        .bind(totals.tax_date)
}

/// `$from, $from+1, …` for `count` parameters.
pub(crate) fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns [`bind_payment`] fills, in its order.
pub(crate) const PAYMENT_COLUMNS: &str = "payment_id, amount, method, transaction_id, gateway, gateway_data, \
     processing_fee, receipt_url, notes, received_at, recorded_by";
pub(crate) const PAYMENT_COUNT: usize = 11;

/// Binds a payment's details as [`PAYMENT_COLUMNS`].
pub(crate) fn bind_payment<'q>(
    query: Statement<'q>,
    p: &event_schemas::money::PaymentDetails,
) -> Statement<'q> {
    query
        .bind(p.payment_id)
        .bind(p.amount)
        .bind(p.method.as_str())
        .bind(p.transaction_id.clone())
        .bind(p.gateway.clone())
        .bind(p.gateway_data.clone().map(sqlx::types::Json))
        .bind(p.processing_fee)
        .bind(p.receipt_url.clone())
        .bind(p.notes.clone())
        .bind(p.received_at)
        .bind(p.recorded_by)
}
