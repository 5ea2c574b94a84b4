//! One test binary for the crate: each format is written, then read back
//! with an independent reader (the csv crate, serde_json, calamine and the
//! xlsx's own XML, poppler's pdftotext and pdffonts).

mod csv_files;
mod determinism;
mod excel_files;
mod json_files;
mod pdf_files;
mod rules;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use report_formats::{Column, ColumnKind, Format, ReportMeta, ReportWriter, Value, Written};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

pub fn meta() -> ReportMeta {
    ReportMeta {
        company_name: "Déménagements Tremblay".into(),
        title: "Completed moves".into(),
        period: "2026-11-01 – 2026-11-30".into(),
        generated_at: Utc.with_ymd_and_hms(2026, 12, 1, 14, 30, 0).unwrap(),
        time_zone: chrono_tz::America::Toronto,
    }
}

pub fn columns() -> Vec<Column> {
    vec![
        Column::new("customer", "Customer", ColumnKind::Text),
        Column::new("crew", "Crew", ColumnKind::Integer),
        Column::new("weight", "Weight (t)", ColumnKind::Decimal { scale: 1 }),
        Column::new(
            "total",
            "Total",
            ColumnKind::Money {
                currency: "CAD".into(),
            },
        ),
        Column::new("margin", "Margin", ColumnKind::Percent),
        Column::new("move_date", "Move date", ColumnKind::Date),
        Column::new("booked_at", "Booked at", ColumnKind::DateTime),
    ]
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Rows with what each format must get right: non-ASCII, commas, quotes,
/// line breaks, formulas, negative and rounding numbers, nulls.
pub fn tricky_rows() -> Vec<Vec<Value>> {
    vec![
        vec![
            "Élise Gagné".into(),
            Value::Integer(3),
            Value::Decimal(dec!(1234.5)),
            Value::Decimal(dec!(1130)),
            Value::Decimal(dec!(0.253)),
            Value::Date(date(2026, 11, 5)),
            Value::DateTime(at(2026, 11, 5, 14, 30)),
        ],
        vec![
            "Doe, Jane".into(),
            Value::Integer(-2),
            Value::Decimal(dec!(0.05)),
            Value::Decimal(dec!(-12.345)),
            Value::Null,
            Value::Null,
            Value::Null,
        ],
        vec![
            "=SUM(A1)".into(),
            Value::Integer(1_234_567),
            Value::Null,
            Value::Decimal(dec!(1234567.891)),
            Value::Decimal(dec!(1)),
            Value::Date(date(2026, 11, 30)),
            Value::DateTime(at(2026, 7, 1, 3, 5)),
        ],
        vec![
            "say \"hi\"\nnext line".into(),
            Value::Null,
            Value::Decimal(dec!(2)),
            Value::Decimal(dec!(0)),
            Value::Decimal(dec!(-0.0449)),
            Value::Date(date(2026, 1, 1)),
            Value::DateTime(at(2026, 1, 1, 5, 0)),
        ],
        vec![
            "Zoë @home, -5 boxes".into(),
            Value::Integer(0),
            Value::Decimal(dec!(0.04)),
            Value::Decimal(dec!(5)),
            Value::Decimal(dec!(0.5)),
            Value::Date(date(2026, 11, 15)),
            Value::DateTime(at(2026, 11, 15, 23, 59)),
        ],
    ]
}

/// Row `i` of a long report: every kind filled, values that tell rows apart.
pub fn numbered_row(i: u64) -> Vec<Value> {
    let n = i64::try_from(i).unwrap();
    vec![
        Value::Text(format!("Customer {i:06}")),
        Value::Integer(n),
        Value::Decimal(Decimal::new(n, 1)),
        Value::Decimal(Decimal::new(n * 100 + 99, 2)),
        Value::Decimal(Decimal::new(n % 1000, 3)),
        Value::Date(date(2026, 11, 1) + chrono::Days::new(i % 30)),
        Value::DateTime(at(2026, 11, 1, 12, 0) + chrono::Duration::minutes(n)),
    ]
}

/// Writes `rows` as `format` into `dir`, returning the file and what
/// `finish` reported.
pub fn write(
    format: Format,
    rows: impl IntoIterator<Item = Vec<Value>>,
    dir: &Path,
    name: &str,
) -> (PathBuf, Written) {
    let path = dir.join(format!("{name}.{}", format.extension()));
    let mut writer = ReportWriter::create(format, meta(), columns(), &path).unwrap();
    for row in rows {
        writer.write_row(&row).unwrap();
    }
    let written = writer.finish().unwrap();
    assert_eq!(written.bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(written.content_type, format.content_type());
    (path, written)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
