"""Job graphs and the ``ttpflow`` command line."""
