"""Tight accuracy bounds of the emulator (docs/netem.md, "Accuracy"): ``pytest -m load``.

These hold on a machine that is not saturated; the default suite has the
generous versions in test_emulator.py.
"""

from __future__ import annotations

import statistics

import pytest

from client.bench.netem import GilbertElliott, Impairment, Link
from client.bench.netem.accuracy import percentile, probe

from .conftest import CLOCK_MS, StartNetwork

pytestmark = [pytest.mark.netem, pytest.mark.load]


def test_a_fixed_delay_is_met_within_a_millisecond_at_the_median(emulator: StartNetwork) -> None:
    imp = Impairment(delay_ms=50)
    net = emulator({"a": Link(up=imp, down=imp)})
    p = probe(net, "a", count=5_000, interval_s=0.001)
    for delays in (p.up_delays_ms(), p.down_delays_ms()):
        assert len(delays) == 5_000
        assert min(delays) >= 50.0 - CLOCK_MS
        assert statistics.median(delays) <= 50.5
        assert percentile(delays, 99) <= 51.0


def test_jittered_lossy_delay_matches_closely_over_many_packets(emulator: StartNetwork) -> None:
    imp = Impairment(delay_ms=50, jitter_ms=10, jitter_reorders=True, loss_pct=5)
    net = emulator({"a": Link(up=imp, down=imp)}, seed=3)
    p = probe(net, "a", count=10_000, interval_s=0.001)
    for delays, loss in (
        (p.up_delays_ms(), p.up_loss_pct()),
        (p.down_delays_ms(), p.down_loss_pct()),
    ):
        assert loss == pytest.approx(5.0, abs=0.6)
        assert statistics.median(delays) == pytest.approx(50.0, abs=1.0)
        assert percentile(delays, 5) == pytest.approx(41.0, abs=1.0)
        assert percentile(delays, 95) == pytest.approx(59.0, abs=1.5)


def test_bursty_loss_matches_the_chain_over_many_packets(emulator: StartNetwork) -> None:
    ge = GilbertElliott(p_pct=2, r_pct=25)
    net = emulator({"a": Link(up=Impairment(gilbert=ge))}, seed=3)
    p = probe(net, "a", count=20_000, interval_s=0.0002, tail_s=0.2)
    assert statistics.mean(p.up_bursts()) == pytest.approx(ge.mean_bad_run, rel=0.15)
    assert p.up_loss_pct() == pytest.approx(ge.mean_loss_pct, abs=1.0)


def test_the_rate_limit_holds_within_two_percent(emulator: StartNetwork) -> None:
    net = emulator({"a": Link(up=Impairment(rate_kbps=4000, queue_packets=50))})
    p = probe(net, "a", count=3_000, interval_s=0.001, size=1000, tail_s=0.3)
    assert p.up_kbps() == pytest.approx(4000, rel=0.02)
