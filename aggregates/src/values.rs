//! Value rules: each function takes raw input and returns the normalized
//! value or a message for the client. Field names are attached by the caller
//! through [`crate::Validator`].

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use event_schemas::Address;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};

pub const MAX_NAME: usize = 100;
pub const MAX_EMAIL: usize = 254;
pub const MAX_SHORT_TEXT: usize = 200;
pub const MAX_LONG_TEXT: usize = 10_000;
pub const MAX_TAG: usize = 40;
pub const MAX_TAGS: usize = 50;
pub const MAX_CHECKLIST: usize = 50;
/// The largest free-form JSON field (preferences, specifications, gateway
/// data), serialized.
pub const MAX_PREFERENCES_BYTES: usize = 16 * 1024;
/// How deeply a free-form JSON field may nest (the field's own object is
/// level 1). Events carry such fields two levels further down, and every
/// reader of the event store must be able to decode them.
pub const MAX_JSON_DEPTH: usize = 32;
/// 999 999 999.99: fits `NUMERIC(12, 2)`.
pub const MAX_MONEY: Decimal = Decimal::from_parts(1_215_752_191, 23, 0, false, 2);

fn char_count(value: &str) -> usize {
    value.chars().count()
}

/// Trimmed, non-empty, at most `max` characters.
pub fn required_text(value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if char_count(value) > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}

/// Trimmed; empty becomes `None`; at most `max` characters.
pub fn optional_text(value: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => required_text(v, max).map(Some),
    }
}

/// A plausible email address, trimmed, with the domain lowercased.
/// Uniqueness compares [`email_key`] (the whole address lowercased).
pub fn email(value: &str) -> Result<String, String> {
    let value = value.trim();
    const MSG: &str = "must be an email address like name@example.com";
    if value.is_empty() || value.len() > MAX_EMAIL {
        return Err(if value.is_empty() {
            MSG.into()
        } else {
            format!("must be at most {MAX_EMAIL} characters")
        });
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(MSG.into());
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
    } else {
        Err(MSG.into())
    }
}

/// The case-insensitive uniqueness key of an (already normalized) email.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// A phone number normalized to E.164 (`+15145550123`). Spaces, dashes, dots
/// and parentheses are ignored. Ten digits (or eleven starting with 1) are
/// read as a North American number; others need a leading `+` and the
/// country code.
pub fn phone(value: &str) -> Result<String, String> {
    let value = value.trim();
    let (plus, rest) = match value.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err("must be a phone number like +1 514 555 0123".into()),
        }
    }
    if plus {
        if (8..=15).contains(&digits.len()) && !digits.starts_with('0') {
            return Ok(format!("+{digits}"));
        }
        return Err("must have 8 to 15 digits after the country code sign".into());
    }
    let national = match digits.len() {
        10 => digits.as_str(),
        11 if digits.starts_with('1') => &digits[1..],
        _ => {
            return Err(
                "must be a 10-digit North American number or start with + and the country code"
                    .into(),
            );
        }
    };
    if national.starts_with(['0', '1']) || national[3..].starts_with(['0', '1']) {
        return Err("is not a valid North American number".into());
    }
    Ok(format!("+1{national}"))
}

/// Raw address input, as a client sends it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default)]
    pub province: Option<String>,
    pub postal_code: String,
    #[serde(default)]
    pub country: Option<String>,
}

pub const CANADIAN_PROVINCES: &[&str] = &[
    "AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT",
];

/// Validates an address; errors are keyed by the field within the address.
pub fn address(input: &AddressInput) -> Result<Address, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    fn take(
        errors: &mut Vec<(&'static str, String)>,
        field: &'static str,
        r: Result<String, String>,
    ) -> String {
        r.unwrap_or_else(|e| {
            errors.push((field, e));
            String::new()
        })
    }
    let line1 = take(
        &mut errors,
        "line1",
        required_text(&input.line1, MAX_SHORT_TEXT),
    );
    let line2 = optional_text(input.line2.as_deref(), MAX_SHORT_TEXT).unwrap_or_else(|e| {
        errors.push(("line2", e));
        None
    });
    let city = take(&mut errors, "city", required_text(&input.city, MAX_NAME));
    let country = take(
        &mut errors,
        "country",
        match input.country.as_deref().map(str::trim) {
            None | Some("") => Ok("CA".to_owned()),
            Some(c) if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
                Ok(c.to_ascii_uppercase())
            }
            Some(_) => Err("must be a two-letter ISO 3166-1 country code, e.g. CA".to_owned()),
        },
    );
    let province_raw = input.province.as_deref().unwrap_or("").trim();
    let province = take(
        &mut errors,
        "province",
        if country == "CA" {
            let p = province_raw.to_ascii_uppercase();
            if CANADIAN_PROVINCES.contains(&p.as_str()) {
                Ok(p)
            } else {
                Err(format!(
                    "must be a Canadian province or territory code: {}",
                    CANADIAN_PROVINCES.join(", ")
                ))
            }
        } else {
            required_text(province_raw, MAX_NAME)
        },
    );
    let postal_code = take(
        &mut errors,
        "postal_code",
        if country == "CA" {
            canadian_postal_code(&input.postal_code)
        } else {
            required_text(&input.postal_code, 20)
        },
    );
    if errors.is_empty() {
        Ok(Address {
            line1,
            line2,
            city,
            province,
            postal_code,
            country,
        })
    } else {
        Err(errors)
    }
}

/// `A1A 1A1`, uppercase, with the letters Canada Post never uses rejected.
pub fn canadian_postal_code(value: &str) -> Result<String, String> {
    let compact: Vec<char> = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let letter_ok = |c: char, first: bool| {
        c.is_ascii_uppercase() && !"DFIOQU".contains(c) && !(first && "WZ".contains(c))
    };
    let valid = compact.len() == 6
        && letter_ok(compact[0], true)
        && compact[1].is_ascii_digit()
        && letter_ok(compact[2], false)
        && compact[3].is_ascii_digit()
        && letter_ok(compact[4], false)
        && compact[5].is_ascii_digit();
    if valid {
        let s: String = compact.iter().collect();
        Ok(format!("{} {}", &s[..3], &s[3..]))
    } else {
        Err("must be a Canadian postal code like H2X 1Y4".into())
    }
}

/// Lowercased; 1 to 40 characters of letters, digits, space, `-` or `_`.
pub fn tag(value: &str) -> Result<String, String> {
    let tag = value.trim().to_lowercase();
    if tag.is_empty() || char_count(&tag) > MAX_TAG {
        return Err(format!("must be 1 to {MAX_TAG} characters"));
    }
    if !tag
        .chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_')
    {
        return Err("may contain only letters, digits, spaces, '-' and '_'".into());
    }
    Ok(tag)
}

/// A free-form JSON object (preferences, specifications, gateway data): at
/// most [`MAX_JSON_DEPTH`] levels deep, at most [`MAX_PREFERENCES_BYTES`]
/// bytes, no NUL characters (PostgreSQL's `json` refuses them).
pub fn free_json(value: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    if json_depth_over(value.values(), 1, MAX_JSON_DEPTH) {
        return Err(format!(
            "must nest at most {MAX_JSON_DEPTH} levels deep (objects and arrays)"
        ));
    }
    if value.iter().any(|(k, v)| k.contains('\0') || has_nul(v)) {
        return Err("must not contain NUL characters".into());
    }
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_PREFERENCES_BYTES {
        return Err(format!(
            "must be at most {MAX_PREFERENCES_BYTES} bytes of JSON"
        ));
    }
    Ok(value.clone())
}

/// Whether any of `values`, found at nesting level `level`, nests deeper
/// than `max` levels in all. Stops descending at the limit.
fn json_depth_over<'a>(values: impl Iterator<Item = &'a Value>, level: usize, max: usize) -> bool {
    let mut values = values;
    values.any(|v| match v {
        Value::Array(items) => level + 1 > max || json_depth_over(items.iter(), level + 1, max),
        Value::Object(map) => level + 1 > max || json_depth_over(map.values(), level + 1, max),
        _ => false,
    })
}

/// The preferences of a customer: free-form JSON ([`free_json`]).
pub fn preferences(value: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    free_json(value)
}

/// A non-negative amount with at most two decimals, at most [`MAX_MONEY`];
/// returned with exactly two decimals.
pub fn money(value: Decimal) -> Result<Decimal, String> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err("must not be negative".into());
    }
    if value.normalize().scale() > 2 {
        return Err("must have at most 2 decimal places".into());
    }
    if value > MAX_MONEY {
        return Err(format!("must be at most {MAX_MONEY}"));
    }
    let mut v = value.normalize();
    v.rescale(2);
    Ok(v)
}

/// An id from another system (a location, say): 1 to 64 characters of
/// letters, digits, `-` and `_`.
pub fn identifier(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty()
        || value.len() > 64
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("must be 1 to 64 characters of letters, digits, - and _".into());
    }
    Ok(value.to_owned())
}

pub fn score(value: i32) -> Result<i32, String> {
    if (0..=100).contains(&value) {
        Ok(value)
    } else {
        Err("must be between 0 and 100".into())
    }
}

/// Checklist keys are snake_case identifiers (`budget_confirmed`).
pub fn checklist(value: &BTreeMap<String, bool>) -> Result<BTreeMap<String, bool>, String> {
    if value.len() > MAX_CHECKLIST {
        return Err(format!("must have at most {MAX_CHECKLIST} criteria"));
    }
    for key in value.keys() {
        let ok = !key.is_empty()
            && key.len() <= 64
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(format!(
                "criterion `{key}` must be 1 to 64 characters of a-z, 0-9 and _"
            ));
        }
    }
    Ok(value.clone())
}

/// A move date may not be in the past anywhere: it is compared with the
/// calendar date at UTC-12, the last place on Earth where a day ends, so a
/// customer's "today" is never refused because UTC has already moved on.
pub fn future_move_date(value: NaiveDate, now: DateTime<Utc>) -> Result<NaiveDate, String> {
    let earliest_today = (now - Duration::hours(12)).date_naive();
    if value < earliest_today {
        Err("must not be in the past".into())
    } else {
        Ok(value)
    }
}

pub fn duration_minutes(value: i32) -> Result<i32, String> {
    if (0..=7 * 24 * 60).contains(&value) {
        Ok(value)
    } else {
        Err("must be between 0 and 10080 minutes".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn emails_are_trimmed_and_domains_lowercased() {
        assert_eq!(
            email("  Jane.Doe@Example.COM ").unwrap(),
            "Jane.Doe@example.com"
        );
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "ja ne@example.com",
            "jane@@example.com",
            "jane@ex_ample.com",
            "jane..doe@example.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(email_key("Jane.Doe@example.com"), "jane.doe@example.com");
    }

    #[test]
    fn phones_normalize_to_e164() {
        assert_eq!(phone("(514) 555-0123").unwrap(), "+15145550123");
        assert_eq!(phone("1-514-555-0123").unwrap(), "+15145550123");
        assert_eq!(phone("+1 514.555.0123").unwrap(), "+15145550123");
        assert_eq!(phone("+44 20 7946 0958").unwrap(), "+442079460958");
        for bad in [
            "",
            "555-0123",
            "514-555-012x",
            "+0 123 456 789",
            "(014) 555-0123",
            "514 055 0123",
            "+1234567890123456",
        ] {
            assert!(phone(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn canadian_addresses_are_normalized_and_checked() {
        let input = AddressInput {
            line1: " 123 Rue Principale ".into(),
            line2: Some("  ".into()),
            city: "Montréal".into(),
            province: Some("qc".into()),
            postal_code: "h2x1y4".into(),
            country: None,
        };
        let addr = address(&input).unwrap();
        assert_eq!(addr.line1, "123 Rue Principale");
        assert_eq!(addr.line2, None);
        assert_eq!(addr.province, "QC");
        assert_eq!(addr.postal_code, "H2X 1Y4");
        assert_eq!(addr.country, "CA");

        let bad = AddressInput {
            province: Some("XX".into()),
            postal_code: "D1A 1A1".into(),
            ..input
        };
        let errors = address(&bad).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec!["province", "postal_code"]);
    }

    #[test]
    fn money_is_non_negative_with_two_decimals() {
        assert_eq!(money(dec!(12.5)).unwrap().to_string(), "12.50");
        assert_eq!(money(dec!(0)).unwrap().to_string(), "0.00");
        assert_eq!(money(dec!(1.230)).unwrap().to_string(), "1.23");
        assert!(money(dec!(-0.01)).is_err());
        assert!(money(dec!(1.234)).is_err());
        assert!(money(dec!(1000000000)).is_err());
    }

    #[test]
    fn a_move_date_is_past_only_once_it_is_past_everywhere() {
        let now = DateTime::parse_from_rfc3339("2026-03-10T05:00:00Z")
            .unwrap()
            .to_utc();
        // At 05:00 UTC it is still March 9 in Vancouver.
        assert!(future_move_date(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(), now).is_ok());
        assert!(future_move_date(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(), now).is_err());
    }

    #[test]
    fn preferences_refuse_nul_characters_anywhere() {
        let ok: Map<String, Value> =
            serde_json::from_str(r#"{"floor": 3, "notes": ["a"]}"#).unwrap();
        assert!(preferences(&ok).is_ok());
        let nested: Map<String, Value> =
            serde_json::from_str(r#"{"a": {"b": ["x\u0000y"]}}"#).unwrap();
        assert!(preferences(&nested).is_err());
        let key: Map<String, Value> = serde_json::from_str(r#"{"a\u0000": 1}"#).unwrap();
        let nest = |depth: usize| -> Map<String, Value> {
            // `depth` levels in all: the outer object, then nested arrays.
            let inner = format!("{}1{}", "[".repeat(depth - 1), "]".repeat(depth - 1));
            serde_json::from_str(&format!(r#"{{"a": {inner}}}"#)).unwrap()
        };
        assert!(free_json(&nest(MAX_JSON_DEPTH)).is_ok());
        assert!(
            free_json(&nest(MAX_JSON_DEPTH + 1))
                .unwrap_err()
                .contains("32 levels")
        );
        assert!(free_json(&nest(126)).is_err());
        let flat: Map<String, Value> = serde_json::from_str(r#"{"a": 1, "b": "x"}"#).unwrap();
        assert!(free_json(&flat).is_ok(), "one level");
        assert!(preferences(&key).is_err());
    }

    #[test]
    fn tags_and_checklists_are_constrained() {
        assert_eq!(tag("  VIP Client ").unwrap(), "vip client");
        assert!(tag("").is_err());
        assert!(tag("a;b").is_err());
        let ok = BTreeMap::from([("budget_confirmed".to_owned(), true)]);
        assert!(checklist(&ok).is_ok());
        let bad = BTreeMap::from([("Budget".to_owned(), true)]);
        assert!(checklist(&bad).is_err());
    }
}
