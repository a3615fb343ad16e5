-- 010: raw_events and alert_decisions name the config version that handled them, but no
-- longer through a foreign key. Both tables take several rows per event on the hot path,
-- and each row's key check is a lookup plus a row lock on config_versions: measured
-- with bench/pipeline.py, a fifth of PostgreSQL's time per new alert. config_versions is
-- append-only (nothing deletes a version) and the only writer of these columns is the
-- engine, with the id it recorded itself, so the check guarded nothing. alerts keeps its
-- key to config_versions (one row per alert, and alerts are what people query).
ALTER TABLE raw_events DROP CONSTRAINT raw_events_config_version_id_fkey;
ALTER TABLE alert_decisions DROP CONSTRAINT alert_decisions_config_version_id_fkey;
