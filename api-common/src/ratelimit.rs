//! Rate limiting per tenant and per user: token buckets (rate per second,
//! burst twice the rate), 429 with `Retry-After` when empty.
//!
//! Buckets live in the process: with N API processes behind a balancer a
//! client gets up to N times the rate. That bounds abuse of one process's
//! resources, which is what these limits are for; a shared limit would need
//! a round trip to a shared store on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{JwtKeys, principal_from_parts};
use crate::problem::ApiError;

/// Requests per second (0: unlimited).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub per_tenant: f64,
    pub per_user: f64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of one process.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from `key`'s bucket; `Err(wait)` when it is empty.
    fn take(&self, key: String, rate: f64, now: Instant) -> Result<(), Duration> {
        if rate <= 0.0 {
            return Ok(());
        }
        let burst = rate * 2.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > MAX_BUCKETS {
            // Idle buckets are full again anyway: forget them.
            buckets.retain(|_, b| now.duration_since(b.last) < Duration::from_secs(60));
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.last).as_secs_f64() * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Checks the user's bucket, then the tenant's.
    pub fn check(&self, tenant: &str, user: &str, now: Instant) -> Result<(), Duration> {
        self.take(format!("u:{tenant}:{user}"), self.limits.per_user, now)?;
        self.take(format!("t:{tenant}"), self.limits.per_tenant, now)
    }
}

#[derive(Clone, Debug)]
pub struct RateLimitState {
    pub limiter: Arc<RateLimiter>,
    pub keys: Arc<JwtKeys>,
}

/// The middleware: authenticated requests only (others get their 401 from
/// the handler).
pub async fn rate_limit(State(state): State<RateLimitState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if let Ok(principal) = principal_from_parts(&parts, &state.keys) {
        let user = principal.user_id.to_string();
        if let Err(wait) = state
            .limiter
            .check(principal.tenant.as_str(), &user, Instant::now())
        {
            metrics::counter!("http_rate_limited_total", "tenant" => principal.tenant.to_string())
                .increment(1);
            return ApiError::too_many_requests(wait.as_secs_f64().ceil().max(1.0) as u64)
                .into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_the_burst_then_the_rate() {
        let limiter = RateLimiter::new(Limits {
            per_tenant: 0.0,
            per_user: 5.0,
        });
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(
                limiter.check("acme", "u1", t0).is_ok(),
                "the burst is twice the rate"
            );
        }
        let wait = limiter.check("acme", "u1", t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(200) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(
            limiter.check("acme", "u2", t0).is_ok(),
            "other users have their own bucket"
        );
        assert!(
            limiter
                .check("acme", "u1", t0 + Duration::from_millis(200))
                .is_ok(),
            "refilled at the rate"
        );
    }

    #[test]
    fn a_tenant_shares_one_bucket_across_its_users() {
        let limiter = RateLimiter::new(Limits {
            per_tenant: 2.0,
            per_user: 0.0,
        });
        let t0 = Instant::now();
        for user in ["a", "b", "c", "d"] {
            assert!(limiter.check("acme", user, t0).is_ok());
        }
        assert!(limiter.check("acme", "e", t0).is_err());
        assert!(
            limiter.check("globex", "e", t0).is_ok(),
            "tenants are separate"
        );
    }
}
