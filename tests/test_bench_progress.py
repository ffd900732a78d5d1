"""Every bench shows its progress on stderr and keeps ``--json`` alone on stdout;
``bench fanout --relay`` loads a relay that is already running (issue 11, item 11)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from client import cli
from client.bench.progress import PLAIN_EVERY, Progress
from relay.wire.pin import encode_pin
from tests.client.cli_support import relay_in_thread


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_progress_is_one_line_per_phase_and_at_most_one_update_per_interval() -> None:
    out, now = io.StringIO(), [0.0]
    progress = Progress("x", out, clock=lambda: now[0])
    progress.phase("connecting links", "0 of 9 links up")
    progress.update("3 of 9 links up")  # too soon after the phase line: not shown
    now[0] = PLAIN_EVERY
    progress.update("6 of 9 links up")
    progress.phase("measuring")
    progress.countdown(7.2, "9 links up")
    progress.done()
    assert out.getvalue().splitlines() == [
        "bench x: connecting links — 0 of 9 links up",
        "bench x: connecting links — 6 of 9 links up",
        "bench x: measuring",
    ]


def test_terminal_progress_is_one_line_rewritten_and_cleared_at_the_end() -> None:
    out = Terminal()
    progress = Progress("x", out)
    progress.phase("measuring", "a long detail here")
    progress.countdown(3.0)
    progress.done()
    text = out.getvalue()
    assert "\n" not in text
    first, second = "bench x: measuring — a long detail here", "bench x: measuring — 3 s left"
    assert text.split("\r")[1:] == [
        first,
        second + " " * (len(first) - len(second)),  # the longer line is wiped
        " " * len(first),
        "",
    ]


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[int, str]]:
    with relay_in_thread() as running:
        yield running


def test_fanout_drives_an_existing_relay_with_progress_on_stderr(
    relay: tuple[int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    port, pin = relay
    argv = ["bench", "fanout", "--relay", f"127.0.0.1:{port}", f"--pin={pin}", "--json"]
    small = ["--speakers", "1", "--listeners", "10", "--listener-procs", "1", "--seconds", "1"]
    assert cli.main([*argv, *small]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # stdout is the JSON object alone
    assert result["relay"] == f"127.0.0.1:{port}"
    assert result["listeners"] == 10 and result["audience_samples"] > 0
    assert result["relay_cpu_pct"] is None and result["forwarded_fps"] is None  # not ours
    err = captured.err.splitlines()
    assert err[0] == f"bench fanout: checking the relay — 127.0.0.1:{port}"
    assert "bench fanout: connecting links — 0 of 11 links up" in err
    assert "bench fanout: measuring — 11 links up, 2 s left" in err
    assert err[-1] == "bench fanout: collecting results"


def test_fanout_against_a_relay_with_another_key_is_one_error_line(
    relay: tuple[int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    port, _pin = relay
    argv = ["bench", "fanout", "--relay", f"127.0.0.1:{port}", f"--pin={encode_pin(bytes(32))}"]
    assert cli.main([*argv, "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.splitlines()[-1].startswith("hushroom: error: ")


@pytest.mark.parametrize(
    ("bench", "args", "first_phase"),
    [
        ("crypto", ["--batches", "3", "--batch", "20"], "timing frame protection"),
        ("auth", ["--frames", "100", "--rounds", "1"], "stage"),
        ("room", ["--members", "30", "--samples", "2", "--batch", "10"], "building the room"),
        ("join", ["--runs", "1"], "starting a relay, a moderator and a speaker"),
    ],
)
def test_every_bench_shows_progress_on_stderr_and_only_json_on_stdout(
    bench: str, args: list[str], first_phase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["bench", bench, "--json", *args])
    captured = capsys.readouterr()
    assert isinstance(json.loads(captured.out), dict)
    assert status in (0, 1)  # 1: a timing goal missed on a busy machine, still a result
    lines = captured.err.splitlines()
    assert lines and lines[0].startswith(f"bench {bench}: {first_phase}")
    assert all(line.startswith(f"bench {bench}: ") for line in lines)


def test_the_audio_bench_names_each_signal_it_measures() -> None:
    from client.bench import audio

    out = io.StringIO()
    result = audio.measure(0.5, include_espeak=False, progress=Progress("audio", out))
    assert out.getvalue().splitlines() == [
        "bench audio: preparing signals",
        "bench audio: signal 1 of 2 — speech_like",
        "bench audio: signal 2 of 2 — tone_440",
    ]
    assert set(result["signals"]) == {"speech_like", "tone_440"}
