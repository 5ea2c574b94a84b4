use report_formats::Format;
use serde_json::{Value as Json, json};

use crate::{numbered_row, tempdir, tricky_rows, write};

fn read_back(path: &std::path::Path) -> Json {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn json_has_the_heading_the_columns_and_a_row_count() {
    let dir = tempdir();
    let (path, written) = write(Format::Json, tricky_rows(), dir.path(), "moves");
    assert_eq!(written.rows, 5);
    let report = read_back(&path);
    assert_eq!(report["title"], "Completed moves");
    assert_eq!(report["company"], "Déménagements Tremblay");
    assert_eq!(report["period"], "2026-11-01 – 2026-11-30");
    assert_eq!(report["generated_at"], "2026-12-01T09:30:00-05:00");
    assert_eq!(report["time_zone"], "America/Toronto");
    assert_eq!(report["row_count"], 5);
    assert_eq!(report["rows"].as_array().unwrap().len(), 5);
    assert_eq!(
        report["columns"][3],
        json!({"key": "total", "label": "Total", "kind": "money", "scale": 2, "currency": "CAD"})
    );
    assert_eq!(
        report["columns"][2],
        json!({"key": "weight", "label": "Weight (t)", "kind": "decimal", "scale": 1})
    );
    assert_eq!(
        report["columns"][0],
        json!({"key": "customer", "label": "Customer", "kind": "text"})
    );
    // The documented field order, heading first and the count last.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("{\"title\":\"Completed moves\",\"company\":"),
        "{text}"
    );
    assert!(text.ends_with("],\"row_count\":5}\n"));
}

#[test]
fn json_values_keep_their_kinds_and_decimals_are_strings() {
    let dir = tempdir();
    let (path, _) = write(Format::Json, tricky_rows(), dir.path(), "moves");
    let rows = read_back(&path)["rows"].clone();
    assert_eq!(
        rows[0],
        json!({
            "customer": "Élise Gagné",
            "crew": 3,
            "weight": "1234.5",
            "total": "1130.00",
            "margin": "0.253",
            "move_date": "2026-11-05",
            "booked_at": "2026-11-05T09:30:00-05:00",
        })
    );
    assert_eq!(rows[1]["total"], "-12.35");
    assert_eq!(rows[1]["margin"], Json::Null);
    assert_eq!(rows[1]["move_date"], Json::Null);
    assert_eq!(rows[3]["customer"], "say \"hi\"\nnext line");
    assert_eq!(rows[3]["crew"], Json::Null);
    assert_eq!(rows[2]["crew"], 1_234_567);
    assert_eq!(
        rows[2]["customer"], "=SUM(A1)",
        "JSON is data: no formula guard"
    );
}

#[test]
fn an_empty_json_report_has_no_rows_and_a_count_of_zero() {
    let dir = tempdir();
    let (path, written) = write(Format::Json, Vec::new(), dir.path(), "empty");
    assert_eq!(written.rows, 0);
    let report = read_back(&path);
    assert_eq!(report["rows"], json!([]));
    assert_eq!(report["row_count"], 0);
}

#[test]
fn a_long_json_report_counts_every_row() {
    let dir = tempdir();
    let (path, _) = write(
        Format::Json,
        (0..20_000).map(numbered_row),
        dir.path(),
        "long",
    );
    let report = read_back(&path);
    assert_eq!(report["row_count"], 20_000);
    assert_eq!(report["rows"][19_999]["customer"], "Customer 019999");
    assert_eq!(report["rows"][19_999]["total"], "19999.99");
}
