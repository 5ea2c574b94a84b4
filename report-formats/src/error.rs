//! The one error type of the crate.

/// Why a report could not be written.
///
/// [`Arity`](FormatError::Arity), [`WrongKind`](FormatError::WrongKind) and
/// [`InvalidColumn`](FormatError::InvalidColumn) are the caller's mistakes;
/// [`TooManyRows`](FormatError::TooManyRows) means the report is too big for
/// its format; the rest are I/O or encoder failures. After a `write_row`
/// error the row is not written and the writer can go on.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Reading or writing the file failed.
    #[error("report file: {0}")]
    Io(#[from] std::io::Error),
    /// The format's row limit was reached: the row was not written.
    #[error("the report has more rows than this format allows ({limit})")]
    TooManyRows {
        /// The format's limit ([`PDF_MAX_ROWS`](crate::PDF_MAX_ROWS) or
        /// [`MAX_ROWS`](crate::MAX_ROWS)).
        limit: u64,
    },
    /// A row has a different number of values than the report has columns.
    #[error("a row has {got} values, the report has {expected} columns")]
    Arity {
        /// The number of columns.
        expected: usize,
        /// The number of values in the row.
        got: usize,
    },
    /// A value does not fit its column's kind.
    #[error("column `{column}` holds {expected} values, got {got}")]
    WrongKind {
        /// The column's key.
        column: String,
        /// The column's kind name ([`ColumnKind::name`](crate::ColumnKind::name)).
        expected: &'static str,
        /// The value's kind name ([`Value::kind_name`](crate::Value::kind_name)).
        got: &'static str,
    },
    /// The columns cannot make a report: none, too many, an empty or repeated
    /// key, a currency that is not an ISO 4217 code, a scale above 10.
    #[error("column `{column}`: {reason}")]
    InvalidColumn {
        /// The column's key (empty when the problem is the column list).
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// The xlsx encoder failed.
    #[error("xlsx: {0}")]
    Excel(#[from] rust_xlsxwriter::XlsxError),
    /// The JSON encoder failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The PDF encoder failed.
    #[error("pdf: {0}")]
    Pdf(String),
}
