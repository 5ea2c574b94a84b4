//! Tamper evidence: how an event's hash and a tenant's chain are computed,
//! and how an auditor verifies them, from the database or from an export.
//!
//! ```text
//!  event hash  = SHA-256(prev || 0 || aggregate_type || 0 || aggregate_id || 0 || sequence ||
//!                        0 || event_type || 0 || event_version || 0 || payload || 0 || metadata)
//!                prev = the previous event of the same aggregate's hash (32 zero bytes first)
//!  chain hash  = SHA-256(previous chain hash of the tenant || event hash), in commit order
//!  seal        = (tenant, chain_seq, position, chain hash, time), written periodically
//! ```
//!
//! `payload` and `metadata` are the stored JSON texts, byte for byte (the
//! encrypted form where personal data is encrypted), so forgetting a
//! customer (destroying a key) changes no hash.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub const ZERO_HASH: Hash = [0; 32];

/// The stored form of an event, as hashed.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a str,
    pub metadata: &'a str,
}

/// The event's hash given its predecessor's (the SQL function `event_hash`
/// computes the same bytes).
pub fn event_hash(prev: &Hash, e: &StoredEvent<'_>) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    for part in [
        e.aggregate_type,
        e.aggregate_id,
        &e.sequence.to_string(),
        e.event_type,
        e.event_version,
        e.payload,
        e.metadata,
    ] {
        h.update([0u8]);
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// The next link of a tenant's chain.
pub fn chain_hash(prev_chain: &Hash, event_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev_chain);
    h.update(event_hash);
    h.finalize().into()
}

pub fn to_hex(hash: &[u8]) -> String {
    hex::encode(hash)
}

pub fn from_hex(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}

/// One event as an auditor checks it: its stored form, its stored hashes,
/// and its link in the tenant chain (absent for events not chained yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub event_id: String,
    pub tenant_id: String,
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub prev_hash: String,
    pub hash: String,
    pub chain_seq: Option<i64>,
    pub chain_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealRecord {
    pub tenant_id: String,
    pub chain_seq: i64,
    pub position: i64,
    pub chain_hash: String,
    pub sealed_at: String,
}

/// A tenant's chain link just before an export's window, so a window can
/// be verified without the events before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorRecord {
    pub tenant_id: String,
    pub chain_seq: i64,
    pub chain_hash: String,
}

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportHeader {
    /// `crm-events-export/1`
    pub format: String,
    pub tenant_id: Option<String>,
    /// Recorded-at window (RFC 3339); with `from`, the export is a window
    /// that starts after the beginning of the history.
    pub from: Option<String>,
    pub to: Option<String>,
    pub exported_at: String,
}

pub const EXPORT_FORMAT: &str = "crm-events-export/1";

/// One line of an export (`crm events export`, `GET /v1/audit/export`):
/// NDJSON, each line tagged by `record`. `payload` and `metadata` are the
/// stored JSON texts as strings, byte for byte, so hashes can be recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum ExportLine {
    Header(ExportHeader),
    Anchor(AnchorRecord),
    Event(AuditRecord),
    Seal(SealRecord),
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Break {
    /// The event's stored form no longer matches its hash: it was altered.
    EventAltered {
        event_id: String,
        aggregate: String,
        sequence: i64,
    },
    /// The event's `prev_hash` is not its predecessor's hash: the
    /// predecessor was altered (and rehashed) or removed.
    AggregateChainBroken {
        event_id: String,
        aggregate: String,
        sequence: i64,
    },
    /// A sequence is missing within an aggregate.
    EventMissing {
        aggregate: String,
        expected_sequence: i64,
        found: i64,
    },
    /// The tenant chain stored for the event does not follow from the
    /// events before it.
    TenantChainBroken {
        event_id: String,
        tenant: String,
        chain_seq: i64,
    },
    /// A seal names a chain head the events do not produce.
    SealMismatch { tenant: String, chain_seq: i64 },
    /// A seal covers more events than exist: events were removed.
    SealBeyondEvents {
        tenant: String,
        chain_seq: i64,
        events: i64,
    },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EventAltered {
                event_id,
                aggregate,
                sequence,
            } => {
                write!(
                    f,
                    "event {event_id} ({aggregate} #{sequence}) was altered: its stored form does not match its hash"
                )
            }
            Self::AggregateChainBroken {
                event_id,
                aggregate,
                sequence,
            } => write!(
                f,
                "event {event_id} ({aggregate} #{sequence}) does not chain to its predecessor: event #{} was altered or removed",
                sequence - 1
            ),
            Self::EventMissing {
                aggregate,
                expected_sequence,
                found,
            } => {
                write!(
                    f,
                    "{aggregate}: event #{expected_sequence} is missing (found #{found})"
                )
            }
            Self::TenantChainBroken {
                event_id,
                tenant,
                chain_seq,
            } => {
                write!(
                    f,
                    "tenant {tenant}: chain link {chain_seq} (event {event_id}) does not follow from the events before it"
                )
            }
            Self::SealMismatch { tenant, chain_seq } => {
                write!(
                    f,
                    "tenant {tenant}: the seal at chain link {chain_seq} does not match the events"
                )
            }
            Self::SealBeyondEvents {
                tenant,
                chain_seq,
                events,
            } => write!(
                f,
                "tenant {tenant}: a seal covers {chain_seq} chain links but only {events} chained events exist: events were removed"
            ),
        }
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub events: u64,
    pub aggregates: u64,
    pub tenants: u64,
    pub chained: u64,
    pub seals: u64,
}

/// Checks records fed in commit order, then seals.
///
/// A full history starts every aggregate at sequence 1 and every tenant
/// chain at link 1. A window (an export with `from`) starts wherever it
/// starts: [`Verifier::windowed`] trusts each aggregate's first event in the
/// window as its anchor, and each tenant chain continues from its
/// [`AnchorRecord`].
#[derive(Debug, Default)]
pub struct Verifier {
    windowed: bool,
    aggregates: HashMap<(String, String), (i64, Hash)>,
    tenants: HashMap<String, (i64, Hash)>,
    /// Recomputed chain hash per (tenant, chain_seq), for the seals.
    links: HashMap<(String, i64), Hash>,
    report: Report,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn windowed() -> Self {
        Self {
            windowed: true,
            ..Self::default()
        }
    }

    /// Continues `anchor`'s tenant chain from the link before the window.
    pub fn anchor(&mut self, anchor: &AnchorRecord) {
        if let Some(hash) = from_hex(&anchor.chain_hash) {
            self.tenants
                .insert(anchor.tenant_id.clone(), (anchor.chain_seq, hash));
        }
    }

    /// Checks one record; the first problem ends the verification.
    pub fn push(&mut self, r: &AuditRecord) -> Result<(), Break> {
        let aggregate = format!("{}/{}", r.aggregate_type, r.aggregate_id);
        let stored_prev = from_hex(&r.prev_hash).unwrap_or([0xff; 32]);
        let stored_hash = from_hex(&r.hash).unwrap_or([0xff; 32]);
        let computed = event_hash(
            &stored_prev,
            &StoredEvent {
                aggregate_type: &r.aggregate_type,
                aggregate_id: &r.aggregate_id,
                sequence: r.sequence,
                event_type: &r.event_type,
                event_version: &r.event_version,
                payload: &r.payload,
                metadata: &r.metadata,
            },
        );
        if computed != stored_hash {
            return Err(Break::EventAltered {
                event_id: r.event_id.clone(),
                aggregate,
                sequence: r.sequence,
            });
        }
        let key = (r.aggregate_type.clone(), r.aggregate_id.clone());
        let (last_seq, last_hash) = match self.aggregates.get(&key) {
            Some(last) => *last,
            // In a window an aggregate's first event anchors its chain.
            None if self.windowed => (r.sequence - 1, stored_prev),
            None => (0, ZERO_HASH),
        };
        if r.sequence != last_seq + 1 {
            return Err(Break::EventMissing {
                aggregate,
                expected_sequence: last_seq + 1,
                found: r.sequence,
            });
        }
        if stored_prev != last_hash {
            return Err(Break::AggregateChainBroken {
                event_id: r.event_id.clone(),
                aggregate,
                sequence: r.sequence,
            });
        }
        if last_seq == 0 {
            self.report.aggregates += 1;
        }
        self.aggregates.insert(key, (r.sequence, stored_hash));

        if let (Some(chain_seq), Some(chain_hex)) = (r.chain_seq, &r.chain_hash) {
            let (last_link, last_chain) = self
                .tenants
                .get(&r.tenant_id)
                .copied()
                .unwrap_or((0, ZERO_HASH));
            if last_link == 0 && self.windowed && chain_seq != 1 {
                // A window without this tenant's anchor cannot check the link.
                return Err(Break::TenantChainBroken {
                    event_id: r.event_id.clone(),
                    tenant: r.tenant_id.clone(),
                    chain_seq,
                });
            }
            let expected = chain_hash(&last_chain, &stored_hash);
            if chain_seq != last_link + 1 || from_hex(chain_hex) != Some(expected) {
                return Err(Break::TenantChainBroken {
                    event_id: r.event_id.clone(),
                    tenant: r.tenant_id.clone(),
                    chain_seq,
                });
            }
            if last_link == 0 {
                self.report.tenants += 1;
            }
            self.tenants
                .insert(r.tenant_id.clone(), (chain_seq, expected));
            self.links
                .insert((r.tenant_id.clone(), chain_seq), expected);
            self.report.chained += 1;
        }
        self.report.events += 1;
        Ok(())
    }

    /// Checks the seals against the chain the records produced. In a window,
    /// seals outside it are not checked.
    pub fn finish(mut self, seals: &[SealRecord]) -> Result<Report, Break> {
        for seal in seals {
            if self.windowed
                && !self
                    .links
                    .contains_key(&(seal.tenant_id.clone(), seal.chain_seq))
            {
                continue;
            }
            match self.links.get(&(seal.tenant_id.clone(), seal.chain_seq)) {
                Some(link) if from_hex(&seal.chain_hash) == Some(*link) => self.report.seals += 1,
                Some(_) => {
                    return Err(Break::SealMismatch {
                        tenant: seal.tenant_id.clone(),
                        chain_seq: seal.chain_seq,
                    });
                }
                None => {
                    let events = self
                        .tenants
                        .get(&seal.tenant_id)
                        .map(|(n, _)| *n)
                        .unwrap_or(0);
                    return Err(Break::SealBeyondEvents {
                        tenant: seal.tenant_id.clone(),
                        chain_seq: seal.chain_seq,
                        events,
                    });
                }
            }
        }
        Ok(self.report)
    }
}

/// Why an export file could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("line {line}: {message}")]
    Malformed { line: usize, message: String },
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Broken(Break),
}

/// Verifies an export (NDJSON of [`ExportLine`]s) offline.
pub fn verify_export(reader: impl std::io::BufRead) -> Result<Report, FileError> {
    let mut lines = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ExportLine = serde_json::from_str(&line).map_err(|e| FileError::Malformed {
            line: i + 1,
            message: e.to_string(),
        })?;
        lines.push(parsed);
    }
    let windowed = match lines.first() {
        Some(ExportLine::Header(h)) if h.format == EXPORT_FORMAT => h.from.is_some(),
        Some(ExportLine::Header(h)) => {
            return Err(FileError::Malformed {
                line: 1,
                message: format!("unknown export format `{}`", h.format),
            });
        }
        _ => {
            return Err(FileError::Malformed {
                line: 1,
                message: "an export starts with its header line".into(),
            });
        }
    };
    let mut verifier = if windowed {
        Verifier::windowed()
    } else {
        Verifier::new()
    };
    let mut seals = Vec::new();
    for line in &lines {
        match line {
            ExportLine::Header(_) => {}
            ExportLine::Anchor(a) => verifier.anchor(a),
            ExportLine::Event(e) => verifier.push(e).map_err(FileError::Broken)?,
            ExportLine::Seal(s) => seals.push(s.clone()),
        }
    }
    verifier.finish(&seals).map_err(FileError::Broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        aggregate: &str,
        sequence: i64,
        prev: &Hash,
        chain: Option<(i64, &Hash)>,
    ) -> (AuditRecord, Hash, Option<Hash>) {
        let payload = format!("{{\"n\": {sequence}}}");
        let e = StoredEvent {
            aggregate_type: "Customer",
            aggregate_id: aggregate,
            sequence,
            event_type: "CustomerTagged",
            event_version: "1.0",
            payload: &payload,
            metadata: "{}",
        };
        let hash = event_hash(prev, &e);
        let link = chain.map(|(_, prev_chain)| chain_hash(prev_chain, &hash));
        (
            AuditRecord {
                event_id: format!("{aggregate}-{sequence}"),
                tenant_id: "acme".into(),
                position: sequence,
                aggregate_type: "Customer".into(),
                aggregate_id: aggregate.into(),
                sequence,
                event_type: "CustomerTagged".into(),
                event_version: "1.0".into(),
                payload,
                metadata: "{}".into(),
                prev_hash: to_hex(prev),
                hash: to_hex(&hash),
                chain_seq: chain.map(|(n, _)| n),
                chain_hash: link.map(|l| to_hex(&l)),
            },
            hash,
            link,
        )
    }

    fn history() -> (Vec<AuditRecord>, SealRecord) {
        let (a1, h1, c1) = record("a", 1, &ZERO_HASH, Some((1, &ZERO_HASH)));
        let (a2, h2, c2) = record("a", 2, &h1, Some((2, &c1.unwrap())));
        let (a3, _, c3) = record("a", 3, &h2, Some((3, &c2.unwrap())));
        let seal = SealRecord {
            tenant_id: "acme".into(),
            chain_seq: 3,
            position: 3,
            chain_hash: to_hex(&c3.unwrap()),
            sealed_at: "2026-01-01T00:00:00Z".into(),
        };
        (vec![a1, a2, a3], seal)
    }

    fn verify(records: &[AuditRecord], seals: &[SealRecord]) -> Result<Report, Break> {
        let mut v = Verifier::new();
        for r in records {
            v.push(r)?;
        }
        v.finish(seals)
    }

    #[test]
    fn an_intact_history_verifies() {
        let (records, seal) = history();
        let report = verify(&records, &[seal]).unwrap();
        assert_eq!(
            report,
            Report {
                events: 3,
                aggregates: 1,
                tenants: 1,
                chained: 3,
                seals: 1
            }
        );
    }

    #[test]
    fn an_altered_payload_is_pinpointed() {
        let (mut records, seal) = history();
        records[1].payload = "{\"n\": 99}".into();
        assert_eq!(
            verify(&records, &[seal]).unwrap_err(),
            Break::EventAltered {
                event_id: "a-2".into(),
                aggregate: "Customer/a".into(),
                sequence: 2
            }
        );
    }

    #[test]
    fn an_altered_and_rehashed_event_breaks_its_successors_link() {
        let (mut records, seal) = history();
        records[1].payload = "{\"n\": 99}".into();
        let prev = from_hex(&records[1].prev_hash).unwrap();
        let e = &records[1];
        records[1].hash = to_hex(&event_hash(
            &prev,
            &StoredEvent {
                aggregate_type: &e.aggregate_type,
                aggregate_id: &e.aggregate_id,
                sequence: e.sequence,
                event_type: &e.event_type,
                event_version: &e.event_version,
                payload: &e.payload,
                metadata: &e.metadata,
            },
        ));
        let err = verify(&records, &[seal]).unwrap_err();
        assert!(
            matches!(err, Break::TenantChainBroken { chain_seq: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_removed_event_is_found_by_the_next_or_by_a_seal() {
        let (records, seal) = history();
        let without_middle = vec![records[0].clone(), records[2].clone()];
        assert!(matches!(
            verify(&without_middle, &[]).unwrap_err(),
            Break::EventMissing {
                expected_sequence: 2,
                ..
            }
        ));
        let without_tail = records[..2].to_vec();
        assert!(matches!(
            verify(&without_tail, &[seal]).unwrap_err(),
            Break::SealBeyondEvents { chain_seq: 3, .. }
        ));
    }

    #[test]
    fn an_export_verifies_offline_and_a_window_continues_from_its_anchor() {
        let (records, seal) = history();
        let header = |from: Option<&str>| {
            ExportLine::Header(ExportHeader {
                format: EXPORT_FORMAT.into(),
                tenant_id: Some("acme".into()),
                from: from.map(str::to_owned),
                to: None,
                exported_at: "2026-01-02T00:00:00Z".into(),
            })
        };
        let lines: Vec<String> = [header(None)]
            .into_iter()
            .chain(records.iter().cloned().map(ExportLine::Event))
            .chain([ExportLine::Seal(seal.clone())])
            .map(|l| serde_json::to_string(&l).unwrap())
            .collect();
        let report = verify_export(lines.join("\n").as_bytes()).unwrap();
        assert_eq!(report.events, 3);
        assert_eq!(report.seals, 1);
        // Without its first event, a full export does not verify.
        let missing_first = [lines[0].clone(), lines[2].clone(), lines[3].clone()].join("\n");
        assert!(matches!(
            verify_export(missing_first.as_bytes()).unwrap_err(),
            FileError::Broken(Break::EventMissing {
                expected_sequence: 1,
                ..
            })
        ));

        let anchor = ExportLine::Anchor(AnchorRecord {
            tenant_id: "acme".into(),
            chain_seq: 1,
            chain_hash: records[0].chain_hash.clone().unwrap(),
        });
        let window: Vec<String> = [
            header(Some("2026-01-01T00:00:00Z")),
            anchor,
            ExportLine::Event(records[1].clone()),
            ExportLine::Event(records[2].clone()),
            ExportLine::Seal(seal),
        ]
        .iter()
        .map(|l| serde_json::to_string(l).unwrap())
        .collect();
        assert_eq!(
            verify_export(window.join("\n").as_bytes()).unwrap().events,
            2
        );

        let mut tampered = records[2].clone();
        tampered.payload = "{}".into();
        let bad = serde_json::to_string(&ExportLine::Event(tampered)).unwrap();
        let err =
            verify_export(format!("{}\n{}\n{}\n{bad}", lines[0], lines[1], lines[2]).as_bytes())
                .unwrap_err();
        assert!(
            matches!(
                err,
                FileError::Broken(Break::EventAltered { sequence: 3, .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn a_forged_seal_is_found() {
        let (records, mut seal) = history();
        seal.chain_hash = to_hex(&ZERO_HASH);
        assert_eq!(
            verify(&records, &[seal]).unwrap_err(),
            Break::SealMismatch {
                tenant: "acme".into(),
                chain_seq: 3
            }
        );
    }
}
