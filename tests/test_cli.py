"""The ``fundarb`` command: help, validation, and the demo through the real entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fundarb.cli import main


def test_help_explains_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out
    assert "simulated" in out


def test_demo_help_describes_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])

    out = capsys.readouterr().out
    assert "--minutes" in out
    assert "leaves no order and no position open" in out


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--minutes", "0"],
        ["demo", "--speed", "-1"],
        ["demo", "--quantity", "abc"],
        ["demo", "--minutes", "inf"],
        ["nonsense"],
    ],
)
def test_bad_arguments_exit_with_a_message(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)

    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_demo_runs_from_the_command_line() -> None:
    # as a user runs it, in its own process on a real loop: a short view at high speed
    done = subprocess.run(
        [sys.executable, "-m", "fundarb", "demo", "--minutes", "0.2", "--speed", "200"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "open orders: 0" in done.stdout
