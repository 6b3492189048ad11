"""Correlation rules compiled to Flink SQL, one module per rule kind, and the drafts their matches become."""
