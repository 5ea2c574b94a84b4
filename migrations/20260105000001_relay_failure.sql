-- An event the relay cannot publish (metadata that is not valid, a message
-- over NATS's max_payload) stops it visibly: the event and the reason are
-- kept here until `crm relay retry` clears them. `last_failed_event_id`
-- survives the retry, so repeated failures on one event are counted.
ALTER TABLE relay_checkpoints
    ADD COLUMN failed_event_id      uuid,
    ADD COLUMN failed_position      bigint,
    ADD COLUMN failed_event_type    text,
    ADD COLUMN failed_aggregate     text,
    ADD COLUMN failed_reason        text,
    ADD COLUMN failed_at            timestamptz,
    ADD COLUMN failed_attempts      integer NOT NULL DEFAULT 0,
    ADD COLUMN last_failed_event_id uuid;
