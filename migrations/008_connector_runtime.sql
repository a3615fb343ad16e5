-- 008: runtime status of connectors (engine/store/connector_status.py).
-- alerts_today resets daily: the day it counts is stored next to it, and the first
-- count on a later day starts again from zero.
ALTER TABLE connectors ADD COLUMN alerts_today_date DATE;
-- Any status a connector reports is one of these; 'unknown' is the seed's default.
ALTER TABLE connectors
    ADD CONSTRAINT connectors_status_known
        CHECK (status IN ('ok', 'degraded', 'failing', 'disabled', 'unknown'));
