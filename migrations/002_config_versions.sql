-- 002: every loaded config tree is a config version (DESIGN.md §2): its git commit
-- (when the tree is a checkout) plus a content hash, and whether it was applied or
-- refused. A refusal keeps its located errors so the dashboard and API can show them.
CREATE TABLE config_versions (
    id BIGSERIAL PRIMARY KEY,
    content_hash VARCHAR(64) NOT NULL,
    git_commit VARCHAR(64),
    loaded_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    outcome VARCHAR(10) NOT NULL,
    errors JSONB NOT NULL DEFAULT '[]',
    files JSONB NOT NULL DEFAULT '[]',
    is_current BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT config_versions_outcome_known CHECK (outcome IN ('applied', 'refused')),
    -- A refused tree never becomes the running one.
    CONSTRAINT config_versions_current_is_applied CHECK (NOT is_current OR outcome = 'applied')
);

-- At most one running version; swapping is "clear the old flag, set the new" in one
-- transaction, and this index makes a second writer fail rather than leave two.
CREATE UNIQUE INDEX config_versions_one_current ON config_versions (is_current) WHERE is_current;
CREATE INDEX idx_config_versions_loaded_at ON config_versions (loaded_at DESC, id DESC);
