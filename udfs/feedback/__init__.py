"""Analyst feedback (issue 12 section 3; docs/scoring.md, "Analyst feedback"): verdicts from the
``--feedback-topic``, joined to their alerts in the JVM, reach the scorers as context updates of kind
``verdict``; the ``analyst_feedback`` factor weighs later alerts of a rule by its false-positive rate.

- :mod:`udfs.feedback.parse`: feedback records to verdicts or dead letters (the Python step);
- :mod:`udfs.feedback.sql`: the alerts topic read back and the join (JVM SQL);
- :mod:`udfs.feedback.store`: per rule and per (rule, entity) counts, one verdict per alert;
- :mod:`udfs.feedback.factor`: the factor;
- :mod:`udfs.feedback.context`: the handler and the factor, registered with the context mechanism.
"""
