"""``hushroom bench network``: both media transports side by side on emulated links.

Two rooms run at once on one emulated network (:mod:`client.bench.netem`), one
relay process in the hub namespace serving both: in the ``tls`` room every
frame rides the TLS link; in the ``udp`` room the clients use the datagram
channel (spec §23).  Each room has a speaker (its founder and moderator), a
listener on the stage and a listener in the audience; each of the six
clients is a real :class:`~client.room_client.RoomClient` in its own leaf
namespace.  The speaker's link is clean; every listener's link carries the
case's impairment in both directions (50 ms ± 10 ms one-way delay and the
case's random or bursty loss), so the path from mouth to ear crosses it once.

Each case starts clean: a new emulated network (links impaired from the
start), relay process and six clients, torn down when its window ends, so
no playout buffer, FEC setting or TCP state carries over from the case
before.  The speakers say the same espeak-ng speech; after
:data:`SETTLE_SECONDS` the listeners record a window.  Nothing heavy runs
while audio flows: the recordings are kept, and PESQ / STOI are computed
after the last case (:mod:`client.bench.network_score`, which also defines
how played packets are matched to captured frames and what
``late_or_concealed_pct`` counts).

Mouth-to-ear latency: all clients run in this process (one thread per
client, each in its namespace), so one clock (``time.monotonic``) times
both ends.

The datagram room's speaker follows its stage listener's loss reports (spec
§14.4, :mod:`client.fec_policy`); the row says what its encoder used at the
end of the window (``fec_expected_loss_pct``).  The TLS room sends no FEC.
``--auth`` chooses the stage's speaker-authentication mode (spec §15.6).
Nothing measured here is a unit-test goal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from client.audio.sources import PcmSource
from client.bench.codec import Pcm, load_scorer, speech_sample
from client.bench.netem import GilbertElliott, Impairment, Link, Network, unavailable_reason
from client.bench.network_rooms import (
    PLAYOUT_COUNTS,
    BenchRoom,
    ClientThread,
    leaf_names,
    open_room,
    probe_of,
    relay_pin,
    start_relay,
    wait_for_relay,
)
from client.bench.network_score import Scorer, Sent, Take, listener_fields
from client.bench.progress import Progress
from client.commands.common import positive_seconds
from client.errors import CliError
from client.room_client import RoomClient
from e2ee.room.speaker_auth import STAGE_HOLD, AuthConfig

HELP = "both transports (TLS, datagrams) side by side on emulated lossy links"

DELAY_MS = 50.0
JITTER_MS = 10.0
CASES: tuple[tuple[float, bool], ...] = (
    (0.0, False),
    (2.0, False),
    (5.0, False),
    (10.0, False),
    (3.0, True),
)
"""(loss %, bursty) measured by default."""
MEAN_BURST_PACKETS = 3.0
"""Bursty cases: Gilbert–Elliott with a mean burst of 3 packets (60 ms of audio)."""
TRANSPORTS = ("tls", "udp")
LOOP_SECONDS = 10.0
"""The speakers say the same 10 s of espeak-ng speech over and over."""
SETTLE_SECONDS = 4.0
"""From the speakers' first frame to the window: the playout buffers settle on the link
(longer than the buffer's 3 s hold, client.audio.jitter)."""
MAX_SECONDS = 30.0

AUTH_MODES: dict[str, AuthConfig] = {"hold": STAGE_HOLD, "optimistic": AuthConfig()}
"""``--auth``: the stage's speaker-authentication mode (spec §15.6); "default" is the room's."""


@dataclass(frozen=True)
class Case:
    loss_pct: float
    bursty: bool

    def impairment(self) -> Impairment:
        """The listeners' links, each direction: 50 ± 10 ms and this case's loss."""
        if not self.bursty:
            return Impairment(delay_ms=DELAY_MS, jitter_ms=JITTER_MS, loss_pct=self.loss_pct)
        r = 1.0 / MEAN_BURST_PACKETS
        loss = self.loss_pct / 100.0
        p = r * loss / (1.0 - loss)
        ge = GilbertElliott(p_pct=100.0 * p, r_pct=100.0 * r)
        return Impairment(delay_ms=DELAY_MS, jitter_ms=JITTER_MS, gilbert=ge)


def _datagram_counts(room: BenchRoom) -> tuple[int, int, int, int]:
    """Frames the speaker encoded, of them sent by datagram; at the stage, media datagrams
    received and frames recovered from a MEDIA_RED copy (spec §23.3)."""

    def speaker(client: RoomClient) -> tuple[int, int]:
        media = client.session.datagrams
        sent = 0 if media is None else _media_count(media.counts, "sent")
        return (0 if client.feed is None else client.feed.frames_read), sent

    def stage(client: RoomClient) -> tuple[int, int]:
        media = client.session.datagrams
        if media is None:
            return 0, 0
        return _media_count(media.counts, "received"), media.counts["recovered"]

    frames, by_datagram = room.speaker.do(speaker)
    return frames, by_datagram, *room.stage.do(stage)


def _media_count(counts: Counter[str], way: str) -> int:
    """MEDIA datagrams sent or received, plain or with a copy (MEDIA_RED)."""
    return counts[f"{way}_media"] + counts[f"{way}_media_red"]


def _datagram_fields(
    before: tuple[int, int, int, int], after: tuple[int, int, int, int]
) -> dict[str, float | int]:
    frames, by_datagram, received, recovered = (b - a for a, b in zip(before, after, strict=True))
    return {
        "speaker_datagram_pct": round(100.0 * by_datagram / frames, 1) if frames else 0.0,
        "stage_datagrams_received": received,
        "stage_recovered": recovered,
    }


# -- the run ----------------------------------------------------------------------


@dataclass(frozen=True)
class RoomTake:
    """One room's record of one case, scored once every case has run."""

    case: Case
    transport: str
    sent: dict[bytes, list[Sent]]
    stage: Take
    audience: Take
    fields: dict[str, Any]
    """The row's fields known when the window ends (FEC setting, datagram counts)."""


def _take(listener: ClientThread) -> Take:
    def grab(client: RoomClient) -> Take:
        probe = probe_of(client)
        recording = np.concatenate(probe.recording) if probe.recording else np.zeros(0, np.int16)
        counts = probe.playout_counts()
        playout = {name: counts[name] for name in PLAYOUT_COUNTS}
        return Take(list(probe.played), recording, probe.max_delay_ms, playout)

    return listener.do(grab)


def record_case(
    rooms: Sequence[BenchRoom], case: Case, seconds: float, progress: Progress, pcm: Pcm
) -> list[RoomTake]:
    """Let the speakers talk :data:`SETTLE_SECONDS`, then record a window of ``seconds``."""
    for room in rooms:  # the speakers talk from here to the end of the case
        room.speaker.do(lambda c: c.speak(PcmSource(pcm, loop=True)))
    time.sleep(SETTLE_SECONDS)
    before = {room.transport: _datagram_counts(room) for room in rooms}
    for room in rooms:
        for listener in (room.stage, room.audience):
            listener.do(lambda c: probe_of(c).arm())
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        progress.countdown(left, _label(case))
        time.sleep(min(1.0, left))
    for room in rooms:
        for listener in (room.stage, room.audience):
            listener.do(lambda c: probe_of(c).disarm())
    return [
        RoomTake(
            case,
            room.transport,
            dict(room.log.frames),
            _take(room.stage),
            _take(room.audience),
            {
                "fec_expected_loss_pct": room.speaker.do(_expected_loss),
                **_datagram_fields(before[room.transport], _datagram_counts(room)),
            },
        )
        for room in rooms
    ]


def score_take(take: RoomTake, pcm: Pcm, score: Scorer, auth: str) -> dict[str, Any]:
    """The JSON row of one room's case."""
    stage = listener_fields(take.stage, take.sent, pcm, score)
    audience = listener_fields(take.audience, take.sent, pcm, score)
    fields = take.fields
    return {
        "transport": take.transport,
        "auth": auth,
        "loss_pct": take.case.loss_pct,
        "bursty": take.case.bursty,
        "delay_ms": DELAY_MS,
        "jitter_ms": JITTER_MS,
        "fec_expected_loss_pct": fields["fec_expected_loss_pct"],
        "pesq": stage["pesq"],
        "stoi": stage["stoi"],
        "stage_p50_ms": stage["p50_ms"],
        "stage_p99_ms": stage["p99_ms"],
        "late_or_concealed_pct": stage["late_or_concealed_pct"],
        "stage_frames": stage["frames"],
        "stage_max_buffer_ms": stage["max_buffer_ms"],
        **{f"stage_{key}": value for key, value in stage.items() if key.startswith("playout_")},
        **{f"audience_{key}": value for key, value in audience.items()},
        **{k: v for k, v in fields.items() if k != "fec_expected_loss_pct"},
    }


def _label(case: Case) -> str:
    return f"{case.loss_pct:g} % {'bursty' if case.bursty else 'random'}"


def _expected_loss(client: RoomClient) -> int:
    """The FEC setting the speaker's encoder has at the end of the window (0: off)."""
    assert client.feed is not None
    return client.feed.encoder.config.expected_loss_percent


def measure(
    cases: Sequence[Case],
    seconds: float,
    progress: Progress,
    seed: int = 1,
    auth_name: str = "default",
) -> Iterator[dict[str, Any]]:
    """Every case, both transports: one JSON-able row per (case, transport).

    Each case runs on its own network, relay and clients; the rows come once
    every case has been recorded.  ``auth_name`` is a key of
    :data:`AUTH_MODES`, or "default" (the room's own).
    """
    auth = AUTH_MODES.get(auth_name)
    reason = unavailable_reason()
    if reason is not None:
        raise CliError(f"hushroom bench network needs the network emulator: {reason}")
    score = load_scorer()
    pcm, _source = speech_sample(LOOP_SECONDS)
    takes: list[RoomTake] = []
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        pin = relay_pin(state)
        for case in cases:
            progress.phase(f"case {_label(case)} loss: a new network, relay and clients")
            takes += run_case(case, seconds, progress, seed, state, pin, auth, pcm)
    progress.phase("scoring the recordings (PESQ, STOI)")
    for take in takes:
        yield score_take(take, pcm, score, auth_name)


def run_case(
    case: Case,
    seconds: float,
    progress: Progress,
    seed: int,
    state: Path,
    pin: str,
    auth: AuthConfig | None,
    pcm: Pcm,
) -> list[RoomTake]:
    """One case from scratch: network, relay, both rooms; torn down before it returns."""
    bad = case.impairment()
    links: dict[str, Link] = {}
    for transport in TRANSPORTS:
        leaves = leaf_names(transport)
        links[leaves["speaker"]] = Link()
        for role in ("stage", "audience"):
            links[leaves[role]] = Link(up=bad, down=bad)
    with Network(links, seed=seed) as net:
        relay = start_relay(net, state)
        rooms: list[BenchRoom] = []
        try:
            first = leaf_names(TRANSPORTS[0])["speaker"]
            wait_for_relay(net, first, net.hub_address(first))
            for transport in TRANSPORTS:
                rooms.append(open_room(net, transport, pin, auth))
            return record_case(rooms, case, seconds, progress, pcm)
        finally:
            for room in rooms:
                for member in room.clients:
                    member.stop()
            relay.terminate()
            try:
                relay.wait(5)
            except subprocess.TimeoutExpired:
                relay.kill()
                relay.wait()


def _cases(text: str) -> list[Case]:
    """``0,2,5,10,3b``: loss percentages, ``b`` for bursty."""
    cases = []
    for part in text.split(","):
        bursty = part.endswith("b")
        try:
            loss = float(part.removesuffix("b"))
        except ValueError:
            loss = -1.0
        if not 0.0 <= loss < 50.0:
            raise argparse.ArgumentTypeError(
                f"cases are loss percentages from 0 to 50, 'b' for bursty: not {part!r}"
            )
        cases.append(Case(loss, bursty))
    return cases


QUICK_CASES = [Case(5.0, False)]
QUICK_SECONDS = 4.0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON row per line")
    parser.add_argument(
        "--cases",
        type=_cases,
        default=[Case(loss, bursty) for loss, bursty in CASES],
        help="loss percentages, comma-separated, 'b' for bursty (default 0,2,5,10,3b)",
    )
    parser.add_argument(
        "--seconds", type=positive_seconds, default=10.0, help="speech per case (default 10)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"one case ({QUICK_CASES[0].loss_pct:g} %% random loss), {QUICK_SECONDS:g} s",
    )
    parser.add_argument("--seed", type=int, default=1, help="the emulator's loss seed")
    parser.add_argument(
        "--model",
        action="store_true",
        help="no emulator: the datagram path's redundancy in process on a virtual clock,"
        " both hops lossy (client/bench/datagram_model.py)",
    )
    parser.add_argument(
        "--auth",
        choices=("default", *AUTH_MODES),
        default="default",
        help="the stage's speaker-authentication mode (default: the room's default)",
    )


def run(args: argparse.Namespace) -> int:
    if args.seconds > MAX_SECONDS:
        raise CliError(f"--seconds must be at most {MAX_SECONDS:g}", exit_code=2)
    cases, seconds = (QUICK_CASES, QUICK_SECONDS) if args.quick else (args.cases, args.seconds)
    progress = Progress("network")
    rows = (
        _model_rows(cases, seconds)
        if args.model
        else measure(cases, seconds, progress, args.seed, args.auth)
    )
    try:
        for row in rows:
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(_text_row(row), flush=True)
    finally:
        progress.done()
    return 0


def _model_rows(cases: Sequence[Case], seconds: float) -> Iterator[dict[str, Any]]:
    from client.bench.datagram_model import measure_model

    pcm, _ = speech_sample(seconds)
    impaired = [(case.impairment(), case.loss_pct, case.bursty) for case in cases]
    return measure_model(pcm, impaired, load_scorer())


def _text_row(row: dict[str, Any]) -> str:
    if row.get("model"):
        return json.dumps(row)
    kind = "bursty" if row["bursty"] else "random"
    return (
        f"{row['transport']:3}  {row['loss_pct']:4g} % {kind:6}"
        f"  FEC@{row['fec_expected_loss_pct']:<2}"
        f"  stage PESQ {row['pesq']:.2f} STOI {row['stoi']:.3f}"
        f" p50/p99 {row['stage_p50_ms']}/{row['stage_p99_ms']} ms"
        f" late/concealed {row['late_or_concealed_pct']} %"
        f"  audience PESQ {row['audience_pesq']:.2f} p99 {row['audience_p99_ms']} ms"
    )
