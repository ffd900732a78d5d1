"""The emulator on real packets (docs/netem.md, "Accuracy"): namespaces, TUN, forwarder.

Tolerances here are generous, so that they hold with both cores busy; the
tight ones are in test_accuracy_load.py under ``-m load``.  Every scenario is
seeded: the model draws the same losses for the same packets on every run.
"""

from __future__ import annotations

import hashlib
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest

from client.bench.netem import GilbertElliott, Impairment, Link
from client.bench.netem.accuracy import percentile, probe

from .conftest import STAMP_SLACK_MS, StartNetwork

pytestmark = pytest.mark.netem


def test_udp_echo_delay_and_loss_match_the_settings(emulator: StartNetwork) -> None:
    imp = Impairment(delay_ms=50, jitter_ms=10, jitter_reorders=True, loss_pct=5)
    net = emulator({"a": Link(up=imp, down=imp)})
    p = probe(net, "a", count=1_000, interval_s=0.002)
    for delays, loss in (
        (p.up_delays_ms(), p.up_loss_pct()),
        (p.down_delays_ms(), p.down_loss_pct()),
    ):
        assert loss == pytest.approx(5.0, abs=2.0)
        assert statistics.median(delays) == pytest.approx(50.0, abs=5.0)
        assert min(delays) >= 40.0 - STAMP_SLACK_MS  # never before its drawn delay
        assert percentile(delays, 90) - percentile(delays, 10) >= 10.0  # uniform: 16
    stats = net.stats()["a"]
    assert stats["up"]["lost"] == 1_000 - len(p.hub_at)
    assert stats["down"]["lost"] == len(p.hub_at) - len(p.back_at)


def test_a_tcp_transfer_crosses_a_lossy_delayed_link(emulator: StartNetwork) -> None:
    imp = Impairment(delay_ms=20, jitter_ms=5, loss_pct=3)
    net = emulator({"a": Link(up=imp, down=imp)})
    data = bytes(range(256)) * 1024  # 256 KiB
    server = net.socket("hub", kind=socket.SOCK_STREAM)
    server.bind((net.hub_address("a"), 9100))
    server.listen(1)
    server.settimeout(30)
    received = hashlib.sha256()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65_536):
                received.update(chunk)

    thread = threading.Thread(target=serve)
    thread.start()
    client = net.socket("a", kind=socket.SOCK_STREAM)
    client.settimeout(30)
    started = time.monotonic()
    client.connect((net.hub_address("a"), 9100))
    assert time.monotonic() - started >= 0.030  # SYN and SYN-ACK, at least 15 ms each
    client.sendall(data)
    client.close()
    thread.join(30)
    server.close()
    assert received.digest() == hashlib.sha256(data).digest()
    # with this seed the model drops one of the first few dozen packets each way
    stats = net.stats()["a"]
    assert stats["up"]["lost"] > 0 and stats["down"]["lost"] > 0


def test_bursty_loss_has_the_mean_burst_length_of_the_chain(emulator: StartNetwork) -> None:
    ge = GilbertElliott(p_pct=3, r_pct=25)  # bursts of 4 packets on average
    net = emulator({"a": Link(up=Impairment(gilbert=ge))})
    p = probe(net, "a", count=3_000, interval_s=0.0005, tail_s=0.2)
    bursts = p.up_bursts()
    assert statistics.mean(bursts) == pytest.approx(ge.mean_bad_run, abs=1.0)
    assert p.up_loss_pct() == pytest.approx(ge.mean_loss_pct, abs=3.0)
    assert net.stats()["a"]["up"]["lost"] == sum(bursts)


def test_the_rate_limit_holds_the_throughput(emulator: StartNetwork) -> None:
    # offered twice the rate: 1,000-byte datagrams every 2 ms (4,112 kbps of IP bytes)
    net = emulator({"a": Link(up=Impairment(rate_kbps=2000, queue_packets=20))})
    p = probe(net, "a", count=750, interval_s=0.002, size=1000, tail_s=0.3)
    assert p.up_kbps() == pytest.approx(2000, rel=0.10)
    assert net.stats()["a"]["up"]["dropped_queue"] == 750 - len(p.hub_at) > 0


def test_reordering_and_duplication_reach_the_receiver(emulator: StartNetwork) -> None:
    imp = Impairment(delay_ms=20, reorder_pct=20, duplicate_pct=10)
    net = emulator({"a": Link(up=imp)})
    p = probe(net, "a", count=300, interval_s=0.001, tail_s=0.2)
    stats = net.stats()["a"]["up"]
    assert p.up_duplicates() == stats["duplicated"] > 0
    assert p.up_reordered() > 0
    assert len(p.hub_at) == 300  # nothing lost: reordering and duplication only


def test_leaves_reach_each_other_through_the_hub_across_both_links(
    emulator: StartNetwork,
) -> None:
    net = emulator(
        {
            "alice": Link(up=Impairment(delay_ms=15)),
            "bob": Link(down=Impairment(delay_ms=25)),
        }
    )
    receiver = net.socket("bob")
    receiver.bind((net.address("bob"), 9200))
    receiver.settimeout(5)
    sender = net.socket("alice")
    sent = time.monotonic()
    sender.sendto(b"hello", (net.address("bob"), 9200))
    data, (source, _) = receiver.recvfrom(100)
    elapsed_ms = (time.monotonic() - sent) * 1000
    assert data == b"hello" and source == net.address("alice")
    assert elapsed_ms >= 40.0
    stats = net.stats()
    assert stats["alice"]["up"]["delivered"] == stats["bob"]["down"]["delivered"] == 1


def test_reconfiguring_a_running_link_changes_its_delay(emulator: StartNetwork) -> None:
    net = emulator({"a": Link()})
    before = probe(net, "a", count=20, interval_s=0.005, tail_s=0.1)
    net.configure("a", up=Impairment(delay_ms=40))
    after = probe(net, "a", count=20, interval_s=0.005, tail_s=0.2)
    assert statistics.median(before.up_delays_ms()) < 20.0
    assert min(after.up_delays_ms()) >= 40.0 - STAMP_SLACK_MS
    assert statistics.median(after.down_delays_ms()) < 20.0  # the other direction is unchanged


def test_a_subprocess_runs_inside_a_leaf(emulator: StartNetwork) -> None:
    net = emulator({"a": Link()})
    shown = subprocess.run(
        net.command("a", ["ip", "-o", "-4", "addr", "show"]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"inet {net.address('a')} peer {net.hub_address('a')}" in shown
    server = net.socket("hub")
    server.bind((net.hub_address("a"), 9300))
    server.settimeout(10)
    code = f"import socket; socket.socket(2, 2).sendto(b'from a', ('{net.hub_address('a')}', 9300))"
    subprocess.run(net.command("a", [sys.executable, "-c", code]), check=True)
    data, (source, _) = server.recvfrom(100)
    assert data == b"from a" and source == net.address("a")
