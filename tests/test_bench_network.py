"""``hushroom bench network`` and the ``--udp`` flag of ``join`` / ``room create``.

The bench test runs the real bench (``--quick``: one case, a few seconds of
speech) on the packet-level emulator, so it needs root and the ``bench``
extra; it checks the JSON rows' shape and that the datagram rows were carried
by datagrams.  Quality and latency goals are checked only under ``-m load``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import secrets
from pathlib import Path

import pytest

from client import runner
from client.bench import network, network_rooms, network_score
from client.bench.netem import unavailable_reason
from client.bench.network_rooms import PLAYOUT_COUNTS
from client.cli import build_parser
from client.errors import CliError
from client.fec_policy import FEC_PERCENT
from client.relay_connect import new_invite
from e2ee.identity import IdentityKey
from relay.wire.pin import encode_pin

ROW_KEYS = {
    "transport",
    "loss_pct",
    "bursty",
    "delay_ms",
    "jitter_ms",
    "fec_expected_loss_pct",
    "pesq",
    "stoi",
    "stage_p50_ms",
    "stage_p99_ms",
    "late_or_concealed_pct",
    "stage_frames",
    "stage_max_buffer_ms",
    "audience_pesq",
    "audience_stoi",
    "audience_p50_ms",
    "audience_p99_ms",
    "audience_late_or_concealed_pct",
    "audience_frames",
    "audience_max_buffer_ms",
    "stage_datagrams_received",
    "speaker_datagram_pct",
    "stage_recovered",
    "auth",
    *(f"{who}_playout_{name}" for who in ("stage", "audience") for name in PLAYOUT_COUNTS),
}


def _bench_skip_reason() -> str | None:
    reason = unavailable_reason()
    if reason is not None:
        return f"the network emulator: {reason}"
    for module in ("pesq", "pystoi", "scipy"):
        if importlib.util.find_spec(module) is None:
            return f"needs the bench extra ({module}): pip install -e '.[bench]'"
    return None


needs_bench = pytest.mark.skipif(
    _bench_skip_reason() is not None, reason=_bench_skip_reason() or ""
)


def number(row: dict[str, object], key: str) -> float:
    value = row[key]
    assert isinstance(value, int | float), (key, value)
    return float(value)


def _run_bench(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    args = build_parser("bench").parse_args(["bench", "network", "--json", *argv])
    assert args._bench_run(args) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


@needs_bench
def test_quick_bench_prints_one_row_per_transport_and_the_udp_room_used_datagrams(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = _run_bench(capsys, "--quick")
    assert [row["transport"] for row in rows] == ["tls", "udp"]
    quick = network.QUICK_CASES[0]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert (row["loss_pct"], row["bursty"]) == (quick.loss_pct, quick.bursty)
        for key in ("pesq", "audience_pesq"):
            assert -0.5 <= number(row, key) <= 4.64
        for key in ("stage_p50_ms", "stage_p99_ms", "audience_p50_ms"):
            assert number(row, key) >= network.DELAY_MS - network.JITTER_MS
        assert number(row, "stage_p50_ms") <= number(row, "stage_p99_ms")
        assert isinstance(row["stage_frames"], int) and row["stage_frames"] > 50
    tls, udp = rows
    assert tls["stage_datagrams_received"] == 0 and tls["fec_expected_loss_pct"] == 0
    assert tls["speaker_datagram_pct"] == 0
    # FEC follows the stage listener's reports (client.fec_policy): off or tuned for 5 %
    assert udp["fec_expected_loss_pct"] in (0, FEC_PERCENT)
    assert tls["auth"] == udp["auth"] == "default"
    # The speaker sent its frames by datagram, and the stage listener received
    # about as many media datagrams as it played frames (the probes are not counted).
    assert number(udp, "speaker_datagram_pct") >= 90
    assert number(udp, "stage_datagrams_received") >= 0.8 * number(udp, "stage_frames")


@needs_bench
@pytest.mark.load
def test_datagram_path_meets_the_issue_goals(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12's goals for the datagram path, on this machine (``-m load``)."""
    rows = _run_bench(capsys, "--cases", "0,5,10")
    by = {(r["transport"], r["loss_pct"]): r for r in rows}
    lossless = number(by["udp", 0.0], "pesq")
    assert lossless >= 3.1
    assert number(by["udp", 5.0], "pesq") >= 0.9 * lossless
    assert number(by["udp", 5.0], "stage_p99_ms") <= 200
    assert number(by["udp", 10.0], "pesq") >= 0.8 * lossless
    for loss in (5.0, 10.0):
        assert number(by["udp", loss], "pesq") > number(by["tls", loss], "pesq")


# -- the pieces, without a network ------------------------------------------------


def test_frames_are_matched_by_their_bytes_and_latency_is_capture_to_playout() -> None:
    log = network_score.SpeakerLog()
    for index in range(5):
        log.sent(bytes([index]) * 4, index)
    log.sent(b"\x09" * 4, 5)
    log.sent(b"\x09" * 4, 6)  # the same bytes twice at once (silence): played, not timed
    at = {packet: frames[-1].at for packet, frames in log.frames.items()}
    played = [(bytes([i]) * 4, at[bytes([i]) * 4] + 0.1 + i / 100) for i in (0, 1, 3)]
    played.append((b"\x09" * 4, at[b"\x09" * 4] + 0.1))
    heard = network_score.match_frames(log.frames, played)
    assert heard is not None
    assert heard.latencies_ms == pytest.approx([100.0, 110.0, 130.0])
    # the one silent packet played stands for the earlier of its two frames;
    # the window ends at the last timed frame
    assert (heard.first, heard.last, heard.on_time) == (0, 3, 3)
    assert heard.late_or_concealed_pct == pytest.approx(100 * 1 / 4)  # 2 not played
    assert network_score.match_frames(log.frames, [(b"other", 1.0)]) is None


def test_a_run_of_identical_packets_counts_as_that_many_frames() -> None:
    # Digital silence encodes to the same bytes frame after frame: each played
    # packet is one frame, so a lossless listener misses nothing.
    Sent = network_score.Sent
    frames = {b"a": [Sent(0, 0.98)], b"s": [Sent(i, 0.98 + i * 0.02) for i in range(1, 11)]}
    frames[b"v"] = [Sent(11, 1.2)]
    played = [(b"a", 1.08)] + [(b"s", 1.08 + i * 0.02) for i in range(1, 11)] + [(b"v", 1.3)]
    heard = network_score.match_frames(frames, played)
    assert heard is not None
    assert (heard.first, heard.last, heard.on_time) == (0, 11, 12)
    assert heard.late_or_concealed_pct == 0.0
    assert heard.latencies_ms == pytest.approx([100.0, 100.0])  # the unambiguous packets
    lost = network_score.match_frames(frames, played[:4] + played[5:])  # one silent frame lost
    assert lost is not None and lost.on_time == 11


def test_silence_that_recurs_is_matched_near_the_current_delay() -> None:
    # The same silent bytes in a pause 2 s before the window (played then) and
    # in one inside it: the window's packets are the window's frames.
    Sent = network_score.Sent
    before = [Sent(i, i * 0.02) for i in range(5)]
    silent = [Sent(101 + i, 2.02 + i * 0.02) for i in range(5)]
    frames = {b"s": before + silent, b"a": [Sent(100, 2.0)], b"b": [Sent(106, 2.12)]}
    played = [(b"a", 2.1)] + [(b"s", 2.12 + i * 0.02) for i in range(5)] + [(b"b", 2.22)]
    heard = network_score.match_frames(frames, played)
    assert heard is not None
    assert (heard.first, heard.last, heard.on_time) == (100, 106, 7)


def test_the_window_spans_the_first_to_the_last_timed_frame() -> None:
    # The window opens during a silent run: its first played packets stand for
    # the run's earliest frames, which were played before the window.
    Sent = network_score.Sent
    frames = {b"v": [Sent(0, 0.9)], b"s": [Sent(i, 1.0 + (i - 1) * 0.02) for i in range(1, 11)]}
    frames[b"w"] = [Sent(11, 1.2)]
    played = [(b"s", 1.1 + i * 0.02) for i in range(6, 10)] + [(b"w", 1.3)]
    heard = network_score.match_frames(frames, played)
    assert heard is not None
    assert (heard.first, heard.last, heard.on_time) == (11, 11, 1)


def test_a_packet_repeated_a_loop_later_is_the_later_frame() -> None:
    Sent = network_score.Sent
    frames = {b"p": [Sent(3, 10.0), Sent(503, 20.0)]}
    heard = network_score.match_frames(frames, [(b"p", 20.25)])
    assert heard is not None and heard.first == 503
    assert heard.latencies_ms == pytest.approx([250.0])
    early = network_score.match_frames(frames, [(b"p", 10.2)])
    assert early is not None and early.first == 3
    assert network_score.match_frames(frames, [(b"p", 9.0)]) is None  # played before it was sent


async def test_auth_chooses_the_stage_mode_of_every_bench_client() -> None:
    parser = build_parser("bench")
    assert parser.parse_args(["bench", "network"]).auth == "default"
    args = parser.parse_args(["bench", "network", "--auth", "optimistic"])
    founder = IdentityKey.generate(secrets.token_bytes)
    invite = new_invite("127.0.0.1", 7443, encode_pin(bytes(32)), founder)
    for name, mode in (("optimistic", args.auth), ("hold", "hold")):
        config = network_rooms.ClientConfig(invite, founder, "Speaker", create=True)
        client = network_rooms.BenchClient(config, network.AUTH_MODES[mode])
        assert client.room.config.speaker_auth.stage_mode == name
    default = network_rooms.BenchClient(
        network_rooms.ClientConfig(invite, founder, "S", create=True), None
    )
    assert (
        default.room.config.speaker_auth == network_rooms.RoomConfig().speaker_auth
    )  # the default


def test_bursty_case_has_the_stated_mean_loss_and_burst() -> None:
    gilbert = network.Case(3.0, True).impairment().gilbert
    assert gilbert is not None
    assert gilbert.mean_loss_pct == pytest.approx(3.0)
    assert gilbert.mean_bad_run == pytest.approx(network.MEAN_BURST_PACKETS)


def test_cases_parse_and_bad_ones_are_refused() -> None:
    parse = build_parser("bench").parse_args
    args = parse(["bench", "network", "--cases", "0,2.5,3b"])
    assert [(c.loss_pct, c.bursty) for c in args.cases] == [(0.0, False), (2.5, False), (3.0, True)]
    for bad in ("x", "60", "-1", "3bb"):
        with pytest.raises(CliError, match="--cases"):
            parse(["bench", "network", "--cases", bad])


@pytest.mark.parametrize(("argv", "wanted"), [(["--udp"], True), ([], False)])
@pytest.mark.parametrize("command", [["join"], ["room", "create", "--relay", "127.0.0.1:7443"]])
def test_udp_flag_asks_for_the_datagram_channel(
    tmp_path: Path, command: list[str], argv: list[str], wanted: bool
) -> None:
    args: argparse.Namespace = build_parser(command[0]).parse_args(
        [*command, *argv, "--home", str(tmp_path)]
    )
    founder = IdentityKey.generate(secrets.token_bytes)
    invite = new_invite("127.0.0.1", 7443, encode_pin(secrets.token_bytes(32)), founder)
    config = runner._config(args, invite, [], create=False, policy="open")
    assert config.datagrams is wanted
