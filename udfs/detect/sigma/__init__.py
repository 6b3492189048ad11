"""Sigma detection rules, compiled for per-event matching.

``loader`` finds rule files and caches what ``parse`` makes of them (pySigma -> the picklable ``ir``);
``compile`` turns each rule's condition into a closure plus the literals it requires (``values``,
``regex``); ``routing`` maps an event to its Sigma log sources and field pipeline (``fields``);
a ``lane`` holds one kind of event's rules behind a literal prefilter (``literals``); ``engine``
ties it together, builds every known lane at load and reports what did not load; ``memory`` keeps
what loading builds out of the cyclic GC; ``tags`` maps ``attack.*`` tags to the catalog.
"""
