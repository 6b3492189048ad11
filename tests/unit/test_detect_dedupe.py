"""Hit deduplication per (rule, entity, window): the CLI's logic, the rules that ask, the job's SQL text."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from udfs.detect.dedupe import HitDeduplicator, dedupe_key, sigma_dedupe_windows
from udfs.detect.dedupe_sql import dedupe_sql, passthrough_sql, state_ttl_ms
from udfs.detect.detector import dedupe_windows
from udfs.rulefile import RuleFileError

ROOT = Path(__file__).resolve().parents[2]
MIN = 60_000
T0 = 1_714_557_600_000  # 2024-05-01T10:00:00Z, a multiple of 10 minutes


def hit(ts: int, host: str | None = "ws-1", user: str | None = "alice", rule: str = "r",
        techniques: tuple[str, ...] = ("T1082",)) -> dict[str, Any]:
    return {"rule_id": rule, "timestamp_ms": ts, "host": host, "user": user, "techniques": list(techniques)}


def kept(dedupe: HitDeduplicator, hits: list[dict[str, Any]]) -> list[int]:
    return [i for i, h in enumerate(hits) if dedupe.keep(h)]


def test_hits_inside_a_window_collapse_and_outside_do_not() -> None:
    dedupe = HitDeduplicator({"r": 10 * MIN})
    hits = [hit(T0), hit(T0 + 1), hit(T0 + 10 * MIN - 1),  # one window [T0, T0+10m)
            hit(T0 + 10 * MIN),  # the next window starts on its first millisecond
            hit(T0 + 19 * MIN), hit(T0 + 25 * MIN), hit(T0 + 3 * MIN)]  # late arrival: its window was seen
    assert kept(dedupe, hits) == [0, 3, 5]
    assert dedupe.dropped == {"r": 4}


def test_windows_are_tumbling_not_sliding() -> None:
    # 9 minutes apart but across a window edge: both kept; 1 minute apart within one window: one.
    dedupe = HitDeduplicator({"r": 10 * MIN})
    assert kept(dedupe, [hit(T0 + 5 * MIN), hit(T0 + 14 * MIN), hit(T0 + 15 * MIN)]) == [0, 1]


def test_entity_is_the_host_else_the_user() -> None:
    dedupe = HitDeduplicator({"r": 10 * MIN})
    hits = [
        hit(T0, host="WS-1", user="alice"),
        hit(T0 + 1, host="ws-1", user="bob"),  # same host (names are case-folded), another user: same entity
        hit(T0 + 2, host="ws-2", user="alice"),  # another host
        hit(T0 + 3, host=None, user="alice"),  # no host: the user is the entity
        hit(T0 + 4, host=None, user="Alice"),
        hit(T0 + 5, host=None, user="bob"),
        hit(T0 + 6, host=None, user=None),  # nothing to tie it to: always kept
        hit(T0 + 7, host=None, user=None),
    ]
    assert kept(dedupe, hits) == [0, 2, 3, 5, 6, 7]
    assert dedupe_key(hits[3], 10 * MIN) == ("r", ("T1082",), "alice", T0)
    assert dedupe_key(hits[6], 10 * MIN) is None


def test_rules_and_map_entries_dedupe_apart_and_rules_without_a_window_never() -> None:
    dedupe = HitDeduplicator({"map:m": 10 * MIN, "r": 10 * MIN})
    hits = [hit(T0, rule="map:m", techniques=("T1059.003",)), hit(T0 + 1, rule="map:m", techniques=("T1003.001",)),
            hit(T0 + 2, rule="map:m", techniques=("T1059.003",)), hit(T0 + 3, rule="r"),
            hit(T0 + 4, rule="other"), hit(T0 + 5, rule="other")]
    assert kept(dedupe, hits) == [0, 1, 3, 4, 5]


def test_a_default_window_applies_to_rules_without_their_own() -> None:
    dedupe = HitDeduplicator({"r": MIN}, default_ms=60 * MIN)
    hits = [hit(T0, rule="r"), hit(T0 + 2 * MIN, rule="r"), hit(T0, rule="x"), hit(T0 + 30 * MIN, rule="x")]
    assert kept(dedupe, hits) == [0, 1, 2]


SIGMA = """title: Discovery with systeminfo
id: 5A0C7F9E-2B1D-4C3E-8F4A-6B7C8D9E0F1A
ttpflow.dedupe: {window}
tags: [attack.discovery, attack.t1082]
logsource: {{product: windows, category: process_creation}}
detection:
    selection:
        Image|endswith: '\\systeminfo.exe'
    condition: selection
"""


def test_sigma_rules_ask_with_a_custom_attribute(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(SIGMA.format(window="15m"))
    (tmp_path / "b.yml").write_text(SIGMA.replace("ttpflow.dedupe: {window}", "ttpflow:\n    dedupe: 1h")
                                    .replace("5A0C7F9E", "6b0c7f9e").format())
    (tmp_path / "c.yml").write_text(SIGMA.replace("ttpflow.dedupe: {window}\n", "").replace("5A0C", "7a0c").format())
    assert sigma_dedupe_windows(sorted(tmp_path.glob("*.yml"))) == {
        "5a0c7f9e-2b1d-4c3e-8f4a-6b7c8d9e0f1a": 15 * MIN,  # as the Sigma engine spells the id
        "6b0c7f9e-2b1d-4c3e-8f4a-6b7c8d9e0f1a": 60 * MIN,
    }


def test_a_bad_window_fails_at_load_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "a.yml"
    path.write_text(SIGMA.format(window="soon"))
    with pytest.raises(RuleFileError, match="expected a duration") as err:
        sigma_dedupe_windows([path])
    assert err.value.location is not None
    assert (err.value.location.line, err.value.location.field) == (3, "ttpflow.dedupe")


def test_the_windows_the_job_plans_from(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    assert dedupe_windows(rules) == {}  # the bundled packs ask for none
    (rules / "technique_maps" / "discovery.yaml").write_text(
        "kind: technique_map\nid: discovery\nfield: process.name\ndedupe: 10m\n"
        "entries:\n  - match: [hostname.exe]\n    techniques: [T1082]\n")
    extra = tmp_path / "extra.yml"
    extra.write_text(SIGMA.format(window="15m"))
    assert dedupe_windows(rules, [extra]) == {"map:discovery": 10 * MIN,
                                              "5a0c7f9e-2b1d-4c3e-8f4a-6b7c8d9e0f1a": 15 * MIN}
    assert dedupe_windows(None, [extra]) == {"5a0c7f9e-2b1d-4c3e-8f4a-6b7c8d9e0f1a": 15 * MIN}


def test_the_job_sql() -> None:
    windows = {"map:m": 10 * MIN, "r'1": MIN}
    sql = dedupe_sql(windows, "hits", ("ts", "rule_id", "tags", "rt"))
    assert "PARTITION BY rule_id, dd_key, dd_ws ORDER BY rt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW" in sql
    assert "rule_id IN ('map:m', 'r''1')" in sql
    assert "CASE rule_id WHEN 'map:m' THEN CAST(600000 AS BIGINT) WHEN 'r''1' THEN CAST(60000 AS BIGINT) END" in sql
    assert "WHERE dd_n = 1\nUNION ALL" in sql  # on time: the first per key; behind the watermark: all, untagged
    assert "CASE WHEN CARDINALITY(tags) IS NULL THEN tags END AS tags" in sql
    assert passthrough_sql(windows, "hits") == (
        "SELECT * FROM hits WHERE NOT (rule_id IN ('map:m', 'r''1')) OR COALESCE(hit_host_key, hit_user_key) IS NULL")
    assert state_ttl_ms(windows, 60_000, 0) == 2 * (10 * MIN + MIN)
