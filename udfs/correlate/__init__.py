"""Correlation over technique hits: sequences per entity, in event time."""
