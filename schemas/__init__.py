"""pydantic v2 models at ttpflow's edges: events, dead letters, hits, alerts, rule files."""
