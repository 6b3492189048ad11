"""`ttpflow normalize` over every real sample and every fixture: no record goes unrecognized.

"Unrecognized" is a record no format claims (the summary's ``undetected`` row: ``unknown_format``,
``not_json``...). A record a format claims and then rejects for a reason (a placeholder time) is a
dead letter of that format, which test_normalize_samples.py pins per file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from jobs.cli import main
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer
from udfs.normalize.stats import UNDETECTED

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"
TELEMETRY_SUFFIXES = (".jsonl", ".json", ".log")
# Not telemetry: the folder docs and licence texts, the Panther fixtures' path lists, and the
# samples' own catalogue (index.jsonl at the top). The honey-bucket CSV export (Python-dict cells
# under a header row) is no format of the issue; reading it needs a header-aware file reader.
NOT_TELEMETRY = ("SOURCES.md", ".paths.txt", ".csv", ".md", ".txt")


def sample_files() -> list[Path]:
    return sorted(
        p
        for p in SAMPLES.glob("*/*")
        if p.is_file() and p.parent.name != "LICENSES" and not p.name.endswith(NOT_TELEMETRY)
    )


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.suffix in TELEMETRY_SUFFIXES)


def unrecognized(paths: list[Path]) -> Counter[str]:
    normalizer = Normalizer()
    found: Counter[str] = Counter()
    for path in paths:
        for payload, origin in iter_records(path):
            outcome = normalizer.normalize(payload, origin)
            if outcome.source_format is None:
                found[f"{path.name}:{origin.line}: {outcome.dead_letter['detail'][:80]}"] += 1  # type: ignore[index]
    return found


def test_every_fixture_record_is_recognized() -> None:
    files = fixture_files()
    assert len(files) >= 20
    assert unrecognized(files) == Counter()


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")
def test_every_sample_record_is_recognized() -> None:
    files = sample_files()
    assert len(files) > 150
    assert unrecognized(files) == Counter()


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")
def test_ttpflow_normalize_over_samples_and_fixtures_has_no_undetected_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [str(p) for p in (*sample_files(), *fixture_files())]
    assert main(["normalize", *paths, "--dead-letter", str(tmp_path / "dead.jsonl")]) == 0
    summary = capsys.readouterr().err
    rows = {line.split()[0]: line.split()[1:] for line in summary.splitlines() if line and line[0].isalpha()}
    assert UNDETECTED not in rows, summary
    for fmt in ("sentinel", "m365", "auditd_json", "cloudtrail", "sysmon_linux", "auditd"):
        assert fmt in rows, summary
    total = rows["total"]
    assert int(total[0]) > 10_000 and int(total[1]) >= int(total[0]) - 6  # 6: the samples' placeholder times
