//! How values become text, shared by the formats so that a number reads the
//! same in CSV, JSON and PDF.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::{Column, ColumnKind, FormatError, MAX_COLUMNS, Value};

/// Places shown for money (decision 0014: amounts are cents).
pub(crate) const MONEY_SCALE: u32 = 2;
/// Places of a percent fraction: 0.253 is 25.3 %.
pub(crate) const PERCENT_FRACTION_SCALE: u32 = 3;
/// The most places a decimal column may show.
const MAX_SCALE: u32 = 10;

/// `value` rounded half away from zero to `scale` places and written with
/// exactly that many: `fixed(5, 2)` is `5.00`. A value that rounds to zero
/// is `0.00`, never `-0.00`.
pub(crate) fn fixed(value: Decimal, scale: u32) -> String {
    let mut rounded = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    if rounded.is_zero() {
        rounded.set_sign_positive(true);
    }
    format!("{rounded:.prec$}", prec = scale as usize)
}

/// The places a numeric column's values are written with, as data (CSV,
/// JSON): decimals their scale, money 2, percent fractions 3.
pub(crate) fn data_scale(kind: &ColumnKind) -> Option<u32> {
    match kind {
        ColumnKind::Decimal { scale } => Some(*scale),
        ColumnKind::Money { .. } => Some(MONEY_SCALE),
        ColumnKind::Percent => Some(PERCENT_FRACTION_SCALE),
        ColumnKind::Text | ColumnKind::Integer | ColumnKind::Date | ColumnKind::DateTime => None,
    }
}

/// An instant in the report's time zone, RFC 3339 with its offset:
/// `2026-11-05T09:30:00-05:00`.
pub(crate) fn instant(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A value as machine-readable text (CSV cells): numbers with their column's
/// scale and no grouping, dates ISO, instants RFC 3339 in the report's time
/// zone, null empty. Text is returned as is (quoting is the caller's).
pub(crate) fn data_text(kind: &ColumnKind, value: &Value, tz: Tz) -> String {
    match value {
        Value::Null => String::new(),
        Value::Text(text) => text.clone(),
        Value::Integer(number) => number.to_string(),
        Value::Decimal(number) => fixed(*number, data_scale(kind).unwrap_or(MONEY_SCALE)),
        Value::Date(date) => date.format("%Y-%m-%d").to_string(),
        Value::DateTime(at) => instant(*at, tz),
    }
}

/// A value as people read it (PDF cells): numbers grouped by thousands,
/// percentages with one place and a `%`, instants to the minute in the
/// report's time zone.
pub(crate) fn shown_text(kind: &ColumnKind, value: &Value, tz: Tz) -> String {
    match (kind, value) {
        (_, Value::Null) => String::new(),
        (_, Value::Text(text)) => text.clone(),
        (_, Value::Integer(number)) => group_thousands(&number.to_string()),
        (ColumnKind::Percent, Value::Decimal(fraction)) => {
            format!("{} %", fixed(*fraction * Decimal::ONE_HUNDRED, 1))
        }
        (_, Value::Decimal(number)) => {
            group_thousands(&fixed(*number, data_scale(kind).unwrap_or(MONEY_SCALE)))
        }
        (_, Value::Date(date)) => date.format("%Y-%m-%d").to_string(),
        (_, Value::DateTime(at)) => at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
    }
}

/// The generation time as people read it: `2026-12-01 09:30 EST`.
pub(crate) fn generated(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// `-1234567.50` → `-1,234,567.50`.
pub(crate) fn group_thousands(number: &str) -> String {
    let (sign, rest) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (whole, fraction) = match rest.find('.') {
        Some(dot) => rest.split_at(dot),
        None => (rest, ""),
    };
    let mut grouped = String::with_capacity(number.len() + whole.len() / 3);
    grouped.push_str(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped.push_str(fraction);
    grouped
}

/// Checks that the columns can make a report.
pub(crate) fn check_columns(columns: &[Column]) -> Result<(), FormatError> {
    let invalid = |column: &str, reason: &str| FormatError::InvalidColumn {
        column: column.to_owned(),
        reason: reason.to_owned(),
    };
    if columns.is_empty() {
        return Err(invalid("", "a report needs at least one column"));
    }
    if columns.len() > MAX_COLUMNS {
        return Err(invalid("", "more columns than an Excel sheet holds"));
    }
    let mut keys = std::collections::HashSet::with_capacity(columns.len());
    for column in columns {
        if column.key.is_empty() {
            return Err(invalid("", "a column key is empty"));
        }
        if !keys.insert(column.key.as_str()) {
            return Err(invalid(&column.key, "the key is used twice"));
        }
        match &column.kind {
            ColumnKind::Money { currency }
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                return Err(invalid(
                    &column.key,
                    "a currency is an ISO 4217 code of three capital letters",
                ));
            }
            ColumnKind::Decimal { scale } if *scale > MAX_SCALE => {
                return Err(invalid(&column.key, "a decimal shows at most 10 places"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks a row's arity and each value against its column's kind.
pub(crate) fn check_row(columns: &[Column], row: &[Value]) -> Result<(), FormatError> {
    if row.len() != columns.len() {
        return Err(FormatError::Arity {
            expected: columns.len(),
            got: row.len(),
        });
    }
    for (column, value) in columns.iter().zip(row) {
        if !column.kind.accepts(value) {
            return Err(FormatError::WrongKind {
                column: column.key.clone(),
                expected: column.kind.name(),
                got: value.kind_name(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn fixed_rounds_half_away_from_zero_and_pads() {
        assert_eq!(fixed(dec("5"), 2), "5.00");
        assert_eq!(fixed(dec("1.005"), 2), "1.01");
        assert_eq!(fixed(dec("-1.005"), 2), "-1.01");
        assert_eq!(fixed(dec("2.5"), 0), "3");
        assert_eq!(fixed(dec("0.1234"), 3), "0.123");
    }

    #[test]
    fn a_value_rounding_to_zero_has_no_minus_sign() {
        assert_eq!(fixed(dec("-0.001"), 2), "0.00");
    }

    #[test]
    fn thousands_are_grouped_with_sign_and_fraction_kept() {
        assert_eq!(group_thousands("0.50"), "0.50");
        assert_eq!(group_thousands("999"), "999");
        assert_eq!(group_thousands("1000"), "1,000");
        assert_eq!(group_thousands("-1234567.50"), "-1,234,567.50");
        assert_eq!(group_thousands("123456"), "123,456");
    }

    #[test]
    fn percent_shows_the_fraction_times_a_hundred_with_one_place() {
        let shown = shown_text(&ColumnKind::Percent, &Value::Decimal(dec("0.253")), Tz::UTC);
        assert_eq!(shown, "25.3 %");
        let data = data_text(
            &ColumnKind::Percent,
            &Value::Decimal(dec("0.25349")),
            Tz::UTC,
        );
        assert_eq!(data, "0.253");
    }

    #[test]
    fn instants_are_shown_in_the_report_time_zone() {
        let at = Utc.with_ymd_and_hms(2026, 11, 5, 14, 30, 0).unwrap();
        let tz = chrono_tz::America::Toronto;
        assert_eq!(
            data_text(&ColumnKind::DateTime, &Value::DateTime(at), tz),
            "2026-11-05T09:30:00-05:00"
        );
        assert_eq!(
            shown_text(&ColumnKind::DateTime, &Value::DateTime(at), tz),
            "2026-11-05 09:30"
        );
        assert_eq!(generated(at, tz), "2026-11-05 09:30 EST");
    }

    #[test]
    fn columns_with_a_repeated_key_or_a_bad_currency_are_refused() {
        let twice = [
            Column::new("a", "A", ColumnKind::Text),
            Column::new("a", "B", ColumnKind::Integer),
        ];
        assert!(
            matches!(check_columns(&twice), Err(FormatError::InvalidColumn { column, .. }) if column == "a")
        );
        let currency = [Column::new(
            "m",
            "M",
            ColumnKind::Money {
                currency: "$".into(),
            },
        )];
        assert!(check_columns(&currency).is_err());
        assert!(check_columns(&[]).is_err());
        let fine = [Column::new(
            "m",
            "M",
            ColumnKind::Money {
                currency: "CAD".into(),
            },
        )];
        assert!(check_columns(&fine).is_ok());
    }

    #[test]
    fn a_value_of_another_kind_is_refused_and_null_is_allowed() {
        let columns = [
            Column::new("n", "N", ColumnKind::Integer),
            Column::new(
                "m",
                "M",
                ColumnKind::Money {
                    currency: "CAD".into(),
                },
            ),
        ];
        assert!(check_row(&columns, &[Value::Null, Value::Null]).is_ok());
        let err = check_row(&columns, &[Value::Integer(1), Value::Text("x".into())]).unwrap_err();
        assert!(matches!(
            err,
            FormatError::WrongKind { ref column, expected: "money", got: "text" } if column == "m"
        ));
        assert!(matches!(
            check_row(&columns, &[Value::Null]),
            Err(FormatError::Arity {
                expected: 2,
                got: 1
            })
        ));
    }
}
