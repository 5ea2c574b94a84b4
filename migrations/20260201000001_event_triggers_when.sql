-- Row triggers on `events` run only for the events they act on
-- (docs/decisions/0017-event-trigger-costs.md).
--
-- Until now every row trigger fired for every event and decided inside
-- PL/pgSQL whether it had anything to do, after its DECLARE block had
-- already parsed the payload and the metadata. A `WHEN` clause on the
-- trigger is evaluated by the executor on the row's plain columns, so an
-- event that is none of the trigger's business never enters PL/pgSQL.
--
-- The functions are unchanged (they keep their own guards); only the
-- triggers are recreated, under the same names so that BEFORE triggers keep
-- firing in the same (alphabetical) order: events_allocate_invoice_number
-- rewrites the payload before events_chain hashes it.
--
-- events_chain stays a trigger on every row: the hash chain is part of the
-- stored event. events_notify is a statement trigger and already runs once
-- per INSERT.

DROP TRIGGER events_claim_customer_contacts ON events;
CREATE TRIGGER events_claim_customer_contacts
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'Customer'
        AND NEW.event_type IN ('CustomerRegistered', 'CustomerContactDetailsUpdated', 'CustomerForgotten'))
    EXECUTE FUNCTION claim_customer_contacts();

DROP TRIGGER events_permissions ON events;
CREATE TRIGGER events_permissions
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'TenantPermissions')
    EXECUTE FUNCTION apply_permission_event();

DROP TRIGGER events_allocate_invoice_number ON events;
CREATE TRIGGER events_allocate_invoice_number
    BEFORE INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'Invoice' AND NEW.event_type = 'InvoiceIssued')
    EXECUTE FUNCTION allocate_invoice_number();

DROP TRIGGER events_operations_claims ON events;
CREATE TRIGGER events_operations_claims
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type IN ('Equipment', 'EquipmentAssignment', 'InventoryItem'))
    EXECUTE FUNCTION apply_operations_claims();
