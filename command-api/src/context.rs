//! Who is issuing a command, under which request, at what time: everything
//! the event metadata needs.

use std::sync::Arc;

use api_common::http::RequestId;
use api_common::{ApiError, JwtKeys, Principal};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use event_schemas::EventMetadata;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct CommandContext {
    pub principal: Principal,
    pub request_id: String,
    pub now: DateTime<Utc>,
}

impl CommandContext {
    /// Metadata for one command execution: a fresh command id, which is also
    /// the causation id of the events an HTTP command causes.
    pub fn metadata(&self) -> EventMetadata {
        let command_id = Uuid::now_v7();
        EventMetadata {
            tenant_id: self.principal.tenant.clone(),
            user_id: self.principal.user_id,
            role: self.principal.role,
            correlation_id: self.request_id.clone(),
            causation_id: command_id.to_string(),
            command_id,
            recorded_at: self.now,
            policy_version: Some(self.principal.policy.version),
            policy_valid_until: self.principal.policy.valid_until,
        }
    }
}

impl<S> FromRequestParts<S> for CommandContext
where
    Arc<JwtKeys>: FromRef<S>,
    api_common::PolicyStore: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        Ok(Self {
            principal,
            request_id,
            now: Utc::now(),
        })
    }
}
