"""``hushroom bench network``: what a listener played, matched to what was said, and scored.

Nothing here runs while audio flows: :mod:`client.bench.network` records
each case (the speaker's sent packets, the listener's played packets and
mixed output) and tears its clients down; the figures below are computed
after the last case.

Matching (:func:`match_frames`).  A frame is *captured* when the speaker's
20 ms tick reads it from the source and encodes it, *played* when the
listener's jitter buffer hands its packet to the decoder.  Packets are
matched to frames by their Opus bytes, which the room protocol delivers
unchanged.  The speaker's source is looped, and stretches of digital silence
encode to the same bytes frame after frame (about 90 of the 500 frames of
the bench's 10 s of speech repeat the frame before them), so one packet's
bytes may stand for several frames, and the same silence recurs in every
pause.  The rule, for each played packet in the order they were played: its
*candidates* are the frames with its bytes captured at most
:data:`MATCH_WINDOW_SECONDS` before it was played that no earlier played
packet already stood for.  When the packet's bytes occur only once in that
window it is that frame, and it is *timed*: its latency counts towards
p50 / p99 and becomes the *current delay*.  Otherwise it stands for the
candidate whose capture time is closest to its play time less the current
delay (before any packet was timed: the latest candidate).  Each played
packet therefore counts as one frame, a run of identical packets as that
many frames.

``late_or_concealed_pct``: of the speaker's frames from the first to the last
timed one the listener played in the window (a silent run cut by the
window's start or end may be matched to frames played before it), the
share it did *not* play from its own packet.  That counts every frame lost
and concealed, rebuilt from the next packet's FEC, dropped because it
arrived after its playout time, skipped by the playout buffer's trim rule,
or dropped at a held-to-played-first switch.  A concealed frame the adaptive buffer inserts
when its target rises (a *stretch*) delays the frames after it but is not one
of the speaker's frames, so it does not count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from client.audio.format import FRAME_SAMPLES, SAMPLE_RATE
from client.audio.quality import find_lag
from client.bench.codec import Pcm, _aligned
from client.errors import CliError

MATCH_WINDOW_SECONDS = 5.0
"""Half the source's loop: longer than any mouth-to-ear delay plus a silent run."""
MAX_LAG_SECONDS = 0.5
STOI_WINDOW_SECONDS = 2.0

Scorer = Callable[[Pcm, Pcm], tuple[float, float]]


@dataclass(frozen=True)
class Sent:
    """One frame the speaker captured: its index in the looped source and the time."""

    index: int
    at: float


class SpeakerLog:
    """The speaker's sent packets, by bytes, each with every frame that had them."""

    def __init__(self) -> None:
        self.frames: dict[bytes, list[Sent]] = {}

    def sent(self, packet: bytes, index: int) -> None:
        self.frames.setdefault(packet, []).append(Sent(index, time.monotonic()))


@dataclass(frozen=True)
class Heard:
    """What one listener played of the speaker's frames while armed."""

    latencies_ms: list[float]
    first: int
    """Index of the first and last frame played from its own packet."""
    last: int
    on_time: int
    """Frames in ``first..last`` played from their own packet."""

    @property
    def late_or_concealed_pct(self) -> float:
        return 100.0 * (1.0 - self.on_time / (self.last - self.first + 1))


def match_frames(
    sent: dict[bytes, list[Sent]], played: Sequence[tuple[bytes, float]]
) -> Heard | None:
    """Match played packets to captured frames (module docstring; None: nothing matched)."""
    latencies: list[float] = []
    indices: set[int] = set()
    timed: set[int] = set()
    used: dict[bytes, set[int]] = {}
    delay: float | None = None  # the latest timed packet's, seconds
    for packet, at in played:
        frames = sent.get(packet, ())
        window = [i for i, f in enumerate(frames) if at - MATCH_WINDOW_SECONDS < f.at <= at]
        taken = used.setdefault(packet, set())
        free = [i for i in window if i not in taken]
        if not free:
            continue
        if len(window) == 1:
            chosen = free[0]
            delay = at - frames[chosen].at
            timed.add(frames[chosen].index)
            latencies.append(delay * 1000.0)
        elif delay is None:
            chosen = free[-1]
        else:
            chosen = min(free, key=lambda i: abs(at - frames[i].at - delay))
        taken.add(chosen)
        indices.add(frames[chosen].index)
    if not indices:
        return None
    ends = timed or indices
    first, last = min(ends), max(ends)
    on_time = sum(1 for index in indices if first <= index <= last)
    return Heard(latencies, first, last, on_time)


def percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100.0 * (len(ordered) - 1))))
    return round(ordered[index], 1)


def score_recording(pcm: Pcm, heard: Heard, recording: Pcm, score: Scorer) -> tuple[float, float]:
    """PESQ and STOI of what was played against the frames it should have been.

    The reference is the looped source from the first frame played to the
    last (the recording starts with the first).  PESQ takes the whole
    recording aligned by cross-correlation (it re-aligns each utterance
    itself).  STOI does not, and an adaptive playout buffer moves the delay
    by whole frames while it plays: it is the mean over
    :data:`STOI_WINDOW_SECONDS` windows, each aligned on its own.
    """
    frames = pcm.size // FRAME_SAMPLES
    indices = np.arange(heard.first, heard.last + 1) % frames
    reference = pcm[: frames * FRAME_SAMPLES].reshape(frames, FRAME_SAMPLES)[indices].reshape(-1)
    lag = find_lag(reference, recording, max_lag=round(MAX_LAG_SECONDS * SAMPLE_RATE))
    ref_all, rec_all = _aligned(reference, recording, lag)
    if ref_all.size < SAMPLE_RATE:
        raise CliError("bench network: less than 1 s of a listener's recording lines up")
    pesq, _ = score(ref_all, rec_all)
    window = round(STOI_WINDOW_SECONDS * SAMPLE_RATE)
    drift = round(MAX_LAG_SECONDS * SAMPLE_RATE)
    stois = []
    for start in range(0, reference.size - window + 1, window):
        ref = reference[start : start + window]
        lo = max(0, start + lag - drift)
        rec = recording[lo : start + lag + window + drift]
        if rec.size < window:
            break
        local = find_lag(ref, rec, max_lag=2 * drift)
        stois.append(score(*_aligned(ref, rec, local))[1])
    stoi = float(np.mean(stois)) if stois else 0.0
    return round(pesq, 3), round(stoi, 3)


@dataclass(frozen=True)
class Take:
    """One listener's raw record of one case: played packets, mixed output, buffer peak."""

    played: list[tuple[bytes, float]]
    recording: Pcm
    max_delay_ms: float
    playout: dict[str, int]
    """The playout buffer's counts over the window (late, concealed, skipped, ...)."""


def listener_fields(
    take: Take, sent: dict[bytes, list[Sent]], pcm: Pcm, score: Scorer
) -> dict[str, Any]:
    """One listener's figures for one recorded case."""
    heard = match_frames(sent, take.played)
    if heard is None or not take.recording.size:
        raise CliError("bench network: a listener played none of the speaker's frames")
    pesq, stoi = score_recording(pcm, heard, take.recording, score)
    return {
        "pesq": pesq,
        "stoi": stoi,
        "p50_ms": percentile(heard.latencies_ms, 50),
        "p99_ms": percentile(heard.latencies_ms, 99),
        "late_or_concealed_pct": round(heard.late_or_concealed_pct, 2),
        "frames": heard.last - heard.first + 1,
        "max_buffer_ms": take.max_delay_ms,
        **{f"playout_{name}": count for name, count in sorted(take.playout.items())},
    }
