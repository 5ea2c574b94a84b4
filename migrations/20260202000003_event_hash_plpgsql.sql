-- event_hash in PL/pgSQL: the same expression, but its plan is cached per
-- connection; as a SQL function called from the chain trigger it was parsed
-- and planned for every event (docs/decisions/0020). Same result, byte for
-- byte: `crm audit verify` recomputes it in Rust.
CREATE OR REPLACE FUNCTION event_hash(prev bytea, e events) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE AS
$$
BEGIN
    RETURN sha256(prev || '\x00'::bytea || convert_to(e.aggregate_type, 'UTF8') || '\x00'::bytea ||
                  convert_to(e.aggregate_id, 'UTF8') || '\x00'::bytea || convert_to(e.sequence::text, 'UTF8') ||
                  '\x00'::bytea || convert_to(e.event_type, 'UTF8') || '\x00'::bytea ||
                  convert_to(e.event_version, 'UTF8') || '\x00'::bytea || convert_to(e.payload::text, 'UTF8') ||
                  '\x00'::bytea || convert_to(e.metadata::text, 'UTF8'));
END
$$;
