//! Real peers for the backend's end-to-end tests and benchmarks, each on its own port of
//! `127.0.0.1`, failing on demand and showing what they received:
//!
//! * [`smtp::SmtpServer`]: an SMTP server (plain, no TLS) that lettre's tokio transport can send
//!   to; [`smtp::SmtpServer::sink`] only counts, for benchmarks.
//! * [`sms::SmsProvider`]: an HTTP SMS provider; its module documents the contract the
//!   backend's client implements.
//!
//! Both need a tokio runtime and stop when dropped.

pub mod sms;
pub mod smtp;

pub use sms::{SmsProvider, SmsRequest};
pub use smtp::{Phase, ReceivedMessage, Reply, SmtpServer, SmtpStats};
