"""Windows event-data values as rules expect them: trimmed, and field names without spaces.

Both run on every Windows record, whatever the wrapping, before the event-id mapping reads the data:

- Trailing and leading whitespace: Windows writes some values padded (``LogonProcessName`` of a
  4624 is ``"NtLmSsp "``, Defender's ``Error Description`` ends in a space, script blocks in a newline).
  Sigma rules are written against trimmed values, and so is the ECS mapping. The value rules match
  (``original[name]``) is trimmed; the value as sent is kept in ``original["_untrimmed"][name]``. That
  key holds an object, which the flat Windows field lookups never read as a field.
- Names with spaces: Defender's operational events name fields ``Source Name``, ``Threat Name``,
  ``Process Name``; Sigma's Windows rules (and pySigma's Windows pipelines) name them ``SourceName``,
  ``ThreatName``, ``ProcessName``. The name without spaces is added next to the one sent, and wins over
  a field of that name outside the event data (NXLog's ``SourceName`` is the provider).
"""

from __future__ import annotations

from typing import Any

UNTRIMMED = "_untrimmed"
_STRIP = str.strip
# Exactly what str.strip() removes (str.isspace() characters), so a set lookup decides per end.
_SPACE = frozenset(chr(c) for c in range(0x3001) if chr(c).isspace())


def tidy(data: dict[str, Any], original: dict[str, Any], *, spaced_names: bool) -> None:
    """Trim ``data`` values in place (and the same values in ``original``); alias names with spaces.

    ``spaced_names``: whether to look for names with spaces at all (the Sysmon and Security manifests
    have none, so their events skip the check).
    """
    if spaced_names and " " in "".join(data):
        for key in [k for k in data if " " in k]:
            alias = key.replace(" ", "")
            data[alias] = original[alias] = data[key]
    # Fast path, no padded string: str.strip returns the very object when it has nothing to strip, so
    # the comparison is an identity check per item, all in C (about 1 µs for 25 fields; a Python loop
    # over the items costs 1.5 µs, and trying map(str.strip) on every value raises on the numbers
    # that two thirds of real EVTX records carry).
    strings = [v for v in data.values() if type(v) is str]
    if list(map(_STRIP, strings)) == strings:
        return
    untrimmed: dict[str, str] = {}
    for key, value in data.items():
        if type(value) is str and value and (value[-1] in _SPACE or value[0] in _SPACE):
            untrimmed[key] = value
    if not untrimmed:
        return
    for key, value in untrimmed.items():
        trimmed = value.strip()
        data[key] = trimmed
        if original.get(key) is value:
            original[key] = trimmed
    original[UNTRIMMED] = untrimmed
