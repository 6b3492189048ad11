"""Correlation over technique hits, per (rule, group), in event time (see docs/correlation.md).

``engine`` (fan-out and keyed dispatch) over the rule runtimes ``sequence``, ``progression`` and
``sigma_runtime``; ``sigma_load`` parses Sigma correlations; ``operator`` is the keyed operator
without Flink and ``harness`` drives it like the job does; ``state`` versions what is stored.
"""
