-- 013: what the NOC dashboard needs from the database.
--
-- 1. Text search (q=) over title, message and device name through a trigram index: a
--    rare word (a device name, or nothing at all) was a sequential scan of every alert
--    (~1 s at 1,000,000). One expression index for the three columns; the list queries
--    the same expression (web/queries.py SEARCH_TEXT), so the planner can use it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX idx_alerts_search_trgm ON alerts USING gin (
    (coalesce(title, '') || ' ' || coalesce(message, '') || ' ' || coalesce(device_name, '')) gin_trgm_ops);

-- Root cause first: the open alerts linked under each root (suppressed children,
-- correlation children), found without scanning every open alert.
CREATE INDEX idx_alerts_open_children ON alerts (correlated_to_id)
    WHERE status <> 'resolved' AND correlated_to_id IS NOT NULL;

-- 2. Ad-hoc silences: the 2 a.m. "silence this device for two hours" from the dashboard or
--    the API, without a commit. They hold notifications like the silences in rules/ and
--    end by themselves at ends_at; a deleted one keeps its row (who ended it, when).
CREATE TABLE silences (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    matchers JSONB NOT NULL,          -- the `match` of a rule: {field: value | [values] | {op: value}}
    starts_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    ends_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_by VARCHAR(255) NOT NULL,
    comment TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMP WITH TIME ZONE,
    deleted_by VARCHAR(255),
    CHECK (ends_at > starts_at)
);
CREATE INDEX idx_silences_live ON silences (ends_at) WHERE deleted_at IS NULL;

-- 3. Rule hits that survive reloads and restarts: a count per rule of the decisions that
--    named it, kept by a statement trigger over the rows each COPY/INSERT added (one
--    upsert per rule per batch), so the config page does not count millions of rows.
CREATE TABLE rule_hits (
    rule VARCHAR(255) PRIMARY KEY,
    hits BIGINT NOT NULL,
    first_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_at TIMESTAMP WITH TIME ZONE NOT NULL
);
INSERT INTO rule_hits (rule, hits, first_at, last_at)
    SELECT rule, count(*), min(created_at), max(created_at) FROM alert_decisions GROUP BY rule;

CREATE FUNCTION count_rule_hits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rule_hits AS h (rule, hits, first_at, last_at)
        SELECT rule, count(*), min(created_at), max(created_at) FROM added GROUP BY rule
        ORDER BY rule  -- one lock order for concurrent writers
    ON CONFLICT (rule) DO UPDATE
        SET hits = h.hits + EXCLUDED.hits, last_at = greatest(h.last_at, EXCLUDED.last_at);
    RETURN NULL;
END $$;
CREATE TRIGGER alert_decisions_count_rule_hits AFTER INSERT ON alert_decisions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION count_rule_hits();
