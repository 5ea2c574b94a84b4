-- A new subject's data key, stored by the same statement as the subject's
-- first event (keystore::NewDataKey; docs/decisions/0020): true when stored,
-- false when the subject has a key already or the tenant key it was wrapped
-- under is no longer the newest (the caller then takes the usual path).
-- PL/pgSQL, not SQL: its plan is cached per connection (a SQL function's
-- body is parsed and planned at every call).
CREATE FUNCTION store_new_data_key(p_tenant text, p_subject text, p_kek_version integer, p_wrapped bytea)
    RETURNS boolean
    LANGUAGE plpgsql AS
$$
BEGIN
    INSERT INTO data_keys (tenant_id, subject_id, kek_version, wrapped_dek)
    SELECT p_tenant, p_subject, p_kek_version, p_wrapped
     WHERE NOT EXISTS (SELECT 1 FROM tenant_keys WHERE tenant_id = p_tenant AND version > p_kek_version)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END
$$;
