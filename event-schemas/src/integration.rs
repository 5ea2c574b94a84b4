//! Events of integrations (the seed's Integration and IntegrationSyncLog).
//!
//! An `Integration` is a connection to another system: its settings (secret
//! values sealed with the integration's own data key, never shown), whether
//! it is active, and its API keys (stored as SHA-256 digests; the key itself
//! is shown once). An `IntegrationSync` is one sync log entry: an inbound
//! lead, or a CSV import, with its counts and per-record failures.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name of an integration's events.
pub const AGGREGATE_TYPE: &str = "Integration";
/// The aggregate type name of a sync log entry's events.
pub const SYNC_AGGREGATE_TYPE: &str = "IntegrationSync";

/// The personal (secret) fields of each integration event.
pub fn personal_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "IntegrationCreated" | "IntegrationUpdated" => &["secrets"],
        _ => &[],
    }
}

crate::common::wire_enum! {
    /// The seed's IntegrationType.
    IntegrationType {
        Accounting => "ACCOUNTING",
        Crm => "CRM",
        Email => "EMAIL",
        Sms => "SMS",
        Payment => "PAYMENT",
        Shipping => "SHIPPING",
        Custom => "CUSTOM",
    }
}

crate::common::wire_enum! {
    /// The seed's IntegrationStatus (ERROR and SYNCING are read from the
    /// sync log: the last sync failed, or one is running).
    IntegrationStatus {
        Active => "ACTIVE",
        Inactive => "INACTIVE",
        Error => "ERROR",
        Syncing => "SYNCING",
    }
}

crate::common::wire_enum! {
    /// The seed's SyncType.
    SyncType {
        Full => "FULL",
        Incremental => "INCREMENTAL",
        Manual => "MANUAL",
    }
}

crate::common::wire_enum! {
    /// The seed's SyncStatus.
    SyncStatus {
        Pending => "PENDING",
        InProgress => "IN_PROGRESS",
        Completed => "COMPLETED",
        Failed => "FAILED",
    }
}

crate::common::wire_enum! {
    /// What a sync brings in.
    SyncSource {
        /// One lead posted to `POST /v1/inbound/leads`.
        InboundLead => "INBOUND_LEAD",
        /// A CSV file of customers and leads.
        CsvImport => "CSV_IMPORT",
    }
}

crate::common::wire_enum! {
    /// What an inbound lead became.
    InboundOutcome {
        /// A new lead (and a new customer, or one found by email or phone).
        LeadCreated => "LEAD_CREATED",
        /// The same person's lead from this source, open and less than 24 h
        /// old, got an activity instead of a second lead.
        ActivityRecorded => "ACTIVITY_RECORDED",
    }
}

/// The schema of a sealed field: the value in memory, sealed once stored.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum Sealed<T> {
    Plain(T),
}

/// An integration was created (active).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationCreated {
    pub tenant_id: TenantId,
    pub integration_id: Uuid,
    pub name: String,
    pub integration_type: IntegrationType,
    pub description: Option<String>,
    pub version: Option<String>,
    /// Settings that are not secret.
    pub config: BTreeMap<String, String>,
    /// Secret settings (API tokens, passwords), sealed; never shown.
    #[schemars(with = "Sealed<BTreeMap<String, String>>")]
    pub secrets: BTreeMap<String, String>,
    /// The `source` of the leads it brings in.
    pub lead_source: String,
    pub sync_interval_minutes: Option<u32>,
    pub auto_sync: bool,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// An integration's settings were edited: all of them as they now stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationUpdated {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub config: BTreeMap<String, String>,
    #[schemars(with = "Sealed<BTreeMap<String, String>>")]
    pub secrets: BTreeMap<String, String>,
    pub lead_source: String,
    pub sync_interval_minutes: Option<u32>,
    pub auto_sync: bool,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

/// The integration works again (its keys are accepted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationEnabled {
    pub enabled_by: Uuid,
    pub enabled_at: DateTime<Utc>,
}

/// The integration is off: its keys are refused, nothing syncs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationDisabled {
    pub disabled_by: Uuid,
    pub disabled_at: DateTime<Utc>,
}

/// An API key was issued (shown once); the store keeps its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationApiKeyIssued {
    pub key_id: Uuid,
    /// SHA-256 of the key's secret part, hex.
    pub digest: String,
    /// The key's last four characters, to tell keys apart.
    pub hint: String,
    pub issued_by: Uuid,
    pub issued_at: DateTime<Utc>,
}

/// An API key was revoked: it is refused from now on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationApiKeyRevoked {
    pub key_id: Uuid,
    pub revoked_by: Uuid,
    pub revoked_at: DateTime<Utc>,
}

crate::event_enum! {
    IntegrationEvent for AGGREGATE_TYPE {
        IntegrationCreated("1.0", "An integration was created: name, type, settings (secret ones sealed with its own key), the source of the leads it brings in, sync interval."),
        IntegrationUpdated("1.0", "An integration's settings were edited: all of them as they now stand (secret ones sealed)."),
        IntegrationEnabled("1.0", "The integration works again."),
        IntegrationDisabled("1.0", "The integration is off: its API keys are refused."),
        IntegrationApiKeyIssued("1.0", "An API key was issued (shown once; its SHA-256 is kept)."),
        IntegrationApiKeyRevoked("1.0", "An API key was revoked."),
    }
}

/// One record a sync could not take, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct RecordFailure {
    /// The record: a CSV row number, or the sender's reference.
    pub record: String,
    /// The field at fault, if one.
    pub field: Option<String>,
    pub reason: String,
}

/// What an inbound lead became.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct InboundResult {
    pub outcome: InboundOutcome,
    pub customer_id: Uuid,
    pub lead_id: Uuid,
    pub activity_id: Option<Uuid>,
    /// A customer was registered for it (not found by email or phone).
    pub customer_created: bool,
}

/// A sync was queued (PENDING).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationSyncQueued {
    pub tenant_id: TenantId,
    pub sync_id: Uuid,
    pub integration_id: Uuid,
    pub sync_type: SyncType,
    pub source: SyncSource,
    /// The sender's reference (inbound) or the import id.
    pub reference: Option<String>,
    pub queued_at: DateTime<Utc>,
}

/// The sync started (IN_PROGRESS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationSyncStarted {
    pub started_at: DateTime<Utc>,
}

/// A batch of records was processed: the counts of this batch and the
/// records that failed, each with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationSyncRecordsProcessed {
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub failed: u64,
    pub failures: Vec<RecordFailure>,
    /// The records known in all (a CSV's rows), when known.
    pub total: Option<u64>,
    pub processed_at: DateTime<Utc>,
}

/// The sync finished (COMPLETED; records may have failed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationSyncCompleted {
    pub result: Option<InboundResult>,
    pub completed_at: DateTime<Utc>,
}

/// The sync stopped on an error (FAILED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationSyncFailed {
    pub error: String,
    pub failed_at: DateTime<Utc>,
}

crate::event_enum! {
    IntegrationSyncEvent for SYNC_AGGREGATE_TYPE {
        IntegrationSyncQueued("1.0", "A sync was queued (PENDING): its integration, type, source (an inbound lead, a CSV import) and reference."),
        IntegrationSyncStarted("1.0", "The sync started (IN_PROGRESS)."),
        IntegrationSyncRecordsProcessed("1.0", "A batch of records was processed: processed, created, updated and failed counts, each failed record with its reason."),
        IntegrationSyncCompleted("1.0", "The sync finished (COMPLETED); for an inbound lead, what it became."),
        IntegrationSyncFailed("1.0", "The sync stopped on an error (FAILED)."),
    }
}
