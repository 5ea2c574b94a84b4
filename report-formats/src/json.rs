//! JSON, written as the rows arrive:
//!
//! ```text
//! {"title":…,"company":…,"period":…,"generated_at":…,"time_zone":…,
//!  "columns":[{"key":…,"label":…,"kind":…},…],
//!  "rows":[{"<key>":<value>,…},…],
//!  "row_count":n}
//! ```
//!
//! Decimals, money and percent fractions are strings with their scale
//! (`"1130.00"`, decision 0014: a JSON number would invite floats), integers
//! numbers, dates and instants ISO strings, null `null`.

use std::fs::File;
use std::io::{BufWriter, Write};

use chrono_tz::Tz;
use serde_json::{Map, Value as Json, json};

use crate::display::{data_scale, data_text, instant};
use crate::{Column, ColumnKind, FormatError, ReportMeta, Value};

pub(crate) struct JsonSink {
    out: BufWriter<File>,
    /// Each column's key, already a JSON string with its colon: `"total":`.
    keys: Vec<String>,
    kinds: Vec<ColumnKind>,
    tz: Tz,
    rows: u64,
}

impl JsonSink {
    pub(crate) fn create(
        file: File,
        meta: &ReportMeta,
        columns: &[Column],
    ) -> Result<Self, FormatError> {
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        let described: Vec<Json> = columns.iter().map(describe).collect();
        // Field by field rather than one map, so the order is the documented
        // one whatever serde_json's map type.
        out.write_all(b"{\"title\":")?;
        serde_json::to_writer(&mut out, &meta.title)?;
        out.write_all(b",\"company\":")?;
        serde_json::to_writer(&mut out, &meta.company_name)?;
        out.write_all(b",\"period\":")?;
        serde_json::to_writer(&mut out, &meta.period)?;
        out.write_all(b",\"generated_at\":")?;
        serde_json::to_writer(&mut out, &instant(meta.generated_at, meta.time_zone))?;
        out.write_all(b",\"time_zone\":")?;
        serde_json::to_writer(&mut out, meta.time_zone.name())?;
        out.write_all(b",\"columns\":")?;
        serde_json::to_writer(&mut out, &described)?;
        out.write_all(b",\"rows\":[")?;
        let keys = columns
            .iter()
            .map(|c| serde_json::to_string(&c.key).map(|k| k + ":"))
            .collect::<Result<_, _>>()?;
        Ok(JsonSink {
            out,
            keys,
            kinds: columns.iter().map(|c| c.kind.clone()).collect(),
            tz: meta.time_zone,
            rows: 0,
        })
    }

    pub(crate) fn write_row(&mut self, row: &[Value]) -> Result<(), FormatError> {
        if self.rows > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(b"{")?;
        for (i, ((key, kind), value)) in self.keys.iter().zip(&self.kinds).zip(row).enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            self.out.write_all(key.as_bytes())?;
            match value {
                Value::Null => self.out.write_all(b"null")?,
                Value::Integer(number) => write!(self.out, "{number}")?,
                Value::Text(text) => serde_json::to_writer(&mut self.out, text)?,
                other => serde_json::to_writer(&mut self.out, &data_text(kind, other, self.tz))?,
            }
        }
        self.out.write_all(b"}")?;
        self.rows += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<File, FormatError> {
        writeln!(self.out, "],\"row_count\":{}}}", self.rows)?;
        self.out.flush()?;
        self.out
            .into_inner()
            .map_err(|e| FormatError::Io(e.into_error()))
    }
}

/// A column as JSON: key, label, kind name, and the scale (numbers written
/// as strings) and currency where they apply.
fn describe(column: &Column) -> Json {
    let mut object = Map::new();
    object.insert("key".into(), json!(column.key));
    object.insert("label".into(), json!(column.label));
    object.insert("kind".into(), json!(column.kind.name()));
    if let Some(scale) = data_scale(&column.kind) {
        object.insert("scale".into(), json!(scale));
    }
    if let ColumnKind::Money { currency } = &column.kind {
        object.insert("currency".into(), json!(currency));
    }
    Json::Object(object)
}
