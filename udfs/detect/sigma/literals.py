"""Find which of many literals occur in an event, in one pass: the prefilter's multi-pattern matcher.

The text searched is the event's values as JSON (``orjson``, in C): a Windows event's values as one
JSON array, a vendor event as its whole JSON document. That is several times cheaper to build in
Python than joining the values ourselves, and RE2 reads the bytes as they are. A literal is turned
into the forms its text takes in JSON (``json_variants``):

- string values are quoted and escaped: a literal anchored at a value's start / end (``\\x02`` /
  ``\\x03`` in ``values``) becomes ``"`` + escaped text / escaped text + ``"``;
- numbers and booleans are bare: an anchored ``4624`` also becomes ``[4624,``, ``,4624,``, ``:4624}``...;
- a literal containing characters JSON escapes (``"`` ``\\``) keeps its raw form too, because a rule may
  match inside the JSON text of a nested object (CloudTrail ``requestParameters|contains: '"Allow"'``).

Literals are lower-case; the finders match case-insensitively, so an ASCII text needs no lower();
a text with non-ASCII characters is lowered by the caller, because RE2's Unicode case folding and
Python's ``lower()`` (which the rule evaluation uses) differ on a few characters.

Two interchangeable engines, both linear in the text:

- ``re2.Set`` (default): one DFA for all literals, returning the *distinct* literals found. On
  SigmaHQ's 11.5k process_creation literals over real Sysmon events, about 12 µs for 1.5 kB.
- ``pyahocorasick``: yields every *occurrence* to Python and walks the text at ~17 ns per character
  (~60 µs on the same events). The fallback when RE2 cannot build its set, and selectable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import ahocorasick
import orjson
import re2

from udfs.detect.sigma.values import END, START

RE2_MAX_MEM = 256 << 20  # the DFA grows with the literals; past this RE2 refuses and we fall back

# JSON bytes -> numbers of the literal texts found (None or empty when none is)
Finder = Callable[[bytes], Iterable[int] | None]

_BARE = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false")
_OPEN, _CLOSE = ("[", ",", ":"), ("]", ",", "}")


def _escaped(text: str) -> str:
    return orjson.dumps(text).decode()[1:-1]


def json_variants(lit: str, anchored: bool = True, nested: bool = True) -> list[str]:
    """The texts a literal can take in the JSON of an event. ``anchored``: keep value delimiters;
    ``nested``: rules may read nested objects as JSON text (vendor lanes; Windows lanes do not)."""
    core = lit.strip(START + END)
    starts, ends = lit.startswith(START), lit.endswith(END)
    escaped = _escaped(core)
    variants = {escaped} if not anchored else {('"' if starts else "") + escaped + ('"' if ends else "")}
    if anchored and (starts or ends) and _BARE.fullmatch(core):
        # A number or boolean value is written bare: delimited by brackets, commas, a key's colon.
        heads = _OPEN if starts else ("",)
        tails = _CLOSE if ends else ("",)
        variants.update(h + core + t for h in heads for t in tails)
    if nested and escaped != core:
        variants.add(core)  # as it reads inside the JSON text of a nested object
    return sorted(variants)


def _grouped(literals: list[tuple[int, str]]) -> tuple[list[str], list[tuple[int, ...]]]:
    """Distinct texts and, per text, the literal ids sharing it."""
    by_text: dict[str, list[int]] = {}
    for lid, lit in literals:
        ids = by_text.setdefault(lit, [])
        if lid not in ids:
            ids.append(lid)
    texts = list(by_text)
    return texts, [tuple(by_text[t]) for t in texts]


def _re2_finder(texts: list[str]) -> Finder:
    options = re2.Options()
    options.max_mem = RE2_MAX_MEM
    options.log_errors = False
    pattern_set = re2.Set.SearchSet(options)
    for text in texts:
        pattern_set.Add("(?i)" + re2.escape(text))
    pattern_set.Compile()
    # The C-level set directly (returns a list, or None when nothing is found): the Python
    # wrapper's Match adds two calls per event.
    match: Finder = pattern_set._set.Match
    return match


def _ac_finder(texts: list[str]) -> Finder:
    automaton = ahocorasick.Automaton()
    for number, text in enumerate(texts):
        automaton.add_word(text, number)
    automaton.make_automaton()
    found = automaton.iter
    # Aho-Corasick is case-sensitive and works on text: decode and lower.
    return lambda data: {number for _, number in found(data.decode().lower())}


def literal_finder(
    literals: list[tuple[int, str]], engine: str = "re2"
) -> tuple[Finder | None, list[tuple[int, ...]], str]:
    """A function (UTF-8 JSON bytes) -> numbers of the texts found (or None); per text number, the literal ids
    it stands for (a literal has one text per JSON form; two literals may share one); the engine."""
    if not literals:
        return None, [], "none"
    texts, ids = _grouped(literals)
    if engine == "re2":
        try:
            return _re2_finder(texts), ids, "re2"
        except Exception:  # RE2 raises a plain error when the DFA would exceed its memory budget
            pass
    return _ac_finder(texts), ids, "aho-corasick"
