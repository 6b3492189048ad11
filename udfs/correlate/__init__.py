"""Correlation over technique hits, per (rule, group), in event time (see docs/correlation.md).

``rules`` loads the rule packs and ``plan`` decides where each rule runs: in the JVM, as the Flink
SQL of ``sql/`` (one module per rule kind), or on the Python path. The Python path and the
executable reference share ``engine`` (fan-out and keyed dispatch) over the rule runtimes
``sequence``, ``progression`` and ``sigma_runtime`` (``sigma_load`` parses Sigma correlations);
``operator`` is the keyed operator core without Flink, ``records`` the shapes it passes around and
``state`` the versioned records it stores. :mod:`udfs.testing` drives the same core in tests.
"""
