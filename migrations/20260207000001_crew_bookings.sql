-- People and trucks are never in two places at once, and nobody is
-- scheduled over their unavailability (docs/decisions/0025-crew-bookings.md).
--
-- Like equipment bookings (decision 0015), the bookings are kept by a
-- trigger on `events`, in the transaction that stores the events, and
-- exclusion constraints refuse an overlap: of 20 racing schedules for one
-- person, exactly one commits.
--
-- crew_bookings holds, per person, every active schedule they are on
-- (invited or accepted; a declined person holds nothing) and every
-- occurrence of their unavailability. Two schedules of one person never
-- overlap; a schedule never overlaps an unavailability; two
-- unavailabilities may (a vacation over a weekly day off).

CREATE TABLE crew_bookings
(
    tenant_id  text      NOT NULL,
    user_id    text      NOT NULL,
    -- `<schedule id>/<user id>`, or `<availability id>/<occurrence n>`.
    booking_id text      NOT NULL,
    kind       text      NOT NULL CHECK (kind IN ('schedule', 'unavailable')),
    -- The schedule or availability entry that holds the booking.
    source_id  text      NOT NULL,
    period     tstzrange NOT NULL CHECK (NOT isempty(period)),
    PRIMARY KEY (tenant_id, booking_id),
    CONSTRAINT crew_bookings_no_double_booking
        EXCLUDE USING gist (tenant_id WITH =, user_id WITH =, period WITH &&) WHERE (kind = 'schedule'),
    CONSTRAINT crew_bookings_not_when_unavailable
        EXCLUDE USING gist (tenant_id WITH =, user_id WITH =, period WITH &&, kind WITH <>)
);
CREATE INDEX crew_bookings_by_source ON crew_bookings (tenant_id, source_id);

-- The period of each active schedule (crew and equipment changes book it).
CREATE TABLE schedule_periods
(
    tenant_id   text      NOT NULL,
    schedule_id text      NOT NULL,
    period      tstzrange NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id)
);

-- Availability entries that block (is_available = false) and are not
-- removed: their extensions book too.
CREATE TABLE availability_blocks
(
    tenant_id       text NOT NULL,
    availability_id text NOT NULL,
    user_id         text NOT NULL,
    PRIMARY KEY (tenant_id, availability_id)
);

-- A schedule books its equipment and vehicles like an assignment does, one
-- booking per (schedule, piece of equipment): `<schedule id>/<equipment id>`.
ALTER TABLE equipment_bookings DROP CONSTRAINT equipment_bookings_kind_check;
ALTER TABLE equipment_bookings
    ADD CONSTRAINT equipment_bookings_kind_check CHECK (kind IN ('assignment', 'maintenance', 'schedule'));
ALTER TABLE equipment_bookings ADD COLUMN source_id text;
CREATE INDEX equipment_bookings_by_source ON equipment_bookings (tenant_id, source_id) WHERE source_id IS NOT NULL;

-- Books the crew of schedule `schedule` (a JSON array of {user_id, role,
-- response}) over `period`, except those who declined.
CREATE FUNCTION book_schedule_crew(tenant text, schedule text, crew json, during tstzrange) RETURNS void
    LANGUAGE plpgsql AS
$$
BEGIN
    INSERT INTO crew_bookings (tenant_id, user_id, booking_id, kind, source_id, period)
    SELECT tenant, m ->> 'user_id', schedule || '/' || (m ->> 'user_id'), 'schedule', schedule, during
      FROM json_array_elements(crew) AS m
     WHERE m ->> 'response' <> 'DECLINED';
END
$$;

-- Books each piece of equipment and vehicle of schedule `schedule` over
-- `period`, refusing equipment that cannot be booked (CRM01).
CREATE FUNCTION book_schedule_equipment(tenant text, schedule text, data json, during tstzrange) RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    equipment text;
BEGIN
    FOR equipment IN
        SELECT value FROM json_array_elements_text(coalesce(data -> 'equipment_ids', '[]'::json))
        UNION
        SELECT value FROM json_array_elements_text(coalesce(data -> 'vehicle_ids', '[]'::json))
    LOOP
        PERFORM check_equipment_bookable(tenant, equipment);
        INSERT INTO equipment_bookings (tenant_id, equipment_id, booking_id, kind, period, source_id)
        VALUES (tenant, equipment, schedule || '/' || equipment, 'schedule', during, schedule);
    END LOOP;
END
$$;

CREATE FUNCTION apply_schedule_claims() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    data   json := NEW.payload -> NEW.event_type;
    tenant text := NEW.metadata ->> 'tenant_id';
    id     text := NEW.aggregate_id;
    during tstzrange;
    ended  timestamptz;
BEGIN
    IF NEW.aggregate_type = 'Schedule' THEN
        IF NEW.event_type = 'ScheduleCreated' THEN
            during := tstzrange((data ->> 'starts_at')::timestamptz, (data ->> 'ends_at')::timestamptz, '[)');
            INSERT INTO schedule_periods (tenant_id, schedule_id, period) VALUES (tenant, id, during);
            PERFORM book_schedule_crew(tenant, id, data -> 'crew', during);
            PERFORM book_schedule_equipment(tenant, id, data, during);
        ELSIF NEW.event_type = 'ScheduleRescheduled' THEN
            during := tstzrange((data ->> 'starts_at')::timestamptz, (data ->> 'ends_at')::timestamptz, '[)');
            UPDATE schedule_periods SET period = during WHERE tenant_id = tenant AND schedule_id = id;
            UPDATE crew_bookings SET period = during
             WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule';
            PERFORM check_equipment_bookable(tenant, equipment_id) FROM equipment_bookings
              WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule';
            UPDATE equipment_bookings SET period = during
             WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule';
        ELSIF NEW.event_type = 'ScheduleCrewChanged' THEN
            SELECT period INTO during FROM schedule_periods WHERE tenant_id = tenant AND schedule_id = id;
            DELETE FROM crew_bookings WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule';
            IF during IS NOT NULL THEN
                PERFORM book_schedule_crew(tenant, id, data -> 'crew', during);
            END IF;
        ELSIF NEW.event_type = 'ScheduleEquipmentChanged' THEN
            SELECT period INTO during FROM schedule_periods WHERE tenant_id = tenant AND schedule_id = id;
            DELETE FROM equipment_bookings WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule';
            IF during IS NOT NULL THEN
                PERFORM book_schedule_equipment(tenant, id, data, during);
            END IF;
        ELSIF NEW.event_type = 'CrewMemberResponded' THEN
            IF data ->> 'response' = 'DECLINED' THEN
                DELETE FROM crew_bookings
                 WHERE tenant_id = tenant AND booking_id = id || '/' || (data ->> 'user_id');
            ELSE
                SELECT period INTO during FROM schedule_periods WHERE tenant_id = tenant AND schedule_id = id;
                IF during IS NOT NULL THEN
                    INSERT INTO crew_bookings (tenant_id, user_id, booking_id, kind, source_id, period)
                    VALUES (tenant, data ->> 'user_id', id || '/' || (data ->> 'user_id'), 'schedule', id, during)
                    ON CONFLICT (tenant_id, booking_id) DO NOTHING;
                END IF;
            END IF;
        ELSIF NEW.event_type IN ('ScheduleCompleted', 'ScheduleCancelled') THEN
            -- Completed: free from then on (finished early frees the rest,
            -- a late finish never extends); cancelled: free entirely.
            ended := CASE NEW.event_type
                         WHEN 'ScheduleCompleted' THEN (data ->> 'completed_at')::timestamptz
                         ELSE '-infinity'::timestamptz END;
            DELETE FROM crew_bookings
             WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule' AND lower(period) >= ended;
            UPDATE crew_bookings SET period = tstzrange(lower(period), least(upper(period), ended), '[)')
             WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule';
            DELETE FROM equipment_bookings
             WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule' AND lower(period) >= ended;
            UPDATE equipment_bookings SET period = tstzrange(lower(period), least(upper(period), ended), '[)')
             WHERE tenant_id = tenant AND source_id = id AND kind = 'schedule';
            DELETE FROM schedule_periods WHERE tenant_id = tenant AND schedule_id = id;
        END IF;
    ELSIF NEW.aggregate_type = 'Availability' THEN
        IF NEW.event_type = 'AvailabilityRecorded' AND NOT (data ->> 'is_available')::boolean THEN
            INSERT INTO availability_blocks (tenant_id, availability_id, user_id)
            VALUES (tenant, id, data ->> 'user_id');
            INSERT INTO crew_bookings (tenant_id, user_id, booking_id, kind, source_id, period)
            SELECT tenant, data ->> 'user_id', id || '/' || o.n, 'unavailable', id,
                   tstzrange((o.p ->> 'starts_at')::timestamptz, (o.p ->> 'ends_at')::timestamptz, '[)')
              FROM json_array_elements(data -> 'occurrences') WITH ORDINALITY AS o(p, n);
        ELSIF NEW.event_type = 'AvailabilityExtended' THEN
            INSERT INTO crew_bookings (tenant_id, user_id, booking_id, kind, source_id, period)
            SELECT tenant, b.user_id, id || '/' || (NEW.sequence::text || '.' || o.n), 'unavailable', id,
                   tstzrange((o.p ->> 'starts_at')::timestamptz, (o.p ->> 'ends_at')::timestamptz, '[)')
              FROM availability_blocks b,
                   json_array_elements(data -> 'occurrences') WITH ORDINALITY AS o(p, n)
             WHERE b.tenant_id = tenant AND b.availability_id = id;
        ELSIF NEW.event_type = 'AvailabilityRemoved' THEN
            DELETE FROM crew_bookings WHERE tenant_id = tenant AND source_id = id AND kind = 'unavailable';
            DELETE FROM availability_blocks WHERE tenant_id = tenant AND availability_id = id;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_schedule_claims
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type IN ('Schedule', 'Availability'))
    EXECUTE FUNCTION apply_schedule_claims();
