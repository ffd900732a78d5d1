"""The ``hushroom`` dispatcher: help, unknown commands, clear one-line errors."""

from __future__ import annotations

import shlex

import pytest

from client import cli
from client.commands import bot as bot_command
from client.commands import demo as demo_command
from client.commands import join as join_command
from client.commands import room as room_command
from client.render import key_help
from client.view import MemberView, RoomView


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


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"hushroom {cli.version()}"
    assert cli.version()[0].isdigit()  # the installed package's version, e.g. 0.1.0


def example_commands(text: str) -> list[list[str]]:
    """The ``hushroom ...`` command lines of a help text (no comments, no shell redirections)."""
    joined = text.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        _, found, rest = line.strip().rpartition("hushroom ")
        if found and (line.strip().startswith("hushroom ") or "| hushroom " in line):
            words = shlex.split(rest, comments=True)
            redirect = next((i for i, w in enumerate(words) if w in (">", ">>", "|")), None)
            commands.append(words[:redirect])
    return commands


HELP_TEXTS = {
    "hushroom --help": cli.EPILOG,
    "join": join_command.EXAMPLES,
    "room": room_command.EXAMPLES,
    "bot": bot_command.EXAMPLES,
    "demo": demo_command.EXAMPLES,
}


@pytest.mark.parametrize("where", HELP_TEXTS)
def test_help_examples_are_valid_command_lines(where: str) -> None:
    commands = example_commands(HELP_TEXTS[where])
    assert commands, where
    for argv in commands:
        cli.build_parser(argv[0]).parse_args(argv)  # raises CliError on a bad example
        if argv[:2] == ["room", "create"]:
            assert any(a.startswith("--pin") for a in argv), argv  # the command requires it


def test_m_ask_to_mute_is_in_the_key_strip_and_join_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    view = RoomView()
    view.set_members([MemberView("aa", "Mod", "moderator", is_me=True)])
    assert "M ask to mute" in key_help(view)
    with pytest.raises(SystemExit):
        cli.main(["join", "--help"])
    assert "M ask to mute" in capsys.readouterr().out
