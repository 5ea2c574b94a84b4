//! Every error answer is `application/problem+json` (RFC 9457).
//!
//! ```json
//! {"type": "urn:crm:problem:validation", "title": "Invalid request", "status": 422,
//!  "detail": "2 fields are invalid", "errors": [{"field": "email", "message": "..."}]}
//! ```
//!
//! A 500 says nothing of its cause to the client; the cause is logged inside
//! the request's span (which carries the request id).

use aggregates::{DomainError, ErrorKind, FieldError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The rule of [`ApiError::permissions_changed`].
pub const PERMISSIONS_CHANGED_RULE: &str = "permissions.changed";

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:crm:problem:<kind>`; the kinds are listed in docs/api.md.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: every invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// For business-rule conflicts: the rule, e.g. `lead.illegal-transition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For stale `If-Match`: the entity's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

impl From<FieldError> for ProblemField {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            message: e.message,
        }
    }
}

/// An error on its way to becoming a problem response (boxed: it travels in
/// every `Result` of every handler).
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<ProblemField>,
    rule: Option<String>,
    current_version: Option<u64>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self(Box::new(Inner {
            status,
            kind,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            rule: None,
            current_version: None,
            retry_after: None,
        }))
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The business rule a 409 names (`booking.overlap`, …).
    pub fn rule(&self) -> Option<&str> {
        self.0.rule.as_deref()
    }

    /// Whether this is a 409 naming `rule`.
    pub fn is_conflict_rule(&self, rule: &str) -> bool {
        self.0.status == StatusCode::CONFLICT && self.rule() == Some(rule)
    }

    pub fn kind(&self) -> &'static str {
        self.0.kind
    }

    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// 400: the body is not JSON, has an unknown field, or a header is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 400 naming the offending field (e.g. an unknown field).
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let mut e = Self::bad_request(format!("{field}: {message}"));
        e.0.errors.push(ProblemField { field, message });
        e
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            "the request body is larger than this server accepts",
        )
    }

    /// 431: too many header fields, or too many bytes of them.
    pub fn header_fields_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request-header-fields-too-large",
            "Request header fields too large",
            detail,
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", what)
    }

    /// 410: the thing existed and was erased (crypto-shredded).
    pub fn gone(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "gone", "Gone", detail)
    }

    pub fn route_not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "route-not-found",
            "No such route",
            format!("no route for {path}"),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this route does not accept that method",
        )
    }

    /// 409: a business rule forbids the command; `rule` names it.
    pub fn conflict(rule: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail);
        e.0.rule = Some(rule.into());
        e
    }

    /// 409: the caller's permissions changed (or a grant expired) while the
    /// command was decided; nothing was written. The auth middleware decides
    /// the command again under the current permissions before this reaches
    /// a client.
    pub fn permissions_changed() -> Self {
        Self::conflict(
            PERMISSIONS_CHANGED_RULE,
            "your permissions changed while the command was decided; nothing was written, send it again",
        )
    }

    /// 409 naming a field whose value must be unique (e.g. email).
    pub fn duplicate(field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut e = Self::conflict(format!("{field}.unique"), detail.clone());
        e.0.errors.push(ProblemField {
            field: field.to_owned(),
            message: detail,
        });
        e
    }

    /// 409: another write to the same entity won the race.
    pub fn concurrent_write() -> Self {
        Self::conflict(
            "concurrency.version-conflict",
            "the entity was changed by another request at the same time; reload it and retry",
        )
    }

    /// 412: `If-Match` named no tag that matches the current version
    /// (`expected` is the header as sent, e.g. `"2"` or `W/"3"`).
    pub fn precondition_failed(expected: &str, current: u64) -> Self {
        let mut e = Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            format!(
                "If-Match: {expected} does not match the entity's current version {current} (ETag \"{current}\"; weak tags never match)"
            ),
        );
        e.0.current_version = Some(current);
        e
    }

    /// 422 with every invalid field.
    pub fn validation(errors: Vec<ProblemField>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            detail,
        );
        e.0.errors = errors;
        e
    }

    /// Names the entity's current version in the problem.
    pub fn with_current_version(mut self, current: u64) -> Self {
        self.0.current_version = Some(current);
        self
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![ProblemField {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 422 without a field (e.g. an idempotency key reused for another body).
    pub fn unprocessable(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            kind,
            "Unprocessable request",
            detail,
        )
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("retry after {retry_after_secs} s"),
        );
        e.0.retry_after = Some(retry_after_secs);
        e
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        );
        e.0.retry_after = Some(retry_after_secs);
        e
    }

    /// 500. The cause is logged here, in the request's span, and never sent.
    pub fn internal(cause: impl std::fmt::Display + std::fmt::Debug) -> Self {
        tracing::error!(error = %cause, debug = ?cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the server failed to handle the request; it has been logged with the request id",
        )
    }

    /// Sorts a domain error: invalid input 422, broken rule 409, missing 404.
    pub fn from_domain<E: DomainError>(error: &E) -> Self {
        match error.kind() {
            ErrorKind::Invalid(errors) => {
                Self::validation(errors.0.iter().cloned().map(ProblemField::from).collect())
            }
            ErrorKind::Conflict { rule } => Self::conflict(rule, error.to_string()),
            ErrorKind::NotFound => Self::not_found(error.to_string()),
        }
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            problem_type: format!("urn:crm:problem:{}", self.0.kind),
            title: self.0.title.to_owned(),
            status: self.0.status.as_u16(),
            detail: self.0.detail.clone(),
            errors: self.0.errors.clone(),
            rule: self.0.rule.clone(),
            current_version: self.0.current_version,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.status.as_u16(),
            self.0.kind,
            self.0.detail
        )
    }
}

impl std::error::Error for ApiError {}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut => {
                Self::unavailable("the database is busy; retry shortly", 1)
            }
            _ => Self::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut response = (self.0.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.0.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.0.rule.as_deref() == Some(PERMISSIONS_CHANGED_RULE) {
            response
                .extensions_mut()
                .insert(crate::auth::PermissionsChanged);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl<E: DomainError> From<event_store::CommandError<E>> for ApiError {
    fn from(e: event_store::CommandError<E>) -> Self {
        use event_store::CommandError;
        match e {
            CommandError::Domain(err) => ApiError::from_domain(&err),
            CommandError::NotFound { .. } => ApiError::not_found(e.to_string()),
            CommandError::Conflict => ApiError::concurrent_write(),
            CommandError::Refused(detail) => ApiError::conflict("rule.refused", detail),
            CommandError::Taken { field, holder } => ApiError::duplicate(
                &field,
                format!("another customer ({holder}) already has this {field}"),
            ),
            CommandError::Excluded(constraint) => ApiError::conflict(
                "booking.overlap",
                format!("the change overlaps an existing booking ({constraint})"),
            ),
            CommandError::TooLarge { .. } => {
                ApiError::unprocessable("event-too-large", e.to_string())
            }
            CommandError::PermissionsChanged => ApiError::permissions_changed(),
            CommandError::Unavailable(detail) => {
                tracing::warn!(%detail, "event store unavailable");
                ApiError::unavailable("the event store is unavailable; retry shortly", 2)
            }
            CommandError::Internal(detail) => ApiError::internal(detail),
        }
    }
}
