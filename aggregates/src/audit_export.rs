//! The `AuditExport` aggregate: one per export, recording that it happened.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::audit::{AuditExportEvent, AuditExportRecorded};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditExport {
    pub id: Option<Uuid>,
    pub tenant_id: Option<TenantId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordExport {
    pub export_id: Uuid,
    pub tenant_id: TenantId,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub channel: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuditExportError {
    #[error("export {0} is already recorded")]
    AlreadyRecorded(Uuid),
    #[error("invalid export: {0}")]
    Invalid(ValidationErrors),
}

impl DomainError for AuditExportError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::AlreadyRecorded(_) => ErrorKind::Conflict {
                rule: "audit-export.already-recorded",
            },
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
        }
    }
}

impl Aggregate for AuditExport {
    const TYPE: &'static str = event_schemas::audit::AGGREGATE_TYPE;
    type Command = RecordExport;
    type Event = AuditExportEvent;
    type Error = AuditExportError;
    type Services = ();

    async fn handle(
        &mut self,
        cmd: RecordExport,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AuditExportError> {
        if let Some(id) = self.id {
            return Err(AuditExportError::AlreadyRecorded(id));
        }
        if let (Some(from), Some(to)) = (cmd.from, cmd.to)
            && from > to
        {
            return Err(AuditExportError::Invalid(ValidationErrors::single(
                "from",
                "must not be after `to`",
            )));
        }
        let event = AuditExportRecorded {
            tenant_id: cmd.tenant_id,
            export_id: cmd.export_id,
            from: cmd.from,
            to: cmd.to,
            channel: cmd.channel,
        };
        sink.write(event.into(), self).await;
        Ok(())
    }

    fn apply(&mut self, event: AuditExportEvent) {
        match event {
            AuditExportEvent::AuditExportRecorded(e) => {
                self.id = Some(e.export_id);
                self.tenant_id = Some(e.tenant_id);
            }
        }
    }
}

impl crate::TenantOwned for AuditExport {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn record(from: Option<&str>, to: Option<&str>) -> RecordExport {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        RecordExport {
            export_id: Uuid::from_u128(7),
            tenant_id: TenantId::parse("acme").unwrap(),
            from: from.map(at),
            to: to.map(at),
            channel: "api".into(),
        }
    }

    #[test]
    fn an_export_is_recorded_once() {
        let expected = AuditExportRecorded {
            tenant_id: TenantId::parse("acme").unwrap(),
            export_id: Uuid::from_u128(7),
            from: None,
            to: None,
            channel: "api".into(),
        };
        TestFramework::<AuditExport>::with(())
            .given_no_previous_events()
            .when(record(None, None))
            .then_expect_events(vec![expected.clone().into()]);
        TestFramework::<AuditExport>::with(())
            .given(vec![expected.into()])
            .when(record(None, None))
            .then_expect_error(AuditExportError::AlreadyRecorded(Uuid::from_u128(7)));
    }

    #[test]
    fn an_inverted_window_is_rejected() {
        TestFramework::<AuditExport>::with(())
            .given_no_previous_events()
            .when(record(
                Some("2026-02-01T00:00:00Z"),
                Some("2026-01-01T00:00:00Z"),
            ))
            .then_expect_error(AuditExportError::Invalid(ValidationErrors::single(
                "from",
                "must not be after `to`",
            )));
    }
}
