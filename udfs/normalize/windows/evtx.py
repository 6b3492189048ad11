"""EVTX records as JSON, the way ``evtx_dump -o json``/pyevtx-rs render them.

    {"Event": {"#attributes": {"xmlns": "..."},
               "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{..}"}},
                          "EventID": 1, "TimeCreated": {"#attributes": {"SystemTime": "2024-..Z"}},
                          "EventRecordID": 42, "Channel": "Microsoft-Windows-Sysmon/Operational",
                          "Computer": "ws-01", "Security": {"#attributes": {"UserID": "S-1-5-18"}}, ...},
               "EventData": {"Image": "C:\\\\...", ...}            # or "UserData": {"LogFileCleared": {...}}
    }}

xmltodict-style renderings (``@Name`` attributes, ``Data: [{"@Name": .., "#text": ..}]``) are read too.
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import NormalizeError, field_error
from udfs.normalize.fields import opt_str, req_obj, soft_int
from udfs.normalize.timeparse import to_epoch_ms
from udfs.normalize.windows.mapping import to_draft
from udfs.normalize.windows.record import WinRecord, event_id_of, stamp_system

FORMAT = "windows_evtx_json"
PARSER_VERSION = "windows_evtx_json/1"


def looks_like(doc: dict[str, Any]) -> bool:
    event = doc.get("Event")
    return isinstance(event, dict) and "System" in event


def _attrs(node: Any) -> dict[str, Any]:
    """XML attributes of a rendered element: ``#attributes`` (pyevtx-rs) or ``@name`` keys (xmltodict)."""
    if not isinstance(node, dict):
        return {}
    attrs = node.get("#attributes")
    if isinstance(attrs, dict):
        return attrs
    return {k[1:]: v for k, v in node.items() if k.startswith("@")}


def _text(node: Any) -> Any:
    return node.get("#text") if isinstance(node, dict) else node


def _joined(value: Any) -> Any:
    """Unnamed ``<Data>`` items (classic PowerShell, MSI...) joined into one ``Data`` text, as Sigma expects."""
    if isinstance(value, list):
        return "\n".join("" if v is None else str(_text(v)) for v in value)
    return value


def _data_fields(node: Any, path: str) -> dict[str, Any]:
    if node is None:
        return {}
    if isinstance(node, str):
        return {"Data": node}
    if not isinstance(node, dict):
        raise field_error(path, "an object", node, source_format=FORMAT)
    if "Data" not in node and "#attributes" not in node and dict not in {type(v) for v in node.values()}:
        return node  # already flat named fields (pyevtx-rs): nothing to unwrap
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "#attributes" or key.startswith("@"):
            continue
        if key == "Data":
            _data_items(value, out)
        elif isinstance(value, dict) and "#text" in value:
            out[key] = _joined(value["#text"])
        else:
            out[key] = value
    return out


def _data_items(value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and "#text" in value and not _attrs(value).get("Name"):
        out["Data"] = _joined(value["#text"])
        return
    items = value if isinstance(value, list) else [value]
    unnamed: list[Any] = []
    for item in items:
        name = _attrs(item).get("Name")
        if isinstance(name, str) and name:
            out[name] = _text(item)
        else:
            unnamed.append(_text(item))
    if unnamed:
        out["Data"] = _joined(unnamed) if len(unnamed) > 1 else unnamed[0]


def _user_data(node: Any, path: str) -> dict[str, Any]:
    """``UserData`` holds one vendor element (``LogFileCleared``, ``EventXML``...) whose children are the fields."""
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise field_error(path, "an object", node, source_format=FORMAT)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "#attributes" or key.startswith("@"):
            continue
        if isinstance(value, dict):
            out.update(_data_fields(value, f"{path}.{key}"))
        else:
            out[key] = value
    return out


def parse(doc: dict[str, Any], *, raw_sha256: str, origin: Origin) -> dict[str, Any]:
    event = req_obj(doc, "Event", "Event", FORMAT)
    system = req_obj(event, "System", "Event.System", FORMAT)
    event_id = event_id_of(system.get("EventID"), "Event.System.EventID", FORMAT)
    created = system.get("TimeCreated")
    system_time = _attrs(created).get("SystemTime") if isinstance(created, dict) else created
    if system_time is None:
        raise NormalizeError(
            "missing_field", "Event.System.TimeCreated.SystemTime: required, missing", source_format=FORMAT
        )
    time_ms = to_epoch_ms(system_time, "Event.System.TimeCreated.SystemTime")
    provider = _attrs(system.get("Provider"))
    provider_name = provider.get("Name") if isinstance(provider.get("Name"), str) else None
    channel = opt_str(system, "Channel", "Event.System.Channel", FORMAT)
    computer = opt_str(system, "Computer", "Event.System.Computer", FORMAT)
    execution = _attrs(system.get("Execution"))
    correlation = _attrs(system.get("Correlation"))
    security = _attrs(system.get("Security"))
    user_sid = security.get("UserID") if isinstance(security.get("UserID"), str) else None

    sections = [k for k in event if k not in ("System", "#attributes")]
    if sections == ["EventData"]:  # the common case: no merging needed
        data = _data_fields(event["EventData"], "Event.EventData")
    else:
        data = {}
        for key in sections:
            value = event[key]
            if key == "EventData":
                data.update(_data_fields(value, "Event.EventData"))
            elif key == "UserData":
                data.update(_user_data(value, "Event.UserData"))
            elif isinstance(value, dict):
                data.update(_data_fields(value, f"Event.{key}"))  # ProcessingErrorData, RenderingInfo

    original: dict[str, Any] = {
        "Provider_Guid": provider.get("Guid"),
        "Version": _text(system.get("Version")),
        "Level": _text(system.get("Level")),
        "Task": _text(system.get("Task")),
        "Opcode": _text(system.get("Opcode")),
        "Keywords": _text(system.get("Keywords")),
        "TimeCreated": system_time,
        "EventRecordID": _text(system.get("EventRecordID")),
        "ActivityID": correlation.get("ActivityID"),
        "RelatedActivityID": correlation.get("RelatedActivityID"),
        "ProcessID": execution.get("ProcessID"),
        "ThreadID": execution.get("ThreadID"),
        "UserID": user_sid,
    }
    original.update(data)
    stamp_system(original, data, event_id, channel, provider_name, computer)
    rec = WinRecord(
        fmt=FORMAT,
        parser_version=PARSER_VERSION,
        event_id=event_id,
        time_ms=time_ms,
        channel=channel,
        provider=provider_name,
        computer=computer,
        record_id=soft_int(_text(system.get("EventRecordID"))),
        user_sid=user_sid,
        data=data,
        original=original,
    )
    return to_draft(rec, raw_sha256=raw_sha256, origin=origin)


# The section readers, for other carriers of the same JSON rendering (Sentinel's EventData column).
data_fields = _data_fields
user_data = _user_data
