"""The client commands' help and their one-line errors (never a traceback)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import free_port, invite_for, missing_audio_part, one_error_line

from client import cli

COMMAND_LINES = [
    ["join", "--help"],
    ["room", "create", "--help"],
    ["room", "--help"],
    ["demo", "--help"],
    ["bot", "welcome", "--help"],
    ["id", "--help"],
    ["bench", "join", "--help"],
]


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=lambda a: " ".join(a))
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: hushroom" in out
    if argv[0] != "bench":
        assert "examples:" in out


def test_top_level_help_names_every_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    from client.bench.cli import BENCHES

    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    words = capsys.readouterr().out.split()
    summary = words[words.index("bench") + 1 : words.index("options:")]
    for kind in BENCHES:
        assert kind in " ".join(summary).replace(",", " ").split()


def test_bad_invite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["join", "hushroom://nope", "--home", str(tmp_path)]) == 1
    assert "bad invite link" in one_error_line(capsys)


def test_relay_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["join", invite_for(free_port()), "--home", str(tmp_path), "--plain"]
    assert cli.main(argv) == 1
    assert "cannot reach" in one_error_line(capsys)


def test_unreadable_audio_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["join", invite_for(free_port()), "--home", str(tmp_path), "--speak", "/no/such.ogg"]
    assert cli.main(argv) == 1
    assert "/no/such.ogg" in one_error_line(capsys)


def test_no_audio_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["join", invite_for(free_port()), "--home", str(tmp_path), "--mic"]
    missing = missing_audio_part()
    assert cli.main(argv) == 1
    assert missing in one_error_line(capsys)
    argv = ["join", invite_for(free_port()), "--home", str(tmp_path), "--play", "--plain"]
    assert cli.main(argv) == 1
    assert missing in one_error_line(capsys)


def test_room_create_needs_a_valid_pin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["room", "create", "--relay", "127.0.0.1:7443", "--home", str(tmp_path)]
    assert cli.main(argv) == 1
    assert "--pin" in one_error_line(capsys)
    assert cli.main([*argv, "--pin", "xyz"]) == 1
    assert "bad --pin" in one_error_line(capsys)
    assert cli.main(["room", "create", "--relay", "nohost", "--pin", "x"]) == 1
    assert "HOST:PORT" in one_error_line(capsys)


@pytest.fixture
def relay_process(tmp_path: Path) -> Iterator[tuple[int, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "client",
            "relay",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp_path / "relay"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        # "hushroom relay listening on HOST:PORT pin PIN"
        words = line.split()
        port = int(words[4].rpartition(":")[2])
        yield port, words[6]
    finally:
        proc.terminate()
        proc.wait(10)


def test_wrong_pin(
    relay_process: tuple[int, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, _pin = relay_process
    argv = ["join", invite_for(port, bytes(32)), "--home", str(tmp_path), "--plain"]
    assert cli.main(argv) == 1
    assert "does not match the invite's pin" in one_error_line(capsys)


def test_detach_prints_invite_and_join_with_same_identity_opens_the_room(
    relay_process: tuple[int, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, pin = relay_process
    home = str(tmp_path / "mod")
    argv = ["room", "create", "--relay", f"127.0.0.1:{port}", f"--pin={pin}", "--home", home]
    assert cli.main([*argv, "--detach", "--policy", "knock"]) == 0
    invite_file = tmp_path / "invite.txt"
    invite_file.write_text(capsys.readouterr().out)  # what '--detach > invite.txt' writes
    assert invite_file.read_text().startswith("hushroom://127.0.0.1:")
    join = ["join", "--invite-file", str(invite_file), "--home", home, "--plain"]
    status = cli.main([*join, "--duration", "1.0"])
    out = capsys.readouterr().out
    assert status == 0
    assert "room safety code" in out
    assert "nobody is in the room: opening it as its founder" in out


class Proc:
    """A running ``hushroom`` command: lines of its stdout, commands to its stdin."""

    def __init__(self, *argv: str) -> None:
        import queue
        import threading

        self.p = subprocess.Popen(
            [sys.executable, "-m", "client", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []

        def pump() -> None:
            assert self.p.stdout is not None
            for line in self.p.stdout:
                self.lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def expect(self, text: str, timeout: float = 10.0) -> str:
        import queue
        import time

        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                if text in line:
                    self.seen.remove(line)
                    return line
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} in output:\n{''.join(self.seen)}") from None
            self.seen.append(line)

    def send(self, command: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(command + "\n")
        self.p.stdin.flush()

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.terminate()
        return self.p.wait(10)


def test_scripted_room_over_stdin(relay_process: tuple[int, str], tmp_path: Path) -> None:
    port, pin = relay_process
    mod = Proc(
        "room",
        "create",
        "--relay",
        f"127.0.0.1:{port}",
        f"--pin={pin}",
        "--name",
        "Alice",
        "--home",
        str(tmp_path / "a"),
        "--plain",
    )
    eve = bot = None
    try:
        invite = mod.expect("invite:").split()[1]
        mod.expect("room safety code")
        bot = Proc("bot", "welcome", invite, "--name", "Greeter", "--home", str(tmp_path / "b"))
        bot.expect("in the room")
        mod.expect("raised hands: Greeter")  # the bot asks to speak
        mod.send("invite Greeter")
        bot.expect("you are now a speaker")  # and accepts by itself
        eve = Proc(
            "join",
            invite,
            "--name",
            "Eve",
            "--home",
            str(tmp_path / "e"),
            "--plain",
            "--tone",
            "--record",
            str(tmp_path / "eve.wav"),
        )
        eve.expect("in the room")
        eve.send("hand")
        mod.expect("raised hands: Eve")
        mod.send("invite Eve")
        eve.expect("you are invited to speak")
        eve.send("accept")
        eve.expect("you are now a speaker")
        mod.expect("Eve is now a speaker")
        bot.expect("welcoming Eve to the stage")
        mod.send("chat hello Eve")
        eve.expect("chat Alice: hello Eve")
        bot.p.send_signal(signal.SIGINT)  # Ctrl-C: the bot says goodbye and exits
        mod.expect("Greeter left")
        assert bot.p.wait(10) == 0
        mod.send("end")
        eve.expect("the room has ended")
        assert eve.p.wait(10) == 0
        assert mod.p.wait(10) == 0
    finally:
        mod.stop()
        if bot is not None:
            bot.stop()
        if eve is not None:
            eve.stop()


def test_bench_join_reports_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    status = cli.main(["bench", "join", "--json", "--runs", "1"])
    result = json.loads(capsys.readouterr().out)
    assert status in (0, 1)  # 1 = over the goal: timing is the bench's business, not a test's
    assert set(result) >= {
        "join_to_first_audio_ms",
        "join_to_first_playout_ms",
        "relay_restart_to_audio_ms",
    }
    assert 0 < result["join_to_first_audio_ms"] <= result["join_to_first_playout_ms"]


def test_two_clients_with_one_home_and_a_json_client(
    relay_process: tuple[int, str], tmp_path: Path
) -> None:
    """Two joins with one identity (the README's old mistake): the first exits 4; --json."""
    import json

    port, pin = relay_process
    home = ("--home", str(tmp_path / "a"))
    mod = Proc("room", "create", "--relay", f"127.0.0.1:{port}", f"--pin={pin}", *home, "--plain")
    procs = [mod]
    try:
        invite = mod.expect("invite:").split()[1]
        shared = ("--home", str(tmp_path / "carol"), "--plain")
        first = Proc("join", invite, "--name", "Carol", *shared)
        procs.append(first)
        first.expect("in the room")
        second = Proc("join", invite, "--name", "Carol", *shared)
        procs.append(second)
        second.expect("in the room")
        first.expect("this identity joined from another client; you were disconnected")
        assert first.p.wait(10) == 4
        bot = Proc("join", invite, "--name", "Bot", "--home", str(tmp_path / "bot"), "--json")
        procs.append(bot)
        bot.send(json.dumps({"cmd": "hand"}))  # before admission: queued, then carried out
        admitted = json.loads(bot.expect('"event": "admitted"'))
        assert admitted["role"] == "listener" and "Bot" in admitted["members"]
        mod.expect("raised hands: Bot")
        mod.send("chat hi bot")
        assert json.loads(bot.expect('"event": "chat"')) == {
            "event": "chat",
            "name": "Moderator",
            "text": "hi bot",
        }
        assert all(json.loads(line)["event"] for line in bot.seen)  # every line is an object
    finally:
        for proc in procs:
            proc.stop()


def test_ctrl_c_as_last_moderator_asks_then_leaves(
    relay_process: tuple[int, str], tmp_path: Path
) -> None:
    port, pin = relay_process
    mod = Proc(
        "room", "create", "--relay", f"127.0.0.1:{port}", f"--pin={pin}",
        "--home", str(tmp_path / "a"), "--plain",
    )  # fmt: skip
    bob = None
    try:
        invite = mod.expect("invite:").split()[1]
        bob = Proc("join", invite, "--name", "Bob", "--home", str(tmp_path / "b"), "--plain")
        mod.expect("Bob joined")
        mod.p.send_signal(signal.SIGINT)
        mod.expect("you are the last moderator: hand over to Bob ('moderator Bob'), end the room")
        mod.expect("press Ctrl-C again to leave it without a moderator")
        assert mod.p.poll() is None  # still in the room
        mod.p.send_signal(signal.SIGINT)
        assert mod.p.wait(10) == 0
    finally:
        mod.stop()
        if bob is not None:
            bob.stop()
