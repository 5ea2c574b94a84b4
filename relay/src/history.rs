//! The event history as auditors read it: the stored events with their
//! hashes and chain links, the seals, verification, and exports.

use chrono::{DateTime, SecondsFormat, Utc};
use event_schemas::integrity::{
    AnchorRecord, AuditRecord, Break, EXPORT_FORMAT, ExportHeader, ExportLine, Report, SealRecord,
    Verifier,
};
use futures::{Stream, StreamExt, TryStreamExt};
use sqlx::PgPool;

/// The events of a tenant (`$1`, all when NULL) in a commit-order range
/// (`$2`..`$5`), with their hashes and chain links.
const RECORDS_SQL: &str = "SELECT e.txid::text::bigint AS txid, e.event_id::text AS event_id, e.tenant_id, e.position, e.aggregate_type, \
     e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload::text AS payload, \
     e.metadata::text AS metadata, encode(e.prev_hash, 'hex') AS prev_hash, encode(e.hash, 'hex') AS hash, \
     c.chain_seq, encode(c.chain_hash, 'hex') AS chain_hash
  FROM events e LEFT JOIN tenant_chain c ON c.position = e.position
 WHERE ($1::text IS NULL OR e.tenant_id = $1)
   AND ((e.txid, e.position) > ($2::text::xid8, $3) OR ($6 AND (e.txid, e.position) = ($2::text::xid8, $3)))
   AND (e.txid, e.position) <= ($4::text::xid8, $5)
 ORDER BY e.txid, e.position
 LIMIT $7";

#[derive(sqlx::FromRow)]
struct Row {
    txid: i64,
    event_id: String,
    tenant_id: String,
    position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
    prev_hash: String,
    hash: String,
    chain_seq: Option<i64>,
    chain_hash: Option<String>,
}

impl From<Row> for AuditRecord {
    fn from(r: Row) -> Self {
        Self {
            event_id: r.event_id,
            tenant_id: r.tenant_id,
            position: r.position,
            aggregate_type: r.aggregate_type,
            aggregate_id: r.aggregate_id,
            sequence: r.sequence,
            event_type: r.event_type,
            event_version: r.event_version,
            payload: r.payload,
            metadata: r.metadata,
            prev_hash: r.prev_hash,
            hash: r.hash,
            chain_seq: r.chain_seq,
            chain_hash: r.chain_hash,
        }
    }
}

/// A contiguous range of the commit order, `(txid, position)` bounds inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    from: (i64, i64),
    to: (i64, i64),
}

/// The commit-order range covering events recorded in `[from, to)`: from
/// the first such event to the last, with everything in between (recorded
/// times are not strictly monotonic in commit order; chains are).
async fn window(
    pool: &PgPool,
    tenant: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Option<Range>, sqlx::Error> {
    let bounds: (Option<i64>, Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT txid::text::bigint FROM events WHERE ($1::text IS NULL OR tenant_id = $1)
                  AND ($2::timestamptz IS NULL OR recorded_at >= $2) ORDER BY events.txid, events.position LIMIT 1),
                (SELECT position FROM events WHERE ($1::text IS NULL OR tenant_id = $1)
                  AND ($2::timestamptz IS NULL OR recorded_at >= $2) ORDER BY events.txid, events.position LIMIT 1),
                (SELECT txid::text::bigint FROM events WHERE ($1::text IS NULL OR tenant_id = $1)
                  AND ($3::timestamptz IS NULL OR recorded_at < $3) ORDER BY events.txid DESC, events.position DESC LIMIT 1),
                (SELECT position FROM events WHERE ($1::text IS NULL OR tenant_id = $1)
                  AND ($3::timestamptz IS NULL OR recorded_at < $3) ORDER BY events.txid DESC, events.position DESC LIMIT 1)",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    Ok(match bounds {
        (Some(a), Some(b), Some(c), Some(d)) if (a, b) <= (c, d) => Some(Range {
            from: (a, b),
            to: (c, d),
        }),
        _ => None,
    })
}

/// The events of `tenant` (all tenants when `None`) in `range`, in commit
/// order, read in pages so memory stays flat whatever the history's size.
fn records(
    pool: PgPool,
    tenant: Option<String>,
    range: Range,
) -> impl Stream<Item = Result<AuditRecord, sqlx::Error>> + Send + 'static {
    const PAGE: i64 = 1000;
    // The next page's lower bound, and whether it is included (only the
    // range's own start is).
    let state = Some((range.from, true));
    futures::stream::try_unfold(state, move |state| {
        let (pool, tenant) = (pool.clone(), tenant.clone());
        async move {
            let Some((from, inclusive)) = state else {
                return Ok(None);
            };
            let page: Vec<Row> = sqlx::query_as(RECORDS_SQL)
                .bind(tenant.as_deref())
                .bind(from.0.to_string())
                .bind(from.1)
                .bind(range.to.0.to_string())
                .bind(range.to.1)
                .bind(inclusive)
                .bind(PAGE)
                .fetch_all(&pool)
                .await?;
            let next = match page.last() {
                Some(last) if page.len() as i64 == PAGE => {
                    Some(((last.txid, last.position), false))
                }
                _ => None,
            };
            let items: Vec<Result<AuditRecord, sqlx::Error>> =
                page.into_iter().map(|r| Ok(r.into())).collect();
            Ok::<_, sqlx::Error>(Some((futures::stream::iter(items), next)))
        }
    })
    .try_flatten()
}

/// Seals of `tenant` (all when `None`) with positions in `range`, or all.
async fn seals(
    pool: &PgPool,
    tenant: Option<&str>,
    range: Option<Range>,
) -> Result<Vec<SealRecord>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT s.tenant_id, s.chain_seq, s.position, encode(s.chain_hash, 'hex'), s.sealed_at
           FROM chain_seals s JOIN events e ON e.position = s.position
          WHERE ($1::text IS NULL OR s.tenant_id = $1)
            AND ($2::bigint IS NULL OR ((e.txid, e.position) >= ($2::text::xid8, $3) AND (e.txid, e.position) <= ($4::text::xid8, $5)))
          ORDER BY s.tenant_id, s.chain_seq",
    )
    .bind(tenant)
    .bind(range.map(|r| r.from.0))
    .bind(range.map(|r| r.from.1))
    .bind(range.map(|r| r.to.0.to_string()))
    .bind(range.map(|r| r.to.1))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(tenant_id, chain_seq, position, chain_hash, sealed_at)| SealRecord {
                tenant_id,
                chain_seq,
                position,
                chain_hash,
                sealed_at: sealed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            },
        )
        .collect())
}

/// Each tenant's chain link just before `range`.
async fn anchors(
    pool: &PgPool,
    tenant: Option<&str>,
    range: Range,
) -> Result<Vec<AnchorRecord>, sqlx::Error> {
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (c.tenant_id) c.tenant_id, c.chain_seq, encode(c.chain_hash, 'hex')
           FROM tenant_chain c JOIN events e ON e.position = c.position
          WHERE ($1::text IS NULL OR c.tenant_id = $1) AND (e.txid, e.position) < ($2::text::xid8, $3)
          ORDER BY c.tenant_id, c.chain_seq DESC",
    )
    .bind(tenant)
    .bind(range.from.0.to_string())
    .bind(range.from.1)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant_id, chain_seq, chain_hash)| AnchorRecord {
            tenant_id,
            chain_seq,
            chain_hash,
        })
        .collect())
}

/// Verifies the stored history of `tenant` (or every tenant): every event's
/// hash, every aggregate chain, every tenant chain link, every seal.
/// `Ok(Err(break))` names the first broken link.
pub async fn verify_database(
    pool: &PgPool,
    tenant: Option<&str>,
) -> Result<Result<Report, Break>, sqlx::Error> {
    let Some(range) = window(pool, tenant, None, None).await? else {
        return Ok(Ok(Report::default()));
    };
    let mut verifier = Verifier::new();
    let mut stream = std::pin::pin!(records(pool.clone(), tenant.map(str::to_owned), range));
    while let Some(record) = stream.try_next().await? {
        if let Err(found) = verifier.push(&record) {
            return Ok(Err(found));
        }
    }
    let seals = seals(pool, tenant, None).await?;
    Ok(verifier.finish(&seals))
}

/// An export as a stream of lines: the header, the anchors of a window, the
/// events in commit order, then the seals within the range.
pub fn export(
    pool: PgPool,
    tenant: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> impl Stream<Item = Result<ExportLine, sqlx::Error>> + Send + 'static {
    let header = ExportLine::Header(ExportHeader {
        format: EXPORT_FORMAT.to_owned(),
        tenant_id: tenant.clone(),
        from: from.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true)),
        to: to.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true)),
        exported_at: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
    });
    futures::stream::once(async move {
        let range = window(&pool, tenant.as_deref(), from, to).await?;
        let head = futures::stream::iter([Ok(header)]);
        let Some(range) = range else {
            return Ok::<_, sqlx::Error>(head.boxed());
        };
        let anchors = if from.is_some() {
            anchors(&pool, tenant.as_deref(), range).await?
        } else {
            Vec::new()
        };
        let seals = seals(&pool, tenant.as_deref(), Some(range)).await?;
        Ok(head
            .chain(futures::stream::iter(
                anchors.into_iter().map(|a| Ok(ExportLine::Anchor(a))),
            ))
            .chain(records(pool, tenant, range).map_ok(ExportLine::Event))
            .chain(futures::stream::iter(
                seals.into_iter().map(|s| Ok(ExportLine::Seal(s))),
            ))
            .boxed())
    })
    .try_flatten()
}
