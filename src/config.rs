//! Configuration from the environment (or flags), with defaults for a local
//! machine. Secrets are `SecretString`s: they never reach a log or `Debug`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::SecretString;

/// The development JWT secret, used only when `CRM_JWT_SECRET` is unset.
pub const DEV_JWT_SECRET: &str = "crm-dev-secret-DO-NOT-USE-IN-PRODUCTION-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL URL; the database is created if it does not exist.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/crm",
        global = true
    )]
    pub database_url: String,

    /// NATS server URL (JetStream must be enabled).
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    pub nats_url: String,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "CRM_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// HS256 secret for JWTs. Unset: development mode with a fixed, public secret.
    #[arg(long, env = "CRM_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<SecretString>,

    /// Master key that wraps the tenants' keys: `<id>:<base64 of 32 bytes>`.
    /// Unset: development mode only (a fixed, public key).
    #[arg(long, env = "CRM_MASTER_KEY", hide_env_values = true, global = true)]
    pub master_key: Option<SecretString>,

    /// Previous master keys, still accepted to unwrap until `crm keys rotate`
    /// re-wrapped everything (comma-separated `<id>:<base64>`).
    #[arg(
        long,
        env = "CRM_OLD_MASTER_KEYS",
        hide_env_values = true,
        value_delimiter = ',',
        global = true
    )]
    pub old_master_keys: Vec<String>,

    /// JetStream stream that carries the events.
    #[arg(
        long,
        env = "CRM_NATS_STREAM",
        default_value = "CRM_EVENTS",
        global = true
    )]
    pub nats_stream: String,

    /// Subject prefix: events go to `<prefix>.events.<tenant>.<aggregate>.<event>`.
    #[arg(long, env = "CRM_SUBJECT_PREFIX", default_value = "crm", global = true)]
    pub subject_prefix: String,

    /// `text` or `json` logs.
    #[arg(long, env = "CRM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Maximum PostgreSQL connections of this process's pool.
    #[arg(
        long,
        env = "CRM_DB_MAX_CONNECTIONS",
        default_value_t = 20,
        global = true
    )]
    pub db_max_connections: u32,

    /// JetStream replicas for the stream when it is created (3 in a cluster).
    #[arg(long, env = "CRM_NATS_REPLICAS", default_value_t = 1, global = true)]
    pub nats_replicas: usize,

    /// JetStream duplicate window (seconds) for the stream when it is created.
    #[arg(
        long,
        env = "CRM_NATS_DUPLICATE_WINDOW_SECS",
        default_value_t = 120,
        global = true
    )]
    pub nats_duplicate_window_secs: u64,

    /// How often the relay seals each tenant's chain head (seconds).
    #[arg(
        long,
        env = "CRM_SEAL_INTERVAL_SECS",
        default_value_t = 60,
        global = true
    )]
    pub seal_interval_secs: u64,

    /// How often the policies (quote expiry, invoice overdue, recurring
    /// invoices) look for what fell due (seconds; 0: never, e.g. in tests).
    #[arg(
        long,
        env = "CRM_POLICY_INTERVAL_SECS",
        default_value_t = 60,
        global = true
    )]
    pub policy_interval_secs: u64,

    /// Requests per second per tenant, per process (0: unlimited; burst 2×).
    #[arg(
        long,
        env = "CRM_RATE_LIMIT_TENANT_RPS",
        default_value_t = 1000.0,
        global = true
    )]
    pub rate_limit_tenant_rps: f64,

    /// Requests per second per user, per process (0: unlimited; burst 2×).
    #[arg(
        long,
        env = "CRM_RATE_LIMIT_USER_RPS",
        default_value_t = 100.0,
        global = true
    )]
    pub rate_limit_user_rps: f64,

    /// Browser origins allowed to call the API (comma-separated, e.g.
    /// `https://app.example.com`); unset: no CORS headers.
    #[arg(long, env = "CRM_CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Vec<String>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "CRM_MAX_BODY_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Largest CSV `POST /v1/integrations/{id}/imports` takes, in bytes.
    #[arg(long, env = "CRM_MAX_IMPORT_BYTES", default_value_t = 50 * 1024 * 1024, global = true)]
    pub max_import_bytes: usize,

    /// How often staged CSV imports are worked on (milliseconds; 0 = not
    /// in this process).
    #[arg(long, env = "CRM_IMPORT_POLL_MS", default_value_t = 500, global = true)]
    pub import_poll_ms: u64,

    /// How often the report worker looks for due schedules and runs to
    /// generate (milliseconds; 0 = not in this process).
    #[arg(
        long,
        env = "CRM_REPORT_POLL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub report_poll_ms: u64,

    /// Largest report file a run may write, in bytes (beyond: the run fails).
    #[arg(long, env = "CRM_MAX_REPORT_BYTES", default_value_t = 512 * 1024 * 1024, global = true)]
    pub max_report_bytes: u64,

    /// Where report files are written before they are stored in
    /// PostgreSQL (default: the system's temporary directory).
    #[arg(long, env = "CRM_REPORT_WORK_DIR", global = true)]
    pub report_work_dir: Option<std::path::PathBuf>,

    /// Largest file accepted by `POST /v1/attachments`, in bytes.
    #[arg(long, env = "CRM_MAX_ATTACHMENT_BYTES", default_value_t = 10 * 1024 * 1024, global = true)]
    pub max_attachment_bytes: usize,

    /// Where clients reach this API from outside, for links in messages
    /// (e.g. `https://crm.example.com`); unset: `http://<CRM_BIND>`.
    #[arg(long, env = "CRM_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// The SMTP server emails leave through (lettre's URL form:
    /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://user:pass@host`); unset: emails fail (FAILED, with the reason).
    #[arg(long, env = "CRM_SMTP_URL", global = true)]
    pub smtp_url: Option<SecretString>,

    /// The sender of emails when a tenant's profile names none.
    #[arg(
        long,
        env = "CRM_MAIL_FROM",
        default_value = "Movers CRM <no-reply@crm.invalid>",
        global = true
    )]
    pub mail_from: String,

    /// The SMS provider's base URL (`POST <url>/messages`, docs/api.md);
    /// unset: SMS fail (FAILED, with the reason).
    #[arg(long, env = "CRM_SMS_URL", global = true)]
    pub sms_url: Option<String>,

    /// The SMS provider's bearer token.
    #[arg(long, env = "CRM_SMS_TOKEN", global = true)]
    pub sms_token: Option<SecretString>,

    /// The number or sender id SMS come from.
    #[arg(long, env = "CRM_SMS_FROM", default_value = "MoversCRM", global = true)]
    pub sms_from: String,

    /// The delivery callbacks' providers and their Standard Webhooks
    /// secrets: `sms=whsec_…,email=whsec_…` (POST
    /// /v1/communications/callbacks/<provider>); unset: none accepted.
    #[arg(
        long,
        env = "CRM_CALLBACK_SECRETS",
        value_delimiter = ',',
        global = true
    )]
    pub callback_secrets: Vec<String>,

    /// How often the sender looks for due messages (milliseconds; 0: no
    /// sender in this process).
    #[arg(long, env = "CRM_SENDER_POLL_MS", default_value_t = 500, global = true)]
    pub sender_poll_ms: u64,

    /// Messages the sender hands over at once (each waits on its SMTP
    /// server or SMS provider).
    #[arg(
        long,
        env = "CRM_SENDER_CONCURRENCY",
        default_value_t = 16,
        global = true
    )]
    pub sender_concurrency: usize,

    /// The pause after a message's first failed attempt (seconds; doubled
    /// after each; 5 attempts in all).
    #[arg(
        long,
        env = "CRM_SENDER_FIRST_RETRY_SECS",
        default_value_t = 30,
        global = true
    )]
    pub sender_first_retry_secs: u64,

    /// The template renderer's worker program (run without arguments);
    /// unset: this binary's `render-worker`.
    #[arg(long, env = "CRM_RENDER_WORKER", global = true)]
    pub render_worker: Option<String>,

    /// Inbound leads one integration API key may post per second (burst
    /// 2×; 0 = no limit).
    #[arg(
        long,
        env = "CRM_INBOUND_RPS_PER_KEY",
        default_value_t = 10.0,
        global = true
    )]
    pub inbound_rps_per_key: f64,

    /// Dashboard streams (`GET /v1/dashboards/{id}/stream`) one process
    /// keeps open at once; one more is answered 503.
    #[arg(
        long,
        env = "CRM_MAX_SSE_STREAMS",
        default_value_t = 256,
        global = true
    )]
    pub max_sse_streams: usize,

    /// Let webhooks point at loopback, private and link-local addresses,
    /// over plain http too (development and tests only).
    #[arg(
        long,
        env = "CRM_WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false,
        global = true
    )]
    pub webhook_allow_private: bool,

    /// How often the webhook worker looks for due deliveries
    /// (milliseconds; 0 = no webhook worker in this process).
    #[arg(
        long,
        env = "CRM_WEBHOOK_POLL_MS",
        default_value_t = 200,
        global = true
    )]
    pub webhook_poll_ms: u64,

    /// A webhook request's timeout (milliseconds).
    #[arg(
        long,
        env = "CRM_WEBHOOK_TIMEOUT_MS",
        default_value_t = 15_000,
        global = true
    )]
    pub webhook_timeout_ms: u64,

    /// The pauses before each retry of a webhook delivery (e.g.
    /// `0s,5s,5m,30m,2h,5h,10h,10h`); after the last one it FAILS.
    #[arg(
        long,
        env = "CRM_WEBHOOK_RETRY_SCHEDULE",
        default_value = "0s,5s,5m,30m,2h,5h,10h,10h",
        global = true
    )]
    pub webhook_retry_schedule: String,

    /// Deliveries in flight per endpoint at most.
    #[arg(
        long,
        env = "CRM_WEBHOOK_MAX_IN_FLIGHT",
        default_value_t = 4,
        global = true
    )]
    pub webhook_max_in_flight: u32,

    /// Deliveries the worker hands over at once, over all endpoints.
    #[arg(
        long,
        env = "CRM_WEBHOOK_CONCURRENCY",
        default_value_t = 32,
        global = true
    )]
    pub webhook_concurrency: usize,

    /// An endpoint whose every delivery failed for this many hours is
    /// disabled.
    #[arg(
        long,
        env = "CRM_WEBHOOK_DISABLE_AFTER_HOURS",
        default_value_t = 120,
        global = true
    )]
    pub webhook_disable_after_hours: u64,
}

impl Config {
    /// Everything at its default (for tests and tools that set a few fields).
    pub fn local() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/crm".into(),
            nats_url: "nats://127.0.0.1:4222".into(),
            bind: "127.0.0.1:8080".parse().expect("valid address"),
            jwt_secret: None,
            master_key: None,
            old_master_keys: Vec::new(),
            nats_stream: "CRM_EVENTS".into(),
            subject_prefix: "crm".into(),
            log_format: LogFormat::Text,
            db_max_connections: 20,
            nats_replicas: 1,
            nats_duplicate_window_secs: 120,
            seal_interval_secs: 60,
            policy_interval_secs: 60,
            rate_limit_tenant_rps: 1000.0,
            rate_limit_user_rps: 100.0,
            cors_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_attachment_bytes: 10 * 1024 * 1024,
            max_import_bytes: 50 * 1024 * 1024,
            import_poll_ms: 500,
            report_poll_ms: 1000,
            max_report_bytes: 512 * 1024 * 1024,
            report_work_dir: None,
            render_worker: None,
            public_url: None,
            smtp_url: None,
            mail_from: "Movers CRM <no-reply@crm.invalid>".into(),
            sms_url: None,
            sms_token: None,
            sms_from: "MoversCRM".into(),
            sender_poll_ms: 500,
            sender_first_retry_secs: 30,
            sender_concurrency: 16,
            callback_secrets: Vec::new(),
            inbound_rps_per_key: 10.0,
            max_sse_streams: 256,
            webhook_allow_private: false,
            webhook_poll_ms: 200,
            webhook_timeout_ms: 15_000,
            webhook_retry_schedule: "0s,5s,5m,30m,2h,5h,10h,10h".into(),
            webhook_max_in_flight: 16,
            webhook_concurrency: 32,
            webhook_disable_after_hours: 120,
        }
    }

    /// [`Self::public_url`] without a trailing slash, or `http://<bind>`.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }

    /// [`Self::callback_secrets`] by provider (entries without `=` are
    /// refused by [`Self::validate`]).
    pub fn callback_secret_map(&self) -> std::collections::HashMap<String, String> {
        self.callback_secrets
            .iter()
            .filter_map(|entry| entry.split_once('='))
            .map(|(provider, secret)| (provider.trim().to_owned(), secret.trim().to_owned()))
            .collect()
    }

    /// The sender's configuration.
    pub fn sender(&self) -> processes::sender::SenderConfig {
        use secrecy::ExposeSecret;
        processes::sender::SenderConfig {
            smtp_url: self.smtp_url.as_ref().map(|u| u.expose_secret().to_owned()),
            default_from: self.mail_from.clone(),
            sms_url: self.sms_url.clone(),
            sms_token: self
                .sms_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            sms_from: self.sms_from.clone(),
            first_retry: std::time::Duration::from_secs(self.sender_first_retry_secs),
            poll: std::time::Duration::from_millis(self.sender_poll_ms.max(1)),
            concurrency: self.sender_concurrency.clamp(1, 256),
            ..processes::sender::SenderConfig::default()
        }
    }

    /// The report worker's settings.
    pub fn report_worker(&self) -> processes::reports::ReportConfig {
        processes::reports::ReportConfig {
            max_file_bytes: self.max_report_bytes,
            work_dir: self
                .report_work_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir),
            ..processes::reports::ReportConfig::default()
        }
    }

    /// The webhook worker's settings ([`Self::validate`] refused a bad
    /// schedule).
    pub fn webhook_worker(&self) -> processes::webhooks::WorkerConfig {
        let timeout = std::time::Duration::from_millis(self.webhook_timeout_ms.max(1));
        processes::webhooks::WorkerConfig {
            schedule: outbound::RetrySchedule::parse(&self.webhook_retry_schedule)
                .unwrap_or_default(),
            max_in_flight: self.webhook_max_in_flight.max(1),
            concurrency: self.webhook_concurrency.clamp(1, 1024),
            // A live worker records its result within the timeout; a claim
            // held twice as long has been abandoned (a crash).
            lease: timeout * 2,
            disable_after: std::time::Duration::from_secs(self.webhook_disable_after_hours * 3600),
        }
    }

    /// Where webhooks may point.
    pub fn webhook_policy(&self) -> outbound::Policy {
        outbound::Policy {
            allow_private: self.webhook_allow_private,
        }
    }

    pub fn dev_mode(&self) -> bool {
        self.jwt_secret.is_none()
    }

    pub fn jwt_secret_or_dev(&self) -> SecretString {
        self.jwt_secret
            .clone()
            .unwrap_or_else(|| SecretString::from(DEV_JWT_SECRET.to_owned()))
    }

    /// The master keys; the development key only in development mode.
    pub fn master_keys(&self) -> Result<keystore::MasterKeys, String> {
        use secrecy::ExposeSecret;
        let current = match (&self.master_key, self.dev_mode()) {
            (Some(key), _) => key.expose_secret().to_owned(),
            (None, true) => keystore::DEV_MASTER_KEY.to_owned(),
            (None, false) => {
                return Err("CRM_MASTER_KEY is required outside development mode \
                            (`<id>:<base64 of 32 random bytes>`, e.g. `m1:$(openssl rand -base64 32)`)"
                    .to_owned());
            }
        };
        keystore::MasterKeys::parse(&current, &self.old_master_keys).map_err(|e| e.to_string())
    }

    pub fn duplicate_window(&self) -> Duration {
        Duration::from_secs(self.nats_duplicate_window_secs)
    }

    /// Checks what the environment cannot express in types.
    pub fn validate(&self) -> Result<(), String> {
        let token_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if let Err(e) = outbound::RetrySchedule::parse(&self.webhook_retry_schedule) {
            return Err(format!("CRM_WEBHOOK_RETRY_SCHEDULE: {e}"));
        }
        if !token_ok(&self.nats_stream) {
            return Err(format!(
                "CRM_NATS_STREAM `{}` must be letters, digits, - and _",
                self.nats_stream
            ));
        }
        if !self.subject_prefix.split('.').all(token_ok) {
            return Err(format!(
                "CRM_SUBJECT_PREFIX `{}` must be dot-separated tokens of letters, digits, - and _",
                self.subject_prefix
            ));
        }
        for entry in &self.callback_secrets {
            match entry.split_once('=') {
                Some((provider, secret))
                    if token_ok(provider.trim())
                        && standardwebhooks::Webhook::new(secret.trim()).is_ok() => {}
                _ => {
                    return Err(
                        "CRM_CALLBACK_SECRETS entries are `<provider>=whsec_<base64>`".to_owned(),
                    );
                }
            }
        }
        for origin in &self.cors_origins {
            if axum::http::HeaderValue::from_str(origin).is_err() || !origin.contains("://") {
                return Err(format!(
                    "CRM_CORS_ORIGINS: `{origin}` is not an origin like https://app.example.com"
                ));
            }
        }
        if let Some(secret) = &self.jwt_secret {
            use secrecy::ExposeSecret;
            if secret.expose_secret().len() < 32 {
                return Err("CRM_JWT_SECRET must be at least 32 bytes".into());
            }
        }
        Ok(())
    }
}

/// Parses `90s`, `30m`, `8h`, `7d` (a bare number is seconds).
pub fn parse_ttl(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 8h"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("unknown unit in `{text}`: use s, m, h or d")),
    };
    if seconds <= 0 {
        return Err("the duration must be positive".into());
    }
    Ok(chrono::Duration::seconds(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_units() {
        assert_eq!(parse_ttl("8h").unwrap(), chrono::Duration::hours(8));
        assert_eq!(parse_ttl("90").unwrap(), chrono::Duration::seconds(90));
        assert_eq!(parse_ttl("2d").unwrap(), chrono::Duration::days(2));
        assert!(parse_ttl("8y").is_err());
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn stream_and_prefix_must_be_subject_safe() {
        let mut c = Config::local();
        assert!(c.validate().is_ok());
        c.subject_prefix = "crm.prod".into();
        assert!(c.validate().is_ok());
        c.subject_prefix = "crm.*".into();
        assert!(c.validate().is_err());
        c = Config::local();
        c.jwt_secret = Some(SecretString::from("short".to_owned()));
        assert!(c.validate().is_err());
    }
}
