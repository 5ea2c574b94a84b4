//! Bearer JWT authentication (HS256): who is calling, for which tenant, in
//! which role.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{Duration, Utc};
use event_schemas::{Role, TenantId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::authz::Policy;
use crate::policies::{PolicyStore, Purpose};
use crate::problem::ApiError;

/// How far apart our clock and the token issuer's may be, in seconds: `exp`
/// is honoured this long after it passes, and `nbf` / `iat` may lie this far
/// in the future. Beyond it a token is refused (401).
pub const CLOCK_LEEWAY_SECS: u64 = 30;

/// The claims of our tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id (a UUID).
    pub sub: String,
    pub tenant: String,
    pub role: String,
    /// Location ids the user works at (used by LOCATION-scoped permissions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    /// Not before (optional): a token is refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The authenticated caller, with what the tenant's permission matrix
/// allows them (cached; a command decided under an outdated policy is
/// refused at commit and decided again, see [`crate::policies`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    pub user_id: Uuid,
    pub role: Role,
    pub locations: Vec<String>,
    pub policy: Arc<Policy>,
}

impl Principal {
    /// A caller with the tenant's defaults only (tokens, tools, tests).
    pub fn new(tenant: TenantId, user_id: Uuid, role: Role, locations: Vec<String>) -> Self {
        Self {
            tenant,
            user_id,
            role,
            locations,
            policy: Arc::default(),
        }
    }
}

/// Signs and verifies tokens with one shared secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    pub fn hs256(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = CLOCK_LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    /// Issues a token for `principal`, valid for `ttl`.
    pub fn issue(
        &self,
        principal: &Principal,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let claims = Claims {
            sub: principal.user_id.to_string(),
            tenant: principal.tenant.to_string(),
            role: principal.role.to_string(),
            locations: principal.locations.clone(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            nbf: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Signs arbitrary claims (tools and tests that need odd tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Verifies a token and turns its claims into a principal.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                ApiError::unauthorized(match e.kind() {
                    K::ExpiredSignature => "the token has expired",
                    K::ImmatureSignature => "the token is not valid yet (`nbf` is in the future)",
                    K::InvalidSignature => "the token's signature is invalid",
                    K::InvalidAlgorithm => "the token must be signed with HS256",
                    K::MissingRequiredClaim(_) => "the token lacks a required claim (sub, exp)",
                    _ => "the token is malformed",
                })
            })?;
        let claims = data.claims;
        // jsonwebtoken does not look at `iat`; a token issued in the future
        // comes from a clock we do not trust.
        let leeway = i64::try_from(CLOCK_LEEWAY_SECS).unwrap_or(i64::MAX);
        if claims.iat > Utc::now().timestamp().saturating_add(leeway) {
            return Err(ApiError::unauthorized(
                "the token was issued in the future (`iat`); check the issuer's clock",
            ));
        }
        let user_id = claims
            .sub
            .parse()
            .map_err(|_| ApiError::unauthorized("the token's `sub` must be a UUID"))?;
        let tenant = TenantId::parse(&claims.tenant)
            .map_err(|e| ApiError::unauthorized(format!("the token's `tenant` is invalid: {e}")))?;
        let role = claims
            .role
            .parse()
            .map_err(|e| ApiError::unauthorized(format!("the token's `role` is invalid: {e}")))?;
        if !Role::is_person(role) {
            return Err(ApiError::unauthorized(
                "the token's `role` is reserved for the backend's own processes",
            ));
        }
        Ok(Principal {
            tenant,
            user_id,
            role,
            locations: claims.locations,
            policy: Arc::default(),
        })
    }
}

impl<S> FromRequestParts<S> for Principal
where
    Arc<JwtKeys>: FromRef<S>,
    PolicyStore: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let keys = Arc::<JwtKeys>::from_ref(state);
        let mut principal = principal_from_parts(parts, &keys)?;
        let purpose = Purpose::of(&parts.method);
        principal.policy = PolicyStore::from_ref(state)
            .load(
                &principal.tenant,
                principal.role,
                principal.user_id,
                purpose,
            )
            .await?
            .policy;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

/// What [`authenticate`] needs: the keys and where policies come from.
#[derive(Clone, Debug)]
pub struct AuthState {
    pub keys: Arc<JwtKeys>,
    pub policies: PolicyStore,
}

/// How many times a command is decided again when the permissions changed
/// under it (each time under the policy as it is now).
const POLICY_ATTEMPTS: usize = 3;

/// The middleware layered over the whole `/v1` API: it verifies the bearer
/// token and loads the caller's policy before anything else looks at the
/// request, so an unauthenticated request is 401 whatever else is wrong with
/// it (a malformed `Idempotency-Key`, body, `If-Match`, query…). The
/// [`Principal`] travels in the request's extensions to the extractors.
///
/// Policies come from a cache ([`PolicyStore`]). A command whose commit was
/// refused because the permissions changed under it (the answer carries
/// [`PermissionsChanged`]), or that was forbidden under a cached policy, is
/// run again under a freshly loaded policy; its body is kept for that.
pub async fn authenticate(
    axum::extract::State(state): axum::extract::State<AuthState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let principal = match principal_from_parts(&parts, &state.keys) {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    let purpose = Purpose::of(&parts.method);
    let load = |fresh: bool| {
        let (state, principal) = (&state, &principal);
        async move {
            if fresh {
                state.policies.invalidate(&principal.tenant);
            }
            state
                .policies
                .load(
                    &principal.tenant,
                    principal.role,
                    principal.user_id,
                    purpose,
                )
                .await
        }
    };
    let loaded = match load(false).await {
        Ok(loaded) => loaded,
        Err(e) => return e.into_response(),
    };
    if purpose == Purpose::Read {
        let mut parts = parts;
        parts.extensions.insert(Principal {
            policy: loaded.policy,
            ..principal
        });
        return next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
    }
    // An upload (a file, a CSV: not JSON) streams through once, under a
    // freshly loaded policy: it is never held in memory to be run again.
    let is_json = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.contains("json"));
    if !is_json {
        let loaded = if loaded.cached {
            match load(true).await {
                Ok(loaded) => loaded,
                Err(e) => return e.into_response(),
            }
        } else {
            loaded
        };
        let mut parts = parts;
        parts.extensions.insert(Principal {
            policy: loaded.policy,
            ..principal
        });
        return next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
    }
    // The body limit around the routes (`http::BodyLimits`) bounds it.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return crate::extract::read_error(&e).into_response(),
    };
    let mut loaded = loaded;
    let mut attempt = 1;
    loop {
        let mut request =
            axum::extract::Request::from_parts(parts.clone(), axum::body::Body::from(body.clone()));
        request.extensions_mut().insert(Principal {
            policy: loaded.policy.clone(),
            ..principal.clone()
        });
        let response = next.clone().run(request).await;
        let stale = response.extensions().get::<PermissionsChanged>().is_some()
            || (loaded.cached && response.status() == axum::http::StatusCode::FORBIDDEN);
        if !stale || attempt >= POLICY_ATTEMPTS {
            return response;
        }
        attempt += 1;
        tracing::debug!(
            attempt,
            "deciding the command again under the current permissions"
        );
        loaded = match load(true).await {
            Ok(loaded) => loaded,
            Err(e) => return e.into_response(),
        };
    }
}

/// Marks an answer to a command whose commit the event store refused because
/// the caller's permissions changed (or a grant expired) while it was decided.
#[derive(Clone, Copy, Debug)]
pub struct PermissionsChanged;

/// Reads and verifies the bearer token of a request.
pub fn principal_from_parts(parts: &Parts, keys: &JwtKeys) -> Result<Principal, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
    keys.verify(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::hs256(&SecretString::from(secret.to_owned()))
    }

    fn principal() -> Principal {
        Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user_id: Uuid::new_v4(),
            role: Role::Sales,
            locations: vec!["loc-1".into()],
            policy: Arc::default(),
        }
    }

    #[test]
    fn an_issued_token_verifies_to_the_same_principal() {
        let k = keys("s3cret-s3cret-s3cret-s3cret-s3cret");
        let p = principal();
        let token = k.issue(&p, Duration::hours(1)).unwrap();
        assert_eq!(k.verify(&token).unwrap(), p);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let token = keys("one-secret-one-secret-one-secret")
            .issue(&principal(), Duration::hours(1))
            .unwrap();
        let err = keys("another-secret-another-secret-xx")
            .verify(&token)
            .unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::UNAUTHORIZED);
        assert!(err.detail().contains("signature"), "{err}");
    }

    fn claims_at(iat: i64, nbf: Option<i64>) -> Claims {
        let p = principal();
        Claims {
            sub: p.user_id.to_string(),
            tenant: p.tenant.to_string(),
            role: p.role.to_string(),
            locations: vec![],
            exp: Utc::now().timestamp() + 3600,
            iat,
            nbf,
        }
    }

    #[test]
    fn a_token_not_valid_yet_is_rejected() {
        let k = keys("s3cret-s3cret-s3cret-s3cret-s3cret");
        let now = Utc::now().timestamp();
        let token = k.sign(&claims_at(now, Some(now + 120))).unwrap();
        let err = k.verify(&token).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::UNAUTHORIZED);
        assert!(err.detail().contains("nbf"), "{err}");
        let token = k.sign(&claims_at(now, Some(now + 10))).unwrap();
        assert!(k.verify(&token).is_ok(), "within the leeway");
    }

    #[test]
    fn a_token_issued_in_the_future_is_rejected_beyond_the_leeway() {
        let k = keys("s3cret-s3cret-s3cret-s3cret-s3cret");
        let now = Utc::now().timestamp();
        let token = k.sign(&claims_at(now + 120, None)).unwrap();
        let err = k.verify(&token).unwrap_err();
        assert!(err.detail().contains("iat"), "{err}");
        let token = k.sign(&claims_at(now + 10, None)).unwrap();
        assert!(k.verify(&token).is_ok(), "within the leeway");
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let k = keys("s3cret-s3cret-s3cret-s3cret-s3cret");
        let token = k.issue(&principal(), Duration::minutes(-5)).unwrap();
        let err = k.verify(&token).unwrap_err();
        assert!(err.detail().contains("expired"), "{err}");
    }
}
