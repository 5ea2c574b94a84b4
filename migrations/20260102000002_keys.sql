-- Crypto-shredding (see keystore/ and docs/decisions/0009-crypto-shredding.md).

-- Tenant key-encryption keys, wrapped by a master key (id recorded, so the
-- master key can rotate by re-wrapping).
CREATE TABLE tenant_keys
(
    tenant_id     text        NOT NULL,
    version       integer     NOT NULL,
    master_key_id text        NOT NULL,
    wrapped_kek   bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    retired_at    timestamptz,
    PRIMARY KEY (tenant_id, version)
);

-- Each tenant's blind-index key (HMAC of normalized email and phone).
CREATE TABLE tenant_index_keys
(
    tenant_id     text PRIMARY KEY,
    master_key_id text        NOT NULL,
    wrapped_key   bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A data key per subject (customer), wrapped by a tenant key version.
-- Forgetting sets wrapped_dek to NULL: the key is gone for good.
CREATE TABLE data_keys
(
    tenant_id    text        NOT NULL,
    subject_id   text        NOT NULL,
    kek_version  integer     NOT NULL,
    wrapped_dek  bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    PRIMARY KEY (tenant_id, subject_id)
);

-- Uniqueness claims from blind indexes: a stored (2.0) event carries
-- email_index / phone_index; a 1.0 event carries the plaintext.
CREATE OR REPLACE FUNCTION claim_customer_contacts() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    data   json;
    tenant text := NEW.metadata ->> 'tenant_id';
    email  text;
    phone  text;
BEGIN
    IF NEW.aggregate_type <> 'Customer' THEN
        RETURN NULL;
    END IF;
    IF NEW.event_type = 'CustomerForgotten' THEN
        -- Forgetting destroys the data key and frees the email and phone,
        -- in the same transaction as the event.
        UPDATE data_keys SET wrapped_dek = NULL, destroyed_at = now()
         WHERE tenant_id = tenant AND subject_id = NEW.aggregate_id;
        DELETE FROM customer_contact_claims WHERE tenant_id = tenant AND customer_id = NEW.aggregate_id;
        RETURN NULL;
    END IF;
    IF NEW.event_type NOT IN ('CustomerRegistered', 'CustomerContactDetailsUpdated') THEN
        RETURN NULL;
    END IF;
    data := NEW.payload -> NEW.event_type;
    email := coalesce(data ->> 'email_index',
                      CASE WHEN json_typeof(data -> 'email') = 'string' THEN lower(data ->> 'email') END);
    phone := coalesce(data ->> 'phone_index',
                      CASE WHEN json_typeof(data -> 'phone') = 'string' THEN data ->> 'phone' END);
    DELETE FROM customer_contact_claims WHERE tenant_id = tenant AND customer_id = NEW.aggregate_id;
    IF email IS NOT NULL THEN
        INSERT INTO customer_contact_claims (tenant_id, kind, value_key, customer_id)
        VALUES (tenant, 'email', email, NEW.aggregate_id);
    END IF;
    IF phone IS NOT NULL THEN
        INSERT INTO customer_contact_claims (tenant_id, kind, value_key, customer_id)
        VALUES (tenant, 'phone', phone, NEW.aggregate_id);
    END IF;
    RETURN NULL;
END
$$;
