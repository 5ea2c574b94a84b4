//! Standard Webhooks v1 signatures (<https://www.standardwebhooks.com>).
//!
//! A receiver checks that a webhook came from us, unchanged and recently, by
//! recomputing `HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")`
//! and comparing it with one of the `v1,<base64>` values of the
//! `webhook-signature` header. The HMAC itself is the `standardwebhooks`
//! crate's (the reference implementation receivers use too), never ours.
//!
//! Secrets rotate without a gap: for 24 hours after a rotation an endpoint
//! has two secrets, and each message carries one signature per secret,
//! current first, so receivers still configured with the previous secret
//! keep accepting messages until they switch.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use standardwebhooks::Webhook;

/// Every secret starts with this, as the specification and its libraries
/// expect (`whsec_<base64>`), so that a secret is recognisable when pasted.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a secret we generate: 256 bits, as strong as the HMAC.
pub const SECRET_BYTES: usize = 32;

/// The shortest key accepted (the specification's minimum, 192 bits), so an
/// imported secret cannot be guessable.
pub const MIN_SECRET_BYTES: usize = 24;

/// The longest key accepted (the specification's maximum, 512 bits).
pub const MAX_SECRET_BYTES: usize = 64;

/// Longest `webhook-id` we sign: ids are ours (UUIDs, `msg_…`), so anything
/// longer is a bug rather than a message.
pub const MAX_MSG_ID_LEN: usize = 256;

/// Name of the header carrying the message id (stable across retries, so a
/// receiver can drop duplicates).
pub const HEADER_ID: &str = standardwebhooks::HEADER_WEBHOOK_ID;
/// Name of the header carrying the Unix time of signing (receivers refuse
/// stale ones, which defeats replays).
pub const HEADER_TIMESTAMP: &str = standardwebhooks::HEADER_WEBHOOK_TIMESTAMP;
/// Name of the header carrying the space-separated `v1,<signature>` values.
pub const HEADER_SIGNATURE: &str = standardwebhooks::HEADER_WEBHOOK_SIGNATURE;

/// Why a secret is not a Standard Webhooks secret; each message says what
/// a user would have to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The text does not start with `whsec_`.
    #[error("a webhook secret starts with `whsec_` followed by base64")]
    MissingPrefix,
    /// What follows `whsec_` is not standard base64 (with padding).
    #[error("the part after `whsec_` is not standard base64 (A-Z, a-z, 0-9, +, /, = padding)")]
    NotBase64,
    /// The decoded key is too short or too long.
    #[error(
        "the key is {0} bytes; a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes"
    )]
    Length(usize),
}

/// Why a message could not be signed. Nothing is sent then: these are
/// mistakes of the caller, not of the receiver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// No secret at all: an unsigned webhook could be forged by anyone.
    #[error("no signing secret: a webhook is never sent unsigned")]
    NoSecrets,
    /// One of the secrets is invalid (`index` 0 is the current one).
    #[error("signing secret #{index}: {source}")]
    Secret {
        /// Position in the list given (0: current, 1: previous).
        index: usize,
        /// What is wrong with it.
        source: SecretError,
    },
    /// The message id is empty, too long, or not printable ASCII without
    /// spaces, so it could not travel in a header.
    #[error(
        "the message id must be 1 to {MAX_MSG_ID_LEN} printable ASCII characters without spaces"
    )]
    MsgId,
    /// Standard Webhooks signs text; our bodies are JSON, so this is a bug.
    #[error("the body is not UTF-8 (Standard Webhooks signs text; bodies are JSON)")]
    BodyNotUtf8,
}

/// A fresh secret, `whsec_` + base64 of [`SECRET_BYTES`] bytes from the
/// operating system's random generator, for a new endpoint or a rotation.
#[must_use]
pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// Checks that `secret` is `whsec_` + standard base64 of 24 to 64 bytes,
/// so a secret a user imports is refused when given, not when first used.
pub fn validate_secret(secret: &str) -> Result<(), SecretError> {
    key_of(secret).map(|_| ())
}

fn key_of(secret: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SecretError::MissingPrefix)?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| SecretError::NotBase64)?;
    if (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
        Ok(key)
    } else {
        Err(SecretError::Length(key.len()))
    }
}

fn valid_msg_id(msg_id: &str) -> bool {
    (1..=MAX_MSG_ID_LEN).contains(&msg_id.len()) && msg_id.bytes().all(|b| b.is_ascii_graphic())
}

/// The `webhook-signature` value: `v1,<base64>` for each secret, separated
/// by spaces, in the order given (current secret first, then the previous
/// one while it overlaps).
///
/// `timestamp` is Unix seconds and must be the value sent in
/// `webhook-timestamp`; receivers refuse timestamps more than 5 minutes
/// away from their clock, so sign just before sending, at every attempt.
pub fn signature_header(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    if secrets.is_empty() {
        return Err(SigningError::NoSecrets);
    }
    if !valid_msg_id(msg_id) {
        return Err(SigningError::MsgId);
    }
    if std::str::from_utf8(body).is_err() {
        return Err(SigningError::BodyNotUtf8);
    }
    let mut signatures = Vec::with_capacity(secrets.len());
    for (index, secret) in secrets.iter().enumerate() {
        let key = key_of(secret).map_err(|source| SigningError::Secret { index, source })?;
        let hook = Webhook::from_bytes(key).map_err(|_| SigningError::Secret {
            index,
            source: SecretError::NotBase64,
        })?;
        let signature = hook
            .sign(msg_id, timestamp, body)
            .map_err(|_| SigningError::BodyNotUtf8)?;
        signatures.push(signature);
    }
    Ok(signatures.join(" "))
}

/// The three headers of a signed message, as (name, value) pairs:
/// `webhook-id`, `webhook-timestamp`, `webhook-signature`, ready to be set
/// on a request.
pub fn headers(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], SigningError> {
    let signature = signature_header(secrets, msg_id, timestamp, body)?;
    Ok([
        (HEADER_ID, msg_id.to_owned()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, signature),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn new_secrets_are_valid_random_and_32_bytes() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(validate_secret(&a), Ok(()));
        assert_ne!(a, b);
        let key = STANDARD.decode(&a["whsec_".len()..]).unwrap();
        assert_eq!(key.len(), 32);
        assert!(Webhook::new(&a).is_ok());
    }

    #[test]
    fn invalid_secrets_are_refused_with_the_reason() {
        let key24 = STANDARD.encode([7u8; 24]);
        assert_eq!(validate_secret(&format!("whsec_{key24}")), Ok(()));
        assert_eq!(validate_secret(&key24), Err(SecretError::MissingPrefix));
        assert_eq!(
            validate_secret("whsec_not base64!"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(
            validate_secret(&format!("whsec_{}", STANDARD.encode([1u8; 16]))),
            Err(SecretError::Length(16))
        );
        assert_eq!(
            validate_secret(&format!("whsec_{}", STANDARD.encode([1u8; 65]))),
            Err(SecretError::Length(65))
        );
        assert_eq!(validate_secret("whsec_"), Err(SecretError::Length(0)));
    }

    #[test]
    fn matches_the_reference_signature() {
        // The standardwebhooks crate's own test vector (its key is 24 bytes).
        let signature = signature_header(
            &["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn every_secret_verifies_on_its_own_and_a_tampered_body_does_not() {
        let current = new_secret();
        let previous = new_secret();
        let body = br#"{"type":"InvoiceIssued","data":{"total":"12.50"}}"#;
        let ts = now();
        let pairs = headers(&[&current, &previous], "msg_1", ts, body).unwrap();
        assert_eq!(pairs[0], ("webhook-id", "msg_1".to_owned()));
        assert_eq!(pairs[1], ("webhook-timestamp", ts.to_string()));
        let values: Vec<&str> = pairs[2].1.split(' ').collect();
        assert_eq!(values.len(), 2);
        assert!(values.iter().all(|v| v.starts_with("v1,")));
        let map = header_map(&pairs);
        for secret in [&current, &previous] {
            let hook = Webhook::new(secret).unwrap();
            hook.verify(body, &map).unwrap();
            let tampered = br#"{"type":"InvoiceIssued","data":{"total":"99.50"}}"#;
            assert!(hook.verify(tampered, &map).is_err());
        }
        // A secret that signed nothing is not accepted.
        let stranger = Webhook::new(&new_secret()).unwrap();
        assert!(stranger.verify(body, &map).is_err());
    }

    #[test]
    fn the_current_secret_signs_first() {
        let current = new_secret();
        let previous = new_secret();
        let both = signature_header(&[&current, &previous], "m", 1, b"{}").unwrap();
        let only_current = signature_header(&[&current], "m", 1, b"{}").unwrap();
        let only_previous = signature_header(&[&previous], "m", 1, b"{}").unwrap();
        assert_eq!(both, format!("{only_current} {only_previous}"));
    }

    #[test]
    fn a_changed_id_or_timestamp_breaks_the_signature() {
        let secret = new_secret();
        let ts = now();
        let pairs = headers(&[&secret], "msg_1", ts, b"{}").unwrap();
        let hook = Webhook::new(&secret).unwrap();
        let mut map = header_map(&pairs);
        map.insert("webhook-id", HeaderValue::from_static("msg_2"));
        assert!(hook.verify(b"{}", &map).is_err());
        let mut map = header_map(&pairs);
        map.insert(
            "webhook-timestamp",
            HeaderValue::from_str(&(ts - 1).to_string()).unwrap(),
        );
        assert!(hook.verify(b"{}", &map).is_err());
    }

    #[test]
    fn signing_refuses_what_it_cannot_sign() {
        let good = new_secret();
        assert_eq!(
            signature_header(&[], "m", 1, b"{}"),
            Err(SigningError::NoSecrets)
        );
        assert_eq!(
            signature_header(&[&good, "whsec_"], "m", 1, b"{}"),
            Err(SigningError::Secret {
                index: 1,
                source: SecretError::Length(0)
            })
        );
        assert_eq!(
            signature_header(&[&good], "", 1, b"{}"),
            Err(SigningError::MsgId)
        );
        assert_eq!(
            signature_header(&[&good], "a b", 1, b"{}"),
            Err(SigningError::MsgId)
        );
        assert_eq!(
            signature_header(&[&good], "a\r\nb", 1, b"{}"),
            Err(SigningError::MsgId)
        );
        assert_eq!(
            signature_header(&[&good], "m", 1, &[0xff, 0xfe]),
            Err(SigningError::BodyNotUtf8)
        );
    }
}
