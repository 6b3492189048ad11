"""Event XML carried inside records (Sysmon for Linux in syslog, Sentinel's ``EventData`` column).

Real senders do not always escape: Sysmon for Linux writes a command line as it ran, so an ``&``
(``a && b``, ``?x=1&lt=2``) or a ``<`` (``cat < f``) lands in ``<Data>`` text as is, and the record
is not well-formed XML; or it is, by accident, and a command line ``x <a/> y`` would read as ``x ``
(markup inside a value hides the rest of it from rules). A strict parse is tried first (the common
case costs one check more: no ``<Data>`` holds elements); when it fails, or a ``<Data>`` holds
markup, the text is repaired the way a lenient reader would and parsed again:

- an ``&`` that does not start a complete reference (``&lt;``, ``&#38;``...) is a literal ``&``
  (so ``&lt `` without its ``;`` reads as the four characters the sender wrote);
- inside ``<Data ...>...</Data>`` (text only, never markup), ``<`` and ``>`` are literal;
- characters XML 1.0 cannot hold (controls other than tab and newlines) become U+FFFD.

What still does not parse (a ``</Data>`` inside a value, a truncated record) is a ``bad_xml`` dead
letter naming the parser's position. DTDs are refused before anything is parsed: entity expansion
("billion laughs") and external entities come that way, and no event writer emits one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from udfs.normalize.errors import NormalizeError

_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)
_BARE_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|apos|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});)")
# An element holding only text: <Data Name="X">text</Data> (not self-closing <Data Name="X"/>).
_DATA_TEXT = re.compile(r"(<Data\b[^<>]*(?<!/)>)(.*?)(</Data>)", re.DOTALL)
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def parse(xml: str, path: str, fmt: str, *, check_markup: bool = True) -> ET.Element:
    """The root element of ``xml``, repaired if needed; a ``bad_xml`` :class:`NormalizeError` if hopeless.

    ``check_markup=False``: the caller checks for elements inside ``<Data>`` itself, as it reads them
    (one pass over the tree instead of two), and calls :func:`parse_repaired` when it finds some.
    """
    if "<!" in xml and _DECLARATION.search(xml):
        raise NormalizeError("bad_xml", f"{path}: DOCTYPE/ENTITY declarations are not accepted", source_format=fmt)
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as strict:
        fixed = repair(xml)
        if fixed != xml:
            try:
                return ET.fromstring(fixed)
            except ET.ParseError:
                pass
        raise NormalizeError(
            "bad_xml", f"{path}: {strict}; not recoverable by escaping & and < in text", source_format=fmt
        ) from None
    if check_markup and _markup_in_data(root):
        return parse_repaired(xml, path, fmt, fallback=root)
    return root


def parse_repaired(xml: str, path: str, fmt: str, *, fallback: ET.Element | None = None) -> ET.Element:
    """``xml`` read as a sender that escapes nothing wrote it (see :func:`repair`). When the repaired
    text does not parse, the strict reading (``fallback``, or a new strict parse) stands."""
    try:
        return ET.fromstring(repair(xml))
    except ET.ParseError:
        return fallback if fallback is not None else parse(xml, path, fmt, check_markup=False)


def _markup_in_data(root: ET.Element) -> bool:
    """Whether a ``<Data>`` element holds elements: unescaped text that happened to be well-formed."""
    for element in root.iter():  # noqa: SIM110 - a plain loop: any(generator) costs a third more here
        if len(element) and (element.tag == "Data" or element.tag[-5:] == "}Data"):
            return True
    return False


def repair(xml: str) -> str:
    """``xml`` with unescaped ``&``, ``<`` and ``>`` in text escaped and illegal characters replaced."""
    xml = _NOT_XML_CHARS.sub("\ufffd", xml)
    xml = _DATA_TEXT.sub(_escape_data, xml)
    return _BARE_AMP.sub("&amp;", xml)


def _escape_data(match: re.Match[str]) -> str:
    text = _BARE_AMP.sub("&amp;", match.group(2)).replace("<", "&lt;").replace(">", "&gt;")
    return match.group(1) + text + match.group(3)


def local(tag: str) -> str:
    """An element's name without its namespace (``{http://...}Data`` -> ``Data``)."""
    return tag.rsplit("}", 1)[-1]
