//! `Idempotency-Key` on POST: a retry returns the first response instead of
//! acting twice.
//!
//! * Same key, same request (method, path, body): the stored first response
//!   (status, body, `Location`, `ETag`), with `Idempotent-Replayed: true`.
//! * Same key, different request (another body, path, or user): 422.
//! * Same key while the first request is still running: 409.
//!
//! Keys are per tenant and kept at least 24 hours. Only successful (2xx)
//! responses are kept: an error wrote nothing, so retrying it is safe and
//! gives the client a fresh answer.

use std::time::Duration;

use api_common::auth::principal_from_parts;
use api_common::{ApiError, JwtKeys};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a key is kept (the contract promises at least 24 h).
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How long an in-progress key blocks retries before it is presumed abandoned.
const LOCK: Duration = Duration::from_secs(60);
/// The body limit around the routes (`api_common::http::BodyLimits`) bounds
/// what is read here.
const MAX_BODY: usize = usize::MAX;
const REPLAYED_HEADERS: [HeaderName; 3] = [
    axum::http::header::CONTENT_TYPE,
    axum::http::header::LOCATION,
    axum::http::header::ETAG,
];

#[derive(Clone)]
pub struct IdempotencyState {
    pub pool: PgPool,
    pub keys: std::sync::Arc<JwtKeys>,
}

fn valid_key(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    (!text.is_empty() && text.len() <= 255 && text.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| text.to_owned())
}

/// The middleware.
pub async fn idempotency(
    State(state): State<IdempotencyState>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(&IDEMPOTENCY_KEY).cloned() else {
        return next.run(req).await;
    };
    let Some(key) = valid_key(&raw_key) else {
        return ApiError::bad_field(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters",
        )
        .into_response();
    };
    let (parts, body) = req.into_parts();
    // Behind `auth::authenticate` every request here carries a valid token;
    // without one, let the request through to be refused.
    let Ok(principal) = principal_from_parts(&parts, &state.keys) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        // Almost always the size limit; a broken stream has no one to answer.
        Err(_) => return ApiError::payload_too_large().into_response(),
    };
    let hash = request_hash(
        &principal.user_id,
        parts.method.as_str(),
        parts.uri.path(),
        &bytes,
    );
    let tenant = principal.tenant.to_string();

    match claim(&state.pool, &tenant, &key, &hash).await {
        Ok(Claim::Acquired) => {}
        Ok(Claim::Replay(response)) => return response,
        Ok(Claim::Refused(error)) => return error.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            release(&state.pool, &tenant, &key).await;
            return ApiError::internal(format!("response body failed: {e}")).into_response();
        }
    };
    if parts.status.is_success() {
        let headers = kept_headers(&parts.headers);
        if let Err(e) = sqlx::query(
            "UPDATE idempotency_keys
                SET state = 'completed', response_status = $3, response_headers = $4, response_body = $5
              WHERE tenant_id = $1 AND key = $2",
        )
        .bind(&tenant)
        .bind(&key)
        .bind(parts.status.as_u16() as i16)
        .bind(sqlx::types::Json(headers))
        .bind(body.as_ref())
        .execute(&state.pool)
        .await
        {
            // The command did commit; a retry would now act again. Say so loudly.
            tracing::error!(error = %e, key, "could not store the idempotent response");
        }
    } else {
        release(&state.pool, &tenant, &key).await;
    }
    Response::from_parts(parts, Body::from(body))
}

/// What makes two requests "the same": the user (a key replays only to the
/// user who used it first, so nobody receives a response their role could
/// not have produced), the method, the path and the JSON body.
fn request_hash(user: &uuid::Uuid, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(user.as_bytes());
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    // The same JSON with other whitespace or key order is the same request.
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => hasher.update(serde_json::to_vec(&value).unwrap_or_default()),
        Err(_) => hasher.update(body),
    }
    hasher.finalize().to_vec()
}

fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect()
}

/// (request hash, state, status, headers, body, lock expired)
type StoredKey = (
    Vec<u8>,
    String,
    Option<i16>,
    Option<sqlx::types::Json<Vec<(String, String)>>>,
    Option<Vec<u8>>,
    bool,
);

enum Claim {
    Acquired,
    Replay(Response),
    Refused(ApiError),
}

async fn claim(pool: &PgPool, tenant: &str, key: &str, hash: &[u8]) -> Result<Claim, sqlx::Error> {
    let lock_secs = LOCK.as_secs_f64();
    // Forget an expired key so it can be reused.
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND created_at < now() - make_interval(secs => $3)",
    )
    .bind(tenant)
    .bind(key)
    .bind(RETENTION.as_secs_f64())
    .execute(pool)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, locked_until)
         VALUES ($1, $2, $3, 'in_progress', now() + make_interval(secs => $4))
         ON CONFLICT (tenant_id, key) DO NOTHING",
    )
    .bind(tenant)
    .bind(key)
    .bind(hash)
    .bind(lock_secs)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Acquired);
    }
    let row: Option<StoredKey> = sqlx::query_as(
            "SELECT request_hash, state, response_status, response_headers, response_body, locked_until < now()
               FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant)
        .bind(key)
        .fetch_optional(pool)
        .await?;
    let Some((stored_hash, state, status, headers, body, lock_expired)) = row else {
        // Released between our insert and select: the first request failed.
        return Box::pin(claim(pool, tenant, key, hash)).await;
    };
    if stored_hash != hash {
        return Ok(Claim::Refused(ApiError::unprocessable(
            "idempotency-key-reused",
            "this Idempotency-Key was already used for a different request",
        )));
    }
    if state == "completed" {
        let status = status
            .and_then(|s| StatusCode::from_u16(s as u16).ok())
            .unwrap_or(StatusCode::OK);
        let mut response = (status, body.unwrap_or_default()).into_response();
        for (name, value) in headers.map(|h| h.0).unwrap_or_default() {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::try_from(value))
            {
                response.headers_mut().insert(name, value);
            }
        }
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
        return Ok(Claim::Replay(response));
    }
    if lock_expired {
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET locked_until = now() + make_interval(secs => $3)
              WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress' AND locked_until < now()",
        )
        .bind(tenant)
        .bind(key)
        .bind(lock_secs)
        .execute(pool)
        .await?
        .rows_affected();
        if taken == 1 {
            return Ok(Claim::Acquired);
        }
    }
    Ok(Claim::Refused(ApiError::conflict(
        "idempotency.in-progress",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )))
}

async fn release(pool: &PgPool, tenant: &str, key: &str) {
    if let Err(e) = sqlx::query(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND state = 'in_progress'",
    )
    .bind(tenant)
    .bind(key)
    .execute(pool)
    .await
    {
        tracing::warn!(error = %e, key, "could not release an idempotency key; it expires on its own");
    }
}

/// Deletes keys older than the retention period; run periodically.
pub async fn purge_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
    )
    .bind(RETENTION.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected())
}
