"""The asset inventory and identity directory from files: YAML, JSON, CSV, or a directory of them;
older files load unchanged; criticality words map to the 0..10 scale, in the inventory and in the
seed's plain JSON records; every problem names file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.assets import CRITICALITY_WORDS, criticality_value
from schemas.event import Origin
from udfs.link.inventory import AssetContext, IdentityContext, load_inventory
from udfs.normalize.normalizer import Normalizer
from udfs.rulefile import RuleFileError

ROOT = Path(__file__).resolve().parents[2]
# The bundled sample as it was before context fields existed: it must load as it did.
VERSION_1 = """kind: asset_inventory
assets:
  - name: srv-dc-01
    aliases: [SRV-DC-01.corp.example]
    ips: [10.20.0.5]
    criticality: 10
    owner: it-infrastructure
    tags: [domain-controller, tier0]
identities:
  - user: admin.k
    aliases: [admin.k@corp.example, CORP\\admin.k]
    privileged: true
"""


def test_a_version_1_inventory_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(VERSION_1)
    index = load_inventory(path)
    assert index.criticality == {"srv-dc-01": 10}
    assert index.host_of_ip == {"10.20.0.5": "srv-dc-01"}
    assert index.user("CORP\\admin.k") == "admin.k"
    assert index.assets["srv-dc-01"] == AssetContext(name="srv-dc-01", criticality=10, owner="it-infrastructure")
    assert index.identities["admin.k"] == IdentityContext(user="admin.k", tier="tier1")  # privileged, no tier


def test_the_bundled_sample_carries_context() -> None:
    index = load_inventory(ROOT / "rules" / "assets" / "inventory.yaml")
    dc, fin = index.assets["srv-dc-01"], index.assets["ws-finance-07"]
    assert (dc.role, dc.data_sensitivity, dc.environment) == ("domain_controller", ("crown_jewel",), "prod")
    assert (fin.criticality, fin.data_sensitivity) == (8, ("pci",))  # "high"
    assert index.identities["admin.k"].tier == "tier0"
    assert index.identities["j.doe"].usual_countries == frozenset({"US"})


def test_json_loads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text(json.dumps({"kind": "asset_inventory", "assets": [
        {"name": "Web-01.corp.example", "role": "Web Server", "internet_facing": True, "criticality": "High"}]}))
    index = load_inventory(path)
    assert index.assets["web-01"] == AssetContext(name="web-01", role="web_server", criticality=8, internet_facing=True)


def test_csv_hosts_and_identities_in_one_directory() -> None:
    index = load_inventory(ROOT / "tests" / "fixtures" / "scoring" / "assets")
    assert index.host("SRV-DC-02.corp.example") == "srv-dc-02"
    assert index.host_of_ip["10.40.0.5"] == "srv-dc-02"
    dc = index.assets["srv-dc-02"]
    assert (dc.criticality, dc.role, dc.internet_facing, dc.data_sensitivity) == \
        (10, "domain_controller", False, ("crown_jewel",))
    assert index.assets["dev-ws-01"].data_sensitivity == ()  # an empty cell: none recorded
    assert index.identities["p.dev"].usual_hosts == frozenset({"dev-ws-01"})
    assert index.user("p.dev@corp.example") == "p.dev"


def test_csv_identities(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("user,aliases,privilege_tier,service_account,mfa_enrolled,usual_countries\n"
                    "svc_backup,CORP\\svc_backup;svc_backup@corp.example,1,yes,no,US;de\n\n")
    ident = load_inventory(path).identities["svc_backup"]
    assert ident == IdentityContext(user="svc_backup", tier="tier1", service_account=True, mfa_enrolled=False,
                                    usual_countries=frozenset({"US", "DE"}))


@pytest.mark.parametrize(("text", "where", "words"), [
    ("name,criticality\nws-1,5\nws-2,extreme\n", ":3: field criticality", "low, medium, high, critical"),
    ("name,colour\nws-1,blue\n", ":1: field colour", "unknown column 'colour'"),
    ("host,criticality\nws-1,5\n", ":1", "a 'name' column"),
    ("name,ips\nws-1,10.0.0.1;10.0.0.300\n", ":2: field ips", "IPv4"),
    ("user,privilege_tier\nann,tier7\n", ":2: field privilege_tier", "tier0"),
    ("name,role\nws-1,a,b\n", ":2", "3 cells for 2 columns"),
])
def test_csv_problems_name_file_line_and_field(tmp_path: Path, text: str, where: str, words: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(RuleFileError) as err:
        load_inventory(path)
    assert str(err.value).startswith(f"{path}{where}") and words in str(err.value), str(err.value)


def test_yaml_problems_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("kind: asset_inventory\nassets:\n  - name: a\n    criticality: huge\n")
    with pytest.raises(RuleFileError, match=rf"{path}:4: field assets.0.criticality: .*low, medium, high, critical"):
        load_inventory(path)


def test_a_directory_merges_and_an_address_has_one_owner(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("name,ips\nws-1,10.0.0.1\n")
    (tmp_path / "b.yaml").write_text("kind: asset_inventory\nassets:\n  - name: ws-2\n    ips: [10.0.0.2]\n")
    (tmp_path / "notes.txt").write_text("not an inventory")
    assert load_inventory(tmp_path).host_of_ip == {"10.0.0.1": "ws-1", "10.0.0.2": "ws-2"}
    (tmp_path / "c.json").write_text('{"kind": "asset_inventory", "assets": [{"name": "ws-3", "ips": ["10.0.0.1"]}]}')
    with pytest.raises(RuleFileError, match=r"c.json: field ips: ip 10.0.0.1 is listed for both ws-1 and ws-3"):
        load_inventory(tmp_path)


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="no inventory files"):
        load_inventory(tmp_path)


# -- criticality words ---------------------------------------------------------------------------

def test_criticality_words_map_to_the_scale() -> None:
    assert {w: criticality_value(w) for w in ("low", "Medium", " HIGH ", "critical")} == \
        {"low": 2, "Medium": 5, " HIGH ": 8, "critical": 10}
    assert criticality_value("7") == 7


@given(st.one_of(st.integers(), st.text(max_size=12), st.booleans(), st.none(), st.floats()))
def test_criticality_is_0_to_10_or_refused(value: object) -> None:
    try:
        got = criticality_value(value)
    except ValueError as exc:
        assert "low, medium, high, critical" in str(exc)
        assert not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10)
        assert not (isinstance(value, str) and value.strip().lower() in CRITICALITY_WORDS)
    else:
        assert 0 <= got <= 10


def _normalize(record: dict[str, object]) -> dict[str, object]:
    outcome = Normalizer("plain_json").normalize(orjson.dumps(record), Origin(file="t", line=1))
    return outcome.event if outcome.event is not None else {"dead": outcome.dead_letter}  # type: ignore[return-value]


def test_the_seeds_own_record_with_a_criticality_word_normalizes() -> None:
    record = {"event_id": "e1", "timestamp": "2024-05-01T10:00:00Z", "host": "ws-finance-07", "user": "j.doe",
              "process_name": "powershell.exe", "src_ip": "10.20.4.17", "dest_ip": "10.20.0.5",
              "asset_criticality": "high"}
    assert _normalize(record)["host"]["criticality"] == 8  # type: ignore[index]
    assert _normalize({**record, "asset_criticality": 3})["host"]["criticality"] == 3  # type: ignore[index]


@pytest.mark.parametrize("bad", ["extreme", 11, True, 2.5])
def test_a_criticality_off_the_scale_is_dead_lettered(bad: object) -> None:
    record = {"event_id": "e1", "timestamp": "2024-05-01T10:00:00Z", "host": "h", "asset_criticality": bad}
    letter = _normalize(record)["dead"]
    assert letter["reason"] == "schema" and "asset_criticality" in letter["detail"], letter  # type: ignore[index]
