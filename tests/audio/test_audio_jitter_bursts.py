"""The adaptive target: one rise per late burst, decay with a stated pace, anti-flap.

Virtual clock: every arrival and tick time is given; nothing sleeps.
"""

from __future__ import annotations

import itertools

from test_audio_jitter import TICK, drive

from client.audio.jitter import ADAPT_TICKS, FORGET_TICKS, JitterBuffer, JitterConfig


def steady(first: int, count: int, delay: float) -> list[tuple[float, int]]:
    """Frames ``first ..`` sent every 20 ms, each arriving ``delay`` later."""
    return [(s * TICK + delay, s) for s in range(first, first + count)]


def stalled(first: int, count: int, stall: float, at: int) -> list[tuple[float, int]]:
    """Like :func:`steady` (no delay), but frames ``at .. at + stall`` come at once when
    the stall ends, within a millisecond, as a TCP retransmission releases them."""
    end = at * TICK + stall
    out = []
    for s in range(first, first + count):
        sent = s * TICK
        out.append((end + (s - at) * 1e-5, s) if at <= s and sent < end else (sent, s))
    return out


def tick_by_tick(
    buf: JitterBuffer, arrivals: list[tuple[float, int]], first: int, ticks: int
) -> tuple[list[tuple[float, int]], float]:
    """Drive ticks ``first ..``: the target after each, and the last tick with a late arrival."""
    targets, last_late = [], first * TICK
    for tick in range(first, first + ticks):
        late, now = buf.stats.late, tick * TICK
        drive(buf, [a for a in arrivals if now <= a[0] + 0.001 < now + TICK], 1, start=now)
        if buf.stats.late > late:
            last_late = now
        targets.append((now, buf.target_frames))
    return targets, last_late


def test_a_late_burst_raises_the_target_once() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=3))
    drive(buf, stalled(0, 150, 0.18, at=100), 150)  # a 180 ms stall two seconds in
    assert buf.stats.late >= 5  # most of the stalled frames missed their playout time
    assert buf.target_frames == 4  # one frame for the burst, not one per late frame


def test_frames_late_one_by_one_still_raise_one_frame_each() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=3))
    # the path becomes 100 ms slower: every frame late until the delay covers it
    arrivals = steady(0, 100, 0.0) + steady(100, 100, 0.1)
    drive(buf, arrivals, 200)
    assert buf.target_frames >= 3 + 4
    late = buf.stats.late
    drive(buf, steady(200, 100, 0.1), 100, start=200 * TICK)
    assert buf.stats.late == late  # covered


def test_repeated_bursts_never_raise_the_target_past_the_ceiling() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=3, max_target_frames=6, max_frames=40))
    arrivals = steady(0, 50, 0.0)
    for k in range(1, 12):  # a 180 ms stall every second
        arrivals = [a for a in arrivals if a[1] < 50 * k] + stalled(50 * k, 50, 0.18, at=50 * k)
    drive(buf, arrivals, 600)
    assert buf.target_frames == 6


def test_the_target_decays_one_frame_a_second_after_a_three_second_hold() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=3))
    arrivals = steady(0, 1500, 0.0)
    for k in range(1, 12):  # a 180 ms stall every second for 11 s: each one frame more
        arrivals = [a for a in arrivals if a[1] < 50 * k] + stalled(
            50 * k, 1500 - 50 * k, 0.18, 50 * k
        )
    targets, last_late = tick_by_tick(buf, arrivals, 0, 1500)
    peak = max(target for _, target in targets)
    assert peak == 10  # 200 ms covers a 180 ms stall: no late frame after that
    first_drop = next(t for t, target in targets if t > last_late and target < peak)
    at_floor = next(t for t, target in targets if t > last_late and target == 3)
    hold = buf.config.shrink_after_ticks * TICK
    assert hold == 3.0
    assert abs(first_drop - last_late - hold) <= 2 * TICK
    assert abs(at_floor - first_drop - (peak - 4) * ADAPT_TICKS * TICK) <= 2 * TICK
    assert buf.target_frames == 3 and buf.stats.skipped >= peak - 3 - 1  # playout caught up


def switching(spells: int, spell: int = 300) -> list[tuple[float, int]]:
    """6 s spells, alternately by a fast path and by one 100 ms slower."""
    arrivals: list[tuple[float, int]] = []
    for k in range(spells):
        arrivals += steady(k * spell, spell, 0.0 if k % 2 == 0 else 0.1)
    return arrivals


def late_per_spell(
    buf: JitterBuffer, arrivals: list[tuple[float, int]], spell: int = 300
) -> list[int]:
    out = []
    for k in range(len(arrivals) // spell):
        before = buf.stats.late
        lo, hi = k * spell * TICK, (k + 1) * spell * TICK
        drive(buf, [a for a in arrivals if lo <= a[0] + 0.001 < hi], spell, start=lo)
        out.append(buf.stats.late - before)
    return out


def test_a_path_that_keeps_switching_pays_for_the_switch_ever_more_rarely() -> None:
    # A speaker's frames switch every 6 s between two paths 100 ms apart
    # (datagrams and the TLS link).  A switch to the slow one finds the buffer
    # short of 100 ms unless the target kept it.  Without anti-flap the target
    # decays 3 s into every fast spell and the run of late frames comes back
    # every second switch to the slow path (every 24 s); each relapse makes the
    # hold four times longer, up to 64 s.
    buf = JitterBuffer(JitterConfig(target_frames=3))
    late = late_per_spell(buf, switching(60))  # 6 minutes
    costly = [k for k, n in enumerate(late) if n]
    assert all(k % 2 == 1 for k in costly)  # only switches to the slow path cost
    assert costly[:2] == [1, 5]  # the first, and the first relapse (3 s hold)
    gaps = [b - a for a, b in itertools.pairwise(costly)]
    assert gaps[1] == 6 and gaps[2] == 10  # 12 s, then 48 s held
    assert all(gap == 14 for gap in gaps[3:])  # at most once per 64 s + the decay
    assert len(costly) <= 6


def test_the_hold_returns_to_its_base_after_two_quiet_minutes() -> None:
    buf = JitterBuffer(JitterConfig(target_frames=3))
    late = late_per_spell(buf, switching(6))
    assert [k for k, n in enumerate(late) if n] == [1, 5]  # the second one a relapse
    calm = FORGET_TICKS + 20 * ADAPT_TICKS
    drive(buf, steady(1800, calm, 0.0), calm, start=1800 * TICK)
    assert buf.target_frames == 3
    # the next switch to a slower path is given up again 3 s after it, not 6 s
    start = 1800 + calm
    targets, last_late = tick_by_tick(buf, steady(start, 300, 0.1), start, 300)
    grown = max(target for _, target in targets)
    assert grown > 3
    first_drop = next(t for t, target in targets if t > last_late and target < grown)
    assert abs(first_drop - last_late - 3.0) <= 0.5  # (the hold counts playing ticks)
