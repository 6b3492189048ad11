"""Every real sample file under ../shared/samples normalizes; counts per format are reported."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from schemas.event import Event
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer
from udfs.normalize.stats import NormalizeStats

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
NOT_TELEMETRY = (".md", ".txt")
# A CSV export with Python-dict cells is not one of the formats; it is read by nothing.
UNSUPPORTED = (".csv",)
# Source records whose time field holds a placeholder: dead letters are the right answer for them.
EXPECTED_DEAD = {
    ("panther-aws-cloudtrail-tests.jsonl", "bad_timestamp"): 2,  # eventTime "redacted" and "..."
    ("panther-okta-systemlog-tests.jsonl", "bad_timestamp"): 3,  # published "redacted"
    ("go-libaudit-auparse-audit-rhel7.log", "missing_field"): 1,  # "type=UNKNOWN[1329] msg=?": no time at all
}

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent"),
]


def test_every_sample_file_normalizes() -> None:
    normalizer = Normalizer()
    stats = NormalizeStats()
    dead: Counter[tuple[str, str]] = Counter()
    files = 0
    for path in sorted(p for p in SAMPLES.glob("*/*") if p.is_file() and p.parent.name != "LICENSES"):
        if path.suffix in NOT_TELEMETRY or path.suffix in UNSUPPORTED or path.name.endswith(".paths.txt"):
            continue
        files += 1
        for payload, origin in iter_records(path):
            outcome = normalizer.normalize(payload, origin)
            stats.count(outcome)
            if outcome.dead_letter is not None:
                dead[(path.name, outcome.dead_letter["reason"])] += 1
            else:
                assert outcome.event is not None
                # what the job emits is what the model accepts, and what to_record would emit
                assert Event.model_validate(outcome.event).to_record() == outcome.event
    print(f"\nsamples: {files} files\n{stats.table()}")
    assert dict(dead) == EXPECTED_DEAD
    assert files > 150 and stats.normalized > 10_000
