"""Normalize throughput per format, on one core: events/s and µs/event.

    .venv/bin/python bench/bench_normalize.py [--events N] [--repeat R] [--only FORMAT ...]

Events are generated before timing from the hand-written fixtures in ``tests/fixtures/normalize``
(each template is varied per event: pids, ports, times, command lines), serialized to the bytes a
Kafka record would carry, and normalized with ``Normalizer()`` (format detection on, as the job runs
by default). The seed's plain JSON parser is measured in the same run as the reference. The process
is pinned to one CPU where the OS allows it. Figures are the best of ``--repeat`` runs (the least
disturbed by other load); the machine's other load still shows, so compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas.event import Origin  # noqa: E402
from udfs.normalize.normalizer import Normalizer  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "normalize"


def _lines(name: str) -> list[bytes]:
    return (FIXTURES / name).read_bytes().splitlines()


def _stamp(rng: random.Random) -> str:
    clock = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    return f"2024-05-01T{clock}.{rng.randrange(10**6):06d}Z"


def _sysmon(rng: random.Random, templates: list[dict[str, Any]]) -> bytes:
    doc = orjson.loads(orjson.dumps(rng.choice(templates)))
    event = doc["Event"]
    event["System"]["TimeCreated"]["#attributes"]["SystemTime"] = _stamp(rng)
    event["System"]["EventRecordID"] = rng.randrange(10**7)
    data = event["EventData"]
    data["ProcessId"] = str(rng.randrange(100, 65000))
    if "CommandLine" in data:
        data["CommandLine"] = f"powershell.exe -nop -c Get-Item C:\\Users\\u{rng.randrange(10**6)}"
    if "SourcePort" in data:
        data["SourcePort"] = str(rng.randrange(1024, 65535))
    return orjson.dumps(doc)


def _vary_json(rng: random.Random, template: bytes, time_key: tuple[str, ...], value: Callable[[], Any]) -> bytes:
    doc = orjson.loads(template)
    node = doc
    for key in time_key[:-1]:
        node = node[key]
    node[time_key[-1]] = value()
    return orjson.dumps(doc)


def generators() -> dict[str, Callable[[random.Random], bytes]]:
    evtx = [orjson.loads(line) for line in _lines("windows_evtx.jsonl")]
    sysmon = [d for d in evtx if d["Event"]["System"]["Channel"].endswith("Sysmon/Operational")]
    sysmon_common = [d for d in sysmon if d["Event"]["System"]["EventID"] in (1, 3, 11, 13)]
    beat = _lines("winlogbeat.jsonl")[17]  # Security 4624
    flat = _lines("windows_flat.jsonl")[24]  # Security 4688
    zeek = _lines("zeek.jsonl")[0]
    suricata = _lines("suricata.jsonl")[0]
    okta = _lines("okta.jsonl")[0]
    entra = _lines("entra_id.jsonl")[0]
    cloudtrail = _lines("cloudtrail.jsonl")[0]
    auditd = _lines("auditd.log")[0].decode()
    sysmon_linux = _lines("sysmon_linux.log")[0].decode()
    plain = _lines("plain_json.jsonl")[0]

    def epoch(rng: random.Random) -> float:
        return 1714564800 + rng.random() * 86400

    return {
        "plain_json (reference)": lambda r: _vary_json(r, plain, ("timestamp",), lambda: _stamp(r)),
        "sysmon evtx (1/3/11/13)": lambda r: _sysmon(r, sysmon_common),
        "sysmon evtx (all ids)": lambda r: _sysmon(r, sysmon),
        "winlogbeat 4624": lambda r: _vary_json(r, beat, ("@timestamp",), lambda: _stamp(r)),
        "nxlog flat 4688": lambda r: _vary_json(r, flat, ("TimeCreated",), lambda: _stamp(r)),
        "zeek conn": lambda r: _vary_json(r, zeek, ("ts",), lambda: epoch(r)),
        "suricata alert": lambda r: _vary_json(r, suricata, ("timestamp",), lambda: _stamp(r)),
        "okta": lambda r: _vary_json(r, okta, ("published",), lambda: _stamp(r)),
        "entra sign-in": lambda r: _vary_json(r, entra, ("time",), lambda: _stamp(r)),
        "cloudtrail": lambda r: _vary_json(r, cloudtrail, ("eventTime",), lambda: _stamp(r)),
        "auditd line": lambda r: auditd.replace("1714564800.123", f"{epoch(r):.3f}").encode(),
        "sysmon linux syslog": lambda r: sysmon_linux.replace("2024-05-01T12:00:00.123456000Z", _stamp(r)).encode(),
    }


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def measure(payloads: list[bytes], repeat: int) -> tuple[float, int]:
    normalizer = Normalizer()
    origin = Origin(topic="bench", partition=0, offset=0)
    for payload in payloads[:200]:  # warm caches and lazy imports
        normalizer.normalize(payload, origin)
    best = float("inf")
    dead = 0
    for _ in range(repeat):
        dead = 0
        started = time.perf_counter()
        for payload in payloads:
            if normalizer.normalize(payload, origin).event is None:
                dead += 1
        best = min(best, time.perf_counter() - started)
    return best, dead


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per format (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per format; best counts")
    parser.add_argument("--only", nargs="*", help="substrings of the format rows to run")
    args = parser.parse_args(argv)
    pinned = pin_one_core()
    rng = random.Random(7)
    rows = []
    for name, make in generators().items():
        if args.only and not any(part in name for part in args.only):
            continue
        payloads = [make(rng) for _ in range(args.events)]
        size = sum(map(len, payloads)) / len(payloads)
        seconds, dead = measure(payloads, args.repeat)
        if dead:
            print(f"warning: {name}: {dead} generated events were dead-lettered", file=sys.stderr)
        rows.append((name, size, args.events / seconds, seconds / args.events * 1e6))
    print(
        f"normalize throughput, {args.events} events per format, best of {args.repeat}, {pinned}, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"{'format':<26} {'bytes/ev':>9} {'events/s':>11} {'µs/event':>9}")
    for name, size, rate, micros in rows:
        print(f"{name:<26} {size:>9.0f} {rate:>11,.0f} {micros:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
