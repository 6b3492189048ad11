"""Events to ATT&CK technique hits: Sigma rules, technique maps, ids the event already carries."""
