-- No NOTIFY inside the commit of events: a transaction that notifies takes
-- PostgreSQL's notify queue lock at commit and holds it through its disk
-- flush, so every event commit waited for the previous one's flush (one
-- commit per flush, measured: ~1,250 registrations/s here against ~1,650
-- without). The writers announce their commits afterwards
-- (command_api::relay::announce_commits); anything else is found by the
-- relay's poll (docs/decisions/0020).
DROP TRIGGER events_notify ON events;
DROP FUNCTION notify_events_appended();
