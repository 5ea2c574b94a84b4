-- An email or phone already claimed by another customer is refused inside
-- the commit, naming the holder (docs/decisions/0017-event-trigger-costs.md).
--
-- Before, the claim's primary key raised 23505, which postgres-es turns into
-- an optimistic-lock conflict (the holder lost), so the command path read
-- the claims before every commit and again after a lost race. Now the
-- trigger refuses with SQLSTATE CRM02, message `<kind> already used`, and
-- the holder's id in DETAIL; it passes through postgres-es like CRM01.
--
-- ON CONFLICT DO NOTHING waits for a racing transaction that inserted the
-- same key; if that one commits, the next statement (a new snapshot) sees
-- its claim and names it.

CREATE OR REPLACE FUNCTION claim_customer_contact(tenant text, kind text, value_key text, customer text)
    RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    holder text;
BEGIN
    INSERT INTO customer_contact_claims (tenant_id, kind, value_key, customer_id)
    VALUES (tenant, kind, value_key, customer)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT c.customer_id INTO holder FROM customer_contact_claims c
         WHERE c.tenant_id = tenant AND c.kind = claim_customer_contact.kind
           AND c.value_key = claim_customer_contact.value_key;
        RAISE EXCEPTION '% already used', kind
            USING ERRCODE = 'CRM02', DETAIL = coalesce(holder, '');
    END IF;
END
$$;

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
        PERFORM claim_customer_contact(tenant, 'email', email, NEW.aggregate_id);
    END IF;
    IF phone IS NOT NULL THEN
        PERFORM claim_customer_contact(tenant, 'phone', phone, NEW.aggregate_id);
    END IF;
    RETURN NULL;
END
$$;
