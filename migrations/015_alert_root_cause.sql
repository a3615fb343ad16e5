-- 015: whether an alert is a root cause (engine/rootcause.py): device_down or power_down
-- when its device is down in a way that explains alerts of what depends on it; decided by
-- configuration (OID maps, connector mappings) when the alert was made. Stored so the open
-- alerts rebuilt at start keep suppressing what they suppressed.
ALTER TABLE alerts ADD COLUMN root_cause VARCHAR(20);
ALTER TABLE alerts ADD CONSTRAINT alerts_root_cause_known
    CHECK (root_cause IS NULL OR root_cause IN ('device_down', 'power_down'));
