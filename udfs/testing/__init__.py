"""The job's stages without Flink, for tests and benchmarks (never imported by the job).

``memory`` holds in-memory keyed state and timers; ``harness`` drives the job's own keyed cores on
them in event time, as Flink would; ``reference`` is the executable reference (raw records to scored
alerts) that the job's SQL path is tested against.
"""
