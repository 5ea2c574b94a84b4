//! The `CommunicationRule` aggregate: a tenant's automated message — when a
//! trigger happens, send a template on a channel after a delay, unless a
//! condition holds by then. Created, then deleted; never edited (delete it
//! and create another: the messages already due keep their rule's terms).

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::communication::CommunicationType;
use event_schemas::rule::{
    CommunicationRuleCreated, CommunicationRuleDeleted, CommunicationRuleEvent, RuleCondition,
    RuleTiming, RuleTrigger,
};
use event_schemas::template::TemplateType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values;

/// The longest delay after an event: 90 days.
pub const MAX_DELAY_MINUTES: u32 = 90 * 24 * 60;
/// The furthest before a start: 30 days.
pub const MAX_DAYS_BEFORE: u32 = 30;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CommunicationRule {
    pub tenant_id: Option<TenantId>,
    pub created: Option<CommunicationRuleCreated>,
    pub deleted: bool,
}

/// What the handler found of a rule's template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateFacts {
    pub template_type: TemplateType,
    pub active: bool,
    /// Its required declared variables: a rule gives none, so it can't use
    /// a template that needs any.
    pub required_variables: Vec<String>,
}

/// A new rule as a client sends it, with what the handler found of its
/// template (`None`: no such template in the tenant).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleInput {
    pub name: String,
    pub trigger: RuleTrigger,
    pub template_id: Uuid,
    pub template: Option<TemplateFacts>,
    pub channel: CommunicationType,
    pub timing: RuleTiming,
    pub unless: Vec<RuleCondition>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RuleAction {
    Create {
        tenant_id: TenantId,
        rule_id: Uuid,
        input: RuleInput,
    },
    Delete,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RuleCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: RuleAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("invalid rule: {0}")]
    Invalid(ValidationErrors),
    #[error("this rule exists already")]
    AlreadyExists,
    #[error("no such rule")]
    NotFound,
}

impl DomainError for RuleError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "communication-rule.exists",
            },
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

impl From<ValidationErrors> for RuleError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// Whether a template of `template_type` makes messages on `channel`.
pub fn template_fits(template_type: TemplateType, channel: CommunicationType) -> bool {
    match template_type {
        TemplateType::Email => channel == CommunicationType::Email,
        TemplateType::Sms => matches!(
            channel,
            CommunicationType::Sms | CommunicationType::PushNotification | CommunicationType::InApp
        ),
        _ => matches!(
            channel,
            CommunicationType::Letter | CommunicationType::Email | CommunicationType::InApp
        ),
    }
}

fn validate(input: RuleInput) -> Result<RuleInput, ValidationErrors> {
    let mut v = Validator::new();
    let name = v.check(
        "name",
        values::required_text(&input.name, values::MAX_SHORT_TEXT),
    );
    match &input.template {
        None => {
            v.check::<()>("template_id", Err("no such template in this tenant".into()));
        }
        Some(t) if !t.active => {
            v.check::<()>("template_id", Err("the template is deactivated".into()));
        }
        Some(t) if !t.required_variables.is_empty() => {
            v.check::<()>(
                "template_id",
                Err(format!(
                    "a rule gives no variables; the template requires {}",
                    t.required_variables.join(", ")
                )),
            );
        }
        Some(t) if !template_fits(t.template_type, input.channel) => {
            v.check::<()>(
                "channel",
                Err(format!(
                    "a {} template can't make a {} message",
                    t.template_type, input.channel
                )),
            );
        }
        Some(_) => {}
    }
    if !matches!(
        input.channel,
        CommunicationType::Email | CommunicationType::Sms
    ) {
        v.check::<()>("channel", Err("rules send EMAIL or SMS".into()));
    }
    match (&input.timing, input.trigger) {
        (RuleTiming::AfterEvent { minutes }, _) if *minutes > MAX_DELAY_MINUTES => {
            v.check::<()>(
                "timing.minutes",
                Err(format!("at most {MAX_DELAY_MINUTES} (90 days)")),
            );
        }
        (RuleTiming::BeforeStart { .. }, trigger) if trigger != RuleTrigger::JourneyScheduled => {
            v.check::<()>(
                "timing",
                Err(
                    "BEFORE_START counts back from a schedule's start: JOURNEY_SCHEDULED only"
                        .into(),
                ),
            );
        }
        (RuleTiming::BeforeStart { days, .. }, _) if *days > MAX_DAYS_BEFORE => {
            v.check::<()>("timing.days", Err(format!("at most {MAX_DAYS_BEFORE}")));
        }
        _ => {}
    }
    let mut unless = Vec::new();
    for (i, condition) in input.unless.iter().enumerate() {
        if !condition.applies_to(input.trigger) {
            v.check::<()>(
                &format!("unless[{i}]"),
                Err(format!("{condition} does not apply to {}", input.trigger)),
            );
        } else if !unless.contains(condition) {
            unless.push(*condition);
        }
    }
    v.finish()?;
    Ok(RuleInput {
        name: name.unwrap_or_default(),
        unless,
        ..input
    })
}

impl CommunicationRule {
    pub fn decide(&self, command: RuleCommand) -> Result<Vec<CommunicationRuleEvent>, RuleError> {
        match command.action {
            RuleAction::Create {
                tenant_id,
                rule_id,
                input,
            } => {
                if self.created.is_some() {
                    return Err(RuleError::AlreadyExists);
                }
                let input = validate(input)?;
                Ok(vec![
                    CommunicationRuleCreated {
                        tenant_id,
                        rule_id,
                        name: input.name,
                        trigger: input.trigger,
                        template_id: input.template_id,
                        channel: input.channel,
                        timing: input.timing,
                        unless: input.unless,
                        created_by: command.actor,
                        created_at: command.at,
                    }
                    .into(),
                ])
            }
            RuleAction::Delete => {
                if self.created.is_none() {
                    return Err(RuleError::NotFound);
                }
                Ok(if self.deleted {
                    vec![]
                } else {
                    vec![
                        CommunicationRuleDeleted {
                            deleted_by: command.actor,
                            deleted_at: command.at,
                        }
                        .into(),
                    ]
                })
            }
        }
    }
}

impl Aggregate for CommunicationRule {
    const TYPE: &'static str = event_schemas::rule::AGGREGATE_TYPE;
    type Command = RuleCommand;
    type Event = CommunicationRuleEvent;
    type Error = RuleError;
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
            CommunicationRuleEvent::CommunicationRuleCreated(e) => {
                self.tenant_id = Some(e.tenant_id.clone());
                self.created = Some(e);
            }
            CommunicationRuleEvent::CommunicationRuleDeleted(_) => self.deleted = true,
        }
    }
}
