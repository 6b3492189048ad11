"""ttpflow's edges: pydantic v2 models of events, dead letters, hits, alerts, rule files; the job's config."""
