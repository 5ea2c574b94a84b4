-- Equipment is never double-booked (see docs/decisions/0015-equipment-bookings.md).
--
-- Every non-cancelled assignment and every maintenance window of a piece of
-- equipment holds a booking: a half-open period [start, end). An exclusion
-- constraint forbids two overlapping bookings of one piece of equipment. The
-- bookings are kept by a trigger in the same transaction as the events (like
-- the customer contact claims), so a booking exists exactly when a committed
-- event holds it, and of 20 racing requests for one truck exactly one
-- commits: the others fail on the constraint and write nothing.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE equipment_bookings
(
    tenant_id    text      NOT NULL,
    equipment_id text      NOT NULL,
    -- The assignment's id, or the maintenance's id.
    booking_id   text      NOT NULL,
    kind         text      NOT NULL CHECK (kind IN ('assignment', 'maintenance')),
    period       tstzrange NOT NULL CHECK (NOT isempty(period)),
    PRIMARY KEY (tenant_id, booking_id),
    CONSTRAINT equipment_bookings_no_overlap
        EXCLUDE USING gist (tenant_id WITH =, equipment_id WITH =, period WITH &&)
);

-- Serial numbers are unique per tenant (when given); SKUs per location.
CREATE TABLE equipment_serial_claims
(
    tenant_id     text NOT NULL,
    serial_number text NOT NULL,
    equipment_id  text NOT NULL,
    PRIMARY KEY (tenant_id, serial_number)
);
CREATE INDEX equipment_serial_claims_by_equipment ON equipment_serial_claims (tenant_id, equipment_id);

CREATE TABLE inventory_sku_claims
(
    tenant_id   text NOT NULL,
    location_id text NOT NULL,
    sku         text NOT NULL,
    item_id     text NOT NULL,
    PRIMARY KEY (tenant_id, location_id, sku)
);

CREATE FUNCTION apply_operations_claims() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    data   json := NEW.payload -> NEW.event_type;
    tenant text := NEW.metadata ->> 'tenant_id';
    id     text;
BEGIN
    IF NEW.aggregate_type = 'Equipment' THEN
        IF NEW.event_type IN ('EquipmentRegistered', 'EquipmentUpdated') THEN
            DELETE FROM equipment_serial_claims WHERE tenant_id = tenant AND equipment_id = NEW.aggregate_id;
            IF data ->> 'serial_number' IS NOT NULL THEN
                INSERT INTO equipment_serial_claims (tenant_id, serial_number, equipment_id)
                VALUES (tenant, upper(data ->> 'serial_number'), NEW.aggregate_id);
            END IF;
        ELSIF NEW.event_type = 'MaintenanceScheduled' THEN
            INSERT INTO equipment_bookings (tenant_id, equipment_id, booking_id, kind, period)
            VALUES (tenant, NEW.aggregate_id, data ->> 'maintenance_id', 'maintenance',
                    tstzrange((data ->> 'window_start')::timestamptz, (data ->> 'window_end')::timestamptz, '[)'));
        ELSIF NEW.event_type = 'MaintenanceCompleted' THEN
            -- Finished early: the rest of the window is free again.
            id := data ->> 'maintenance_id';
            DELETE FROM equipment_bookings
             WHERE tenant_id = tenant AND booking_id = id
               AND lower(period) >= (data ->> 'completed_at')::timestamptz;
            UPDATE equipment_bookings
               SET period = tstzrange(lower(period), least(upper(period), (data ->> 'completed_at')::timestamptz), '[)')
             WHERE tenant_id = tenant AND booking_id = id;
        ELSIF NEW.event_type = 'MaintenanceCancelled' THEN
            DELETE FROM equipment_bookings WHERE tenant_id = tenant AND booking_id = data ->> 'maintenance_id';
        END IF;
    ELSIF NEW.aggregate_type = 'EquipmentAssignment' THEN
        IF NEW.event_type = 'EquipmentAssigned' THEN
            INSERT INTO equipment_bookings (tenant_id, equipment_id, booking_id, kind, period)
            VALUES (tenant, data ->> 'equipment_id', NEW.aggregate_id, 'assignment',
                    tstzrange((data ->> 'starts_at')::timestamptz, (data ->> 'ends_at')::timestamptz, '[)'));
        ELSIF NEW.event_type = 'AssignmentRescheduled' THEN
            UPDATE equipment_bookings
               SET period = tstzrange((data ->> 'starts_at')::timestamptz, (data ->> 'ends_at')::timestamptz, '[)')
             WHERE tenant_id = tenant AND booking_id = NEW.aggregate_id;
        ELSIF NEW.event_type = 'AssignmentReturned' THEN
            -- Returned early: the rest of the period is free again (a late
            -- return never extends the booking: it is a fact, not a request).
            UPDATE equipment_bookings
               SET period = tstzrange(lower(period), least(upper(period), (data ->> 'returned_at')::timestamptz), '[)')
             WHERE tenant_id = tenant AND booking_id = NEW.aggregate_id
               AND (data ->> 'returned_at')::timestamptz > lower(period);
        ELSIF NEW.event_type = 'AssignmentCancelled' THEN
            DELETE FROM equipment_bookings WHERE tenant_id = tenant AND booking_id = NEW.aggregate_id;
        END IF;
    ELSIF NEW.aggregate_type = 'InventoryItem' AND NEW.event_type = 'InventoryItemCreated' THEN
        INSERT INTO inventory_sku_claims (tenant_id, location_id, sku, item_id)
        VALUES (tenant, data ->> 'location_id', upper(data ->> 'sku'), NEW.aggregate_id);
    ELSIF NEW.aggregate_type = 'InventoryItem' AND NEW.event_type = 'InventoryItemUpdated' THEN
        -- The SKU may change; the location never does.
        UPDATE inventory_sku_claims SET sku = upper(data ->> 'sku')
         WHERE tenant_id = tenant AND item_id = NEW.aggregate_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_operations_claims
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION apply_operations_claims();
