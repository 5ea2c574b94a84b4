//! The `Integration` and `IntegrationSync` aggregates (the seed's
//! Integration and IntegrationSyncLog).
//!
//! An integration keeps its settings (secret ones sealed), whether it is
//! active, and its API keys: only each key's digest is recorded, and a
//! revoked key is refused from the next request. A sync is one entry of the
//! sync log: queued, started, batches of records processed (counts and each
//! failed record with its reason), then completed or failed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::integration::{
    InboundResult, IntegrationApiKeyIssued, IntegrationApiKeyRevoked, IntegrationCreated,
    IntegrationDisabled, IntegrationEnabled, IntegrationEvent, IntegrationSyncCompleted,
    IntegrationSyncEvent, IntegrationSyncFailed, IntegrationSyncQueued,
    IntegrationSyncRecordsProcessed, IntegrationSyncStarted, IntegrationType, IntegrationUpdated,
    RecordFailure, SyncSource, SyncStatus, SyncType,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values;

/// At most this many settings, secret or not.
pub const MAX_SETTINGS: usize = 50;
/// At most this many live API keys per integration.
pub const MAX_KEYS: usize = 10;
/// At most this many failed records are kept per batch (the counts keep
/// the rest).
pub const MAX_FAILURES_PER_BATCH: usize = 500;

/// An integration's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrationSettings {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub config: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    /// Default: the name.
    pub lead_source: Option<String>,
    pub sync_interval_minutes: Option<u32>,
    pub auto_sync: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IntegrationAction {
    Create {
        tenant_id: TenantId,
        integration_id: Uuid,
        integration_type: IntegrationType,
        settings: IntegrationSettings,
    },
    Update(IntegrationSettings),
    Enable,
    Disable,
    /// Issue a key (`digest` of its secret part); with `replaces`, that key
    /// is revoked in the same commit (a rotation).
    IssueKey {
        key_id: Uuid,
        digest: String,
        hint: String,
        replaces: Option<Uuid>,
    },
    RevokeKey {
        key_id: Uuid,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct IntegrationCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: IntegrationAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntegrationError {
    #[error("invalid integration: {0}")]
    Invalid(ValidationErrors),
    #[error("this integration exists already")]
    AlreadyExists,
    #[error("no such integration")]
    NotFound,
    #[error("no such API key")]
    NoSuchKey,
    #[error("at most {MAX_KEYS} live API keys; revoke one first")]
    TooManyKeys,
}

impl DomainError for IntegrationError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "integration.exists",
            },
            Self::NotFound | Self::NoSuchKey => ErrorKind::NotFound,
            Self::TooManyKeys => ErrorKind::Conflict {
                rule: "integration.too-many-keys",
            },
        }
    }
}

impl From<ValidationErrors> for IntegrationError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// A live API key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub digest: String,
    pub hint: String,
    pub issued_at: DateTime<Utc>,
}

/// An integration as it stands (secrets in the clear: the event store opens
/// them when it loads the aggregate).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub tenant_id: Option<TenantId>,
    pub id: Option<Uuid>,
    pub integration_type: Option<IntegrationType>,
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub config: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub lead_source: String,
    pub sync_interval_minutes: Option<u32>,
    pub auto_sync: bool,
    pub active: bool,
    pub keys: BTreeMap<Uuid, ApiKey>,
    pub revoked: BTreeSet<Uuid>,
}

impl Integration {
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// The live key `key_id` whose secret part has `digest`, compared in
    /// constant time.
    pub fn accepts_key(&self, key_id: Uuid, digest: &str) -> bool {
        self.active
            && self.keys.get(&key_id).is_some_and(|key| {
                key.digest.len() == digest.len()
                    && key
                        .digest
                        .bytes()
                        .zip(digest.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
            })
    }

    fn settings(&self) -> IntegrationSettings {
        IntegrationSettings {
            name: self.name.clone(),
            description: self.description.clone(),
            version: self.version.clone(),
            config: self.config.clone(),
            secrets: self.secrets.clone(),
            lead_source: Some(self.lead_source.clone()),
            sync_interval_minutes: self.sync_interval_minutes,
            auto_sync: self.auto_sync,
        }
    }

    pub fn decide(
        &self,
        command: IntegrationCommand,
    ) -> Result<Vec<IntegrationEvent>, IntegrationError> {
        let IntegrationCommand { at, actor, action } = command;
        if let IntegrationAction::Create {
            tenant_id,
            integration_id,
            integration_type,
            settings,
        } = action
        {
            if self.exists() {
                return Err(IntegrationError::AlreadyExists);
            }
            let s = validate(settings)?;
            return Ok(vec![
                IntegrationCreated {
                    tenant_id,
                    integration_id,
                    name: s.name,
                    integration_type,
                    description: s.description,
                    version: s.version,
                    config: s.config,
                    secrets: s.secrets,
                    lead_source: s.lead_source.unwrap_or_default(),
                    sync_interval_minutes: s.sync_interval_minutes,
                    auto_sync: s.auto_sync,
                    created_by: actor,
                    created_at: at,
                }
                .into(),
            ]);
        }
        if !self.exists() {
            return Err(IntegrationError::NotFound);
        }
        Ok(match action {
            IntegrationAction::Create { .. } => Vec::new(),
            IntegrationAction::Update(settings) => {
                let s = validate(settings)?;
                if s == self.settings() {
                    return Ok(vec![]);
                }
                vec![
                    IntegrationUpdated {
                        name: s.name,
                        description: s.description,
                        version: s.version,
                        config: s.config,
                        secrets: s.secrets,
                        lead_source: s.lead_source.unwrap_or_default(),
                        sync_interval_minutes: s.sync_interval_minutes,
                        auto_sync: s.auto_sync,
                        updated_by: actor,
                        updated_at: at,
                    }
                    .into(),
                ]
            }
            IntegrationAction::Enable if self.active => vec![],
            IntegrationAction::Enable => vec![
                IntegrationEnabled {
                    enabled_by: actor,
                    enabled_at: at,
                }
                .into(),
            ],
            IntegrationAction::Disable if !self.active => vec![],
            IntegrationAction::Disable => vec![
                IntegrationDisabled {
                    disabled_by: actor,
                    disabled_at: at,
                }
                .into(),
            ],
            IntegrationAction::IssueKey {
                key_id,
                digest,
                hint,
                replaces,
            } => {
                let mut events: Vec<IntegrationEvent> = Vec::new();
                let mut live = self.keys.len();
                if let Some(old) = replaces {
                    if !self.keys.contains_key(&old) {
                        return Err(IntegrationError::NoSuchKey);
                    }
                    live -= 1;
                    events.push(
                        IntegrationApiKeyRevoked {
                            key_id: old,
                            revoked_by: actor,
                            revoked_at: at,
                        }
                        .into(),
                    );
                }
                if live >= MAX_KEYS {
                    return Err(IntegrationError::TooManyKeys);
                }
                events.push(
                    IntegrationApiKeyIssued {
                        key_id,
                        digest,
                        hint,
                        issued_by: actor,
                        issued_at: at,
                    }
                    .into(),
                );
                events
            }
            IntegrationAction::RevokeKey { key_id } => {
                if self.revoked.contains(&key_id) {
                    return Ok(vec![]);
                }
                if !self.keys.contains_key(&key_id) {
                    return Err(IntegrationError::NoSuchKey);
                }
                vec![
                    IntegrationApiKeyRevoked {
                        key_id,
                        revoked_by: actor,
                        revoked_at: at,
                    }
                    .into(),
                ]
            }
        })
    }
}

fn validate(s: IntegrationSettings) -> Result<IntegrationSettings, ValidationErrors> {
    let mut v = Validator::new();
    let name = v.check(
        "name",
        values::required_text(&s.name, values::MAX_SHORT_TEXT),
    );
    let description = v.check(
        "description",
        values::optional_text(s.description.as_deref(), values::MAX_LONG_TEXT),
    );
    let version = v.check("version", values::optional_text(s.version.as_deref(), 50));
    let lead_source = match &s.lead_source {
        Some(source) => v.check(
            "lead_source",
            values::required_text(source, values::MAX_SHORT_TEXT),
        ),
        None => name.clone(),
    };
    for (field, map) in [("config", &s.config), ("secrets", &s.secrets)] {
        if map.len() > MAX_SETTINGS {
            v.error(field, format!("at most {MAX_SETTINGS} settings"));
        }
        for (key, value) in map {
            if values::identifier(key).is_err() {
                v.error(
                    &format!("{field}.{key}"),
                    "a setting's name is letters, digits, `_`, `-` or `.`",
                );
            }
            if value.chars().count() > 2_000 {
                v.error(&format!("{field}.{key}"), "at most 2000 characters");
            }
        }
    }
    for key in s.config.keys() {
        if s.secrets.contains_key(key) {
            v.error(&format!("config.{key}"), "is also a secret setting");
        }
    }
    if let Some(minutes) = s.sync_interval_minutes
        && !(5..=7 * 24 * 60).contains(&minutes)
    {
        v.error("sync_interval_minutes", "from 5 minutes to 7 days");
    }
    v.finish()?;
    Ok(IntegrationSettings {
        name: name.unwrap_or_default(),
        description: description.flatten(),
        version: version.flatten(),
        lead_source,
        ..s
    })
}

impl Aggregate for Integration {
    const TYPE: &'static str = event_schemas::integration::AGGREGATE_TYPE;
    type Command = IntegrationCommand;
    type Event = IntegrationEvent;
    type Error = IntegrationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            IntegrationEvent::IntegrationCreated(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.id = Some(e.integration_id);
                self.integration_type = Some(e.integration_type);
                self.name = e.name;
                self.description = e.description;
                self.version = e.version;
                self.config = e.config;
                self.secrets = e.secrets;
                self.lead_source = e.lead_source;
                self.sync_interval_minutes = e.sync_interval_minutes;
                self.auto_sync = e.auto_sync;
                self.active = true;
            }
            IntegrationEvent::IntegrationUpdated(e) => {
                self.name = e.name;
                self.description = e.description;
                self.version = e.version;
                self.config = e.config;
                self.secrets = e.secrets;
                self.lead_source = e.lead_source;
                self.sync_interval_minutes = e.sync_interval_minutes;
                self.auto_sync = e.auto_sync;
            }
            IntegrationEvent::IntegrationEnabled(_) => self.active = true,
            IntegrationEvent::IntegrationDisabled(_) => self.active = false,
            IntegrationEvent::IntegrationApiKeyIssued(e) => {
                self.keys.insert(
                    e.key_id,
                    ApiKey {
                        digest: e.digest,
                        hint: e.hint,
                        issued_at: e.issued_at,
                    },
                );
            }
            IntegrationEvent::IntegrationApiKeyRevoked(e) => {
                self.keys.remove(&e.key_id);
                self.revoked.insert(e.key_id);
            }
        }
    }
}

// ------------------------------------------------------------------ syncs

#[derive(Clone, Debug, PartialEq)]
pub enum SyncAction {
    /// Queue a sync (again with the same id: nothing).
    Queue {
        tenant_id: TenantId,
        sync_id: Uuid,
        integration_id: Uuid,
        sync_type: SyncType,
        source: SyncSource,
        reference: Option<String>,
    },
    Start,
    Process {
        processed: u64,
        created: u64,
        updated: u64,
        failures: Vec<RecordFailure>,
        total: Option<u64>,
    },
    Complete {
        result: Option<InboundResult>,
    },
    Fail {
        error: String,
    },
    /// Queue, start, process one record and complete, at once (an inbound
    /// lead).
    Record {
        tenant_id: TenantId,
        sync_id: Uuid,
        integration_id: Uuid,
        reference: String,
        result: InboundResult,
    },
    /// Queue, start, record the failed record and fail, at once (an inbound
    /// lead refused).
    RecordRefusal {
        tenant_id: TenantId,
        sync_id: Uuid,
        integration_id: Uuid,
        reference: String,
        error: String,
        failures: Vec<RecordFailure>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyncCommand {
    pub at: DateTime<Utc>,
    pub action: SyncAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    #[error("no such sync")]
    NotFound,
    #[error("this sync exists already")]
    AlreadyExists,
    #[error("the sync is {0} and can't be {1}")]
    WrongStatus(SyncStatus, &'static str),
}

impl DomainError for SyncError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::NotFound => ErrorKind::NotFound,
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "integration-sync.exists",
            },
            Self::WrongStatus(..) => ErrorKind::Conflict {
                rule: "integration-sync.status",
            },
        }
    }
}

/// One sync log entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationSync {
    pub tenant_id: Option<TenantId>,
    pub id: Option<Uuid>,
    pub integration_id: Option<Uuid>,
    pub source: Option<SyncSource>,
    pub status: Option<SyncStatus>,
    pub processed: u64,
    pub result: Option<InboundResult>,
}

impl IntegrationSync {
    fn status(&self) -> Result<SyncStatus, SyncError> {
        self.status.ok_or(SyncError::NotFound)
    }

    pub fn decide(&self, command: SyncCommand) -> Result<Vec<IntegrationSyncEvent>, SyncError> {
        let SyncCommand { at, action } = command;
        use SyncStatus as S;
        Ok(match action {
            SyncAction::Queue {
                tenant_id,
                sync_id,
                integration_id,
                sync_type,
                source,
                reference,
            } => {
                if self.status.is_some() {
                    return Ok(vec![]);
                }
                vec![
                    IntegrationSyncQueued {
                        tenant_id,
                        sync_id,
                        integration_id,
                        sync_type,
                        source,
                        reference,
                        queued_at: at,
                    }
                    .into(),
                ]
            }
            SyncAction::Record {
                tenant_id,
                sync_id,
                integration_id,
                reference,
                result,
            } => {
                if self.status.is_some() {
                    return Err(SyncError::AlreadyExists);
                }
                let created = u64::from(
                    result.outcome == event_schemas::integration::InboundOutcome::LeadCreated,
                );
                vec![
                    IntegrationSyncQueued {
                        tenant_id,
                        sync_id,
                        integration_id,
                        sync_type: SyncType::Incremental,
                        source: SyncSource::InboundLead,
                        reference: Some(reference),
                        queued_at: at,
                    }
                    .into(),
                    IntegrationSyncStarted { started_at: at }.into(),
                    IntegrationSyncRecordsProcessed {
                        processed: 1,
                        created,
                        updated: 1 - created,
                        failed: 0,
                        failures: vec![],
                        total: Some(1),
                        processed_at: at,
                    }
                    .into(),
                    IntegrationSyncCompleted {
                        result: Some(result),
                        completed_at: at,
                    }
                    .into(),
                ]
            }
            SyncAction::RecordRefusal {
                tenant_id,
                sync_id,
                integration_id,
                reference,
                error,
                failures,
            } => {
                if self.status.is_some() {
                    return Err(SyncError::AlreadyExists);
                }
                vec![
                    IntegrationSyncQueued {
                        tenant_id,
                        sync_id,
                        integration_id,
                        sync_type: SyncType::Incremental,
                        source: SyncSource::InboundLead,
                        reference: Some(reference),
                        queued_at: at,
                    }
                    .into(),
                    IntegrationSyncStarted { started_at: at }.into(),
                    IntegrationSyncRecordsProcessed {
                        processed: 1,
                        created: 0,
                        updated: 0,
                        failed: 1,
                        failures,
                        total: Some(1),
                        processed_at: at,
                    }
                    .into(),
                    IntegrationSyncFailed {
                        error: error.chars().take(2_000).collect(),
                        failed_at: at,
                    }
                    .into(),
                ]
            }
            SyncAction::Start => match self.status()? {
                S::Pending => vec![IntegrationSyncStarted { started_at: at }.into()],
                S::InProgress => vec![],
                status => return Err(SyncError::WrongStatus(status, "started")),
            },
            SyncAction::Process {
                processed,
                created,
                updated,
                mut failures,
                total,
            } => match self.status()? {
                S::InProgress => {
                    let failed = failures.len() as u64;
                    failures.truncate(MAX_FAILURES_PER_BATCH);
                    vec![
                        IntegrationSyncRecordsProcessed {
                            processed,
                            created,
                            updated,
                            failed,
                            failures,
                            total,
                            processed_at: at,
                        }
                        .into(),
                    ]
                }
                status => return Err(SyncError::WrongStatus(status, "processed")),
            },
            SyncAction::Complete { result } => match self.status()? {
                S::InProgress => vec![
                    IntegrationSyncCompleted {
                        result,
                        completed_at: at,
                    }
                    .into(),
                ],
                S::Completed => vec![],
                status => return Err(SyncError::WrongStatus(status, "completed")),
            },
            SyncAction::Fail { error } => match self.status()? {
                S::Pending | S::InProgress => vec![
                    IntegrationSyncFailed {
                        error: error.chars().take(2_000).collect(),
                        failed_at: at,
                    }
                    .into(),
                ],
                S::Failed => vec![],
                status => return Err(SyncError::WrongStatus(status, "failed")),
            },
        })
    }
}

impl Aggregate for IntegrationSync {
    const TYPE: &'static str = event_schemas::integration::SYNC_AGGREGATE_TYPE;
    type Command = SyncCommand;
    type Event = IntegrationSyncEvent;
    type Error = SyncError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use SyncStatus as S;
        match event {
            IntegrationSyncEvent::IntegrationSyncQueued(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.id = Some(e.sync_id);
                self.integration_id = Some(e.integration_id);
                self.source = Some(e.source);
                self.status = Some(S::Pending);
            }
            IntegrationSyncEvent::IntegrationSyncStarted(_) => self.status = Some(S::InProgress),
            IntegrationSyncEvent::IntegrationSyncRecordsProcessed(e) => {
                self.processed += e.processed;
            }
            IntegrationSyncEvent::IntegrationSyncCompleted(e) => {
                self.status = Some(S::Completed);
                self.result = e.result;
            }
            IntegrationSyncEvent::IntegrationSyncFailed(_) => self.status = Some(S::Failed),
        }
    }
}
