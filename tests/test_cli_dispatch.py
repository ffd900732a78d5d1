"""The ``hushroom`` dispatcher: help, unknown commands, clear one-line errors."""

from __future__ import annotations

import pytest

from client import cli


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: hushroom" in capsys.readouterr().out


def test_unknown_command_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hushroom: error: argument COMMAND: invalid choice: 'frobnicate'")
    assert err.count("\n") == 1


def test_bench_without_kind_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hushroom: error: choose a benchmark")
    assert "Traceback" not in err
