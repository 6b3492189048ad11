"""Sysmon for Linux, as it reaches syslog: a syslog header, then the event as Windows-style XML.

    Oct 12 18:21:36 web-01 sysmon: <Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-...}"/>
      <EventID>1</EventID>...<TimeCreated SystemTime="2021-10-12T18:21:36.584418000Z"/>
      <EventRecordID>12</EventRecordID>...<Channel>Linux-Sysmon/Operational</Channel><Computer>web-01</Computer>
      <Security UserId="0"/></System><EventData><Data Name="RuleName">-</Data>...</EventData></Event>

RFC 5424 headers (``<14>1 2021-10-12T18:21:36Z web-01 sysmon - - - <Event>...``) work the same. The
event data has Sysmon's field names, so the Windows Sysmon mapping applies unchanged. Sysmon for Linux
does not escape what it writes (an ``&`` or ``<`` of a command line lands in the XML as is): the XML is
read leniently (:mod:`udfs.normalize.xmltext`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from schemas.event import Origin
from udfs.normalize import xmltext
from udfs.normalize.errors import NormalizeError
from udfs.normalize.timeparse import to_epoch_ms
from udfs.normalize.windows.mapping import to_draft
from udfs.normalize.windows.record import WinRecord, event_id_of, stamp_system
from udfs.normalize.xmltext import local

FORMAT = "sysmon_linux"
PARSER_VERSION = "sysmon_linux/1"

# RFC 3164 "Mmm dd hh:mm:ss host tag:" or RFC 5424 "<pri>1 timestamp host app procid msgid sd"
_HOST_3164 = re.compile(r"^(?:<\d{1,3}>)?[A-Z][a-z]{2}\s+\d{1,2}\s\d{2}:\d{2}:\d{2}\s(\S+)\s")
_HOST_5424 = re.compile(r"^<\d{1,3}>\d\s\S+\s(\S+)\s")


def looks_like_text(text: str) -> bool:
    start = text.find("<Event")
    return 0 <= start < 512 and "Linux-Sysmon" in text


def _syslog_host(header: str) -> str | None:
    match = _HOST_3164.match(header) or _HOST_5424.match(header)
    return match.group(1) if match else None


def _read(root: ET.Element) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(System fields, EventData fields, whether a <Data> held markup: unescaped text, read again)."""
    system: dict[str, Any] = {}
    data: dict[str, Any] = {}
    markup = False
    for section in root:
        name = local(section.tag)
        if name == "System":
            for node in section:
                tag = local(node.tag)
                system[tag] = node.text
                for attr, value in node.attrib.items():
                    system[f"{tag}.{attr}"] = value
        elif name == "EventData":
            for node in section:
                if len(node):
                    markup = True
                key = node.attrib.get("Name") or local(node.tag)
                data[key] = node.text if node.text is not None else ""
    return system, data, markup


def parse_text(text: str, *, raw_sha256: str, origin: Origin) -> dict[str, Any]:
    start, end = text.find("<Event"), text.rfind("</Event>")
    if start < 0 or end < start:
        raise NormalizeError("schema", "$: expected a syslog line with <Event>...</Event>", source_format=FORMAT)
    if "<!" in text[:start]:  # a DTD before the element: refused like one inside it
        raise NormalizeError("bad_xml", "$: DOCTYPE/ENTITY declarations are not accepted", source_format=FORMAT)
    xml = text[start : end + len("</Event>")]
    # The markup check runs in the read below (one pass over the elements instead of two).
    system, data, markup = _read(xmltext.parse(xml, "$", FORMAT, check_markup=False))
    if markup:
        system, data, _ = _read(xmltext.parse_repaired(xml, "$", FORMAT))
    event_id = event_id_of(system.get("EventID"), "Event.System.EventID", FORMAT)
    stamp = system.get("TimeCreated.SystemTime")
    if not stamp:
        raise NormalizeError(
            "missing_field", "Event.System.TimeCreated.SystemTime: required, missing", source_format=FORMAT
        )
    time_ms = to_epoch_ms(stamp, "Event.System.TimeCreated.SystemTime")
    channel = system.get("Channel") or "Linux-Sysmon/Operational"
    provider = system.get("Provider.Name") or "Linux-Sysmon"
    computer = system.get("Computer") or _syslog_host(text[:start])
    original: dict[str, Any] = {
        "Provider_Guid": system.get("Provider.Guid"),
        "Version": system.get("Version"),
        "Level": system.get("Level"),
        "Task": system.get("Task"),
        "Opcode": system.get("Opcode"),
        "Keywords": system.get("Keywords"),
        "TimeCreated": stamp,
        "EventRecordID": system.get("EventRecordID"),
        "ProcessID": system.get("Execution.ProcessID"),
        "ThreadID": system.get("Execution.ThreadID"),
        "UserID": system.get("Security.UserId"),
        "syslog_header": text[:start].strip() or None,
    }
    original.update(data)
    stamp_system(original, data, event_id, channel, provider, computer)
    record_id = system.get("EventRecordID")
    rec = WinRecord(
        fmt=FORMAT,
        parser_version=PARSER_VERSION,
        event_id=event_id,
        time_ms=time_ms,
        channel=channel,
        provider=provider,
        computer=computer,
        record_id=int(record_id) if record_id and record_id.isdigit() else None,
        user_sid=None,
        data=data,
        original=original,
    )
    return to_draft(rec, raw_sha256=raw_sha256, origin=origin)
