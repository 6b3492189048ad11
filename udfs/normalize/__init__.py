"""Parsers from vendor formats into :class:`schemas.event.Event`."""
