"""The ``fundarb`` command: help and validation (the demo runs in tests/test_demo.py)."""

from __future__ import annotations

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
    assert "--days" in out
    assert "three simulated venues" in out
    assert "HTML report" in out


def test_run_help_describes_the_kill_switch(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])

    out = capsys.readouterr().out
    assert "--config" in out
    assert "SIGUSR1" in out
    assert "kill_switch_file" in out


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--days", "0"],
        ["demo", "--days", "-1"],
        ["demo", "--days", "abc"],
        ["demo", "--days", "inf"],
        ["run"],
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
