"""A Windows event's data sections carried as text: the ``EventData`` column of Sentinel's
``SecurityEvent`` and ``Event`` tables, XML as the agent rendered it, or JSON where a pipeline
re-encoded it.

    <DataItem type="System.XmlData" time="..."><EventData xmlns="..."><Data Name="RuleName">-</Data>
      <Data Name="Image">C:\\...</Data>...</EventData></DataItem>            (Log Analytics agent)
    <EventData xmlns="..."><Data Name="SubjectUserSid">S-1-5-18</Data>...</EventData>   (AMA)
    <UserData><LogFileCleared xmlns="..."><SubjectUserName>bob</SubjectUserName>...</LogFileCleared></UserData>
    {"RuleName": "-", "Image": "C:\\...", ...}  or  {"EventData": {"Data": [{"@Name": "Image", "#text": ...}]}}

Every shape becomes the flat ``{name: value}`` the Windows mapping reads, as for EVTX.
"""

from __future__ import annotations

from typing import Any

from udfs.normalize import xmltext
from udfs.normalize.errors import field_error
from udfs.normalize.rawjson import decode_embedded
from udfs.normalize.windows import evtx


def expand(value: Any, path: str, fmt: str) -> dict[str, Any]:
    """The named fields of an ``EventData``/``UserData`` value: XML text, JSON text or an object."""
    if isinstance(value, dict):
        return _from_json(value, path)
    if not isinstance(value, str):
        raise field_error(path, "the event data as XML or JSON text", value, source_format=fmt)
    text = value.lstrip()
    if text.startswith("<"):
        return _from_xml(xmltext.parse(text, path, fmt))
    if text.startswith("{"):
        decoded = decode_embedded(text)
        if isinstance(decoded, dict):
            return _from_json(decoded, path)
    if not text:
        return {}
    raise field_error(path, "the event data as XML or JSON text", value, source_format=fmt)


def _from_json(doc: dict[str, Any], path: str) -> dict[str, Any]:
    event = doc.get("Event")
    if isinstance(event, dict):  # a whole rendered event: its sections
        doc = {k: v for k, v in event.items() if k != "System"}
    if "EventData" in doc or "UserData" in doc:
        out = evtx.data_fields(doc.get("EventData"), f"{path}.EventData")
        out.update(evtx.user_data(doc.get("UserData"), f"{path}.UserData"))
        return out
    return evtx.data_fields(doc, path)


def _from_xml(root: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unnamed: list[str] = []
    for section in root.iter():
        name = xmltext.local(section.tag)
        if name == "EventData":
            for item in section:
                text = item.text if item.text is not None else ""
                key = item.get("Name") if xmltext.local(item.tag) == "Data" else xmltext.local(item.tag)
                if key:
                    out[key] = text
                else:
                    unnamed.append(text)
        elif name == "UserData":
            for vendor in section:  # one vendor element (LogFileCleared, EventXML...) holding the fields
                for item in vendor:
                    out[xmltext.local(item.tag)] = item.text if item.text is not None else ""
    if unnamed:
        out["Data"] = unnamed[0] if len(unnamed) == 1 else "\n".join(unnamed)
    return out
