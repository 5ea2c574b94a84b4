//! A webhook receiver for end-to-end tests and benchmarks: an HTTP server that takes the
//! backend's outbound webhooks, verifies their [Standard Webhooks] v1 signatures on its own,
//! answers as scripted and keeps a record of every request.
//!
//! # What it checks
//!
//! A Standard Webhooks request carries three headers:
//!
//! * `webhook-id`: the message id, the same on every retry of one message;
//! * `webhook-timestamp`: when it was (re)sent, in unix seconds;
//! * `webhook-signature`: space-separated signatures `v1,<base64>`, each the HMAC-SHA256 of
//!   `{webhook-id}.{webhook-timestamp}.{raw body}` keyed with the base64-decoded part of a secret
//!   written `whsec_<base64>` (several during a secret rotation).
//!
//! The verification here is written from the specification with `hmac`/`sha2`/`base64`, not with
//! the `standardwebhooks` crate the backend signs with, so that the two check each other. Tags
//! are compared in constant time ([`hmac::Mac::verify_slice`]).
//!
//! A request is [`ReceivedWebhook::verified`] when any of its `v1` signatures matches any
//! accepted secret ([`ReceivedWebhook::matched_secrets`] says which);
//! [`ReceivedWebhook::timestamp_ok`] when its timestamp is within the tolerance of now (5 minutes
//! unless [`WebhookReceiver::set_tolerance`]). A request that is not both is still recorded, and
//! answered 401 unless a scripted [`Answer`] says otherwise.
//!
//! # Answers
//!
//! Each POST (any path) takes the next scripted answer: first from its path's queue
//! ([`WebhookReceiver::answer_next_at`]), then from the common queue
//! ([`WebhookReceiver::answer_next`]), then [`WebhookReceiver::answer_always`]'s. Without one it
//! gets the default: 200 with `{}` when verified with a timely timestamp, 401 otherwise. Other
//! methods get 405 and are not recorded. Bodies larger than [`MAX_BODY_SIZE`] get 413 and are not
//! recorded either.
//!
//! [`WebhookReceiver::sink`] is the benchmark mode: no verification, 200 by default, and only
//! the id, the arrival time and the body's top-level `subject` (a CloudEvents envelope's
//! aggregate id) of each request are kept ([`WebhookReceiver::arrivals`]).
//!
//! The server stops when the value is dropped: the accept loop and every open connection (hung
//! requests included) are aborted.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The message id header.
pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
/// The unix-seconds timestamp header.
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// The signatures header (`v1,<base64> v1,<base64> ...`).
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// How far a timestamp may be from now, either way, unless [`WebhookReceiver::set_tolerance`].
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The largest body accepted; a larger one gets 413 and is not recorded.
pub const MAX_BODY_SIZE: usize = 32 * 1024 * 1024;

const SECRET_PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

/// A scripted answer to one request (see [`WebhookReceiver::answer_next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// This status with the JSON body `{}`.
    Status(u16),
    /// This status with this body (`application/json` when it parses as JSON, text otherwise).
    StatusWithBody(u16, String),
    /// `status` (429 or 503, normally) with `Retry-After: <seconds>` and the JSON body `{}`.
    RetryAfter { status: u16, seconds: u64 },
    /// 410 Gone, the JSON body `{}`: the endpoint asks not to be called again.
    Gone,
    /// 302 Found with `Location: <location>` and no body, to check that redirects are not
    /// followed.
    Redirect(String),
    /// Holds the request open, without answering, for this long, then gives the default answer
    /// (200 if verified, 401 otherwise; 200 for a sink). Other requests are answered meanwhile.
    Hang(Duration),
}

impl Answer {
    /// Panics now, in the test that scripts it, rather than later in the server.
    fn check(&self) {
        let status = match self {
            Answer::Status(status) | Answer::StatusWithBody(status, _) => *status,
            Answer::RetryAfter { status, .. } => *status,
            Answer::Redirect(location) => {
                HeaderValue::from_str(location).unwrap_or_else(|_| {
                    panic!("test-peers: {location:?} cannot be a Location header")
                });
                return;
            }
            Answer::Gone | Answer::Hang(_) => return,
        };
        status_code(status);
    }

    fn respond(&self) -> Response {
        match self {
            Answer::Status(status) => json_response(status_code(*status), json!({})),
            Answer::StatusWithBody(status, body) => {
                let content_type = if serde_json::from_str::<Value>(body).is_ok() {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                let mut response = (status_code(*status), body.clone()).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                response
            }
            Answer::RetryAfter { status, seconds } => {
                let mut response = json_response(status_code(*status), json!({}));
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
                response
            }
            Answer::Gone => json_response(StatusCode::GONE, json!({})),
            Answer::Redirect(location) => {
                let mut response = StatusCode::FOUND.into_response();
                if let Ok(value) = HeaderValue::from_str(location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                response
            }
            // Answered by the caller, after the hang.
            Answer::Hang(_) => StatusCode::OK.into_response(),
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status)
        .unwrap_or_else(|_| panic!("test-peers: {status} is not a valid HTTP status"))
}

/// One POST the receiver got, as received and answered.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedWebhook {
    /// The `webhook-id` header.
    pub id: Option<String>,
    /// The `webhook-timestamp` header, when it is an integer.
    pub timestamp: Option<i64>,
    /// The entries of the `webhook-signature` header as written (`v1,<base64>`, or anything
    /// else that was there), in order.
    pub signatures: Vec<String>,
    /// Some `v1` signature matches some accepted secret.
    pub verified: bool,
    /// The indices (in the accepted secrets at the time, ascending) of the secrets that some
    /// signature matches.
    pub matched_secrets: Vec<usize>,
    /// The timestamp is present and within the tolerance of the receiver's clock.
    pub timestamp_ok: bool,
    /// The request path (without the query).
    pub path: String,
    /// Every header, names in lower case, values as (lossy) UTF-8, in order.
    pub headers: Vec<(String, String)>,
    /// The body exactly as received.
    pub body: Vec<u8>,
    pub received_at: Instant,
    /// The status answered (for [`Answer::Hang`], the one given when the hang ends, if the
    /// client is still there).
    pub answered: u16,
}

impl ReceivedWebhook {
    /// The body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "test-peers: the webhook body is not JSON ({e}): {}",
                self.body_str()
            )
        })
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Verified and timely: what a receiver following the specification would accept.
    pub fn valid(&self) -> bool {
        self.verified && self.timestamp_ok
    }

    fn summary(&self) -> String {
        const SHOWN: usize = 200;
        let body = self.body_str();
        let body = match body.char_indices().nth(SHOWN) {
            Some((end, _)) => format!("{}...", &body[..end]),
            None => body,
        };
        format!(
            "POST {} webhook-id {:?} timestamp {:?} verified {} (secrets {:?}) timestamp_ok {} answered {}, {} bytes: {}",
            self.path,
            self.id,
            self.timestamp,
            self.verified,
            self.matched_secrets,
            self.timestamp_ok,
            self.answered,
            self.body.len(),
            body
        )
    }
}

impl fmt::Debug for ReceivedWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedWebhook")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("signatures", &self.signatures)
            .field("verified", &self.verified)
            .field("matched_secrets", &self.matched_secrets)
            .field("timestamp_ok", &self.timestamp_ok)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("body", &self.body_str())
            .field("received_at", &self.received_at)
            .field("answered", &self.answered)
            .finish()
    }
}

/// What a sink keeps of a request (and what [`WebhookReceiver::arrivals`] gives in both modes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The `webhook-id` header.
    pub id: Option<String>,
    pub received_at: Instant,
    /// The body's top-level `subject` when the body is a JSON object whose `subject` is a string
    /// (in a CloudEvents envelope, the aggregate id): what a benchmark matches a delivery to its
    /// cause with.
    pub subject: Option<String>,
}

/// The top-level `subject` string of a JSON object body, read without building the rest of it
/// (the other members are skipped, not kept); `None` when there is none or the body is not JSON.
fn body_subject(body: &[u8]) -> Option<String> {
    // A derived struct would also take a JSON array (its first element as `subject`).
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Subject {
        subject: Option<String>,
    }
    serde_json::from_slice::<Subject>(body).ok()?.subject
}

#[derive(Default)]
struct Script {
    by_path: HashMap<String, VecDeque<Answer>>,
    queued: VecDeque<Answer>,
    always: Option<Answer>,
}

impl Script {
    fn take(&mut self, path: &str) -> Option<Answer> {
        if let Some(queue) = self.by_path.get_mut(path)
            && let Some(answer) = queue.pop_front()
        {
            return Some(answer);
        }
        self.queued.pop_front().or_else(|| self.always.clone())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    received: usize,
    distinct: usize,
}

#[derive(Default)]
struct Records {
    /// Full mode.
    webhooks: Vec<ReceivedWebhook>,
    /// Sink mode.
    arrivals: Vec<Arrival>,
    ids: BTreeSet<String>,
}

struct Shared {
    store: bool,
    /// The decoded keys of the accepted secrets.
    keys: Mutex<Vec<Vec<u8>>>,
    tolerance_secs: AtomicU64,
    script: Mutex<Script>,
    records: Mutex<Records>,
    counts: watch::Sender<Counts>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The HMAC key of a `whsec_<base64>` secret (the prefix may be left out).
///
/// # Panics
/// When the rest is not base64 or is empty.
fn decode_secret(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = BASE64.decode(encoded).unwrap_or_else(|e| {
        panic!("test-peers: webhook secret {secret:?} is not whsec_<base64> ({e})")
    });
    assert!(
        !key.is_empty(),
        "test-peers: webhook secret {secret:?} has an empty key"
    );
    key
}

/// The indices of the keys that some `v1,<base64>` entry of `signatures` is the HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` for.
fn matching_keys(
    keys: &[Vec<u8>],
    id: &str,
    timestamp: &str,
    signatures: &[String],
    body: &[u8],
) -> Vec<usize> {
    let tags: Vec<Vec<u8>> = signatures
        .iter()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|encoded| BASE64.decode(encoded).ok())
        .collect();
    if tags.is_empty() {
        return Vec::new();
    }
    keys.iter()
        .enumerate()
        .filter(|(_, key)| {
            let mut mac =
                HmacSha256::new_from_slice(key).expect("HMAC-SHA256 takes keys of any length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok())
        })
        .map(|(index, _)| index)
        .collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A running webhook receiver on `127.0.0.1`; stops when dropped.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("addr", &self.addr)
            .field("store", &self.shared.store)
            .finish()
    }
}

impl WebhookReceiver {
    /// Starts a receiver on `127.0.0.1:0` that verifies signatures against `secrets`
    /// (`whsec_<base64>`) and keeps every request.
    ///
    /// # Panics
    /// When a secret is not `whsec_<base64>`.
    pub async fn start(secrets: &[&str]) -> WebhookReceiver {
        let keys = secrets.iter().map(|s| decode_secret(s)).collect();
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("test-peers: bind the webhook receiver on 127.0.0.1:0");
        Self::serve(listener, true, keys)
    }

    /// Starts a counting receiver on `127.0.0.1:0`, for benchmarks: it verifies nothing, answers
    /// 200 (unless scripted) and keeps only each request's id, arrival time and body `subject`
    /// ([`WebhookReceiver::arrivals`]); [`WebhookReceiver::received`] stays empty.
    pub async fn sink() -> WebhookReceiver {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("test-peers: bind the webhook sink on 127.0.0.1:0");
        Self::serve(listener, false, Vec::new())
    }

    /// A counting sink on `addr` (a benchmark's receiver is told where it is).
    pub async fn sink_on(addr: SocketAddr) -> io::Result<WebhookReceiver> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::serve(listener, false, Vec::new()))
    }

    fn serve(listener: TcpListener, store: bool, keys: Vec<Vec<u8>>) -> WebhookReceiver {
        let addr = listener
            .local_addr()
            .expect("test-peers: webhook receiver address");
        let shared = Arc::new(Shared {
            store,
            keys: Mutex::new(keys),
            tolerance_secs: AtomicU64::new(DEFAULT_TOLERANCE.as_secs()),
            script: Mutex::new(Script::default()),
            records: Mutex::new(Records::default()),
            counts: watch::Sender::new(Counts::default()),
        });
        let router = Router::new()
            .fallback(receive)
            .layer(DefaultBodyLimit::max(MAX_BODY_SIZE))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(accept_loop(listener, router));
        WebhookReceiver { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/path` (a missing leading `/` is added).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("http://{}{path}", self.addr)
        } else {
            format!("http://{}/{path}", self.addr)
        }
    }

    /// Replaces the accepted secrets (`whsec_<base64>`); [`ReceivedWebhook::matched_secrets`]
    /// of later requests index this list.
    ///
    /// # Panics
    /// When a secret is not `whsec_<base64>`.
    pub fn set_secrets(&self, secrets: &[&str]) {
        let keys = secrets.iter().map(|s| decode_secret(s)).collect();
        *lock(&self.shared.keys) = keys;
    }

    /// How far from the receiver's clock a timestamp may be, either way (whole seconds).
    pub fn set_tolerance(&self, tolerance: Duration) {
        self.shared
            .tolerance_secs
            .store(tolerance.as_secs(), Ordering::Relaxed);
    }

    /// The next `count` requests (any path, signed or not) get `answer`; queued after earlier
    /// calls, before [`WebhookReceiver::answer_always`]'s.
    ///
    /// # Panics
    /// When `answer` has an invalid status or location.
    pub fn answer_next(&self, count: usize, answer: Answer) {
        answer.check();
        lock(&self.shared.script)
            .queued
            .extend(std::iter::repeat_n(answer, count));
    }

    /// The next `count` requests to `path` get `answer`, before the common queue.
    ///
    /// # Panics
    /// When `answer` has an invalid status or location.
    pub fn answer_next_at(&self, path: &str, count: usize, answer: Answer) {
        answer.check();
        lock(&self.shared.script)
            .by_path
            .entry(path.to_string())
            .or_default()
            .extend(std::iter::repeat_n(answer, count));
    }

    /// Every request without a queued answer gets `answer`, until
    /// [`WebhookReceiver::clear_script`].
    ///
    /// # Panics
    /// When `answer` has an invalid status or location.
    pub fn answer_always(&self, answer: Answer) {
        answer.check();
        lock(&self.shared.script).always = Some(answer);
    }

    /// Forgets every scripted answer: from now on, the default answers.
    pub fn clear_script(&self) {
        *lock(&self.shared.script) = Script::default();
    }

    /// Forgets the requests received so far: [`WebhookReceiver::count`],
    /// [`WebhookReceiver::received`], [`WebhookReceiver::arrivals`] and
    /// [`WebhookReceiver::distinct_ids`] start again from nothing. The script stays.
    pub fn clear(&self) {
        let mut records = lock(&self.shared.records);
        *records = Records::default();
        self.shared.counts.send_replace(Counts::default());
    }

    /// The requests received so far, in order of arrival (always empty for a sink).
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        lock(&self.shared.records).webhooks.clone()
    }

    /// The id, arrival time and body `subject` of every request so far, in order (both modes).
    pub fn arrivals(&self) -> Vec<Arrival> {
        let records = lock(&self.shared.records);
        if self.shared.store {
            records
                .webhooks
                .iter()
                .map(|w| Arrival {
                    id: w.id.clone(),
                    received_at: w.received_at,
                    subject: body_subject(&w.body),
                })
                .collect()
        } else {
            records.arrivals.clone()
        }
    }

    /// How many requests were received (both modes).
    pub fn count(&self) -> usize {
        self.shared.counts.borrow().received
    }

    /// The distinct `webhook-id` values received (both modes): with at-least-once delivery,
    /// [`WebhookReceiver::count`] may exceed its length, never the reverse.
    pub fn distinct_ids(&self) -> BTreeSet<String> {
        lock(&self.shared.records).ids.clone()
    }

    /// Waits until at least `n` requests were received and returns all of them.
    ///
    /// # Panics
    /// On timeout, listing what was received; on a sink (use
    /// [`WebhookReceiver::wait_for_count`]).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedWebhook> {
        assert!(
            self.shared.store,
            "test-peers: wait_for on a webhook sink, which keeps nothing: use wait_for_count"
        );
        if self.try_wait(timeout, |c| c.received >= n).await.is_err() {
            self.panic_listing(&format!("expected at least {n}"), timeout);
        }
        self.received()
    }

    /// Waits until at least `n` requests were received (both modes); returns the count.
    ///
    /// # Panics
    /// On timeout.
    pub async fn wait_for_count(&self, n: usize, timeout: Duration) -> usize {
        match self.try_wait(timeout, |c| c.received >= n).await {
            Ok(counts) => counts.received,
            Err(counts) => self.panic_counts(&format!(
                "got {} request(s) within {timeout:?}, expected at least {n}",
                counts.received
            )),
        }
    }

    /// Waits until at least `n` requests were received: `Ok(count)`, or `Err(count)` on timeout.
    pub async fn try_wait_for_count(&self, n: usize, timeout: Duration) -> Result<usize, usize> {
        self.try_wait(timeout, |c| c.received >= n)
            .await
            .map(|c| c.received)
            .map_err(|c| c.received)
    }

    /// Waits until at least `n` distinct `webhook-id`s were received (both modes); returns them.
    ///
    /// # Panics
    /// On timeout, listing what was received.
    pub async fn wait_for_distinct(&self, n: usize, timeout: Duration) -> BTreeSet<String> {
        if let Err(counts) = self.try_wait(timeout, |c| c.distinct >= n).await {
            let what = format!("expected at least {n} distinct webhook-id(s)");
            if self.shared.store {
                self.panic_listing(&what, timeout);
            }
            self.panic_counts(&format!(
                "got {} distinct webhook-id(s) within {timeout:?}, {what}",
                counts.distinct
            ));
        }
        self.distinct_ids()
    }

    async fn try_wait(
        &self,
        timeout: Duration,
        reached: impl FnMut(&Counts) -> bool,
    ) -> Result<Counts, Counts> {
        let mut rx = self.shared.counts.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(reached)).await {
            Ok(Ok(counts)) => Ok(*counts),
            _ => Err(*self.shared.counts.borrow()),
        }
    }

    fn panic_counts(&self, what: &str) -> ! {
        let ids = self.distinct_ids();
        panic!(
            "test-peers: webhook receiver {} {what}; {} request(s) in all, distinct webhook-id(s): {ids:?}",
            self.addr,
            self.count(),
        )
    }

    fn panic_listing(&self, what: &str, timeout: Duration) -> ! {
        let received = self.received();
        let list: Vec<String> = received
            .iter()
            .enumerate()
            .map(|(i, w)| format!("  {}. {}", i + 1, w.summary()))
            .collect();
        panic!(
            "test-peers: webhook receiver {} got {} request(s) ({} distinct webhook-id(s)) within {timeout:?}, {what}; received:\n{}",
            self.addr,
            received.len(),
            self.distinct_ids().len(),
            if list.is_empty() {
                "  (none)".to_string()
            } else {
                list.join("\n")
            }
        )
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, router: Router) {
    // Owned here so that aborting this task aborts every connection too.
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let service = TowerToHyperService::new(router.clone());
                connections.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        while connections.try_join_next().is_some() {}
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        let mut response = json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "error": "webhooks are POSTed" }),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let received_at = Instant::now();
    let path = uri.path().to_string();
    let id = header_str(&headers, HEADER_WEBHOOK_ID).map(str::to_string);
    let answer = lock(&shared.script).take(&path);

    if !shared.store {
        let response = match &answer {
            None | Some(Answer::Hang(_)) => json_response(StatusCode::OK, json!({})),
            Some(answer) => answer.respond(),
        };
        // Parsed before the lock is taken.
        let subject = body_subject(&body);
        shared.record(id.as_deref(), |records| {
            records.arrivals.push(Arrival {
                id: id.clone(),
                received_at,
                subject,
            });
        });
        return finish(answer, response).await;
    }

    let raw_timestamp = header_str(&headers, HEADER_WEBHOOK_TIMESTAMP);
    let timestamp = raw_timestamp.and_then(|t| t.parse::<i64>().ok());
    let signatures: Vec<String> = header_str(&headers, HEADER_WEBHOOK_SIGNATURE)
        .map(|s| s.split_ascii_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let matched_secrets = match (&id, raw_timestamp, timestamp) {
        (Some(id), Some(raw), Some(_)) => {
            let keys = lock(&shared.keys).clone();
            matching_keys(&keys, id, raw, &signatures, &body)
        }
        _ => Vec::new(),
    };
    let verified = !matched_secrets.is_empty();
    let tolerance = shared.tolerance_secs.load(Ordering::Relaxed);
    let timestamp_ok = timestamp.is_some_and(|t| unix_now().abs_diff(t) <= tolerance);

    let response = match &answer {
        None | Some(Answer::Hang(_)) => {
            if verified && timestamp_ok {
                json_response(StatusCode::OK, json!({}))
            } else {
                let reason = if id.is_none() || raw_timestamp.is_none() || signatures.is_empty() {
                    "missing webhook-id, webhook-timestamp or webhook-signature"
                } else if timestamp.is_none() {
                    "webhook-timestamp is not an integer"
                } else if !verified {
                    "no signature matches an accepted secret"
                } else {
                    "webhook-timestamp is outside the tolerance"
                };
                json_response(StatusCode::UNAUTHORIZED, json!({ "error": reason }))
            }
        }
        Some(answer) => answer.respond(),
    };

    let webhook = ReceivedWebhook {
        id: id.clone(),
        timestamp,
        signatures,
        verified,
        matched_secrets,
        timestamp_ok,
        path,
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        received_at,
        answered: response.status().as_u16(),
    };
    shared.record(id.as_deref(), |records| records.webhooks.push(webhook));
    finish(answer, response).await
}

/// Gives `response`, after the hang if the answer is one.
async fn finish(answer: Option<Answer>, response: Response) -> Response {
    if let Some(Answer::Hang(duration)) = answer {
        tokio::time::sleep(duration).await;
    }
    response
}

impl Shared {
    /// Records a request (before it is answered, so that a client that got the answer finds it).
    fn record(&self, id: Option<&str>, push: impl FnOnce(&mut Records)) {
        let mut records = lock(&self.records);
        push(&mut records);
        if let Some(id) = id
            && !records.ids.contains(id)
        {
            records.ids.insert(id.to_string());
        }
        let distinct = records.ids.len();
        self.counts.send_modify(|c| {
            c.received += 1;
            c.distinct = distinct;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: &str = "1649367553";
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn signatures(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn verifies_the_reference_example() {
        let key = decode_secret(SECRET);
        assert_eq!(key, decode_secret(&SECRET[SECRET_PREFIX.len()..]));
        let other = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let keys = [other, key];
        assert_eq!(
            matching_keys(&keys, ID, TIMESTAMP, &signatures(&[SIGNATURE]), BODY),
            vec![1]
        );
        assert_eq!(
            matching_keys(
                &keys,
                ID,
                TIMESTAMP,
                &signatures(&["v1,bm90IGl0", "v2,xyz", SIGNATURE]),
                BODY
            ),
            vec![1],
            "any signature of the list"
        );
        for (id, timestamp, body) in [
            ("msg_other", TIMESTAMP, BODY),
            (ID, "1649367554", BODY),
            (ID, TIMESTAMP, &br#"{"email":"test@example.com"}"#[..]),
        ] {
            assert!(
                matching_keys(&keys, id, timestamp, &signatures(&[SIGNATURE]), body).is_empty()
            );
        }
        let truncated = &SIGNATURE[..SIGNATURE.len() - 8];
        let unversioned = &SIGNATURE[3..];
        for list in [&[truncated][..], &[unversioned], &["v1,"], &[]] {
            assert!(matching_keys(&keys, ID, TIMESTAMP, &signatures(list), BODY).is_empty());
        }
    }

    #[test]
    fn the_subject_is_the_top_level_string_only() {
        let subject = |body: &str| body_subject(body.as_bytes());
        assert_eq!(
            subject(
                r#"{"id":"e1","data":{"subject":"inner","list":[1,{"a":null}]},"subject":"c\u00e9-1"}"#
            ),
            Some("c\u{e9}-1".to_string())
        );
        assert_eq!(subject(r#"{"data":{"subject":"inner"}}"#), None);
        assert_eq!(subject(r#"{"subject":null}"#), None);
        assert_eq!(subject(r#"{"subject":42}"#), None);
        assert_eq!(subject(r#"["subject"]"#), None);
        assert_eq!(subject(r#" {"subject":"s"}"#), Some("s".to_string()));
        assert_eq!(subject(r#"{"subject":"a","subject":"b"}"#), None);
        assert_eq!(subject("not json"), None);
        assert_eq!(subject(""), None);
    }

    #[test]
    #[should_panic(expected = "is not whsec_<base64>")]
    fn a_secret_that_is_not_base64_is_refused() {
        decode_secret("whsec_not base64!");
    }
}
