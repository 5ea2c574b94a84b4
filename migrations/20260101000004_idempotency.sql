-- Idempotency-Key: the first response to a key is kept (per tenant, at least
-- 24 h) and replayed for a retry with the same request.
CREATE TABLE idempotency_keys
(
    tenant_id        text        NOT NULL,
    key              text        NOT NULL,
    request_hash     bytea       NOT NULL,
    state            text        NOT NULL CHECK (state IN ('in_progress', 'completed')),
    response_status  smallint,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- An in-progress key whose holder died may be taken over after this.
    locked_until     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
