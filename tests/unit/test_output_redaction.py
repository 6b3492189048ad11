"""Secrets do not leave the job in its outputs: signals (and the events output) carry the event
redacted by the log rules (udfs.redact); the raw payload stays only in the dead letter;
``--keep-raw-in-signals`` keeps the event as parsed."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.cli import build_parser
from jobs.options import config_from_args
from schemas.config import JobConfig
from udfs.analyze import Analyzer
from udfs.redact import MASK, _chain, _redact_text

SECRET = "Sup3rS3cret!"
RECORD = {
    "event_id": "evt-pw", "timestamp": "2024-05-01T10:01:30Z", "host": "srv-build-02", "user": "svc_build",
    "process_name": "msbuild.exe", "attck_technique": "T1059",
    "command_line": f"login --user svc_build --password {SECRET}",
}


def _signals(config: JobConfig, record: dict[str, Any] | bytes = RECORD) -> tuple[list[str], Any]:
    payload = record if isinstance(record, bytes) else orjson.dumps(record)
    out = Analyzer(config).analyze("file", "in.jsonl", 0, 1, payload)
    return [row[-1] for row in out.rows if row[0] == "hit"], out


def test_a_password_on_a_command_line_is_redacted_in_the_signal() -> None:
    signals, _ = _signals(JobConfig())
    assert signals, "the record must hit (attck_technique) for the test to mean anything"
    for signal in signals:
        assert SECRET not in signal
        hit = orjson.loads(signal)
        assert hit["event"]["original"]["command_line"] == f"login --user svc_build --password {MASK}"
        assert hit["event"]["host"]["name"] == "srv-build-02"  # what is not a secret stays


def test_keep_raw_in_signals_keeps_it() -> None:
    signals, _ = _signals(JobConfig(keep_raw_in_signals=True))
    assert signals and all(SECRET in s for s in signals)


def test_the_events_output_is_redacted_too() -> None:
    _, out = _signals(JobConfig(emit_events=True))
    assert out.event is not None and SECRET not in out.event and MASK in out.event
    _, raw = _signals(JobConfig(emit_events=True, keep_raw_in_signals=True))
    assert raw.event is not None and SECRET in raw.event


def test_secret_keys_are_masked_and_detection_still_sees_the_raw_value() -> None:
    record = {**RECORD, "api_key": "abc123", "command_line": "mimikatz.exe sekurlsa::logonpasswords"}
    signals, _ = _signals(JobConfig(), record)
    assert signals and all("abc123" not in s for s in signals)
    assert orjson.loads(signals[0])["event"]["original"]["api_key"] == MASK


def test_the_dead_letter_keeps_the_raw_payload() -> None:
    bad = b'{"command_line": "login --password ' + SECRET.encode() + b'", broken'
    _, out = _signals(JobConfig(), bad)
    assert out.dead_letter is not None
    assert SECRET in orjson.loads(out.dead_letter)["raw"]


def test_the_flag_reaches_the_job_config() -> None:
    parser = build_parser()
    assert config_from_args(parser.parse_args(["run"])).keep_raw_in_signals is False
    assert config_from_args(parser.parse_args(["run", "--keep-raw-in-signals"])).keep_raw_in_signals is True


_FRAGMENTS = st.sampled_from([
    "password=", "token ", "pwd: ", "Authorization: ", "Bearer ", "basic ", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJh.",
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "https://u:p@h/", "sk-abcdefghijklmnopqrstuvwx", "'q v'", "\"x\"", " ", ";", "&", ",", "=", ":", "\t",
    "Yes", "abcDEF123", "a", "/", "+", "sha1=a8985d3a65e5e5c4b2d7d66d40c6dd2fb19c5436",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=12).map("".join))
def test_property_the_fast_path_redacts_as_the_pattern_chain_does(text: str) -> None:
    assert _redact_text(text) == _chain(text)
