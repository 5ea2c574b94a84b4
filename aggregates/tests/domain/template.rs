//! Given/when/then tests of the `MessageTemplate` aggregate, and of the
//! variables a message is rendered with.

use aggregates::template::{
    MessageTemplate, TemplateAction, TemplateCommand, TemplateError, TemplateInput, TemplatePatch,
    message_variables,
};
use aggregates::{DomainError, ErrorKind, Patch};
use chrono::{DateTime, Utc};
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::template::{
    MessagePurpose, MessageTemplateEvent, TemplateActivated, TemplateContent, TemplateDeactivated,
    TemplateRevised, TemplateType, TemplateVariable,
};
use serde_json::json;
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_a001);
const ID: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_c001);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn var(name: &str, required: bool, example: Option<serde_json::Value>) -> TemplateVariable {
    TemplateVariable {
        name: name.into(),
        required,
        description: None,
        example,
    }
}

fn input() -> TemplateInput {
    TemplateInput {
        name: "  Quote follow-up ".into(),
        subject: Some("Your quote {{ quote.reference }}".into()),
        content: "<p>Hi {{ customer.first_name }}, {{ note }}</p>".into(),
        variables: vec![var("note", false, Some(json!("see you soon")))],
        description: None,
        category: Some("sales".into()),
        tags: vec!["follow-up".into(), "Follow-Up".into()],
        purpose: None,
    }
}

fn create(template_type: TemplateType, input: TemplateInput) -> TemplateAction {
    TemplateAction::Create {
        tenant_id: TenantId::parse("acme-movers").unwrap(),
        template_id: ID,
        template_type,
        input,
    }
}

fn run(
    history: &[MessageTemplateEvent],
    action: TemplateAction,
) -> Result<Vec<MessageTemplateEvent>, TemplateError> {
    TestFramework::<MessageTemplate>::with(())
        .given(history.to_vec())
        .when(TemplateCommand {
            at: at(),
            actor: ACTOR,
            action,
        })
        .inspect_result()
}

fn created() -> Vec<MessageTemplateEvent> {
    run(&[], create(TemplateType::Email, input())).unwrap()
}

fn content_of(events: &[MessageTemplateEvent]) -> TemplateContent {
    match &events[0] {
        MessageTemplateEvent::TemplateCreated(e) => e.content.clone(),
        MessageTemplateEvent::TemplateRevised(e) => e.content.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

/// The fields a refusal names, with their messages.
fn refused(result: Result<Vec<MessageTemplateEvent>, TemplateError>) -> Vec<(String, String)> {
    let error = result.expect_err("refused");
    match error.kind() {
        ErrorKind::Invalid(errors) => errors
            .0
            .iter()
            .map(|e| (e.field.clone(), e.message.clone()))
            .collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn a_template_is_created_as_version_one_with_its_text_trimmed_and_tags_normalized() {
    let events = created();
    let MessageTemplateEvent::TemplateCreated(e) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(e.template_type, TemplateType::Email);
    assert_eq!(e.content.name, "Quote follow-up");
    assert_eq!(e.content.tags, vec!["follow-up".to_owned()]);
    assert_eq!(e.content.purpose, MessagePurpose::Transactional);
    assert_eq!(e.created_by, ACTOR);
    assert_eq!(
        run(&events, create(TemplateType::Email, input())),
        Err(TemplateError::AlreadyExists)
    );
}

#[test]
fn a_syntax_error_names_its_field_and_line() {
    let mut bad = input();
    bad.content = "<p>Hello</p>\n<p>{% if customer %}open</p>\n".into();
    let errors = refused(run(&[], create(TemplateType::Email, bad)));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "content");
    assert!(errors[0].1.contains("line"), "{errors:?}");

    let mut bad = input();
    bad.subject = Some("Quote {{ quote.reference ".into());
    let errors = refused(run(&[], create(TemplateType::Email, bad)));
    assert_eq!(errors[0].0, "subject", "{errors:?}");
    assert!(errors[0].1.contains("line 1"), "{errors:?}");
}

#[test]
fn a_template_may_only_read_declared_and_built_in_variables() {
    let mut bad = input();
    bad.content = "{{ customer.first_name }} {{ coupon_code }} {{ note }}".into();
    let errors = refused(run(&[], create(TemplateType::Email, bad)));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "variables");
    assert!(errors[0].1.contains("`coupon_code`"), "{errors:?}");
    assert!(!errors[0].1.contains("`note`"), "{errors:?}");
}

#[test]
fn every_invalid_field_is_named_at_once() {
    let bad = TemplateInput {
        name: " ".into(),
        subject: None,
        content: "".into(),
        variables: vec![
            var("customer", false, None),
            var("2fast", false, None),
            var("ok", false, None),
            var("ok", true, None),
        ],
        description: None,
        category: None,
        tags: vec!["".into()],
        purpose: Some(MessagePurpose::Marketing),
    };
    let fields: Vec<String> = refused(run(&[], create(TemplateType::Email, bad)))
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    for field in [
        "name",
        "subject",
        "content",
        "variables[0].name",
        "variables[1].name",
        "variables[3].name",
        "tags[0]",
    ] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
}

#[test]
fn an_sms_has_no_subject_and_an_email_needs_one() {
    let errors = refused(run(&[], create(TemplateType::Sms, input())));
    assert_eq!(errors[0].0, "subject");
    let mut sms = input();
    sms.subject = None;
    sms.content = "Hi {{ customer.first_name }}, your movers arrive at 8.".into();
    assert!(run(&[], create(TemplateType::Sms, sms.clone())).is_ok());
    let errors = refused(run(&[], create(TemplateType::Email, sms)));
    assert_eq!(errors[0].0, "subject");
}

#[test]
fn an_edit_is_a_new_version_naming_what_changed_and_no_change_records_nothing() {
    let history = created();
    let events = run(
        &history,
        TemplateAction::Revise(TemplatePatch {
            content: Some("<p>Hello {{ customer.first_name }}</p>".into()),
            tags: Some(vec!["reminder".into()]),
            ..TemplatePatch::default()
        }),
    )
    .unwrap();
    let MessageTemplateEvent::TemplateRevised(TemplateRevised {
        template_version,
        changed_fields,
        content,
        ..
    }) = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*template_version, 2);
    assert_eq!(
        changed_fields,
        &vec!["content".to_owned(), "tags".to_owned()]
    );
    // What the edit left out stayed.
    assert_eq!(content.subject, content_of(&history).subject);
    assert_eq!(content.variables, content_of(&history).variables);

    let history: Vec<_> = history.into_iter().chain(events).collect();
    let third = run(
        &history,
        TemplateAction::Revise(TemplatePatch {
            subject: Patch::Set("Quote {{ quote.reference }} from {{ company.name }}".into()),
            ..TemplatePatch::default()
        }),
    )
    .unwrap();
    assert!(
        matches!(&third[0], MessageTemplateEvent::TemplateRevised(r) if r.template_version == 3)
    );
    assert_eq!(
        run(
            &history,
            TemplateAction::Revise(TemplatePatch {
                name: Some("Quote follow-up".into()),
                ..TemplatePatch::default()
            })
        ),
        Ok(vec![])
    );
}

#[test]
fn an_edit_that_breaks_the_text_is_refused_and_an_unknown_template_is_not_found() {
    let errors = refused(run(
        &created(),
        TemplateAction::Revise(TemplatePatch {
            variables: Some(vec![]),
            ..TemplatePatch::default()
        }),
    ));
    // `note` is read by the content and no longer declared.
    assert_eq!(errors[0].0, "variables");
    assert!(errors[0].1.contains("`note`"), "{errors:?}");
    assert_eq!(
        run(&[], TemplateAction::Revise(TemplatePatch::default())),
        Err(TemplateError::NotFound)
    );
    assert_eq!(
        run(&[], TemplateAction::Deactivate),
        Err(TemplateError::NotFound)
    );
}

#[test]
fn deactivating_and_activating_record_only_a_change() {
    let history = created();
    let off = run(&history, TemplateAction::Deactivate).unwrap();
    assert!(matches!(
        &off[..],
        [MessageTemplateEvent::TemplateDeactivated(TemplateDeactivated { deactivated_by, .. })] if *deactivated_by == ACTOR
    ));
    let history: Vec<_> = history.into_iter().chain(off).collect();
    assert_eq!(run(&history, TemplateAction::Deactivate), Ok(vec![]));
    let on = run(&history, TemplateAction::Activate).unwrap();
    assert!(matches!(
        &on[..],
        [MessageTemplateEvent::TemplateActivated(
            TemplateActivated { .. }
        )]
    ));
    assert_eq!(run(&created(), TemplateAction::Activate), Ok(vec![]));
}

#[test]
fn message_variables_name_unknown_and_missing_required_ones() {
    let mut content = content_of(&created());
    content.variables = vec![
        var("note", false, None),
        var("crew_size", true, Some(json!(3))),
    ];
    // A preview: examples fill what is not given; optional ones read null.
    let vars = message_variables(
        &content,
        serde_json::Map::new(),
        serde_json::Map::new(),
        true,
    )
    .unwrap();
    assert_eq!(vars["crew_size"], json!(3));
    assert_eq!(vars["note"], json!(null));

    // A real message: no examples; the required one is missing, the
    // unknown one is named.
    let given: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(json!({"coupon": "X", "note": "hi"})).unwrap();
    let error = message_variables(&content, given, serde_json::Map::new(), false).unwrap_err();
    let fields: Vec<&str> = error.fields().collect();
    assert_eq!(fields, vec!["variables.coupon", "variables.crew_size"]);

    // Built-ins given win over the gathered ones.
    let gathered: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(json!({"customer": {"first_name": "Real"}})).unwrap();
    let given: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(json!({"customer": {"first_name": "Given"}, "crew_size": 2}))
            .unwrap();
    let vars = message_variables(&content, given, gathered, false).unwrap();
    assert_eq!(vars["customer"]["first_name"], json!("Given"));
}

#[test]
fn a_refusal_is_sorted_for_the_api() {
    assert!(matches!(
        TemplateError::AlreadyExists.kind(),
        ErrorKind::Conflict {
            rule: "template.exists"
        }
    ));
    assert_eq!(TemplateError::NotFound.kind(), ErrorKind::NotFound);
}
