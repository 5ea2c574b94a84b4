use std::path::Path;
use std::process::Command;

use report_formats::{Format, FormatError, PDF_MAX_ROWS, ReportWriter, Value};

use crate::{columns, meta, numbered_row, tempdir, tricky_rows, write};

/// Runs a poppler tool; a missing tool fails the test (never skips it).
fn poppler(tool: &str, args: &[&str], path: &Path) -> String {
    let output = Command::new(tool)
        .args(args)
        .arg(path)
        .args(if tool == "pdftotext" {
            &["-"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{tool} could not run ({e}): run scripts/test-peers.sh, which installs \
                 Debian's poppler-utils"
            )
        });
    assert!(
        output.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The text of each page, laid out as on the page.
fn pages(path: &Path) -> Vec<String> {
    let text = poppler("pdftotext", &["-layout"], path);
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

fn long_report(dir: &Path) -> (std::path::PathBuf, report_formats::Written) {
    let mut rows = tricky_rows();
    rows.extend((5..100).map(numbered_row));
    write(Format::Pdf, rows, dir, "moves")
}

#[test]
fn every_page_has_the_heading_the_header_row_and_its_number() {
    let dir = tempdir();
    let (path, written) = long_report(dir.path());
    assert_eq!(written.rows, 100);
    let pages = pages(&path);
    assert!(pages.len() >= 3, "{} pages", pages.len());
    assert_eq!(written.pages, Some(u32::try_from(pages.len()).unwrap()));
    let n = pages.len();
    for (i, page) in pages.iter().enumerate() {
        for expected in [
            "Déménagements Tremblay",
            "Completed moves",
            "Period: 2026-11-01 – 2026-11-30",
            "Generated: 2026-12-01 09:30 EST",
            "Customer",
            "Crew",
            "Weight (t)",
            "Total (CAD)",
            "Margin",
            "Move date",
            "Booked at",
        ] {
            assert!(
                page.contains(expected),
                "page {}: no {expected:?} in\n{page}",
                i + 1
            );
        }
        let footer = format!("Page {} of {n}", i + 1);
        assert!(
            page.contains(&footer),
            "page {}: no {footer:?} in\n{page}",
            i + 1
        );
    }
    // Rows run on across pages, in order.
    assert!(pages[0].contains("Customer 000005"));
    assert!(pages[n - 1].contains("Customer 000099"));
    assert!(!pages[0].contains("Customer 000099"));
}

#[test]
fn cells_are_shown_formatted_and_non_ascii_text_survives() {
    let dir = tempdir();
    let (path, _) = long_report(dir.path());
    let first = &pages(&path)[0];
    let line = first
        .lines()
        .find(|l| l.contains("Élise Gagné"))
        .unwrap_or_else(|| panic!("no Élise Gagné in\n{first}"));
    for cell in [
        "1,234.5",
        "1,130.00",
        "25.3 %",
        "2026-11-05",
        "2026-11-05 09:30",
    ] {
        assert!(line.contains(cell), "no {cell:?} in {line:?}");
    }
    assert!(first.contains("Zoë @home, -5 boxes"));
    assert!(first.contains("-12.35"));
    assert!(first.contains("1,234,567.89"));
    assert!(first.contains("1,234,567"));
    // A line break in a cell is a space on the page.
    assert!(first.contains("say \"hi\" next line"), "{first}");
}

#[test]
fn numbers_are_right_aligned_in_their_column() {
    let dir = tempdir();
    let (path, _) = long_report(dir.path());
    let first = &pages(&path)[0];
    // Totals of very different widths end at the same place on the line.
    let end = |needle: &str| {
        let line = first.lines().find(|l| l.contains(needle)).unwrap();
        line[..line.find(needle).unwrap() + needle.len()]
            .chars()
            .count()
    };
    let wide = end("1,234,567.89");
    let narrow = end("1,130.00");
    assert!(wide.abs_diff(narrow) <= 1, "{wide} vs {narrow}\n{first}");
    assert!(end("-12.35").abs_diff(narrow) <= 1);
}

#[test]
fn long_text_is_cut_to_its_column_with_an_ellipsis() {
    let dir = tempdir();
    let path = dir.path().join("long.pdf");
    let note = "Piano on the third floor, no elevator, narrow staircase; ".repeat(6);
    let mut writer = ReportWriter::create(Format::Pdf, meta(), columns(), &path).unwrap();
    let mut row = numbered_row(1);
    row[0] = Value::Text(note.clone());
    writer.write_row(&row).unwrap();
    writer.finish().unwrap();
    let text = pages(&path).concat();
    assert!(!text.contains(note.trim()), "the whole note does not fit");
    assert!(text.contains("Piano on the third floor"), "{text}");
    assert!(text.contains('…'), "{text}");
    // The numbers beside it are whole.
    assert!(
        text.contains("1.99") && text.contains("2026-11-02"),
        "{text}"
    );
}

#[test]
fn an_empty_report_is_one_page_that_says_so() {
    let dir = tempdir();
    let (path, written) = write(Format::Pdf, Vec::new(), dir.path(), "empty");
    assert_eq!(written.pages, Some(1));
    let pages = pages(&path);
    assert_eq!(pages.len(), 1);
    assert!(pages[0].contains("No rows"));
    assert!(pages[0].contains("Page 1 of 1"));
    assert!(pages[0].contains("Customer"));
}

#[test]
fn dejavu_sans_is_embedded_as_a_subset() {
    let dir = tempdir();
    let (path, _) = long_report(dir.path());
    let fonts = poppler("pdffonts", &[], &path);
    // name  type  encoding  emb sub uni  object ID
    let rows: Vec<Vec<&str>> = fonts
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let regular = rows.iter().find(|r| r[0].ends_with("+DejaVuSans"));
    let bold = rows.iter().find(|r| r[0].ends_with("+DejaVuSans-Bold"));
    for (face, row) in [("regular", regular), ("bold", bold)] {
        let row = row.unwrap_or_else(|| panic!("no DejaVu Sans {face} in\n{fonts}"));
        let n = row.len();
        // emb, sub, uni: embedded, subset, with a Unicode map.
        assert_eq!(row[n - 5..n - 2], ["yes", "yes", "yes"], "{fonts}");
    }
    assert_eq!(rows.len(), 2, "no other font: {fonts}");
    // A subset: far smaller than the two faces' 1.4 MB.
    assert!(std::fs::metadata(&path).unwrap().len() < 200_000);
}

#[test]
fn a_pdf_stops_at_its_row_limit() {
    let dir = tempdir();
    let path = dir.path().join("cap.pdf");
    let mut writer = ReportWriter::create(Format::Pdf, meta(), columns(), &path).unwrap();
    for i in 0..PDF_MAX_ROWS {
        writer.write_row(&numbered_row(i)).unwrap();
    }
    let err = writer.write_row(&numbered_row(0)).unwrap_err();
    assert!(
        matches!(err, FormatError::TooManyRows { limit: 10_000 }),
        "{err}"
    );
    assert_eq!(writer.rows(), PDF_MAX_ROWS);
    // The largest PDF there can be is complete, page numbers and all.
    let written = writer.finish().unwrap();
    let pages = written.pages.unwrap();
    assert!(pages > 250, "{pages} pages");
    let last = pages.to_string();
    let text = poppler("pdftotext", &["-layout", "-f", &last, "-l", &last], &path);
    assert!(text.contains(&format!("Page {pages} of {pages}")), "{text}");
    assert!(text.contains("Customer 009999"), "{text}");
}
