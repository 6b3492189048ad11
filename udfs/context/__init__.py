"""The job's context as Flink broadcast state (issue 12 section 1): updates (:mod:`.updates`), the
Python-side mirror the scorers read (:mod:`.live`), and the kinds it knows (:mod:`.inventory` for
assets, identities and change windows; baselines and analyst verdicts register from their own
modules, listed in :data:`udfs.context.live.KIND_MODULES`). No pyflink here."""
