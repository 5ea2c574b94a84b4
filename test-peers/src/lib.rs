//! Real peers for the backend's end-to-end tests and benchmarks, each on its own port of
//! `127.0.0.1`, failing on demand and showing what they received:
//!
//! * [`smtp::SmtpServer`]: an SMTP server (plain, no TLS) that lettre's tokio transport can send
//!   to; [`smtp::SmtpServer::sink`] only counts, for benchmarks.
//! * [`sms::SmsProvider`]: an HTTP SMS provider; its module documents the contract the
//!   backend's client implements.
//! * [`webhooks::WebhookReceiver`]: an HTTP endpoint for the backend's outbound webhooks that
//!   verifies their Standard Webhooks signatures on its own and answers as scripted (statuses,
//!   `Retry-After`, 410, redirects, hanging); [`webhooks::WebhookReceiver::sink`] only counts,
//!   for benchmarks.
//!
//! All need a tokio runtime and stop when dropped.
//!
//! ```no_run
//! use std::time::Duration;
//! use test_peers::{Answer, Phase, Reply, SmsProvider, SmtpServer, WebhookReceiver};
//!
//! # async fn example() {
//! let smtp = SmtpServer::start().await;
//! // Configure the backend with host 127.0.0.1, port smtp.port(), no TLS, then:
//! smtp.fail_next(1, Reply::new(451, Phase::Data, "4.3.0 try later"));
//! // ... the backend sends, is refused once, retries ...
//! let messages = smtp.wait_for(1, Duration::from_secs(10)).await;
//! assert_eq!(messages[0].header("List-Unsubscribe").is_some(), true);
//!
//! let sms = SmsProvider::start("token").await;
//! // Configure the backend with sms.base_url() and the token, then:
//! let sent = sms.wait_for_sent(1, Duration::from_secs(10)).await;
//! assert_eq!(sent[0].to, "+15145550123");
//!
//! let hooks = WebhookReceiver::start(&["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]).await;
//! // Subscribe hooks.url("/crm") with that secret, then:
//! hooks.answer_next(1, Answer::RetryAfter { status: 503, seconds: 1 });
//! // ... the backend sends, is told to come back later, sends again ...
//! let received = hooks.wait_for(2, Duration::from_secs(10)).await;
//! assert!(received.iter().all(|hook| hook.verified && hook.timestamp_ok));
//! assert_eq!(received[1].answered, 200);
//! assert_eq!(hooks.distinct_ids().len(), 1, "one message, delivered at least once");
//! assert_eq!(received[0].body, received[1].body);
//! # }
//! ```

pub mod sms;
pub mod smtp;
pub mod webhooks;

pub use sms::{SmsProvider, SmsRequest};
pub use smtp::{Phase, ReceivedMessage, Reply, SmtpServer, SmtpStats};
pub use webhooks::{Answer, Arrival, ReceivedWebhook, WebhookReceiver};
