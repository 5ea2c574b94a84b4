//! Crash tests: the real `crm` binary, killed with SIGKILL.
//!
//! These need the binary itself (`CARGO_BIN_EXE_crm`, which cargo gives
//! only to the root package's integration tests), so they live here rather
//! than in `crm-tests`. Like `crm-tests`, each test gets its own database,
//! JetStream stream and subject prefix, removed when the test ends (also
//! when it fails), and a missing PostgreSQL or NATS fails it with
//! instructions to start them (`CRM_TEST_POSTGRES_URL`, `CRM_TEST_NATS_URL`
//! point elsewhere). Each server's output goes to a file under the target
//! directory, named (with the last lines) when the test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use serde_json::{Value, json};
use test_peers::webhooks::{Answer, WebhookReceiver};
use uuid::Uuid;

const CRM: &str = env!("CARGO_BIN_EXE_crm");

/// How long anything may take before the test gives up (a deadline, never
/// an assertion on how long it took).
const WAIT: Duration = Duration::from_secs(60);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `crm`, with none of this environment's own settings (`CRM_*`,
/// `DATABASE_URL`, `NATS_URL`): only what the test gives it.
fn crm() -> Command {
    let mut command = Command::new(CRM);
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str()
            && (name.starts_with("CRM_") || name == "DATABASE_URL" || name == "NATS_URL")
        {
            command.env_remove(name);
        }
    }
    command
}

/// A port nothing listens on now (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// One test's private database, stream and subject prefix; removed on drop.
struct TestEnv {
    id: String,
    server_url: String,
    nats_url: String,
    db_name: String,
    stream: String,
    prefix: String,
}

impl TestEnv {
    /// Creates the database (checking PostgreSQL and NATS are there); panics
    /// saying how to start a missing server.
    async fn new() -> Self {
        let server_url = env_or(
            "CRM_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432",
        )
        .trim_end_matches('/')
        .to_owned();
        let nats_url = env_or("CRM_TEST_NATS_URL", "nats://127.0.0.1:4222");
        let id = Uuid::new_v4().simple().to_string()[..16].to_owned();
        let db_name = format!("crm_test_{id}");
        match crm::infra::connect_postgres(&format!("{server_url}/{db_name}"), 1).await {
            Ok(pool) => pool.close().await,
            Err(e) => {
                let _ = drop_database(&server_url, &db_name).await;
                panic!("test environment unavailable: {e:#}");
            }
        }
        // From here on, drop removes the database.
        let env = Self {
            stream: format!("T_{}", id.to_uppercase()),
            prefix: format!("t{id}"),
            id,
            server_url,
            nats_url,
            db_name,
        };
        if let Err(e) = crm::infra::connect_nats(&env.nats_url).await {
            panic!("test environment unavailable: {e:#}");
        }
        env
    }

    fn database_url(&self) -> String {
        format!("{}/{}", self.server_url, self.db_name)
    }

    /// Where this test's servers write report files before storing them
    /// (removed on drop, with what a killed server left there).
    fn work_dir(&self) -> PathBuf {
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{}-reports", self.id));
        std::fs::create_dir_all(&dir).expect("the report work directory");
        dir
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{}-reports", self.id)),
        );
        let server_url = self.server_url.clone();
        let nats_url = self.nats_url.clone();
        let db_name = self.db_name.clone();
        let stream = self.stream.clone();
        // Drop runs on the test's runtime: clean up from a thread with its
        // own runtime and connections.
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

/// A `crm serve` process on the test's environment. Dropping it kills it;
/// when the test fails, its output's path and last lines are printed.
struct Server {
    name: &'static str,
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// Starts `crm serve` on a free port and waits until `/readyz` says 200.
    async fn start(env: &TestEnv, name: &'static str) -> Server {
        let port = free_port();
        let log =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{}-{name}.log", env.id));
        let out = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().expect("the log file, twice");
        let child = crm()
            .arg("serve")
            .env("DATABASE_URL", env.database_url())
            .env("NATS_URL", &env.nats_url)
            .env("CRM_NATS_STREAM", &env.stream)
            .env("CRM_SUBJECT_PREFIX", &env.prefix)
            .env("CRM_BIND", format!("127.0.0.1:{port}"))
            .env("CRM_DB_MAX_CONNECTIONS", "10")
            .env("CRM_RATE_LIMIT_TENANT_RPS", "0")
            .env("CRM_RATE_LIMIT_USER_RPS", "0")
            .env("CRM_POLICY_INTERVAL_SECS", "0")
            .env("CRM_SENDER_POLL_MS", "0")
            .env("CRM_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("CRM_WEBHOOK_POLL_MS", "50")
            // A claim lapses after twice this: 2 s.
            .env("CRM_WEBHOOK_TIMEOUT_MS", "1000")
            .env("CRM_REPORT_POLL_MS", "100")
            .env("CRM_REPORT_WORK_DIR", env.work_dir())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CRM} serve: {e}"));
        let mut server = Server {
            name,
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        eprintln!(
            "crm serve ({name}) is pid {} on {}, output in {}",
            server.child.id(),
            server.base,
            server.log.display()
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = server.child.try_wait().expect("the server's status") {
                panic!(
                    "crm serve ({name}) exited ({status}) before it was ready; its output is in {}",
                    server.log.display()
                );
            }
            let ready = client.get(format!("{}/readyz", server.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "crm serve ({name}) was not ready within {WAIT:?}; its output is in {}",
                server.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, nothing flushed.
    fn kill(&mut self) -> ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        let _ = self.child.kill();
        self.child.wait().expect("the killed server is reaped")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let mut text = String::new();
            let _ = File::open(&self.log).and_then(|mut f| f.read_to_string(&mut text));
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "--- crm serve ({}): output in {} (last {} lines) ---\n{}\n---",
                self.name,
                self.log.display(),
                tail.len(),
                tail.join("\n")
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// An admin token for `tenant`, minted by `crm token` (the development
/// secret the servers use, since `CRM_JWT_SECRET` is unset for them too).
fn admin_token(tenant: &str) -> String {
    let output = crm()
        .args(["token", "--tenant", tenant, "--role", "admin", "--user"])
        .arg(Uuid::new_v4().to_string())
        .output()
        .expect("crm token runs");
    assert!(
        output.status.success(),
        "crm token failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("a token is text")
        .trim()
        .to_owned()
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, &url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const CUSTOMERS: usize = 5;

/// Every subscribed event arrives at least once, with the same `webhook-id`
/// (and body) on each copy, after a kill -9 of the worker mid-delivery: the
/// attempt recorded before the request leaves a claim that lapses (2 ×
/// `CRM_WEBHOOK_TIMEOUT_MS`), and a second server takes the delivery over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_by_kill_9_is_delivered_again_with_the_same_webhook_id() {
    let started = Instant::now();
    let env = TestEnv::new().await;
    let receiver = WebhookReceiver::start(&[]).await;
    let mut first = Server::start(&env, "first").await;
    eprintln!("{:?}: the first server is ready", started.elapsed());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let admin = admin_token("acme");

    let (status, created) = call(
        &client,
        reqwest::Method::POST,
        format!("{}/v1/webhooks", first.base),
        &admin,
        Some(json!({"name": "Crash", "url": receiver.url("/hooks/crm"),
                    "event_types": ["CustomerRegistered"]})),
    )
    .await;
    assert_eq!(status, 201, "creating the webhook: {created}");
    let webhook: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    receiver.set_secrets(&[created["secret"].as_str().unwrap()]);
    // The first request is held open: the worker is mid-delivery when it dies.
    receiver.answer_next(1, Answer::Hang(Duration::from_secs(60)));

    let mut customers = BTreeSet::new();
    for n in 0..CUSTOMERS {
        let (status, body) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/v1/customers", first.base),
            &admin,
            Some(
                json!({"first_name": "Crash", "last_name": format!("Test {n}"),
                        "email": format!("crash.{n}@example.com")}),
            ),
        )
        .await;
        assert_eq!(status, 201, "registering customer {n}: {body}");
        customers.insert(body["id"].as_str().unwrap().to_owned());
    }

    let hung = receiver.wait_for(1, WAIT).await[0]
        .id
        .clone()
        .expect("the first request has a webhook-id");
    let status = first.kill();
    let killed_at = Instant::now();
    assert_eq!(
        status.signal(),
        Some(9),
        "the first server was killed, not stopped: {status}"
    );
    eprintln!(
        "{:?}: killed the first server while {hung} hung ({} request(s) received)",
        started.elapsed(),
        receiver.count()
    );

    let second = Server::start(&env, "second").await;
    eprintln!("{:?}: the second server is ready", started.elapsed());

    // Every delivery, and the cut-off one again after the kill.
    receiver.wait_for_distinct(CUSTOMERS, WAIT).await;
    let deadline = Instant::now() + WAIT;
    let received = loop {
        let received = receiver.received();
        let again = received
            .iter()
            .any(|w| w.id.as_deref() == Some(&hung) && w.received_at > killed_at);
        if again {
            break received;
        }
        assert!(
            Instant::now() < deadline,
            "{hung}, cut off by the kill, did not arrive again within {WAIT:?}: {received:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "{:?}: {} request(s), {} distinct webhook-id(s)",
        started.elapsed(),
        received.len(),
        receiver.distinct_ids().len()
    );

    // Each copy is signed, and is the delivery of one of the events: its id
    // is UUIDv5(endpoint, event) and its body that event, the same on
    // every copy.
    let mut copies: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for w in &received {
        assert!(w.valid(), "not verified or not timely: {w:?}");
        let id = w.id.clone().expect("a webhook-id");
        let body = w.json();
        assert_eq!(body["type"], "CustomerRegistered", "{w:?}");
        let event: Uuid = body["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            id,
            processes::webhooks::delivery_id(webhook, event).to_string(),
            "the webhook-id is not the delivery of event {event}: {w:?}"
        );
        copies.entry(id).or_default().push(body);
    }
    for (id, bodies) in &copies {
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "the copies of {id} differ: {bodies:#?}"
        );
    }
    let subjects: BTreeSet<String> = copies
        .values()
        .map(|b| b[0]["subject"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(subjects, customers, "one delivery per customer registered");
    assert_eq!(copies.len(), CUSTOMERS, "{copies:#?}");
    let hung_copies = received
        .iter()
        .filter(|w| w.id.as_deref() == Some(&hung))
        .map(|w| w.received_at > killed_at)
        .collect::<Vec<_>>();
    assert!(
        hung_copies.len() >= 2 && !hung_copies[0] && hung_copies[1..].iter().all(|after| *after),
        "{hung} arrives once before the kill and again after it: {received:#?}"
    );

    // The log: every delivery DELIVERED, the cut-off one in 2 attempts, the
    // first started and never finished.
    let deadline = Instant::now() + WAIT;
    let log = loop {
        let (status, listed) = call(
            &client,
            reqwest::Method::GET,
            format!("{}/v1/webhooks/{webhook}/deliveries", second.base),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 200, "{listed}");
        let items = listed["items"].as_array().unwrap().clone();
        if items.len() == CUSTOMERS && items.iter().all(|d| d["status"] == "DELIVERED") {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "the deliveries were not all DELIVERED within {WAIT:?}: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let logged: BTreeSet<String> = log
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(&logged, &receiver.distinct_ids(), "the log: {log:#?}");
    let cut_off = log.iter().find(|d| d["id"] == hung.as_str()).unwrap();
    assert_eq!(cut_off["attempts"], 2, "{cut_off:#}");
    let (status, detail) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/v1/webhooks/{webhook}/deliveries/{hung}", second.base),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    let attempts = detail["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{detail:#}");
    assert_eq!(
        attempts[0]["outcome"], "ABANDONED",
        "the first attempt was cut off by the kill, so nothing recorded its end and the \
         second attempt marked it abandoned (another outcome: the first server got its answer \
         or timed out before it died): {detail:#}"
    );
    assert_eq!(attempts[0]["status_code"], Value::Null, "{detail:#}");
    assert_eq!(attempts[1]["outcome"], "DELIVERED", "{detail:#}");

    drop(second);
    eprintln!("{:?}: done", started.elapsed());
}

/// Rows of the ledger the report crash test seeds: enough that writing the
/// spreadsheet takes seconds, so the kill lands mid-run.
const LEDGER_ROWS: i64 = 400_000;

/// A report run cut off by a kill -9 mid-generation (GENERATING, no file)
/// is generated again by the next server: attempt 2, every row, and the
/// killed server's half-written file is not what is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_cut_off_by_kill_9_is_generated_again_in_full() {
    let env = TestEnv::new().await;
    let mut first = Server::start(&env, "first").await;
    let tenant = "acme";
    let admin = admin_token(tenant);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    // The ledger read model, seeded directly (the API would take minutes).
    let pool = crm::infra::connect_postgres(&env.database_url(), 2)
        .await
        .expect("the test database");
    sqlx::query(
        "INSERT INTO read.financial_transactions
             (tenant_id, id, source, transaction_type, amount, cash_effect, currency, description, category,
              transaction_date, occurred_at, source_event_id, recorded_by, recorded_at)
         SELECT $1, gen_random_uuid(), 'manual', 'EXPENSE', 1.00 + n % 100, -1.00 - n % 100, 'CAD',
                'entry ' || n, 'misc', DATE '2026-01-01' + (n % 365)::int, now(), gen_random_uuid(),
                gen_random_uuid(), now()
           FROM generate_series(1, $2::int) AS n",
    )
    .bind(tenant)
    .bind(LEDGER_ROWS)
    .execute(&pool)
    .await
    .expect("the ledger is seeded");
    let (status, report) = call(
        &client,
        reqwest::Method::POST,
        format!("{}/v1/reports", first.base),
        &admin,
        Some(json!({
            "name": "Year ledger",
            "parameters": {"report": "ledger", "from": "2026-01-01", "to": "2026-12-31", "currency": "CAD"},
            "format": "EXCEL",
        })),
    )
    .await;
    assert_eq!(status, 201, "{report}");
    let id = report["id"].as_str().unwrap().to_owned();
    let (status, run) = call(
        &client,
        reqwest::Method::POST,
        format!("{}/v1/reports/{id}/generate", first.base),
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 202, "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let read = async |base: &str| {
        let (status, body) = call(
            &client,
            reqwest::Method::GET,
            format!("{base}/v1/reports/{id}/runs"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["items"][0].clone()
    };
    // Kill the server once its worker is writing the file.
    let deadline = Instant::now() + WAIT;
    loop {
        let run = read(&first.base).await;
        match run["status"].as_str() {
            Some("GENERATING") => break,
            // Not projected yet, or waiting for the worker.
            None | Some("PENDING") => {}
            other => panic!(
                "the run ended ({other:?}) before the kill; seed more rows than {LEDGER_ROWS}: {run:#}"
            ),
        }
        assert!(Instant::now() < deadline, "the run never started: {run:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = first.kill();
    assert_eq!(
        status.signal(),
        Some(9),
        "the first server was killed, not stopped: {status}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM report_files")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "the killed server stored no file");

    let second = Server::start(&env, "second").await;
    let deadline = Instant::now() + WAIT * 3;
    let done = loop {
        let run = read(&second.base).await;
        if run["status"] != "GENERATING" && run["status"] != "PENDING" {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "the run was not generated again within {:?}: {run:#}",
            WAIT * 3
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["run_id"], run_id.as_str());
    assert_eq!(done["status"], "COMPLETED", "{done:#}");
    assert_eq!(
        done["attempts"], 2,
        "started, cut off, started again: {done:#}"
    );
    assert_eq!(done["file"]["rows"], LEDGER_ROWS, "{done:#}");
    let response = client
        .get(format!("{}/v1/reports/{id}/file", second.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("the file is served");
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.expect("the file's bytes");
    assert_eq!(Some(bytes.len() as u64), done["file"]["size"].as_u64());
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        done["file"]["sha256"].as_str().unwrap()
    );
    assert!(bytes.starts_with(b"PK"), "an xlsx (zip) file");
    pool.close().await;
    drop(second);
}
