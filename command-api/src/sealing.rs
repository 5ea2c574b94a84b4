//! The event store's personal-data layer: postgres-es's repository, with
//! personal fields sealed on the way in and opened on the way out.
//!
//! ```text
//!  aggregate (plaintext events) ─▶ SealingRepository::persist ─▶ seal personal fields with the
//!                                        customer's data key, add email_index / phone_index ─▶ events table
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
use event_schemas::customer::{AGGREGATE_TYPE as CUSTOMER, ERASABLE_NAMES, personal_fields};
use keystore::{KeyError, KeyStore, sealed};
use postgres_es::PostgresEventRepository;
use serde_json::{Map, Value};

/// postgres-es's repository with sealing.
pub struct SealingRepository {
    inner: PostgresEventRepository,
    keys: Arc<KeyStore>,
}

impl SealingRepository {
    pub fn new(inner: PostgresEventRepository, keys: Arc<KeyStore>) -> Self {
        Self { inner, keys }
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

/// Seals a customer event's personal fields and adds its blind indexes.
pub async fn seal_event(keys: &KeyStore, event: &mut SerializedEvent) -> Result<(), KeyError> {
    let fields = personal_fields(&event.event_type);
    if event.aggregate_type != CUSTOMER || fields.is_empty() {
        return Ok(());
    }
    let Some(tenant) = tenant_of(event) else {
        return Ok(());
    };
    let (aggregate_id, sequence) = (event.aggregate_id.clone(), event.sequence as i64);
    let dek = keys.data_key(&tenant, &aggregate_id).await?;
    let Some(data) = data_mut(event) else {
        return Ok(());
    };
    // Blind indexes of the normalized values, before they are sealed.
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
        sealed::aad(CUSTOMER, &aggregate_id, sequence, f)
    });
    Ok(())
}

/// Opens a customer event's personal fields; a destroyed key erases them.
pub async fn open_event(keys: &KeyStore, event: &mut SerializedEvent) -> Result<(), KeyError> {
    let fields = personal_fields(&event.event_type);
    if event.aggregate_type != CUSTOMER || fields.is_empty() {
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
    let dek = keys.existing_data_key(&tenant, &aggregate_id).await?;
    if let Some(data) = data_mut(event) {
        sealed::open_fields(dek.as_ref(), data, fields, ERASABLE_NAMES, |f| {
            sealed::aad(CUSTOMER, &aggregate_id, sequence, f)
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
        let mut sealed_events = events.to_vec();
        for event in &mut sealed_events {
            seal_event(&self.keys, event).await.map_err(key_error)?;
        }
        self.inner
            .persist::<A>(&sealed_events, snapshot_update)
            .await
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
