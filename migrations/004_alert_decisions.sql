-- 004: the decision trail behind `opsc explain` and the alert page (DESIGN.md §3):
-- every decision a pipeline stage took about an alert, naming the rule that took it
-- and the config version that rule came from.
CREATE TABLE alert_decisions (
    id BIGSERIAL PRIMARY KEY,
    alert_id UUID NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    stage VARCHAR(20) NOT NULL,
    rule VARCHAR(255) NOT NULL,
    config_version_id BIGINT REFERENCES config_versions(id),
    detail JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE INDEX idx_alert_decisions_alert_id ON alert_decisions (alert_id, id);
