"""The impairment model on a virtual clock (docs/netem.md, "Model"): no root needed."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.bench.netem import Direction, GilbertElliott, Impairment
from client.bench.netem.accuracy import loss_runs


def packet(i: int, size: int = 100) -> bytes:
    return i.to_bytes(4, "big") + bytes(size - 4)


def number(p: bytes) -> int:
    return int.from_bytes(p[:4], "big")


def drive(direction: Direction, arrivals: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Offer each packet at its time; every packet comes out exactly at its due time."""
    out: list[tuple[float, bytes]] = []

    def drain(until: float) -> None:
        while (due := direction.next_due()) is not None and due <= until:
            out.extend(direction.pop_due(due))

    for t, p in arrivals:
        drain(t)
        direction.submit(p, t)
    drain(math.inf)
    return out


def paced(n: int, every_s: float, size: int = 100) -> list[tuple[float, bytes]]:
    return [(i * every_s, packet(i, size)) for i in range(n)]


def make(seed: int = 1, **settings: object) -> Direction:
    return Direction(Impairment(**settings), random.Random(seed))  # type: ignore[arg-type]


def delays_ms(out: list[tuple[float, bytes]], every_s: float) -> list[float]:
    return [(t - number(p) * every_s) * 1000 for t, p in out]


def test_no_impairment_delivers_every_packet_at_once_in_order() -> None:
    out = drive(make(), paced(100, 0.001))
    assert [number(p) for _, p in out] == list(range(100))
    assert delays_ms(out, 0.001) == [0.0] * 100


def test_fixed_delay_is_added_to_every_packet() -> None:
    out = drive(make(delay_ms=50), paced(100, 0.001))
    assert [number(p) for _, p in out] == list(range(100))
    assert all(d == pytest.approx(50.0) for d in delays_ms(out, 0.001))


def test_uniform_jitter_that_may_reorder_is_uniform_around_the_delay() -> None:
    out = drive(make(delay_ms=50, jitter_ms=10, jitter_reorders=True), paced(20_000, 0.001))
    delays = delays_ms(out, 0.001)
    assert 40.0 <= min(delays) < 40.1 and 59.9 < max(delays) <= 60.0
    assert statistics.mean(delays) == pytest.approx(50.0, abs=0.2)
    assert statistics.pstdev(delays) == pytest.approx(20 / math.sqrt(12), rel=0.02)
    assert [number(p) for _, p in out] != list(range(20_000))


def test_jitter_that_may_not_reorder_keeps_the_order_and_never_arrives_early() -> None:
    out = drive(make(delay_ms=50, jitter_ms=10), paced(5_000, 0.002))
    assert [number(p) for _, p in out] == list(range(5_000))
    delays = delays_ms(out, 0.002)
    assert min(delays) >= 40.0 and max(delays) <= 60.0
    # holding a packet behind the one before it only ever adds delay
    assert statistics.mean(delays) > 50.5


def test_normal_jitter_has_the_stated_deviation_and_is_cut_at_three() -> None:
    imp = {"delay_ms": 50, "jitter_ms": 5, "jitter_distribution": "normal"}
    out = drive(make(**imp, jitter_reorders=True), paced(20_000, 0.001))
    delays = delays_ms(out, 0.001)
    assert statistics.pstdev(delays) == pytest.approx(5.0, rel=0.03)
    assert statistics.mean(delays) == pytest.approx(50.0, abs=0.2)
    # about 0.27 % of the draws fall beyond 3 deviations and are cut to it
    assert min(delays) == pytest.approx(35.0) and max(delays) == pytest.approx(65.0)


def test_delay_never_goes_below_zero() -> None:
    out = drive(make(delay_ms=1, jitter_ms=10, jitter_reorders=True), paced(1_000, 0.01))
    assert min(delays_ms(out, 0.01)) >= 0.0


@pytest.mark.parametrize("loss", [1.0, 5.0, 20.0])
def test_random_loss_converges_to_the_setting(loss: float) -> None:
    direction = make(loss_pct=loss)
    out = drive(direction, paced(50_000, 0.001))
    measured = 100 * (1 - len(out) / 50_000)
    assert measured == pytest.approx(loss, abs=0.3)
    assert direction.stats.lost == 50_000 - len(out)


def loss_bursts(out: list[tuple[float, bytes]], n: int) -> list[int]:
    return loss_runs({number(p) for _, p in out}, n)


def test_gilbert_mean_burst_length_is_one_over_r_and_loss_matches() -> None:
    ge = GilbertElliott(p_pct=2.0, r_pct=25.0)
    out = drive(make(gilbert=ge), paced(200_000, 0.001))
    bursts = loss_bursts(out, 200_000)
    assert statistics.mean(bursts) == pytest.approx(ge.mean_bad_run, rel=0.03)  # 4 packets
    # losses come in bursts, so the rate converges more slowly than a random loss rate
    assert 100 * (1 - len(out) / 200_000) == pytest.approx(ge.mean_loss_pct, abs=0.4)


def test_gilbert_elliott_with_partial_losses_matches_its_stationary_rate() -> None:
    ge = GilbertElliott(p_pct=5.0, r_pct=20.0, loss_bad_pct=60.0, loss_good_pct=1.0)
    assert ge.mean_loss_pct == pytest.approx((5 * 60 + 20 * 1) / 25)
    out = drive(make(gilbert=ge), paced(200_000, 0.001))
    assert 100 * (1 - len(out) / 200_000) == pytest.approx(ge.mean_loss_pct, abs=0.4)


def test_bursty_loss_is_burstier_than_random_loss_of_the_same_rate() -> None:
    ge = GilbertElliott(p_pct=1.0, r_pct=25.0)
    bursty = loss_bursts(drive(make(gilbert=ge), paced(50_000, 0.001)), 50_000)
    uniform = loss_bursts(drive(make(loss_pct=ge.mean_loss_pct), paced(50_000, 0.001)), 50_000)
    assert statistics.mean(bursty) > 3 * statistics.mean(uniform)


def test_rate_limit_spaces_packets_by_their_serialization_time() -> None:
    # 1,000-byte packets at 1,000 kbps take 8 ms each; offered every 1 ms
    direction = make(rate_kbps=1000, queue_packets=1_000)
    out = drive(direction, paced(500, 0.001, size=1000))
    times = [t for t, _ in out]
    assert len(out) == 500
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g == pytest.approx(0.008) for g in gaps)


def test_rate_limit_holds_the_throughput_and_drops_at_the_queue() -> None:
    # offered 4,000 kbps for 10 s into a 2,000 kbps bottleneck with a 20-packet queue
    direction = make(rate_kbps=2000, queue_packets=20)
    out = drive(direction, paced(5_000, 0.002, size=1000))
    times = [t for t, _ in out]
    kbps = len(out) * 1000 * 8 / (times[-1] - times[0]) / 1000
    assert kbps == pytest.approx(2000, rel=0.01)
    assert direction.stats.dropped_queue == 5_000 - len(out)
    assert len(out) == pytest.approx(2_500, abs=25)


def test_queue_takes_exactly_queue_packets_then_drops_the_tail() -> None:
    direction = make(rate_kbps=100, queue_packets=20)
    for i in range(25):
        direction.submit(packet(i), 0.0)
    assert direction.held == 20
    assert direction.stats.dropped_queue == 5
    assert [number(p) for _, p in direction.pop_due(math.inf)] == list(range(20))


def test_limit_packets_bounds_what_one_direction_holds() -> None:
    direction = make(delay_ms=1_000, limit_packets=10)
    for i in range(15):
        direction.submit(packet(i), i * 0.001)
    assert direction.held == 10
    assert direction.stats.dropped_limit == 5
    direction.pop_due(2.0)
    direction.submit(packet(99), 2.0)
    assert direction.held == 1


def test_reordered_packets_skip_the_delay() -> None:
    direction = make(delay_ms=50, reorder_pct=10)
    out = drive(direction, paced(20_000, 0.001))
    delays = delays_ms(out, 0.001)
    skipped = sum(1 for d in delays if d == 0.0)
    assert skipped / 20_000 == pytest.approx(0.10, abs=0.01)
    assert all(d in (0.0, pytest.approx(50.0)) for d in delays)
    assert [number(p) for _, p in out] != list(range(20_000))


def test_duplicates_arrive_twice_with_their_own_delay() -> None:
    direction = make(delay_ms=50, jitter_ms=10, jitter_reorders=True, duplicate_pct=10)
    out = drive(direction, paced(20_000, 0.001))
    assert len(out) / 20_000 == pytest.approx(1.10, abs=0.01)
    assert direction.stats.duplicated == len(out) - 20_000
    copies: dict[bytes, list[float]] = {}
    for t, p in out:
        copies.setdefault(p, []).append(t)
    assert any(len(ts) == 2 and ts[0] != ts[1] for ts in copies.values())


def test_same_seed_same_output_other_seed_other_output() -> None:
    settings = {"delay_ms": 30, "jitter_ms": 5, "loss_pct": 5, "duplicate_pct": 2}
    arrivals = paced(2_000, 0.001)
    first = drive(make(7, **settings), arrivals)
    assert drive(make(7, **settings), arrivals) == first
    assert drive(make(8, **settings), arrivals) != first


def test_changing_the_impairment_keeps_held_packets_on_their_times() -> None:
    direction = make(delay_ms=100, jitter_reorders=True)
    direction.submit(packet(0), 0.0)
    direction.impairment = Impairment(delay_ms=10, jitter_reorders=True)
    direction.submit(packet(1), 0.001)
    assert [number(p) for _, p in direction.pop_due(0.05)] == [1]
    assert [number(p) for _, p in direction.pop_due(0.099)] == []
    assert [number(p) for _, p in direction.pop_due(0.1)] == [0]


@pytest.mark.parametrize(
    "bad",
    [
        {"delay_ms": -1},
        {"jitter_ms": math.nan},
        {"loss_pct": 100.5},
        {"reorder_pct": -0.1},
        {"duplicate_pct": math.inf},
        {"rate_kbps": -5},
        {"queue_packets": 0},
        {"limit_packets": 100_001},
        {"jitter_distribution": "pareto"},
    ],
)
def test_invalid_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Impairment(**bad)  # type: ignore[arg-type]


def test_gilbert_elliott_needs_a_way_out_of_the_bad_state() -> None:
    with pytest.raises(ValueError):
        GilbertElliott(p_pct=1, r_pct=0)
    with pytest.raises(ValueError):
        GilbertElliott(p_pct=101, r_pct=10)


def test_settings_survive_the_trip_to_the_forwarding_process() -> None:
    imp = Impairment(
        delay_ms=20,
        jitter_ms=3,
        jitter_distribution="normal",
        loss_pct=1,
        gilbert=GilbertElliott(p_pct=1, r_pct=30, loss_bad_pct=80),
        rate_kbps=500,
    )
    assert Impairment.from_json(imp.to_json()) == imp
    assert Impairment.from_json(Impairment().to_json()) == Impairment()


impairments = st.builds(
    Impairment,
    delay_ms=st.floats(0, 100),
    jitter_ms=st.floats(0, 50),
    jitter_distribution=st.sampled_from(["uniform", "normal"]),
    jitter_reorders=st.booleans(),
    loss_pct=st.floats(0, 100),
    gilbert=st.none() | st.builds(GilbertElliott, st.floats(0, 100), st.floats(1, 100)),
    reorder_pct=st.floats(0, 100),
    duplicate_pct=st.floats(0, 100),
    rate_kbps=st.sampled_from([0.0, 10.0, 1000.0]),
    queue_packets=st.integers(1, 50),
    limit_packets=st.integers(1, 50),
)


@given(
    imp=impairments,
    gaps=st.lists(st.floats(0, 0.05), min_size=1, max_size=200),
    seed=st.integers(0, 2**32),
)
def test_every_packet_is_accounted_for_and_none_leaves_early(
    imp: Impairment, gaps: list[float], seed: int
) -> None:
    direction = Direction(imp, random.Random(seed))
    arrivals, t = [], 0.0
    for i, gap in enumerate(gaps):
        t += gap
        arrivals.append((t, packet(i)))
    sent_at = {p: at for at, p in arrivals}
    held_max = 0
    out: list[tuple[float, bytes]] = []
    for at, p in arrivals:
        while (due := direction.next_due()) is not None and due <= at:
            out.extend(direction.pop_due(due))
        direction.submit(p, at)
        held_max = max(held_max, direction.held)
    out.extend(direction.pop_due(math.inf))
    s = direction.stats
    assert held_max <= imp.limit_packets
    assert s.received == len(arrivals)
    dropped = s.lost + s.dropped_limit + s.dropped_queue
    assert s.delivered == len(out) == s.received + s.duplicated - dropped
    assert all(due >= sent_at[p] for due, p in out)
    if not imp.jitter_reorders and not imp.reorder_pct:
        order = [number(p) for _, p in out]
        assert order == sorted(order)
