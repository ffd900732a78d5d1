"""Local secrets: the invite off the command line, private modes under any umask."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import free_port, invite_for, one_error_line

from client import cli
from client.audio.sinks import WavSink
from client.identity_store import IdentityStore
from client.invite_input import INVITE_ENV, MAX_INVITE_INPUT


def wrapped(link: str, width: int = 37) -> str:
    """The link as copied from a terminal that wrapped it: breaks and indentation."""
    return "\n  ".join(link[i : i + width] for i in range(0, len(link), width)) + "\n"


@pytest.fixture(autouse=True)
def no_invite_in_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(INVITE_ENV, raising=False)
    yield


def join(home: Path, *extra: str) -> list[str]:
    return ["join", *extra, "--home", str(home), "--plain", "--duration", "1"]


# A valid invite for a port where nothing listens: reading and parsing succeeded
# when the client gets as far as trying the relay.
REACHED_RELAY = "cannot reach relay"


def test_invite_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "invite.txt"
    path.write_text(invite_for(free_port()) + "\n")
    assert cli.main(join(tmp_path, "--invite-file", str(path))) == 1
    assert REACHED_RELAY in one_error_line(capsys)


def test_invite_wrapped_by_the_terminal_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "invite.txt"
    path.write_text(wrapped(invite_for(free_port())))
    assert cli.main(join(tmp_path, "--invite-file", str(path))) == 1
    assert REACHED_RELAY in one_error_line(capsys)
    # Pasted as one argument with a line break inside, too.
    assert cli.main(join(tmp_path, wrapped(invite_for(free_port())))) == 1
    assert REACHED_RELAY in one_error_line(capsys)


def test_invite_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INVITE_ENV, invite_for(free_port()))
    assert cli.main(join(tmp_path)) == 1
    assert REACHED_RELAY in one_error_line(capsys)


@pytest.mark.parametrize("how", [["-"], ["--invite-file", "-"]], ids=["dash", "invite-file-dash"])
def test_invite_from_standard_input(
    how: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(wrapped(invite_for(free_port())) + "\nhand\n"))
    assert cli.main(join(tmp_path, *how)) == 1
    assert REACHED_RELAY in one_error_line(capsys)
    assert sys.stdin.readline() == "hand\n"  # commands after the empty line are left unread


def test_invite_from_standard_input_of_the_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "client.cli", *join(tmp_path, "-")],
        input=invite_for(free_port()) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != INVITE_ENV},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert REACHED_RELAY in proc.stderr


@pytest.mark.parametrize(
    ("argv_tail", "stdin", "message"),
    [
        ([], "", "no invite: give --invite-file"),
        (["-"], "\n", "no invite link in standard input"),
        (["-"], "hushroom://127.0.0.1:1/#abc\n", "bad invite link"),
        (["--invite-file", "/no/such/invite"], "", "cannot read the invite from /no/such/invite"),
        (["hushroom://x", "--invite-file", "-"], "", "either INVITE or --invite-file"),
    ],
    ids=["none", "empty-stdin", "garbage", "missing-file", "two-sources"],
)
def test_bad_invite_input_is_one_line(
    argv_tail: list[str],
    stdin: str,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert cli.main(join(tmp_path, *argv_tail)) != 0
    assert message in one_error_line(capsys)


@pytest.mark.parametrize("source", ["file", "stdin"])
@pytest.mark.parametrize("extra", [0, 1], ids=["at-the-bound", "one-over"])
def test_invite_input_is_bounded(
    source: str,
    extra: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link = invite_for(free_port())
    text = link + " " * (MAX_INVITE_INPUT - len(link) - 1 + extra) + "\n"  # newline included
    assert len(text) == MAX_INVITE_INPUT + extra
    if source == "file":
        path = tmp_path / "invite.txt"
        path.write_text(text)
        argv = join(tmp_path, "--invite-file", str(path))
    else:
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        argv = join(tmp_path, "-")
    assert cli.main(argv) == 1
    line = one_error_line(capsys)
    assert (f"longer than {MAX_INVITE_INPUT}" in line) == bool(extra)
    assert (REACHED_RELAY in line) == (not extra)


def test_help_says_which_invite_source_to_prefer(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["join", "--help"], ["bot", "welcome", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        out = " ".join(capsys.readouterr().out.split())
        assert "prefer --invite-file" in out
        assert INVITE_ENV in out


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_home_and_its_parents_are_private_under_umask_000(tmp_path: Path, umask_000: None) -> None:
    home = tmp_path / "a" / "b" / "home"
    store = IdentityStore(home)
    store.load_or_create()
    for folder in (tmp_path / "a", tmp_path / "a" / "b", home):
        assert mode(folder) == 0o700, folder
    assert mode(store.path) == 0o600
    assert mode(tmp_path) == stat.S_IMODE(tmp_path.stat().st_mode)  # an existing parent: untouched


def test_home_parents_are_private_through_the_cli(
    tmp_path: Path, umask_000: None, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "x" / "home"
    assert cli.main(["id", "--home", str(home)]) == 0
    assert (mode(tmp_path / "x"), mode(home)) == (0o700, 0o700)
    assert all(mode(p) == 0o600 for p in home.iterdir() if p.is_file())


def test_recordings_are_private_under_umask_000(tmp_path: Path, umask_000: None) -> None:
    path = tmp_path / "rec" / "room.wav"
    with WavSink(path):
        pass
    assert (mode(tmp_path / "rec"), mode(path)) == (0o700, 0o600)
