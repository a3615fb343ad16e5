-- 001: the seed's tables, created exactly as its migration guide specifies
-- (seed/000_8201541a698ba463.txt §3.2, "Migration 020: MVP Alert Tables").
--
-- Copied verbatim except for two deliberate omissions:
--   * BEGIN; / COMMIT; — the migration runner (engine/store/migrate.py) wraps every
--     file in its own transaction, and a COMMIT inside would break that.
--   * §9 and §10, the INSERTs of standard OID mappings and default connectors — the
--     config tree (oidmaps/, connectors.d/) is the source of truth now; those rows
--     reach the database through the config projection (engine/store/projection.py).
-- Later migrations evolve these tables; this file must never change once applied
-- (the runner refuses a changed checksum).


-- ============================================
-- 1. Create updated_at trigger function
-- ============================================
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ language 'plpgsql';

-- ============================================
-- 2. Create alerts table
-- ============================================
CREATE TABLE IF NOT EXISTS alerts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    source_system VARCHAR(50) NOT NULL,
    source_alert_id VARCHAR(255) NOT NULL,
    device_ip VARCHAR(45),
    device_name VARCHAR(255),
    severity VARCHAR(20) NOT NULL,
    category VARCHAR(50) NOT NULL,
    alert_type VARCHAR(100) NOT NULL,
    impact VARCHAR(20),
    urgency VARCHAR(20),
    priority VARCHAR(5),
    title VARCHAR(255) NOT NULL,
    message TEXT,
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    is_clear BOOLEAN DEFAULT FALSE,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    acknowledged_at TIMESTAMP WITH TIME ZONE,
    acknowledged_by VARCHAR(100),
    resolved_at TIMESTAMP WITH TIME ZONE,
    resolved_by VARCHAR(100),
    correlated_to_id UUID REFERENCES alerts(id),
    correlation_rule VARCHAR(100),
    tags TEXT[],
    custom_fields JSONB DEFAULT '{}',
    raw_data JSONB NOT NULL DEFAULT '{}',
    fingerprint VARCHAR(64),
    occurrence_count INTEGER DEFAULT 1,
    last_occurrence_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_alerts_status ON alerts(status);
CREATE INDEX IF NOT EXISTS idx_alerts_severity ON alerts(severity);
CREATE INDEX IF NOT EXISTS idx_alerts_category ON alerts(category);
CREATE INDEX IF NOT EXISTS idx_alerts_device_ip ON alerts(device_ip);
CREATE INDEX IF NOT EXISTS idx_alerts_occurred_at ON alerts(occurred_at);
CREATE INDEX IF NOT EXISTS idx_alerts_source_system ON alerts(source_system);
CREATE INDEX IF NOT EXISTS idx_alerts_fingerprint ON alerts(fingerprint);

DROP TRIGGER IF EXISTS alerts_updated_at ON alerts;
CREATE TRIGGER alerts_updated_at
    BEFORE UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- ============================================
-- 3. Create alert_history table
-- ============================================
CREATE TABLE IF NOT EXISTS alert_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    alert_id UUID NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    action VARCHAR(50) NOT NULL,
    old_status VARCHAR(20),
    new_status VARCHAR(20),
    user_id VARCHAR(100),
    user_name VARCHAR(255),
    notes TEXT,
    changes JSONB,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_alert_history_alert_id ON alert_history(alert_id);

-- ============================================
-- 4. Create dependencies table
-- ============================================
CREATE TABLE IF NOT EXISTS dependencies (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    device_ip VARCHAR(45) NOT NULL,
    depends_on_ip VARCHAR(45) NOT NULL,
    dependency_type VARCHAR(50) NOT NULL DEFAULT 'network',
    description TEXT,
    auto_discovered BOOLEAN DEFAULT FALSE,
    confidence DECIMAL(3,2),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    created_by VARCHAR(100),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    CONSTRAINT dependencies_no_self_reference CHECK (device_ip != depends_on_ip),
    CONSTRAINT dependencies_unique UNIQUE (device_ip, depends_on_ip, dependency_type)
);

CREATE INDEX IF NOT EXISTS idx_dependencies_device_ip ON dependencies(device_ip);
CREATE INDEX IF NOT EXISTS idx_dependencies_depends_on_ip ON dependencies(depends_on_ip);

-- ============================================
-- 5. Create connectors table
-- ============================================
CREATE TABLE IF NOT EXISTS connectors (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(100) NOT NULL UNIQUE,
    type VARCHAR(50) NOT NULL,
    enabled BOOLEAN DEFAULT FALSE,
    status VARCHAR(50) DEFAULT 'unknown',
    error_message TEXT,
    config JSONB NOT NULL DEFAULT '{}',
    last_poll_at TIMESTAMP WITH TIME ZONE,
    last_success_at TIMESTAMP WITH TIME ZONE,
    alerts_received INTEGER DEFAULT 0,
    alerts_today INTEGER DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_connectors_type ON connectors(type);

-- ============================================
-- 6. Create oid_mappings table
-- ============================================
CREATE TABLE IF NOT EXISTS oid_mappings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    oid_pattern VARCHAR(255) NOT NULL,
    vendor VARCHAR(50),
    alert_type VARCHAR(100) NOT NULL,
    category VARCHAR(50) NOT NULL,
    default_severity VARCHAR(20) NOT NULL,
    title_template VARCHAR(255),
    description TEXT,
    is_clear_event BOOLEAN DEFAULT FALSE,
    clear_oid_pattern VARCHAR(255),
    mib_name VARCHAR(100),
    mib_object VARCHAR(100),
    notes TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    CONSTRAINT oid_mappings_unique UNIQUE (oid_pattern, vendor)
);

-- ============================================
-- 7. Create notification_rules table
-- ============================================
CREATE TABLE IF NOT EXISTS notification_rules (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(100) NOT NULL,
    description TEXT,
    enabled BOOLEAN DEFAULT TRUE,
    priority INTEGER DEFAULT 100,
    conditions JSONB NOT NULL DEFAULT '{}',
    channels JSONB NOT NULL DEFAULT '[]',
    throttle_minutes INTEGER DEFAULT 0,
    last_triggered_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    created_by VARCHAR(100)
);

-- ============================================
-- 8. Create notification_log table
-- ============================================
CREATE TABLE IF NOT EXISTS notification_log (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    alert_id UUID REFERENCES alerts(id),
    rule_id UUID REFERENCES notification_rules(id),
    channel VARCHAR(50) NOT NULL,
    recipient VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL,
    error_message TEXT,
    payload JSONB,
    sent_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    response_time_ms INTEGER
);

CREATE INDEX IF NOT EXISTS idx_notification_log_alert_id ON notification_log(alert_id);
CREATE INDEX IF NOT EXISTS idx_notification_log_sent_at ON notification_log(sent_at);

