"""Jitter buffer: frames held until their speaker's proof arrive in releases (spec §15.6)."""

from __future__ import annotations

import random

from client.audio.jitter import JitterBuffer, JitterConfig, Playout

TICK = 0.02
TARGET = JitterConfig().target_frames


def releases(
    batch: int, count: int, jitter: float = 0.0, first: int = 0, seed: int = 1
) -> list[tuple[float, int]]:
    """``(arrival, seq)`` of ``count`` full batches: frame ``s`` is sent at ``s * TICK``;
    the batch's frames all arrive with its proof, just after its last frame, in order."""
    rng = random.Random(seed)
    out: list[tuple[float, int]] = []
    due = 0.0
    for k in range(count):
        seqs = range(first + k * batch, first + (k + 1) * batch)
        due = max(due, seqs[-1] * TICK + 0.005 + rng.uniform(0.0, jitter))
        out += [(due, s) for s in seqs]
    return out


def drive(
    buf: JitterBuffer, arrivals: list[tuple[float, int]], ticks: int, batch: int
) -> list[tuple[float, Playout]]:
    """Push the arrivals (as held frames of ``batch``) and pop once per tick."""
    return drive_mixed(buf, [(at, seq, batch) for at, seq in arrivals], ticks)


def drive_mixed(
    buf: JitterBuffer, arrivals: list[tuple[float, int, int]], ticks: int
) -> list[tuple[float, Playout]]:
    """Push ``(arrival, seq, proof_batch)`` arrivals and pop once per tick."""
    out: list[tuple[float, Playout]] = []
    k = 0
    for tick in range(ticks):
        now = tick * TICK + 0.001
        while k < len(arrivals) and arrivals[k][0] <= now:
            at, seq, batch = arrivals[k]
            buf.push(seq, seq.to_bytes(4, "big"), at, proof_batch=batch)
            k += 1
        out.append((now, buf.pop(now)))
    return out


def delays(steps: list[tuple[float, Playout]]) -> list[float]:
    """Send to play, for each played frame."""
    return [now - s.seq * TICK for now, s in steps if s.kind == "packet" and s.seq is not None]


def test_releases_of_a_batch_play_every_frame_one_batch_plus_the_target_after_it_was_sent():
    buf = JitterBuffer()
    steps = drive(buf, releases(25, 40, jitter=0.03), 40 * 25 + 60, batch=25)
    s = buf.stats
    assert s.played == 1000 and (s.late, s.skipped, s.stretched, s.overflowed) == (0, 0, 0, 0)
    assert s.concealed == s.trailing
    expected = (25 - 1 + TARGET) * TICK
    assert all(expected <= d <= expected + 0.03 + 0.005 + TICK for d in delays(steps))
    assert buf.delay_seconds == expected


def test_without_the_batch_the_same_releases_come_late():
    buf = JitterBuffer(JitterConfig(adaptive=False))
    drive(buf, releases(25, 40, jitter=0.03), 40 * 25 + 60, batch=0)
    assert buf.stats.late > 0  # the first frame of a release had no margin


def test_a_spurt_that_starts_with_a_short_release_waits_for_the_rest_of_the_batch():
    short = [(4 * TICK + 0.005, s) for s in range(5)]  # a batch closed early, then full ones
    rest = releases(20, 10, first=5)
    buf = JitterBuffer()
    steps = drive(buf, short + rest, 300, batch=20)
    assert buf.stats.played == 205 and buf.stats.late == 0 and buf.stats.skipped == 0
    assert min(delays(steps)) >= (20 - 1 + TARGET) * TICK


def test_the_newest_frame_of_each_release_is_the_jitter_estimates_arrival():
    buf = JitterBuffer()
    drive(buf, releases(3, 200), 620, batch=3)
    assert buf.estimate.jitter < 0.001  # the held frames were not delayed by the network
    plain = JitterBuffer()
    drive(plain, releases(3, 200), 620, batch=0)
    assert plain.estimate.jitter > 0.02  # frame by frame, a release looks like jitter


def test_a_release_larger_than_max_frames_is_kept_whole():
    buf = JitterBuffer()
    assert buf.config.max_frames < 64
    drive(buf, releases(64, 4), 5 * 64 + 40, batch=64)
    assert buf.stats.overflowed == 0 and buf.stats.played == 256 and buf.stats.late == 0


def test_excess_delay_over_releases_is_trimmed_but_a_second_without_one_trims_nothing():
    late_start = [(at + 0.1, s) for at, s in releases(25, 2)]  # the first two come 100 ms late
    buf = JitterBuffer()
    drive(buf, late_start + releases(25, 30)[50:], 32 * 25 + 40, batch=25)
    assert 1 <= buf.stats.skipped <= 5  # the 5 frames of excess delay, one a second
    assert buf.stats.late == 0
    slow = JitterBuffer()
    drive(slow, releases(64, 6), 7 * 64 + 40, batch=64)  # 1.28 s between releases
    assert slow.stats.skipped == 0


def held_then_played_first(
    batch: int, switch: int, end: int, gate_lag: list[int]
) -> list[tuple[float, int, int]]:
    """``(arrival, seq, proof_batch)``: releases of ``batch`` below ``switch``, then each
    frame on its own 5 ms after it was sent; the frames in ``gate_lag`` were held at the
    switch and come with their proof, a batch after the switch."""
    held = [(at, s, batch) for at, s in releases(batch, switch // batch) if s not in gate_lag]
    lagging = [((switch + batch) * TICK, s, batch) for s in gate_lag]
    first = [(s * TICK + 0.005, s, 0) for s in range(switch, end)]
    return sorted(held + lagging + first)


def test_a_speaker_turned_from_held_to_played_first_plays_at_the_target_within_one_batch():
    buf = JitterBuffer()
    switch = 6 * 25
    steps = drive_mixed(buf, held_then_played_first(25, switch, switch + 500, []), 700)
    played = [(now, now - s.seq * TICK) for now, s in steps if s.kind == "packet" and s.seq]
    before = [d for now, d in played if now < switch * TICK]
    assert min(before) >= (25 - 1 + TARGET) * TICK  # held: a batch behind
    after = [d for now, d in played if now >= (switch + 25) * TICK]  # one batch later
    assert len(after) > 400 and max(after) <= TARGET * TICK + 0.005
    s = buf.stats
    assert 0 < s.switch_dropped <= 25 + TARGET and s.late == 0 and s.skipped == 0
    assert s.played + s.switch_dropped == switch + 500
    assert buf.delay_seconds == TARGET * TICK


def test_held_frames_released_after_the_switch_are_late_but_raise_no_target():
    buf = JitterBuffer()
    switch = 6 * 25
    lag = list(range(switch - 10, switch))  # the batch waiting for its proof at the switch
    drive_mixed(buf, held_then_played_first(25, switch, switch + 500, lag), 700)
    assert buf.stats.late == len(lag)
    assert buf.target_frames == TARGET and buf.stats.stretched == 0


def test_a_lone_held_frame_between_frames_played_first_drops_nothing():
    rng = random.Random(5)
    arrivals, due = [], 0.0
    for s in range(1000):  # in order, each delayed by up to 40 ms
        due = max(due, s * TICK + rng.uniform(0.0, 0.04))
        arrivals.append((due, s, 20 if s % 20 == 0 else 0))
    buf = JitterBuffer()  # every 20th frame came just outside the play-first window: held
    drive_mixed(buf, arrivals, 1040)
    assert buf.stats.switch_dropped == 0 and buf.stats.played == 1000
