"""The ``change_window`` factor (docs/scoring.md): a hit or alert on a host or user inside an approved
change window (a ticket) weighs 0.7 and names the ticket; outside it, or partly outside, neutral."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.assets import ChangeWindow
from udfs.link.inventory import load_inventory
from udfs.rulefile import RuleFileError
from udfs.score import Scorer, factors

START, END = 1_777_672_800_000, 1_777_680_000_000  # 2026-05-01 22:00 to 2026-05-02 00:00 UTC
INVENTORY = f"""kind: asset_inventory
assets:
  - name: srv-db-01
    role: database_server
identities:
  - user: alice
    aliases: [alice@corp.example]
change_windows:
  - host: SRV-DB-01
    start: 2026-05-01T22:00:00Z
    end: "2026-05-02T00:00:00+00:00"
    ticket: CHG0012345
    reason: database patching
  - user: alice@corp.example
    start: {START}
    end: {END}
    ticket: CHG0099999
"""


@pytest.fixture
def scorer(tmp_path: Path) -> Scorer:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    return Scorer(load_inventory(path))


def hit(host: str | None, ts: int, user: str | None = None) -> dict[str, Any]:
    return {"rule_id": "r", "level": "high", "techniques": ["T1569.002"], "tactics": ["execution"], "host": host,
            "user": user, "timestamp_ms": ts, "event": {"id": f"e{ts}"}}


def change(severity: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in severity["factors"] if f["name"] == "change_window")


def test_inside_a_window_lowers_and_names_the_ticket(scorer: Scorer) -> None:
    f = change(scorer.hit(hit("srv-db-01.corp.example", START + 60_000)))
    assert f["weight"] == factors.CHANGE_WINDOW == 0.7
    assert "CHG0012345" in f["reason"] and "database patching" in f["reason"]
    assert "2026-05-01 22:00 UTC" in f["reason"]


def test_the_bounds_are_inside_and_a_millisecond_beyond_is_not(scorer: Scorer) -> None:
    assert change(scorer.hit(hit("srv-db-01", START)))["weight"] == 0.7
    assert change(scorer.hit(hit("srv-db-01", END)))["weight"] == 0.7
    outside = change(scorer.hit(hit("srv-db-01", END + 1)))
    assert outside["weight"] == 1.0 and "outside" in outside["reason"] and "CHG0012345" in outside["reason"]


def test_a_user_window_covers_the_user_on_any_host(scorer: Scorer) -> None:
    f = change(scorer.hit(hit("ws-9", START + 1, user="ALICE@corp.example")))
    assert f["weight"] == 0.7 and "CHG0099999" in f["reason"] and "alice" in f["reason"]


def test_no_window_is_neutral_and_says_so(scorer: Scorer) -> None:
    f = change(scorer.hit(hit("ws-9", START)))
    assert f == {"name": "change_window", "weight": 1.0,
                 "reason": "no change window recorded for the host or user: neutral"}
    assert change(Scorer().hit(hit("srv-db-01", START)))["weight"] == 1.0, "no inventory: neutral"


def _evidence(host: str, ts: int) -> dict[str, Any]:
    return {"step": "a", "timestamp_ms": ts, "event_id": f"e{ts}", "raw_sha256": "0" * 16, "rule_id": "r",
            "techniques": ["T1569.002"], "tactics": ["execution"], "host": host}


def _draft(*evidence: dict[str, Any]) -> dict[str, Any]:
    return {"alert_id": "a1", "rule_id": "c", "rule_title": "t", "rule_level": "high", "group_by": "host",
            "entity": "srv-db-01", "first_ms": evidence[0]["timestamp_ms"], "last_ms": evidence[-1]["timestamp_ms"],
            "evidence": list(evidence)}


def test_an_alert_is_lowered_only_when_all_its_evidence_is_inside(scorer: Scorer) -> None:
    inside = scorer.alert(_draft(_evidence("srv-db-01", START + 1), _evidence("srv-db-01", START + 2)))
    assert change(inside["severity"])["weight"] == 0.7
    partly = scorer.alert(_draft(_evidence("srv-db-01", START + 1), _evidence("srv-db-01", END + 60_000)))
    f = change(partly["severity"])
    assert f["weight"] == 1.0 and "covers part of the evidence" in f["reason"]


@pytest.mark.parametrize(("doc", "message"), [
    ({"host": "h", "start": 0, "end": 10}, "ticket"),
    ({"host": "h", "user": "u", "start": 0, "end": 10, "ticket": "T"}, "exactly one of host or user"),
    ({"start": 0, "end": 10, "ticket": "T"}, "exactly one of host or user"),
    ({"host": "h", "start": 10, "end": 10, "ticket": "T"}, "end after start"),
    ({"host": "h", "start": "yesterday", "end": 10, "ticket": "T"}, "ISO 8601"),
])
def test_a_bad_window_says_what_was_expected(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ChangeWindow.model_validate(doc)


def test_a_bad_window_in_a_file_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("kind: asset_inventory\nchange_windows:\n  - host: h\n    start: 0\n    end: 10\n")
    with pytest.raises(RuleFileError, match="ticket") as err:
        load_inventory(path)
    assert str(path) in str(err.value)


def test_naive_times_are_utc() -> None:
    window = ChangeWindow.model_validate({"host": "h", "start": "2026-05-01T22:00:00", "end": END, "ticket": "T"})
    assert window.start == START and window.window_id() == "T|h"
