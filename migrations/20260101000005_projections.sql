-- Read models live in schema `read`; each projection owns its tables there
-- and creates them itself (a read model is rebuilt, not migrated).
CREATE SCHEMA IF NOT EXISTS read;

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Each projection's progress: the last JetStream stream sequence applied,
-- written in the same transaction as the read-model changes.
CREATE TABLE projection_checkpoints
(
    name           text PRIMARY KEY,
    last_seq       bigint      NOT NULL DEFAULT 0,
    -- running | failed | rebuilding
    state          text        NOT NULL DEFAULT 'running',
    error          text,
    failed_seq     bigint,
    schema_version integer     NOT NULL DEFAULT 0,
    rebuilt_at     timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A rebuild in progress (one at a time per projection): for status and the
-- progress bar of another process.
CREATE TABLE projection_rebuilds
(
    name        text PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    target_seq  bigint      NOT NULL,
    applied_seq bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
