//! The middleware stack every router gets: request ids (accepted from
//! `X-Request-Id` or generated, and echoed), a tracing span per request that
//! carries the id, Prometheus request metrics labelled by route template,
//! panics turned into problem 500s, limits on header fields (431) and on the
//! body (413), problem responses for unknown routes and wrong methods, and a
//! newline at the end of every JSON body.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::problem::ApiError;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The strong entity tag of an entity version: `"3"` (RFC 9110 §8.8.3).
/// `If-Match` compares against it (see [`crate::extract::IfMatch`]).
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// A JSON answer about one versioned entity: the body, with
/// `ETag: "<version>"`, so a client can send the version back in `If-Match`.
#[derive(Debug, Clone)]
pub struct WithETag<T> {
    pub version: u64,
    pub body: T,
}

impl<T> WithETag<T> {
    /// `version` as the read model stores it (a non-negative bigint).
    pub fn new(version: i64, body: T) -> Self {
        Self {
            version: u64::try_from(version).unwrap_or(0),
            body,
        }
    }
}

impl<T: serde::Serialize> IntoResponse for WithETag<T> {
    fn into_response(self) -> Response {
        let mut response = axum::Json(self.body).into_response();
        response.headers_mut().insert(ETAG, etag(self.version));
        response
    }
}

/// The request id of the current request (also the correlation id of the
/// events it causes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::now_v7().to_string())))
    }
}

/// Filled by the route layer with the matched route template, read by the
/// outer layer for metrics and logs.
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<String>>);

/// A client-sent request id is kept if it is short, printable ASCII.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    (!text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| text.to_owned())
}

async fn request_context(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let slot = RouteSlot::default();
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(slot.clone());
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = %req.uri().path(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let route = slot
        .0
        .get()
        .cloned()
        .unwrap_or_else(|| "unmatched".to_owned());
    span.record("route", route.as_str());
    span.record("status", status.as_u16());
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!("request failed");
        } else {
            tracing::info!("request handled");
        }
    });
    let status_label = status.as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status_label)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

async fn record_route(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (
        req.extensions().get::<RouteSlot>(),
        req.extensions().get::<MatchedPath>(),
    ) {
        let _ = slot.0.set(path.as_str().to_owned());
    }
    next.run(req).await
}

async fn not_found(req: Request) -> Response {
    ApiError::route_not_found(req.uri().path()).into_response()
}

/// axum answers a wrong method, and the body limit an oversized body, with
/// bare responses; make them problems.
async fn method_problem(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let is_problem = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_problem {
        return ApiError::payload_too_large().into_response();
    }
    if response.status() == StatusCode::METHOD_NOT_ALLOWED && !is_problem {
        let allow = response.headers().get(ALLOW).cloned();
        let mut problem = ApiError::method_not_allowed().into_response();
        if let Some(allow) = allow {
            problem.headers_mut().insert(ALLOW, allow);
        }
        return problem;
    }
    response
}

fn panic_to_problem(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("a handler panicked").into_response()
}

/// At most this many header fields in a request (431 beyond).
pub const MAX_HEADER_FIELDS: usize = 100;
/// At most this many bytes of header fields in a request, counted as sent
/// (`name: value` and the line end of each; 431 beyond).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// What the HTTP server itself lets through, well above our limits so that
/// [`header_limits`] answers with a problem rather than hyper with a bare
/// 431. Requests beyond even these still get hyper's empty 431.
pub const SERVER_MAX_HEADER_FIELDS: usize = 1000;
pub const SERVER_MAX_BUFFER_BYTES: usize = 1024 * 1024;

/// 431 as a problem naming the limit, before anything else reads the
/// request (authentication included).
async fn header_limits(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let count = headers.len();
    if count > MAX_HEADER_FIELDS {
        return ApiError::header_fields_too_large(format!(
            "the request has {count} header fields; at most {MAX_HEADER_FIELDS} are accepted"
        ))
        .into_response();
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return ApiError::header_fields_too_large(format!(
            "the request's header fields take {bytes} bytes; at most {MAX_HEADER_BYTES} are accepted"
        ))
        .into_response();
    }
    next.run(req).await
}

/// JSON answers (commands, reads, problems) end with a newline, as text
/// tools expect; `Content-Length` follows the body. Streams of other types
/// (NDJSON exports, CSV) are left alone.
async fn trailing_newline(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime == "application/json" || mime == crate::problem::PROBLEM_JSON
        });
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::internal(format!("reading a response body: {e}")).into_response();
        }
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut with_newline = Vec::with_capacity(bytes.len() + 1);
    with_newline.extend_from_slice(&bytes);
    with_newline.push(b'\n');
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(with_newline.len()));
    Response::from_parts(parts, Body::from(with_newline))
}

/// How large a request body may be, in bytes: `default` for every route
/// but the paths of `uploads` (e.g. a file upload), which have their own.
#[derive(Clone, Debug)]
pub struct BodyLimits {
    pub default: usize,
    pub uploads: Arc<[(&'static str, usize)]>,
}

impl BodyLimits {
    /// The same limit everywhere.
    pub fn uniform(limit: usize) -> Self {
        Self {
            default: limit,
            uploads: Arc::new([]),
        }
    }

    /// Path `path` (`*` matching one segment) takes bodies up to `limit`
    /// bytes.
    pub fn with_upload(mut self, path: &'static str, limit: usize) -> Self {
        let mut uploads = self.uploads.to_vec();
        uploads.push((path, limit));
        self.uploads = uploads.into();
        self
    }

    /// The limit of `path`: an upload pattern's when one matches (`*`
    /// matches one path segment), else the default.
    fn for_path(&self, path: &str) -> usize {
        self.uploads
            .iter()
            .find(|(pattern, _)| matches_pattern(pattern, path))
            .map_or(self.default, |(_, limit)| *limit)
    }
}

fn matches_pattern(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some("*"), Some(seg)) if !seg.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The body limit of the request's path: a declared length beyond it is a
/// 413 at once; a body that grows beyond it fails when read (413).
async fn body_limit(limits: Arc<BodyLimits>, req: Request, next: Next) -> Response {
    let limit = limits.for_path(req.uri().path());
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return ApiError::payload_too_large().into_response();
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// Wraps `router` (with all its routes already added) in the common stack.
/// `limits` bound request bodies in bytes.
///
/// Order, outside in: request id and span, trailing newline, header limits
/// (431), wrong-method and body-limit problems, body limit (413), panics,
/// then the routes (where `/v1` authenticates first: 401).
pub fn with_common_layers(router: Router, limits: BodyLimits) -> Router {
    let limits = Arc::new(limits);
    router
        .route_layer(middleware::from_fn(record_route))
        .fallback(not_found)
        .layer(CatchPanicLayer::custom(panic_to_problem))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            body_limit(limits.clone(), req, next)
        }))
        .layer(middleware::from_fn(method_problem))
        .layer(middleware::from_fn(header_limits))
        .layer(middleware::from_fn(trailing_newline))
        .layer(middleware::from_fn(request_context))
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn upload_patterns_match_one_segment_per_star() {
        let limits = BodyLimits::uniform(10)
            .with_upload("/v1/attachments", 20)
            .with_upload("/v1/integrations/*/imports", 30);
        assert_eq!(limits.for_path("/v1/attachments"), 20);
        assert_eq!(limits.for_path("/v1/integrations/abc/imports"), 30);
        assert_eq!(limits.for_path("/v1/integrations//imports"), 10);
        assert_eq!(limits.for_path("/v1/integrations/a/b/imports"), 10);
        assert_eq!(limits.for_path("/v1/integrations/abc/imports/x"), 10);
        assert_eq!(limits.for_path("/v1/customers"), 10);
    }
}
