-- Equipment is never double-booked (see docs/decisions/0015-equipment-bookings.md).
--
-- Every non-cancelled assignment and every maintenance window of a piece of
-- equipment holds a booking: a half-open period [start, end). An exclusion
-- constraint forbids two overlapping bookings of one piece of equipment. The
-- bookings are kept by a trigger in the same transaction as the events (like
-- the customer contact claims), so a booking exists exactly when a committed
-- event holds it, and of 20 racing requests for one truck exactly one
-- commits: the others fail on the constraint (or, when two check each other
-- at the same instant, on a deadlock the command bus retries) and write
-- nothing.

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

-- Whether each piece of equipment can be booked: kept from its events by the
-- same trigger, and read FOR SHARE when a booking is made or moved, so a
-- booking and a concurrent defect, maintenance start, retirement or sale are
-- serialized (the second one sees the first).
CREATE TABLE equipment_state
(
    tenant_id      text    NOT NULL,
    equipment_id   text    NOT NULL,
    open_defects   integer NOT NULL DEFAULT 0,
    in_maintenance boolean NOT NULL DEFAULT false,
    final_status   text,
    PRIMARY KEY (tenant_id, equipment_id)
);

CREATE FUNCTION equipment_status(s equipment_state) RETURNS text
    LANGUAGE sql IMMUTABLE AS
$$
SELECT CASE
           WHEN s.final_status IS NOT NULL THEN s.final_status
           WHEN s.open_defects > 0 THEN 'REPAIR'
           WHEN s.in_maintenance THEN 'MAINTENANCE'
           ELSE 'ACTIVE' END
$$;

-- Refuses a booking of equipment that cannot be booked now (SQLSTATE CRM01,
-- the message names the status).
CREATE FUNCTION check_equipment_bookable(tenant text, equipment text) RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    s equipment_state;
BEGIN
    SELECT * INTO s FROM equipment_state WHERE tenant_id = tenant AND equipment_id = equipment FOR SHARE;
    IF FOUND AND equipment_status(s) <> 'ACTIVE' THEN
        RAISE EXCEPTION 'equipment % is %', equipment, equipment_status(s) USING ERRCODE = 'CRM01';
    END IF;
END
$$;

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
        IF NEW.event_type = 'EquipmentRegistered' THEN
            INSERT INTO equipment_state (tenant_id, equipment_id) VALUES (tenant, NEW.aggregate_id)
            ON CONFLICT DO NOTHING;
        ELSIF NEW.event_type = 'DefectReported' THEN
            UPDATE equipment_state SET open_defects = open_defects + 1
             WHERE tenant_id = tenant AND equipment_id = NEW.aggregate_id;
        ELSIF NEW.event_type = 'EquipmentRepaired' THEN
            UPDATE equipment_state
               SET open_defects = greatest(0, open_defects - json_array_length(coalesce(data -> 'repaired_defects', '[]'::json)))
             WHERE tenant_id = tenant AND equipment_id = NEW.aggregate_id;
        ELSIF NEW.event_type = 'MaintenanceStarted' THEN
            UPDATE equipment_state SET in_maintenance = true
             WHERE tenant_id = tenant AND equipment_id = NEW.aggregate_id;
        ELSIF NEW.event_type IN ('EquipmentRetired', 'EquipmentSold') THEN
            UPDATE equipment_state
               SET final_status = CASE NEW.event_type WHEN 'EquipmentRetired' THEN 'RETIRED' ELSE 'SOLD' END
             WHERE tenant_id = tenant AND equipment_id = NEW.aggregate_id;
            -- Equipment leaves the fleet only once nothing books it any more
            -- (the row lock above orders this against a concurrent booking).
            SELECT string_agg(booking_id, ', ') INTO id FROM equipment_bookings
             WHERE tenant_id = tenant AND equipment_id = NEW.aggregate_id AND kind = 'assignment'
               AND upper(period) > (NEW.metadata ->> 'recorded_at')::timestamptz;
            IF id IS NOT NULL THEN
                RAISE EXCEPTION 'equipment % still has bookings: assignments %; cancel them first',
                    NEW.aggregate_id, id USING ERRCODE = 'CRM01';
            END IF;
        END IF;
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
            UPDATE equipment_state SET in_maintenance = false
             WHERE tenant_id = tenant AND equipment_id = NEW.aggregate_id;
            -- Finished early: the rest of the window is free again.
            id := data ->> 'maintenance_id';
            DELETE FROM equipment_bookings
             WHERE tenant_id = tenant AND booking_id = id
               AND lower(period) >= (data ->> 'completed_at')::timestamptz;
            UPDATE equipment_bookings
               SET period = tstzrange(lower(period), least(upper(period), (data ->> 'completed_at')::timestamptz), '[)')
             WHERE tenant_id = tenant AND booking_id = id;
        ELSIF NEW.event_type = 'MaintenanceCancelled' THEN
            UPDATE equipment_state SET in_maintenance = false
             WHERE tenant_id = tenant AND equipment_id = NEW.aggregate_id;
            DELETE FROM equipment_bookings WHERE tenant_id = tenant AND booking_id = data ->> 'maintenance_id';
        END IF;
    ELSIF NEW.aggregate_type = 'EquipmentAssignment' THEN
        IF NEW.event_type = 'EquipmentAssigned' THEN
            PERFORM check_equipment_bookable(tenant, data ->> 'equipment_id');
            INSERT INTO equipment_bookings (tenant_id, equipment_id, booking_id, kind, period)
            VALUES (tenant, data ->> 'equipment_id', NEW.aggregate_id, 'assignment',
                    tstzrange((data ->> 'starts_at')::timestamptz, (data ->> 'ends_at')::timestamptz, '[)'));
        ELSIF NEW.event_type = 'AssignmentRescheduled' THEN
            PERFORM check_equipment_bookable(tenant, (SELECT equipment_id FROM equipment_bookings
                                                       WHERE tenant_id = tenant AND booking_id = NEW.aggregate_id));
            UPDATE equipment_bookings
               SET period = tstzrange((data ->> 'starts_at')::timestamptz, (data ->> 'ends_at')::timestamptz, '[)')
             WHERE tenant_id = tenant AND booking_id = NEW.aggregate_id;
        ELSIF NEW.event_type = 'AssignmentCheckedOut' THEN
            -- A truck due for repair (or in maintenance, retired, sold) is
            -- never sent out, even on an earlier booking.
            PERFORM check_equipment_bookable(tenant, (SELECT equipment_id FROM equipment_bookings
                                                       WHERE tenant_id = tenant AND booking_id = NEW.aggregate_id));
        ELSIF NEW.event_type = 'AssignmentReturned' THEN
            -- Returned early: the rest of the period is free again (a late
            -- return never extends the booking: it is a fact, not a request);
            -- returned before the period began: nothing stays booked.
            DELETE FROM equipment_bookings
             WHERE tenant_id = tenant AND booking_id = NEW.aggregate_id
               AND (data ->> 'returned_at')::timestamptz <= lower(period);
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
