//! CSV (RFC 4180): CRLF line ends, a header row of labels, text quoted when
//! it holds a comma, a quote or a line break, and defused when a spreadsheet
//! would read it as a formula.

use std::fs::File;
use std::io::{BufWriter, Write};

use chrono_tz::Tz;

use crate::display::data_text;
use crate::{Column, ColumnKind, FormatError, Value};

pub(crate) struct CsvSink {
    out: BufWriter<File>,
    kinds: Vec<ColumnKind>,
    tz: Tz,
    line: String,
}

impl CsvSink {
    pub(crate) fn create(file: File, columns: &[Column], tz: Tz) -> Result<Self, FormatError> {
        let mut sink = CsvSink {
            out: BufWriter::with_capacity(64 * 1024, file),
            kinds: columns.iter().map(|c| c.kind.clone()).collect(),
            tz,
            line: String::new(),
        };
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                sink.line.push(',');
            }
            push_text(&mut sink.line, &column.label);
        }
        sink.end_line()?;
        Ok(sink)
    }

    pub(crate) fn write_row(&mut self, row: &[Value]) -> Result<(), FormatError> {
        for (i, (kind, value)) in self.kinds.iter().zip(row).enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            match value {
                Value::Text(text) => push_text(&mut self.line, text),
                // Numbers, dates and instants hold no comma, quote or line
                // break, and a leading minus is a number, not a formula.
                other => self.line.push_str(&data_text(kind, other, self.tz)),
            }
        }
        self.end_line()
    }

    pub(crate) fn finish(mut self) -> Result<File, FormatError> {
        self.out.flush()?;
        self.out
            .into_inner()
            .map_err(|e| FormatError::Io(e.into_error()))
    }

    fn end_line(&mut self) -> Result<(), FormatError> {
        self.line.push_str("\r\n");
        self.out.write_all(self.line.as_bytes())?;
        self.line.clear();
        Ok(())
    }
}

/// Appends a text cell: a leading `=`, `+`, `-` or `@` gets a `'` so that a
/// spreadsheet shows it instead of evaluating it (CSV injection), then the
/// cell is quoted, quotes doubled, when it holds a comma, a quote or a line
/// break. The same rule as query-api's `csv_field`.
fn push_text(line: &mut String, text: &str) {
    let guard = text.starts_with(['=', '+', '-', '@']);
    let quote = text.contains([',', '"', '\r', '\n']);
    if quote {
        line.push('"');
    }
    if guard {
        line.push('\'');
    }
    if quote {
        for ch in text.chars() {
            if ch == '"' {
                line.push('"');
            }
            line.push(ch);
        }
        line.push('"');
    } else {
        line.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::push_text;

    fn field(text: &str) -> String {
        let mut line = String::new();
        push_text(&mut line, text);
        line
    }

    #[test]
    fn text_cells_are_quoted_and_formulas_defused_like_query_api() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("Doe, Jane"), "\"Doe, Jane\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(field("+1 555"), "'+1 555");
        assert_eq!(field("-x"), "'-x");
        assert_eq!(field("@cmd"), "'@cmd");
        assert_eq!(field("=A1,\"B\""), "\"'=A1,\"\"B\"\"\"");
        assert_eq!(field(""), "");
    }
}
