use report_formats::{Column, ColumnKind, Format, FormatError, ReportWriter, Value};
use rust_decimal_macros::dec;

use crate::{columns, meta, numbered_row, tempdir};

const ALL: [Format; 4] = [Format::Csv, Format::Json, Format::Excel, Format::Pdf];

#[test]
fn formats_name_their_content_type_and_extension() {
    let named: Vec<_> = ALL
        .iter()
        .map(|f| (f.content_type(), f.extension()))
        .collect();
    assert_eq!(
        named,
        [
            ("text/csv; charset=utf-8", "csv"),
            ("application/json", "json"),
            (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx"
            ),
            ("application/pdf", "pdf"),
        ]
    );
    assert_eq!(Format::Pdf.max_rows(), 10_000);
    assert_eq!(Format::Excel.max_rows(), 1_000_000);
}

#[test]
fn a_row_of_the_wrong_length_or_kind_is_refused_and_the_writer_goes_on() {
    let dir = tempdir();
    for format in ALL {
        let path = dir.path().join(format!("rules.{}", format.extension()));
        let mut writer = ReportWriter::create(format, meta(), columns(), &path).unwrap();
        let err = writer.write_row(&[Value::Null, Value::Null]).unwrap_err();
        assert!(
            matches!(
                err,
                FormatError::Arity {
                    expected: 7,
                    got: 2
                }
            ),
            "{format:?}: {err}"
        );

        let mut row = numbered_row(1);
        row[3] = Value::Integer(1130);
        let err = writer.write_row(&row).unwrap_err();
        assert!(
            matches!(&err, FormatError::WrongKind { column, expected: "money", got: "integer" } if column == "total"),
            "{format:?}: {err}"
        );
        assert_eq!(
            err.to_string(),
            "column `total` holds money values, got integer"
        );

        let mut row = numbered_row(1);
        row[5] = Value::Text("2026-11-05".into());
        assert!(matches!(
            writer.write_row(&row),
            Err(FormatError::WrongKind { .. })
        ));

        writer.write_row(&vec![Value::Null; 7]).unwrap();
        writer.write_row(&numbered_row(2)).unwrap();
        let written = writer.finish().unwrap();
        assert_eq!(written.rows, 2, "{format:?}");
    }
}

#[test]
fn columns_that_cannot_make_a_report_are_refused_before_the_file_is_created() {
    let dir = tempdir();
    let path = dir.path().join("bad.csv");
    let bad = [
        vec![],
        vec![Column::new("", "Empty key", ColumnKind::Text)],
        vec![
            Column::new("a", "A", ColumnKind::Text),
            Column::new("a", "A again", ColumnKind::Integer),
        ],
        vec![Column::new(
            "m",
            "Money",
            ColumnKind::Money {
                currency: "cad".into(),
            },
        )],
        vec![Column::new(
            "m",
            "Money",
            ColumnKind::Money {
                currency: "\"CAD".into(),
            },
        )],
        vec![Column::new(
            "d",
            "Decimal",
            ColumnKind::Decimal { scale: 11 },
        )],
    ];
    for columns in bad {
        let err = ReportWriter::create(Format::Csv, meta(), columns.clone(), &path)
            .err()
            .unwrap_or_else(|| panic!("{columns:?} accepted"));
        assert!(matches!(err, FormatError::InvalidColumn { .. }), "{err}");
        assert!(!path.exists());
    }
}

#[test]
fn a_file_that_cannot_be_created_is_an_io_error() {
    let dir = tempdir();
    let path = dir.path().join("missing").join("report.csv");
    let err = ReportWriter::create(Format::Csv, meta(), columns(), &path)
        .err()
        .unwrap();
    assert!(matches!(err, FormatError::Io(_)), "{err}");
}

#[test]
fn values_convert_into_cells() {
    assert_eq!(Value::from("x"), Value::Text("x".into()));
    assert_eq!(Value::from(3_i64), Value::Integer(3));
    assert_eq!(Value::from(dec!(1.5)), Value::Decimal(dec!(1.5)));
    assert_eq!(Value::from(None::<i64>), Value::Null);
    assert_eq!(Value::from(Some("y")), Value::Text("y".into()));
}
