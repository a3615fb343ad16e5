-- 003: what the engine needs on alerts beyond the seed.
--   resource_key      which resource on the device (interface, port, PDU outlet…); part
--                     of the fingerprint, so two links down on one switch are two alerts.
--   connector         the connector instance (connectors.d name) that received it; plain
--                     text, not a foreign key, because alerts outlive a connector removed
--                     from the config.
--   config_version_id the config version that processed it (DESIGN.md §2).
ALTER TABLE alerts
    ADD COLUMN resource_key VARCHAR(255) NOT NULL DEFAULT '',
    ADD COLUMN connector VARCHAR(100),
    ADD COLUMN config_version_id BIGINT REFERENCES config_versions(id);

-- The values the model (engine/model.py Status, Severity) knows; anything else is a bug.
ALTER TABLE alerts
    ADD CONSTRAINT alerts_status_known
        CHECK (status IN ('active', 'acknowledged', 'suppressed', 'resolved')),
    ADD CONSTRAINT alerts_severity_known
        CHECK (severity IN ('critical', 'major', 'minor', 'warning', 'info', 'clear'));

-- Deduplication's guarantee: at most one open (non-resolved) alert per fingerprint,
-- even with several engine processes. Inserts use it as their ON CONFLICT arbiter.
CREATE UNIQUE INDEX alerts_one_open_per_fingerprint ON alerts (fingerprint)
    WHERE status <> 'resolved';

-- Dashboard: filter by status and severity; page newest first by (received_at, id)
-- keyset; list the children of a correlation parent.
CREATE INDEX idx_alerts_status_severity ON alerts (status, severity);
-- The seed's status-only index is a prefix of the one above; every alert insert pays
-- for each index, so the redundant one goes.
DROP INDEX idx_alerts_status;
CREATE INDEX idx_alerts_received_at_id ON alerts (received_at DESC, id DESC);
CREATE INDEX idx_alerts_correlated_to_id ON alerts (correlated_to_id)
    WHERE correlated_to_id IS NOT NULL;

-- History is read per alert in the order it was written (alert page, `opsc explain`).
-- created_at cannot give that order: it is the transaction's start time, shared by the
-- 'created' and 'occurrence' rows one batch writes, and the seed's ids are random UUIDs.
ALTER TABLE alert_history ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE INDEX idx_alert_history_alert_id_seq ON alert_history (alert_id, seq);
ALTER TABLE alert_history
    ADD CONSTRAINT alert_history_action_known
        CHECK (action IN ('created', 'occurrence', 'acknowledged', 'resolved', 'suppressed', 'cleared'));
