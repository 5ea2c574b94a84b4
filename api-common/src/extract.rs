//! Strict extractors whose failures are problem responses naming the field:
//! JSON bodies, query strings, path ids and `If-Match`.
//!
//! JSON: not JSON → 400; an unknown field → 400 naming it; a wrong type, an
//! unknown enum value or a missing field → 422 naming it.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::problem::{ApiError, ProblemField};

/// A JSON body, deserialized strictly.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// Turns a deserialization failure into a 400 or a 422 naming the field.
pub fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    use serde_json::error::Category;
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("the body is not valid JSON: {inner}"))
        }
        Category::Data => {
            let message = strip_position(&inner.to_string());
            if let Some(rest) = message.strip_prefix("unknown field `") {
                let name = rest.split('`').next().unwrap_or_default();
                let field = join_path(&path, name);
                return ApiError::bad_field(field, format!("unknown field `{name}`"));
            }
            if let Some(rest) = message.strip_prefix("missing field `") {
                let name = rest.split('`').next().unwrap_or_default();
                return ApiError::invalid_field(join_path(&path, name), "is required");
            }
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::validation(vec![ProblemField { field, message }])
        }
    }
}

/// serde_path_to_error's path already ends with an unknown field's name,
/// but not with a missing one's.
fn join_path(path: &str, name: &str) -> String {
    if path.is_empty() || path == "." {
        name.to_owned()
    } else if path == name || path.ends_with(&format!(".{name}")) {
        path.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// serde_json appends " at line 1 column 17"; the field name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(de).map_err(json_error)?;
    Ok(value)
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::unsupported_media_type(
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A body that could not be read: too large (413) or broken (400).
pub fn body_error(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large()
    } else {
        ApiError::bad_request(format!("could not read the body: {rejection}"))
    }
}

/// A query string, deserialized strictly (unknown parameters → 400).
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        // PostgreSQL text cannot hold NUL; refuse it here rather than fail later.
        if query.to_ascii_lowercase().contains("%00") {
            return Err(ApiError::bad_request(
                "query parameters must not contain NUL characters",
            ));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                if let Some(rest) = message.strip_prefix("unknown field `") {
                    let name = rest.split('`').next().unwrap_or_default();
                    return ApiError::bad_field(name, format!("unknown query parameter `{name}`"));
                }
                let field = if path == "." {
                    "query".to_owned()
                } else {
                    path
                };
                ApiError::invalid_field(field, message)
            })
    }
}

/// A UUID path segment; anything else is a 404 (no such entity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found("no entity with that id"))?;
        raw.parse()
            .map(PathId)
            .map_err(|_| ApiError::not_found(format!("no entity with id `{raw}` (ids are UUIDs)")))
    }
}

/// `If-Match: "<version>"` (quotes optional; `*` means any version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IF_MATCH) else {
            return Ok(Self(None));
        };
        let text = value
            .to_str()
            .map_err(|_| ApiError::bad_field("If-Match", "must be text"))?
            .trim();
        if text == "*" {
            return Ok(Self(None));
        }
        let unquoted = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
        unquoted
            .parse()
            .map(|v| Self(Some(v)))
            .map_err(|_| ApiError::bad_field("If-Match", "must be an entity version like \"3\""))
    }
}

impl IfMatch {
    /// Fails with 412 when the client expected another version.
    pub fn check(self, current: u64) -> Result<(), ApiError> {
        match self.0 {
            Some(expected) if expected != current => {
                Err(ApiError::precondition_failed(expected, current))
            }
            _ => Ok(()),
        }
    }
}
