//! Which event types an endpoint subscribed to.
//!
//! A pattern is an exact event type (`InvoiceIssued`), a prefix ending in
//! `*` (`Invoice*`: every invoice event, including ones added later), or
//! `*` alone (everything). Event types are PascalCase names, so patterns
//! are ASCII letters and digits and match case-sensitively.
//!
//! The webhook system's own events (types starting with one of
//! [`OWN_EVENT_PREFIXES`], e.g. `WebhookDeliveryFailed`) are never delivered,
//! whatever the patterns: delivering them would record more of them, and
//! a failing endpoint would feed itself forever.

use std::fmt;
use std::str::FromStr;

/// Event types starting with one of these belong to the webhook system
/// itself and are never delivered (no feedback loops); patterns naming only
/// them are refused when parsed, so the user learns it at once.
pub const OWN_EVENT_PREFIXES: &[&str] = &["Webhook"];

/// Longest pattern accepted, `*` included: event type names are far shorter,
/// so longer text is a mistake.
pub const MAX_PATTERN_LEN: usize = 100;

/// True for the webhook system's own event types, which are never delivered.
#[must_use]
pub fn is_own_event(event_type: &str) -> bool {
    OWN_EVENT_PREFIXES
        .iter()
        .any(|prefix| event_type.starts_with(prefix))
}

/// One subscribed event type pattern, parsed once when the endpoint is
/// created or changed, so matching cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventPattern {
    /// `*`: every event type (except the webhook system's own).
    All,
    /// `Invoice*`: every event type starting with the prefix (the prefix
    /// itself included: `Invoice*` matches an event type `Invoice`).
    Prefix(String),
    /// `InvoiceIssued`: exactly this event type.
    Exact(String),
}

/// Why a pattern was refused; messages say what to type instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Nothing was given.
    #[error(
        "an event type pattern is empty; use an event type like `InvoiceIssued`, a prefix like `Invoice*`, or `*`"
    )]
    Empty,
    /// Longer than [`MAX_PATTERN_LEN`].
    #[error(
        "the event type pattern `{pattern}…` is {len} characters long; at most {MAX_PATTERN_LEN} are allowed"
    )]
    TooLong {
        /// The first characters of the pattern.
        pattern: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character other than an ASCII letter, a digit or a final `*`.
    #[error(
        "the event type pattern `{pattern}` contains `{found}` at position {position}; only letters A-Z/a-z, digits and one `*` at the end are allowed"
    )]
    InvalidChar {
        /// The pattern as given.
        pattern: String,
        /// The offending character.
        found: char,
        /// Its 1-based position in characters.
        position: usize,
    },
    /// A `*` that is not the last character (or several of them).
    #[error(
        "the event type pattern `{0}` has a `*` that is not the last character; a `*` can only end a prefix, as in `Invoice*`"
    )]
    MisplacedStar(String),
    /// Only matches the webhook system's own events, which are never
    /// delivered.
    #[error(
        "the event type pattern `{0}` only matches events of the webhook system itself, which are never delivered"
    )]
    OwnEvents(String),
}

impl EventPattern {
    /// Parses a pattern typed by a user: letters and digits, optionally one
    /// trailing `*`, 1 to 100 characters, or `*` alone.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        let len = text.chars().count();
        if len > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong {
                pattern: text.chars().take(20).collect(),
                len,
            });
        }
        for (index, found) in text.chars().enumerate() {
            if found == '*' {
                if index + 1 != len {
                    return Err(PatternError::MisplacedStar(text.to_owned()));
                }
            } else if !found.is_ascii_alphanumeric() {
                return Err(PatternError::InvalidChar {
                    pattern: text.to_owned(),
                    found,
                    position: index + 1,
                });
            }
        }
        let pattern = match text.strip_suffix('*') {
            Some("") => Self::All,
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(text.to_owned()),
        };
        match &pattern {
            Self::Prefix(name) | Self::Exact(name) if is_own_event(name) => {
                Err(PatternError::OwnEvents(text.to_owned()))
            }
            _ => Ok(pattern),
        }
    }

    /// Whether an event of this type matches the pattern, ignoring the
    /// exclusion of the webhook system's own events (see
    /// [`Subscription::matches`]).
    #[must_use]
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::All => true,
            Self::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
            Self::Exact(name) => event_type == name,
        }
    }
}

impl fmt::Display for EventPattern {
    /// The pattern as the user wrote it, so it can be stored and parsed again.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Prefix(prefix) => write!(f, "{prefix}*"),
            Self::Exact(name) => f.write_str(name),
        }
    }
}

impl FromStr for EventPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The event types an endpoint receives: those matching any of its
/// patterns, never the webhook system's own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    patterns: Vec<EventPattern>,
}

impl Subscription {
    /// A subscription to the given patterns; with none it matches nothing.
    #[must_use]
    pub fn new(patterns: Vec<EventPattern>) -> Self {
        Self { patterns }
    }

    /// Parses each of the texts (see [`EventPattern::parse`]), failing on
    /// the first invalid one.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Self, PatternError> {
        texts
            .iter()
            .map(|text| EventPattern::parse(text.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    /// The patterns, in the order given.
    #[must_use]
    pub fn patterns(&self) -> &[EventPattern] {
        &self.patterns
    }

    /// Whether an event of this type is delivered to the endpoint: it
    /// matches a pattern and is not one of the webhook system's own.
    #[must_use]
    pub fn matches(&self, event_type: &str) -> bool {
        !is_own_event(event_type) && self.patterns.iter().any(|p| p.matches(event_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(text: &str) -> EventPattern {
        EventPattern::parse(text).unwrap()
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(p("*"), EventPattern::All);
        assert_eq!(p("Invoice*"), EventPattern::Prefix("Invoice".into()));
        assert_eq!(
            p("InvoiceIssued"),
            EventPattern::Exact("InvoiceIssued".into())
        );
        assert_eq!(p("V2Thing9"), EventPattern::Exact("V2Thing9".into()));
    }

    #[test]
    fn matching() {
        assert!(p("InvoiceIssued").matches("InvoiceIssued"));
        assert!(!p("InvoiceIssued").matches("InvoiceIssuedAgain"));
        assert!(!p("InvoiceIssued").matches("invoiceissued"));
        assert!(p("Invoice*").matches("InvoiceIssued"));
        assert!(p("Invoice*").matches("Invoice"));
        assert!(!p("Invoice*").matches("Invoic"));
        assert!(!p("Invoice*").matches("CustomerInvoiceIssued"));
        assert!(p("*").matches("Anything"));
    }

    #[test]
    fn refuses_with_actionable_messages() {
        assert_eq!(EventPattern::parse(""), Err(PatternError::Empty));
        let err = EventPattern::parse("Invoice Issued").unwrap_err();
        assert_eq!(
            err,
            PatternError::InvalidChar {
                pattern: "Invoice Issued".into(),
                found: ' ',
                position: 8
            }
        );
        assert!(err.to_string().contains("position 8"), "{err}");
        for text in ["*Invoice", "In*voice", "Invoice**", "**"] {
            assert_eq!(
                EventPattern::parse(text),
                Err(PatternError::MisplacedStar(text.into())),
                "{text}"
            );
        }
        for text in [
            "Invoice.Issued",
            "Invoice_Issued",
            "Invoice?",
            "Ïnvoice",
            "Invoice-*",
        ] {
            assert!(
                matches!(
                    EventPattern::parse(text),
                    Err(PatternError::InvalidChar { .. })
                ),
                "{text}"
            );
        }
        let long = "A".repeat(101);
        assert!(matches!(
            EventPattern::parse(&long),
            Err(PatternError::TooLong { len: 101, .. })
        ));
        assert!(EventPattern::parse(&"A".repeat(100)).is_ok());
        assert!(EventPattern::parse(&format!("{}*", "A".repeat(99))).is_ok());
        assert!(EventPattern::parse(&format!("{}*", "A".repeat(100))).is_err());
    }

    #[test]
    fn patterns_naming_only_own_events_are_refused() {
        for text in ["Webhook*", "WebhookDeliveryFailed", "WebhookEndpoint*"] {
            let err = EventPattern::parse(text).unwrap_err();
            assert_eq!(err, PatternError::OwnEvents(text.into()));
            assert!(err.to_string().contains("never delivered"));
        }
        // Broader patterns are fine: the subscription excludes own events.
        assert!(EventPattern::parse("Web*").is_ok());
        assert!(EventPattern::parse("Webhoo*").is_ok());
    }

    #[test]
    fn subscriptions_never_deliver_own_events() {
        let all = Subscription::new(vec![p("*")]);
        assert!(all.matches("InvoiceIssued"));
        assert!(!all.matches("WebhookDeliveryFailed"));
        assert!(!all.matches("Webhook"));
        let web = Subscription::parse(&["Web*"]).unwrap();
        assert!(web.matches("WebsiteVisited"));
        assert!(!web.matches("WebhookEndpointCreated"));
    }

    #[test]
    fn subscriptions_match_any_of_their_patterns() {
        let s = Subscription::parse(&["InvoiceIssued", "Customer*"]).unwrap();
        assert!(s.matches("InvoiceIssued"));
        assert!(s.matches("CustomerRegistered"));
        assert!(!s.matches("InvoicePaid"));
        assert!(!Subscription::new(vec![]).matches("InvoiceIssued"));
        assert!(Subscription::parse(&["ok", "not ok"]).is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(text in "[A-Za-z0-9]{1,99}\\*?") {
            match EventPattern::parse(&text) {
                Ok(pattern) => {
                    prop_assert_eq!(pattern.to_string(), text.clone());
                    prop_assert_eq!(EventPattern::parse(&pattern.to_string()), Ok(pattern));
                }
                Err(e) => prop_assert!(text.starts_with("Webhook"), "{text}: {e}"),
            }
        }

        #[test]
        fn a_prefix_matches_exactly_the_names_it_starts(prefix in "[A-Z][a-z]{0,8}", name in "[A-Za-z]{1,20}") {
            prop_assume!(!prefix.starts_with("Webhook"));
            let pattern = EventPattern::parse(&format!("{prefix}*")).unwrap();
            prop_assert_eq!(pattern.matches(&name), name.starts_with(&prefix));
            let longer = format!("{prefix}{name}");
            prop_assert!(pattern.matches(&longer));
        }

        #[test]
        fn own_events_are_never_matched(suffix in "[A-Za-z0-9]{0,30}", other in "[A-Za-z0-9]{1,30}\\*?") {
            let event = format!("Webhook{suffix}");
            let mut patterns = vec![EventPattern::All, EventPattern::Prefix("W".into())];
            patterns.extend(EventPattern::parse(&other).ok());
            prop_assert!(!Subscription::new(patterns).matches(&event));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,120}") {
            let _ = EventPattern::parse(&text);
        }
    }
}
