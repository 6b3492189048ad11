"""Argument errors print the usage of the subcommand they belong to."""

from __future__ import annotations

import pytest

from jobs.cli import main


@pytest.mark.parametrize(("argv", "usage"), [
    (["run", "--bogus"], "usage: ttpflow run"),
    (["normalize", "--nope", "x.jsonl"], "usage: ttpflow normalize"),
    (["submit", "--rest-prt", "1"], "usage: ttpflow submit"),
])
def test_an_unknown_option_prints_the_subcommands_usage(argv: list[str], usage: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith(usage) and f"unrecognized arguments: {argv[1]}" in err
