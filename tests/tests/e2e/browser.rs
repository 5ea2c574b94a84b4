//! The analyst page (`/app/`) in a real, headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`, installed by
//! scripts/test-peers.sh; a missing one fails the test, saying so). Each
//! test starts its own chromedriver on a free port, with a download
//! directory of its own, against its own app (database, stream, port).
//!
//! What the browser shows is compared with what the API answers: the KPI
//! tiles with `GET /v1/kpis`, a lead created through the API appearing live
//! on the page, and an Excel report requested and downloaded through the
//! page, read back with calamine and compared with the same report as JSON
//! and with `GET /v1/reports/revenue`. The browser's console must stay free
//! of errors and warnings in normal use (read from chromedriver's browser
//! log).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{Datelike, Utc};
use crm_tests::TestApp;
use event_schemas::Role;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use uuid::Uuid;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long to wait for something the page does by itself (it usually
/// takes well under a second; a loaded CI machine may take longer). Waiting
/// longer is never an error in itself: only never seeing it is.
const PATIENCE: Duration = Duration::from_secs(30);

/// The policy the page's answers carry (the start of it: the rest only
/// adds restrictions).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'";

// ------------------------------------------------------------------ harness

/// A Debian path, or the name on PATH; panics with the way to install it.
fn program(name: &str, debian_path: &str) -> PathBuf {
    let debian = PathBuf::from(debian_path);
    if debian.exists() {
        return debian;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} is missing (looked at {debian_path} and on PATH): run scripts/test-peers.sh, \
                 which installs Debian's chromium and chromium-driver"
            )
        })
}

/// A chromedriver of this test, in a process group of its own: dropping it
/// kills the group, the browsers it started included.
struct Chromedriver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Chromedriver {
    async fn start(dir: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let driver = program("chromedriver", CHROMEDRIVER);
        let http = reqwest::Client::new();
        let mut last_error = String::new();
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = dir.join(format!("chromedriver-{attempt}.log"));
            let child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("{} does not start: {e}", driver.display()));
            let mut started = Chromedriver {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log,
            };
            let deadline = tokio::time::Instant::now() + PATIENCE;
            loop {
                if let Ok(Some(status)) = started.child.try_wait() {
                    last_error = format!("chromedriver exited with {status}");
                    break;
                }
                if let Ok(response) = http.get(format!("{}/status", started.url)).send().await {
                    let body: Value = response.json().await.unwrap_or_default();
                    if body["value"]["ready"] == true {
                        return started;
                    }
                }
                if tokio::time::Instant::now() > deadline {
                    last_error = format!("not ready in {PATIENCE:?}");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            drop(started);
        }
        panic!("chromedriver did not start: {last_error}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group this chromedriver leads (its id is the group's, see
        // `process_group(0)`): it and the Chromium it started, nothing else.
        let group = rustix::process::Pid::from_child(&self.child);
        if !group.is_init() && rustix::process::getpgid(Some(group)).ok() == Some(group) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session on a page of `app`.
struct Browser {
    client: Client,
    base: String,
    downloads: tempfile::TempDir,
    driver: Chromedriver,
}

impl Browser {
    async fn start(app: &TestApp) -> Self {
        let chromium = program("chromium", CHROMIUM);
        let downloads = tempfile::tempdir().expect("a download directory");
        let driver = Chromedriver::start(downloads.path()).await;
        let files = downloads.path().join("files");
        std::fs::create_dir(&files).expect("the download directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                ],
                "prefs": {
                    "download.default_directory": files,
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                },
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no Chromium session: {e}\nchromedriver's log:\n{}",
                    driver.log_text()
                )
            });
        Self {
            client,
            base: app.base.clone(),
            downloads,
            driver,
        }
    }

    fn download_dir(&self) -> PathBuf {
        self.downloads.path().join("files")
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    }

    /// Runs `script` (a function body: `return …`) in the page.
    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
    }

    async fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
    }

    /// Presses and releases `key` where the focus is.
    async fn press(&self, key: Key) {
        let k: char = key.into();
        self.client
            .perform_actions(
                KeyActions::new("keyboard".into())
                    .then(KeyAction::Down { value: k })
                    .then(KeyAction::Up { value: k }),
            )
            .await
            .expect("a key press");
    }

    /// The focused element, described.
    async fn focused(&self) -> Value {
        self.js(
            "const e = document.activeElement; const s = getComputedStyle(e); \
             return {tag: e.tagName.toLowerCase(), id: e.id, view: e.dataset.view || null, \
                     text: (e.textContent || '').trim().slice(0, 40), \
                     outline: s.outlineStyle, outline_width: parseFloat(s.outlineWidth) || 0, \
                     label: e.labels && e.labels.length ? e.labels[0].textContent.trim() : null};",
        )
        .await
    }

    /// Tabs through the page from the top: the focused elements in order,
    /// each checked for a visible focus indicator.
    async fn tab_order(&self, stops: usize) -> Vec<Value> {
        // Focus on the body moves the starting point of sequential
        // navigation to the top.
        self.js(
            "document.body.tabIndex = -1; document.body.focus(); document.body.removeAttribute('tabindex'); \
             window.scrollTo(0, 0); return null;",
        )
        .await;
        let mut order = Vec::new();
        for _ in 0..stops {
            self.press(Key::Tab).await;
            let focused = self.focused().await;
            assert!(
                focused["outline"] != "none" && focused["outline_width"].as_f64() >= Some(2.0),
                "no visible focus indicator on {focused}"
            );
            order.push(focused);
        }
        order
    }

    /// The browser log entries since the last read (chromedriver's
    /// `/se/log`, the console and page errors of `goog:loggingPrefs`).
    async fn new_log(&self) -> Vec<Value> {
        let id = self
            .client
            .session_id()
            .await
            .expect("the session id")
            .expect("a session");
        let response = reqwest::Client::new()
            .post(format!("{}/session/{id}/se/log", self.driver.url))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .expect("chromedriver answers");
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON answer");
        assert!(
            status.is_success(),
            "chromedriver does not give the browser log: {status} {body}"
        );
        body["value"].as_array().cloned().unwrap_or_default()
    }

    /// Asserts no console error or warning (nor a page error, CSP violation
    /// or failed request) since the last read.
    async fn assert_clean_console(&self, when: &str) {
        let entries = self.new_log().await;
        let problems: Vec<&Value> = entries
            .iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .collect();
        assert!(
            problems.is_empty(),
            "{when}: the browser console has errors or warnings: {problems:#?}"
        );
    }

    /// Waits until `script` returns something other than null/false.
    /// Waits until `script` returns something other than null/false;
    /// after [`PATIENCE`] in vain, fails showing what the page says and
    /// what its console said.
    async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let v = self.js(script).await;
            if !v.is_null() && v != false {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                let text = self
                    .js("return document.querySelector('main').innerText;")
                    .await;
                let log = self.new_log().await;
                panic!(
                    "waited {PATIENCE:?} for {what}, in vain\nthe page says:\n{}\nits console:\n{log:#?}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn close(self) {
        let Browser { client, driver, .. } = self;
        let _ = client.close().await;
        drop(driver);
    }
}

/// Polls `probe` until it gives a value; panics, naming `what`, after
/// [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}, in vain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// WCAG 2 contrast of every visible text on the page: the failures (below
/// 4.5:1), each with its text, colours and ratio.
const CONTRAST_SCRIPT: &str = r#"
const parse = (s) => {
  const m = /rgba?\(([^)]+)\)/.exec(s);
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 };
};
const background = (el) => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
  }
  let base = [255, 255, 255];
  for (const l of layers.reverse()) base = base.map((v, i) => l.rgb[i] * l.a + v * (1 - l.a));
  return base;
};
const luminance = (rgb) => {
  const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const failures = [];
let checked = 0;
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const text = node.textContent.trim();
  const el = node.parentElement;
  if (!text || !el) continue;
  const rect = el.getBoundingClientRect();
  if (rect.width <= 1 || rect.height <= 1) continue;
  const style = getComputedStyle(el);
  if (style.visibility === "hidden" || el.closest("[hidden]") || el.closest("noscript")) continue;
  if (el.closest("button:disabled")) continue;
  const bg = background(el);
  const c = parse(style.color);
  const fg = c.rgb.map((v, i) => v * c.a + bg[i] * (1 - c.a));
  const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
  const ratio = (hi + 0.05) / (lo + 0.05);
  checked += 1;
  if (ratio < 4.5) failures.push({ text: text.slice(0, 40), color: style.color, background: bg, ratio });
}
return { checked, failures };
"#;

async fn assert_contrast(browser: &Browser, when: &str) {
    let result = browser.js(CONTRAST_SCRIPT).await;
    assert!(
        result["checked"].as_u64() > Some(0),
        "{when}: no text was measured"
    );
    assert_eq!(
        result["failures"],
        json!([]),
        "{when}: text below WCAG AA contrast (4.5:1)"
    );
}

// -------------------------------------------------------------- HTTP only

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_page_is_served_from_the_binary_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");

    let redirect = http
        .get(format!("{}/app", app.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/app/");

    let mut weight = 0;
    for (path, content_type) in [
        ("/app/", "text/html; charset=utf-8"),
        ("/app/app.js", "text/javascript; charset=utf-8"),
        ("/app/api.js", "text/javascript; charset=utf-8"),
        ("/app/sse.js", "text/javascript; charset=utf-8"),
        ("/app/format.js", "text/javascript; charset=utf-8"),
        ("/app/dashboard.js", "text/javascript; charset=utf-8"),
        ("/app/reports.js", "text/javascript; charset=utf-8"),
        ("/app/app.css", "text/css; charset=utf-8"),
        ("/app/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
        ("/app/uPlot.min.css", "text/css; charset=utf-8"),
        ("/app/icon.svg", "image/svg+xml"),
        ("/app/LICENSE.uplot", "text/plain; charset=utf-8"),
    ] {
        let response = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{path}");
        let csp = headers["content-security-policy"].to_str().expect("ASCII");
        assert!(csp.starts_with(CSP), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        let etag = headers["etag"].to_str().expect("an ETag").to_owned();
        let body = response.bytes().await.expect("a body");
        assert!(!body.is_empty(), "{path}");
        if path != "/app/LICENSE.uplot" {
            weight += body.len();
        }
        // The browser keeps it and revalidates: unchanged is a 304.
        let again = http
            .get(format!("{}{path}", app.base))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("an answer");
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.headers().contains_key("content-security-policy"));
    }
    assert!(weight < 150 * 1024, "the page weighs {weight} bytes");

    let html = app.raw(reqwest::Method::GET, "/app/", None, &[], "").await;
    let html = html.body.as_str().expect("the page's HTML").to_owned();
    assert!(
        !html.contains("<style") && !html.contains(" style=") && !html.contains(" onclick="),
        "inline style or handlers: {html}"
    );
    let missing = app
        .request(reqwest::Method::GET, "/app/nothing.js", None, None, &[])
        .await;
    missing.expect(404);
    assert!(missing.header("content-security-policy").is_some());
}

// ----------------------------------------------------- sign-in, keyboard

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_keeps_the_token_in_the_tab_and_the_page_works_by_keyboard() {
    let app = TestApp::spawn().await;
    let token = app.token("acme", Role::Admin);
    let browser = Browser::start(&app).await;

    // Without a token: the form, labelled, and nothing else.
    browser.goto("/app/").await;
    browser
        .until(
            "the sign-in form",
            "const s = document.getElementById('sign-in'); return s && !s.hidden && document.activeElement.id === 'token-input';",
        )
        .await;
    let label = browser
        .js("return document.querySelector('label[for=token-input]').textContent.trim();")
        .await;
    assert_eq!(label, "Access token (JWT)");
    assert_eq!(
        browser
            .js("return document.getElementById('nav').hidden;")
            .await,
        true
    );
    assert_eq!(
        browser.js("return document.title;").await,
        "Movers CRM — analyst"
    );
    browser.assert_clean_console("the sign-in form").await;
    assert_contrast(&browser, "the sign-in form").await;

    // By keyboard: skip link, the token field, the button, each visibly
    // focused.
    let order = browser.tab_order(3).await;
    assert_eq!(order[0]["text"], "Skip to content", "{order:#?}");
    assert_eq!(order[1]["id"], "token-input", "{order:#?}");
    assert_eq!(order[1]["label"], "Access token (JWT)");
    assert_eq!(order[2]["text"], "Sign in", "{order:#?}");

    // Something that is not a token is refused on the spot.
    let input = browser
        .client
        .find(Locator::Id("token-input"))
        .await
        .expect("the field");
    input.send_keys("not a token").await.expect("typing");
    browser
        .client
        .find(Locator::Css("#sign-in-form button"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("a click");
    let message = browser
        .until(
            "the refusal",
            "const m = document.getElementById('sign-in-message'); return !m.hidden && m.textContent;",
        )
        .await;
    assert!(
        message.as_str().is_some_and(|m| m.contains("not a token")),
        "{message}"
    );
    assert_eq!(
        browser
            .js("return sessionStorage.length + localStorage.length;")
            .await,
        0
    );

    // The link `crm serve` prints: the token from the fragment, kept in
    // sessionStorage only, and the fragment gone from the address.
    browser.goto(&format!("/app/#token={token}")).await;
    browser
        .until(
            "the signed-in page",
            "return !document.getElementById('nav').hidden && document.getElementById('sign-in').hidden;",
        )
        .await;
    let url = browser.client.current_url().await.expect("the address");
    assert_eq!(
        url.fragment(),
        None,
        "the token stays in the address: {url}"
    );
    assert_eq!(url.path(), "/app/");
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('crm.token');")
            .await,
        token
    );
    assert_eq!(
        browser
            .js("return [localStorage.length, document.cookie];")
            .await,
        json!([0, ""])
    );
    assert!(
        !browser
            .js("return document.documentElement.outerHTML;")
            .await
            .as_str()
            .expect("the page")
            .contains(&token),
        "the token is written into the page"
    );
    let who = browser
        .js("return document.getElementById('who-text').textContent;")
        .await;
    assert_eq!(who, "Tenant acme, role admin");

    // The views are switched by buttons, by keyboard; the heading of the
    // view takes the focus.
    let order = browser.tab_order(4).await;
    let names: Vec<&str> = order
        .iter()
        .map(|f| f["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["Skip to content", "Dashboard", "Reports", "Sign out"],
        "{order:#?}"
    );
    assert!(order.iter().skip(1).all(|f| f["tag"] == "button"));
    browser
        .js("document.querySelector('[data-view=reports]').focus(); return null;")
        .await;
    browser.press(Key::Enter).await;
    browser
        .until(
            "the reports view",
            "return !document.getElementById('view-reports').hidden && document.getElementById('view-dashboard').hidden;",
        )
        .await;
    assert_eq!(browser.focused().await["id"], "reports-title");
    assert_eq!(
        browser
            .js("return [document.querySelector('[data-view=reports]').getAttribute('aria-current'), document.querySelector('[data-view=dashboard]').getAttribute('aria-current')];")
            .await,
        json!(["page", null])
    );
    // Every form control of the view is labelled.
    let unlabelled = browser
        .js("return [...document.querySelectorAll('input, select, textarea')].filter(e => !e.labels || !e.labels.length).map(e => e.id);")
        .await;
    assert_eq!(unlabelled, json!([]));

    // The reload keeps the tab's sign-in; sign-out (by keyboard) forgets it.
    browser.client.refresh().await.expect("a reload");
    browser
        .until(
            "the page signed in after a reload",
            "return !document.getElementById('who').hidden;",
        )
        .await;
    browser
        .js("document.getElementById('sign-out').focus(); return null;")
        .await;
    browser.press(Key::Enter).await;
    browser
        .until(
            "the sign-in form after signing out",
            "return !document.getElementById('sign-in').hidden && document.getElementById('nav').hidden;",
        )
        .await;
    assert_eq!(
        browser
            .js("return [sessionStorage.getItem('crm.token'), document.getElementById('sign-in-message').textContent];")
            .await,
        json!([null, "You are signed out."])
    );
    assert_eq!(browser.focused().await["id"], "token-input");

    // Pasting a token signs in too.
    let input = browser
        .client
        .find(Locator::Id("token-input"))
        .await
        .expect("the field");
    input.send_keys(&token).await.expect("typing");
    browser
        .client
        .find(Locator::Css("#sign-in-form button"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("a click");
    browser
        .until(
            "the page signed in with a pasted token",
            "return !document.getElementById('who').hidden;",
        )
        .await;
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('crm.token');")
            .await,
        token
    );
    browser.close().await;
}

// ------------------------------------------ the dashboard and the reports

/// The KPI tiles on the page: key → (value's data-raw, previous's
/// data-raw, the value's text).
async fn tiles(browser: &Browser) -> serde_json::Map<String, Value> {
    let tiles = browser
        .js("const out = {}; for (const t of document.querySelectorAll('[data-kpi]')) { \
               const v = t.querySelector('[data-role=value]'); const p = t.querySelector('[data-role=previous]'); \
               out[t.dataset.kpi] = [v.getAttribute('data-raw'), p.getAttribute('data-raw'), v.textContent]; } \
             return out;")
        .await;
    tiles.as_object().cloned().expect("an object")
}

/// Sets a form control's value as a user would, firing its events.
async fn set_value(browser: &Browser, id: &str, value: &str) {
    browser
        .js_with(
            "const e = document.getElementById(arguments[0]); e.value = arguments[1]; \
             e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); \
             return e.value;",
            vec![json!(id), json!(value)],
        )
        .await;
}

/// A report requested through the API, generated, as its file.
async fn api_report_file(app: &TestApp, token: &str, body: Value) -> (Value, Vec<u8>) {
    let created = app.post("/v1/reports", token, body).await;
    created.expect(201);
    let id = created.id();
    let run = app
        .post(&format!("/v1/reports/{id}/generate"), token, json!({}))
        .await;
    run.expect(202);
    let path = format!("/v1/reports/{id}?min_version={}", run.version());
    let run_id = run.body["run_id"].clone();
    let (path, run_id) = (&path, &run_id);
    let report = eventually("the API's report to be generated", || async move {
        let r = app.get(path, token).await;
        r.expect(200);
        (r.body["latest_run_id"] == *run_id
            && matches!(r.body["status"].as_str(), Some("COMPLETED" | "FAILED")))
        .then_some(r.body)
    })
    .await;
    assert_eq!(report["status"], "COMPLETED", "{report}");
    let (status, _, bytes) = app.bytes(&format!("/v1/reports/{id}/file"), token).await;
    assert_eq!(status, 200);
    (report, bytes)
}

/// A positive amount in Canadian dollars as en-CA writes it: `$1,234.50`.
fn dollars(amount: &str) -> String {
    let cents = (decimal(amount) * 100.0).round() as u64;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("${grouped}.{:02}", cents % 100)
}

fn decimal(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|_| panic!("{text} is not a decimal"))
}

/// Asserts that a cell holds what the JSON report says, by the column's
/// kind.
fn assert_cell(cell: &calamine::Data, value: &Value, kind: &str, at: &str) {
    use calamine::{Data, DataType};
    match (kind, value) {
        (_, Value::Null) => assert!(
            matches!(cell, Data::Empty) || cell.as_string().is_some_and(|s| s.is_empty()),
            "{at}: {cell:?} for null"
        ),
        ("text", Value::String(s)) => {
            assert_eq!(cell.as_string().as_deref(), Some(s.as_str()), "{at}")
        }
        ("integer", Value::Number(n)) => {
            assert_eq!(cell.as_f64(), n.as_f64(), "{at}: {cell:?}")
        }
        ("money" | "decimal" | "percent", Value::String(s)) => {
            let expected = decimal(s);
            let got = cell
                .as_f64()
                .unwrap_or_else(|| panic!("{at}: {cell:?} is not a number"));
            assert!(
                (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "{at}: {got} in the workbook, {s} in the JSON"
            );
        }
        ("date", Value::String(s)) => {
            let expected: chrono::NaiveDate = s.parse().expect("an ISO date");
            assert_eq!(cell.as_date(), Some(expected), "{at}: {cell:?}");
        }
        ("datetime", Value::String(s)) => {
            let expected = chrono::DateTime::parse_from_rfc3339(s)
                .expect("an RFC 3339 instant")
                .naive_local();
            let got = cell
                .as_datetime()
                .unwrap_or_else(|| panic!("{at}: {cell:?} is not a date and time"));
            assert!(
                (got - expected).num_milliseconds().abs() <= 1,
                "{at}: {got} in the workbook, {s} in the JSON"
            );
        }
        _ => panic!("{at}: a {kind} column with {value} and {cell:?}"),
    }
}

/// An app whose report worker runs (as in `crm serve`; the other tests run
/// it themselves), with two leads and an invoice issued today (revenue of
/// 1000.00) for an admin of `acme`.
async fn app_with_sales() -> (TestApp, Uuid, String, String, String) {
    let mut env = crm_tests::TestEnv::new().await;
    env.infra.config.report_poll_ms = 100;
    let app = TestApp::start_on(env, crm::app::Parts::all()).await;
    let user = Uuid::new_v4();
    let token = app.token_for("acme", user, Role::Admin);
    let customer = app.customer(&token, "analyst.page@example.com").await;
    app.lead(&token, &customer).await;
    app.lead(&token, &customer).await;
    let invoice = app
        .post(
            "/v1/invoices",
            &token,
            json!({"customer_id": customer, "province": "ON", "payment_terms_days": 15,
                   "items": [{"description": "Local move", "quantity": "1", "unit_price": "1000.00", "category": "MOVING_SERVICES"}]}),
        )
        .await;
    invoice.expect(201);
    let invoice = invoice.id();
    app.post(&format!("/v1/invoices/{invoice}/issue"), &token, json!({}))
        .await
        .expect(200);
    app.settle().await;
    (app, user, token, customer, invoice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_dashboard_matches_the_kpis_and_updates_live() {
    let (app, user, token, customer, _) = app_with_sales().await;
    let browser = Browser::start(&app).await;
    browser.goto(&format!("/app/#token={token}")).await;

    // The page made the user a default dashboard, and shows it.
    browser
        .until(
            "the KPI tiles",
            "return !!document.getElementById('kpis').dataset.generatedAt && document.querySelectorAll('[data-kpi] [data-role=value]').length >= 4;",
        )
        .await;
    let dashboards = app.get("/v1/dashboards", &token).await;
    dashboards.expect(200);
    let items = dashboards.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", dashboards.body);
    assert_eq!(items[0]["is_default"], true);
    assert_eq!(items[0]["owner_id"], user.to_string());
    let kinds: Vec<(&str, &str)> = items[0]["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .map(|w| {
            (
                w["kind"].as_str().unwrap_or_default(),
                w["metric"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("kpi", "new_leads"),
            ("kpi", "speed_to_lead"),
            ("kpi", "lead_conversion_rate"),
            ("kpi", "revenue"),
            ("timeseries", "new_leads"),
            ("bar", "leads_by_status"),
            ("table", "recent_leads"),
        ]
    );

    // The tiles hold exactly what /v1/kpis answers for the same period:
    // the last 30 days (the widgets' default, and the route's), in the
    // tenant's time zone.
    let kpis = app.get("/v1/kpis", &token).await;
    kpis.expect(200);
    let from: chrono::NaiveDate = kpis.body["from"]
        .as_str()
        .expect("from")
        .parse()
        .expect("a date");
    let to: chrono::NaiveDate = kpis.body["to"]
        .as_str()
        .expect("to")
        .parse()
        .expect("a date");
    assert_eq!((to - from).num_days(), 29, "{}", kpis.body);
    let shown = tiles(&browser).await;
    let keys: Vec<&str> = shown.keys().map(String::as_str).collect();
    for key in [
        "new_leads",
        "speed_to_lead",
        "lead_conversion_rate",
        "revenue",
    ] {
        assert!(keys.contains(&key), "no {key} tile: {keys:?}");
    }
    for (key, tile) in &shown {
        let kpi = kpis.body["kpis"]
            .as_array()
            .expect("kpis")
            .iter()
            .find(|k| k["key"] == key.as_str())
            .unwrap_or_else(|| panic!("/v1/kpis has no {key}: {}", kpis.body));
        assert_eq!(
            tile[0], kpi["value"],
            "{key}'s value: tile {tile}, API {kpi}"
        );
        assert_eq!(
            tile[1], kpi["previous"],
            "{key}'s previous value: tile {tile}, API {kpi}"
        );
        let text = tile[2].as_str().expect("text");
        assert_eq!(
            text == "—",
            kpi["value"].is_null(),
            "{key} shows {text:?} for {}",
            kpi["value"]
        );
    }
    assert_eq!(shown["new_leads"][0], "2");
    assert_eq!(shown["new_leads"][2], "2");
    let revenue = shown["revenue"][0].as_str().expect("revenue");
    assert!(decimal(revenue) > 0.0, "no revenue: {:?}", shown["revenue"]);
    assert_eq!(
        shown["revenue"][2],
        dollars(revenue),
        "{:?}",
        shown["revenue"]
    );

    // The charts have their text alternatives, the table its rows.
    let charts = browser
        .js("return [...document.querySelectorAll('[data-kind=timeseries] .chart, [data-kind=bar] .chart')].map(c => [c.getAttribute('role'), c.getAttribute('aria-label'), !!c.querySelector('canvas')]);")
        .await;
    let charts = charts.as_array().expect("charts");
    assert_eq!(charts.len(), 2, "{charts:?}");
    for chart in charts {
        assert_eq!(chart[0], "img");
        assert!(chart[1].as_str().is_some_and(|l| l.len() > 20), "{chart}");
        assert_eq!(chart[2], true, "no canvas: {chart}");
    }
    let recent = browser
        .js("return document.querySelectorAll('[data-metric=recent_leads] tbody tr').length;")
        .await;
    assert_eq!(recent, 2);
    assert_eq!(
        browser
            .js("return document.getElementById('kpis').getAttribute('aria-live');")
            .await,
        "polite"
    );
    assert_contrast(&browser, "the dashboard").await;

    // A lead created through the API shows up without a reload.
    browser
        .until(
            "the live stream",
            "return document.getElementById('live-status').textContent === 'Live';",
        )
        .await;
    browser
        .js("window.__sameDocument = true; return null;")
        .await;
    app.lead(&token, &customer).await;
    browser
        .until(
            "the new lead on the new_leads tile",
            "return document.querySelector('[data-kpi=new_leads] [data-role=value]').getAttribute('data-raw') === '3';",
        )
        .await;
    assert_eq!(
        browser.js("return window.__sameDocument === true;").await,
        true,
        "the page reloaded"
    );
    assert_eq!(tiles(&browser).await["new_leads"][2], "3");
    browser
        .until(
            "the new lead in the recent leads",
            "return document.querySelectorAll('[data-metric=recent_leads] tbody tr').length === 3;",
        )
        .await;
    browser.assert_clean_console("the dashboard, live").await;

    // A token the server refuses (its signature is not the server's)
    // returns the page to the form, saying why.
    let (signed, _) = token.rsplit_once('.').expect("a JWT");
    let forged = format!("{signed}.{}", "A".repeat(43));
    browser
        .js_with(
            "sessionStorage.setItem('crm.token', arguments[0]); return null;",
            vec![json!(forged)],
        )
        .await;
    browser.client.refresh().await.expect("a reload");
    let message = browser
        .until(
            "the sign-in form after a 401",
            "const m = document.getElementById('sign-in-message'); return !document.getElementById('sign-in').hidden && !m.hidden && m.textContent;",
        )
        .await;
    assert!(
        message.as_str().is_some_and(|m| m.contains("401")),
        "{message}"
    );
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('crm.token');")
            .await,
        Value::Null
    );
    // What the console says now is the refused request, and only that.
    let log = browser.new_log().await;
    for entry in log
        .iter()
        .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
    {
        assert!(
            entry["message"].as_str().is_some_and(|m| m.contains("401")),
            "{entry}"
        );
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_requests_an_excel_report_and_downloads_it() {
    let (app, _, token, _, invoice) = app_with_sales().await;
    let browser = Browser::start(&app).await;
    // The sign-in link, opening the reports view.
    browser
        .goto(&format!("/app/#token={token}&view=reports"))
        .await;
    browser
        .until(
            "the catalogue",
            "return !document.getElementById('view-reports').hidden && document.getElementById('report-key').options.length > 0;",
        )
        .await;
    let keys = browser
        .js("return [...document.getElementById('report-key').options].map(o => o.value);")
        .await;
    assert!(
        keys.as_array()
            .expect("keys")
            .iter()
            .any(|k| k == "revenue"),
        "no revenue report in the catalogue: {keys}"
    );

    // Chosen, named and dated as a user would, and requested.
    let today = Utc::now().date_naive();
    let month_start = today.with_day(1).expect("the first of the month");
    browser
        .client
        .find(Locator::Id("report-key"))
        .await
        .expect("the report select")
        .select_by_value("revenue")
        .await
        .expect("revenue chosen");
    browser
        .client
        .find(Locator::Id("report-format"))
        .await
        .expect("the format select")
        .select_by_value("EXCEL")
        .await
        .expect("Excel chosen");
    let name = browser
        .client
        .find(Locator::Id("report-name"))
        .await
        .expect("the name");
    name.clear().await.expect("cleared");
    name.send_keys("Revenue this month").await.expect("typed");
    set_value(&browser, "report-from", &month_start.to_string()).await;
    set_value(&browser, "report-to", &today.to_string()).await;
    browser
        .client
        .find(Locator::Id("report-submit"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("a click");
    let outcome = browser
        .until(
            "the report to be generated",
            "return document.getElementById('report-progress').dataset.status || null;",
        )
        .await;
    assert_eq!(
        outcome,
        "COMPLETED",
        "{}",
        browser
            .js("return document.getElementById('report-progress').textContent;")
            .await
    );
    let report_id = browser
        .js("return document.getElementById('report-progress').dataset.report;")
        .await;
    let report_id = report_id.as_str().expect("the report's id").to_owned();
    let report = app.get(&format!("/v1/reports/{report_id}"), &token).await;
    report.expect(200);
    assert_eq!(report.body["name"], "Revenue this month");
    assert_eq!(report.body["format"], "EXCEL");
    assert_eq!(report.body["parameters"]["report"], "revenue");
    assert_eq!(report.body["parameters"]["from"], month_start.to_string());
    assert_eq!(report.body["parameters"]["to"], today.to_string());
    // The list shows it, completed, with its own download button.
    browser
        .until(
            "the report in the list",
            &format!(
                "return !!document.querySelector('#reports-table tr[data-report=\"{report_id}\"] button[data-download]');"
            ),
        )
        .await;

    // Downloaded through the page: a Blob URL and an <a download>.
    browser
        .client
        .find(Locator::Css("#report-download-slot button[data-download]"))
        .await
        .expect("the download button")
        .click()
        .await
        .expect("a click");
    let dir = browser.download_dir();
    let file = eventually("the downloaded workbook", || {
        let dir = dir.clone();
        async move {
            let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            if entries
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "crdownload"))
            {
                return None;
            }
            entries
                .into_iter()
                .find(|p| p.extension().is_some_and(|e| e == "xlsx"))
        }
    })
    .await;
    let downloaded = std::fs::read(&file).expect("the downloaded file");

    // The very file the API serves, under the name it gives.
    let (status, headers, served) = app
        .bytes(&format!("/v1/reports/{report_id}/file"), &token)
        .await;
    assert_eq!(status, 200);
    assert!(
        downloaded == served,
        "the download differs from the API's file"
    );
    let disposition = headers["content-disposition"].to_str().expect("ASCII");
    let file_name = file.file_name().and_then(|n| n.to_str()).expect("a name");
    assert!(
        disposition.contains(&format!("filename=\"{file_name}\"")),
        "saved as {file_name}, served as {disposition}"
    );
    let progress = browser
        .js("return document.getElementById('report-progress').dataset.downloaded;")
        .await;
    assert_eq!(progress, file_name);
    browser
        .assert_clean_console("requesting and downloading a report")
        .await;
    assert_contrast(&browser, "the reports view").await;

    // Read back: the same report as JSON, cell by cell …
    use calamine::{DataType, Reader};
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook(&file).expect("the download opens as xlsx");
    let sheet = workbook
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("a readable sheet");
    let rows: Vec<Vec<calamine::Data>> = sheet.rows().map(<[calamine::Data]>::to_vec).collect();
    let (_, json_file) = api_report_file(
        &app,
        &token,
        json!({"name": "Revenue this month (JSON)", "parameters": {"report": "revenue", "from": month_start, "to": today}, "format": "JSON"}),
    )
    .await;
    let twin: Value = serde_json::from_slice(&json_file).expect("the JSON report");
    let columns = twin["columns"].as_array().expect("columns");
    let labels: Vec<&str> = columns
        .iter()
        .map(|c| c["label"].as_str().expect("a label"))
        .collect();
    let header = rows
        .iter()
        .position(|row| {
            row.iter()
                .take(labels.len())
                .map(|c| c.as_string().unwrap_or_default())
                .eq(labels.iter().map(|l| (*l).to_owned()))
        })
        .unwrap_or_else(|| panic!("no header row {labels:?} in {rows:?}"));
    let data = &rows[header + 1..];
    let json_rows = twin["rows"].as_array().expect("rows");
    assert_eq!(data.len(), json_rows.len(), "{data:?} vs {json_rows:?}");
    assert!(!json_rows.is_empty(), "the report has no row");
    for (r, (cells, json_row)) in data.iter().zip(json_rows).enumerate() {
        for (c, column) in columns.iter().enumerate() {
            let key = column["key"].as_str().expect("a key");
            let kind = column["kind"].as_str().expect("a kind");
            let empty = calamine::Data::Empty;
            let cell = cells.get(c).unwrap_or(&empty);
            assert_cell(cell, &json_row[key], kind, &format!("row {r}, {key}"));
        }
    }

    // … and the revenue, as GET /v1/reports/revenue and the invoice say.
    let legacy = app
        .get(
            &format!("/v1/reports/revenue?from={month_start}&to={today}"),
            &token,
        )
        .await;
    legacy.expect(200);
    let issued = app.get(&format!("/v1/invoices/{invoice}"), &token).await;
    issued.expect(200);
    assert_eq!(legacy.body["totals"][0]["revenue"], issued.body["subtotal"]);
    let revenue = decimal(issued.body["subtotal"].as_str().expect("a subtotal"));
    assert_eq!(revenue, 1000.0);
    let column = columns
        .iter()
        .position(|c| c["key"] == "revenue")
        .unwrap_or_else(|| panic!("no revenue column: {columns:?}"));
    let values: Vec<f64> = data
        .iter()
        .filter_map(|row| row.get(column).and_then(|c| c.as_f64()))
        .collect();
    assert!(!values.is_empty(), "no revenue in the workbook: {data:?}");
    assert!(
        values.iter().all(|v| (v - revenue).abs() < 1e-9),
        "the workbook's revenue {values:?}, the API's {revenue}"
    );
    browser.assert_clean_console("the whole visit").await;
    browser.close().await;
}
