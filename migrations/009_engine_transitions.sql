-- 009: transitions the engine makes on its own besides the seed's: a suppressed child
-- becomes active again when its root cleared and it is still open ('unsuppressed'), or
-- moves under another root that is still down ('relinked').
ALTER TABLE alert_history DROP CONSTRAINT alert_history_action_known;
ALTER TABLE alert_history
    ADD CONSTRAINT alert_history_action_known
        CHECK (action IN ('created', 'occurrence', 'acknowledged', 'resolved', 'suppressed', 'cleared',
                          'unsuppressed', 'relinked'));
