"""ttpflow's logic as plain Python, plus thin PyFlink wrappers (``udfs/flink_*.py``)."""
