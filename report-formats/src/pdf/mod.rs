//! PDF: a landscape Letter table, paginated.
//!
//! ```text
//! ┌──────────────────────────────────────────────────────────┐
//! │ Company name (bold)                                      │
//! │ Report title (bold)                                      │
//! │ Period: … · Generated: 2026-12-01 09:30 EST              │
//! │ ┌─────────────┬──────────┬───────────┐                   │
//! │ │ Label       │  Amount  │      Date │ ← on every page   │
//! │ ├─────────────┼──────────┼───────────┤                   │
//! │ │ text…       │ 1,130.00 │2026-11-05 │ ← numbers right   │
//! │ └─────────────┴──────────┴───────────┘                   │
//! │                                          Page 2 of 14    │
//! └──────────────────────────────────────────────────────────┘
//! ```
//!
//! Rows are kept (as the text they show) until `finish`: only then is the
//! page count known for "of n", and the columns are sized from what they
//! hold. That is what caps a PDF at [`PDF_MAX_ROWS`](crate::PDF_MAX_ROWS).

mod font;

use std::fs::File;
use std::io::Write;

use chrono::{Datelike, Timelike};
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime as PdfDateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};

use crate::display::{generated, shown_text};
use crate::{Column, ColumnKind, FormatError, ReportMeta, Value};
use font::Face;

const PAGE_WIDTH: f32 = 792.0;
const PAGE_HEIGHT: f32 = 612.0;
const MARGIN: f32 = 36.0;
const TABLE_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const TABLE_TOP: f32 = 92.0;
const TABLE_BOTTOM: f32 = PAGE_HEIGHT - MARGIN - 4.0;
const HEADER_HEIGHT: f32 = 16.0;
const ROW_HEIGHT: f32 = 13.0;
const CELL_SIZE: f32 = 8.0;
const PADDING: f32 = 4.0;
/// The narrowest a column gets before the whole table is scaled.
const MIN_COLUMN: f32 = 28.0;
/// The widest a text column asks for before space is shared out.
const MAX_TEXT_COLUMN: f32 = 220.0;

/// Rows per page: what fits between the header row and the footer.
pub(crate) const ROWS_PER_PAGE: usize =
    ((TABLE_BOTTOM - TABLE_TOP - HEADER_HEIGHT) / ROW_HEIGHT) as usize;

pub(crate) struct PdfSink {
    file: File,
    meta: ReportMeta,
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl PdfSink {
    pub(crate) fn create(file: File, meta: &ReportMeta, columns: &[Column]) -> Self {
        PdfSink {
            file,
            meta: meta.clone(),
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn write_row(&mut self, row: &[Value]) {
        let shown = self
            .columns
            .iter()
            .zip(row)
            .map(|(column, value)| one_line(&shown_text(&column.kind, value, self.meta.time_zone)))
            .collect();
        self.rows.push(shown);
    }

    /// Lays out and writes the document; returns the file and the page count.
    pub(crate) fn finish(mut self) -> Result<(File, u32), FormatError> {
        let (bytes, pages) = render(&self.meta, &self.columns, &self.rows)?;
        self.file.write_all(&bytes)?;
        self.file.flush()?;
        Ok((self.file, pages))
    }
}

/// A cell is one line: control characters (line breaks, tabs) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect()
}

/// A column's header text: money columns name their currency.
fn header_label(column: &Column) -> String {
    match &column.kind {
        ColumnKind::Money { currency } => format!("{} ({currency})", one_line(&column.label)),
        _ => one_line(&column.label),
    }
}

/// Column widths that fit the table's width. Each column asks for its widest
/// cell or header; numbers, dates and times get what they ask for, so they
/// are not cut; text columns (at most [`MAX_TEXT_COLUMN`] each) share what
/// is left in proportion to what they asked, and any spare width. If even
/// that does not fit, everything is scaled down and cells are cut.
fn column_widths(columns: &[Column], wanted: &[f32]) -> Vec<f32> {
    let is_text = |i: usize| matches!(columns[i].kind, ColumnKind::Text);
    let wanted: Vec<f32> = wanted
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let w = w.max(MIN_COLUMN);
            if is_text(i) {
                w.min(MAX_TEXT_COLUMN)
            } else {
                w
            }
        })
        .collect();
    let fixed: f32 = (0..wanted.len())
        .filter(|&i| !is_text(i))
        .map(|i| wanted[i])
        .sum();
    let text: f32 = (0..wanted.len())
        .filter(|&i| is_text(i))
        .map(|i| wanted[i])
        .sum();
    let mut widths = wanted.clone();
    if text > 0.0 {
        let share = (TABLE_WIDTH - fixed) / text;
        for (i, width) in widths.iter_mut().enumerate() {
            if is_text(i) {
                *width = (wanted[i] * share).max(MIN_COLUMN);
            }
        }
    }
    let total: f32 = widths.iter().sum();
    if total > TABLE_WIDTH {
        let scale = TABLE_WIDTH / total;
        widths.iter_mut().for_each(|w| *w *= scale);
    }
    widths
}

fn render(
    meta: &ReportMeta,
    columns: &[Column],
    rows: &[Vec<String>],
) -> Result<(Vec<u8>, u32), FormatError> {
    let regular = Face::regular()?;
    let bold = Face::bold()?;

    let labels: Vec<String> = columns.iter().map(header_label).collect();
    let wanted: Vec<f32> = (0..columns.len())
        .map(|i| {
            let widest = rows
                .iter()
                .map(|row| regular.width(&row[i], CELL_SIZE))
                .fold(bold.width(&labels[i], CELL_SIZE), f32::max);
            widest + 2.0 * PADDING
        })
        .collect();
    let widths = column_widths(columns, &wanted);
    let table_width: f32 = widths.iter().sum();
    let lefts: Vec<f32> = widths
        .iter()
        .scan(MARGIN, |x, w| {
            let left = *x;
            *x += w;
            Some(left)
        })
        .collect();

    let pages = rows.len().div_ceil(ROWS_PER_PAGE).max(1);
    let page_count = u32::try_from(pages).map_err(|_| FormatError::Pdf("too many pages".into()))?;
    let heading = Heading {
        company: regular_fit(&bold, &one_line(&meta.company_name), 13.0),
        title: regular_fit(&bold, &one_line(&meta.title), 11.0),
        line: regular_fit(
            &regular,
            &one_line(&format!(
                "Period: {} · Generated: {}",
                meta.period,
                generated(meta.generated_at, meta.time_zone)
            )),
            8.5,
        ),
    };

    let mut document = Document::new_with(SerializeSettings::default());
    document.set_metadata(metadata(meta));
    let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
        .ok_or_else(|| FormatError::Pdf("page size".into()))?;
    for page_index in 0..pages {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        let pen = Pen {
            regular: &regular,
            bold: &bold,
        };

        pen.text(
            &mut surface,
            &heading.company,
            true,
            13.0,
            MARGIN,
            MARGIN + 12.0,
        );
        pen.text(
            &mut surface,
            &heading.title,
            true,
            11.0,
            MARGIN,
            MARGIN + 29.0,
        );
        pen.text(
            &mut surface,
            &heading.line,
            false,
            8.5,
            MARGIN,
            MARGIN + 44.0,
        );

        // The header row, on every page.
        fill_rect(
            &mut surface,
            MARGIN,
            TABLE_TOP,
            table_width,
            HEADER_HEIGHT,
            222,
        )?;
        fill_rect(
            &mut surface,
            MARGIN,
            TABLE_TOP + HEADER_HEIGHT - 0.8,
            table_width,
            0.8,
            90,
        )?;
        for (i, column) in columns.iter().enumerate() {
            let room = widths[i] - 2.0 * PADDING;
            let label = bold.fit(&labels[i], CELL_SIZE, room);
            let baseline = TABLE_TOP + HEADER_HEIGHT / 2.0 + CELL_SIZE * 0.35;
            pen.cell(
                &mut surface,
                &label,
                true,
                column,
                lefts[i],
                widths[i],
                baseline,
            );
        }

        let first = page_index * ROWS_PER_PAGE;
        let on_page = &rows[first.min(rows.len())..(first + ROWS_PER_PAGE).min(rows.len())];
        for (r, row) in on_page.iter().enumerate() {
            let top = TABLE_TOP + HEADER_HEIGHT + r as f32 * ROW_HEIGHT;
            if r % 2 == 1 {
                fill_rect(&mut surface, MARGIN, top, table_width, ROW_HEIGHT, 243)?;
            }
            let baseline = top + ROW_HEIGHT / 2.0 + CELL_SIZE * 0.35;
            for (i, column) in columns.iter().enumerate() {
                if row[i].is_empty() {
                    continue;
                }
                let room = widths[i] - 2.0 * PADDING;
                let text = regular.fit(&row[i], CELL_SIZE, room);
                pen.cell(
                    &mut surface,
                    &text,
                    false,
                    column,
                    lefts[i],
                    widths[i],
                    baseline,
                );
            }
        }
        if rows.is_empty() {
            let baseline = TABLE_TOP + HEADER_HEIGHT + ROW_HEIGHT / 2.0 + CELL_SIZE * 0.35;
            pen.text(
                &mut surface,
                "No rows",
                false,
                CELL_SIZE,
                MARGIN + PADDING,
                baseline,
            );
        }

        let footer = format!("Page {} of {}", page_index + 1, pages);
        let x = PAGE_WIDTH - MARGIN - regular.width(&footer, CELL_SIZE);
        pen.text(
            &mut surface,
            &footer,
            false,
            CELL_SIZE,
            x,
            PAGE_HEIGHT - MARGIN + 14.0,
        );

        surface.finish();
        page.finish();
    }
    let bytes = document
        .finish()
        .map_err(|e| FormatError::Pdf(e.to_string()))?;
    Ok((bytes, page_count))
}

struct Heading {
    company: String,
    title: String,
    line: String,
}

/// Heading text cut to the page's width.
fn regular_fit(face: &Face, text: &str, size: f32) -> String {
    face.fit(text, size, TABLE_WIDTH)
}

struct Pen<'a> {
    regular: &'a Face,
    bold: &'a Face,
}

impl Pen<'_> {
    /// Draws `text` with its baseline starting at (x, y), y down from the top.
    fn text(&self, surface: &mut Surface<'_>, text: &str, bold: bool, size: f32, x: f32, y: f32) {
        let face = if bold { self.bold } else { self.regular };
        surface.set_fill(Some(Fill::default()));
        surface.draw_glyphs(
            Point::from_xy(x, y),
            &face.glyphs(text),
            face.font.clone(),
            text,
            size,
            false,
        );
    }

    /// Draws a cell's (already fitted) text: numbers against the right edge.
    #[allow(clippy::too_many_arguments)]
    fn cell(
        &self,
        surface: &mut Surface<'_>,
        text: &str,
        bold: bool,
        column: &Column,
        left: f32,
        width: f32,
        baseline: f32,
    ) {
        let face = if bold { self.bold } else { self.regular };
        let x = if column.kind.is_numeric() {
            left + width - PADDING - face.width(text, CELL_SIZE)
        } else {
            left + PADDING
        };
        self.text(surface, text, bold, CELL_SIZE, x, baseline);
    }
}

/// Fills a rectangle with a shade of grey (0 black, 255 white).
fn fill_rect(
    surface: &mut Surface<'_>,
    x: f32,
    y: f32,
    width: f32,
    height: f32,
    grey: u8,
) -> Result<(), FormatError> {
    let rect = Rect::from_xywh(x, y, width, height)
        .ok_or_else(|| FormatError::Pdf("an empty rectangle".into()))?;
    let mut path = PathBuilder::new();
    path.push_rect(rect);
    let path = path
        .finish()
        .ok_or_else(|| FormatError::Pdf("an empty rectangle".into()))?;
    surface.set_fill(Some(Fill {
        paint: rgb::Color::new(grey, grey, grey).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }));
    surface.draw_path(&path);
    Ok(())
}

/// Title, author and creation date. The creation date is the report's
/// generation time, not the time of writing, so the same report gives the
/// same bytes (krilla derives the document id from the content).
fn metadata(meta: &ReportMeta) -> Metadata {
    let at = meta.generated_at;
    // Calendar fields always fit their types for years 0..=65535.
    let created = PdfDateTime::new(at.year().clamp(0, 9999) as u16)
        .month(at.month() as u8)
        .day(at.day() as u8)
        .hour(at.hour() as u8)
        .minute(at.minute() as u8)
        .second(at.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0);
    Metadata::new()
        .title(format!("{} — {}", meta.title, meta.company_name))
        .authors(vec![meta.company_name.clone()])
        .creator("report-formats".into())
        .creation_date(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_page_and_numbers_keep_their_width() {
        let columns = vec![
            Column::new("n", "Name", ColumnKind::Text),
            Column::new(
                "a",
                "Amount",
                ColumnKind::Money {
                    currency: "CAD".into(),
                },
            ),
            Column::new("d", "Notes", ColumnKind::Text),
        ];
        let widths = column_widths(&columns, &[900.0, 60.0, 300.0]);
        let total: f32 = widths.iter().sum();
        assert!((total - TABLE_WIDTH).abs() < 0.01, "{total}");
        assert!((widths[1] - 60.0).abs() < 0.01);
        assert!(widths[0] > widths[1]);

        // Spare width goes to text columns.
        let widths = column_widths(&columns, &[40.0, 60.0, 40.0]);
        assert!((widths.iter().sum::<f32>() - TABLE_WIDTH).abs() < 0.01);
        assert!((widths[1] - 60.0).abs() < 0.01);
    }

    #[test]
    fn too_many_numeric_columns_are_scaled_to_the_page() {
        let columns: Vec<Column> = (0..20)
            .map(|i| Column::new(format!("c{i}"), "N", ColumnKind::Integer))
            .collect();
        let widths = column_widths(&columns, &[60.0; 20]);
        assert!(widths.iter().sum::<f32>() <= TABLE_WIDTH + 0.01);
    }

    #[test]
    fn a_page_holds_a_few_dozen_rows() {
        assert!((30..=40).contains(&ROWS_PER_PAGE), "{ROWS_PER_PAGE}");
    }
}
