-- Tamper evidence (see docs/decisions/0008-tamper-evident-log.md).
--
-- 1. Every event carries a SHA-256 over its stored form, chained to the
--    previous event of the same aggregate:
--      hash = sha256(prev_hash || 0x00 || aggregate_type || 0x00 || aggregate_id || 0x00 ||
--                    sequence || 0x00 || event_type || 0x00 || event_version || 0x00 ||
--                    payload text || 0x00 || metadata text)
--    with prev_hash = 32 zero bytes for an aggregate's first event. The same
--    function is event_schemas::integrity::event_hash.
-- 2. The relay chains every event per tenant in commit order
--    (tenant_chain) and seals the chain head periodically (chain_seals).

ALTER TABLE events
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash      bytea;

CREATE FUNCTION event_hash(prev bytea, e events) RETURNS bytea
    LANGUAGE sql IMMUTABLE AS
$$
SELECT sha256(prev || '\x00'::bytea || convert_to(e.aggregate_type, 'UTF8') || '\x00'::bytea ||
              convert_to(e.aggregate_id, 'UTF8') || '\x00'::bytea || convert_to(e.sequence::text, 'UTF8') ||
              '\x00'::bytea || convert_to(e.event_type, 'UTF8') || '\x00'::bytea ||
              convert_to(e.event_version, 'UTF8') || '\x00'::bytea || convert_to(e.payload::text, 'UTF8') ||
              '\x00'::bytea || convert_to(e.metadata::text, 'UTF8'))
$$;

CREATE FUNCTION chain_event() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    previous bytea;
BEGIN
    IF NEW.sequence = 1 THEN
        previous := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    ELSE
        SELECT hash INTO previous FROM events
         WHERE aggregate_type = NEW.aggregate_type AND aggregate_id = NEW.aggregate_id
           AND sequence = NEW.sequence - 1;
        IF previous IS NULL THEN
            RAISE EXCEPTION 'event % of %/% has no predecessor to chain to',
                NEW.sequence, NEW.aggregate_type, NEW.aggregate_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    NEW.prev_hash := previous;
    NEW.hash := event_hash(previous, NEW);
    RETURN NEW;
END
$$;

-- Events stored before this migration get their chain now, in order.
ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete;
DO
$$
DECLARE
    r        events;
    previous bytea;
    last_key text := '';
BEGIN
    FOR r IN SELECT * FROM events ORDER BY aggregate_type, aggregate_id, sequence
        LOOP
            IF r.aggregate_type || '/' || r.aggregate_id <> last_key THEN
                previous := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
                last_key := r.aggregate_type || '/' || r.aggregate_id;
            END IF;
            UPDATE events SET prev_hash = previous, hash = event_hash(previous, r)
             WHERE aggregate_type = r.aggregate_type AND aggregate_id = r.aggregate_id AND sequence = r.sequence;
            previous := event_hash(previous, r);
        END LOOP;
END
$$;
ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete;

ALTER TABLE events
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL;

CREATE TRIGGER events_chain
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION chain_event();

-- The per-tenant chain, in the relay's (commit) order:
--   chain_hash = sha256(previous chain_hash of the tenant || event hash)
CREATE TABLE tenant_chain
(
    tenant_id  text   NOT NULL,
    position   bigint NOT NULL,
    event_id   uuid   NOT NULL,
    -- 1, 2, … within the tenant
    chain_seq  bigint NOT NULL,
    chain_hash bytea  NOT NULL,
    PRIMARY KEY (tenant_id, chain_seq),
    UNIQUE (position)
);

-- Where the chainer is in commit order, and each tenant's head.
CREATE TABLE chain_checkpoint
(
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_txid     xid8   NOT NULL DEFAULT '0',
    last_position bigint NOT NULL DEFAULT 0
);
INSERT INTO chain_checkpoint DEFAULT VALUES;

CREATE TABLE tenant_chain_heads
(
    tenant_id  text PRIMARY KEY,
    chain_seq  bigint      NOT NULL,
    chain_hash bytea       NOT NULL,
    position   bigint      NOT NULL,
    sealed_seq bigint      NOT NULL DEFAULT 0,
    sealed_at  timestamptz
);

-- Periodic seals of each tenant's chain head.
CREATE TABLE chain_seals
(
    tenant_id  text        NOT NULL,
    chain_seq  bigint      NOT NULL,
    position   bigint      NOT NULL,
    chain_hash bytea       NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, chain_seq)
);

-- Chain rows and seals are append-only as well.
CREATE TRIGGER tenant_chain_no_update_or_delete
    BEFORE UPDATE OR DELETE ON tenant_chain
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER chain_seals_no_update_or_delete
    BEFORE UPDATE OR DELETE ON chain_seals
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
