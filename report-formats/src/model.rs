//! What a report is made of: its format, columns, values and heading.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

/// The most rows a PDF report holds (about 290 landscape pages). A PDF is
/// laid out in memory so that every page can say "of n"; larger reports
/// belong in CSV, JSON or Excel.
pub const PDF_MAX_ROWS: u64 = 10_000;

/// The most rows a CSV, JSON or Excel report holds. Excel's sheet limit is
/// 1,048,576 rows, which leaves room for the title block and the header row.
pub const MAX_ROWS: u64 = 1_000_000;

/// The most columns a report has: Excel's sheet limit.
pub const MAX_COLUMNS: usize = 16_384;

/// A file format a report can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RFC 4180 CSV, UTF-8, CRLF line ends, a header row of labels.
    Csv,
    /// One JSON object: heading, columns, rows (objects keyed by column key)
    /// and the row count.
    Json,
    /// An Excel workbook (xlsx) with one sheet.
    Excel,
    /// A paginated, printable PDF (landscape Letter).
    Pdf,
}

impl Format {
    /// The MIME type to serve the file with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Excel => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Pdf => "application/pdf",
        }
    }

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Excel => "xlsx",
            Format::Pdf => "pdf",
        }
    }

    /// The most rows a report in this format holds: [`PDF_MAX_ROWS`] for
    /// PDF, [`MAX_ROWS`] otherwise.
    pub fn max_rows(self) -> u64 {
        match self {
            Format::Pdf => PDF_MAX_ROWS,
            Format::Csv | Format::Json | Format::Excel => MAX_ROWS,
        }
    }
}

/// What a column holds, and so how its values are checked and shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// Free text ([`Value::Text`]).
    Text,
    /// A whole number ([`Value::Integer`]).
    Integer,
    /// A decimal number ([`Value::Decimal`]) shown with `scale` places,
    /// rounded half away from zero. At most 10 places.
    Decimal {
        /// Places after the decimal point.
        scale: u32,
    },
    /// An amount of money ([`Value::Decimal`]) shown with 2 places, rounded
    /// half away from zero (decision 0014).
    Money {
        /// ISO 4217 code, three capital letters, e.g. `CAD`.
        currency: String,
    },
    /// A fraction ([`Value::Decimal`]) shown as a percentage with one place:
    /// 0.253 shows as 25.3 %. CSV and JSON carry the fraction itself,
    /// rounded to the shown precision (0.253).
    Percent,
    /// A calendar date ([`Value::Date`]).
    Date,
    /// An instant ([`Value::DateTime`]), shown in the report's time zone.
    DateTime,
}

impl ColumnKind {
    /// The kind's name as written in JSON (`"money"`) and in errors.
    pub fn name(&self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Integer => "integer",
            ColumnKind::Decimal { .. } => "decimal",
            ColumnKind::Money { .. } => "money",
            ColumnKind::Percent => "percent",
            ColumnKind::Date => "date",
            ColumnKind::DateTime => "datetime",
        }
    }

    /// Whether values of this kind are numbers (right-aligned, never
    /// quoted).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            ColumnKind::Integer
                | ColumnKind::Decimal { .. }
                | ColumnKind::Money { .. }
                | ColumnKind::Percent
        )
    }

    /// Whether `value` may stand in a column of this kind. [`Value::Null`]
    /// may stand anywhere.
    pub fn accepts(&self, value: &Value) -> bool {
        matches!(
            (self, value),
            (_, Value::Null)
                | (ColumnKind::Text, Value::Text(_))
                | (ColumnKind::Integer, Value::Integer(_))
                | (
                    ColumnKind::Decimal { .. } | ColumnKind::Money { .. } | ColumnKind::Percent,
                    Value::Decimal(_)
                )
                | (ColumnKind::Date, Value::Date(_))
                | (ColumnKind::DateTime, Value::DateTime(_))
        )
    }
}

/// One column of a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// The column's key: JSON rows are objects keyed by it. Unique within a
    /// report, not empty.
    pub key: String,
    /// The heading people read (CSV header row, Excel and PDF header).
    pub label: String,
    /// What the column holds.
    pub kind: ColumnKind,
}

impl Column {
    /// A column from its key, label and kind.
    pub fn new(key: impl Into<String>, label: impl Into<String>, kind: ColumnKind) -> Self {
        Column {
            key: key.into(),
            label: label.into(),
            kind,
        }
    }
}

/// One cell of a row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// No value: an empty cell (`null` in JSON). Allowed in every column.
    Null,
    /// For [`ColumnKind::Text`].
    Text(String),
    /// For [`ColumnKind::Integer`].
    Integer(i64),
    /// For [`ColumnKind::Decimal`], [`ColumnKind::Money`] and
    /// [`ColumnKind::Percent`] (a fraction).
    Decimal(Decimal),
    /// For [`ColumnKind::Date`].
    Date(NaiveDate),
    /// For [`ColumnKind::DateTime`].
    DateTime(DateTime<Utc>),
}

impl Value {
    /// The value's kind name, for errors.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Text(_) => "text",
            Value::Integer(_) => "integer",
            Value::Decimal(_) => "decimal",
            Value::Date(_) => "date",
            Value::DateTime(_) => "datetime",
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Integer(number)
    }
}

impl From<Decimal> for Value {
    fn from(number: Decimal) -> Self {
        Value::Decimal(number)
    }
}

impl From<NaiveDate> for Value {
    fn from(date: NaiveDate) -> Self {
        Value::Date(date)
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(instant: DateTime<Utc>) -> Self {
        Value::DateTime(instant)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// The heading of a report: shown above the table (Excel, PDF) or as fields
/// (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMeta {
    /// The tenant's company name.
    pub company_name: String,
    /// The report's title, e.g. "Revenue by month".
    pub title: String,
    /// The period covered, as people read it, e.g. "2026-11-01 – 2026-11-30".
    pub period: String,
    /// When the report was generated. Also the files' creation date, so
    /// that the same rows and the same `generated_at` give the same bytes.
    pub generated_at: DateTime<Utc>,
    /// The time zone the generation time and [`ColumnKind::DateTime`] cells
    /// are shown in.
    pub time_zone: Tz,
}

/// What [`ReportWriter::finish`](crate::ReportWriter::finish) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file's format.
    pub format: Format,
    /// Data rows written (the header not counted).
    pub rows: u64,
    /// The file's size.
    pub bytes: u64,
    /// [`Format::content_type`] of `format`.
    pub content_type: &'static str,
    /// Pages, for PDF.
    pub pages: Option<u32>,
}
