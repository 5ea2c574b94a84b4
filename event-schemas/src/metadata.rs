//! Metadata recorded with every event.
//!
//! cqrs-es stores metadata as a string map; this type is its typed form, so
//! writers and readers agree on the keys.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{Role, TenantId};

/// Who did what, on whose behalf, and why: the audit facts of one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventMetadata {
    pub tenant_id: TenantId,
    /// The acting user (JWT `sub`).
    pub user_id: Uuid,
    pub role: Role,
    /// The request id the command arrived with; shared by everything one
    /// request caused.
    pub correlation_id: String,
    /// What directly caused this event: the command id for HTTP commands, the
    /// triggering event id for commands issued by a process manager.
    pub causation_id: String,
    /// Unique per command execution.
    pub command_id: Uuid,
    /// When the command was handled (application clock).
    pub recorded_at: DateTime<Utc>,
    /// The version of the tenant's permission matrix the command was
    /// authorized under (absent for the backend's own processes). The event
    /// store refuses the command when it is no longer current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<i64>,
    /// When the earliest grant the command's policy held expires; the event
    /// store refuses the command from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_valid_until: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("metadata key `{0}` is missing")]
    Missing(&'static str),
    #[error("metadata key `{key}` is invalid: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl EventMetadata {
    /// Metadata of a command the backend issues by itself (a policy, a
    /// process, the sender, a provider's callback): user `SYSTEM_USER`,
    /// role `system`, a fresh command id, `correlation` naming who acted.
    pub fn system(tenant: &TenantId, correlation: impl std::fmt::Display) -> Self {
        let command_id = Uuid::now_v7();
        Self {
            tenant_id: tenant.clone(),
            user_id: crate::SYSTEM_USER,
            role: Role::System,
            correlation_id: format!("{correlation}:{command_id}"),
            causation_id: command_id.to_string(),
            command_id,
            recorded_at: Utc::now(),
            policy_version: None,
            policy_valid_until: None,
        }
    }

    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            ("tenant_id".to_owned(), self.tenant_id.to_string()),
            ("user_id".to_owned(), self.user_id.to_string()),
            ("role".to_owned(), self.role.to_string()),
            ("correlation_id".to_owned(), self.correlation_id.clone()),
            ("causation_id".to_owned(), self.causation_id.clone()),
            ("command_id".to_owned(), self.command_id.to_string()),
            (
                "recorded_at".to_owned(),
                self.recorded_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        ]);
        if let Some(version) = self.policy_version {
            map.insert("policy_version".to_owned(), version.to_string());
        }
        if let Some(until) = self.policy_valid_until {
            map.insert(
                "policy_valid_until".to_owned(),
                until.to_rfc3339_opts(SecondsFormat::Micros, true),
            );
        }
        map
    }

    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, MetadataError> {
        fn get<'a>(
            map: &'a HashMap<String, String>,
            key: &'static str,
        ) -> Result<&'a str, MetadataError> {
            map.get(key)
                .map(String::as_str)
                .ok_or(MetadataError::Missing(key))
        }
        fn invalid(key: &'static str, reason: impl ToString) -> MetadataError {
            MetadataError::Invalid {
                key,
                reason: reason.to_string(),
            }
        }
        Ok(Self {
            tenant_id: TenantId::parse(get(map, "tenant_id")?)
                .map_err(|e| invalid("tenant_id", e))?,
            user_id: get(map, "user_id")?
                .parse()
                .map_err(|e| invalid("user_id", e))?,
            role: get(map, "role")?.parse().map_err(|e| invalid("role", e))?,
            correlation_id: get(map, "correlation_id")?.to_owned(),
            causation_id: get(map, "causation_id")?.to_owned(),
            command_id: get(map, "command_id")?
                .parse()
                .map_err(|e| invalid("command_id", e))?,
            recorded_at: DateTime::parse_from_rfc3339(get(map, "recorded_at")?)
                .map_err(|e| invalid("recorded_at", e))?
                .with_timezone(&Utc),
            policy_version: map
                .get("policy_version")
                .map(|v| v.parse().map_err(|e| invalid("policy_version", e)))
                .transpose()?,
            policy_valid_until: map
                .get("policy_valid_until")
                .map(|v| {
                    DateTime::parse_from_rfc3339(v)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| invalid("policy_valid_until", e))
                })
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_survives_the_string_map_round_trip() {
        let meta = EventMetadata {
            tenant_id: TenantId::parse("acme").unwrap(),
            user_id: Uuid::new_v4(),
            role: Role::Sales,
            correlation_id: "req-1".into(),
            causation_id: "cmd-1".into(),
            command_id: Uuid::new_v4(),
            recorded_at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            policy_version: None,
            policy_valid_until: None,
        };
        assert_eq!(EventMetadata::from_map(&meta.to_map()).unwrap(), meta);
        let decided = EventMetadata {
            policy_version: Some(3),
            policy_valid_until: Some(meta.recorded_at),
            ..meta
        };
        assert_eq!(EventMetadata::from_map(&decided.to_map()).unwrap(), decided);
    }

    #[test]
    fn missing_keys_are_named() {
        let err = EventMetadata::from_map(&HashMap::new()).unwrap_err();
        assert_eq!(err, MetadataError::Missing("tenant_id"));
    }
}
