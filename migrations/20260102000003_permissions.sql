-- The permission matrix (see api-common/src/authz.rs and docs/decisions/0010).
-- Its events live in the event store (aggregate TenantPermissions); these
-- tables are kept by a trigger in the same transaction, so a change applies
-- from the very next request.

-- An admin's override of a role's default: scope NULL takes the permission away.
CREATE TABLE permission_overrides
(
    tenant_id text        NOT NULL,
    role      text        NOT NULL,
    resource  text        NOT NULL,
    action    text        NOT NULL,
    scope     text,
    set_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, role, resource, action)
);

-- Per-user grants, until they expire or are revoked.
CREATE TABLE permission_grants
(
    grant_id      uuid PRIMARY KEY,
    tenant_id     text        NOT NULL,
    user_id       uuid        NOT NULL,
    resource      text        NOT NULL,
    action        text        NOT NULL,
    scope         text        NOT NULL,
    expires_at    timestamptz,
    reason        text        NOT NULL,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    revoke_reason text
);
CREATE INDEX permission_grants_by_user ON permission_grants (tenant_id, user_id);

CREATE FUNCTION apply_permission_event() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    data   json := NEW.payload -> NEW.event_type;
    tenant text := NEW.metadata ->> 'tenant_id';
BEGIN
    IF NEW.aggregate_type <> 'TenantPermissions' THEN
        RETURN NULL;
    END IF;
    IF NEW.event_type = 'RolePermissionSet' THEN
        INSERT INTO permission_overrides (tenant_id, role, resource, action, scope)
        VALUES (tenant, data ->> 'role', data ->> 'resource', data ->> 'action', data ->> 'scope')
        ON CONFLICT (tenant_id, role, resource, action) DO UPDATE SET scope = EXCLUDED.scope, set_at = now();
    ELSIF NEW.event_type = 'UserPermissionGranted' THEN
        INSERT INTO permission_grants (grant_id, tenant_id, user_id, resource, action, scope, expires_at, reason)
        VALUES ((data ->> 'grant_id')::uuid, tenant, (data ->> 'user_id')::uuid, data ->> 'resource',
                data ->> 'action', data ->> 'scope', (data ->> 'expires_at')::timestamptz, data ->> 'reason');
    ELSIF NEW.event_type = 'UserPermissionRevoked' THEN
        UPDATE permission_grants SET revoked_at = now(), revoke_reason = data ->> 'reason'
         WHERE grant_id = (data ->> 'grant_id')::uuid AND tenant_id = tenant;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_permissions
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION apply_permission_event();
