//! Which fields of which events are personal data: sealed with the
//! subject's data key when stored (`event_store::sealing`), opened by the
//! readers that hold the key store, unreadable once the key is destroyed.
//! The subject of an event is its aggregate (its own data key), except for
//! a communication, sealed with the key its events name ([`key_subject`]).

use crate::{communication, customer, integration, staff, webhook};

/// The personal fields of `event_type` of `aggregate_type` (none for an
/// aggregate without personal data).
pub fn fields(aggregate_type: &str, event_type: &str) -> &'static [&'static str] {
    match aggregate_type {
        customer::AGGREGATE_TYPE => customer::personal_fields(event_type),
        staff::AGGREGATE_TYPE => staff::personal_fields(event_type),
        communication::AGGREGATE_TYPE => communication::personal_fields(event_type),
        webhook::AGGREGATE_TYPE => webhook::personal_fields(event_type),
        integration::AGGREGATE_TYPE => integration::personal_fields(event_type),
        _ => &[],
    }
}

/// Personal fields that read `[erased]` once the key is destroyed (a name a
/// reader still needs a text for); the others read `null`.
pub fn erasable_names(aggregate_type: &str) -> &'static [&'static str] {
    match aggregate_type {
        customer::AGGREGATE_TYPE => customer::ERASABLE_NAMES,
        communication::AGGREGATE_TYPE => communication::ERASABLE_NAMES,
        _ => &[],
    }
}

/// Whether events of `aggregate_type` can hold personal data.
pub fn has_personal_data(aggregate_type: &str) -> bool {
    matches!(
        aggregate_type,
        customer::AGGREGATE_TYPE
            | staff::AGGREGATE_TYPE
            | communication::AGGREGATE_TYPE
            | webhook::AGGREGATE_TYPE
            | integration::AGGREGATE_TYPE
    )
}

/// Whose data key seals the personal fields of an event: the subject named
/// by a communication event's `sealed_with` (its customer, or itself), else
/// the aggregate itself.
pub fn key_subject<'a>(
    aggregate_type: &str,
    aggregate_id: &'a str,
    data: Option<&'a serde_json::Map<String, serde_json::Value>>,
) -> &'a str {
    if aggregate_type != communication::AGGREGATE_TYPE {
        return aggregate_id;
    }
    data.and_then(|d| d.get("sealed_with"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or(aggregate_id)
}

/// Whether the sealed fields of `aggregate_type`'s events are credentials
/// (an integration's secrets, a webhook's secret and headers): opened only
/// for the aggregate itself, never for a reader such as a webhook body.
pub fn holds_credentials(aggregate_type: &str) -> bool {
    matches!(
        aggregate_type,
        integration::AGGREGATE_TYPE | webhook::AGGREGATE_TYPE
    )
}
