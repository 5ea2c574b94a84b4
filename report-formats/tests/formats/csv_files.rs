use report_formats::{Column, ColumnKind, Format, FormatError, MAX_ROWS, ReportWriter, Value};

use crate::{meta, numbered_row, tempdir, tricky_rows, write};

fn read_back(path: &std::path::Path) -> Vec<Vec<String>> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn csv_is_crlf_with_a_header_of_labels_and_numbers_with_their_scale() {
    let dir = tempdir();
    let (path, written) = write(Format::Csv, tricky_rows(), dir.path(), "moves");
    assert_eq!(written.rows, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    let expected = concat!(
        "Customer,Crew,Weight (t),Total,Margin,Move date,Booked at\r\n",
        "Élise Gagné,3,1234.5,1130.00,0.253,2026-11-05,2026-11-05T09:30:00-05:00\r\n",
        "\"Doe, Jane\",-2,0.1,-12.35,,,\r\n",
        "'=SUM(A1),1234567,,1234567.89,1.000,2026-11-30,2026-06-30T23:05:00-04:00\r\n",
        "\"say \"\"hi\"\"\nnext line\",,2.0,0.00,-0.045,2026-01-01,2026-01-01T00:00:00-05:00\r\n",
        "\"Zoë @home, -5 boxes\",0,0.0,5.00,0.500,2026-11-15,2026-11-15T18:59:00-05:00\r\n",
    );
    assert_eq!(text, expected);
}

#[test]
fn csv_parses_back_cell_for_cell() {
    let dir = tempdir();
    let (path, _) = write(Format::Csv, tricky_rows(), dir.path(), "moves");
    let records = read_back(&path);
    assert_eq!(records.len(), 6);
    assert_eq!(
        records[0],
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
    assert_eq!(records[1][0], "Élise Gagné");
    assert_eq!(records[2][0], "Doe, Jane");
    assert_eq!(records[2][3], "-12.35");
    assert_eq!(records[2][4], "");
    assert_eq!(records[3][0], "'=SUM(A1)");
    assert_eq!(records[4][0], "say \"hi\"\nnext line");
    assert_eq!(records[5][0], "Zoë @home, -5 boxes");
    assert!(records.iter().all(|r| r.len() == 7));
}

#[test]
fn text_that_a_spreadsheet_would_evaluate_is_defused_in_cells_and_labels() {
    let dir = tempdir();
    let path = dir.path().join("guard.csv");
    let columns = vec![
        Column::new("a", "=label", ColumnKind::Text),
        Column::new(
            "b",
            "Amount",
            ColumnKind::Money {
                currency: "CAD".into(),
            },
        ),
    ];
    let mut writer = ReportWriter::create(Format::Csv, meta(), columns, &path).unwrap();
    for text in ["=1+1", "+1", "-1", "@SUM(1)", "a=b"] {
        writer
            .write_row(&[text.into(), Value::Decimal(rust_decimal_macros::dec!(-3))])
            .unwrap();
    }
    writer.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "'=label,Amount\r\n'=1+1,-3.00\r\n'+1,-3.00\r\n'-1,-3.00\r\n'@SUM(1),-3.00\r\na=b,-3.00\r\n"
    );
}

#[test]
fn two_hundred_thousand_rows_stream_to_csv() {
    let dir = tempdir();
    let (path, written) = write(
        Format::Csv,
        (0..200_000).map(numbered_row),
        dir.path(),
        "big",
    );
    assert_eq!(written.rows, 200_000);
    let records = read_back(&path);
    assert_eq!(records.len(), 200_001);
    assert_eq!(records[200_000][0], "Customer 199999");
    assert_eq!(records[200_000][3], "199999.99");
}

#[test]
fn csv_stops_at_a_million_rows() {
    let dir = tempdir();
    let path = dir.path().join("cap.csv");
    let columns = vec![Column::new("n", "N", ColumnKind::Integer)];
    let mut writer = ReportWriter::create(Format::Csv, meta(), columns, &path).unwrap();
    for i in 0..MAX_ROWS {
        writer.write_row(&[Value::Integer(i as i64)]).unwrap();
    }
    let err = writer.write_row(&[Value::Integer(0)]).unwrap_err();
    assert!(
        matches!(err, FormatError::TooManyRows { limit: 1_000_000 }),
        "{err}"
    );
    let written = writer.finish().unwrap();
    assert_eq!(written.rows, MAX_ROWS);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count() as u64, MAX_ROWS + 1);
    assert!(text.ends_with("\r\n999999\r\n"));
}
