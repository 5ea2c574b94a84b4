//! Excel (xlsx) in rust_xlsxwriter's constant-memory mode: each row goes to
//! a temporary file as soon as the next one starts, so a million-row sheet
//! holds one row in memory. The price is that rows are written strictly in
//! order, so everything about the sheet that is not a cell (column widths,
//! frozen panes, formats) is set before the first row, from the columns'
//! labels and kinds; no row is buffered to measure it.
//!
//! ```text
//! row 0  Company — Title                          (bold)
//! row 1  Period: … · Generated: …
//! row 2  Label | Label | …                        (bold, bottom border)
//! row 3… data                                     (frozen below row 2)
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use chrono_tz::Tz;
use rust_decimal::prelude::ToPrimitive;
use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format as CellFormat, FormatBorder, Workbook, Worksheet,
};

use crate::display::{data_text, generated};
use crate::{Column, ColumnKind, FormatError, ReportMeta, Value};

/// The sheet's header row; data starts below it and the panes freeze there.
pub(crate) const HEADER_ROW: u32 = 2;
/// Excel's limit on the characters of a cell.
const MAX_CELL_CHARS: usize = 32_767;

pub(crate) struct ExcelSink {
    workbook: Workbook,
    out: BufWriter<File>,
    /// Each column's kind and the format its cells are written with.
    cells: Vec<(ColumnKind, CellFormat)>,
    /// Text cells (and dates Excel cannot hold) have no number format.
    text: CellFormat,
    tz: Tz,
    next_row: u32,
}

impl ExcelSink {
    pub(crate) fn create(
        file: File,
        path: &Path,
        meta: &ReportMeta,
        columns: &[Column],
    ) -> Result<Self, FormatError> {
        let mut workbook = Workbook::new();
        // The rows' temporary file goes next to the report: /tmp may be a
        // RAM disk, which would take back the memory constant-memory mode
        // saves, and the report's directory is known to be writable.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            workbook.set_tempdir(dir)?;
        }
        workbook.set_properties(
            &DocProperties::new()
                .set_title(&meta.title)
                .set_company(&meta.company_name)
                // A fixed creation date, so the same report gives the same
                // bytes (the default is the time of saving).
                .set_creation_datetime(&excel_datetime(meta.generated_at.naive_utc())?),
        );

        let bold = CellFormat::new().set_bold();
        let header = CellFormat::new()
            .set_bold()
            .set_border_bottom(FormatBorder::Thin);
        let cells: Vec<(ColumnKind, CellFormat)> = columns
            .iter()
            .map(|c| (c.kind.clone(), cell_format(&c.kind)))
            .collect();

        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name("Report")?;
        for (i, column) in columns.iter().enumerate() {
            sheet.set_column_width(col(i)?, column_width(column))?;
        }
        sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;

        let heading = format!("{} — {}", meta.company_name, meta.title);
        sheet.write_string_with_format(0, 0, clip(&heading), &bold)?;
        let line = format!(
            "Period: {} · Generated: {}",
            meta.period,
            generated(meta.generated_at, meta.time_zone)
        );
        sheet.write_string(1, 0, clip(&line))?;
        for (i, column) in columns.iter().enumerate() {
            let format = if column.kind.is_numeric() {
                header
                    .clone()
                    .set_align(rust_xlsxwriter::FormatAlign::Right)
            } else {
                header.clone()
            };
            sheet.write_string_with_format(HEADER_ROW, col(i)?, clip(&column.label), &format)?;
        }

        Ok(ExcelSink {
            workbook,
            out: BufWriter::with_capacity(64 * 1024, file),
            cells,
            text: CellFormat::new(),
            tz: meta.time_zone,
            next_row: HEADER_ROW + 1,
        })
    }

    pub(crate) fn write_row(&mut self, row: &[Value]) -> Result<(), FormatError> {
        let r = self.next_row;
        let sheet = sheet(&mut self.workbook)?;
        for (i, ((kind, format), value)) in self.cells.iter().zip(row).enumerate() {
            let c = col(i)?;
            match value {
                Value::Null => {}
                Value::Text(text) => {
                    // A string cell is never evaluated, so text needs no
                    // formula guard here.
                    sheet.write_string_with_format(r, c, clip(text), &self.text)?;
                }
                Value::Integer(number) => {
                    // Excel holds every number as an IEEE double: integers
                    // beyond 2^53 lose their last digits there, as in Excel.
                    sheet.write_number_with_format(r, c, *number as f64, format)?;
                }
                Value::Decimal(number) => {
                    // Excel holds every number as an IEEE double, so this is
                    // where a Decimal becomes f64, and the only place: every
                    // amount we compute stays a Decimal. Money is at most
                    // 999 999 999.99 (decision 0014), well within the 15
                    // significant digits a double keeps exactly.
                    let number = number.to_f64().unwrap_or(f64::NAN);
                    sheet.write_number_with_format(r, c, number, format)?;
                }
                Value::Date(date) => match excel_date(*date) {
                    Some(date) => {
                        sheet.write_datetime_with_format(r, c, &date, format)?;
                    }
                    None => {
                        sheet.write_string_with_format(
                            r,
                            c,
                            data_text(kind, value, self.tz),
                            &self.text,
                        )?;
                    }
                },
                Value::DateTime(at) => {
                    // Excel has no time zones: the cell holds the wall-clock
                    // time in the report's zone, as the header says.
                    let local = at.with_timezone(&self.tz).naive_local();
                    match excel_datetime(local) {
                        Ok(at) => {
                            sheet.write_datetime_with_format(r, c, &at, format)?;
                        }
                        Err(_) => {
                            sheet.write_string_with_format(
                                r,
                                c,
                                data_text(kind, value, self.tz),
                                &self.text,
                            )?;
                        }
                    }
                }
            }
        }
        self.next_row += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<File, FormatError> {
        self.workbook.save_to_writer(&mut self.out)?;
        self.out.flush()?;
        self.out
            .into_inner()
            .map_err(|e| FormatError::Io(e.into_error()))
    }
}

fn sheet(workbook: &mut Workbook) -> Result<&mut Worksheet, FormatError> {
    Ok(workbook.worksheet_from_index(0)?)
}

fn col(index: usize) -> Result<u16, FormatError> {
    u16::try_from(index).map_err(|_| FormatError::InvalidColumn {
        column: String::new(),
        reason: "more columns than an Excel sheet holds".into(),
    })
}

/// Text longer than a cell holds is cut, with an ellipsis.
fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_CELL_CHARS) {
        None => text.into(),
        Some(_) => {
            let keep: String = text.chars().take(MAX_CELL_CHARS - 1).collect();
            (keep + "…").into()
        }
    }
}

/// The number format of a column's cells.
fn cell_format(kind: &ColumnKind) -> CellFormat {
    let number_format = match kind {
        ColumnKind::Text => return CellFormat::new(),
        ColumnKind::Integer => "#,##0".to_owned(),
        ColumnKind::Decimal { scale: 0 } => "#,##0".to_owned(),
        ColumnKind::Decimal { scale } => format!("#,##0.{}", "0".repeat(*scale as usize)),
        // The code, not a symbol: "$" would not tell CAD from USD. The code
        // is three capital letters (checked), safe inside the quotes.
        ColumnKind::Money { currency } => format!("#,##0.00 \"{currency}\""),
        ColumnKind::Percent => "0.0%".to_owned(),
        ColumnKind::Date => "yyyy-mm-dd".to_owned(),
        ColumnKind::DateTime => "yyyy-mm-dd hh:mm".to_owned(),
    };
    CellFormat::new().set_num_format(number_format)
}

/// A column's width in Excel's units (characters of the default font), from
/// its label (bold, a little wider) and the widest value its kind usually
/// shows; text gets a reading width. Bounded, so one long label does not
/// make a column span the screen.
pub(crate) fn column_width(column: &Column) -> f64 {
    let kind_width = match &column.kind {
        ColumnKind::Text => 24.0,
        ColumnKind::Integer => 10.0,
        ColumnKind::Decimal { scale } => 12.0 + f64::from(*scale),
        // "999,999,999.99 CAD"
        ColumnKind::Money { .. } => 19.0,
        ColumnKind::Percent => 8.0,
        ColumnKind::Date => 11.0,
        ColumnKind::DateTime => 17.0,
    };
    let label_width = column.label.chars().count() as f64 * 1.1 + 2.0;
    kind_width.max(label_width).clamp(6.0, 60.0)
}

/// A date Excel can hold (1900-01-01 to 9999-12-31), else `None`.
fn excel_date(date: NaiveDate) -> Option<ExcelDateTime> {
    let year = u16::try_from(date.year()).ok()?;
    // Month and day always fit a u8.
    ExcelDateTime::from_ymd(year, date.month() as u8, date.day() as u8).ok()
}

fn excel_datetime(at: NaiveDateTime) -> Result<ExcelDateTime, FormatError> {
    let out_of_range = || {
        FormatError::Excel(rust_xlsxwriter::XlsxError::DateTimeRangeError(format!(
            "{at} is outside Excel's dates"
        )))
    };
    let date = excel_date(at.date()).ok_or_else(out_of_range)?;
    // Hours, minutes and seconds always fit.
    Ok(date.and_hms(at.hour() as u16, at.minute() as u8, at.second())?)
}
