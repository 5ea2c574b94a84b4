//! Writes a tabular report to a file as CSV, JSON, Excel (xlsx) or PDF.
//!
//! The report worker reads a report's rows from PostgreSQL a page at a time
//! and pushes them into a [`ReportWriter`]; the writer streams them to the
//! file, so memory does not grow with the report (PDF excepted, see below).
//! No database, no HTTP, no async: a plain library the worker drives.
//!
//! ```text
//!  ReportWriter::create(format, meta, columns, path)   header, title block
//!        │ write_row(&[Value])   × n   arity and kinds checked, row limit
//!        ▼
//!  ┌─ Csv   ─ BufWriter ────────────────────────────▶ file as it goes
//!  ├─ Json  ─ BufWriter, one object per row ────────▶ file as it goes
//!  ├─ Excel ─ rust_xlsxwriter constant memory ─ temp file ─▶ zipped at finish
//!  └─ Pdf   ─ rows kept as text (≤ 10 000) ─────────▶ laid out at finish
//!        │ finish()
//!        ▼
//!  Written { rows, bytes, content_type, pages }
//! ```
//!
//! | format | limit | numbers | dates and times |
//! |---|---|---|---|
//! | CSV | [`MAX_ROWS`] | unquoted, their scale, money 2 places | ISO; instants RFC 3339 in the report's zone |
//! | JSON | [`MAX_ROWS`] | integers numbers, decimals strings (`"1130.00"`) | as CSV |
//! | Excel | [`MAX_ROWS`] | real numbers with number formats | real dates with date formats, wall clock in the report's zone |
//! | PDF | [`PDF_MAX_ROWS`] | grouped, right-aligned | to the minute, in the report's zone |
//!
//! Money and every other decimal stay [`rust_decimal::Decimal`]; the only
//! conversion to a float is where an xlsx number cell is written (Excel
//! stores doubles). The output is deterministic: the same rows and the same
//! [`ReportMeta::generated_at`] give byte-identical files in every format
//! (the PDF and xlsx creation dates are `generated_at`, and the PDF's font,
//! DejaVu Sans, is compiled in). Decision record: `docs/decisions/0030-report-formats.md`.
//!
//! # Example
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use report_formats::{Column, ColumnKind, Format, ReportMeta, ReportWriter, Value};
//! use rust_decimal::Decimal;
//!
//! # fn main() -> Result<(), report_formats::FormatError> {
//! # let dir = std::env::temp_dir().join(format!("report-formats-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let meta = ReportMeta {
//!     company_name: "Déménagements Tremblay".into(),
//!     title: "Invoices".into(),
//!     period: "2026-11-01 – 2026-11-30".into(),
//!     generated_at: Utc.with_ymd_and_hms(2026, 12, 1, 14, 30, 0).unwrap(),
//!     time_zone: chrono_tz::America::Toronto,
//! };
//! let columns = vec![
//!     Column::new("number", "Invoice", ColumnKind::Text),
//!     Column::new("issued", "Issued", ColumnKind::Date),
//!     Column::new("total", "Total", ColumnKind::Money { currency: "CAD".into() }),
//! ];
//! let path = dir.join("invoices.csv");
//! let mut writer = ReportWriter::create(Format::Csv, meta, columns, &path)?;
//! // In the worker: for each page of rows fetched, for each row…
//! writer.write_row(&[
//!     Value::Text("INV-2026-0042".into()),
//!     Value::Date(NaiveDate::from_ymd_opt(2026, 11, 5).unwrap()),
//!     Value::Decimal(Decimal::new(113000, 2)),
//! ])?;
//! let written = writer.finish()?;
//! assert_eq!(written.rows, 1);
//! assert_eq!(written.content_type, "text/csv; charset=utf-8");
//! assert_eq!(
//!     std::fs::read_to_string(&path)?,
//!     "Invoice,Issued,Total\r\nINV-2026-0042,2026-11-05,1130.00\r\n"
//! );
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! On an error from `create`, `write_row` or `finish` the file may be
//! incomplete; the caller removes it. A `write_row` error leaves the row
//! unwritten and the writer usable. A writer dropped without `finish`
//! leaves an incomplete file.

mod csv;
mod display;
mod error;
mod excel;
mod json;
mod model;
mod pdf;

use std::fs::File;
use std::path::Path;

pub use error::FormatError;
pub use model::{
    Column, ColumnKind, Format, MAX_COLUMNS, MAX_ROWS, PDF_MAX_ROWS, ReportMeta, Value, Written,
};

/// Writes one report, row by row, to a file.
///
/// Create it with the format, heading and columns, push rows with
/// [`write_row`](ReportWriter::write_row) in the order they are to appear,
/// then call [`finish`](ReportWriter::finish) — the file is complete only
/// then.
pub struct ReportWriter {
    format: Format,
    columns: Vec<Column>,
    rows: u64,
    sink: Sink,
}

enum Sink {
    Csv(csv::CsvSink),
    Json(json::JsonSink),
    Excel(Box<excel::ExcelSink>),
    Pdf(pdf::PdfSink),
}

impl ReportWriter {
    /// Creates (or truncates) the file at `path` and writes what comes
    /// before the rows: the CSV header row, the JSON heading and columns,
    /// the sheet's title block and header row.
    ///
    /// # Errors
    /// [`FormatError::InvalidColumn`] when the columns cannot make a report
    /// (none, more than [`MAX_COLUMNS`], an empty or repeated key, a currency
    /// that is not three capital letters, a decimal scale above 10);
    /// [`FormatError::Io`] when the file cannot be created.
    pub fn create(
        format: Format,
        meta: ReportMeta,
        columns: Vec<Column>,
        path: &Path,
    ) -> Result<Self, FormatError> {
        display::check_columns(&columns)?;
        let file = File::create(path)?;
        let sink = match format {
            Format::Csv => Sink::Csv(csv::CsvSink::create(file, &columns, meta.time_zone)?),
            Format::Json => Sink::Json(json::JsonSink::create(file, &meta, &columns)?),
            Format::Excel => Sink::Excel(Box::new(excel::ExcelSink::create(
                file, path, &meta, &columns,
            )?)),
            Format::Pdf => Sink::Pdf(pdf::PdfSink::create(file, &meta, &columns)),
        };
        Ok(ReportWriter {
            format,
            columns,
            rows: 0,
            sink,
        })
    }

    /// Writes one row: a value per column, in the columns' order.
    ///
    /// # Errors
    /// [`FormatError::Arity`] when the row's length is not the number of
    /// columns; [`FormatError::WrongKind`] when a value does not fit its
    /// column ([`ColumnKind::accepts`]; [`Value::Null`] fits every column);
    /// [`FormatError::TooManyRows`] once the format's limit
    /// ([`Format::max_rows`]) is reached; I/O and encoder errors. The row is
    /// not written and the writer can go on.
    pub fn write_row(&mut self, row: &[Value]) -> Result<(), FormatError> {
        display::check_row(&self.columns, row)?;
        let limit = self.format.max_rows();
        if self.rows >= limit {
            return Err(FormatError::TooManyRows { limit });
        }
        match &mut self.sink {
            Sink::Csv(sink) => sink.write_row(row)?,
            Sink::Json(sink) => sink.write_row(row)?,
            Sink::Excel(sink) => sink.write_row(row)?,
            Sink::Pdf(sink) => sink.write_row(row),
        }
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The report's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Completes the file (the JSON's closing and row count, the xlsx
    /// package, the PDF's pages) and flushes it.
    ///
    /// # Errors
    /// I/O and encoder errors.
    pub fn finish(self) -> Result<Written, FormatError> {
        let (file, pages) = match self.sink {
            Sink::Csv(sink) => (sink.finish()?, None),
            Sink::Json(sink) => (sink.finish()?, None),
            Sink::Excel(sink) => (sink.finish()?, None),
            Sink::Pdf(sink) => {
                let (file, pages) = sink.finish()?;
                (file, Some(pages))
            }
        };
        let bytes = file.metadata()?.len();
        Ok(Written {
            format: self.format,
            rows: self.rows,
            bytes,
            content_type: self.format.content_type(),
            pages,
        })
    }
}
