//! The message every event travels in on NATS: a CloudEvents 1.0 JSON
//! envelope (<https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md>).
//!
//! Standard attributes: `specversion`, `id` (the event's unique id, also the
//! `Nats-Msg-Id`), `source`, `type` (the event type name), `subject` (the
//! aggregate id), `time` (recorded at), `datacontenttype`, `dataschema`,
//! `data` (the payload, without the enum tag). Extensions (lowercase, per the
//! spec): `tenant`, `aggregatetype`, `aggregateid`, `sequence`,
//! `eventversion`, `position`, `correlationid`, `causationid`, `commandid`,
//! `actor`, `actorrole`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::common::TenantId;

pub const SPEC_VERSION: &str = "1.0";
pub const CONTENT_TYPE: &str = "application/json";

// `D` is the `data` attribute: a parsed [`Value`] for consumers, or the
// stored JSON text as it is (`Box<RawValue>`) for the relay, which only
// forwards it and never parses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "CloudEvent")]
pub struct CloudEvent<D = Value> {
    pub specversion: String,
    pub id: Uuid,
    /// `/tenants/<tenant>/<aggregate type>`
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The aggregate id.
    pub subject: String,
    pub time: DateTime<Utc>,
    pub datacontenttype: String,
    /// `urn:crm:event:<type>:<version>`; the JSON Schema is
    /// `event-schemas/schemas/<type>.v<version>.json`.
    pub dataschema: String,
    pub data: D,
    pub tenant: TenantId,
    pub aggregatetype: String,
    pub aggregateid: String,
    /// The event's sequence within its aggregate (1, 2, …).
    pub sequence: i64,
    pub eventversion: String,
    /// The event's global position in the event store.
    pub position: i64,
    pub correlationid: String,
    pub causationid: String,
    pub commandid: String,
    pub actor: String,
    pub actorrole: String,
}

impl<D> CloudEvent<D> {
    pub fn nats_subject(&self, prefix: &str) -> String {
        CloudEvent::subject_for(prefix, &self.tenant, &self.aggregatetype, &self.event_type)
    }
}

impl CloudEvent {
    /// The NATS subject: `<prefix>.events.<tenant>.<aggregate_type>.<event_type>`.
    pub fn subject_for(
        prefix: &str,
        tenant: &TenantId,
        aggregate_type: &str,
        event_type: &str,
    ) -> String {
        format!("{prefix}.events.{tenant}.{aggregate_type}.{event_type}")
    }

    pub fn source_for(tenant: &TenantId, aggregate_type: &str) -> String {
        format!("/tenants/{tenant}/{aggregate_type}")
    }

    pub fn dataschema_for(event_type: &str, version: &str) -> String {
        format!("urn:crm:event:{event_type}:{version}")
    }

    /// Rebuilds the typed event from `type` and `data`.
    pub fn decode<E: crate::TypedEvent>(&self) -> Result<E, serde_json::Error> {
        E::from_parts(&self.event_type, self.data.clone())
    }

    /// The payload as stored by cqrs-es is `{"<EventType>": {...}}`; the
    /// envelope carries only the inner object.
    pub fn data_from_stored_payload(event_type: &str, payload: Value) -> Value {
        match payload {
            Value::Object(mut map) if map.len() == 1 && map.contains_key(event_type) => {
                map.remove(event_type).unwrap_or(Value::Null)
            }
            other => other,
        }
    }
}

impl CloudEvent<Box<RawValue>> {
    /// [`CloudEvent::data_from_stored_payload`] on the stored JSON text,
    /// without parsing the data: the inner object's text is kept as it is,
    /// however deeply nested (serde_json skips over raw values without
    /// recursing).
    pub fn raw_data_from_stored_payload(
        event_type: &str,
        payload: String,
    ) -> Result<Box<RawValue>, serde_json::Error> {
        if let Ok(mut outer) =
            serde_json::from_str::<std::collections::BTreeMap<String, Box<RawValue>>>(&payload)
            && outer.len() == 1
            && let Some(inner) = outer.remove(event_type)
        {
            return Ok(inner);
        }
        RawValue::from_string(payload)
    }
}
