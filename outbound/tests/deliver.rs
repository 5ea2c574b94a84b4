//! One delivery attempt against a real HTTP server on 127.0.0.1, and the
//! SSRF guard against destinations that must never be reached.
//!
//! The SSRF tests never send a packet to a private or metadata address,
//! even if the guard were broken: every name that resolves to a forbidden
//! address lists a local tripwire listener first (so a broken guard would
//! connect there, and the test sees it), and IP-literal URLs are refused
//! before any socket is opened.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outbound::client::EXCERPT_LIMIT;
use outbound::{Attempt, Deliverer, Outcome, Policy, Request, StaticResolver, signing};
use standardwebhooks::Webhook;

const BODY: &str = r#"{"type":"InvoiceIssued","data":{"invoice":"INV-1","total":"12.50"}}"#;

/// What the receiver saw.
#[derive(Default)]
struct Receiver {
    secrets: Vec<String>,
    requests: Mutex<Vec<Seen>>,
    redirect_target_hits: AtomicUsize,
}

struct Seen {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    /// `Webhook::verify` with each of the receiver's secrets, in order.
    verified: Vec<Result<(), String>>,
}

impl Receiver {
    fn requests(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn receive(State(receiver): State<Arc<Receiver>>, request: HttpRequest) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/target" {
        receiver.redirect_target_hits.fetch_add(1, Ordering::SeqCst);
        return StatusCode::OK.into_response();
    }
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    let verified = receiver
        .secrets
        .iter()
        .map(|secret| {
            Webhook::new(secret)
                .unwrap()
                .verify(&body, &headers)
                .map_err(|e| e.to_string())
        })
        .collect();
    receiver.requests.lock().unwrap().push(Seen {
        path: path.clone(),
        headers,
        body,
        verified,
    });
    match path.as_str() {
        "/ok" => (StatusCode::OK, "thanks").into_response(),
        "/redirect" => (StatusCode::FOUND, [(header::LOCATION, "/target")]).into_response(),
        "/gone" => StatusCode::GONE.into_response(),
        "/busy" => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "7")],
            "slow down",
        )
            .into_response(),
        "/down" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "120")],
        )
            .into_response(),
        "/down-until" => {
            let at = chrono::Utc::now() + chrono::Duration::seconds(600);
            let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, date)],
            )
                .into_response()
        }
        "/broken" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::RETRY_AFTER, "60")],
            "oops",
        )
            .into_response(),
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::OK.into_response()
        }
        "/big" => (StatusCode::OK, "x".repeat(1 << 20)).into_response(),
        "/big-error" => (StatusCode::BAD_REQUEST, "€".repeat(100_000)).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A receiver on 127.0.0.1:<random port> checking signatures with `secrets`.
async fn start_receiver(secrets: &[&str]) -> (SocketAddr, Arc<Receiver>) {
    let receiver = Arc::new(Receiver {
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        ..Receiver::default()
    });
    let app = Router::new()
        .fallback(receive)
        .with_state(Arc::clone(&receiver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, receiver)
}

const DEV: Policy = Policy {
    allow_private: true,
};
const STRICT: Policy = Policy {
    allow_private: false,
};

fn deliverer(policy: Policy, resolver: Arc<StaticResolver>) -> Deliverer {
    Deliverer::builder(policy, resolver).build().unwrap()
}

fn request(url: String, secrets: &[&str]) -> Request {
    Request {
        url,
        msg_id: "msg_2ZkqW0cR".to_owned(),
        timestamp: chrono::Utc::now().timestamp(),
        body: Bytes::from_static(BODY.as_bytes()),
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        custom_headers: Vec::new(),
    }
}

async fn send(receiver: SocketAddr, path: &str, secret: &str) -> Attempt {
    deliverer(DEV, Arc::new(StaticResolver::new()))
        .deliver(request(format!("http://{receiver}{path}"), &[secret]))
        .await
}

#[tokio::test]
async fn a_2xx_is_delivered_with_valid_standard_webhooks_headers() {
    let current = signing::new_secret();
    let previous = signing::new_secret();
    let (addr, receiver) = start_receiver(&[&current, &previous]).await;
    let attempt = deliverer(DEV, Arc::new(StaticResolver::new()))
        .deliver(request(format!("http://{addr}/ok"), &[&current, &previous]))
        .await;
    assert_eq!(attempt.outcome, Outcome::Delivered, "{attempt:?}");
    assert_eq!(attempt.status, Some(200));
    assert_eq!(attempt.response_excerpt, "thanks");
    assert_eq!(attempt.error, None);
    assert_eq!(attempt.retry_after, None);

    let requests = receiver.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let seen = &requests[0];
    assert_eq!(seen.body, BODY.as_bytes());
    // Each secret verifies on its own: a receiver may hold either.
    assert_eq!(seen.verified, vec![Ok(()), Ok(())]);
    assert_eq!(seen.headers["webhook-id"], "msg_2ZkqW0cR");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["user-agent"], "MoversCRM-Webhooks/1");
    let signature = seen.headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
}

#[tokio::test]
async fn a_receiver_with_another_secret_cannot_verify() {
    let ours = signing::new_secret();
    let theirs = signing::new_secret();
    let (addr, receiver) = start_receiver(&[&theirs]).await;
    let attempt = send(addr, "/ok", &ours).await;
    assert_eq!(attempt.outcome, Outcome::Delivered);
    let requests = receiver.requests.lock().unwrap();
    assert!(requests[0].verified[0].is_err());
}

#[tokio::test]
async fn custom_headers_arrive() {
    let secret = signing::new_secret();
    let (addr, receiver) = start_receiver(&[&secret]).await;
    let mut req = request(format!("http://{addr}/ok"), &[&secret]);
    req.custom_headers = vec![
        ("X-Api-Key".to_owned(), "k-123".to_owned()),
        ("X-Tenant".to_owned(), "movers north".to_owned()),
    ];
    let attempt = deliverer(DEV, Arc::new(StaticResolver::new()))
        .deliver(req)
        .await;
    assert_eq!(attempt.outcome, Outcome::Delivered, "{attempt:?}");
    let requests = receiver.requests.lock().unwrap();
    assert_eq!(requests[0].headers["x-api-key"], "k-123");
    assert_eq!(requests[0].headers["x-tenant"], "movers north");
    assert_eq!(requests[0].verified, vec![Ok(())]);
}

#[tokio::test]
async fn invalid_requests_are_not_sent() {
    let secret = signing::new_secret();
    let (addr, receiver) = start_receiver(&[&secret]).await;
    let deliverer = deliverer(DEV, Arc::new(StaticResolver::new()));

    let mut reserved = request(format!("http://{addr}/ok"), &[&secret]);
    reserved.custom_headers = vec![("Authorization".to_owned(), "Bearer x".to_owned())];
    let attempt = deliverer.deliver(reserved).await;
    assert_eq!(attempt.outcome, Outcome::Invalid);
    assert!(attempt.error.unwrap().contains("Authorization"));

    let attempt = deliverer
        .deliver(request(format!("http://{addr}/ok"), &["whsec_short"]))
        .await;
    assert_eq!(attempt.outcome, Outcome::Invalid);

    let attempt = deliverer
        .deliver(request(format!("http://{addr}/ok"), &[]))
        .await;
    assert_eq!(attempt.outcome, Outcome::Invalid);
    assert_eq!(receiver.requests(), 0);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_retried() {
    let secret = signing::new_secret();
    let (addr, receiver) = start_receiver(&[&secret]).await;
    let attempt = send(addr, "/redirect", &secret).await;
    assert_eq!(attempt.outcome, Outcome::Retry);
    assert_eq!(attempt.status, Some(302));
    let error = attempt.error.unwrap();
    assert!(
        error.contains("redirects are not followed") && error.contains("/target"),
        "{error}"
    );
    assert_eq!(receiver.requests(), 1);
    assert_eq!(receiver.redirect_target_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_410_is_gone() {
    let secret = signing::new_secret();
    let (addr, _receiver) = start_receiver(&[&secret]).await;
    let attempt = send(addr, "/gone", &secret).await;
    assert_eq!(attempt.outcome, Outcome::Gone);
    assert_eq!(attempt.status, Some(410));
}

#[tokio::test]
async fn retry_after_is_read_from_429_and_503_only() {
    let secret = signing::new_secret();
    let (addr, _receiver) = start_receiver(&[&secret]).await;

    let busy = send(addr, "/busy", &secret).await;
    assert_eq!(busy.outcome, Outcome::Retry);
    assert_eq!(busy.status, Some(429));
    assert_eq!(busy.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(busy.response_excerpt, "slow down");

    let down = send(addr, "/down", &secret).await;
    assert_eq!(down.outcome, Outcome::Retry);
    assert_eq!(down.status, Some(503));
    assert_eq!(down.retry_after, Some(Duration::from_secs(120)));

    // An HTTP date 600 s ahead (seconds of wall clock may pass meanwhile).
    let until = send(addr, "/down-until", &secret).await;
    let wait = until.retry_after.unwrap();
    assert!(
        wait > Duration::from_secs(500) && wait <= Duration::from_secs(600),
        "{wait:?}"
    );

    let broken = send(addr, "/broken", &secret).await;
    assert_eq!(broken.outcome, Outcome::Retry);
    assert_eq!(broken.status, Some(500));
    assert_eq!(broken.retry_after, None);
    assert_eq!(broken.response_excerpt, "oops");
    assert!(broken.error.unwrap().contains("500"));

    let missing = send(addr, "/nowhere", &secret).await;
    assert_eq!(missing.outcome, Outcome::Retry);
    assert_eq!(missing.status, Some(404));
}

#[tokio::test]
async fn a_hanging_receiver_times_out_and_is_retried() {
    let secret = signing::new_secret();
    let (addr, receiver) = start_receiver(&[&secret]).await;
    let deliverer = Deliverer::builder(DEV, Arc::new(StaticResolver::new()))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let attempt = deliverer
        .deliver(request(format!("http://{addr}/hang"), &[&secret]))
        .await;
    assert_eq!(attempt.outcome, Outcome::Retry);
    assert_eq!(attempt.status, None);
    let error = attempt.error.unwrap();
    assert!(error.contains("timed out"), "{error}");
    assert_eq!(receiver.requests(), 1);
}

#[tokio::test]
async fn the_excerpt_is_capped_at_4096_bytes() {
    let secret = signing::new_secret();
    let (addr, _receiver) = start_receiver(&[&secret]).await;
    let attempt = send(addr, "/big", &secret).await;
    assert_eq!(attempt.outcome, Outcome::Delivered);
    assert_eq!(attempt.response_excerpt.len(), EXCERPT_LIMIT);
    assert!(attempt.response_excerpt.bytes().all(|b| b == b'x'));

    // 4096 is not a multiple of 3: the cut `€` is dropped, not mangled.
    let attempt = send(addr, "/big-error", &secret).await;
    assert_eq!(attempt.outcome, Outcome::Retry);
    assert_eq!(attempt.response_excerpt, "€".repeat(EXCERPT_LIMIT / 3));
}

#[tokio::test]
async fn names_are_resolved_by_the_injected_resolver_at_every_attempt() {
    let secret = signing::new_secret();
    let (addr, receiver) = start_receiver(&[&secret]).await;
    let resolver = Arc::new(StaticResolver::new().with("hooks.test", [addr.ip()]));
    let deliverer = Deliverer::builder(DEV, Arc::clone(&resolver) as _)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for expected in 1..=2 {
        let attempt = deliverer
            .deliver(request(
                format!("http://hooks.test:{}/ok", addr.port()),
                &[&secret],
            ))
            .await;
        assert_eq!(attempt.outcome, Outcome::Delivered, "{attempt:?}");
        assert_eq!(resolver.lookups(), expected);
    }
    assert_eq!(receiver.requests(), 2);
    let requests = receiver.requests.lock().unwrap();
    assert_eq!(
        requests[0].headers["host"],
        format!("hooks.test:{}", addr.port()).as_str()
    );
    assert_eq!(requests[1].path, "/ok");
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_retried() {
    let attempt = deliverer(STRICT, Arc::new(StaticResolver::new()))
        .deliver(request(
            "https://nowhere.example/".to_owned(),
            &[&signing::new_secret()],
        ))
        .await;
    // DNS may answer next time: not a refusal.
    assert_eq!(attempt.outcome, Outcome::Retry, "{attempt:?}");
    assert_eq!(attempt.status, None);
    assert!(attempt.error.unwrap().contains("could not be resolved"));
}

/// A listener nobody should ever connect to: connections that reached it
/// wait in its accept queue, so counting them needs no waiting.
struct Tripwire {
    listener: StdListener,
}

impl Tripwire {
    fn bind(ip: &str) -> Self {
        let listener = StdListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        Self { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn ip(&self) -> IpAddr {
        self.listener.local_addr().unwrap().ip()
    }

    fn connections(&self) -> usize {
        let mut count = 0;
        loop {
            match self.listener.accept() {
                Ok(_) => count += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return count,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[tokio::test]
async fn names_resolving_to_forbidden_addresses_are_refused_without_connecting() {
    let v4 = Tripwire::bind("127.0.0.1");
    let v6 = Tripwire::bind("::1");
    // The tripwire comes first, so a broken guard would connect to it (and
    // be seen) rather than to 10.0.0.1 or the metadata service.
    let resolver = Arc::new(
        StaticResolver::new()
            .with("loopback.evil.example", [v4.ip()])
            .with("private.evil.example", [v4.ip(), ip("10.0.0.1")])
            .with("metadata.evil.example", [v4.ip(), ip("169.254.169.254")])
            .with("v6.evil.example", [v6.ip()]),
    );
    let deliverer = Deliverer::builder(STRICT, Arc::clone(&resolver) as _)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let cases = [
        ("loopback.evil.example", v4.port(), "127.0.0.1", "loopback"),
        ("private.evil.example", v4.port(), "10.0.0.1", "private"),
        (
            "metadata.evil.example",
            v4.port(),
            "169.254.169.254",
            "metadata",
        ),
        ("v6.evil.example", v6.port(), "::1", "loopback"),
    ];
    for (n, (host, port, address, why)) in cases.into_iter().enumerate() {
        let attempt = deliverer
            .deliver(request(
                format!("https://{host}:{port}/hook"),
                &[&signing::new_secret()],
            ))
            .await;
        assert_eq!(attempt.outcome, Outcome::Refused, "{host}: {attempt:?}");
        assert_eq!(attempt.status, None);
        let error = attempt.error.unwrap();
        assert!(
            error.contains(host) && error.contains(address) && error.contains(why),
            "{host}: {error}"
        );
        // It was the resolver's answer that was refused, at this attempt.
        assert_eq!(resolver.lookups(), n + 1);
    }
    assert_eq!(v4.connections(), 0);
    assert_eq!(v6.connections(), 0);
}

#[tokio::test]
async fn ip_literal_destinations_are_refused_before_any_socket() {
    let v4 = Tripwire::bind("127.0.0.1");
    let v6 = Tripwire::bind("::1");
    let resolver = Arc::new(StaticResolver::new());
    let deliverer = deliverer(STRICT, Arc::clone(&resolver));
    let cases = [
        (format!("https://127.0.0.1:{}/", v4.port()), "127.0.0.1"),
        (format!("https://127.1:{}/", v4.port()), "127.0.0.1"),
        (
            format!("https://[::ffff:127.0.0.1]:{}/", v4.port()),
            "::ffff:127.0.0.1",
        ),
        (format!("https://[::1]:{}/", v6.port()), "::1"),
        ("https://127.0.0.1/".to_owned(), "127.0.0.1"),
        ("https://10.1.2.3/".to_owned(), "10.1.2.3"),
        (
            "https://169.254.169.254/latest/meta-data".to_owned(),
            "169.254.169.254",
        ),
        ("https://[::1]/".to_owned(), "::1"),
    ];
    for (url, address) in cases {
        let attempt = deliverer
            .deliver(request(url.clone(), &[&signing::new_secret()]))
            .await;
        assert_eq!(attempt.outcome, Outcome::Refused, "{url}: {attempt:?}");
        let error = attempt.error.unwrap();
        assert!(error.contains(address), "{url}: {error}");
    }
    assert_eq!(resolver.lookups(), 0);
    assert_eq!(v4.connections(), 0);
    assert_eq!(v6.connections(), 0);
}

#[tokio::test]
async fn plain_http_is_refused_unless_private_destinations_are_allowed() {
    let trip = Tripwire::bind("127.0.0.1");
    let resolver = Arc::new(StaticResolver::new().with("plain.example", [trip.ip()]));
    let attempt = deliverer(STRICT, Arc::clone(&resolver))
        .deliver(request(
            format!("http://plain.example:{}/hook", trip.port()),
            &[&signing::new_secret()],
        ))
        .await;
    assert_eq!(attempt.outcome, Outcome::Refused);
    let error = attempt.error.unwrap();
    assert!(error.contains("scheme `http`"), "{error}");
    // Refused for its scheme, before the name was even looked up.
    assert_eq!(resolver.lookups(), 0);
    assert_eq!(trip.connections(), 0);
}

#[test]
fn the_tripwire_counts_connections() {
    // Without this, "0 connections" above could mean a blind tripwire.
    let trip = Tripwire::bind("127.0.0.1");
    let _a = std::net::TcpStream::connect((trip.ip(), trip.port())).unwrap();
    let b = std::net::TcpStream::connect((trip.ip(), trip.port())).unwrap();
    drop(b);
    assert_eq!(trip.connections(), 2);
    assert_eq!(trip.connections(), 0);
}
