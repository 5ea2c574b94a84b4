//! The filters this crate adds to minijinja's built-ins:
//!
//! * `money` — `{{ quote.total|money }}` formats a number or a decimal string
//!   (`"1234.5"`, `1234.5`) with two decimals, rounding half away from zero:
//!   `1234.50`. An optional thousands separator: `{{ total|money(",") }}` →
//!   `1,234.50`.
//! * `date` — `{{ job.starts_at|date("%d/%m/%Y %H:%M") }}` formats an RFC 3339
//!   date-time (`2025-06-01T09:30:00+02:00`, shown in its own offset) or a date
//!   (`2025-06-01`) with a chrono strftime pattern (default `%Y-%m-%d`). A
//!   time field on a plain date is an error.
//!
//! The built-in `indent` is kept: with fuel on, minijinja 3.1.0 charges its
//! output (`width × lines`) before allocating it, so `indent(width=10**9)`
//! stops with out-of-fuel (tested).

use std::fmt::Write as _;

use chrono::format::StrftimeItems;
use chrono::{DateTime, NaiveDate};
use minijinja::{Environment, Error, ErrorKind, Value};
use rust_decimal::{Decimal, RoundingStrategy};

/// Longest input `money` and `date` accept, and longest pattern or separator.
const MAX_ARGUMENT_BYTES: usize = 100;

pub(crate) fn register(env: &mut Environment<'_>) {
    env.add_filter("money", money);
    env.add_filter("date", date);
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

fn money(value: Value, thousands: Option<String>) -> Result<String, Error> {
    let text = if let Some(text) = value.as_str() {
        text.trim().to_owned()
    } else if value.is_number() {
        value.to_string()
    } else {
        return Err(invalid(format!(
            "money expects a number or a decimal string, not {}",
            value.kind()
        )));
    };
    if text.len() > MAX_ARGUMENT_BYTES {
        return Err(invalid("money: the value is too long".to_owned()));
    }
    let amount = Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| invalid(format!("money: `{text}` is not a number")))?
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let plain = format!("{amount:.2}");
    let Some(separator) = thousands.filter(|separator| !separator.is_empty()) else {
        return Ok(plain);
    };
    if separator.len() > MAX_ARGUMENT_BYTES {
        return Err(invalid("money: the separator is too long".to_owned()));
    }
    let (sign, unsigned) = match plain.strip_prefix('-') {
        Some(unsigned) => ("-", unsigned),
        None => ("", plain.as_str()),
    };
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "00"));
    let mut grouped = String::with_capacity(plain.len() + integer.len() / 3 * separator.len());
    for (index, digit) in integer.chars().enumerate() {
        if index > 0 && (integer.len() - index) % 3 == 0 {
            grouped.push_str(&separator);
        }
        grouped.push(digit);
    }
    Ok(format!("{sign}{grouped}.{fraction}"))
}

fn date(value: Value, pattern: Option<String>) -> Result<String, Error> {
    let Some(text) = value.as_str() else {
        return Err(invalid(format!(
            "date expects an RFC 3339 date-time or a YYYY-MM-DD date, not {}",
            value.kind()
        )));
    };
    let pattern = pattern.as_deref().unwrap_or("%Y-%m-%d");
    if pattern.len() > MAX_ARGUMENT_BYTES || text.len() > MAX_ARGUMENT_BYTES {
        return Err(invalid(
            "date: the value or the pattern is too long".to_owned(),
        ));
    }
    let items = StrftimeItems::new(pattern)
        .parse()
        .map_err(|_| invalid(format!("date: `{pattern}` is not a valid date format")))?;
    let mut out = String::new();
    let written = if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        write!(out, "{}", at.format_with_items(items.iter()))
    } else if let Ok(day) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        write!(out, "{}", day.format_with_items(items.iter()))
    } else {
        return Err(invalid(format!(
            "date: `{text}` is not an RFC 3339 date-time or a YYYY-MM-DD date"
        )));
    };
    written.map_err(|_| {
        invalid(format!(
            "date: `{pattern}` cannot format `{text}` (a time field on a date?)"
        ))
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_two_decimals() {
        assert_eq!(money(Value::from("1234.5"), None).unwrap(), "1234.50");
        assert_eq!(money(Value::from(1234.5), None).unwrap(), "1234.50");
        assert_eq!(money(Value::from(7), None).unwrap(), "7.00");
        assert_eq!(money(Value::from("0.005"), None).unwrap(), "0.01");
        assert_eq!(money(Value::from("-2.675"), None).unwrap(), "-2.68");
        assert_eq!(
            money(Value::from("1234567.891"), Some(",".into())).unwrap(),
            "1,234,567.89"
        );
        assert_eq!(
            money(Value::from("-999.999"), Some(",".into())).unwrap(),
            "-1,000.00"
        );
        assert_eq!(money(Value::from("12"), Some(" ".into())).unwrap(), "12.00");
        assert!(money(Value::from("abc"), None).is_err());
        assert!(money(Value::from(true), None).is_err());
    }

    #[test]
    fn date_formats_rfc3339_and_dates() {
        let at = Value::from("2025-06-01T09:30:00+02:00");
        assert_eq!(date(at.clone(), None).unwrap(), "2025-06-01");
        assert_eq!(
            date(at, Some("%d/%m/%Y %H:%M".into())).unwrap(),
            "01/06/2025 09:30"
        );
        let day = Value::from("2025-06-01");
        assert_eq!(
            date(day.clone(), Some("%A %e %B".into())).unwrap(),
            "Sunday  1 June"
        );
        assert!(date(day, Some("%H:%M".into())).is_err());
        assert!(date(Value::from("yesterday"), None).is_err());
        assert!(date(Value::from("2025-06-01"), Some("%Q".into())).is_err());
        assert!(date(Value::from(3), None).is_err());
    }
}
