"""``hushroom bench network --model``: datagram redundancy in process, on a virtual clock.

What ``bench network`` measures on real sockets, threads and emulated links
depends on how busy the machine is (its 20 ms ticks slip).  This model runs
the same media path on one virtual clock instead, so it answers "what does
redundancy buy" independently of the load:

* the client's encoder (38 kbit/s CBR; FEC as the case says) encodes the
  speech sample frame by frame, every 20 ms of virtual time;
* each frame crosses two datagram hops, speaker → relay and relay →
  listener, each with the real channel code (:class:`~e2ee.datagram.DatagramChannel`
  and :class:`~e2ee.datagram_red.CopyRing`: MEDIA, or MEDIA_RED with a copy
  ``distance`` media datagrams back, and the replay window that lets exactly
  one of copy and original through) and one direction of the emulator's
  link model (:class:`~client.bench.netem.model.Direction`: 50 ± 10 ms in
  order and the case's random or Gilbert–Elliott loss on the listener's hop,
  as in ``bench network``; with ``lossy_hops=2`` on the speaker's hop too);
* the listener's receive path is the client's own
  (:class:`~client.audio.speaker.SpeakerStream`: adaptive jitter buffer, FEC
  from the next packet, Opus PLC), ticked every 20 ms.

Measured per row: wideband PESQ and STOI of the output against the source,
``residual_loss_pct`` (frames that never reached the listener),
``late_or_concealed_pct`` (frames not played from their own packet),
mouth-to-ear ``p50_ms`` / ``p99_ms`` (virtual time from encoding a frame to
its playout tick) and ``max_buffer_ms``.  Nothing here is a unit-test goal.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from client.audio.encoder import OpusEncoderConfig, OpusFrameEncoder
from client.audio.format import FRAME_SECONDS, SAMPLE_RATE, frames_from_pcm, silence
from client.audio.jitter import JitterBuffer, Playout
from client.audio.quality import find_lag
from client.audio.speaker import SpeakerStream
from client.bench.codec import Pcm, Scorer, _aligned
from client.bench.netem.model import Direction as LinkDirection
from client.bench.netem.settings import Impairment
from e2ee.datagram import DatagramChannel, Direction, Kind
from e2ee.datagram_red import CopyRing
from e2ee.envelope import EnvelopeType, decode_envelope, encode_envelope

DISTANCES = (0, 1, 2, 3)
"""Copies ``distance`` media datagrams back; 0: no redundancy (plain MEDIA)."""
_KEY = bytes(range(32))
_TOKEN = bytes(8)
_TAG = bytes(16)
_SEQ = struct.Struct(">I")
_MAX_LAG_SECONDS = 0.6


@dataclass
class _Hop:
    """One datagram hop: a sealing end, the link direction, the opening end."""

    seal: DatagramChannel
    link: LinkDirection
    open: DatagramChannel
    ring: CopyRing | None

    @classmethod
    def make(cls, impairment: Impairment, rng: random.Random, distance: int) -> _Hop:
        return cls(
            DatagramChannel(_KEY, _TOKEN, Direction.CLIENT_TO_RELAY),
            LinkDirection(impairment, rng),
            DatagramChannel(_KEY, _TOKEN, Direction.RELAY_TO_CLIENT),
            CopyRing(distance) if distance else None,
        )

    def send(self, envelope: bytes, now: float) -> None:
        kind, body = Kind.MEDIA, envelope
        if self.ring is not None:
            kind, body = self.ring.wrap(self.seal.next_counter, envelope, redundant=True)
        self.link.submit(self.seal.seal(kind, body), now)

    def arrived(self, now: float) -> list[tuple[float, bytes]]:
        """Envelopes due by ``now`` (copies of lost ones included), with their arrival."""
        return [
            (due, body)
            for due, data in self.link.pop_due(now)
            for body in self.open.open(data).media
        ]


class _Timed(JitterBuffer):
    """The stream's jitter buffer, noting which frame each tick played and the target."""

    def __init__(self, stream: SpeakerStream) -> None:
        super().__init__(stream.jitter.config)
        self.played: dict[int, float] = {}
        self.max_target = self.target_frames

    def pop(self, now: float) -> Playout:
        step = super().pop(now)
        if step.kind == "packet" and step.seq is not None:
            self.played[step.seq] = now
        self.max_target = max(self.max_target, self.target_frames)
        return step


def simulate(
    pcm: Pcm, impairment: Impairment, distance: int, fec_pct: int, seed: int, lossy_hops: int = 1
) -> tuple[Pcm, dict[str, Any]]:
    """The listener's output and its figures for one case (see the module docstring)."""
    rng = random.Random(seed)
    first = impairment if lossy_hops == 2 else Impairment()
    up, down = _Hop.make(first, rng, distance), _Hop.make(impairment, rng, distance)
    encoder = OpusFrameEncoder(OpusEncoderConfig(fec=fec_pct > 0, expected_loss_percent=fec_pct))
    stream = SpeakerStream()
    timed = stream.jitter = _Timed(stream)
    frames = list(frames_from_pcm(pcm))
    tail = round(1.0 / FRAME_SECONDS)  # a second to play out the last frames
    out: list[Pcm] = []
    reached: set[int] = set()
    for tick in range(len(frames) + tail):
        now = tick * FRAME_SECONDS
        if tick < len(frames):
            packet = encoder.encode(frames[tick])
            assert packet is not None  # CBR, no DTX: every frame is sent
            up.send(encode_envelope(EnvelopeType.MEDIA, _TAG, 0, _SEQ.pack(tick) + packet), now)
        for due, envelope in up.arrived(now):
            down.send(envelope, due)  # the relay forwards at once
        for due, envelope in down.arrived(now):
            payload = decode_envelope(envelope).payload
            seq = _SEQ.unpack_from(payload)[0]
            reached.add(seq)
            stream.push(seq, payload[_SEQ.size :], due)
        frame = stream.next_frame(now)
        out.append(silence() if frame is None else frame)
    count = len(frames)
    latencies = sorted(
        (at - seq * FRAME_SECONDS) * 1000.0 for seq, at in timed.played.items() if seq < count
    )
    on_time = sum(1 for seq in timed.played if seq < count)
    figures = {
        "residual_loss_pct": round(100.0 * (1 - len(reached & set(range(count))) / count), 2),
        "late_or_concealed_pct": round(100.0 * (1 - on_time / count), 2),
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
        "max_buffer_ms": round(timed.max_target * FRAME_SECONDS * 1000.0),
        "fec_recovered": stream.stats.fec_recovered,
    }
    return np.concatenate(out), figures


def _percentile(ordered: Sequence[float], pct: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, round(pct / 100.0 * (len(ordered) - 1)))], 1)


def measure_model(
    pcm: Pcm,
    cases: Sequence[tuple[Impairment, float, bool]],
    score: Scorer,
    distances: Sequence[int] = DISTANCES,
    fec_pcts: Sequence[int] = (0, 5),
    seeds: int = 3,
    hops: Sequence[int] = (1, 2),
) -> Iterator[dict[str, Any]]:
    """One row per (lossy hops, case, distance, FEC): means over ``seeds`` loss patterns."""
    for lossy_hops, (impairment, loss_pct, bursty), distance, fec in itertools.product(
        hops, cases, distances, fec_pcts
    ):
        runs = []
        for seed in range(seeds if loss_pct else 1):
            output, figures = simulate(pcm, impairment, distance, fec, seed, lossy_hops)
            lag = find_lag(pcm, output, max_lag=round(_MAX_LAG_SECONDS * SAMPLE_RATE))
            pesq, stoi = score(*_aligned(pcm, output, lag))
            runs.append({"pesq": pesq, "stoi": stoi, **figures})
        yield {
            "model": True,
            "lossy_hops": lossy_hops,
            "loss_pct": loss_pct,
            "bursty": bursty,
            "distance": distance,
            "fec_expected_loss_pct": fec,
            "seeds": len(runs),
            **{
                key: round(float(np.mean([r[key] for r in runs])), 3)
                for key in runs[0]
                if runs[0][key] is not None
            },
        }
