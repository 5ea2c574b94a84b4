//! The per-tenant chain: after publishing, the relay links every event, in
//! the same commit order it published them in, into its tenant's chain
//! (`tenant_chain`), and seals each tenant's head periodically
//! (`chain_seals`). See `event_schemas::integrity` for the hashes.
//!
//! The chainer has its own checkpoint, advanced in the same transaction as
//! the links, so a relay that dies anywhere leaves no gap: the next leader
//! chains from that checkpoint up to where publishing got.

use std::collections::HashMap;
use std::time::Duration;

use event_schemas::integrity::{self, Hash, ZERO_HASH};
use sqlx::{Connection, PgConnection};

use crate::publish::Cursor;

const BATCH: i64 = 1000;

/// Links every event up to `upto` (inclusive) into its tenant's chain.
/// Returns how many events were linked. Sealing is the caller's, on its own
/// interval ([`seal_due`]).
pub async fn chain_up_to(conn: &mut PgConnection, upto: Cursor) -> Result<u64, sqlx::Error> {
    let mut linked = 0;
    loop {
        let mut tx = conn.begin().await?;
        let (last_txid, last_position): (i64, i64) = sqlx::query_as(
            "SELECT last_txid::text::bigint, last_position FROM chain_checkpoint FOR UPDATE",
        )
        .fetch_one(&mut *tx)
        .await?;
        let rows: Vec<(i64, i64, uuid::Uuid, String, Vec<u8>)> = sqlx::query_as(
            "SELECT txid::text::bigint, position, event_id, tenant_id, hash FROM events
              WHERE (events.txid, events.position) > ($1::text::xid8, $2)
                AND (events.txid, events.position) <= ($3::text::xid8, $4)
              ORDER BY events.txid, events.position LIMIT $5",
        )
        .bind(last_txid.to_string())
        .bind(last_position)
        .bind(upto.txid.to_string())
        .bind(upto.position)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            break;
        }
        let tenants: Vec<String> = rows.iter().map(|r| r.3.clone()).collect();
        let heads: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT tenant_id, chain_seq, chain_hash FROM tenant_chain_heads WHERE tenant_id = ANY($1) FOR UPDATE",
        )
        .bind(&tenants)
        .fetch_all(&mut *tx)
        .await?;
        let mut heads: HashMap<String, (i64, Hash, i64)> = heads
            .into_iter()
            .map(|(t, seq, hash)| (t, (seq, hash.try_into().unwrap_or(ZERO_HASH), 0)))
            .collect();
        let (mut t_ids, mut t_pos, mut t_events, mut t_seqs, mut t_hashes) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (_, position, event_id, tenant, hash) in &rows {
            let event_hash: Hash = hash.as_slice().try_into().unwrap_or(ZERO_HASH);
            let head = heads.entry(tenant.clone()).or_insert((0, ZERO_HASH, 0));
            let link = integrity::chain_hash(&head.1, &event_hash);
            *head = (head.0 + 1, link, *position);
            t_ids.push(tenant.clone());
            t_pos.push(*position);
            t_events.push(*event_id);
            t_seqs.push(head.0);
            t_hashes.push(link.to_vec());
        }
        sqlx::query(
            "INSERT INTO tenant_chain (tenant_id, position, event_id, chain_seq, chain_hash)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::bigint[], $5::bytea[])",
        )
        .bind(&t_ids)
        .bind(&t_pos)
        .bind(&t_events)
        .bind(&t_seqs)
        .bind(&t_hashes)
        .execute(&mut *tx)
        .await?;
        // The heads this batch advanced, in one statement.
        let (mut h_ids, mut h_seqs, mut h_hashes, mut h_pos) = (vec![], vec![], vec![], vec![]);
        for (tenant, (seq, hash, position)) in &heads {
            if *position == 0 {
                continue; // not advanced by this batch
            }
            h_ids.push(tenant.clone());
            h_seqs.push(*seq);
            h_hashes.push(hash.to_vec());
            h_pos.push(*position);
        }
        sqlx::query(
            "INSERT INTO tenant_chain_heads (tenant_id, chain_seq, chain_hash, position)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[])
             ON CONFLICT (tenant_id) DO UPDATE
                SET chain_seq = EXCLUDED.chain_seq, chain_hash = EXCLUDED.chain_hash, position = EXCLUDED.position",
        )
        .bind(&h_ids)
        .bind(&h_seqs)
        .bind(&h_hashes)
        .bind(&h_pos)
        .execute(&mut *tx)
        .await?;
        let last = rows.last().expect("rows is not empty");
        sqlx::query("UPDATE chain_checkpoint SET last_txid = $1::text::xid8, last_position = $2")
            .bind(last.0.to_string())
            .bind(last.1)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        linked += rows.len() as u64;
        if (rows.len() as i64) < BATCH {
            break; // a short batch reached `upto`
        }
    }
    Ok(linked)
}

/// Seals every tenant head that advanced and whose last seal is older than
/// `every` (or that was never sealed).
pub async fn seal_due(conn: &mut PgConnection, every: Duration) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "WITH due AS (
             UPDATE tenant_chain_heads SET sealed_seq = chain_seq, sealed_at = now()
              WHERE chain_seq > sealed_seq
                AND (sealed_at IS NULL OR sealed_at <= now() - make_interval(secs => $1))
          RETURNING tenant_id, chain_seq, position, chain_hash)
         INSERT INTO chain_seals (tenant_id, chain_seq, position, chain_hash)
         SELECT tenant_id, chain_seq, position, chain_hash FROM due",
    )
    .bind(every.as_secs_f64())
    .execute(conn)
    .await?
    .rows_affected())
}
