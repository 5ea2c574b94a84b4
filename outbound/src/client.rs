//! One delivery attempt: a signed POST to an endpoint, and what came of it.
//!
//! The worker decides what to do next from [`Attempt::outcome`]; this
//! module only makes sure that the one request is safe and bounded:
//!
//! - the destination passes the [`guard`] at this very
//!   moment: an IP-literal host before anything is sent, a name through
//!   the client's own resolver, which resolves it again for each new
//!   connection and hands the connector only the addresses it checked;
//! - no redirects are followed (a redirect could point anywhere, and the
//!   receiver must fix its URL instead), no proxy is used, and the whole
//!   exchange has a timeout;
//! - at most [`EXCERPT_LIMIT`] bytes of the response are read, however much
//!   the receiver sends.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::guard::{self, GuardError, Policy, Resolver};
use crate::{headers, signing};

/// The `User-Agent` of our requests, so receivers can recognise (and
/// allow) them.
pub const USER_AGENT: &str = "MoversCRM-Webhooks/1";

/// How long one attempt may take, from resolving the name to the end of the
/// response excerpt, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// How many bytes of a response body are kept (and read): enough to show
/// a receiver's error message, bounded against receivers that stream
/// forever.
pub const EXCERPT_LIMIT: usize = 4096;

/// Idle connections kept per receiver by default: a few, so that a busy
/// endpoint is not paying a TLS handshake per message, while thousands of
/// endpoints do not pile up open sockets.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 2;

/// How long an idle connection is kept before it is closed.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One message to send to one endpoint. Its `Debug` output leaves out the
/// secrets and the custom headers' values (API keys), so it can be logged.
#[derive(Clone)]
pub struct Request {
    /// The endpoint's URL (checked again here, whatever was checked before).
    pub url: String,
    /// The message id (`webhook-id`): the same at every attempt, so
    /// receivers can drop duplicates.
    pub msg_id: String,
    /// Unix seconds of this attempt (`webhook-timestamp`): take it just
    /// before sending, receivers refuse stale ones.
    pub timestamp: i64,
    /// The JSON body.
    pub body: Bytes,
    /// The signing secrets, current first (see [`signing`]).
    pub secrets: Vec<String>,
    /// The endpoint's custom headers (see [`headers`]).
    pub custom_headers: Vec<(String, String)>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self
            .custom_headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        f.debug_struct("Request")
            .field("url", &self.url)
            .field("msg_id", &self.msg_id)
            .field("timestamp", &self.timestamp)
            .field("body_len", &self.body.len())
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("custom_headers", &header_names)
            .finish()
    }
}

/// What an attempt came to, for the worker's next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A 2xx answer: done.
    Delivered,
    /// 410 Gone: the receiver says the endpoint no longer exists, so it
    /// should be disabled rather than retried.
    Gone,
    /// Anything else (3xx, since redirects are not followed, other 4xx,
    /// 5xx, timeouts, connection errors, a name that does not resolve): try
    /// again later per the schedule.
    Retry,
    /// The guard refused the destination (its URL, or an address its name
    /// resolves to); no connection was made. Retrying helps only if the
    /// endpoint's DNS changes.
    Refused,
    /// The request could not be built (an invalid secret, message id,
    /// custom header or a non-UTF-8 body): nothing was sent, and retrying
    /// the same request cannot help.
    Invalid,
}

/// The record of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// What came of it.
    pub outcome: Outcome,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The first [`EXCERPT_LIMIT`] bytes of the response body, as lossy
    /// UTF-8 (empty without a response).
    pub response_excerpt: String,
    /// How long the attempt took.
    pub duration: Duration,
    /// What a 429 or 503 response asked for in `Retry-After`.
    pub retry_after: Option<Duration>,
    /// What went wrong, for people (None when delivered).
    pub error: Option<String>,
}

impl Attempt {
    fn without_response(outcome: Outcome, error: String, started: Instant) -> Self {
        Self {
            outcome,
            status: None,
            response_excerpt: String::new(),
            duration: started.elapsed(),
            retry_after: None,
            error: Some(error),
        }
    }
}

/// The HTTP client could not be built (its TLS setup failed).
#[derive(Debug, thiserror::Error)]
#[error("the webhook HTTP client could not be built: {0}")]
pub struct BuildError(#[from] reqwest::Error);

/// Settings of a [`Deliverer`]; see [`Deliverer::builder`].
pub struct DelivererBuilder {
    policy: Policy,
    resolver: Arc<dyn Resolver>,
    timeout: Duration,
    pool_max_idle_per_host: usize,
}

impl DelivererBuilder {
    /// Time allowed for one attempt, everything included (default
    /// [`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Idle connections kept per receiver (default
    /// [`DEFAULT_POOL_MAX_IDLE_PER_HOST`]; 0 opens, hence resolves and
    /// checks, a new connection for every attempt). A reused connection
    /// goes to an address that was checked when it was opened.
    #[must_use]
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// The deliverer.
    pub fn build(self) -> Result<Deliverer, BuildError> {
        let resolve = GuardedResolve {
            policy: self.policy,
            resolver: self.resolver,
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.timeout)
            .https_only(!self.policy.allow_private)
            .dns_resolver(Arc::new(resolve))
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()?;
        Ok(Deliverer {
            client,
            policy: self.policy,
            timeout: self.timeout,
        })
    }
}

/// Sends webhooks, one attempt per call; cheap to clone (connections are
/// shared), safe to use from many tasks at once.
#[derive(Debug, Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    policy: Policy,
    timeout: Duration,
}

impl Deliverer {
    /// Settings for a deliverer that only calls destinations `policy`
    /// allows, resolving names with `resolver` (in production
    /// [`SystemResolver`](crate::guard::SystemResolver)).
    #[must_use]
    pub fn builder(policy: Policy, resolver: Arc<dyn Resolver>) -> DelivererBuilder {
        DelivererBuilder {
            policy,
            resolver,
            timeout: DEFAULT_TIMEOUT,
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE_PER_HOST,
        }
    }

    /// A deliverer with the default settings (see [`Deliverer::builder`]).
    pub fn new(policy: Policy, resolver: Arc<dyn Resolver>) -> Result<Self, BuildError> {
        Self::builder(policy, resolver).build()
    }

    /// Makes one attempt to deliver `request`; never fails, the outcome
    /// says what happened.
    pub async fn deliver(&self, request: Request) -> Attempt {
        let started = Instant::now();
        // Also judges IP-literal hosts, which reqwest connects to without
        // asking the resolver.
        let url = match guard::check_url(&request.url, &self.policy) {
            Ok(url) => url,
            Err(e) => return Attempt::without_response(Outcome::Refused, e.to_string(), started),
        };
        let headers = match self.headers_of(&request) {
            Ok(headers) => headers,
            Err(why) => return Attempt::without_response(Outcome::Invalid, why, started),
        };
        let sent = self
            .client
            .post(url)
            .headers(headers)
            .body(request.body)
            .send()
            .await;
        match sent {
            Ok(response) => self.answered(response, started).await,
            Err(e) => {
                if let Some(refusal) = guard_error(&e) {
                    // A name that does not resolve (now) is like a
                    // connection error: DNS may well answer next time.
                    let outcome = match refusal {
                        GuardError::Unresolved { .. } | GuardError::NoAddresses(_) => {
                            Outcome::Retry
                        }
                        _ => Outcome::Refused,
                    };
                    return Attempt::without_response(outcome, refusal.to_string(), started);
                }
                let why = if e.is_timeout() {
                    format!("timed out after {:?}", self.timeout)
                } else {
                    error_chain(&e)
                };
                Attempt::without_response(Outcome::Retry, why, started)
            }
        }
    }

    fn headers_of(&self, request: &Request) -> Result<HeaderMap, String> {
        headers::validate_headers(&request.custom_headers).map_err(|e| e.to_string())?;
        let secrets: Vec<&str> = request.secrets.iter().map(String::as_str).collect();
        let signed = signing::headers(&secrets, &request.msg_id, request.timestamp, &request.body)
            .map_err(|e| e.to_string())?;
        let mut map = HeaderMap::new();
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        map.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        for (name, value) in signed {
            let value = HeaderValue::from_str(&value).map_err(|e| format!("{name}: {e}"))?;
            map.insert(HeaderName::from_static(name), value);
        }
        // Validated above: none of them replaces a header set here except
        // User-Agent, which a receiver's firewall may want to match.
        for (name, value) in &request.custom_headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
            let value = HeaderValue::from_str(value).map_err(|e| format!("{name}: {e}"))?;
            map.insert(name, value);
        }
        Ok(map)
    }

    async fn answered(&self, mut response: reqwest::Response, started: Instant) -> Attempt {
        let status = response.status();
        let retry_after = if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
        {
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
        } else {
            None
        };
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let (response_excerpt, read_error) = read_excerpt(&mut response, self.timeout).await;
        let outcome = if status.is_success() {
            Outcome::Delivered
        } else if status == StatusCode::GONE {
            Outcome::Gone
        } else {
            Outcome::Retry
        };
        let error = match outcome {
            Outcome::Delivered => None,
            _ => {
                let mut why = format!("the endpoint answered {status}");
                if status.is_redirection() {
                    why.push_str(" (redirects are not followed; change the endpoint's URL");
                    if let Some(location) = location {
                        why.push_str(" to the one it redirects to: ");
                        why.push_str(&location);
                    }
                    why.push(')');
                }
                if let Some(read_error) = read_error {
                    why.push_str("; reading its body: ");
                    why.push_str(&read_error);
                }
                Some(why)
            }
        };
        Attempt {
            outcome,
            status: Some(status.as_u16()),
            response_excerpt,
            duration: started.elapsed(),
            retry_after,
            error,
        }
    }
}

/// Reads at most [`EXCERPT_LIMIT`] bytes (plus the rest of the last chunk
/// received, which is dropped) and returns them as text, with the error
/// that ended the read early, if any.
async fn read_excerpt(
    response: &mut reqwest::Response,
    timeout: Duration,
) -> (String, Option<String>) {
    let mut kept: Vec<u8> = Vec::with_capacity(EXCERPT_LIMIT);
    let mut error = None;
    let mut truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = EXCERPT_LIMIT - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if kept.len() >= EXCERPT_LIMIT {
                    // More may follow: the last character may be cut.
                    truncated = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(if e.is_timeout() {
                    format!("timed out after {timeout:?}")
                } else {
                    error_chain(&e)
                });
                break;
            }
        }
    }
    let text = if truncated {
        without_cut_char(&kept)
    } else {
        &kept[..]
    };
    (String::from_utf8_lossy(text).into_owned(), error)
}

/// `bytes` without a UTF-8 character cut off at its end by the excerpt
/// limit (it would show as a replacement character).
fn without_cut_char(bytes: &[u8]) -> &[u8] {
    let len = bytes.len();
    for back in 1..=len.min(4) {
        let byte = bytes[len - back];
        if byte & 0xc0 != 0x80 {
            let needed = match byte {
                0xf0.. => 4,
                0xe0.. => 3,
                0xc0.. => 2,
                _ => 1,
            };
            return if needed > back {
                &bytes[..len - back]
            } else {
                bytes
            };
        }
    }
    bytes
}

/// Parses a `Retry-After` value, delta-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, also the obsolete forms), as the time
/// to wait from `now`; a date in the past means no wait.
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The guard's refusal inside a reqwest error (it comes back from the
/// resolver wrapped in connection errors).
fn guard_error(e: &reqwest::Error) -> Option<&GuardError> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(refusal) = err.downcast_ref::<GuardError>() {
            return Some(refusal);
        }
        current = err.source();
    }
    None
}

/// An error and its causes, `a: b: c`, skipping causes already quoted by
/// the message before them.
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut current = e.source();
    while let Some(err) = current {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = err.source();
    }
    text
}

/// reqwest's resolver: every lookup goes through the guard, so connections
/// only go to addresses checked at that moment.
struct GuardedResolve {
    policy: Policy,
    resolver: Arc<dyn Resolver>,
}

impl reqwest::dns::Resolve for GuardedResolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let resolver = Arc::clone(&self.resolver);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest sets the URL's port on each address.
            match guard::resolve_host(&host, 0, &policy, &*resolver).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(e) => Err(Box::new(e) as Box<dyn StdError + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        // RFC 850 and asctime forms are HTTP dates too.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 08:28:00 GMT", now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:05 2015", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", "-5", "1.5", "soon", "120s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn requests_do_not_show_secrets_in_logs() {
        let request = Request {
            url: "https://hooks.example.com/".into(),
            msg_id: "msg_1".into(),
            timestamp: 1,
            body: Bytes::from_static(b"{}"),
            secrets: vec!["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into()],
            custom_headers: vec![("X-Api-Key".into(), "key-value-123".into())],
        };
        let shown = format!("{request:?}");
        assert!(
            shown.contains("msg_1") && shown.contains("X-Api-Key"),
            "{shown}"
        );
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("key-value-123"),
            "{shown}"
        );
    }

    #[test]
    fn a_character_cut_by_the_limit_is_dropped() {
        assert_eq!(without_cut_char(b"abc"), b"abc");
        let euro = "a€".as_bytes(); // 61 e2 82 ac
        assert_eq!(without_cut_char(euro), euro);
        assert_eq!(without_cut_char(&euro[..3]), b"a");
        assert_eq!(without_cut_char(&euro[..2]), b"a");
        let emoji = "é😀".as_bytes(); // c3 a9 f0 9f 98 80
        assert_eq!(without_cut_char(&emoji[..5]), "é".as_bytes());
        assert_eq!(without_cut_char(emoji), emoji);
        assert_eq!(without_cut_char(b""), b"");
    }
}
