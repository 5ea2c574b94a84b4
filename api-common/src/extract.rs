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
                let accepted = rest
                    .split_once("expected ")
                    .map(|(_, list)| format!("; the accepted fields are {}", names(list)))
                    .unwrap_or_default();
                return ApiError::bad_field(field, format!("unknown field `{name}`{accepted}"));
            }
            if message.starts_with("invalid length") && message.contains("expected struct") {
                return ApiError::bad_request("the body must be a JSON object");
            }
            if let Some(rest) = message.strip_prefix("missing field `") {
                let name = rest.split('`').next().unwrap_or_default();
                return ApiError::invalid_field(join_path(&path, name), "is required");
            }
            let field = if path == "." { "body".to_owned() } else { path };
            let message = humanize(&message);
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

/// serde's messages speak Rust ("expected u32", "expected a Decimal type
/// representing a fixed-point number", "UUID parsing failed"); say instead
/// what to send.
pub fn humanize(message: &str) -> String {
    let (got, expected) = match message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "))
    {
        Some((got, expected)) => (Some(got), Some(expected)),
        None => (None, None),
    };
    if expected.is_some_and(|e| e.starts_with("a Decimal")) {
        return match got.and_then(json_number) {
            Some(number) => format!(
                "must be a decimal string like \"12.50\", not the JSON number {number}: amounts and quantities are sent as strings"
            ),
            None => format!(
                "must be a decimal number written as a string, like \"12.50\"{}",
                got.map(|g| format!(" (got {})", sent(g)))
                    .unwrap_or_default()
            ),
        };
    }
    if message.starts_with("UUID parsing failed") || expected.is_some_and(|e| e.contains("UUID")) {
        return "must be a UUID like \"0191d4a2-8c3e-7a10-9c1b-5f0e2d7a4b21\"".to_owned();
    }
    const CHRONO: [&str; 7] = [
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is out of range",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
        "impossible",
    ];
    if CHRONO.contains(&message) || expected.is_some_and(|e| e.contains("date")) {
        return "must be a date like \"2026-05-01\" or a date-time in RFC 3339 form like \"2026-05-01T14:30:00Z\", as the field requires".to_owned();
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, list) = rest.split_once('`').unwrap_or((rest, ""));
        let list = list.trim_start_matches(", expected ");
        let list = list.strip_prefix("one of ").unwrap_or(list);
        return format!("must be one of {} (got `{value}`)", names(list));
    }
    let (Some(got), Some(expected)) = (got, expected) else {
        return message.to_owned();
    };
    let wanted = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => {
            let max = match expected {
                "u8" => u64::from(u8::MAX),
                "u16" => u64::from(u16::MAX),
                "u32" => u64::from(u32::MAX),
                _ => u64::MAX,
            };
            format!("must be a whole number from 0 to {max}")
        }
        "i8" | "i16" | "i32" | "i64" | "isize" => "must be a whole number".to_owned(),
        "f32" | "f64" => "must be a number".to_owned(),
        "a boolean" => "must be true or false".to_owned(),
        "a string" | "a borrowed string" => "must be a string".to_owned(),
        "a character" => "must be a single character".to_owned(),
        "a sequence" => "must be an array".to_owned(),
        e if e == "a map" || e.starts_with("struct ") || e.starts_with("a JSON object") => {
            "must be an object".to_owned()
        }
        other => format!("must be {other}"),
    };
    format!("{wanted} (got {})", sent(got))
}

/// The number in serde's "floating point `12.5`" / "integer `12`".
fn json_number(got: &str) -> Option<&str> {
    got.strip_prefix("floating point `")
        .or_else(|| got.strip_prefix("integer `"))
        .map(|n| n.trim_end_matches('`'))
}

/// What serde says was sent, in JSON words.
fn sent(got: &str) -> String {
    if let Some(number) = json_number(got) {
        return format!("the number {number}");
    }
    if let Some(text) = got.strip_prefix("string ") {
        return format!("the string {text}");
    }
    match got {
        "sequence" => "an array".to_owned(),
        "map" => "an object".to_owned(),
        "unit value" | "null" => "null".to_owned(),
        other => other.replace('`', ""),
    }
}

/// "`a`, `b` or `c`" / "one of `a`, `b`" → "a, b, c".
fn names(list: &str) -> String {
    list.trim_start_matches("one of ")
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, name)| name)
        .collect::<Vec<_>>()
        .join(", ")
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

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
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
        let bytes = read_body(req).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The whole body, as far as the body limit around the routes
/// (`http::BodyLimits`, configurable) lets it grow: axum's own 2 MB default
/// does not apply.
pub async fn read_body(req: axum::extract::Request) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .map_err(|e| read_error(&e))
}

/// A body that could not be read whole: over the body limit (413), or
/// broken off (400).
pub fn read_error(e: &axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return ApiError::payload_too_large();
        }
        source = error.source();
    }
    ApiError::bad_request(format!("could not read the body: {e}"))
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
                ApiError::invalid_field(field, humanize(&message))
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

/// One entity tag of an `If-Match` list (RFC 9110 §8.8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    pub weak: bool,
    /// Between the quotes.
    pub opaque: String,
}

impl EntityTag {
    /// Strong comparison (RFC 9110 §8.8.3.2), the one `If-Match` uses: both
    /// strong and the same characters. Our tags are `"<version>"`.
    pub fn matches_version(&self, version: u64) -> bool {
        !self.weak && self.opaque == version.to_string()
    }
}

/// `If-Match`, parsed strictly (RFC 9110 §13.1.1):
/// `If-Match = "*" / #entity-tag`, `entity-tag = [ W/ ] DQUOTE *etagc DQUOTE`.
///
/// * `"3"` matches version 3; a list (`"2", "3"`) matches any of them.
/// * `W/"3"` never matches: `If-Match` uses the strong comparison (412).
/// * `*` matches any existing entity (like no header: the command still
///   needs the entity to exist).
/// * Anything else (`3` without quotes, `"3` …) is malformed: 400 naming
///   `If-Match`.
///
/// `None`: no precondition (no header, or `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatch(pub Option<Vec<EntityTag>>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(IF_MATCH).iter().peekable();
        if values.peek().is_none() {
            return Ok(Self(None));
        }
        let mut text = String::new();
        for value in values {
            let value = value.to_str().map_err(|_| {
                ApiError::bad_field("If-Match", "must be visible ASCII, like \"3\"")
            })?;
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str(value);
        }
        parse_if_match(&text).map(Self)
    }
}

/// Parses an `If-Match` field value; `Ok(None)` for `*`.
pub fn parse_if_match(text: &str) -> Result<Option<Vec<EntityTag>>, ApiError> {
    let malformed = |why: &str| {
        ApiError::bad_field(
            "If-Match",
            format!(
                "{why}: send the ETag exactly as received, in double quotes, like \"3\" (or `*`)"
            ),
        )
    };
    let trimmed = text.trim_matches([' ', '\t']);
    if trimmed == "*" {
        return Ok(None);
    }
    let mut tags = Vec::new();
    let mut rest = trimmed;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        // Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
            continue;
        }
        if rest.is_empty() {
            break;
        }
        let (weak, tail) = match rest.strip_prefix("W/") {
            Some(tail) => (true, tail),
            None => (false, rest),
        };
        let Some(tail) = tail.strip_prefix('"') else {
            return Err(malformed("an entity tag must be in double quotes"));
        };
        let Some(end) = tail.find('"') else {
            return Err(malformed("an entity tag lacks its closing quote"));
        };
        let opaque = &tail[..end];
        // etagc = %x21 / %x23-7E / obs-text; no spaces, no quotes.
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return Err(malformed("an entity tag contains a character it may not"));
        }
        tags.push(EntityTag {
            weak,
            opaque: opaque.to_owned(),
        });
        rest = tail[end + 1..].trim_start_matches([' ', '\t']);
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None if rest.is_empty() => break,
            None => return Err(malformed("entity tags must be separated by commas")),
        }
    }
    if tags.is_empty() {
        return Err(malformed("the header is empty"));
    }
    Ok(Some(tags))
}

impl IfMatch {
    /// Fails with 412 when no tag the client sent matches `current` under
    /// the strong comparison.
    pub fn check(&self, current: u64) -> Result<(), ApiError> {
        match &self.0 {
            Some(tags) if !tags.iter().any(|t| t.matches_version(current)) => {
                let sent = tags
                    .iter()
                    .map(|t| format!("{}\"{}\"", if t.weak { "W/" } else { "" }, t.opaque))
                    .collect::<Vec<_>>()
                    .join(", ");
                Err(ApiError::precondition_failed(&sent, current))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(weak: bool, opaque: &str) -> EntityTag {
        EntityTag {
            weak,
            opaque: opaque.to_owned(),
        }
    }

    #[test]
    fn if_match_is_parsed_strictly() {
        assert_eq!(
            parse_if_match("\"3\"").unwrap(),
            Some(vec![tag(false, "3")])
        );
        assert_eq!(parse_if_match("*").unwrap(), None);
        assert_eq!(
            parse_if_match(" W/\"3\" , \"4\"").unwrap(),
            Some(vec![tag(true, "3"), tag(false, "4")])
        );
        for bad in ["3", "\"3", "W/3", "\"3\" \"4\"", "", "\"a b\"", "w/\"3\""] {
            let err = parse_if_match(bad).unwrap_err();
            assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
            assert!(err.detail().contains("If-Match"), "{err}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        #[serde(default)]
        unit_price: Option<rust_decimal::Decimal>,
        #[serde(default)]
        customer_id: Option<Uuid>,
        #[serde(default)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(default)]
        role: Option<event_schemas::Role>,
        #[serde(default)]
        score: Option<u32>,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        unit_price: rust_decimal::Decimal,
    }

    fn problem(body: &str) -> (Vec<String>, String) {
        let e = parse_json::<Body>(body.as_bytes()).unwrap_err();
        let p = e.to_problem();
        let fields = p.errors.iter().map(|f| f.field.clone()).collect();
        let messages = p.errors.iter().map(|f| f.message.clone()).collect();
        (fields, messages)
    }

    #[test]
    fn serde_messages_are_rewritten_for_people() {
        let (fields, message) = problem(r#"{"items": [{"unit_price": 12.5}]}"#);
        assert_eq!(fields, ["items[0].unit_price"]);
        assert!(
            message.contains("\"12.50\"") && message.contains("12.5"),
            "{message}"
        );
        assert!(!message.contains("fixed-point"), "{message}");
        let (fields, message) = problem(r#"{"customer_id": "nope"}"#);
        assert_eq!(fields, ["customer_id"]);
        assert!(message.starts_with("must be a UUID"), "{message}");
        let (_, message) = problem(r#"{"at": "tomorrow"}"#);
        assert!(message.contains("RFC 3339"), "{message}");
        let (_, message) = problem(r#"{"role": "boss"}"#);
        assert!(
            message.starts_with("must be one of admin, manager"),
            "{message}"
        );
        assert!(message.contains("(got `boss`)"), "{message}");
        let (_, message) = problem(r#"{"score": -1}"#);
        assert_eq!(
            message,
            "must be a whole number from 0 to 4294967295 (got the number -1)"
        );
        let (fields, message) = problem(r#"{"items": [{}]}"#);
        assert_eq!(fields, ["items[0].unit_price"]);
        assert_eq!(message, "is required");
        let (fields, message) = problem(r#"{"colour": 1}"#);
        assert_eq!(fields, ["colour"]);
        assert!(
            message.contains("accepted fields are unit_price, customer_id"),
            "{message}"
        );
    }

    #[test]
    fn if_match_uses_the_strong_comparison() {
        let weak = IfMatch(parse_if_match("W/\"3\"").unwrap());
        assert_eq!(
            weak.check(3).unwrap_err().status(),
            axum::http::StatusCode::PRECONDITION_FAILED
        );
        let strong = IfMatch(parse_if_match("\"2\", \"3\"").unwrap());
        assert!(strong.check(3).is_ok());
        assert!(strong.check(4).is_err());
        assert!(IfMatch(None).check(7).is_ok());
    }
}
