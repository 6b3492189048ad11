"""Windows event logs: one mapping layer, three wrappings (EVTX JSON, Winlogbeat, NXLog flat JSON)."""
