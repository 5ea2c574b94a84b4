//! # crm-tests: the end-to-end test harness
//!
//! Every test gets its own PostgreSQL database (`crm_test_<id>`), its own
//! JetStream stream (`T_<ID>`) and subject prefix (`t<id>`), so tests run in
//! parallel against one PostgreSQL and one NATS server without seeing each
//! other. Both are removed when the test's [`TestEnv`] is dropped, also when
//! the test fails. A missing server fails the test with a message saying how
//! to start it; nothing is skipped.
//!
//! ```no_run
//! # async fn example() {
//! let app = crm_tests::TestApp::spawn().await;
//! let admin = app.token("acme", event_schemas::Role::Admin);
//! let created = app.post("/v1/customers", &admin, serde_json::json!({"first_name": "A", "last_name": "B", "email": "a@example.com"})).await;
//! assert_eq!(created.status, 201);
//! # }
//! ```

use std::time::Duration;

use api_common::{JwtKeys, Principal};
use async_nats::jetstream;
use crm::app::{self, Parts, Running};
use crm::config::Config;
use crm::infra::{self, Infra};
use event_schemas::{Role, TenantId};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Where the test servers are: `CRM_TEST_POSTGRES_URL` (server URL without a
/// database) and `CRM_TEST_NATS_URL`, defaulting to localhost.
pub fn server_urls() -> (String, String) {
    (
        env_or("CRM_TEST_POSTGRES_URL", POSTGRES_URL),
        env_or("CRM_TEST_NATS_URL", NATS_URL),
    )
}

/// The Standard Webhooks secret of the `email` and `sms` callback
/// providers of [`TestApp::spawn_sending`].
pub const CALLBACK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// This package's `crm-tests-render-worker` binary, which cargo builds before the
/// tests (beside the test binary's `deps/` directory).
pub fn render_worker() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().expect("the test binary's directory");
    let dir = if dir.ends_with("deps") {
        dir.parent().expect("the target directory")
    } else {
        dir
    };
    let worker = dir.join("crm-tests-render-worker");
    assert!(
        worker.exists(),
        "{} is missing: build the tests with cargo (it builds the crm-tests binaries first)",
        worker.display()
    );
    worker
}

/// One test's private database, stream and subject prefix.
pub struct TestEnv {
    pub id: String,
    pub config: Config,
    pub infra: Infra,
    server_url: String,
    db_name: String,
}

impl TestEnv {
    /// A fresh environment on the default servers; panics with instructions
    /// when a server is missing.
    pub async fn new() -> Self {
        let (pg, nats) = server_urls();
        match Self::try_new(&pg, &nats).await {
            Ok(env) => env,
            Err(e) => panic!("test environment unavailable: {e:#}"),
        }
    }

    /// A fresh environment on the given servers.
    pub async fn try_new(postgres_server_url: &str, nats_url: &str) -> anyhow::Result<Self> {
        // `RUST_LOG=warn cargo test …` shows the system's logs (e.g. a 500's cause).
        if std::env::var_os("RUST_LOG").is_some() {
            crm::telemetry::init_tracing(crm::config::LogFormat::Text);
        }
        let id = Uuid::new_v4().simple().to_string()[..16].to_owned();
        let db_name = format!("crm_test_{id}");
        let mut config = Config::local();
        config.database_url = format!("{}/{db_name}", postgres_server_url.trim_end_matches('/'));
        config.nats_url = nats_url.to_owned();
        config.nats_stream = format!("T_{}", id.to_uppercase());
        config.subject_prefix = format!("t{id}");
        config.bind = "127.0.0.1:0".parse()?;
        config.db_max_connections = 12;
        // Tests fire requests faster than any user; the rate-limit tests set their own.
        config.rate_limit_tenant_rps = 0.0;
        config.rate_limit_user_rps = 0.0;
        config.inbound_rps_per_key = 0.0;
        config.import_poll_ms = 50;
        // The report tests run the worker themselves, with a test clock
        // (`TestApp::report_worker`).
        config.report_poll_ms = 0;
        // Tests run the time-driven policies themselves, for a chosen day.
        config.policy_interval_secs = 0;
        config.render_worker = Some(render_worker().display().to_string());
        // The sending tests start the sender with their own SMTP server
        // and SMS provider (`TestApp::spawn_sending`).
        config.sender_poll_ms = 0;
        // The webhook tests run the worker themselves, on a test clock, and
        // deliver to receivers on 127.0.0.1.
        config.webhook_poll_ms = 0;
        config.webhook_allow_private = true;
        let infra = match Infra::connect(config.clone()).await {
            Ok(infra) => infra,
            Err(e) => {
                // The database may exist already; leave nothing behind.
                let _ = drop_database(postgres_server_url, &db_name).await;
                return Err(e);
            }
        };
        Ok(Self {
            id,
            config,
            infra,
            server_url: postgres_server_url.to_owned(),
            db_name,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.infra.pool
    }

    pub fn js(&self) -> &jetstream::Context {
        &self.infra.js
    }

    /// The stream's last sequence.
    pub async fn stream_head(&self) -> u64 {
        self.infra
            .js
            .get_stream(&self.config.nats_stream)
            .await
            .expect("stream exists")
            .info()
            .await
            .expect("stream info")
            .state
            .last_sequence
    }

    /// Every message in the stream, in order: (stream seq, headers, envelope).
    pub async fn stream_messages(&self) -> Vec<(u64, event_schemas::CloudEvent, Option<String>)> {
        let stream = self
            .infra
            .js
            .get_stream(&self.config.nats_stream)
            .await
            .expect("stream exists");
        let head = self.stream_head().await;
        let mut out = Vec::new();
        for seq in 1..=head {
            let message = stream.get_raw_message(seq).await.expect("message exists");
            let msg_id = message
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_owned());
            let event: event_schemas::CloudEvent =
                serde_json::from_slice(&message.payload).expect("a CloudEvent");
            out.push((seq, event, msg_id));
        }
        out
    }
}

impl TestEnv {
    /// An export of `tenant`'s history (all tenants when `None`) from
    /// `from`, as the NDJSON text `crm events export` writes.
    pub async fn export_text(
        &self,
        tenant: Option<&str>,
        from: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        use futures::TryStreamExt;
        let lines: Vec<event_schemas::integrity::ExportLine> =
            relay::history::export(self.pool().clone(), tenant.map(str::to_owned), from, None)
                .try_collect()
                .await
                .expect("an export");
        lines
            .iter()
            .map(|l| serde_json::to_string(l).expect("a line") + "\n")
            .collect()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let nats_url = self.config.nats_url.clone();
        let db_name = self.db_name.clone();
        let stream = self.config.nats_stream.clone();
        // Drop runs on the test's runtime, which is blocked while we wait:
        // clean up from a thread with its own runtime and its own
        // connections (the pool's and the NATS client's live on the test's).
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let limit = Duration::from_secs(10);
                if let Ok(Ok(client)) =
                    tokio::time::timeout(limit, async_nats::connect(&nats_url)).await
                {
                    let js = jetstream::new(client);
                    let _ = tokio::time::timeout(limit, js.delete_stream(&stream)).await;
                }
                if let Ok(Err(e)) | Err(e) =
                    tokio::time::timeout(limit, drop_database(&server_url, &db_name))
                        .await
                        .map_err(|_| sqlx::Error::PoolTimedOut)
                {
                    eprintln!("could not drop test database {db_name}: {e}");
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Drops a test database; FORCE ends any session still connected to it.
async fn drop_database(server_url: &str, db_name: &str) -> Result<(), sqlx::Error> {
    let mut conn: sqlx::PgConnection =
        sqlx::Connection::connect(&format!("{server_url}/postgres")).await?;
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
    ))
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// The response of a test request.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    /// An answer with its body as JSON, as text when it is not JSON, and
    /// `Null` when empty.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `id` of a command response.
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {} {}", self.status, self.body))
            .to_owned()
    }

    pub fn version(&self) -> u64 {
        self.body["version"]
            .as_u64()
            .unwrap_or_else(|| panic!("no version in {} {}", self.status, self.body))
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts an RFC 9457 problem of this status and kind.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, kind: &str) -> &Self {
        self.expect(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "errors are problem+json"
        );
        assert_eq!(
            self.body["type"],
            format!("urn:crm:problem:{kind}"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        self
    }

    /// Asserts that a problem's `errors` name `field`.
    #[track_caller]
    pub fn expect_field(&self, field: &str) -> &Self {
        assert!(
            self.problem_fields().iter().any(|f| f == field),
            "no error names `{field}`: {}",
            self.body
        );
        self
    }

    /// The field names of a problem's `errors`.
    pub fn problem_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A whole running system (HTTP, relay, projectors) on a private environment.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub keys: JwtKeys,
    running: Option<Running>,
    // Dropped last: the app stops before its database goes.
    pub env: TestEnv,
}

impl TestApp {
    /// Starts everything (`crm serve` in-process) on a fresh environment.
    pub async fn spawn() -> Self {
        Self::spawn_with(Parts::all()).await
    }

    /// Starts everything with the sender on, sending through `smtp` and
    /// the SMS provider at `sms_url` (bearer `sms_token`), retrying after 1 s.
    pub async fn spawn_sending(smtp_port: u16, sms_url: &str, sms_token: &str) -> Self {
        let mut env = TestEnv::new().await;
        let config = &mut env.infra.config;
        config.smtp_url = Some(format!("smtp://127.0.0.1:{smtp_port}").into());
        config.sms_url = Some(sms_url.to_owned());
        config.sms_token = Some(sms_token.to_owned().into());
        config.sender_poll_ms = 50;
        config.sender_first_retry_secs = 1;
        config.callback_secrets = vec![
            format!("email={CALLBACK_SECRET}"),
            format!("sms={CALLBACK_SECRET}"),
        ];
        Self::start_on(env, Parts::all()).await
    }

    pub async fn spawn_with(parts: Parts) -> Self {
        let env = TestEnv::new().await;
        Self::start_on(env, parts).await
    }

    pub async fn start_on(env: TestEnv, parts: Parts) -> Self {
        let running = app::start(&env.infra, parts, Some(crm::telemetry::metrics()))
            .await
            .expect("the app starts");
        let addr = running.addr.expect("HTTP is part of the app");
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            keys: JwtKeys::hs256(&env.config.jwt_secret_or_dev()),
            running: Some(running),
            env,
        }
    }

    /// A webhook worker on this app's database, with `clock`, no jitter
    /// (0.5) and `config` (the default schedule, 4 in flight per endpoint,
    /// a 2 s timeout: tests drive it with `run_once`).
    pub fn webhook_worker(
        &self,
        clock: std::sync::Arc<dyn outbound::Clock>,
        config: processes::webhooks::WorkerConfig,
    ) -> processes::webhooks::WebhookWorker {
        let stores = event_store::Stores::new(self.pool().clone(), self.env.infra.keystore.clone());
        processes::webhooks::WebhookWorker {
            pool: self.pool().clone(),
            webhooks: stores.get(),
            deliveries: stores.get(),
            keys: self.env.infra.keystore.clone(),
            deliverer: outbound::Deliverer::builder(
                self.env.infra.config.webhook_policy(),
                self.env.infra.webhook_resolver.clone(),
            )
            .timeout(Duration::from_secs(2))
            .build()
            .expect("a webhook client"),
            clock,
            jitter: std::sync::Arc::new(|| 0.5),
            config,
        }
    }

    /// A report worker over this app's database, with `clock`.
    pub fn report_worker(
        &self,
        clock: std::sync::Arc<dyn outbound::Clock>,
    ) -> processes::reports::ReportWorker {
        processes::reports::ReportWorker {
            pool: self.pool().clone(),
            stores: event_store::Stores::new(self.pool().clone(), self.env.infra.keystore.clone()),
            clock,
            config: self.env.infra.config.report_worker(),
        }
    }

    /// Stops the app's parts (the environment stays until drop).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    pub fn pool(&self) -> &PgPool {
        self.env.pool()
    }

    /// A token for a new user of `tenant` in `role`.
    pub fn token(&self, tenant: &str, role: Role) -> String {
        self.token_for(tenant, Uuid::new_v4(), role)
    }

    pub fn token_for(&self, tenant: &str, user: Uuid, role: Role) -> String {
        self.keys
            .issue(
                &Principal::new(
                    TenantId::parse(tenant).expect("valid tenant"),
                    user,
                    role,
                    vec![],
                ),
                chrono::Duration::hours(1),
            )
            .expect("a token")
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        send(&self.client, &self.base, method, path, token, body, headers).await
    }

    /// A request whose body is sent byte for byte as given.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> TestResponse {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .body(body.as_ref().to_vec());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        TestResponse::read(request.send().await.expect("the request is answered")).await
    }

    /// A GET whose answer is read as bytes (a file download): status,
    /// headers, body.
    pub async fn bytes(
        &self,
        path: &str,
        token: &str,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("the request is answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a body").to_vec();
        (status, headers, body)
    }

    /// Another copy of the app on this test's database and stream, with its
    /// own pool and caches: a second process, inside the test process.
    pub async fn another_instance(&self, parts: Parts) -> Instance {
        let infra = Infra::connect(self.env.config.clone())
            .await
            .expect("the second instance connects");
        let running = app::start(&infra, parts, None)
            .await
            .expect("the second instance starts");
        let addr = running.addr.expect("the second instance serves HTTP");
        Instance {
            base: format!("http://{addr}"),
            client: self.client.clone(),
            running: Some(running),
            infra,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.request(reqwest::Method::GET, path, Some(token), None, &[])
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(reqwest::Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(reqwest::Method::PATCH, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.request(reqwest::Method::DELETE, path, Some(token), None, &[])
            .await
    }

    /// Registers a customer and returns its id.
    pub async fn customer(&self, token: &str, email: &str) -> String {
        let response = self
            .post(
                "/v1/customers",
                token,
                serde_json::json!({"first_name": "Test", "last_name": "Customer", "email": email}),
            )
            .await;
        response.expect(201);
        response.id()
    }

    /// Opens a lead for `customer` and returns its id.
    pub async fn lead(&self, token: &str, customer: &str) -> String {
        let response = self
            .post(
                "/v1/leads",
                token,
                serde_json::json!({"customer_id": customer, "source": "website"}),
            )
            .await;
        response.expect(201);
        response.id()
    }

    /// Waits until every event is published and every projection has
    /// applied the whole stream (or panics after 15 s).
    pub async fn settle(&self) {
        settle(&self.env).await;
    }
}

/// A second copy of the app (see [`TestApp::another_instance`]).
pub struct Instance {
    pub base: String,
    client: reqwest::Client,
    running: Option<Running>,
    pub infra: Infra,
}

impl Instance {
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> TestResponse {
        send(
            &self.client,
            &self.base,
            method,
            path,
            Some(token),
            body,
            &[],
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown_token().cancel();
        }
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    TestResponse::read(request.send().await.expect("the request is answered")).await
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            // Stop the parts before the environment is removed.
            running.shutdown_token().cancel();
            drop(running);
        }
    }
}

/// Waits until the relay has published every event and each projection has
/// applied the stream's head, with no event committed meanwhile (a process
/// that commits a command as it catches up, e.g. the journey a converted
/// quote books, is waited for too).
pub async fn settle(env: &TestEnv) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let count = || async {
        event_store::lookups::event_count(env.pool())
            .await
            .expect("the event count")
    };
    loop {
        let before = count().await;
        let relay = relay::status(env.pool(), &env.config.nats_stream)
            .await
            .expect("relay status");
        let statuses = projections::status(
            env.pool(),
            env.js(),
            &env.config.nats_stream,
            &env.infra.consumers(),
        )
        .await
        .expect("projection status");
        if let Some(failed) = statuses.iter().find(|s| s.state == "failed") {
            panic!("projection {} failed: {:?}", failed.name, failed.error);
        }
        if relay.unpublished == 0
            && statuses.iter().all(|s| s.lag == 0 && s.state == "running")
            && count().await == before
        {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "the pipeline did not settle in 15 s: relay {relay:?}, projections {statuses:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Connects to the servers the way the app does (for the missing-server test).
pub async fn probe_servers(postgres_url: &str, nats_url: &str) -> anyhow::Result<()> {
    infra::connect_postgres(postgres_url, 1).await?;
    infra::connect_nats(nats_url).await?;
    Ok(())
}

/// The Python of the test peers' virtualenv (scripts/test-peers.sh): an
/// interpreter with an independent iCalendar parser. Panics, saying how to
/// install it, when it is missing.
pub fn peer_python() -> std::path::PathBuf {
    let path = std::env::var_os("CRM_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
                });
            target.join("test-venv/bin/python")
        });
    assert!(
        path.exists(),
        "the test peers' Python is missing at {}: run scripts/test-peers.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Parses an iCalendar text with Python's `icalendar` (not the library that
/// wrote it) and returns its events as JSON:
/// `[{uid, summary, location, description, status, start, end}]` with times
/// in RFC 3339 (UTC).
pub fn parse_ics(text: &str) -> Value {
    use std::io::Write;
    const SCRIPT: &str = r#"
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.read())
out = []
for e in cal.walk('VEVENT'):
    out.append({
        'uid': str(e.get('UID')),
        'summary': str(e.get('SUMMARY')),
        'location': str(e.get('LOCATION')),
        'description': str(e.get('DESCRIPTION')),
        'status': str(e.get('STATUS')),
        'start': e.decoded('DTSTART').isoformat(),
        'end': e.decoded('DTEND').isoformat(),
    })
print(json.dumps({'name': str(cal.get('X-WR-CALNAME') or cal.get('NAME')), 'events': out}))
"#;
    let mut child = std::process::Command::new(peer_python())
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the test peers' Python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("the feed is written to the parser");
    let output = child.wait_with_output().expect("the parser finishes");
    assert!(
        output.status.success(),
        "icalendar could not parse the feed: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the parser prints JSON")
}
