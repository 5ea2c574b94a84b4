//! The `CalendarFeedToken` aggregate: a revocable secret URL for one
//! person's schedule feed. Issued once; revoked once (revoking again
//! records nothing).

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::calendar::{
    CalendarFeedTokenEvent, CalendarFeedTokenIssued, CalendarFeedTokenRevoked,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CalendarFeedToken {
    pub tenant_id: Option<TenantId>,
    pub user_id: Option<Uuid>,
    pub revoked: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CalendarFeedAction {
    Issue {
        tenant_id: TenantId,
        token_id: Uuid,
        user_id: Uuid,
        secret_digest: String,
    },
    Revoke,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CalendarFeedCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: CalendarFeedAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarFeedError {
    #[error("this feed token exists already")]
    AlreadyIssued,
    #[error("no such feed token")]
    NotFound,
}

impl DomainError for CalendarFeedError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::AlreadyIssued => ErrorKind::Conflict {
                rule: "calendar-feed.exists",
            },
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

impl CalendarFeedToken {
    pub fn decide(
        &self,
        command: CalendarFeedCommand,
    ) -> Result<Vec<CalendarFeedTokenEvent>, CalendarFeedError> {
        match command.action {
            CalendarFeedAction::Issue {
                tenant_id,
                token_id,
                user_id,
                secret_digest,
            } => {
                if self.user_id.is_some() {
                    return Err(CalendarFeedError::AlreadyIssued);
                }
                Ok(vec![
                    CalendarFeedTokenIssued {
                        tenant_id,
                        token_id,
                        user_id,
                        secret_digest,
                        issued_by: command.actor,
                        issued_at: command.at,
                    }
                    .into(),
                ])
            }
            CalendarFeedAction::Revoke => {
                if self.user_id.is_none() {
                    return Err(CalendarFeedError::NotFound);
                }
                if self.revoked {
                    return Ok(vec![]);
                }
                Ok(vec![
                    CalendarFeedTokenRevoked {
                        revoked_by: command.actor,
                        revoked_at: command.at,
                    }
                    .into(),
                ])
            }
        }
    }
}

impl Aggregate for CalendarFeedToken {
    const TYPE: &'static str = event_schemas::calendar::AGGREGATE_TYPE;
    type Command = CalendarFeedCommand;
    type Event = CalendarFeedTokenEvent;
    type Error = CalendarFeedError;
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
            CalendarFeedTokenEvent::CalendarFeedTokenIssued(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.user_id = Some(e.user_id);
            }
            CalendarFeedTokenEvent::CalendarFeedTokenRevoked(_) => self.revoked = true,
        }
    }
}
