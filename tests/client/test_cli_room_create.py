"""``hushroom room create``: nothing is printed until the room can exist (item 7 of issue 11).

Each test runs the real entry point against a real relay in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client import cli
from relay.wire.pin import encode_pin
from tests.client.cli_support import free_port, relay_in_thread


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[int, str]]:
    with relay_in_thread() as running:
        yield running


def error_and_stdout(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The one error line on stderr (no traceback), and everything on stdout."""
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err and len(lines) == 1, captured.err
    assert lines[0].startswith("hushroom: error: ")
    return lines[0], captured.out


def create(port: int, pin: str, home: Path, *more: str) -> list[str]:
    return [
        "room",
        "create",
        "--relay",
        f"127.0.0.1:{port}",
        f"--pin={pin}",
        "--home",
        str(home),
        *more,
    ]


@pytest.mark.parametrize("detach", [True, False])
def test_a_wrong_pin_prints_no_invite(
    detach: bool, relay: tuple[int, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, _pin = relay
    wrong = encode_pin(bytes(32))
    argv = create(port, wrong, tmp_path, "--plain", *(["--detach"] if detach else []))
    assert cli.main(argv) == 1
    line, out = error_and_stdout(capsys)
    assert "does not match the invite's pin" in line
    assert out == ""


@pytest.mark.parametrize("detach", [True, False])
def test_a_relay_that_is_down_prints_no_invite(
    detach: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = create(free_port(), encode_pin(bytes(32)), tmp_path, "--plain")
    assert cli.main([*argv, *(["--detach"] if detach else [])]) == 1
    line, out = error_and_stdout(capsys)
    assert "cannot reach the relay" in line
    assert out == ""


def test_detach_writes_just_the_link_and_join_takes_it_as_an_argument(
    relay: tuple[int, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, pin = relay
    assert cli.main(create(port, pin, tmp_path, "--detach")) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert out.startswith("hushroom://") and out.count("\n") == 1 and out.endswith("\n")
    assert "room not started" in captured.err
    invite_txt = tmp_path / "invite.txt"
    invite_txt.write_text(out)  # hushroom room create ... --detach > invite.txt
    argument = invite_txt.read_text().rstrip("\n")  # what "$(cat invite.txt)" expands to
    join = ["join", argument, "--home", str(tmp_path), "--plain", "--duration", "0.5"]
    assert cli.main(join) == 0
    joined = capsys.readouterr()
    assert "nobody is in the room: opening it as its founder" in joined.out
    assert "Traceback" not in joined.err


def test_an_audio_source_that_cannot_open_prints_no_invite(
    relay: tuple[int, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, pin = relay
    assert cli.main(create(port, pin, tmp_path, "--plain", "--speak", "/no/such.ogg")) == 1
    line, out = error_and_stdout(capsys)
    assert "/no/such.ogg" in line
    assert out == ""


@pytest.mark.parametrize("spelling", ["repeated", "comma"])
def test_several_relay_addresses_go_into_the_invite_in_order(
    spelling: str, relay: tuple[int, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, pin = relay
    down = free_port()  # a node that is down while the room is made: a note, not an error
    addresses = [f"127.0.0.1:{port}", f"127.0.0.1:{down}"]
    flags = (
        ["--relay", addresses[0], "--relay", addresses[1]]
        if spelling == "repeated"
        else ["--relay", ",".join(addresses)]
    )
    argv = ["room", "create", *flags, f"--pin={pin}", "--home", str(tmp_path), "--detach"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"hushroom://{addresses[0]},{addresses[1]}/#")
    assert f"note: cannot reach relay 127.0.0.1:{down}" in captured.err


def test_five_relay_addresses_print_no_invite(
    relay: tuple[int, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _port, pin = relay
    five = ",".join(f"127.0.0.1:{port}" for port in range(7441, 7446))
    argv = ["room", "create", "--relay", five, f"--pin={pin}", "--home", str(tmp_path)]
    assert cli.main([*argv, "--detach"]) == 1
    line, out = error_and_stdout(capsys)
    assert "1 to 4 relay addresses" in line
    assert out == ""
