//! The JSON Schemas committed under `event-schemas/schemas/` must be exactly
//! what the code generates. After an intended change, regenerate them with
//! `UPDATE_SCHEMAS=1 cargo test -p event-schemas --test schemas_match_code`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use event_schemas::{CloudEvent, EventMetadata};

fn expected_files() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for info in event_schemas::catalogue() {
        let schema = (info.schema)();
        files.insert(info.schema_file_name(), pretty(&schema));
    }
    files.insert(
        "CloudEvent.json".to_owned(),
        pretty(&schemars::schema_for!(CloudEvent)),
    );
    files.insert(
        "EventMetadata.json".to_owned(),
        pretty(&schemars::schema_for!(EventMetadata)),
    );
    files
}

fn pretty(schema: &schemars::schema::RootSchema) -> String {
    serde_json::to_string_pretty(schema).expect("schema serializes") + "\n"
}

#[test]
fn committed_schemas_match_the_code() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let expected = expected_files();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (name, body) in &expected {
            std::fs::write(dir.join(name), body).unwrap();
        }
    }
    let mut committed = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("event-schemas/schemas exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        committed.insert(name, std::fs::read_to_string(&path).unwrap());
    }
    let stale: Vec<_> = committed
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !committed.contains_key(*k))
        .collect();
    let drifted: Vec<_> = expected
        .iter()
        .filter(|(k, v)| committed.get(*k).is_some_and(|c| c != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        stale.is_empty() && missing.is_empty() && drifted.is_empty(),
        "event schemas drifted from the code (stale: {stale:?}, missing: {missing:?}, changed: {drifted:?}).\n\
         If the change is intended (and versioned), run:\n  \
         UPDATE_SCHEMAS=1 cargo test -p event-schemas --test schemas_match_code"
    );
}

#[test]
fn every_event_type_is_unique_and_versioned() {
    let catalogue = event_schemas::catalogue();
    let mut seen = std::collections::HashSet::new();
    for info in &catalogue {
        assert!(
            seen.insert(info.event_type),
            "duplicate event type {}",
            info.event_type
        );
        assert!(!info.version.is_empty());
        assert!(!info.description.is_empty());
    }
}
