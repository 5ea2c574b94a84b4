-- The relay's progress: the last event (in commit order) whose PubAck it has
-- received, per JetStream stream.
CREATE TABLE relay_checkpoints
(
    stream          text PRIMARY KEY,
    last_txid       xid8        NOT NULL DEFAULT '0',
    last_position   bigint      NOT NULL DEFAULT 0,
    last_stream_seq bigint      NOT NULL DEFAULT 0,
    leader          text,
    leader_since    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
