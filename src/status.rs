//! `crm projections status` as text: the relay's state first (a stopped
//! relay names the event that stopped it), then one aligned row per
//! projection.

use projections::ProjectionStatus;
use relay::RelayStatus;

/// The status report as printed.
pub fn render(relay: &RelayStatus, projections: &[ProjectionStatus]) -> String {
    let mut out = String::new();
    match &relay.failure {
        None => out.push_str(&format!(
            "relay: running, {} unpublished event(s), last position {}, stream seq {}, leader {}\n",
            relay.unpublished,
            relay.last_position,
            relay.last_stream_seq,
            relay.leader.as_deref().unwrap_or("-")
        )),
        Some(f) => {
            out.push_str(&format!(
                "relay: FAILED since {} ({} attempt(s)); {} event(s) not published, none after position {}\n",
                f.failed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                f.attempts,
                relay.unpublished,
                relay.last_position
            ));
            out.push_str(&format!("  {}\n", f.event));
            out.push_str(
                "  every projection below is behind the event store until the relay runs again: \
                 fix the cause, then run `crm relay retry`\n",
            );
        }
    }
    out.push('\n');
    let rows: Vec<[String; 6]> = projections
        .iter()
        .map(|s| {
            let detail = match (&s.error, s.rebuild) {
                (Some(e), _) => format!("failed at seq {}: {e}", s.failed_seq.unwrap_or_default()),
                (None, Some((applied, target))) => format!("rebuild {applied}/{target}"),
                _ => String::new(),
            };
            [
                s.name.clone(),
                s.last_seq.to_string(),
                s.stream_head.to_string(),
                s.lag.to_string(),
                s.state.clone(),
                detail,
            ]
        })
        .collect();
    out.push_str(&align_columns(
        [
            "projection",
            "position",
            "stream head",
            "lag",
            "state",
            "detail",
        ],
        &rows,
    ));
    out
}

/// A table with each column as wide as its widest cell: text left-aligned,
/// numbers (columns 1 to 3) right-aligned.
fn align_columns<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w.saturating_sub(cell.chars().count()));
            if i > 0 {
                out.push_str("  ");
            }
            if (1..=3).contains(&i) {
                out.push_str(&pad);
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&pad);
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, seq: &str, state: &str) -> [String; 6] {
        [name, seq, seq, "0", state, ""].map(str::to_owned)
    }

    #[test]
    fn columns_align_for_long_names() {
        let rows = [
            row("customers", "7", "running"),
            row("equipment_assignments", "12345", "failed"),
        ];
        let table = align_columns(
            [
                "projection",
                "position",
                "stream head",
                "lag",
                "state",
                "detail",
            ],
            &rows,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        let at = |l: &str, word: &str| l.find(word).unwrap();
        // Every row's state starts under the header's.
        assert_eq!(at(lines[0], "state"), at(lines[1], "running"));
        assert_eq!(at(lines[0], "state"), at(lines[2], "failed"));
        // Numbers end where their header ends.
        let end = at(lines[0], "position") + "position".len();
        assert_eq!(at(lines[1], " 7 ") + 2, end);
        assert_eq!(at(lines[2], "12345") + 5, end);
    }
}
