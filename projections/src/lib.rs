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
//! memory: no message of its own, no SQL (its checkpoint moves with the
//! batch's one UPDATE), and no decode of its own: projections match on the
//! aggregate's event enum ([`ProjectedEvent::typed`]), decoded once per
//! message for all of them. A process that issues commands
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
pub mod availability;
pub mod calendar_feeds;
pub mod communications;
pub mod customers;
pub mod dashboards;
pub mod equipment;
pub mod integrations;
pub mod inventory;
pub mod invoices;
pub mod leads;
pub mod ledger;
pub mod queries;
pub mod quotes;
pub mod rebuild;
pub mod report_files;
pub mod reports;
pub mod rules;
pub mod runner;
pub mod schedules;
pub mod staff;
pub mod status;
pub mod templates;
pub mod tenant_profiles;
pub mod timeline;
pub mod webhooks;

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

use event_schemas::customer::CustomerEvent;
use event_schemas::{CloudEvent, TypedEvent};
use sqlx::PgConnection;

pub use rebuild::rebuild;
pub use runner::{ProjectorConfig, run_projector, run_projectors};
pub use status::{ProjectionStatus, status};

/// The channel a projector notifies after each committed batch
/// (payload `<name>:<last seq>`), for read-your-writes waits.
pub const READ_MODEL_CHANNEL: &str = "crm_read_models";

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

impl PrefetchedKeys {
    /// One customer event with its personal fields opened (`None` for
    /// another aggregate's event).
    fn open(&self, ev: &ProjectedEvent) -> Result<Option<CustomerEvent>, ProjectionError> {
        if !ev.has_sealed_fields() {
            return ev.customer_event_with(None);
        }
        let subject = (ev.event.tenant.to_string(), ev.event.aggregateid.clone());
        ev.customer_event_with(self.0.get(&subject).and_then(Option::as_ref))
    }

    /// Opens every customer event of a batch (`None` for other aggregates'
    /// events), in order. A large batch (a rebuild's) is opened on every
    /// core: AES-GCM and the decoding of thousands of sealed registrations
    /// would otherwise keep one core busy while the database waits.
    pub(crate) fn open_all(
        &self,
        events: &[&ProjectedEvent],
    ) -> Vec<Result<Option<CustomerEvent>, ProjectionError>> {
        let open = |ev: &&ProjectedEvent| {
            // The lead events of the batch are decoded here too, for the
            // readers that apply them next (the decoding is shared).
            if ev.event.aggregatetype == event_schemas::lead::AGGREGATE_TYPE {
                let _ = ev.typed::<event_schemas::lead::LeadEvent>();
            }
            self.open(ev)
        };
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if events.len() < PARALLEL_OPEN_FROM || threads < 2 || !multi_thread {
            return events.iter().map(open).collect();
        }
        let chunk = events.len().div_ceil(threads);
        tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let parts: Vec<_> = events
                    .chunks(chunk)
                    .map(|part| scope.spawn(move || part.iter().map(open).collect::<Vec<_>>()))
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|part| {
                        part.join().unwrap_or_else(|_| {
                            vec![Err(ProjectionError::Decode(
                                "opening a customer event panicked".into(),
                            ))]
                        })
                    })
                    .collect()
            })
        })
    }
}

/// Batches at least this large are opened on every core.
const PARALLEL_OPEN_FROM: usize = 256;

/// The `application_name` of the connections that write derived data only:
/// projectors, rebuilds (and the relay's bookkeeping). Their transactions
/// write read models, never events (a trigger on `events` refuses them), so
/// the relay's horizon does not wait for them (`relay::publish`'s tail
/// query; the end-to-end tests check the copies agree).
pub const DERIVED_APPLICATION_NAME: &str = "crm-derived";

/// The live schema of every read model.
pub const LIVE_SCHEMA: &str = "read";

/// An event as a projection sees it: the envelope and its stream sequence.
#[derive(Debug, Clone)]
pub struct ProjectedEvent {
    pub stream_seq: u64,
    pub event: CloudEvent,
    /// The payload as its aggregate's event enum, decoded by the first
    /// projection that asks and shared with the others (the runner hands
    /// one message to every projection).
    decoded: OnceLock<Decoded>,
}

/// A payload decoded as an event enum, or why it does not decode.
#[derive(Debug, Clone)]
struct Decoded {
    /// The enum's type.
    as_type: TypeId,
    event: Result<Arc<dyn Any + Send + Sync>, String>,
}

impl ProjectedEvent {
    pub fn new(stream_seq: u64, event: CloudEvent) -> Self {
        Self {
            stream_seq,
            event,
            decoded: OnceLock::new(),
        }
    }

    /// The event as `E`, its aggregate's event enum (decoded once, whoever
    /// asks); `None` for another aggregate's event. An event type `E` does
    /// not know, or a stored version newer (by major) than the one this
    /// build knows, is an error: it might change what a reader of the
    /// aggregate shows. Older versions decode (a 1.0 customer event holds
    /// plain values where 2.0 holds sealed ones). A customer event holding
    /// sealed personal fields is decoded with [`Self::customer_event`].
    pub fn typed<E>(&self) -> Result<Option<&E>, ProjectionError>
    where
        E: TypedEvent + Send + Sync + 'static,
    {
        if self.event.aggregatetype != E::AGGREGATE_TYPE {
            return Ok(None);
        }
        let decoded = self.decoded.get_or_init(|| {
            let event = if self.has_sealed_fields() {
                Err(format!(
                    "{} (stream seq {}) holds sealed personal fields: open it with `opened`",
                    self.event.event_type, self.stream_seq
                ))
            } else {
                self.decode::<E>(self.event.data.clone())
                    .map(|e| Arc::new(e) as Arc<dyn Any + Send + Sync>)
            };
            Decoded {
                as_type: TypeId::of::<E>(),
                event,
            }
        });
        let other_enum = || {
            ProjectionError::Decode(format!(
                "{} (stream seq {}) was decoded as another event enum of {}",
                self.event.event_type,
                self.stream_seq,
                E::AGGREGATE_TYPE
            ))
        };
        if decoded.as_type != TypeId::of::<E>() {
            return Err(other_enum());
        }
        let event = decoded
            .event
            .as_ref()
            .map_err(|e| ProjectionError::Decode(e.clone()))?;
        event.downcast_ref::<E>().map(Some).ok_or_else(other_enum)
    }

    /// [`Self::typed`] for customer events, with their personal fields
    /// opened with the subject's data key; once the key is destroyed (the
    /// person forgotten) names read `[erased]` and the other personal fields
    /// `null`. The key store is asked only when the event holds sealed
    /// fields.
    pub async fn customer_event(
        &self,
        keys: &keystore::KeyStore,
    ) -> Result<Option<CustomerEvent>, ProjectionError> {
        self.opened::<CustomerEvent>(keys).await
    }

    /// [`Self::typed`] for the events of an aggregate with personal data
    /// (`event_schemas::personal`), its sealed fields opened with the
    /// subject's data key (or erased once it is destroyed); `None` for
    /// another aggregate's event.
    pub async fn opened<E>(&self, keys: &keystore::KeyStore) -> Result<Option<E>, ProjectionError>
    where
        E: TypedEvent + Clone + Send + Sync + 'static,
    {
        if self.event.aggregatetype != E::AGGREGATE_TYPE || !self.has_sealed_fields() {
            return self.open_with::<E>(None);
        }
        let key = keys
            .existing_data_key(self.event.tenant.as_str(), self.key_subject())
            .await
            .map_err(key_error)?;
        self.open_with::<E>(key.as_ref())
    }

    /// Whose data key seals this event's personal fields
    /// (`event_schemas::personal::key_subject`).
    pub fn key_subject(&self) -> &str {
        event_schemas::personal::key_subject(
            &self.event.aggregatetype,
            &self.event.aggregateid,
            self.event.data.as_object(),
        )
    }

    /// Whether the payload holds sealed personal fields (which need the
    /// subject's data key).
    pub fn has_sealed_fields(&self) -> bool {
        let fields =
            event_schemas::personal::fields(&self.event.aggregatetype, &self.event.event_type);
        !fields.is_empty()
            && self.event.data.as_object().is_some_and(|object| {
                fields
                    .iter()
                    .any(|f| object.get(*f).is_some_and(keystore::sealed::is_sealed))
            })
    }

    /// [`Self::customer_event`] with the subject's key already at hand
    /// (`None`: destroyed or never made).
    pub fn customer_event_with(
        &self,
        key: Option<&keystore::Key>,
    ) -> Result<Option<CustomerEvent>, ProjectionError> {
        self.open_with::<CustomerEvent>(key)
    }

    /// [`Self::opened`] with the subject's key already at hand (`None`:
    /// destroyed or never made).
    pub fn open_with<E>(&self, key: Option<&keystore::Key>) -> Result<Option<E>, ProjectionError>
    where
        E: TypedEvent + Clone + Send + Sync + 'static,
    {
        use keystore::sealed;
        if self.event.aggregatetype != E::AGGREGATE_TYPE {
            return Ok(None);
        }
        if !self.has_sealed_fields() {
            // Nothing to open: the decoding every projection shares.
            return Ok(self.typed::<E>()?.cloned());
        }
        let e = &self.event;
        let fields = event_schemas::personal::fields(&e.aggregatetype, &e.event_type);
        let erasable = event_schemas::personal::erasable_names(&e.aggregatetype);
        let mut data = e.data.clone();
        if let Some(object) = data.as_object_mut() {
            sealed::open_fields(key, object, fields, erasable, |f| {
                sealed::aad(&e.aggregatetype, &e.aggregateid, e.sequence, f)
            })
            .map_err(|err| {
                ProjectionError::Decode(format!(
                    "{} (stream seq {}): {err}",
                    e.event_type, self.stream_seq
                ))
            })?;
        }
        self.decode(data).map(Some).map_err(ProjectionError::Decode)
    }

    /// `data` as `E` (of this event's aggregate), checking that this build
    /// knows the event type and its major version.
    fn decode<E: TypedEvent>(&self, data: serde_json::Value) -> Result<E, String> {
        let e = &self.event;
        let known = E::catalogue()
            .iter()
            .find(|i| i.event_type == e.event_type)
            .ok_or_else(|| {
                format!(
                    "unknown {} event type {} (stream seq {})",
                    e.aggregatetype, e.event_type, self.stream_seq
                )
            })?;
        let stored = major(&e.eventversion).parse::<u32>().unwrap_or(u32::MAX);
        if stored > major(known.version).parse::<u32>().unwrap_or(0) {
            return Err(format!(
                "{} version {} is not understood by this build (knows {})",
                e.event_type, e.eventversion, known.version
            ));
        }
        E::from_parts(&e.event_type, data).map_err(|err| {
            format!(
                "{} (stream seq {}) does not decode: {err}",
                e.event_type, self.stream_seq
            )
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
        Arc::new(leads::Leads { keys: keys.clone() }),
        Arc::new(staff::Staff { keys: keys.clone() }),
        Arc::new(schedules::Schedules),
        Arc::new(availability::Availability),
        Arc::new(tenant_profiles::TenantProfiles),
        Arc::new(calendar_feeds::CalendarFeeds),
        Arc::new(templates::Templates),
        Arc::new(communications::Communications { keys: keys.clone() }),
        Arc::new(rules::CommunicationRules),
        Arc::new(webhooks::Webhooks { keys: keys.clone() }),
        Arc::new(integrations::Integrations { keys: keys.clone() }),
        Arc::new(reports::Reports),
        Arc::new(timeline::LeadTimeline { keys: keys.clone() }),
        Arc::new(audit::AuditTrail),
        Arc::new(quotes::Quotes),
        Arc::new(invoices::Invoices),
        Arc::new(ledger::Ledger),
        Arc::new(equipment::Equipment),
        Arc::new(assignments::Assignments),
        Arc::new(inventory::Inventory),
        Arc::new(dashboards::Dashboards),
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

/// Whether a read model keeping one row per aggregate in `table` (keyed by
/// `tenant_id`, `id`, with `version` and `updated_at`) applies an event: the
/// aggregate's first event (`first`) inserts the row; a later one is applied
/// if [`advance`] moved the row to it (not when the row is missing or
/// already at or past it).
pub(crate) async fn applies(
    conn: &mut PgConnection,
    table: &'static str,
    ev: &ProjectedEvent,
    first: bool,
) -> Result<bool, ProjectionError> {
    if first {
        return Ok(true);
    }
    advance(conn, table, ev).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use event_schemas::customer::{AGGREGATE_TYPE as CUSTOMER, CustomerTagged};
    use event_schemas::lead::LeadEvent;
    use event_schemas::quote::QuoteEvent;
    use serde_json::{Value, json};

    fn event(aggregate: &str, event_type: &str, version: &str, data: Value) -> ProjectedEvent {
        let id = "0196a8c4-5c6e-7a52-9d2b-0c4b2f9c3a11";
        let event = serde_json::from_value(json!({
            "specversion": "1.0", "id": uuid::Uuid::nil(), "source": format!("/tenants/acme/{aggregate}"),
            "type": event_type, "subject": id, "time": "2026-01-01T00:00:00Z",
            "datacontenttype": "application/json",
            "dataschema": format!("urn:crm:event:{event_type}:{version}"), "data": data,
            "tenant": "acme", "aggregatetype": aggregate, "aggregateid": id, "sequence": 1,
            "eventversion": version, "position": 1, "correlationid": "c", "causationid": "c",
            "commandid": "c", "actor": "a", "actorrole": "admin"
        }))
        .unwrap();
        ProjectedEvent::new(7, event)
    }

    /// A registration's payload with its personal values in plain.
    fn registered() -> Value {
        json!({
            "tenant_id": "acme", "customer_id": uuid::Uuid::nil(), "first_name": "Jeanne",
            "last_name": "Mance", "email": "j@example.com", "phone": null,
            "address": {"line1": "1 rue Saint-Paul", "city": "Montréal", "province": "QC",
                        "postal_code": "H2Y 1H1", "country": "CA"},
            "lead_source": null, "tags": [], "preferences": {}, "notes": "VIP"
        })
    }

    #[test]
    fn typed_decodes_its_aggregates_events_once_and_passes_over_others() {
        let ev = event(CUSTOMER, "CustomerTagged", "1.0", json!({"tag": "vip"}));
        let first = ev.typed::<CustomerEvent>().unwrap().unwrap();
        assert_eq!(
            first,
            &CustomerEvent::CustomerTagged(CustomerTagged { tag: "vip".into() })
        );
        let again = ev.typed::<CustomerEvent>().unwrap().unwrap();
        assert!(std::ptr::eq(first, again), "decoded once, for every reader");
        // Another aggregate's enum: not this event's business, no decoding.
        assert!(ev.typed::<LeadEvent>().unwrap().is_none());
        assert!(ev.typed::<QuoteEvent>().unwrap().is_none());
    }

    #[test]
    fn typed_refuses_an_unknown_event_type_of_its_aggregate_and_skips_other_aggregates() {
        let ev = event(CUSTOMER, "CustomerTeleported", "1.0", json!({"to": "Mars"}));
        match ev.typed::<CustomerEvent>() {
            Err(ProjectionError::Decode(e)) => {
                assert!(
                    e.contains("unknown Customer event type CustomerTeleported"),
                    "{e}"
                );
                assert!(e.contains("stream seq 7"), "{e}");
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
        // The error is remembered as well, for the next reader.
        assert!(matches!(
            ev.typed::<CustomerEvent>(),
            Err(ProjectionError::Decode(_))
        ));
        // Readers of other aggregates pass over it.
        assert!(ev.typed::<LeadEvent>().unwrap().is_none());
        // The personal path says the same.
        assert!(matches!(
            ev.customer_event_with(None),
            Err(ProjectionError::Decode(e)) if e.contains("CustomerTeleported")
        ));
    }

    #[test]
    fn a_newer_major_version_is_refused_and_an_older_one_decodes() {
        let newer = event(CUSTOMER, "CustomerTagged", "2.0", json!({"tag": "vip"}));
        assert!(matches!(
            newer.typed::<CustomerEvent>(),
            Err(ProjectionError::Decode(e)) if e.contains("not understood by this build")
        ));
        // A 1.0 registration holds its personal values in plain.
        let older = event(CUSTOMER, "CustomerRegistered", "1.0", registered());
        let Some(CustomerEvent::CustomerRegistered(d)) = older.customer_event_with(None).unwrap()
        else {
            panic!("a registration")
        };
        assert_eq!(
            (d.first_name.as_str(), d.notes.as_deref()),
            ("Jeanne", Some("VIP"))
        );
    }

    #[test]
    fn sealed_personal_fields_are_opened_with_the_key_or_read_as_erased() {
        let key = keystore::Key::random();
        let id = "0196a8c4-5c6e-7a52-9d2b-0c4b2f9c3a11";
        let mut data = registered();
        keystore::sealed::seal_fields(
            &key,
            data.as_object_mut().unwrap(),
            event_schemas::customer::personal_fields("CustomerRegistered"),
            |f| keystore::sealed::aad(CUSTOMER, id, 1, f),
        );
        let ev = event(CUSTOMER, "CustomerRegistered", "2.0", data);
        assert!(ev.has_sealed_fields());
        assert!(
            matches!(ev.typed::<CustomerEvent>(), Err(ProjectionError::Decode(e)) if e.contains("sealed")),
            "the shared decoding does not read sealed fields"
        );
        let Some(CustomerEvent::CustomerRegistered(opened)) =
            ev.customer_event_with(Some(&key)).unwrap()
        else {
            panic!("a registration")
        };
        assert_eq!(opened.first_name, "Jeanne");
        assert_eq!(opened.email.as_deref(), Some("j@example.com"));
        let Some(CustomerEvent::CustomerRegistered(erased)) = ev.customer_event_with(None).unwrap()
        else {
            panic!("a registration")
        };
        assert_eq!(erased.first_name, keystore::ERASED);
        assert_eq!((erased.email, erased.notes), (None, None));
        // Not a customer event: nothing to open.
        let lead = event("Lead", "LeadAssigned", "1.0", json!({"assigned_to": null}));
        assert!(!lead.has_sealed_fields());
        assert!(lead.customer_event_with(None).unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_batch_is_opened_on_every_core_in_order_with_each_subjects_key() {
        // Two subjects, one key destroyed; every third event another
        // aggregate's: the batch comes back in order, each event opened
        // with its own subject's key.
        let key = keystore::Key::random();
        let ids = [
            "0196a8c4-5c6e-7a52-9d2b-0c4b2f9c3a11",
            "0196a8c4-5c6e-7a52-9d2b-0c4b2f9c3a12",
        ];
        let events: Vec<ProjectedEvent> = (0..3 * PARALLEL_OPEN_FROM)
            .map(|i| {
                if i % 3 == 2 {
                    return event("Lead", "LeadAssigned", "1.0", json!({"assigned_to": null}));
                }
                let id = ids[i % 3];
                let mut data = registered();
                data["first_name"] = json!(format!("Jeanne {i}"));
                keystore::sealed::seal_fields(
                    &key,
                    data.as_object_mut().unwrap(),
                    event_schemas::customer::personal_fields("CustomerRegistered"),
                    |f| keystore::sealed::aad(CUSTOMER, id, 1, f),
                );
                let mut ev = event(CUSTOMER, "CustomerRegistered", "2.0", data);
                ev.event.aggregateid = id.to_owned();
                ev
            })
            .collect();
        let refs: Vec<&ProjectedEvent> = events.iter().collect();
        let keys = PrefetchedKeys(
            [
                (("acme".to_owned(), ids[0].to_owned()), Some(key.clone())),
                (("acme".to_owned(), ids[1].to_owned()), None),
            ]
            .into_iter()
            .collect(),
        );
        let opened = keys.open_all(&refs);
        assert_eq!(opened.len(), refs.len());
        for (i, opened) in opened.into_iter().enumerate() {
            match (i % 3, opened.unwrap()) {
                (0, Some(CustomerEvent::CustomerRegistered(d))) => {
                    assert_eq!(d.first_name, format!("Jeanne {i}"))
                }
                (1, Some(CustomerEvent::CustomerRegistered(d))) => {
                    assert_eq!(d.first_name, keystore::ERASED)
                }
                (2, None) => assert!(refs[i].typed::<LeadEvent>().unwrap().is_some()),
                (n, other) => panic!("event {i} ({n}): {other:?}"),
            }
        }
    }
}
