//! Domain errors and how they are sorted: invalid input, a broken business
//! rule, or a missing entity. Only the API crates turn these into HTTP.

use std::fmt;

/// One invalid field: its path in the request (`address.postal_code`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// All invalid fields of one command (never empty when returned as an error).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|e| e.field.as_str())
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// How an API should treat a domain error.
#[derive(Debug, PartialEq, Eq)]
pub enum ErrorKind<'a> {
    /// The input is malformed or out of range (HTTP 422).
    Invalid(&'a ValidationErrors),
    /// The input is well-formed but a business rule forbids it (HTTP 409).
    /// `rule` is a stable, dotted identifier, e.g. `lead.illegal-transition`.
    Conflict { rule: &'static str },
    /// The entity does not exist (HTTP 404).
    NotFound,
}

/// Implemented by every aggregate's error type.
pub trait DomainError: std::error::Error {
    fn kind(&self) -> ErrorKind<'_>;
}

/// Collects every field error of a command before deciding, so a client
/// learns about all its mistakes at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `result` under `field`, returning the value if valid.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(FieldError {
                    field: field.to_owned(),
                    message,
                });
                None
            }
        }
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}
