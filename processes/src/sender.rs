//! The sender: delivers queued EMAIL (SMTP, with lettre) and SMS (the
//! configured HTTP provider), outside any request.
//!
//! ```text
//!  JetStream ──the processes' consumer──▶ Outbox (own table: what is due when)
//!                                           │
//!  sender loop (one active copy: advisory lock) ─ claim due rows (lease) ─▶ per message:
//!      StartAttempt (recorded before) ─▶ SMTP / HTTP ─▶ MarkSent | AttemptFailed (retry_at) | Fail
//! ```
//!
//! Delivery is at least once, never blindly repeated: each attempt is an
//! event recorded *before* the message is handed over, the outcome one
//! after. A crash between the SMTP server's acceptance and the SENT event
//! leaves the row due again once its lease ends; the next attempt carries
//! the same `Message-ID` (derived from the communication id), so receivers
//! drop the duplicate; an SMS carries the communication id as the
//! provider's idempotency `reference`. Failures that may pass (SMTP 4xx, a
//! lost connection, HTTP 429/5xx, timeouts) are retried with growing pauses
//! up to [`SenderConfig::max_attempts`]; a permanent refusal (SMTP 5xx, HTTP
//! 4xx) fails the message at once with the server's answer.

use std::sync::Arc;
use std::time::Duration;

use aggregates::communication::{
    Communication, CommunicationAction, CommunicationCommand, CommunicationError,
};
use chrono::Utc;
use event_schemas::communication::{CommunicationEvent, CommunicationStatus, CommunicationType};
use event_schemas::{EventMetadata, SYSTEM_USER, TenantId};
use event_store::attachments::AttachmentError;
use event_store::{CommandError, Run, Store, Target};
use futures::StreamExt;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use projections::{ProjectedEvent, Projection, ProjectionError};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Keeps the messages waiting for the sender, and when each is due.
pub struct Outbox;

const DDL: &str = r#"
CREATE TABLE outbox (
    tenant_id        text        NOT NULL,
    communication_id uuid        NOT NULL,
    due_at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, communication_id)
);
CREATE INDEX outbox_due ON outbox (due_at);
"#;

#[async_trait::async_trait]
impl Projection for Outbox {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["outbox"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if ev.event.aggregatetype != event_schemas::communication::AGGREGATE_TYPE {
            return Ok(());
        }
        // Only status events matter; none of them has sealed fields but the
        // failure reasons, which are not read here.
        let tenant = ev.event.tenant.as_str();
        let id: Uuid = ev
            .event
            .aggregateid
            .parse()
            .map_err(|e| ProjectionError::Decode(format!("communication id: {e}")))?;
        match ev.event.event_type.as_str() {
            "CommunicationQueued" => {
                let Some(CommunicationEvent::CommunicationQueued(e)) =
                    ev.open_with::<CommunicationEvent>(None)?
                else {
                    return Ok(());
                };
                sqlx::query(
                    "INSERT INTO outbox (tenant_id, communication_id, due_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(id)
                .bind(e.queued_at)
                .execute(&mut *conn)
                .await?;
            }
            "CommunicationAttemptFailed" => {
                let Some(CommunicationEvent::CommunicationAttemptFailed(e)) =
                    ev.open_with::<CommunicationEvent>(None)?
                else {
                    return Ok(());
                };
                sqlx::query(
                    "UPDATE outbox SET due_at = $3 WHERE tenant_id = $1 AND communication_id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(e.retry_at)
                .execute(&mut *conn)
                .await?;
            }
            "CommunicationSent"
            | "CommunicationFailed"
            | "CommunicationCancelled"
            | "CommunicationDelivered"
            | "CommunicationRead" => {
                sqlx::query("DELETE FROM outbox WHERE tenant_id = $1 AND communication_id = $2")
                    .bind(tenant)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Where and how messages leave.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// `smtp://host:port`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host` (lettre's URL form); none: EMAIL fails.
    pub smtp_url: Option<String>,
    /// The sender of emails when the tenant's profile names none.
    pub default_from: String,
    /// The SMS provider's base URL (`POST {url}/messages`); none: SMS fails.
    pub sms_url: Option<String>,
    pub sms_token: Option<String>,
    /// The number (or sender id) SMS come from.
    pub sms_from: String,
    /// Attempts before a message that keeps failing for reasons that may
    /// pass is FAILED.
    pub max_attempts: u32,
    /// The pause after the first failed attempt; doubled after each.
    pub first_retry: Duration,
    /// How long a claimed message is held before another loop may try it
    /// (the longest a send may take).
    pub lease: Duration,
    /// How often the loop looks for due messages.
    pub poll: Duration,
    /// Messages handed over at once.
    pub concurrency: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            default_from: "Movers CRM <no-reply@crm.invalid>".to_owned(),
            sms_url: None,
            sms_token: None,
            sms_from: "MoversCRM".to_owned(),
            max_attempts: 5,
            first_retry: Duration::from_secs(30),
            lease: Duration::from_secs(120),
            poll: Duration::from_millis(500),
            concurrency: 16,
        }
    }
}

/// What the sender needs: the stores, and the transports built once.
pub struct Sender {
    pool: PgPool,
    communications: Arc<Store<Communication>>,
    profiles: Arc<Store<aggregates::tenant_profile::TenantProfile>>,
    /// Opens attachments.
    keys: Arc<keystore::KeyStore>,
    config: SenderConfig,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    http: reqwest::Client,
}

/// How one hand-over went.
#[derive(Debug)]
enum Outcome {
    Sent(Option<String>),
    /// May pass: try again later.
    Transient(String),
    /// Will not pass: the message fails.
    Permanent(String),
}

impl Sender {
    pub fn new(
        pool: PgPool,
        stores: &event_store::Stores,
        config: SenderConfig,
    ) -> Result<Self, String> {
        let smtp = match &config.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("CRM_SMTP_URL: {e}"))?
                    .timeout(Some(Duration::from_secs(30)))
                    .build(),
            ),
            None => None,
        };
        config
            .default_from
            .parse::<Mailbox>()
            .map_err(|e| format!("the default sender `{}`: {e}", config.default_from))?;
        Ok(Self {
            pool,
            communications: stores.get(),
            profiles: stores.get(),
            keys: stores.keys().clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?,
            smtp,
            config,
        })
    }

    /// Claims the due messages (holding each for the lease) and hands them
    /// over, a few at a time. Returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        let claimed: Vec<(String, Uuid)> = sqlx::query_as(
            "UPDATE read.outbox SET due_at = now() + make_interval(secs => $1)
              WHERE (tenant_id, communication_id) IN (
                    SELECT tenant_id, communication_id FROM read.outbox
                     WHERE due_at <= now() ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
              RETURNING tenant_id, communication_id",
        )
        .bind(self.config.lease.as_secs_f64())
        .bind(self.config.concurrency as i64 * 4)
        .fetch_all(&self.pool)
        .await?;
        let count = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.config.concurrency, |(tenant, id)| async move {
                let Ok(tenant) = TenantId::parse(&tenant) else {
                    return;
                };
                if let Err(e) = self.send_one(&tenant, id).await {
                    tracing::warn!(%id, error = %e, "sending a message failed; it is due again after its lease");
                }
            })
            .await;
        Ok(count)
    }

    async fn forget_row(&self, tenant: &TenantId, id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM read.outbox WHERE tenant_id = $1 AND communication_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn decide(
        &self,
        tenant: &TenantId,
        id: Uuid,
        action: CommunicationAction,
    ) -> Result<(), CommandError<CommunicationError>> {
        let run = Run::new(tenant, Target::Existing(id));
        self.communications
            .run(
                run,
                || EventMetadata::system(tenant, format!("sender:{id}")),
                |_| {
                    Ok::<_, CommandError<CommunicationError>>(CommunicationCommand {
                        at: Utc::now(),
                        actor: SYSTEM_USER,
                        consent: None,
                        action: action.clone(),
                    })
                },
            )
            .await
            .map(drop)
    }

    /// One message: attempt recorded, handed over, outcome recorded.
    async fn send_one(&self, tenant: &TenantId, id: Uuid) -> Result<(), String> {
        let loaded = match self.communications.load(tenant, id).await {
            Ok(loaded) => loaded,
            Err(CommandError::NotFound { .. }) => {
                return self.forget_row(tenant, id).await.map_err(|e| e.to_string());
            }
            Err(e) => return Err(e.to_string()),
        };
        let message = loaded.state().clone();
        if message.status != Some(CommunicationStatus::Queued) {
            // Sent, failed or cancelled since it was queued.
            return self.forget_row(tenant, id).await.map_err(|e| e.to_string());
        }
        let profile = self
            .profiles
            .load_or_new(tenant, event_schemas::tenant::profile_id(tenant))
            .await
            .map_err(|e| e.to_string())?;
        let from = sender_of(profile.state(), &self.config.default_from);
        let domain = from.email.domain().to_owned();
        let message_id = Communication::message_id_of(id, &domain);
        match self
            .decide(
                tenant,
                id,
                CommunicationAction::StartAttempt {
                    message_id: message_id.clone(),
                },
            )
            .await
        {
            Ok(()) => {}
            Err(CommandError::Domain(CommunicationError::WrongStatus(..))) => {
                return self.forget_row(tenant, id).await.map_err(|e| e.to_string());
            }
            Err(e) => return Err(e.to_string()),
        }
        let attempt = message.attempts + 1;
        let outcome = match message.channel {
            Some(CommunicationType::Email) => self.email(tenant, &message, from, &message_id).await,
            Some(CommunicationType::Sms) => self.sms(&message, id).await,
            other => Outcome::Permanent(format!("{other:?} is not sent by the sender")),
        };
        tracing::info!(%id, attempt, outcome = ?outcome, "message handed over");
        let action = match outcome {
            Outcome::Sent(provider_message_id) => CommunicationAction::MarkSent {
                provider_message_id,
            },
            Outcome::Permanent(reason) => CommunicationAction::Fail { reason },
            Outcome::Transient(reason) if attempt >= self.config.max_attempts => {
                CommunicationAction::Fail {
                    reason: format!("gave up after {attempt} attempts: {reason}"),
                }
            }
            Outcome::Transient(reason) => {
                let pause = self.config.first_retry * 2u32.saturating_pow(attempt - 1);
                let retry_at = Utc::now()
                    + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::hours(1));
                sqlx::query(
                    "UPDATE read.outbox SET due_at = $3 WHERE tenant_id = $1 AND communication_id = $2",
                )
                .bind(tenant.as_str())
                .bind(id)
                .bind(retry_at)
                .execute(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
                CommunicationAction::AttemptFailed { reason, retry_at }
            }
        };
        self.decide(tenant, id, action)
            .await
            .map_err(|e| e.to_string())
    }

    /// The message's files as MIME parts, each checked against the hash the
    /// message recorded. A file erased since (its customer forgotten) fails
    /// the message; a database error may pass.
    async fn attachment_parts(
        &self,
        tenant: &TenantId,
        message: &Communication,
    ) -> Result<Vec<SinglePart>, Outcome> {
        let mut parts = Vec::with_capacity(message.attachments.len());
        for reference in &message.attachments {
            let id = reference.attachment_id;
            let opened =
                match event_store::attachments::opened(&self.pool, &self.keys, tenant.as_str(), id)
                    .await
                {
                    Ok(Some(opened)) => opened,
                    Ok(None) => {
                        return Err(Outcome::Permanent(format!("attachment {id} is missing")));
                    }
                    Err(AttachmentError::Erased) => {
                        return Err(Outcome::Permanent(format!("attachment {id} was erased")));
                    }
                    Err(e @ AttachmentError::Damaged(..)) => {
                        return Err(Outcome::Permanent(e.to_string()));
                    }
                    Err(e) => return Err(Outcome::Transient(e.to_string())),
                };
            if opened.info.sha256 != reference.sha256 {
                return Err(Outcome::Permanent(format!(
                    "attachment {id} is not the file the message named"
                )));
            }
            let content_type = ContentType::parse(&opened.info.content_type).unwrap_or_else(|_| {
                ContentType::parse("application/octet-stream").expect("a valid type")
            });
            parts.push(Attachment::new(opened.file_name).body(opened.bytes, content_type));
        }
        Ok(parts)
    }

    async fn email(
        &self,
        tenant: &TenantId,
        message: &Communication,
        from: Mailbox,
        message_id: &str,
    ) -> Outcome {
        let Some(smtp) = &self.smtp else {
            return Outcome::Permanent("no SMTP server is configured (CRM_SMTP_URL)".into());
        };
        let to: Mailbox = match message.recipient.parse() {
            Ok(to) => to,
            Err(e) => return Outcome::Permanent(format!("the recipient: {e}")),
        };
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(message.subject.clone().unwrap_or_default())
            .message_id(Some(message_id.to_owned()));
        if let Some(url) = &message.unsubscribe_url {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let html = message.content.clone();
        let text = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(plain_text(&html)),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html),
            );
        let files = match self.attachment_parts(tenant, message).await {
            Ok(files) => files,
            Err(outcome) => return outcome,
        };
        let built = if files.is_empty() {
            builder.multipart(text)
        } else {
            builder.multipart(
                files
                    .into_iter()
                    .fold(MultiPart::mixed().multipart(text), MultiPart::singlepart),
            )
        };
        let email = match built {
            Ok(email) => email,
            Err(e) => return Outcome::Permanent(format!("the message could not be built: {e}")),
        };
        match smtp.send(email).await {
            Ok(_) => Outcome::Sent(Some(message_id.to_owned())),
            Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
            Err(e) => Outcome::Transient(e.to_string()),
        }
    }

    async fn sms(&self, message: &Communication, id: Uuid) -> Outcome {
        let Some(url) = &self.config.sms_url else {
            return Outcome::Permanent("no SMS provider is configured (CRM_SMS_URL)".into());
        };
        let mut request = self
            .http
            .post(format!("{}/messages", url.trim_end_matches('/')))
            .json(&serde_json::json!({
                "to": message.recipient,
                "from": self.config.sms_from,
                "body": message.content,
                "reference": id.to_string(),
            }));
        if let Some(token) = &self.config.sms_token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Transient(format!("the SMS provider: {e}")),
        };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let answer = format!(
            "HTTP {status}: {}",
            body.chars().take(500).collect::<String>()
        );
        if status.is_success() {
            let provider_id = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned));
            Outcome::Sent(provider_id)
        } else if status.as_u16() == 429 || status.is_server_error() {
            Outcome::Transient(answer)
        } else {
            Outcome::Permanent(answer)
        }
    }
}

/// The tenant's sender (its profile's), else the configured default.
fn sender_of(profile: &aggregates::tenant_profile::TenantProfile, default: &str) -> Mailbox {
    let fallback: Mailbox = default.parse().unwrap_or_else(|_| {
        "no-reply@crm.invalid"
            .parse()
            .expect("a valid built-in address")
    });
    match profile.email_sender_address() {
        Some(address) => match address.parse() {
            Ok(email) => Mailbox::new(profile.email_sender_name().map(str::to_owned), email),
            Err(_) => fallback,
        },
        None => fallback,
    }
}

/// A plain-text alternative of an HTML body: tags dropped, entities of the
/// escaping undone, paragraphs on their own lines.
fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                let name = tag.trim_start_matches('/').to_ascii_lowercase();
                if ["p", "br", "br/", "div", "li", "tr", "h1", "h2", "h3"]
                    .iter()
                    .any(|t| name == *t || name.starts_with(&format!("{t} ")))
                    && !out.ends_with('\n')
                {
                    out.push('\n');
                }
            }
            _ if in_tag => tag.push(c),
            _ => out.push(c),
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// Runs the sender until `shutdown`: one active copy per deployment (an
/// advisory lock held for each round), a round every `poll`.
pub async fn run(sender: Arc<Sender>, shutdown: CancellationToken) {
    const LOCK: i64 = 0x7365_6e64_6572; // "sender"
    crate::every_locked(
        &sender.pool,
        LOCK,
        sender.config.poll,
        &shutdown,
        || async {
            // Rounds follow each other while messages are due.
            loop {
                match sender.run_once().await {
                    Ok(0) => break,
                    Ok(_) if shutdown.is_cancelled() => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the sender could not claim messages");
                        break;
                    }
                }
            }
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::plain_text;

    #[test]
    fn the_plain_text_alternative_drops_tags_and_undoes_the_escaping() {
        assert_eq!(
            plain_text("<p>Hello Jane,</p><p>&lt;b&gt; &amp; more&#x2f;</p>"),
            "Hello Jane,\n<b> & more/"
        );
    }
}
