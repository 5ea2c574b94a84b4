//! Custom headers a user sets on an endpoint (an API key of the receiver,
//! a routing tag …), checked when the endpoint is saved and again before
//! each delivery.
//!
//! A header may not break the request (hop-by-hop headers, framing), stand
//! in for credentials or for what we set ourselves (`Authorization`,
//! `Cookie`, `Host`, `Content-*` of our body, `webhook-*` signatures), or
//! smuggle a second header through CR/LF.

/// At most this many custom headers per endpoint: enough for keys and tags,
/// small enough to keep requests small.
pub const MAX_HEADERS: usize = 20;

/// Longest header name accepted.
pub const MAX_NAME_LEN: usize = 100;

/// Longest header value accepted, in bytes (tokens and keys fit easily).
pub const MAX_VALUE_LEN: usize = 2048;

/// Hop-by-hop headers (RFC 9110 section 7.6.1, plus the non-standard
/// `Proxy-Connection`): they are about one connection, which is ours.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers we set or that would change what the request means: credentials
/// (which a user should not make us send as if they were ours), the
/// destination, and how the body is framed and encoded.
pub const RESERVED: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "expect",
];

/// Every header starting with this (case-insensitively) is ours: the
/// Standard Webhooks signature headers and any added later.
pub const RESERVED_PREFIX: &str = "webhook-";

/// Why custom headers were refused; every message names the header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// More than [`MAX_HEADERS`] headers.
    #[error("{0} custom headers given; at most {MAX_HEADERS} are allowed")]
    TooMany(usize),
    /// A name that is empty, too long, or not an RFC 9110 token.
    #[error(
        "header name `{0}` is invalid: use 1 to {MAX_NAME_LEN} letters, digits or !#$%&'*+-.^_`|~ (no spaces or colons)"
    )]
    InvalidName(String),
    /// A value with control characters (CR/LF among them), non-ASCII text,
    /// surrounding spaces or too many bytes.
    #[error("the value of header `{name}` is invalid: {why}")]
    InvalidValue {
        /// The header's name.
        name: String,
        /// What is wrong with the value.
        why: &'static str,
    },
    /// A hop-by-hop header.
    #[error("header `{0}` cannot be set: it controls the connection, not the message")]
    HopByHop(String),
    /// A header we set ourselves or that would carry credentials.
    #[error("header `{0}` cannot be set: it is set by the webhook system or carries credentials")]
    Reserved(String),
    /// The same name twice (names are case-insensitive).
    #[error("header `{0}` is given twice (header names are case-insensitive)")]
    Duplicate(String),
}

/// RFC 9110 `tchar`: what a token (a header name) consists of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks one header: its name is an RFC 9110 token that is neither
/// hop-by-hop nor reserved, and its value is printable ASCII with inner
/// spaces or tabs only.
pub fn validate_header(name: &str, value: &str) -> Result<(), HeaderError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(is_tchar) {
        return Err(HeaderError::InvalidName(name.to_owned()));
    }
    let lower = name.to_ascii_lowercase();
    if HOP_BY_HOP.contains(&lower.as_str()) {
        return Err(HeaderError::HopByHop(name.to_owned()));
    }
    if RESERVED.contains(&lower.as_str()) || lower.starts_with(RESERVED_PREFIX) {
        return Err(HeaderError::Reserved(name.to_owned()));
    }
    let invalid = |why| {
        Err(HeaderError::InvalidValue {
            name: name.to_owned(),
            why,
        })
    };
    if value.len() > MAX_VALUE_LEN {
        return invalid("it is longer than 2048 bytes");
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return invalid("it contains a line break (CR or LF)");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t')
    {
        return invalid("only printable ASCII characters, spaces and tabs are allowed");
    }
    if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
        return invalid("it starts or ends with a space or tab");
    }
    Ok(())
}

/// Checks an endpoint's custom headers: at most [`MAX_HEADERS`], each valid
/// (see [`validate_header`]), no name twice.
pub fn validate_headers(headers: &[(String, String)]) -> Result<(), HeaderError> {
    if headers.len() > MAX_HEADERS {
        return Err(HeaderError::TooMany(headers.len()));
    }
    let mut seen: Vec<String> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        validate_header(name, value)?;
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(HeaderError::Duplicate(name.clone()));
        }
        seen.push(lower);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn ordinary_headers_pass() {
        let headers = vec![
            h("X-Api-Key", "abc123"),
            h("X-Tenant", "movers north"),
            h("X-Tab", "a\tb"),
            h("User-Agent-Hint", "x"),
            h("x!#$%&'*+-.^_`|~", "~!@#$%^&*()"),
            h("X-Empty", ""),
        ];
        assert_eq!(validate_headers(&headers), Ok(()));
    }

    #[test]
    fn invalid_names_are_named() {
        for name in ["", "X Key", "X:Key", "X-Kéy", "X(Key)", "X\r\nInjected"] {
            assert_eq!(
                validate_header(name, "v"),
                Err(HeaderError::InvalidName(name.into())),
                "{name:?}"
            );
        }
        let long = "X".repeat(101);
        assert_eq!(
            validate_header(&long, "v"),
            Err(HeaderError::InvalidName(long.clone()))
        );
        assert!(validate_header(&"X".repeat(100), "v").is_ok());
    }

    #[test]
    fn values_cannot_smuggle_headers_or_binary() {
        for value in [
            "a\r\nX-Injected: 1",
            "a\nb",
            "a\rb",
            "é",
            "a\0b",
            "\u{7f}",
            " lead",
            "trail\t",
        ] {
            let err = validate_header("X-Key", value).unwrap_err();
            assert!(
                matches!(&err, HeaderError::InvalidValue { name, .. } if name == "X-Key"),
                "{value:?}: {err}"
            );
            assert!(err.to_string().contains("X-Key"));
        }
        assert!(validate_header("X-Key", &"v".repeat(2048)).is_ok());
        assert!(validate_header("X-Key", &"v".repeat(2049)).is_err());
    }

    #[test]
    fn hop_by_hop_headers_are_refused_in_any_case() {
        for name in [
            "Connection",
            "keep-alive",
            "Proxy-Authenticate",
            "PROXY-AUTHORIZATION",
            "TE",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "Proxy-Connection",
        ] {
            let err = validate_header(name, "x").unwrap_err();
            assert_eq!(err, HeaderError::HopByHop(name.into()));
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn our_own_and_credential_headers_are_refused_in_any_case() {
        for name in [
            "Authorization",
            "cookie",
            "HOST",
            "Content-Length",
            "content-type",
            "Content-Encoding",
            "Expect",
            "webhook-signature",
            "Webhook-Id",
            "WEBHOOK-TIMESTAMP",
            "webhook-anything",
        ] {
            let err = validate_header(name, "x").unwrap_err();
            assert_eq!(err, HeaderError::Reserved(name.into()));
            assert!(err.to_string().contains(name));
        }
        // Only the prefix `webhook-` is ours.
        assert!(validate_header("Webhooks-Tag", "x").is_ok());
    }

    #[test]
    fn at_most_twenty_and_no_duplicates() {
        let twenty: Vec<_> = (0..20).map(|i| h(&format!("X-H{i}"), "v")).collect();
        assert_eq!(validate_headers(&twenty), Ok(()));
        let mut more = twenty;
        more.push(h("X-H20", "v"));
        assert_eq!(validate_headers(&more), Err(HeaderError::TooMany(21)));
        assert_eq!(
            validate_headers(&[h("X-Key", "a"), h("x-key", "b")]),
            Err(HeaderError::Duplicate("x-key".into()))
        );
        assert_eq!(
            validate_headers(&[h("X-Key", "a"), h("Host", "b")]),
            Err(HeaderError::Reserved("Host".into()))
        );
    }

    proptest! {
        #[test]
        fn accepted_headers_are_valid_http(name in "[ -~]{0,12}", value in "[\\PC\\t]{0,40}") {
            if validate_header(&name, &value).is_ok() {
                prop_assert!(reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok());
                let value = reqwest::header::HeaderValue::from_str(&value);
                prop_assert!(value.is_ok());
            }
        }

        #[test]
        fn line_breaks_are_always_refused(a in "[ -~]{0,10}", b in "[ -~]{0,10}", br in "\r|\n|\r\n") {
            let value = format!("{a}{br}{b}");
            prop_assert!(validate_header("X-Key", &value).is_err());
        }
    }
}
