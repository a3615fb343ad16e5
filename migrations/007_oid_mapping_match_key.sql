-- 007: several YAML mappings may share an OID pattern and vendor (they differ by
-- varbind conditions), which the seed's UNIQUE (oid_pattern, vendor) cannot hold —
-- and with a NULL vendor that constraint never fired anyway. The identity of a mapping
-- becomes match_key, chosen by the config side; the default is
-- "<oid_pattern>|<vendor or empty>", which is what existing rows get here.
ALTER TABLE oid_mappings ADD COLUMN match_key TEXT;
UPDATE oid_mappings SET match_key = oid_pattern || '|' || COALESCE(vendor, '');
ALTER TABLE oid_mappings ALTER COLUMN match_key SET NOT NULL;
ALTER TABLE oid_mappings DROP CONSTRAINT oid_mappings_unique;
ALTER TABLE oid_mappings ADD CONSTRAINT oid_mappings_match_key_unique UNIQUE (match_key);
-- The trap receiver still looks mappings up by pattern.
CREATE INDEX idx_oid_mappings_oid_pattern ON oid_mappings (oid_pattern);
