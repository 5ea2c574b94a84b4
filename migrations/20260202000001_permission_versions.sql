-- Each tenant's permission matrix has a version, bumped in the transaction of
-- every TenantPermissions event, so processes may cache policies
-- (docs/decisions/0019-policy-cache.md):
-- * a command decided under a cached policy carries the policy's version (and
--   the earliest expiry of the grants it used) in its events' metadata, and is
--   refused here with CRM03 when the version is no longer current or a grant
--   has expired; the command bus reloads the policy and decides again;
-- * every change is announced on the `crm_permissions` channel (payload: the
--   tenant), for caches serving reads.
-- The shared/exclusive advisory lock orders a change against the commands of
-- its tenant: a command committed after a change was checked against it.

CREATE TABLE permission_versions
(
    tenant_id text PRIMARY KEY,
    version   bigint NOT NULL
);

CREATE FUNCTION bump_permission_version() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    tenant text := NEW.metadata ->> 'tenant_id';
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('crm_permissions:' || tenant, 0));
    INSERT INTO permission_versions (tenant_id, version)
    VALUES (tenant, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = permission_versions.version + 1;
    PERFORM pg_notify('crm_permissions', tenant);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_permission_version
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'TenantPermissions')
    EXECUTE FUNCTION bump_permission_version();

CREATE FUNCTION check_permission_version() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    tenant  text   := NEW.metadata ->> 'tenant_id';
    decided bigint := (NEW.metadata ->> 'policy_version')::bigint;
    valid   text   := NEW.metadata ->> 'policy_valid_until';
    current bigint;
BEGIN
    -- Waits for a change in flight; the SELECT below then sees it.
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('crm_permissions:' || tenant, 0));
    SELECT version INTO current FROM permission_versions WHERE tenant_id = tenant;
    IF coalesce(current, 0) <> decided THEN
        RAISE EXCEPTION 'the permissions changed while the command was decided'
            USING ERRCODE = 'CRM03',
                  DETAIL = format('decided under version %s, current %s', decided, coalesce(current, 0));
    END IF;
    IF valid IS NOT NULL AND valid::timestamptz <= now() THEN
        RAISE EXCEPTION 'a permission the command was decided under has expired'
            USING ERRCODE = 'CRM03', DETAIL = format('valid until %s', valid);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_check_permission_version
    BEFORE INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type <> 'TenantPermissions' AND NEW.metadata ->> 'policy_version' IS NOT NULL)
    EXECUTE FUNCTION check_permission_version();
