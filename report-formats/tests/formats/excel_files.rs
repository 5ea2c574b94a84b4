use std::io::Read;

use calamine::{Data, DataType, Range, Reader, Xlsx, open_workbook};
use report_formats::{Column, ColumnKind, Format, ReportWriter};

use crate::{date, meta, numbered_row, tempdir, tricky_rows, write};

fn sheet(path: &std::path::Path) -> Range<Data> {
    let mut workbook: Xlsx<_> = open_workbook(path).unwrap();
    workbook.worksheet_range("Report").unwrap()
}

/// A part of the xlsx package (a zip of XML files), as text.
fn part(path: &std::path::Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn float(cell: Option<&Data>) -> f64 {
    match cell {
        Some(Data::Float(number)) => *number,
        other => panic!("expected a number cell, got {other:?}"),
    }
}

#[test]
fn the_sheet_has_a_title_block_then_a_bold_header_row() {
    let dir = tempdir();
    let (path, written) = write(Format::Excel, tricky_rows(), dir.path(), "moves");
    assert_eq!(written.rows, 5);
    let range = sheet(&path);
    assert_eq!(range.start(), Some((0, 0)));
    assert_eq!(range.height(), 3 + 5);
    assert_eq!(
        range.get_value((0, 0)),
        Some(&Data::String(
            "Déménagements Tremblay — Completed moves".into()
        ))
    );
    assert_eq!(
        range.get_value((1, 0)),
        Some(&Data::String(
            "Period: 2026-11-01 – 2026-11-30 · Generated: 2026-12-01 09:30 EST".into()
        ))
    );
    let header: Vec<String> = (0..7)
        .map(|c| range.get_value((2, c)).unwrap().to_string())
        .collect();
    assert_eq!(
        header,
        [
            "Customer",
            "Crew",
            "Weight (t)",
            "Total",
            "Margin",
            "Move date",
            "Booked at"
        ]
    );
}

#[test]
fn numbers_are_numbers_and_dates_are_dates() {
    let dir = tempdir();
    let (path, _) = write(Format::Excel, tricky_rows(), dir.path(), "moves");
    let range = sheet(&path);
    assert_eq!(
        range.get_value((3, 0)),
        Some(&Data::String("Élise Gagné".into()))
    );
    assert_eq!(float(range.get_value((3, 1))), 3.0);
    assert_eq!(float(range.get_value((3, 2))), 1234.5);
    assert_eq!(float(range.get_value((3, 3))), 1130.0);
    assert_eq!(float(range.get_value((3, 4))), 0.253);
    let move_date = range.get_value((3, 5)).unwrap();
    assert!(matches!(move_date, Data::DateTime(_)), "{move_date:?}");
    assert_eq!(move_date.as_date(), Some(date(2026, 11, 5)));
    let booked = range.get_value((3, 6)).unwrap();
    assert!(matches!(booked, Data::DateTime(_)), "{booked:?}");
    // Wall-clock time in the report's zone: 14:30 UTC is 09:30 in Toronto.
    assert_eq!(
        booked.as_datetime(),
        Some(date(2026, 11, 5).and_hms_opt(9, 30, 0).unwrap())
    );

    // Negative money, nulls as empty cells, text that looks like a formula
    // stays text.
    assert_eq!(float(range.get_value((4, 3))), -12.345);
    assert_eq!(range.get_value((4, 4)), Some(&Data::Empty));
    assert_eq!(
        range.get_value((5, 0)),
        Some(&Data::String("=SUM(A1)".into()))
    );
    assert_eq!(float(range.get_value((5, 1))), 1_234_567.0);
    assert_eq!(
        range.get_value((6, 0)),
        Some(&Data::String("say \"hi\"\nnext line".into()))
    );
    let mut workbook: Xlsx<_> = open_workbook(&path).unwrap();
    let formulas = workbook.worksheet_formula("Report").unwrap();
    assert!(
        formulas.cells().all(|(_, _, f)| f.is_empty()),
        "no cell is a formula"
    );
}

#[test]
fn the_header_is_frozen_columns_have_widths_and_cells_number_formats() {
    let dir = tempdir();
    let (path, _) = write(Format::Excel, tricky_rows(), dir.path(), "moves");
    let sheet = part(&path, "xl/worksheets/sheet1.xml");
    assert!(
        sheet.contains(
            r#"<pane ySplit="3" topLeftCell="A4" activePane="bottomLeft" state="frozen"/>"#
        ),
        "{sheet}"
    );
    for col in 1..=7 {
        assert!(
            sheet.contains(&format!(r#"<col min="{col}" max="{col}" width="#)),
            "column {col}: {sheet}"
        );
    }
    // Constant-memory mode writes strings inline, without a shared table.
    assert!(sheet.contains(r#"t="inlineStr""#));
    let styles = part(&path, "xl/styles.xml");
    for format in [
        r##"formatCode="#,##0.00 &quot;CAD&quot;""##,
        r##"formatCode="#,##0.0""##,
        r#"formatCode="0.0%""#,
        r#"formatCode="yyyy\-mm\-dd""#,
        r#"formatCode="yyyy\-mm\-dd\ hh:mm""#,
    ] {
        assert!(
            styles.contains(format) || styles.contains(&format.replace('\\', "")),
            "{format} missing from {styles}"
        );
    }
    assert!(styles.contains("<b/>"), "a bold font for the header");
}

#[test]
fn two_hundred_thousand_rows_stream_to_excel() {
    // Two columns keep the debug-build test short; the row count is what
    // constant-memory mode is about.
    let dir = tempdir();
    let path = dir.path().join("big.xlsx");
    let columns = vec![
        Column::new("customer", "Customer", ColumnKind::Text),
        Column::new(
            "total",
            "Total",
            ColumnKind::Money {
                currency: "CAD".into(),
            },
        ),
    ];
    let mut writer = ReportWriter::create(Format::Excel, meta(), columns, &path).unwrap();
    for i in 0..200_000 {
        let row = numbered_row(i);
        writer.write_row(&[row[0].clone(), row[3].clone()]).unwrap();
    }
    let written = writer.finish().unwrap();
    assert_eq!(written.rows, 200_000);
    let range = sheet(&path);
    assert_eq!(range.height(), 3 + 200_000);
    let last = 3 + 199_999;
    assert_eq!(
        range.get_value((last, 0)),
        Some(&Data::String("Customer 199999".into()))
    );
    assert_eq!(float(range.get_value((last, 1))), 199_999.99);
    assert_eq!(float(range.get_value((3 + 1234, 1))), 1234.99);
    // Nothing is left beside the report: the rows' temporary file (in the
    // report's directory) is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}
