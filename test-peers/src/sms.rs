//! A local HTTP SMS provider for end-to-end tests: the "configurable HTTP SMS provider" the
//! backend talks to, with failures on demand and a record of every request.
//!
//! # The contract (the backend implements the client side)
//!
//! **Send**: `POST {base_url}/messages` with `Authorization: Bearer <token>`,
//! `Content-Type: application/json` and
//!
//! ```json
//! {"to": "+15145550123", "from": "MoversCRM", "body": "Your move is confirmed", "reference": "<client id, e.g. the communication id>"}
//! ```
//!
//! * `to`: E.164 (`+`, then 7 to 15 digits, the first not 0); `body`: not empty;
//!   `reference`: not empty, the client's idempotency key; `from`: optional (a sender id or
//!   number; the provider's default when absent).
//!
//! Answers (always JSON):
//!
//! | status | body | meaning for the client |
//! | --- | --- | --- |
//! | 201 | `{"id": "<provider message id>", "status": "queued"}` | accepted, will be sent |
//! | 200 | `{"id": "<the same id>", "status": "queued"}` | the `reference` was already accepted: **not sent again** (idempotent retry) |
//! | 401 | `{"error": "..."}` | wrong or missing token (permanent until reconfigured) |
//! | 400, 422 | `{"error": "..."}` | permanent refusal: malformed request (400), invalid number or the like (422) |
//! | 409 | `{"error": "..."}` | the `reference` was already used for a *different* message (a client bug; permanent) |
//! | 429, 5xx | anything | transient: retry later with the **same** `reference` |
//!
//! Any 2xx with an `id` is an acceptance. Because a repeated `reference` returns the first `id`
//! without sending twice, a client that crashed (or timed out) after the provider accepted can
//! simply retry.
//!
//! **Delivery callbacks** (provider → backend, later): `POST <backend callback url>` with
//! `{"id": "...", "reference": "...", "to": "...", "status": "delivered" | "failed", "error": "..."?}`;
//! [`SmsProvider::callback_payload`] builds that body. Signing it, and sending it, is up to the
//! backend's tests.
//!
//! # In tests
//!
//! [`SmsProvider::start`]`(token)` listens on `127.0.0.1:0`; [`SmsProvider::base_url`] is
//! `http://127.0.0.1:PORT` (no trailing slash). Every request to `/messages` is recorded
//! ([`SmsProvider::received`], refused ones included, with the status answered);
//! [`SmsProvider::sent`] is the subset that was actually sent (accepted, not duplicates).
//! [`SmsProvider::fail_next`] scripts the next answers; [`SmsProvider::accept_then_fail_next`]
//! accepts (the SMS is sent, the reference remembered) but answers a failure, as when the client
//! never learns of the acceptance. The server stops when dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// One request to `POST /messages`, as received and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRequest {
    /// The JSON fields as sent (empty when absent or not a string).
    pub to: String,
    pub from: String,
    pub body: String,
    pub reference: String,
    /// The provider id answered (`Some` for 200/201 and for [`SmsProvider::accept_then_fail_next`]).
    pub id: Option<String>,
    /// The `reference` had already been accepted (answered 200 with the first id, or 409).
    pub duplicate: bool,
    /// The bearer token was right.
    pub authorized: bool,
    /// The HTTP status answered.
    pub status: u16,
    /// This request was accepted and actually "sent" (counted once per reference).
    pub sent: bool,
    /// The request body as received (lossy UTF-8).
    pub raw_body: String,
}

#[derive(Debug, Clone)]
struct Failure {
    status: StatusCode,
    body: String,
    /// Accept (send, remember the reference) before answering the failure.
    accept: bool,
}

#[derive(Debug, Clone)]
struct Accepted {
    id: String,
    to: String,
    from: String,
    body: String,
}

#[derive(Default)]
struct ProviderState {
    requests: Vec<SmsRequest>,
    by_reference: HashMap<String, Accepted>,
    queued: VecDeque<Failure>,
    always: Option<Failure>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    received: usize,
    sent: usize,
}

struct Shared {
    token: String,
    state: Mutex<ProviderState>,
    counts: watch::Sender<Counts>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running SMS provider on `127.0.0.1`; stops when dropped.
pub struct SmsProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for SmsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsProvider")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SmsProvider {
    /// Starts a provider on `127.0.0.1:0` that accepts `Authorization: Bearer <token>`.
    pub async fn start(token: impl Into<String>) -> SmsProvider {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("test-peers: bind the SMS provider on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("test-peers: SMS provider address");
        let shared = Arc::new(Shared {
            token: token.into(),
            state: Mutex::new(ProviderState::default()),
            counts: watch::Sender::new(Counts::default()),
        });
        let router = Router::new()
            .route("/messages", post(send_message))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(accept_loop(listener, router));
        SmsProvider { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token the provider accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The next `count` authorized requests are answered `status` with `body` (JSON if it parses
    /// as JSON, text otherwise) and nothing is sent. Queued after earlier calls.
    pub fn fail_next(&self, count: usize, status: u16, body: impl Into<String>) {
        self.queue(count, status, body.into(), false);
    }

    /// The next `count` valid, authorized, new requests are accepted (sent, reference
    /// remembered, id recorded) but answered `status`/`body`, as when the client never learns of
    /// the acceptance; its retry with the same reference then gets 200 and the first id.
    pub fn accept_then_fail_next(&self, count: usize, status: u16, body: impl Into<String>) {
        self.queue(count, status, body.into(), true);
    }

    fn queue(&self, count: usize, status: u16, body: String, accept: bool) {
        let failure = Failure {
            status: StatusCode::from_u16(status).expect("test-peers: a valid HTTP status"),
            body,
            accept,
        };
        lock(&self.shared.state)
            .queued
            .extend(std::iter::repeat_n(failure, count));
    }

    /// Every authorized request (after the queued ones) is answered `status`/`body`, until
    /// [`SmsProvider::clear`].
    pub fn fail_always(&self, status: u16, body: impl Into<String>) {
        lock(&self.shared.state).always = Some(Failure {
            status: StatusCode::from_u16(status).expect("test-peers: a valid HTTP status"),
            body: body.into(),
            accept: false,
        });
    }

    /// Forgets every scripted failure (not the received requests nor the known references).
    pub fn clear(&self) {
        let mut state = lock(&self.shared.state);
        state.queued.clear();
        state.always = None;
    }

    /// Every request to `/messages` so far, in order, refused ones included.
    pub fn received(&self) -> Vec<SmsRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// The requests that were actually sent: accepted, first of their reference.
    pub fn sent(&self) -> Vec<SmsRequest> {
        lock(&self.shared.state)
            .requests
            .iter()
            .filter(|r| r.sent)
            .cloned()
            .collect()
    }

    /// Waits until at least `n` requests were received; returns all of them.
    ///
    /// # Panics
    /// On timeout, listing what was received.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<SmsRequest> {
        self.wait(n, timeout, false).await;
        self.received()
    }

    /// Waits until at least `n` SMS were sent; returns them ([`SmsProvider::sent`]).
    ///
    /// # Panics
    /// On timeout, listing what was received.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SmsRequest> {
        self.wait(n, timeout, true).await;
        self.sent()
    }

    async fn wait(&self, n: usize, timeout: Duration, sent: bool) {
        let mut rx = self.shared.counts.subscribe();
        let reached = move |c: &Counts| if sent { c.sent >= n } else { c.received >= n };
        if tokio::time::timeout(timeout, rx.wait_for(reached))
            .await
            .is_err()
        {
            let received = self.received();
            let list: Vec<String> = received
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    format!(
                        "  {}. {} to {:?} reference {:?} id {:?} duplicate {} authorized {} sent {}: {}",
                        i + 1,
                        r.status,
                        r.to,
                        r.reference,
                        r.id,
                        r.duplicate,
                        r.authorized,
                        r.sent,
                        r.raw_body
                    )
                })
                .collect();
            panic!(
                "test-peers: SMS provider {} got {} request(s), {} sent, within {timeout:?}, expected at least {n} {}; received:\n{}",
                self.addr,
                received.len(),
                received.iter().filter(|r| r.sent).count(),
                if sent { "sent" } else { "requests" },
                if list.is_empty() {
                    "  (none)".to_string()
                } else {
                    list.join("\n")
                }
            );
        }
    }

    /// The body of a delivery callback for the message `id` (see the module docs):
    /// `{"id", "reference", "to", "status"}`, plus `"error"` when `status` is `"failed"`.
    ///
    /// # Panics
    /// When no accepted message has that id.
    pub fn callback_payload(&self, id: &str, status: &str) -> Value {
        let state = lock(&self.shared.state);
        let (reference, accepted) = state
            .by_reference
            .iter()
            .find(|(_, a)| a.id == id)
            .unwrap_or_else(|| panic!("test-peers: no SMS was accepted with id {id:?}"));
        let mut payload = json!({
            "id": accepted.id,
            "reference": reference,
            "to": accepted.to,
            "status": status,
        });
        if status == "failed" {
            payload["error"] = json!("undeliverable (test-peers)");
        }
        payload
    }
}

impl Drop for SmsProvider {
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

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, json!({ "error": message.into() }))
}

fn scripted(failure: &Failure) -> Response {
    let content_type = if serde_json::from_str::<Value>(&failure.body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = (failure.status, failure.body.clone()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `+`, then 7 to 15 digits, the first not 0.
fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

async fn send_message(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_body = String::from_utf8_lossy(&body).into_owned();
    let json: Option<Value> = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(Value::is_object);
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut request = SmsRequest {
        to: field("to"),
        from: field("from"),
        body: field("body"),
        reference: field("reference"),
        id: None,
        duplicate: false,
        authorized: false,
        status: 0,
        sent: false,
        raw_body,
    };
    let expected = format!("Bearer {}", shared.token);
    request.authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == expected.as_bytes());

    let mut state = lock(&shared.state);
    let response = answer(&mut state, &mut request, json.is_some());
    request.status = response.status().as_u16();
    let sent = request.sent;
    state.requests.push(request);
    drop(state);
    shared.counts.send_modify(|c| {
        c.received += 1;
        if sent {
            c.sent += 1;
        }
    });
    response
}

fn answer(state: &mut ProviderState, request: &mut SmsRequest, is_json: bool) -> Response {
    if !request.authorized {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let failure = state.queued.pop_front().or_else(|| state.always.clone());
    if let Some(failure) = &failure
        && !failure.accept
    {
        return scripted(failure);
    }
    if !is_json {
        return error(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    }
    for (name, value) in [
        ("to", &request.to),
        ("body", &request.body),
        ("reference", &request.reference),
    ] {
        if value.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("missing or empty string field {name:?}"),
            );
        }
    }
    if !is_e164(&request.to) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid phone number {:?}: E.164 expected", request.to),
        );
    }
    if let Some(previous) = state.by_reference.get(&request.reference) {
        request.duplicate = true;
        if previous.to != request.to
            || previous.from != request.from
            || previous.body != request.body
        {
            return error(
                StatusCode::CONFLICT,
                format!(
                    "reference {:?} was already used for a different message",
                    request.reference
                ),
            );
        }
        request.id = Some(previous.id.clone());
        return json_response(
            StatusCode::OK,
            json!({ "id": previous.id, "status": "queued" }),
        );
    }
    let id = format!("SM{}", uuid::Uuid::new_v4().simple());
    state.by_reference.insert(
        request.reference.clone(),
        Accepted {
            id: id.clone(),
            to: request.to.clone(),
            from: request.from.clone(),
            body: request.body.clone(),
        },
    );
    request.id = Some(id.clone());
    request.sent = true;
    match &failure {
        Some(failure) => scripted(failure),
        None => json_response(StatusCode::CREATED, json!({ "id": id, "status": "queued" })),
    }
}

#[cfg(test)]
mod tests {
    use super::is_e164;

    #[test]
    fn e164_numbers() {
        assert!(is_e164("+15145550123"));
        assert!(is_e164("+33612345678"));
        assert!(!is_e164("5145550123"));
        assert!(!is_e164("+0145550123"));
        assert!(!is_e164("+1514555012a"));
        assert!(!is_e164("+123"));
        assert!(!is_e164("+1234567890123456"));
    }
}
