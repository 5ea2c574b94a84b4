//! Checking and rendering in this process.

use std::collections::{BTreeMap, HashSet};
use std::io;

use minijinja::{AutoEscape, Environment, Error, ErrorKind, Template, UndefinedBehavior, Value};
use serde_json::{Map, Value as Json};

use crate::error::TemplateError;
use crate::{Escape, Limits, RECURSION_LIMIT, Rendered, Source, Variables, filters};

pub(crate) const SUBJECT: &str = "subject";
pub(crate) const CONTENT: &str = "content";

/// Parses the template without rendering it.
///
/// Fails with [`TemplateError::TooLarge`] when the subject is longer than
/// [`Limits::max_subject_bytes`] or the content longer than
/// [`Limits::max_template_bytes`], and with [`TemplateError::Syntax`] (field
/// and 1-based line) when a field does not parse. Otherwise returns the
/// variables the template reads (see [`Variables`]).
pub fn check(source: &Source, limits: &Limits) -> Result<Variables, TemplateError> {
    check_sizes(source, limits)?;
    let env = environment(limits, source.escape);
    let globals = globals(&env);
    let mut variables = Variables::default();
    for template in compile(&env, source)?.into_iter().flatten() {
        for path in template.undeclared_variables(true) {
            let root = path.split('.').next().unwrap_or_default();
            if globals.contains(root) {
                continue;
            }
            variables.roots.insert(root.to_owned());
            variables.paths.insert(path);
        }
    }
    Ok(variables)
}

/// Renders the template in this process, with `variables` (a JSON object) as
/// the data: `{{ customer.first_name }}` reads `variables["customer"]["first_name"]`.
///
/// Enforces every limit except [`Limits::wall_time`] and
/// [`Limits::memory_bytes`], which only a worker process can enforce (a
/// template may still exhaust this process's memory: use [`crate::Renderer`]
/// for untrusted templates). JSON `null` renders as an empty string.
pub fn render_in_process(
    source: &Source,
    variables: &Map<String, Json>,
    limits: &Limits,
) -> Result<Rendered, TemplateError> {
    check_sizes(source, limits)?;
    let env = environment(limits, source.escape);
    let [subject, content] = compile(&env, source)?;
    let context = Value::from_object(
        variables
            .iter()
            .map(|(name, value)| (name.clone(), to_value(value)))
            .collect::<BTreeMap<String, Value>>(),
    );
    let subject = match subject {
        Some(template) => {
            let text = render_field(
                &env,
                &template,
                context.clone(),
                variables,
                limits.max_subject_bytes,
            )?;
            Some(one_line(&text))
        }
        None => None,
    };
    let content = match content {
        Some(template) => {
            render_field(&env, &template, context, variables, limits.max_output_bytes)?
        }
        None => String::new(),
    };
    Ok(Rendered { subject, content })
}

fn check_sizes(source: &Source, limits: &Limits) -> Result<(), TemplateError> {
    if let Some(subject) = &source.subject
        && subject.len() > limits.max_subject_bytes
    {
        return Err(TemplateError::TooLarge {
            field: SUBJECT,
            limit: limits.max_subject_bytes,
        });
    }
    if source.content.len() > limits.max_template_bytes {
        return Err(TemplateError::TooLarge {
            field: CONTENT,
            limit: limits.max_template_bytes,
        });
    }
    Ok(())
}

fn environment(limits: &Limits, escape: Escape) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_auto_escape_callback(move |name| {
        if name == CONTENT && escape == Escape::Html {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    // `none` (JSON null) prints as nothing rather than "none".
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    filters::register(&mut env);
    env
}

/// Names the engine provides: not variables of the data.
fn globals(env: &Environment<'_>) -> HashSet<String> {
    env.globals()
        .map(|(name, _)| name.to_owned())
        .chain(["loop".to_owned()])
        .collect()
}

/// Compiles the subject and the content.
fn compile<'env, 'source>(
    env: &'env Environment<'static>,
    source: &'source Source,
) -> Result<[Option<Template<'env, 'source>>; 2], TemplateError> {
    let subject = match &source.subject {
        Some(subject) => Some(
            env.template_from_named_str(SUBJECT, subject)
                .map_err(|error| compile_error(SUBJECT, &error))?,
        ),
        None => None,
    };
    let content = env
        .template_from_named_str(CONTENT, &source.content)
        .map_err(|error| compile_error(CONTENT, &error))?;
    Ok([subject, Some(content)])
}

fn compile_error(field: &'static str, error: &Error) -> TemplateError {
    if error.kind() == ErrorKind::SyntaxError {
        TemplateError::Syntax {
            field,
            line: error.line().unwrap_or(1),
            message: error.detail().unwrap_or("syntax error").to_owned(),
        }
    } else {
        TemplateError::Render {
            field,
            line: error.line(),
            message: message(error),
        }
    }
}

fn message(error: &Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// A writer that refuses to grow past `limit` bytes.
struct CappedWriter {
    buffer: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buffer.len().saturating_add(data.len()) > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("output limit exceeded"));
        }
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn render_field(
    env: &Environment<'static>,
    template: &Template<'_, '_>,
    context: Value,
    variables: &Map<String, Json>,
    limit: usize,
) -> Result<String, TemplateError> {
    let field = if template.name() == SUBJECT {
        SUBJECT
    } else {
        CONTENT
    };
    let mut writer = CappedWriter {
        buffer: Vec::new(),
        limit,
        exceeded: false,
    };
    match template.render_captured_to(context, &mut writer) {
        Ok(_) => Ok(match String::from_utf8(writer.buffer) {
            Ok(text) => text,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        }),
        Err(error) => Err(match error.kind() {
            ErrorKind::OutOfFuel => TemplateError::OutOfFuel,
            _ if writer.exceeded => TemplateError::OutputTooLarge { field, limit },
            ErrorKind::UndefinedError => undefined(env, template, variables, field, &error),
            ErrorKind::UnknownMethod
                if error
                    .detail()
                    .is_some_and(|detail| detail.starts_with("undefined")) =>
            {
                undefined(env, template, variables, field, &error)
            }
            _ => compile_error(field, &error),
        }),
    }
}

/// Names the missing variable of a strict-undefined error: of the dotted
/// paths the template reads (static analysis) that the data lacks, the one on
/// the error's line if any, else the first in the source.
fn undefined(
    env: &Environment<'static>,
    template: &Template<'_, '_>,
    variables: &Map<String, Json>,
    field: &'static str,
    error: &Error,
) -> TemplateError {
    let globals = globals(env);
    let text = template.source();
    let mut candidates: Vec<(bool, usize, String)> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|path| !globals.contains(path.split('.').next().unwrap_or_default()))
        .filter_map(|path| {
            let missing = missing_prefix(&path, variables)?;
            let position = text
                .find(path.as_str())
                .or_else(|| text.find(missing.as_str()))
                .unwrap_or(usize::MAX);
            let line = text
                .get(..position)
                .map(|before| before.matches('\n').count() + 1);
            let off_line = error.line().is_none_or(|at| line != Some(at));
            Some((off_line, position, missing))
        })
        .collect();
    candidates.sort();
    let name = candidates
        .into_iter()
        .next()
        .map_or_else(|| "?".to_owned(), |(_, _, name)| name);
    TemplateError::Undefined {
        field,
        name,
        line: error.line(),
    }
}

/// The shortest prefix of `path` that `variables` lacks; `None` when the path
/// resolves, or reaches a value that is not an object (the rest is then a
/// method or an attribute the engine decides about).
pub(crate) fn missing_prefix(path: &str, variables: &Map<String, Json>) -> Option<String> {
    let mut segments = path.split('.');
    let root = segments.next()?;
    let mut current = match variables.get(root) {
        Some(value) => value,
        None => return Some(root.to_owned()),
    };
    let mut prefix = root.to_owned();
    for segment in segments {
        let Json::Object(object) = current else {
            return None;
        };
        prefix.push('.');
        prefix.push_str(segment);
        match object.get(segment) {
            Some(value) => current = value,
            None => return Some(prefix),
        }
    }
    None
}

/// The subject on one line: control characters (CR, LF, tab, NEL, …) and the
/// Unicode line and paragraph separators become spaces, runs of whitespace
/// collapse to one space, the ends are trimmed.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    let mut space = false;
    for character in text.chars() {
        if character.is_control() || character.is_whitespace() {
            space = true;
        } else {
            if space && !line.is_empty() {
                line.push(' ');
            }
            space = false;
            line.push(character);
        }
    }
    line
}

/// Converts JSON data to a template value.
fn to_value(value: &Json) -> Value {
    match value {
        Json::Null => Value::from(()),
        Json::Bool(value) => Value::from(*value),
        Json::Number(number) => {
            if let Some(value) = number.as_i64() {
                Value::from(value)
            } else if let Some(value) = number.as_u64() {
                Value::from(value)
            } else {
                Value::from(number.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(value) => Value::from(value.as_str()),
        Json::Array(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        Json::Object(object) => Value::from_object(
            object
                .iter()
                .map(|(name, value)| (name.clone(), to_value(value)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_removes_line_breaks() {
        assert_eq!(
            one_line(" Hi\r\nBcc: x@y\t z\u{2028}w\u{85} "),
            "Hi Bcc: x@y z w"
        );
        assert_eq!(one_line("\n\n"), "");
    }

    #[test]
    fn missing_prefix_stops_at_the_first_missing_segment() {
        let variables = serde_json::json!({"customer": {"name": "Ann", "address": {}}});
        let variables = variables.as_object().unwrap();
        assert_eq!(missing_prefix("customer.name", variables), None);
        assert_eq!(missing_prefix("customer.name.upper", variables), None);
        assert_eq!(
            missing_prefix("customer.address.city.x", variables).as_deref(),
            Some("customer.address.city")
        );
        assert_eq!(
            missing_prefix("quote.total", variables).as_deref(),
            Some("quote")
        );
    }
}
