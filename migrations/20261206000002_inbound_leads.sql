-- The leads inbound lead capture opened (issue 13): the same person posted
-- again through the same integration within 24 hours, while that lead is
-- open, becomes an activity on it rather than a second lead. Written by
-- the inbound route, which serializes one person's posts (an advisory lock
-- on the person's email or phone), after the lead's events committed.
CREATE TABLE inbound_leads
(
    tenant_id      text        NOT NULL,
    integration_id uuid        NOT NULL,
    customer_id    uuid        NOT NULL,
    lead_id        uuid        NOT NULL,
    opened_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, lead_id)
);
CREATE INDEX inbound_leads_by_person ON inbound_leads (tenant_id, integration_id, customer_id, opened_at DESC);
