"""The jitter buffer's delay follows measured inter-arrival jitter (virtual clock, seeded)."""

from __future__ import annotations

import random

from test_audio_jitter import TICK, drive

from client.audio.jitter import JitterBuffer, JitterConfig
from client.audio.jitter_estimate import PAUSE_SECONDS, JitterEstimate


def jittery(first: int, count: int, spread: float, seed: int) -> list[tuple[float, int]]:
    """Frames ``first ..`` sent every 20 ms, each delayed by a uniform draw from [0, spread]."""
    rng = random.Random(seed)
    return [(s * TICK + rng.uniform(0.0, spread), s) for s in range(first, first + count)]


def late_share(buf: JitterBuffer, before: int, frames: int) -> float:
    return (buf.stats.late - before) / frames


def test_steady_arrivals_keep_the_configured_delay() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=3))
    drive(buf, [(s * TICK, s) for s in range(500)], 520)
    assert buf.estimate.jitter < 1e-9
    assert buf.target_frames == 3 and buf.stats.late == 0 and buf.stats.stretched == 0


def test_the_delay_rises_to_cover_measured_jitter_and_then_almost_nothing_is_late() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=3))
    arrivals = jittery(0, 1500, 0.1, seed=1)  # 30 s, delay variation spread over 100 ms
    drive(buf, arrivals[:500], 500)
    assert 5 <= buf.target_frames <= 8  # 100 ms is 5 frames (and one tick of phase)
    late_before = buf.stats.late
    drive(buf, arrivals[500:], 1000, start=500 * TICK)
    assert late_share(buf, late_before, 1000) < 0.01


def test_a_fixed_delay_of_the_configured_size_loses_frames_to_the_same_jitter() -> None:
    # the contrast for the test above: without adaptation 60 ms is too little for 100 ms jitter
    buf = JitterBuffer(JitterConfig(target_frames=3, adaptive=False))
    drive(buf, jittery(0, 1500, 0.1, seed=1), 1500)
    assert buf.stats.late / 1500 > 0.05


def test_the_delay_falls_back_once_the_jitter_is_gone() -> None:
    config = JitterConfig(target_frames=3, shrink_after_ticks=250)
    buf = JitterBuffer(config)
    drive(buf, jittery(0, 500, 0.1, seed=2), 500)
    grown = buf.target_frames
    assert grown > 3
    calm = [(s * TICK, s) for s in range(500, 3500)]  # one minute without jitter
    drive(buf, calm, 3000, start=500 * TICK)
    assert buf.target_frames == 3 and buf.floor_frames == 3
    assert buf.stats.skipped >= grown - 3  # playout caught up by skipping frames


def test_the_delay_never_exceeds_the_maximum() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=3, max_target_frames=6, max_frames=40))
    drive(buf, jittery(0, 1000, 0.19, seed=3), 1000)
    assert buf.floor_frames == 6 and buf.target_frames == 6
    assert buf.estimate.frames_needed() > 6


def test_the_target_rises_by_at_most_two_frames_a_second() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=4))
    # every other frame 50 ms late: never late for an 80 ms buffer, but |D| = 50 ms
    arrivals = sorted((s * TICK + (0.05 if s % 2 else 0.0), s) for s in range(300))
    changes: list[tuple[int, int]] = []
    pending = iter(arrivals)
    arrival = next(pending, None)
    for tick in range(300):
        now = tick * TICK + 0.001
        while arrival is not None and arrival[0] <= now:
            buf.push(arrival[1], b"x", arrival[0])
            arrival = next(pending, None)
        buf.pop(now)
        if buf.target_frames != (changes[-1][1] if changes else 4):
            changes.append((tick, buf.target_frames))
    assert buf.estimate.frames_needed() == 8  # ceil(3 x 50 ms / 20 ms)
    assert [target for _, target in changes] == [6, 8]
    assert changes[1][0] - changes[0][0] == 50  # one look a second
    assert buf.stats.late == 0 and buf.stats.stretched == 4  # one concealed frame per step


def test_a_pause_in_sending_is_not_jitter() -> None:
    est = JitterEstimate()
    t = 0.0
    for seq in range(200):
        est.arrival(seq, t)
        t += TICK + (PAUSE_SECONDS + 0.5 if seq % 50 == 49 else 0.0)  # half a second of silence
    assert est.jitter < 1e-9 and est.frames_needed() == 0


def test_lost_and_reordered_packets_on_time_are_no_jitter() -> None:
    est = JitterEstimate()
    for seq in [0, 1, 2, 4, 5, 7, 6, 8, 9]:  # 3 lost, 6 and 7 swapped, every one on time
        est.arrival(seq, seq * TICK)
    assert est.jitter < 1e-9


def test_the_estimate_is_rfc3550_smoothing_of_the_arrival_excess() -> None:
    est = JitterEstimate()
    est.arrival(0, 0.0)
    est.arrival(1, TICK + 0.016)  # |D| = 16 ms: J = 1 ms
    assert abs(est.jitter - 0.001) < 1e-12
    est.arrival(2, 2 * TICK)  # D = -16 ms: J = 1 + (16 - 1) / 16 ms
    assert abs(est.jitter - (0.001 + 0.015 / 16)) < 1e-12
