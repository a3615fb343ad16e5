-- 018: parked notifications. A message whose quick retries are spent on a transient error
-- (a timeout, a refused connection, HTTP 5xx or 429) is not failed: its outbox rows wait
-- here with the time of their next attempt, out of the notifier's in-flight set, until the
-- receiver answers again or the channel's retry window (`retry_for`) is over. Rows of a
-- channel known to be down wait the same way for the channel's next probe. NULL: due now
-- (a new row, or one the notifier has taken back into flight).
ALTER TABLE notification_outbox ADD COLUMN next_attempt_at TIMESTAMP WITH TIME ZONE;
-- The due read: parked rows whose time has come (few rows; the index holds only parked ones).
CREATE INDEX idx_notification_outbox_due ON notification_outbox (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
-- Order: a row waits while an earlier row of its alert on its channel is parked (a PagerDuty
-- resolve never overtakes its trigger, across a restart too); each read looks that up here.
CREATE INDEX idx_notification_outbox_parked ON notification_outbox (alert_id, channel, seq)
    WHERE next_attempt_at IS NOT NULL;
