use serde::{Deserialize, Serialize};

/// Why a template could not be checked or rendered.
///
/// Every variant except [`TemplateError::Unavailable`] is the template's (or
/// its data's) fault: the user should fix the template (HTTP 422).
/// `Unavailable` is a server fault (HTTP 503/500). See
/// [`TemplateError::is_user_error`].
///
/// `field` is `"subject"` or `"content"`; lines are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum TemplateError {
    /// The template does not parse.
    #[error("syntax error in the {field} at line {line}: {message}")]
    Syntax {
        /// `"subject"` or `"content"`.
        field: &'static str,
        /// 1-based line of the error.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The template reads a variable the data does not have.
    #[error("the {field} uses `{name}`, which is not defined{}", at_line(*line))]
    Undefined {
        /// `"subject"` or `"content"`.
        field: &'static str,
        /// The missing variable as a dotted path (`customer.first_name`): the
        /// shortest prefix of the path the template reads that the data lacks.
        /// `?` when the engine could not tell which (e.g. an attribute of a
        /// loop variable).
        name: String,
        /// 1-based line, when known.
        line: Option<usize>,
    },
    /// The template source is larger than the limit.
    #[error("the {field} template is longer than {limit} bytes")]
    TooLarge {
        /// `"subject"` or `"content"`.
        field: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The rendered text would be larger than the limit.
    #[error("the rendered {field} is longer than {limit} bytes")]
    OutputTooLarge {
        /// `"subject"` or `"content"`.
        field: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The template does too much work (loops, growing strings): it ran out of fuel.
    #[error("the template does too much work")]
    OutOfFuel,
    /// The render took longer than the wall-time limit; the worker was killed.
    #[error("the template took too long to render")]
    Timeout,
    /// The worker died while rendering (out of memory, or killed by a signal).
    #[error("the template needs too much memory")]
    MemoryLimit,
    /// Any other error while rendering (wrong filter arguments, type errors,
    /// too deep recursion, include of another template).
    #[error("error in the {field}{}: {message}", at_line(*line))]
    Render {
        /// `"subject"` or `"content"`.
        field: &'static str,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The renderer is broken: a worker could not be started or the protocol
    /// broke. A server fault, not the user's.
    #[error("template rendering is unavailable: {0}")]
    Unavailable(String),
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(" at line {line}"))
        .unwrap_or_default()
}

impl TemplateError {
    /// Whether the error is the template's (or its data's) fault, to be shown
    /// to the user (HTTP 422). Only [`TemplateError::Unavailable`] is not.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, TemplateError::Unavailable(_))
    }
}

/// `field` names cross the process boundary as strings; map them back to the
/// two static names (anything else is `"content"`).
pub(crate) fn field_name(field: &str) -> &'static str {
    if field == "subject" {
        "subject"
    } else {
        "content"
    }
}

/// [`TemplateError`] as it is deserialized: `field` as an owned string
/// (serde cannot borrow a `&'static str` from the input).
#[derive(Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
enum WireError {
    Syntax {
        field: String,
        line: usize,
        message: String,
    },
    Undefined {
        field: String,
        name: String,
        line: Option<usize>,
    },
    TooLarge {
        field: String,
        limit: usize,
    },
    OutputTooLarge {
        field: String,
        limit: usize,
    },
    OutOfFuel,
    Timeout,
    MemoryLimit,
    Render {
        field: String,
        line: Option<usize>,
        message: String,
    },
    Unavailable(String),
}

impl<'de> Deserialize<'de> for TemplateError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WireError::deserialize(deserializer).map(Self::from)
    }
}

impl From<WireError> for TemplateError {
    fn from(wire: WireError) -> Self {
        match wire {
            WireError::Syntax {
                field,
                line,
                message,
            } => TemplateError::Syntax {
                field: field_name(&field),
                line,
                message,
            },
            WireError::Undefined { field, name, line } => TemplateError::Undefined {
                field: field_name(&field),
                name,
                line,
            },
            WireError::TooLarge { field, limit } => TemplateError::TooLarge {
                field: field_name(&field),
                limit,
            },
            WireError::OutputTooLarge { field, limit } => TemplateError::OutputTooLarge {
                field: field_name(&field),
                limit,
            },
            WireError::OutOfFuel => TemplateError::OutOfFuel,
            WireError::Timeout => TemplateError::Timeout,
            WireError::MemoryLimit => TemplateError::MemoryLimit,
            WireError::Render {
                field,
                line,
                message,
            } => TemplateError::Render {
                field: field_name(&field),
                line,
                message,
            },
            WireError::Unavailable(message) => TemplateError::Unavailable(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_json() {
        let errors = [
            TemplateError::Syntax {
                field: "subject",
                line: 2,
                message: "x".into(),
            },
            TemplateError::Undefined {
                field: "content",
                name: "customer.first_name".into(),
                line: Some(3),
            },
            TemplateError::TooLarge {
                field: "content",
                limit: 10,
            },
            TemplateError::OutputTooLarge {
                field: "subject",
                limit: 998,
            },
            TemplateError::OutOfFuel,
            TemplateError::Timeout,
            TemplateError::MemoryLimit,
            TemplateError::Render {
                field: "content",
                line: None,
                message: "bad".into(),
            },
            TemplateError::Unavailable("down".into()),
        ];
        for error in errors {
            let json = serde_json::to_string(&error).unwrap();
            let back: TemplateError = serde_json::from_str(&String::from(json.as_str())).unwrap();
            assert_eq!(back, error, "{json}");
            assert_eq!(
                error.is_user_error(),
                !matches!(error, TemplateError::Unavailable(_))
            );
        }
    }
}
