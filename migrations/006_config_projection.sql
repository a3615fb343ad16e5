-- 006: the config-backed tables become a projection of the YAML tree, refreshed in one
-- transaction per config version (DESIGN.md §4, engine/store/projection.py).

-- The config version that last inserted or changed the row's config-owned columns.
ALTER TABLE connectors ADD COLUMN config_version_id BIGINT REFERENCES config_versions(id);
ALTER TABLE oid_mappings ADD COLUMN config_version_id BIGINT REFERENCES config_versions(id);
ALTER TABLE dependencies ADD COLUMN config_version_id BIGINT REFERENCES config_versions(id);
ALTER TABLE notification_rules ADD COLUMN config_version_id BIGINT REFERENCES config_versions(id);

-- Rules are keyed by name in the YAML; the projection matches rows by it.
ALTER TABLE notification_rules ADD CONSTRAINT notification_rules_name_unique UNIQUE (name);

-- A log row must survive its rule being removed from the config: keep the name, and
-- let the id go NULL instead of refusing the delete (the seed's FK has no ON DELETE).
ALTER TABLE notification_log ADD COLUMN rule_name VARCHAR(100);
ALTER TABLE notification_log
    DROP CONSTRAINT notification_log_rule_id_fkey,
    ADD CONSTRAINT notification_log_rule_id_fkey
        FOREIGN KEY (rule_id) REFERENCES notification_rules(id) ON DELETE SET NULL;
