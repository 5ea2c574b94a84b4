use chrono::Duration;
use report_formats::{Format, ReportWriter};

use crate::{columns, meta, numbered_row, tempdir, tricky_rows, write};

fn rows() -> Vec<Vec<report_formats::Value>> {
    let mut rows = tricky_rows();
    rows.extend((5..80).map(numbered_row));
    rows
}

#[test]
fn the_same_report_gives_the_same_bytes_in_every_format() {
    for format in [Format::Csv, Format::Json, Format::Excel, Format::Pdf] {
        let (one, two) = (tempdir(), tempdir());
        let (a, _) = write(format, rows(), one.path(), "report");
        let (b, _) = write(format, rows(), two.path(), "report");
        let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert!(!a.is_empty());
        assert!(a == b, "{format:?} differs between two runs");
    }
}

#[test]
fn the_generation_time_is_the_files_creation_date() {
    // Another generated_at changes the PDF and xlsx bytes: the date in them
    // is the report's, not the clock's.
    for format in [Format::Excel, Format::Pdf] {
        let dir = tempdir();
        let (a, _) = write(format, rows(), dir.path(), "a");
        let path = dir.path().join(format!("b.{}", format.extension()));
        let mut later = meta();
        later.generated_at += Duration::days(1);
        let mut writer = ReportWriter::create(format, later, columns(), &path).unwrap();
        for row in rows() {
            writer.write_row(&row).unwrap();
        }
        writer.finish().unwrap();
        assert_ne!(
            std::fs::read(a).unwrap(),
            std::fs::read(path).unwrap(),
            "{format:?}"
        );
    }
}
