//! The `MessageTemplate` aggregate: a tenant's message template (the seed's
//! Template). Every edit is a new version holding the complete text; a
//! deactivated template can't be used for new messages.
//!
//! The text is checked when it is written: it must parse (minijinja, via
//! the `templating` crate; a syntax error names its field and line) and may
//! only read its declared variables and the built-in ones
//! ([`BUILT_IN_VARIABLES`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::template::{
    MessagePurpose, MessageTemplateEvent, TemplateActivated, TemplateContent, TemplateCreated,
    TemplateDeactivated, TemplateRevised, TemplateType, TemplateVariable,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, FieldError, ValidationErrors, Validator};
use crate::patch::Patch;
use crate::values;

/// The variables every template may read without declaring them: the
/// records a message is about and the tenant's company.
pub const BUILT_IN_VARIABLES: &[&str] = &[
    "customer",
    "lead",
    "quote",
    "invoice",
    "schedule",
    "company",
    "unsubscribe_url",
];

/// At most this many declared variables.
pub const MAX_VARIABLES: usize = 50;
/// A template's name, category and a variable's name.
const MAX_NAME: usize = 200;
const MAX_VARIABLE_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 2_000;
/// A declared example value, as JSON.
const MAX_EXAMPLE_BYTES: usize = 4 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageTemplate {
    pub tenant_id: Option<TenantId>,
    pub template_type: Option<TemplateType>,
    /// The current version (1 once created).
    pub version: u32,
    pub content: Option<TemplateContent>,
    pub active: bool,
}

impl MessageTemplate {
    pub fn exists(&self) -> bool {
        self.content.is_some()
    }
}

/// A new template as a client sends it.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateInput {
    pub name: String,
    pub subject: Option<String>,
    pub content: String,
    pub variables: Vec<TemplateVariable>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// Default: TRANSACTIONAL.
    pub purpose: Option<MessagePurpose>,
}

/// An edit as a client sends it: absent fields stay, `null` clears.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TemplatePatch {
    pub name: Option<String>,
    pub subject: Patch<String>,
    pub content: Option<String>,
    pub variables: Option<Vec<TemplateVariable>>,
    pub description: Patch<String>,
    pub category: Patch<String>,
    pub tags: Option<Vec<String>>,
    pub purpose: Option<MessagePurpose>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplateAction {
    Create {
        tenant_id: TenantId,
        template_id: Uuid,
        template_type: TemplateType,
        input: TemplateInput,
    },
    Revise(TemplatePatch),
    Deactivate,
    Activate,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TemplateCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: TemplateAction,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("invalid template: {0}")]
    Invalid(ValidationErrors),
    #[error("this template exists already")]
    AlreadyExists,
    #[error("no such template")]
    NotFound,
}

impl DomainError for TemplateError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "template.exists",
            },
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

impl From<ValidationErrors> for TemplateError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// How a template of `template_type` is rendered: EMAIL content is HTML.
pub fn escape_of(template_type: TemplateType) -> templating::Escape {
    match template_type {
        TemplateType::Email => templating::Escape::Html,
        _ => templating::Escape::Plain,
    }
}

impl MessageTemplate {
    /// The events `command` produces against the current state.
    pub fn decide(
        &self,
        command: TemplateCommand,
    ) -> Result<Vec<MessageTemplateEvent>, TemplateError> {
        let TemplateCommand { at, actor, action } = command;
        match action {
            TemplateAction::Create {
                tenant_id,
                template_id,
                template_type,
                input,
            } => {
                if self.exists() {
                    return Err(TemplateError::AlreadyExists);
                }
                let patch = TemplatePatch {
                    name: Some(input.name),
                    subject: input.subject.map_or(Patch::Clear, Patch::Set),
                    content: Some(input.content),
                    variables: Some(input.variables),
                    description: input.description.map_or(Patch::Clear, Patch::Set),
                    category: input.category.map_or(Patch::Clear, Patch::Set),
                    tags: Some(input.tags),
                    purpose: Some(input.purpose.unwrap_or(MessagePurpose::Transactional)),
                };
                let content = validate(template_type, None, patch)?;
                Ok(vec![
                    TemplateCreated {
                        tenant_id,
                        template_id,
                        template_type,
                        content,
                        created_by: actor,
                        created_at: at,
                    }
                    .into(),
                ])
            }
            TemplateAction::Revise(patch) => {
                let (Some(current), Some(template_type)) = (&self.content, self.template_type)
                else {
                    return Err(TemplateError::NotFound);
                };
                let content = validate(template_type, Some(current), patch)?;
                let changed = changed_fields(current, &content);
                if changed.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![
                    TemplateRevised {
                        template_version: self.version + 1,
                        content,
                        changed_fields: changed,
                        revised_by: actor,
                        revised_at: at,
                    }
                    .into(),
                ])
            }
            TemplateAction::Deactivate => {
                if !self.exists() {
                    return Err(TemplateError::NotFound);
                }
                Ok(if self.active {
                    vec![
                        TemplateDeactivated {
                            deactivated_by: actor,
                            deactivated_at: at,
                        }
                        .into(),
                    ]
                } else {
                    vec![]
                })
            }
            TemplateAction::Activate => {
                if !self.exists() {
                    return Err(TemplateError::NotFound);
                }
                Ok(if self.active {
                    vec![]
                } else {
                    vec![
                        TemplateActivated {
                            activated_by: actor,
                            activated_at: at,
                        }
                        .into(),
                    ]
                })
            }
        }
    }
}

fn changed_fields(a: &TemplateContent, b: &TemplateContent) -> Vec<String> {
    [
        ("name", a.name == b.name),
        ("subject", a.subject == b.subject),
        ("content", a.content == b.content),
        ("variables", a.variables == b.variables),
        ("description", a.description == b.description),
        ("category", a.category == b.category),
        ("tags", a.tags == b.tags),
        ("purpose", a.purpose == b.purpose),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(name, _)| name.to_owned())
    .collect()
}

/// An optional text after `patch` (an empty string clears it too).
fn optional(
    v: &mut Validator,
    field: &str,
    patch: Patch<String>,
    current: Option<String>,
    max: usize,
) -> Option<Option<String>> {
    match patch {
        Patch::Unchanged => Some(current),
        Patch::Clear => Some(None),
        Patch::Set(value) => v.check(field, values::optional_text(Some(&value), max)),
    }
}

fn variable_name(name: &str) -> Result<String, String> {
    let valid = name.len() <= MAX_VARIABLE_NAME
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` is not a variable name (a letter or `_`, then letters, digits or `_`; at most {MAX_VARIABLE_NAME})"
        ));
    }
    if BUILT_IN_VARIABLES.contains(&name) {
        return Err(format!("`{name}` is a built-in variable"));
    }
    Ok(name.to_owned())
}

fn variables(v: &mut Validator, declared: Vec<TemplateVariable>) -> Option<Vec<TemplateVariable>> {
    if declared.len() > MAX_VARIABLES {
        v.check::<()>(
            "variables",
            Err(format!("at most {MAX_VARIABLES} variables")),
        );
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(declared.len());
    let mut valid = true;
    for (i, var) in declared.into_iter().enumerate() {
        let name = v.check(&format!("variables[{i}].name"), variable_name(&var.name));
        let description = v.check(
            &format!("variables[{i}].description"),
            values::optional_text(var.description.as_deref(), MAX_DESCRIPTION),
        );
        let example_ok = v
            .check(
                &format!("variables[{i}].example"),
                match &var.example {
                    Some(example) if example.to_string().len() > MAX_EXAMPLE_BYTES => Err(format!(
                        "an example is at most {MAX_EXAMPLE_BYTES} bytes of JSON"
                    )),
                    _ => Ok(()),
                },
            )
            .is_some();
        match (name, description) {
            (Some(name), Some(description)) if example_ok => {
                if !seen.insert(name.clone()) {
                    v.check::<()>(
                        &format!("variables[{i}].name"),
                        Err(format!("`{name}` is declared twice")),
                    );
                    valid = false;
                }
                out.push(TemplateVariable {
                    name,
                    required: var.required,
                    description,
                    example: var.example,
                });
            }
            _ => valid = false,
        }
    }
    valid.then_some(out)
}

fn tags(v: &mut Validator, tags: Vec<String>) -> Option<Vec<String>> {
    let mut out = BTreeSet::new();
    let mut valid = true;
    for (i, tag) in tags.iter().enumerate() {
        match v.check(&format!("tags[{i}]"), values::tag(tag)) {
            Some(tag) => {
                out.insert(tag);
            }
            None => valid = false,
        }
    }
    if out.len() > values::MAX_TAGS {
        v.check::<()>("tags", Err(format!("at most {} tags", values::MAX_TAGS)));
        return None;
    }
    valid.then(|| out.into_iter().collect())
}

/// `patch` applied to `current` (`None`: a new template), every field checked,
/// then the text parsed and its variables matched against the declared and
/// built-in ones.
fn validate(
    template_type: TemplateType,
    current: Option<&TemplateContent>,
    patch: TemplatePatch,
) -> Result<TemplateContent, ValidationErrors> {
    let limits = templating::Limits::default();
    let mut v = Validator::new();
    let name = match patch.name {
        Some(name) => v.check("name", values::required_text(&name, MAX_NAME)),
        None => current.map(|c| c.name.clone()),
    };
    let subject = match patch.subject {
        Patch::Unchanged => current.and_then(|c| c.subject.clone()),
        Patch::Clear => None,
        Patch::Set(s) if s.trim().is_empty() => None,
        Patch::Set(s) => Some(s),
    };
    let subject = match (template_type, subject) {
        (TemplateType::Email, None) => {
            v.check::<()>("subject", Err("an EMAIL template needs a subject".into()));
            None
        }
        (TemplateType::Sms, Some(_)) => {
            v.check::<()>("subject", Err("an SMS has no subject".into()));
            None
        }
        (_, Some(s)) if s.contains(['\r', '\n']) => {
            v.check::<()>("subject", Err("a subject is one line".into()));
            None
        }
        (_, s) => Some(s),
    };
    let content = match patch.content {
        Some(content) if content.trim().is_empty() => {
            v.check::<()>("content", Err("must not be empty".into()));
            None
        }
        Some(content) => Some(content),
        None => current.map(|c| c.content.clone()),
    };
    let variables = match patch.variables {
        Some(declared) => variables(&mut v, declared),
        None => current.map(|c| c.variables.clone()),
    };
    let description = optional(
        &mut v,
        "description",
        patch.description,
        current.and_then(|c| c.description.clone()),
        MAX_DESCRIPTION,
    );
    let category = optional(
        &mut v,
        "category",
        patch.category,
        current.and_then(|c| c.category.clone()),
        MAX_NAME,
    );
    let tags = match patch.tags {
        Some(t) => tags(&mut v, t),
        None => current.map(|c| c.tags.clone()),
    };
    let purpose = patch
        .purpose
        .or(current.map(|c| c.purpose))
        .unwrap_or(MessagePurpose::Transactional);
    // The text, once every field is well-formed.
    if let (Some(subject), Some(content), Some(declared)) = (&subject, &content, &variables) {
        let source = templating::Source {
            subject: subject.clone(),
            content: content.clone(),
            escape: escape_of(template_type),
        };
        match templating::check(&source, &limits) {
            Ok(used) => {
                let known: BTreeSet<&str> = BUILT_IN_VARIABLES
                    .iter()
                    .copied()
                    .chain(declared.iter().map(|d| d.name.as_str()))
                    .collect();
                let unknown: Vec<&str> = used
                    .roots
                    .iter()
                    .map(String::as_str)
                    .filter(|root| !known.contains(root))
                    .collect();
                if !unknown.is_empty() {
                    v.check::<()>(
                        "variables",
                        Err(format!(
                            "the template reads {}, neither declared nor built-in ({})",
                            unknown
                                .iter()
                                .map(|u| format!("`{u}`"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            BUILT_IN_VARIABLES.join(", ")
                        )),
                    );
                }
            }
            Err(e) => {
                let (field, message) = source_error(&e);
                v.check::<()>(field, Err(message));
            }
        }
    }
    v.finish()?;
    let (Some(name), Some(subject), Some(content), Some(variables)) =
        (name, subject, content, variables)
    else {
        return Err(ValidationErrors(vec![FieldError {
            field: "template".into(),
            message: "incomplete".into(),
        }]));
    };
    Ok(TemplateContent {
        name,
        subject,
        content,
        variables,
        description: description.flatten(),
        category: category.flatten(),
        tags: tags.unwrap_or_default(),
        purpose,
    })
}

/// The field and message of an error found while checking a template's text.
pub fn source_error(e: &templating::TemplateError) -> (&'static str, String) {
    use templating::TemplateError as E;
    match e {
        E::Syntax {
            field,
            line,
            message,
        } => (field, format!("syntax error on line {line}: {message}")),
        E::TooLarge { field, limit } => (field, format!("must be at most {limit} bytes")),
        other => ("content", other.to_string()),
    }
}

impl Aggregate for MessageTemplate {
    const TYPE: &'static str = event_schemas::template::AGGREGATE_TYPE;
    type Command = TemplateCommand;
    type Event = MessageTemplateEvent;
    type Error = TemplateError;
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
            MessageTemplateEvent::TemplateCreated(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.template_type = Some(e.template_type);
                self.version = 1;
                self.content = Some(e.content);
                self.active = true;
            }
            MessageTemplateEvent::TemplateRevised(e) => {
                self.version = e.template_version;
                self.content = Some(e.content);
            }
            MessageTemplateEvent::TemplateDeactivated(_) => self.active = false,
            MessageTemplateEvent::TemplateActivated(_) => self.active = true,
        }
    }
}

/// The variables a message is rendered with: the `given` ones (declared or
/// built-in, else an error naming them), each declared variable not given
/// taken from its example when `examples` (a preview), the `built_ins` the
/// caller gathered for the records the message is about. A required
/// variable missing is an error naming it; an optional one missing is
/// `null` (`none` in the template).
pub fn message_variables(
    template: &TemplateContent,
    given: serde_json::Map<String, serde_json::Value>,
    built_ins: serde_json::Map<String, serde_json::Value>,
    examples: bool,
) -> Result<serde_json::Map<String, serde_json::Value>, ValidationErrors> {
    let mut v = Validator::new();
    let declared: BTreeSet<&str> = template.variables.iter().map(|d| d.name.as_str()).collect();
    for name in given.keys() {
        if !declared.contains(name.as_str()) && !BUILT_IN_VARIABLES.contains(&name.as_str()) {
            v.check::<()>(
                &format!("variables.{name}"),
                Err(format!(
                    "`{name}` is not a variable of this template (declared: {})",
                    if declared.is_empty() {
                        "none".to_owned()
                    } else {
                        declared.iter().copied().collect::<Vec<_>>().join(", ")
                    }
                )),
            );
        }
    }
    let mut out = built_ins;
    let mut given = given;
    for var in &template.variables {
        let value = given
            .remove(&var.name)
            .or_else(|| examples.then(|| var.example.clone()).flatten());
        match value {
            Some(value) => {
                out.insert(var.name.clone(), value);
            }
            None if var.required => {
                v.check::<()>(
                    &format!("variables.{}", var.name),
                    Err(format!("`{}` is required", var.name)),
                );
            }
            None => {
                out.insert(var.name.clone(), serde_json::Value::Null);
            }
        }
    }
    // Built-ins given explicitly win over the gathered ones.
    for (name, value) in given {
        if BUILT_IN_VARIABLES.contains(&name.as_str()) {
            out.insert(name, value);
        }
    }
    v.finish()?;
    Ok(out)
}

/// Made-up records for a preview, for the built-ins a caller did not give.
pub fn sample_built_ins(company: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(samples) = serde_json::json!({
        "customer": {
            "id": "00000000-0000-0000-0000-000000000000",
            "first_name": "Alex", "last_name": "Sample", "full_name": "Alex Sample",
            "email": "alex.sample@example.com", "phone": "+14165550100", "address": null,
        },
        "lead": {"id": "00000000-0000-0000-0000-000000000000", "status": "QUALIFIED",
                 "priority": "MEDIUM", "source": "website", "move_date": "2027-06-30",
                 "estimated_value": "2000.00"},
        "quote": {"id": "00000000-0000-0000-0000-000000000000", "reference": "0196ABCD",
                  "status": "SENT", "revision": 1, "total": "1808.00", "currency": "CAD",
                  "valid_until": "2027-06-15"},
        "invoice": {"id": "00000000-0000-0000-0000-000000000000", "number": "INV-2027-0042",
                    "status": "ISSUED", "total": "1808.00", "balance": "1808.00",
                    "currency": "CAD", "due_date": "2027-07-15"},
        "schedule": {"id": "00000000-0000-0000-0000-000000000000", "title": "Move: Toronto → Ottawa",
                     "type": "JOURNEY", "status": "SCHEDULED", "location_id": "tor-1",
                     "starts_at": "2027-06-30T08:00:00-04:00", "ends_at": "2027-06-30T16:00:00-04:00",
                     "local_start": "2027-06-30 08:00", "local_end": "2027-06-30 16:00",
                     "local_date": "2027-06-30", "local_time": "08:00", "time_zone": "America/Toronto"},
        "unsubscribe_url": "https://crm.example.com/v1/unsubscribe/sample",
    }) else {
        unreachable!("an object literal")
    };
    let mut out = samples;
    out.insert("company".into(), company);
    out
}
