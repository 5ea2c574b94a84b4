//! Given/when/then tests of the `CommunicationRule` aggregate.

use aggregates::rule::{
    CommunicationRule, RuleAction, RuleCommand, RuleError, RuleInput, TemplateFacts,
};
use aggregates::{DomainError, ErrorKind};
use chrono::{DateTime, NaiveTime, Utc};
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::communication::CommunicationType;
use event_schemas::rule::{CommunicationRuleEvent, RuleCondition, RuleTiming, RuleTrigger};
use event_schemas::template::TemplateType;
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0xa001);
const RULE: Uuid = Uuid::from_u128(0xf001);
const TEMPLATE: Uuid = Uuid::from_u128(0xc001);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn facts(template_type: TemplateType, active: bool) -> TemplateFacts {
    TemplateFacts {
        template_type,
        active,
        required_variables: vec![],
    }
}

fn input() -> RuleInput {
    RuleInput {
        name: " Reminder ".into(),
        trigger: RuleTrigger::JourneyScheduled,
        template_id: TEMPLATE,
        template: Some(facts(TemplateType::Sms, true)),
        channel: CommunicationType::Sms,
        timing: RuleTiming::BeforeStart {
            days: 1,
            at: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        },
        unless: vec![
            RuleCondition::ScheduleCancelled,
            RuleCondition::ScheduleCancelled,
            RuleCondition::LeadClosed,
        ],
    }
}

fn run(
    history: &[CommunicationRuleEvent],
    action: RuleAction,
) -> Result<Vec<CommunicationRuleEvent>, RuleError> {
    TestFramework::<CommunicationRule>::with(())
        .given(history.to_vec())
        .when(RuleCommand {
            at: at(),
            actor: ACTOR,
            action,
        })
        .inspect_result()
}

fn create(input: RuleInput) -> RuleAction {
    RuleAction::Create {
        tenant_id: TenantId::parse("acme-movers").unwrap(),
        rule_id: RULE,
        input,
    }
}

fn fields(result: Result<Vec<CommunicationRuleEvent>, RuleError>) -> Vec<String> {
    let error = result.expect_err("refused");
    match error.kind() {
        ErrorKind::Invalid(errors) => errors.fields().map(str::to_owned).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn a_rule_is_created_with_its_conditions_once_each_and_deleted_once() {
    let events = run(&[], create(input())).unwrap();
    let CommunicationRuleEvent::CommunicationRuleCreated(e) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(e.name, "Reminder");
    assert_eq!(
        e.unless,
        vec![RuleCondition::ScheduleCancelled, RuleCondition::LeadClosed]
    );
    assert_eq!(run(&events, create(input())), Err(RuleError::AlreadyExists));
    let deleted = run(&events, RuleAction::Delete).unwrap();
    assert!(matches!(
        &deleted[..],
        [CommunicationRuleEvent::CommunicationRuleDeleted(_)]
    ));
    let all: Vec<_> = events.into_iter().chain(deleted).collect();
    assert_eq!(run(&all, RuleAction::Delete), Ok(vec![]));
    assert_eq!(run(&[], RuleAction::Delete), Err(RuleError::NotFound));
}

#[test]
fn a_rule_must_fit_its_template_trigger_and_timing() {
    let mut missing = input();
    missing.template = None;
    assert_eq!(fields(run(&[], create(missing))), vec!["template_id"]);
    let mut inactive = input();
    inactive.template = Some(facts(TemplateType::Sms, false));
    assert_eq!(fields(run(&[], create(inactive))), vec!["template_id"]);
    let mut needs = input();
    needs.template = Some(TemplateFacts {
        required_variables: vec!["coupon".into()],
        ..facts(TemplateType::Sms, true)
    });
    assert_eq!(fields(run(&[], create(needs))), vec!["template_id"]);
    let mut wrong = input();
    wrong.channel = CommunicationType::Email;
    assert_eq!(fields(run(&[], create(wrong))), vec!["channel"]);
    let mut letter = input();
    letter.template = Some(facts(TemplateType::Letter, true));
    letter.channel = CommunicationType::Letter;
    assert_eq!(fields(run(&[], create(letter))), vec!["channel"]);
    let mut timing = input();
    timing.trigger = RuleTrigger::QuoteSent;
    timing.unless = vec![RuleCondition::InvoicePaid];
    assert_eq!(
        fields(run(&[], create(timing))),
        vec!["timing", "unless[0]"]
    );
    let mut far = input();
    far.timing = RuleTiming::BeforeStart {
        days: 31,
        at: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
    };
    assert_eq!(fields(run(&[], create(far))), vec!["timing.days"]);
}

#[test]
fn conditions_apply_only_to_the_triggers_whose_records_they_read() {
    assert!(RuleCondition::QuoteAccepted.applies_to(RuleTrigger::QuoteSent));
    assert!(!RuleCondition::QuoteAccepted.applies_to(RuleTrigger::InvoiceOverdue));
    assert!(RuleCondition::InvoicePaid.applies_to(RuleTrigger::InvoiceOverdue));
    assert!(RuleCondition::LeadClosed.applies_to(RuleTrigger::LeadCreated));
    assert!(!RuleCondition::ScheduleCancelled.applies_to(RuleTrigger::QuoteSent));
}
