//! The command bus: load an aggregate from the event store, let it decide,
//! commit its events with their metadata.
//!
//! This is cqrs-es's `CqrsFramework::execute` opened up, because the API needs
//! what that hides: the tenant check before anything else, the version before
//! handling (for `If-Match`), and the version after committing (for the
//! response and read-your-writes). Storage is postgres-es's repository in pure
//! event-sourcing mode (no snapshots).

use aggregates::{DomainError, TenantOwned};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateError, EventStore};
use event_schemas::{EventMetadata, TenantId};
use keystore::KeyStore;
use postgres_es::PostgresEventRepository;
use std::sync::Arc;

use crate::sealing::SealingRepository;
use sqlx::PgPool;
use uuid::Uuid;

/// An aggregate loaded for a command, with the version it was loaded at.
pub struct Loaded<A: Aggregate> {
    id: Uuid,
    context: EventStoreAggregateContext<A>,
}

impl<A: Aggregate> Loaded<A> {
    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn state(&self) -> &A {
        &self.context.aggregate
    }

    /// The number of events the aggregate has (0 for a new one).
    pub fn version(&self) -> u64 {
        self.context.current_sequence as u64
    }
}

/// The outcome of a committed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub id: Uuid,
    /// The aggregate's version after the command.
    pub version: u64,
    /// How many events the command produced (0 when it changed nothing).
    pub events: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    #[error(transparent)]
    Domain(E),
    /// Another command on the same aggregate committed first, or a unique
    /// claim (email, phone) was taken in the same instant.
    #[error("concurrent write conflict")]
    Conflict,
    /// An exclusion constraint refused the events (e.g. two bookings of one
    /// piece of equipment overlap): a business conflict, named by the route.
    #[error("refused by constraint {0}")]
    Excluded(String),
    /// A rule the database checks at commit refused the events (the message
    /// says why, e.g. `equipment … is REPAIR`).
    #[error("{0}")]
    Refused(String),
    /// A customer's email or phone is already claimed by another customer
    /// (checked by the database inside the commit).
    #[error("another customer ({holder}) already has this {field}")]
    Taken { field: String, holder: String },
    /// The command's events are larger than the event store takes
    /// ([`MAX_EVENT_BYTES`] each): every reader, and NATS's message limit,
    /// must be able to carry them.
    #[error("the change is too large to record: an event of {bytes} bytes, at most {limit}")]
    TooLarge { bytes: usize, limit: usize },
    /// The permissions the command was authorized under changed (or a grant
    /// expired) before it committed: nothing was written; decide it again
    /// under the current permissions.
    #[error("the permissions changed while the command was decided")]
    PermissionsChanged,
    /// No aggregate of this type has this id in the caller's tenant (it may
    /// exist in another tenant: indistinguishable on purpose).
    #[error("no {} with id {id}", aggregate.to_lowercase())]
    NotFound { aggregate: &'static str, id: Uuid },
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    #[error("event store failure: {0}")]
    Internal(String),
}

fn store_error<E: std::error::Error>(e: AggregateError<E>) -> CommandError<E> {
    match e {
        AggregateError::UserError(err) => CommandError::Domain(err),
        AggregateError::AggregateConflict => CommandError::Conflict,
        AggregateError::DatabaseConnectionError(err) => CommandError::Unavailable(err.to_string()),
        AggregateError::DeserializationError(err) => {
            CommandError::Internal(format!("stored event does not deserialize: {err}"))
        }
        AggregateError::UnexpectedError(err) => {
            if let Some(sqlx::Error::Database(db)) = err.downcast_ref::<sqlx::Error>() {
                match db.code().as_deref() {
                    Some("23P01") => {
                        return CommandError::Excluded(
                            db.constraint().unwrap_or_default().to_owned(),
                        );
                    }
                    // A rule checked by a trigger (e.g. equipment that cannot be booked).
                    Some("CRM01") => return CommandError::Refused(db.message().to_owned()),
                    // The policy the command was decided under is out of date.
                    Some("CRM03") => return CommandError::PermissionsChanged,
                    // An email or phone claimed by another customer: the
                    // message names the field, DETAIL the holder.
                    Some("CRM02") => {
                        let field = db.message().split(' ').next().unwrap_or_default();
                        let holder = db
                            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                            .and_then(|pg| pg.detail())
                            .unwrap_or_default();
                        return CommandError::Taken {
                            field: field.to_owned(),
                            holder: holder.to_owned(),
                        };
                    }
                    // Two writers checking each other's rows (exclusion
                    // constraints can deadlock): retried like a lost race.
                    Some("40P01" | "40001") => return CommandError::Conflict,
                    _ => {}
                }
            }
            // sqlx reports an exhausted or closed pool as "unexpected".
            let text = err.to_string();
            if text.contains("pool timed out") || text.contains("pool closed") {
                CommandError::Unavailable(text)
            } else {
                CommandError::Internal(text)
            }
        }
    }
}

/// The largest event payload the store takes, serialized (before sealing).
/// Well under NATS's default 1 MiB `max_payload`, with room for sealing and
/// the envelope; every input field has its own, smaller limit.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Counts bytes written, keeping none.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The current version (number of events) of `aggregate_type`/`id` in
/// `tenant`'s event store; 0 when `tenant` has none (another tenant's
/// aggregate included). The read side asks this before waiting for a
/// version (`?min_version=`): it never reads the events table itself.
pub async fn current_version(
    pool: &PgPool,
    tenant: &TenantId,
    aggregate_type: &str,
    id: Uuid,
) -> Result<u64, sqlx::Error> {
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(max(sequence), 0)::bigint FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND tenant_id = $3",
    )
    .bind(aggregate_type)
    .bind(id.to_string())
    .bind(tenant.as_str())
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(version).unwrap_or(0))
}

/// Refuses an event whose serialized form is over `limit` bytes.
pub fn check_event_size<E: serde::Serialize, X: std::error::Error>(
    event: &E,
    limit: usize,
) -> Result<(), CommandError<X>> {
    let mut count = ByteCount(0);
    serde_json::to_writer(&mut count, event)
        .map_err(|e| CommandError::Internal(format!("an event does not serialize: {e}")))?;
    if count.0 > limit {
        return Err(CommandError::TooLarge {
            bytes: count.0,
            limit,
        });
    }
    Ok(())
}

/// How often a command that lost a race is decided again (in all).
pub const ATTEMPTS: u32 = 8;

/// Which aggregate a command runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A new aggregate under a new id (not loaded: no one else knows the id).
    New(Uuid),
    /// An existing aggregate of the tenant; [`CommandError::NotFound`] otherwise.
    Existing(Uuid),
    /// The aggregate under a well-known or derived id, fresh if it has no
    /// events yet (a tenant's settings, a recurring invoice's cycle).
    Any(Uuid),
}

impl Target {
    /// A new aggregate under a new time-ordered id.
    pub fn new_id() -> Self {
        Self::New(Uuid::now_v7())
    }
}

/// A command's target in a tenant, and whether a lost race is decided again.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub tenant: &'a TenantId,
    pub target: Target,
    once: bool,
}

impl<'a> Run<'a> {
    pub fn new(tenant: &'a TenantId, target: Target) -> Self {
        Self {
            tenant,
            target,
            once: false,
        }
    }

    /// Decided once: a lost race is [`CommandError::Conflict`] (the caller
    /// pinned the version it decided on, e.g. with `If-Match`).
    pub fn once(mut self, once: bool) -> Self {
        self.once = once;
        self
    }
}

/// The event store for one aggregate type.
pub struct Store<A: Aggregate> {
    inner: PersistedEventStore<SealingRepository, A>,
    pool: PgPool,
}

impl<A> Store<A>
where
    A: Aggregate<Services = ()> + TenantOwned,
    A::Error: DomainError,
{
    pub fn new(pool: PgPool, keys: Arc<KeyStore>) -> Self {
        Self {
            inner: PersistedEventStore::new_event_store(SealingRepository::new(
                PostgresEventRepository::new(pool.clone()),
                pool.clone(),
                keys,
            )),
            pool,
        }
    }

    /// The version aggregate `id` had when the event at `position` was
    /// committed: how many of its events precede that event in commit order
    /// (the relay's and so the stream's order, `(txid, position)`). Stable
    /// once that event is published: the relay publishes it only after
    /// every transaction with a lower transaction id has ended. `None` when
    /// no event has that position.
    pub async fn version_before(
        &self,
        id: Uuid,
        position: i64,
    ) -> Result<Option<u64>, CommandError<A::Error>> {
        let count: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM events e
                      WHERE e.aggregate_type = $1 AND e.aggregate_id = $2
                        AND (e.txid, e.position) < (c.txid, c.position))
               FROM events c WHERE c.position = $3",
        )
        .bind(A::TYPE)
        .bind(id.to_string())
        .bind(position)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| CommandError::Unavailable(e.to_string()))?;
        Ok(count.map(|n| n as u64))
    }

    async fn load_context(
        &self,
        id: Uuid,
    ) -> Result<EventStoreAggregateContext<A>, CommandError<A::Error>> {
        self.inner
            .load_aggregate(&id.to_string())
            .await
            .map_err(store_error)
    }

    fn not_found(id: Uuid) -> CommandError<A::Error> {
        CommandError::NotFound {
            aggregate: A::TYPE,
            id,
        }
    }

    /// Loads an existing aggregate of `tenant`. Missing, or another tenant's:
    /// both are [`CommandError::NotFound`], indistinguishably.
    #[tracing::instrument(skip_all, fields(aggregate = A::TYPE, aggregate_id = %id))]
    pub async fn load(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Loaded<A>, CommandError<A::Error>> {
        let context = self.load_context(id).await?;
        if context.current_sequence == 0 || context.aggregate.tenant() != Some(tenant) {
            return Err(Self::not_found(id));
        }
        Ok(Loaded { id, context })
    }

    /// Loads an existing aggregate of `tenant`, or `None` (used to check
    /// references such as a lead's customer).
    pub async fn find(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<Loaded<A>>, CommandError<A::Error>> {
        match self.load(tenant, id).await {
            Ok(loaded) => Ok(Some(loaded)),
            Err(CommandError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The aggregate of `tenant` as it stood after event `version` (its
    /// latest when `None`), rebuilt from its events; `None` when it does not
    /// exist for `tenant`. Returns the state and the version reached.
    pub async fn state_at(
        &self,
        tenant: &TenantId,
        id: Uuid,
        version: Option<u64>,
    ) -> Result<Option<(A, u64)>, CommandError<A::Error>> {
        let events = self
            .inner
            .load_events(&id.to_string())
            .await
            .map_err(store_error)?;
        let mut state = A::default();
        let mut reached = 0;
        for envelope in events {
            if version.is_some_and(|v| envelope.sequence as u64 > v) {
                break;
            }
            state.apply(envelope.payload);
            reached = envelope.sequence as u64;
        }
        if reached == 0 || state.tenant() != Some(tenant) {
            return Ok(None);
        }
        Ok(Some((state, reached)))
    }

    /// The aggregate under a well-known or derived id (a tenant's permission
    /// matrix, a recurring invoice's cycle), fresh if it has no events yet;
    /// another tenant's is [`CommandError::NotFound`].
    pub async fn load_or_new(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Loaded<A>, CommandError<A::Error>> {
        let context = self.load_context(id).await?;
        if context.current_sequence > 0 && context.aggregate.tenant() != Some(tenant) {
            return Err(Self::not_found(id));
        }
        Ok(Loaded { id, context })
    }

    /// A fresh aggregate under `id`, not loaded (a new server-generated id
    /// has no events).
    fn fresh(id: Uuid) -> Loaded<A> {
        Loaded {
            id,
            context: EventStoreAggregateContext {
                aggregate_id: id.to_string(),
                aggregate: A::default(),
                current_sequence: 0,
                current_snapshot: None,
            },
        }
    }

    async fn target(
        &self,
        tenant: &TenantId,
        target: Target,
    ) -> Result<Loaded<A>, CommandError<A::Error>> {
        match target {
            Target::New(id) => Ok(Self::fresh(id)),
            Target::Existing(id) => self.load(tenant, id).await,
            Target::Any(id) => self.load_or_new(tenant, id).await,
        }
    }

    /// Runs a command: the one way every route and every process changes an
    /// aggregate. Loads the target, lets `decide` look at it and build the
    /// command (it may refuse: permissions, `If-Match`, references), lets
    /// the aggregate handle it and commits the events. A commit that loses a
    /// race on the aggregate (another command committed first) is decided
    /// again on the fresh state, up to [`ATTEMPTS`] times with a short
    /// pause, unless `run` says [`Run::once`] (a client's `If-Match`
    /// pinned the version it decided on). Concurrent commands on one
    /// aggregate are so decided one after the other: each sees what the
    /// previous committed, and a rule refuses it with its reason instead of
    /// a bare conflict. `metadata` is asked once per attempt (a fresh
    /// command id each time).
    pub async fn run<X>(
        &self,
        run: Run<'_>,
        metadata: impl Fn() -> EventMetadata,
        mut decide: impl FnMut(&Loaded<A>) -> Result<A::Command, X>,
    ) -> Result<Committed, X>
    where
        X: From<CommandError<A::Error>>,
    {
        let attempts = match run.target {
            // A new id nobody else knows cannot be raced.
            Target::New(_) => 1,
            _ if run.once => 1,
            _ => ATTEMPTS,
        };
        for attempt in 1..=attempts {
            let loaded = self.target(run.tenant, run.target).await?;
            let command = decide(&loaded)?;
            match self.execute(loaded, command, &metadata()).await {
                Err(CommandError::Conflict) if attempt < attempts => {
                    metrics::counter!("command_retries_total", "aggregate_type" => A::TYPE)
                        .increment(1);
                    tokio::time::sleep(std::time::Duration::from_millis(2 * attempt as u64)).await;
                }
                other => return Ok(other?),
            }
        }
        Err(CommandError::Conflict.into())
    }

    /// Lets the aggregate decide and commits its events, expecting the
    /// aggregate to still be at the version it was loaded at.
    #[tracing::instrument(skip_all, fields(aggregate = A::TYPE, aggregate_id = %loaded.id, command_id = %metadata.command_id), err(Display))]
    async fn execute(
        &self,
        loaded: Loaded<A>,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed, CommandError<A::Error>> {
        let Loaded { id, mut context } = loaded;
        let version = context.current_sequence;
        let sink: EventSink<A> = EventSink::default();
        context
            .aggregate
            .handle(command, &(), &sink)
            .await
            .map_err(CommandError::Domain)?;
        let events = sink.collect().await;
        if events.is_empty() {
            return Ok(Committed {
                id,
                version: version as u64,
                events: 0,
            });
        }
        for event in &events {
            check_event_size(event, MAX_EVENT_BYTES)?;
        }
        let count = events.len();
        self.inner
            .commit(events, context, metadata.to_map())
            .await
            .map_err(store_error)?;
        crate::signal::committed();
        metrics::counter!("events_appended_total", "aggregate_type" => A::TYPE)
            .increment(count as u64);
        Ok(Committed {
            id,
            version: (version + count) as u64,
            events: count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    #[test]
    fn an_event_over_the_limit_is_refused_with_its_size() {
        let event = serde_json::json!({"Tagged": {"tag": "x".repeat(100)}});
        assert!(check_event_size::<_, Never>(&event, 200).is_ok());
        match check_event_size::<_, Never>(&event, 50) {
            Err(CommandError::TooLarge { bytes, limit }) => {
                assert_eq!(bytes, serde_json::to_vec(&event).unwrap().len());
                assert_eq!(limit, 50);
            }
            other => panic!("{other:?}"),
        }
    }
}
