-- 005: every raw event as a connector handed it over, before any interpretation, so
-- alerts can be replayed through a new config and bad input is never lost. Kept for a
-- retention period (purge_raw_events).
CREATE TABLE raw_events (
    id BIGSERIAL PRIMARY KEY,
    event_id VARCHAR(255) NOT NULL,
    connector VARCHAR(100) NOT NULL,
    source_system VARCHAR(50) NOT NULL,
    source_address VARCHAR(255),
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}',
    config_version_id BIGINT REFERENCES config_versions(id)
);

-- Retention purge and replay by time range; replay of one connector.
CREATE INDEX idx_raw_events_received_at ON raw_events (received_at);
CREATE INDEX idx_raw_events_connector_received_at ON raw_events (connector, received_at);
