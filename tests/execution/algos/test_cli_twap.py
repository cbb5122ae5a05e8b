"""``fundarb twap``: its help explains it; a short run on simulated venues completes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fundarb.cli import main


def test_help_explains_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["twap", "--help"])

    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for words in ("atomic executor", "--deadline-policy", "--slices", "simulated", "schedule"):
        assert words in out


def test_a_short_run_completes() -> None:
    # as a user runs it, in its own process on a real loop
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fundarb",
            "twap",
            "--quantity",
            "0.2",
            "--duration",
            "4",
            "--slices",
            "2",
            "--speed",
            "2",
            "--slice-mode",
            "market_only",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # the summary on one line
    )

    assert done.returncode == 0, done.stderr
    assert "completed" in done.stdout
    assert "buy 0.200 on alpha, sell 0.200 on beta" in done.stdout


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["twap", "--slices", "0"])

    assert exit_.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err
