"""Jitter buffer: ordering, duplicates, late and lost packets, jumps, idle, reset, adaptation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from client.audio.jitter import JitterBuffer, JitterConfig, Playout, PushResult

TICK = 0.02


def payload(seq: int) -> bytes:
    return seq.to_bytes(4, "big")


def drive(
    buf: JitterBuffer, arrivals: list[tuple[float, int]], ticks: int, start: float = 0.0
) -> list[Playout]:
    """Push ``(time, seq)`` arrivals and pop once per tick, as the session does."""
    arrivals = sorted(arrivals)
    out: list[Playout] = []
    k = 0
    for tick in range(ticks):
        now = start + tick * TICK + 0.001
        while k < len(arrivals) and arrivals[k][0] <= now:
            buf.push(arrivals[k][1], payload(arrivals[k][1]), arrivals[k][0])
            k += 1
        out.append(buf.pop(now))
    return out


def played(steps: list[Playout]) -> list[int]:
    return [s.seq for s in steps if s.kind == "packet" and s.seq is not None]


def timeline(steps: list[Playout]) -> list[int | str]:
    """Non-idle steps as seq (played) or "L<seq>" (concealed)."""
    return [s.seq if s.kind == "packet" else f"L{s.seq}" for s in steps if s.kind != "idle"]


def fixed(target: int = 3, **kw: int) -> JitterBuffer:
    return JitterBuffer(JitterConfig(target_frames=target, adaptive=False, **kw))


def test_in_order_stream_plays_everything_after_the_target_delay():
    buf = fixed(3)
    steps = drive(buf, [(i * TICK, 100 + i) for i in range(50)], 60)
    assert [s.kind for s in steps[:2]] == ["idle", "idle"]
    assert steps[2].kind == "packet"
    assert played(steps) == list(range(100, 150))


def test_duplicates_are_ignored():
    buf = fixed(2)
    assert buf.push(5, b"a", 0.0) is PushResult.ACCEPTED
    assert buf.push(5, b"b", 0.0) is PushResult.DUPLICATE
    buf.push(6, b"c", 0.01)
    assert buf.pop(0.05).payload == b"a"
    assert buf.push(5, b"d", 0.06) is PushResult.DUPLICATE  # already played
    assert buf.pop(0.07).payload == b"c"
    assert buf.stats.duplicates == 2


def test_reordering_within_the_delay_is_repaired():
    buf = fixed(3)
    order = [0, 2, 1, 3, 5, 4, 7, 6, 8, 9, 11, 10]
    steps = drive(buf, [(i * TICK, seq) for i, seq in enumerate(order)], 20)
    assert timeline(steps)[:12] == list(range(12))  # nothing concealed, nothing late
    assert buf.stats.late == 0


def test_late_packet_is_dropped_and_its_slot_concealed():
    buf = fixed(2)
    arrivals = [(i * TICK, i) for i in range(10) if i != 4] + [(9 * TICK, 4)]
    steps = drive(buf, arrivals, 14)
    assert "L4" in timeline(steps)
    assert 4 not in played(steps)
    assert buf.stats.late == 1
    assert played(steps) == [0, 1, 2, 3, 5, 6, 7, 8, 9]


def test_lost_frame_carries_next_packet_for_fec():
    buf = fixed(3)
    steps = drive(buf, [(i * TICK, i) for i in range(10) if i != 5], 12)
    lost = [s for s in steps if s.kind == "lost" and s.seq == 5]
    assert len(lost) == 1
    assert lost[0].next_payload == payload(6)


def test_burst_loss_keeps_the_timeline():
    buf = fixed(3)
    lost = set(range(20, 30))
    steps = drive(buf, [(i * TICK, i) for i in range(60) if i not in lost], 70)
    t = timeline(steps)
    # Every seq from 0..59 occupies exactly one tick, in order: no time squeezed or added.
    assert t[:60] == [i if i not in lost else f"L{i}" for i in range(60)]


def test_speaker_goes_idle_after_a_pause_and_restarts_with_delay():
    buf = fixed(2, idle_after_frames=5)
    first = [(i * TICK, i) for i in range(10)]
    second = [(2.0 + i * TICK, 10 + i) for i in range(10)]  # seq continues after DTX silence
    steps = drive(buf, first + second, 150)
    kinds = [s.kind for s in steps]
    assert played(steps) == list(range(20))
    assert kinds[60:99].count("idle") == 39  # idle while silent: nothing to mix
    assert buf.stats.spurts == 2
    assert buf.stats.concealed == 5 + 5  # a short PLC tail after each spurt


def test_sequence_jump_is_not_concealed():
    buf = fixed(3, jump_frames=50)
    arrivals = [(i * TICK, i) for i in range(10)] + [(0.2 + i * TICK, 5000 + i) for i in range(10)]
    steps = drive(buf, arrivals, 30)
    assert played(steps) == list(range(10)) + list(range(5000, 5010))
    t = timeline(steps)
    assert t[:20] == list(range(10)) + list(range(5000, 5010))  # no concealment in between
    assert buf.stats.jumps == 1


def test_reset_accepts_a_restarted_counter():
    buf = fixed(1)
    drive(buf, [(i * TICK, 1000 + i) for i in range(5)], 8)
    assert buf.push(0, b"x", 1.0) is PushResult.LATE
    buf.reset()
    assert buf.push(0, b"x", 1.0) is PushResult.ACCEPTED
    assert buf.pop(1.01).payload == b"x"


def test_overflow_drops_oldest():
    buf = fixed(3, max_frames=20, max_target_frames=12)
    for seq in range(30):
        buf.push(seq, payload(seq), 0.0)
    assert buf.buffered == 20
    assert buf.stats.overflowed == 10
    assert buf.pop(0.1).seq == 10


def test_adaptive_delay_grows_on_late_arrivals_and_shrinks_back():
    buf = JitterBuffer(JitterConfig(target_frames=2, adaptive=True, shrink_after_ticks=100))
    # 1000 packets; up to seq 200 every 10th is 70 ms late (beyond a 40 ms buffer).
    arrivals = [(i * TICK + (0.07 if i % 10 == 9 and i < 200 else 0.0), i) for i in range(1000)]

    def segment(start_tick: int, stop_tick: int) -> list[Playout]:
        lo, hi = start_tick * TICK, stop_tick * TICK
        part = [(t, s) for t, s in arrivals if lo <= t + 0.001 - 1e-9 < hi]
        return drive(buf, part, stop_tick - start_tick, start=lo)

    segment(0, 100)
    assert buf.target_frames > 2
    assert buf.stats.stretched >= 1
    late_first = buf.stats.late
    assert late_first >= 1
    segment(100, 200)
    # With the larger delay, the same pattern stops producing late packets.
    assert buf.stats.late - late_first <= 1
    steps = segment(200, 1000)
    # A long, clean stretch lets the target fall back to the configured value.
    assert buf.target_frames == 2
    assert buf.stats.skipped >= 1
    assert played(steps) == sorted(played(steps))


@settings(max_examples=150, deadline=None)
@given(
    seqs=st.lists(st.integers(min_value=0, max_value=80), min_size=1, max_size=120),
    jitter=st.lists(st.floats(min_value=0.0, max_value=0.15), min_size=120, max_size=120),
    target=st.integers(min_value=0, max_value=6),
    adaptive=st.booleans(),
)
def test_any_arrival_pattern_plays_each_seq_once_in_order(seqs, jitter, target, adaptive):
    buf = JitterBuffer(JitterConfig(target_frames=target, adaptive=adaptive))
    arrivals = [(seq * TICK + jitter[i], seq) for i, seq in enumerate(seqs)]
    steps = drive(buf, arrivals, 140)
    assert len(steps) == 140  # exactly one answer per tick
    seen = played(steps)
    assert seen == sorted(set(seen))  # strictly increasing: no repeats, no going back
    assert set(seen) <= set(seqs)
    for step in steps:
        if step.kind == "packet":
            assert step.payload == payload(step.seq or 0)
