//! The `SalesSettings` aggregate: one per tenant (id
//! [`event_schemas::finance::settings_id`]), holding the quote approval
//! threshold, the default province and the default payment terms. A tenant
//! that never changed them has the defaults: no threshold, ON, 30 days.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::finance::{SalesSettingsChanged, SalesSettingsEvent};
use event_schemas::money::Province;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::patch::Patch;
use crate::{sales, values};

pub const DEFAULT_PROVINCE: Province = Province::On;
pub const DEFAULT_PAYMENT_TERMS_DAYS: u32 = 30;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesSettings {
    pub tenant_id: Option<TenantId>,
    /// The settings as last changed (`None`: never changed, the defaults apply).
    pub current: Option<SalesSettingsChanged>,
}

impl SalesSettings {
    /// Quotes above this total need a manager's approval (`None`: never).
    pub fn threshold(&self) -> Option<Decimal> {
        self.current
            .as_ref()
            .and_then(|c| c.quote_approval_threshold)
    }

    pub fn default_province(&self) -> Province {
        self.current
            .as_ref()
            .map_or(DEFAULT_PROVINCE, |c| c.default_province)
    }

    pub fn default_payment_terms_days(&self) -> u32 {
        self.current
            .as_ref()
            .map_or(DEFAULT_PAYMENT_TERMS_DAYS, |c| c.default_payment_terms_days)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SalesSettingsAction {
    /// Changes any subset of the settings; `Unchanged` / `None` keep theirs.
    Change {
        /// The tenant whose settings these are (fixed by the first change).
        tenant_id: TenantId,
        quote_approval_threshold: Patch<Decimal>,
        default_province: Option<Province>,
        default_payment_terms_days: Option<u32>,
    },
}

/// A settings command: the action, who asked, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct SalesSettingsCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: SalesSettingsAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SalesSettingsError {
    #[error("invalid sales settings: {0}")]
    Invalid(ValidationErrors),
    #[error("these sales settings belong to tenant {0}")]
    WrongTenant(TenantId),
}

impl DomainError for SalesSettingsError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::WrongTenant(_) => ErrorKind::Conflict {
                rule: "sales-settings.wrong-tenant",
            },
        }
    }
}

impl From<ValidationErrors> for SalesSettingsError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

impl SalesSettings {
    /// The events `command` produces against the current state.
    pub fn decide(
        &self,
        command: SalesSettingsCommand,
    ) -> Result<Vec<SalesSettingsEvent>, SalesSettingsError> {
        let SalesSettingsCommand { at, actor, action } = command;
        let SalesSettingsAction::Change {
            tenant_id,
            quote_approval_threshold,
            default_province,
            default_payment_terms_days,
        } = action;
        if let Some(owner) = self.tenant_id.as_ref().filter(|t| **t != tenant_id) {
            return Err(SalesSettingsError::WrongTenant(owner.clone()));
        }
        let mut v = Validator::new();
        let threshold = match quote_approval_threshold {
            Patch::Set(amount) => v
                .check("quote_approval_threshold", values::money(amount))
                .map(Some),
            Patch::Clear => Some(None),
            Patch::Unchanged => Some(self.threshold()),
        };
        let terms = v.check(
            "default_payment_terms_days",
            sales::payment_terms_days(
                default_payment_terms_days.unwrap_or(self.default_payment_terms_days()),
            ),
        );
        v.finish()?;
        let (Some(threshold), Some(terms)) = (threshold, terms) else {
            unreachable!("every field was validated");
        };
        let province = default_province.unwrap_or(self.default_province());
        if threshold == self.threshold()
            && province == self.default_province()
            && terms == self.default_payment_terms_days()
        {
            return Ok(vec![]);
        }
        Ok(vec![
            SalesSettingsChanged {
                tenant_id,
                quote_approval_threshold: threshold,
                default_province: province,
                default_payment_terms_days: terms,
                changed_by: actor,
                changed_at: at,
            }
            .into(),
        ])
    }
}

impl Aggregate for SalesSettings {
    const TYPE: &'static str = event_schemas::finance::SETTINGS_AGGREGATE_TYPE;
    type Command = SalesSettingsCommand;
    type Event = SalesSettingsEvent;
    type Error = SalesSettingsError;
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
            SalesSettingsEvent::SalesSettingsChanged(e) => {
                self.tenant_id = Some(e.tenant_id.clone());
                self.current = Some(e);
            }
        }
    }
}
