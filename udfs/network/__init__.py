"""Network behaviour: techniques from how hosts talk (beaconing, outbound volume, long connections).

``rules`` loads ``rules/network/*.yaml`` (:class:`schemas.network.NetworkRule`); ``behavior`` holds
the decisions (which connections count, is this window a beacon, ...) and the hits they make, as
plain functions the job and the reference share; ``sql`` is the job's windowed aggregation per rule
(the state: Flink's window operator), whose rows come back through ``behavior`` as technique hits
that link and correlate like any other; ``windows`` is the same windowing in Python, for the
reference and tests.
"""
