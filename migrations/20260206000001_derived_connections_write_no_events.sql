-- The relay's horizon does not wait for transactions of connections named
-- `crm-derived` (projectors, rebuilds, the relay's bookkeeping): they write
-- derived data only. This makes that a rule: such a connection cannot store
-- events. One check per INSERT statement, not per row.
CREATE FUNCTION events_refuse_projector_writes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('application_name') = 'crm-derived' THEN
        RAISE EXCEPTION 'a connection writing derived data (application_name crm-derived) must not write events'
            USING ERRCODE = 'CRM04';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_no_projector_writes
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_projector_writes();
