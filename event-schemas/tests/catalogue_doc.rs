//! `docs/events.md` is generated from the catalogue and the JSON Schemas, so
//! the documented events are the real ones. After an intended change run
//! `UPDATE_SCHEMAS=1 cargo test -p event-schemas --test catalogue_doc`.

use std::fmt::Write;
use std::path::PathBuf;

use schemars::schema::{InstanceType, Schema, SchemaObject, SingleOrVec};

fn type_name(schema: &SchemaObject) -> String {
    if let Some(reference) = &schema.reference {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    let mut names: Vec<String> = match &schema.instance_type {
        Some(SingleOrVec::Single(t)) => vec![instance(t, schema)],
        Some(SingleOrVec::Vec(ts)) => ts
            .iter()
            .filter(|t| **t != InstanceType::Null)
            .map(|t| instance(t, schema))
            .collect(),
        None => Vec::new(),
    };
    if let Some(subs) = &schema.subschemas {
        for s in subs
            .all_of
            .iter()
            .chain(subs.any_of.iter())
            .chain(subs.one_of.iter())
            .flatten()
        {
            if let Schema::Object(o) = s {
                let n = type_name(o);
                if n != "null" {
                    names.push(n);
                }
            }
        }
    }
    if let Some(values) = &schema.enum_values {
        return values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| v.as_str().unwrap_or("?").to_owned())
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    if names.is_empty() {
        "any".to_owned()
    } else {
        names.join(" or ")
    }
}

fn instance(t: &InstanceType, schema: &SchemaObject) -> String {
    let base = match t {
        InstanceType::Array => {
            let item = schema
                .array
                .as_ref()
                .and_then(|a| a.items.as_ref())
                .and_then(|i| match i {
                    SingleOrVec::Single(s) => match s.as_ref() {
                        Schema::Object(o) => Some(type_name(o)),
                        Schema::Bool(_) => None,
                    },
                    SingleOrVec::Vec(_) => None,
                })
                .unwrap_or_else(|| "any".to_owned());
            return format!("array of {item}");
        }
        InstanceType::Object => "object",
        InstanceType::String => "string",
        InstanceType::Integer => "integer",
        InstanceType::Number => "number",
        InstanceType::Boolean => "boolean",
        InstanceType::Null => "null",
    };
    match &schema.format {
        Some(format) => format!("{base} ({format})"),
        None => base.to_owned(),
    }
}

fn nullable(schema: &SchemaObject) -> bool {
    matches!(&schema.instance_type, Some(SingleOrVec::Vec(ts)) if ts.contains(&InstanceType::Null))
        || schema.subschemas.as_ref().is_some_and(|s| {
            s.any_of.iter().flatten().any(|x| matches!(x, Schema::Object(o) if o.instance_type == Some(SingleOrVec::Single(Box::new(InstanceType::Null)))))
        })
}

fn render() -> String {
    let mut out = String::from(
        "# Event catalogue\n\n\
         <!-- Generated from event-schemas by `UPDATE_SCHEMAS=1 cargo test -p event-schemas --test catalogue_doc`; do not edit by hand. -->\n\n\
         Every state change is one of these events. Each is stored in the `events` table (payload `{\"<Type>\": {...}}`, \
         metadata: tenant, actor and role, correlation, causation and command ids, recorded time) and published to NATS \
         as a CloudEvents 1.0 envelope on `<prefix>.events.<tenant>.<aggregate>.<Type>` (see `docs/architecture.md`). \
         The JSON Schema of each payload is `event-schemas/schemas/<Type>.v<version>.json`.\n\n\
         Versioning: a stored event is never changed. A compatible change (a new optional field) bumps the minor \
         version; an incompatible one is a new major version with an upcaster from the old one. Projectors refuse a \
         major version they do not know, and stop on an unknown event type of an aggregate they read.\n\n",
    );
    let catalogue = event_schemas::catalogue();
    let mut aggregate = "";
    for info in &catalogue {
        if info.aggregate_type != aggregate {
            aggregate = info.aggregate_type;
            let _ = writeln!(
                out,
                "## {aggregate}\n\n| event | version | meaning |\n|---|---|---|"
            );
            for e in catalogue.iter().filter(|e| e.aggregate_type == aggregate) {
                let _ = writeln!(
                    out,
                    "| [`{0}`](#{1}) | {2} | {3} |",
                    e.event_type,
                    e.event_type.to_lowercase(),
                    e.version,
                    e.description
                );
            }
            out.push('\n');
        }
        let root = (info.schema)();
        let _ = writeln!(out, "### {}\n\n{}\n", info.event_type, info.description);
        let _ = writeln!(out, "| field | type | required |\n|---|---|---|");
        if let Some(object) = &root.schema.object {
            for (name, schema) in &object.properties {
                if let Schema::Object(o) = schema {
                    let required = object.required.contains(name) && !nullable(o);
                    let description = o
                        .metadata
                        .as_ref()
                        .and_then(|m| m.description.clone())
                        .map(|d| format!(" — {}", d.replace('\n', " ")))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "| `{name}` | {}{description} | {} |",
                        type_name(o),
                        if required { "yes" } else { "no" }
                    );
                }
            }
        }
        out.push('\n');
    }
    let mut shared = std::collections::BTreeMap::new();
    for info in &catalogue {
        for (name, schema) in (info.schema)().definitions {
            shared.insert(name, schema);
        }
    }
    out.push_str("## Shared types\n\n");
    for (name, schema) in shared {
        let Schema::Object(o) = schema else { continue };
        let _ = write!(out, "### {name}\n\n");
        if let Some(description) = o.metadata.as_ref().and_then(|m| m.description.clone()) {
            let _ = write!(out, "{}\n\n", description.replace('\n', " "));
        }
        if o.enum_values.is_some() || o.subschemas.as_ref().is_some_and(|s| s.one_of.is_some()) {
            let values: Vec<String> = o
                .enum_values
                .iter()
                .flatten()
                .chain(
                    o.subschemas
                        .iter()
                        .flat_map(|s| s.one_of.iter().flatten())
                        .filter_map(|v| match v {
                            Schema::Object(x) => x.enum_values.as_ref().and_then(|e| e.first()),
                            Schema::Bool(_) => None,
                        }),
                )
                .filter_map(|v| v.as_str().map(|s| format!("`{s}`")))
                .collect();
            let _ = write!(out, "One of {}.\n\n", values.join(", "));
        } else if let Some(object) = &o.object {
            let _ = writeln!(out, "| field | type | required |\n|---|---|---|");
            for (field, schema) in &object.properties {
                if let Schema::Object(f) = schema {
                    let required = object.required.contains(field) && !nullable(f);
                    let _ = writeln!(
                        out,
                        "| `{field}` | {} | {} |",
                        type_name(f),
                        if required { "yes" } else { "no" }
                    );
                }
            }
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_documented_event_catalogue_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/events.md");
    let expected = render();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "docs/events.md is out of date; run UPDATE_SCHEMAS=1 cargo test -p event-schemas --test catalogue_doc"
    );
}
