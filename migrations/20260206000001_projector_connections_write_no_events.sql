-- The relay's horizon does not wait for transactions of connections named
-- `crm-projector` (projectors and rebuilds): they write read models only.
-- This makes that a rule: such a connection cannot store events. One check
-- per INSERT statement, not per row.
CREATE FUNCTION events_refuse_projector_writes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('application_name') = 'crm-projector' THEN
        RAISE EXCEPTION 'a projector connection (application_name crm-projector) must not write events'
            USING ERRCODE = 'CRM04';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_no_projector_writes
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_projector_writes();
