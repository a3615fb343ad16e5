-- 017: the text of each applied config tree, once per content hash, so `opsc replay` can
-- compare a candidate with the version that is running (or ran) without a checkout of it.
-- The files hold secret references (${env:…}), never secret values.
CREATE TABLE config_trees (
    content_hash VARCHAR(64) PRIMARY KEY,
    files JSONB NOT NULL,  -- {"rules/notifications.yaml": "…text…", …}
    stored_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
