"""Cross-source entity linking: binding facts from events, a learner per subject, an event-time
binding table, and the linker that ties each hit to its host and user (see docs/correlation.md)."""
