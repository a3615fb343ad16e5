"""OpsConductor engine: config, rules, pipeline, connectors, notify, store."""
