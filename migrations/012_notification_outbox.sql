-- 012: the transactional outbox. The decision to notify is written in the same
-- transaction as the alert it is about: one row per notification per channel. The
-- notifier delivers from here, oldest first, and deletes a row in the same transaction
-- that writes its notification_log rows (sent, failed or skipped). A row still here after
-- a crash is sent again at start: delivery is at-least-once; PagerDuty's dedup_key and
-- the webhook's idempotency key (the row id) make a resend harmless.
CREATE TABLE notification_outbox (
    id UUID PRIMARY KEY,
    seq BIGSERIAL NOT NULL UNIQUE,               -- delivery order; the notifier reads past the last seq it took
    alert_id UUID NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    rule_name VARCHAR(255) NOT NULL,
    channel VARCHAR(50) NOT NULL,
    kind VARCHAR(16) NOT NULL,                   -- firing | resolved
    decided_at TIMESTAMP WITH TIME ZONE NOT NULL,  -- engine time of the decision (throttles count from it)
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_notification_outbox_alert ON notification_outbox (alert_id);
-- Restart rebuilds "who was told" from sent rows of notification_log.
CREATE INDEX IF NOT EXISTS idx_notification_log_alert_status ON notification_log (alert_id, status);
