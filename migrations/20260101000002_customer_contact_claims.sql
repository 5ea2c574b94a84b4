-- Email and phone are unique per tenant among customers. The claims are kept
-- by a trigger in the same transaction as the customer's events, so a claim
-- exists exactly when a committed event holds the value: no orphan claims
-- after a crash, and of 20 racing registrations of one email exactly one
-- commits (the others hit the primary key and write nothing).

CREATE TABLE customer_contact_claims
(
    tenant_id   text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('email', 'phone')),
    -- email: lowercased; phone: E.164 as stored in the event.
    value_key   text NOT NULL,
    customer_id text NOT NULL,
    PRIMARY KEY (tenant_id, kind, value_key)
);

CREATE INDEX customer_contact_claims_by_customer ON customer_contact_claims (tenant_id, customer_id);

CREATE FUNCTION claim_customer_contacts() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    data   json;
    tenant text := NEW.metadata ->> 'tenant_id';
BEGIN
    IF NEW.aggregate_type <> 'Customer'
        OR NEW.event_type NOT IN ('CustomerRegistered', 'CustomerContactDetailsUpdated') THEN
        RETURN NULL;
    END IF;
    data := NEW.payload -> NEW.event_type;
    DELETE FROM customer_contact_claims
    WHERE tenant_id = tenant AND customer_id = NEW.aggregate_id;
    IF data ->> 'email' IS NOT NULL THEN
        INSERT INTO customer_contact_claims (tenant_id, kind, value_key, customer_id)
        VALUES (tenant, 'email', lower(data ->> 'email'), NEW.aggregate_id);
    END IF;
    IF data ->> 'phone' IS NOT NULL THEN
        INSERT INTO customer_contact_claims (tenant_id, kind, value_key, customer_id)
        VALUES (tenant, 'phone', data ->> 'phone', NEW.aggregate_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_claim_customer_contacts
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION claim_customer_contacts();
