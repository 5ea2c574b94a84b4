-- The event store: postgres-es's tables, unchanged in what postgres-es reads and
-- writes, plus columns with defaults it does not need to know about.

CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    -- Ours. The global position comes from a sequence, so it is NOT commit
    -- order under concurrent writers; the relay orders by (txid, position).
    position       bigserial                    NOT NULL UNIQUE,
    -- The writing transaction; the relay only reads rows whose transaction is
    -- older than every transaction still running (see docs/decisions/0002).
    txid           xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    -- The event's unique id: the CloudEvents id and the Nats-Msg-Id.
    event_id       uuid                         NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    recorded_at    timestamptz                  NOT NULL DEFAULT now(),
    tenant_id      text GENERATED ALWAYS AS (metadata ->> 'tenant_id') STORED,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX events_commit_order ON events (txid, position);
CREATE INDEX events_by_tenant ON events (tenant_id, position);

-- postgres-es's snapshot table. We run pure event sourcing (no snapshots:
-- cqrs-es 0.5.0 applies events twice when it writes one), so it stays empty.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Events are immutable: no UPDATE, DELETE or TRUNCATE.
CREATE FUNCTION events_are_immutable() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'events are immutable (% on events refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- Wake the relay when events commit (NOTIFY is delivered at commit; several
-- notifications of one transaction are folded into one).
CREATE FUNCTION notify_events_appended() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('crm_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events_appended();
