-- Invoice numbers: sequential per tenant, no duplicates, no gaps among issued
-- invoices (see docs/decisions/0011-invoice-numbers.md).
--
-- The Invoice aggregate emits InvoiceIssued without a number; this trigger
-- allocates it inside the transaction that stores the event, from a per-tenant
-- counter row. The row lock serializes concurrent issues of one tenant, and a
-- transaction that fails (a concurrent write on the same invoice, a crash)
-- rolls its increment back with the event, so the numbers of committed
-- InvoiceIssued events are exactly 1..n.
--
-- It runs before events_chain (triggers of one kind fire in name order), so
-- the stored hash covers the number.

CREATE TABLE invoice_number_counters
(
    tenant_id     text PRIMARY KEY,
    last_sequence bigint NOT NULL CHECK (last_sequence > 0)
);

-- Every number ever issued, for lookups and the no-gap check.
CREATE TABLE invoice_numbers
(
    tenant_id      text   NOT NULL,
    sequence       bigint NOT NULL,
    invoice_id     text   NOT NULL,
    invoice_number text   NOT NULL,
    PRIMARY KEY (tenant_id, sequence),
    UNIQUE (tenant_id, invoice_id),
    UNIQUE (tenant_id, invoice_number)
);

CREATE FUNCTION allocate_invoice_number() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    tenant text := NEW.metadata ->> 'tenant_id';
    data   jsonb;
    seq    bigint;
    year   int;
    number text;
BEGIN
    IF NEW.aggregate_type <> 'Invoice' OR NEW.event_type <> 'InvoiceIssued' THEN
        RETURN NEW;
    END IF;
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'InvoiceIssued without a tenant_id in its metadata'
            USING ERRCODE = 'not_null_violation';
    END IF;
    INSERT INTO invoice_number_counters AS c (tenant_id, last_sequence)
    VALUES (tenant, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = c.last_sequence + 1
    RETURNING last_sequence INTO seq;
    data := NEW.payload::jsonb -> NEW.event_type;
    year := extract(year FROM ((data ->> 'issued_at')::timestamptz AT TIME ZONE 'UTC'))::int;
    -- Six digits at least; never truncated past 999999.
    number := 'INV-' || year || '-' || CASE WHEN seq < 1000000 THEN lpad(seq::text, 6, '0') ELSE seq::text END;
    data := jsonb_set(jsonb_set(data, '{invoice_number}', to_jsonb(number)), '{sequence}', to_jsonb(seq));
    NEW.payload := jsonb_build_object(NEW.event_type, data)::json;
    INSERT INTO invoice_numbers (tenant_id, sequence, invoice_id, invoice_number)
    VALUES (tenant, seq, NEW.aggregate_id, number);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_allocate_invoice_number
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION allocate_invoice_number();
