//! The event store's personal-data layer: postgres-es's repository, with
//! personal fields sealed on the way in and opened on the way out.
//!
//! ```text
//!  aggregate (plaintext events) ─▶ SealingRepository::persist ─▶ seal personal fields with the
//!             subject's data key (event_schemas::personal), a customer's email_index / phone_index ─▶ events table
//!  aggregate ◀─ open personal fields (erased if the key was destroyed) ◀─ get_events ◀─ events table
//! ```
//!
//! Aggregates stay pure and see plaintext; the stored form (and everything
//! downstream: NATS, exports) holds only sealed values and blind indexes.

use std::sync::Arc;

use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use event_schemas::customer::AGGREGATE_TYPE as CUSTOMER;
use event_schemas::personal;
use keystore::{KeyError, KeyStore, sealed};
use postgres_es::PostgresEventRepository;
use serde_json::{Map, Value};

/// postgres-es's repository with sealing, and a one-statement commit.
pub struct SealingRepository {
    inner: PostgresEventRepository,
    pool: sqlx::PgPool,
    keys: Arc<KeyStore>,
}

impl SealingRepository {
    pub fn new(inner: PostgresEventRepository, pool: sqlx::PgPool, keys: Arc<KeyStore>) -> Self {
        Self { inner, pool, keys }
    }
}

/// A command's events in one multi-row INSERT, committed on its own: one
/// round trip where postgres-es spends BEGIN, an INSERT per event and
/// COMMIT (decision 0020). Same table, same columns, and the same text in
/// `payload` and `metadata` (postgres-es sends them as `jsonb`, so the stored
/// `json` holds jsonb's rendering; so does this). The same errors as postgres-es: a duplicate sequence
/// (`23505`) is the optimistic-lock conflict, a lost connection a connection
/// error, anything else (our triggers' `CRM0x` included) passes through.
///
/// With `new_key`, the subject's new data key is stored by the same
/// statement, and the events only if it was (`Ok(false)`: neither was).
async fn insert_events(
    pool: &sqlx::PgPool,
    aggregate_type: &str,
    events: &[SerializedEvent],
    new_key: Option<&keystore::NewDataKey>,
) -> Result<bool, PersistenceError> {
    let mut ids = Vec::with_capacity(events.len());
    let mut sequences = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut versions = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    let mut metadata = Vec::with_capacity(events.len());
    for event in events {
        ids.push(event.aggregate_id.as_str());
        sequences.push(event.sequence as i64);
        types.push(event.event_type.as_str());
        versions.push(event.event_version.as_str());
        payloads.push(
            serde_json::to_string(&event.payload)
                .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?,
        );
        metadata.push(
            serde_json::to_string(&event.metadata)
                .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?,
        );
    }
    const INSERT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT $1, e.id, e.seq, e.type, e.version, e.payload::jsonb::json, e.metadata::jsonb::json
           FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
                AS e(id, seq, type, version, payload, metadata)
          ORDER BY e.seq";
    const INSERT_WITH_KEY: &str = "WITH key AS (SELECT store_new_data_key($8, $9, $10, $11) AS stored)
         INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT $1, e.id, e.seq, e.type, e.version, e.payload::jsonb::json, e.metadata::jsonb::json
           FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
                AS e(id, seq, type, version, payload, metadata)
          WHERE (SELECT stored FROM key)
          ORDER BY e.seq";
    let query = sqlx::query(if new_key.is_some() {
        INSERT_WITH_KEY
    } else {
        INSERT
    })
    .bind(aggregate_type)
    .bind(&ids)
    .bind(&sequences)
    .bind(&types)
    .bind(&versions)
    .bind(&payloads)
    .bind(&metadata);
    let query = match new_key {
        Some(key) => query
            .bind(&key.tenant)
            .bind(&key.subject)
            .bind(key.kek_version)
            .bind(&key.wrapped),
        None => query,
    };
    match query.execute(pool).await {
        Ok(done) => Ok(done.rows_affected() > 0),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
            Err(PersistenceError::OptimisticLockError)
        }
        Err(err @ (sqlx::Error::Io(_) | sqlx::Error::Tls(_))) => {
            Err(PersistenceError::ConnectionError(Box::new(err)))
        }
        Err(err) => Err(PersistenceError::UnknownError(Box::new(err))),
    }
}

fn key_error(e: KeyError) -> PersistenceError {
    match e {
        KeyError::Db(e) => PersistenceError::ConnectionError(Box::new(e)),
        other => PersistenceError::UnknownError(Box::new(other)),
    }
}

/// The event type's data object inside a stored payload `{"<Type>": {...}}`.
fn data_mut(event: &mut SerializedEvent) -> Option<&mut Map<String, Value>> {
    let event_type = event.event_type.clone();
    event.payload.get_mut(&event_type)?.as_object_mut()
}

fn tenant_of(event: &SerializedEvent) -> Option<String> {
    event
        .metadata
        .get("tenant_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Seals an event's personal fields (a customer's, a staff member's) and
/// adds a customer's blind indexes.
pub async fn seal_event(keys: &KeyStore, event: &mut SerializedEvent) -> Result<(), KeyError> {
    seal_event_with(keys, event, None).await
}

/// The first event of a subject (a customer, a staff member, a
/// communication sealed with its own key) that has personal fields: its
/// subject needs a new data key (tenant, subject).
fn needs_new_key(event: &SerializedEvent) -> Option<(String, String)> {
    (event.sequence == 1
        && !personal::fields(&event.aggregate_type, &event.event_type).is_empty()
        && key_subject(event) == event.aggregate_id)
        .then(|| tenant_of(event).map(|tenant| (tenant, event.aggregate_id.clone())))
        .flatten()
}

/// Whose data key seals the event's personal fields
/// (`event_schemas::personal::key_subject`).
fn key_subject(event: &SerializedEvent) -> String {
    let data = event
        .payload
        .get(&event.event_type)
        .and_then(Value::as_object);
    personal::key_subject(&event.aggregate_type, &event.aggregate_id, data).to_owned()
}

/// [`seal_event`] with the data key given (`None`: the subject's, from the
/// key store).
async fn seal_event_with(
    keys: &KeyStore,
    event: &mut SerializedEvent,
    given: Option<&keystore::Key>,
) -> Result<(), KeyError> {
    let fields = personal::fields(&event.aggregate_type, &event.event_type);
    if fields.is_empty() {
        return Ok(());
    }
    let Some(tenant) = tenant_of(event) else {
        return Ok(());
    };
    let (aggregate_type, aggregate_id, sequence) = (
        event.aggregate_type.clone(),
        event.aggregate_id.clone(),
        event.sequence as i64,
    );
    let subject = key_subject(event);
    let dek = match given {
        Some(dek) => dek.clone(),
        None if sequence == 1 && subject == aggregate_id => {
            keys.first_data_key(&tenant, &subject).await?
        }
        None => keys.data_key(&tenant, &subject).await?,
    };
    let Some(data) = data_mut(event) else {
        return Ok(());
    };
    // Blind indexes of a customer's normalized values (its contact
    // claims), before they are sealed.
    if aggregate_type != CUSTOMER {
        sealed::seal_fields(&dek, data, fields, |f| {
            sealed::aad(&aggregate_type, &aggregate_id, sequence, f)
        });
        return Ok(());
    }
    if let Some(email) = data
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
    {
        let index = keys.blind_index(&tenant, "email", &email).await?;
        data.insert("email_index".into(), Value::String(index));
    }
    if let Some(phone) = data.get("phone").and_then(Value::as_str).map(str::to_owned) {
        let index = keys.blind_index(&tenant, "phone", &phone).await?;
        data.insert("phone_index".into(), Value::String(index));
    }
    sealed::seal_fields(&dek, data, fields, |f| {
        sealed::aad(&aggregate_type, &aggregate_id, sequence, f)
    });
    Ok(())
}

/// Opens an event's personal fields; a destroyed key erases them.
pub async fn open_event(keys: &KeyStore, event: &mut SerializedEvent) -> Result<(), KeyError> {
    let fields = personal::fields(&event.aggregate_type, &event.event_type);
    if fields.is_empty() {
        return Ok(());
    }
    let Some(tenant) = tenant_of(event) else {
        return Ok(());
    };
    let (aggregate_id, sequence) = (event.aggregate_id.clone(), event.sequence as i64);
    let has_sealed = event
        .payload
        .get(&event.event_type)
        .and_then(Value::as_object)
        .is_some_and(|d| {
            fields
                .iter()
                .any(|f| d.get(*f).is_some_and(sealed::is_sealed))
        });
    if !has_sealed {
        return Ok(());
    }
    let dek = keys.existing_data_key(&tenant, &key_subject(event)).await?;
    let aggregate_type = event.aggregate_type.clone();
    let erasable = personal::erasable_names(&aggregate_type);
    if let Some(data) = data_mut(event) {
        sealed::open_fields(dek.as_ref(), data, fields, erasable, |f| {
            sealed::aad(&aggregate_type, &aggregate_id, sequence, f)
        })?;
    }
    Ok(())
}

async fn open_all(
    keys: &KeyStore,
    mut events: Vec<SerializedEvent>,
) -> Result<Vec<SerializedEvent>, PersistenceError> {
    for event in &mut events {
        open_event(keys, event).await.map_err(key_error)?;
    }
    Ok(events)
}

impl PersistedEventRepository for SealingRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        open_all(&self.keys, self.inner.get_events::<A>(aggregate_id).await?).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        open_all(
            &self.keys,
            self.inner
                .get_last_events::<A>(aggregate_id, last_sequence)
                .await?,
        )
        .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.inner.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_none()
            && let Some((tenant, subject)) = events.first().and_then(needs_new_key)
        {
            // A new customer: its data key goes in with its first events.
            let (dek, new_key) = self
                .keys
                .new_data_key(&tenant, &subject)
                .await
                .map_err(key_error)?;
            let mut sealed_events = events.to_vec();
            for event in &mut sealed_events {
                seal_event_with(&self.keys, event, Some(&dek))
                    .await
                    .map_err(key_error)?;
            }
            if insert_events(&self.pool, A::TYPE, &sealed_events, Some(&new_key)).await? {
                return Ok(());
            }
            // The subject has a key already (an earlier attempt stored it),
            // or the tenant key was rotated: nothing was written; the usual
            // path below finds or creates the key.
            self.keys.forget_current_version(&tenant);
        }
        let mut sealed_events = events.to_vec();
        for event in &mut sealed_events {
            seal_event(&self.keys, event).await.map_err(key_error)?;
        }
        match snapshot_update {
            None if !sealed_events.is_empty() => {
                insert_events(&self.pool, A::TYPE, &sealed_events, None)
                    .await
                    .map(drop)
            }
            None => Ok(()),
            snapshot_update => {
                self.inner
                    .persist::<A>(&sealed_events, snapshot_update)
                    .await
            }
        }
    }

    /// Replays as stored (sealed); nothing here replays through cqrs-es.
    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<A>().await
    }
}
