"""Every Windows event id the issue lists, through all three wrappings, maps to the right fields."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from schemas.event import Origin
from udfs.normalize.normalizer import Normalizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"
_spec = importlib.util.spec_from_file_location("windows_events", FIXTURES / "windows_events.py")
assert _spec is not None and _spec.loader is not None
windows_events = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(windows_events)

FORMAT_OF = {
    "windows_evtx.jsonl": "windows_evtx_json",
    "winlogbeat.jsonl": "winlogbeat",
    "windows_flat.jsonl": "windows_flat_json",
}
LISTED = {
    "Microsoft-Windows-Sysmon/Operational": {1, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 17, 18, 22, 23, 25},
    "Security": {
        4624,
        4625,
        4634,
        4648,
        4661,
        4662,
        4672,
        4688,
        4697,
        4698,
        4702,
        4719,
        4720,
        4722,
        4724,
        4728,
        4732,
        4738,
        4756,
        4768,
        4769,
        4771,
        4776,
        5136,
        5140,
        5145,
        5156,
        1102,
    },
    "PowerShell": {4103, 4104, 400, 800},
    "System": {7045, 7036, 104},
}


def get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def lines(name: str) -> list[bytes]:
    return (FIXTURES / name).read_bytes().splitlines()


def test_table_covers_every_listed_event_id() -> None:
    seen: dict[str, set[int]] = {k: set() for k in LISTED}
    for channel, _provider, event_id, _data, _expect in windows_events.EVENTS:
        key = "PowerShell" if "PowerShell" in channel else channel
        seen[key].add(event_id)
    assert seen == LISTED


@pytest.mark.parametrize("file_name", sorted(FORMAT_OF))
def test_fixture_files_match_the_table(file_name: str) -> None:
    # The files are what users and the CLI see; regenerate with `python tests/fixtures/normalize/windows_events.py`.
    assert (FIXTURES / file_name).read_text(encoding="utf-8") == windows_events.render(
        windows_events.WRAPPINGS[file_name]
    )


CASES = [
    pytest.param(file_name, index, id=f"{FORMAT_OF[file_name]}-{entry[0].split('/')[0][-12:]}-{entry[2]}")
    for file_name in sorted(FORMAT_OF)
    for index, entry in enumerate(windows_events.EVENTS)
]


@pytest.mark.parametrize(("file_name", "index"), CASES)
def test_listed_event_maps_key_fields(file_name: str, index: int) -> None:
    channel, provider, event_id, data, expect = windows_events.EVENTS[index]
    payload = lines(file_name)[index]
    outcome = Normalizer().normalize(payload, Origin(file=file_name, line=index + 1))
    assert outcome.dead_letter is None, outcome.dead_letter
    event = outcome.event
    assert event is not None
    assert outcome.source_format == FORMAT_OF[file_name]
    assert event["event"]["code"] == str(event_id)
    assert event["host"]["name"] == "ws-01.corp.example"
    assert event["host"]["os"]["family"] == "windows"
    assert event["timestamp_ms"] == 1714564800123 + (index // 60) * 60_000 + (index % 60) * 1000
    for path, want in expect.items():
        assert get(event, path) == want, f"{path}: {get(event, path)!r} != {want!r}"
    original = event["original"]
    # Sigma selects on these names whatever the wrapping.
    assert original["EventID"] == event_id
    assert original["Channel"] == channel
    assert original["Provider_Name"] == provider
    assert original["Computer"] == "ws-01.corp.example"
    if "Data" in data and file_name == "windows_evtx.jsonl":
        # EVTX has only the unnamed <Data> items; they are joined into one "Data" text, as Sigma expects.
        assert original.get("_untrimmed", {}).get("Data", original["Data"]) == data["Data"]
        assert original["Data"] == data["Data"].strip()
        return
    for key, value in data.items():
        # Rules match trimmed values; the value as sent stays under _untrimmed (test_normalize_real_shapes).
        assert original.get("_untrimmed", {}).get(key, original[key]) == value, key
        assert original[key] == (value.strip() if isinstance(value, str) else value), key


@pytest.mark.parametrize("file_name", sorted(FORMAT_OF))
def test_other_events_of_these_channels_normalize_generically(file_name: str) -> None:
    rows = lines(file_name)[len(windows_events.EVENTS) :]
    assert len(rows) == len(windows_events.GENERIC)
    for payload, (_channel, _provider, event_id, _data) in zip(rows, windows_events.GENERIC, strict=True):
        outcome = Normalizer().normalize(payload, Origin())
        assert outcome.event is not None, outcome.dead_letter
        assert outcome.event["event"]["code"] == str(event_id)
        assert outcome.event["event"]["type"] == ["info"]


def test_generic_event_still_extracts_common_fields() -> None:
    payload = lines("windows_evtx.jsonl")[len(windows_events.EVENTS) + 1]  # Security 4663
    event = Normalizer().normalize(payload, Origin()).event
    assert event is not None
    assert event["user"]["name"] == "alice"
    assert event["process"]["name"] == "explorer.exe"


def test_unknown_channel_falls_back_to_system_user_sid() -> None:
    doc = windows_events.evtx(
        0,
        "Microsoft-Windows-Bits-Client/Operational",
        "Microsoft-Windows-Bits-Client",
        59,
        {"transferId": "{1}", "name": "job", "url": "http://x/y"},
    )
    import orjson

    event = Normalizer().normalize(orjson.dumps(doc), Origin()).event
    assert event is not None
    assert event["user"] == {"id": "S-1-5-18", "privileged": True, "roles": []}
    assert event["event"]["module"] == "windows"


def test_fixed_format_matches_detection() -> None:
    payload = lines("winlogbeat.jsonl")[0]
    detected = Normalizer().normalize(payload, Origin())
    fixed = Normalizer("winlogbeat").normalize(payload, Origin())
    assert detected.event == fixed.event


def test_evtx_string_and_qualified_event_ids() -> None:
    import orjson

    doc = windows_events.evtx(0, *windows_events.EVENTS[0][:4])
    doc["Event"]["System"]["EventID"] = {"#attributes": {"Qualifiers": 0}, "#text": "1"}
    event = Normalizer().normalize(orjson.dumps(doc), Origin()).event
    assert event is not None and event["event"]["code"] == "1"
    doc["Event"]["System"]["EventID"] = "not-a-number"
    letter = Normalizer().normalize(orjson.dumps(doc), Origin()).dead_letter
    assert letter is not None and letter["reason"] == "schema"
    assert "Event.System.EventID" in letter["detail"]
