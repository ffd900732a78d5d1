"""Measure what the emulator does to real packets: ``python -m client.bench.netem.accuracy``.

:func:`probe` sends numbered UDP datagrams from a leaf to an echo socket in
the hub and back, at a fixed pace, and records when each one left, reached
the hub and came back.  Arrivals are the kernel's receive timestamps
(``SO_TIMESTAMPNS``), departures are read just before ``sendto``, all on the
machine's one real-time clock, so the probe's own scheduling delays stay out
of what it measures.  The tests in tests/netem assert on it; run as a program it
measures the scenarios of docs/netem.md ("Accuracy") and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import threading
import time
from dataclasses import dataclass, field

from client.bench.netem.network import Link, Network
from client.bench.netem.settings import GilbertElliott, Impairment

IP_UDP_HEADERS = 28  # IPv4 + UDP header bytes the rate limit also counts
PORT = 9_000
_POLL_S = 0.05
_SO_TIMESTAMPNS = 35  # asm-generic/socket.h; not exported by Python 3.11
_TIMESPEC = struct.Struct("=qq")


@dataclass
class Probe:
    """Times (real-time clock, seconds) of each datagram, by sequence number.

    ``sent_at``: left the leaf; ``hub_at``: reached the hub (first copy);
    ``echoed_at``: the hub sent it back; ``back_at``: the echo reached the leaf.
    """

    count: int
    size: int
    sent_at: dict[int, float] = field(default_factory=dict)
    hub_at: dict[int, float] = field(default_factory=dict)
    echoed_at: dict[int, float] = field(default_factory=dict)
    back_at: dict[int, float] = field(default_factory=dict)
    hub_order: list[int] = field(default_factory=list)
    back_order: list[int] = field(default_factory=list)

    def up_delays_ms(self) -> list[float]:
        """One-way delay leaf -> hub of each datagram that arrived."""
        return [(t - self.sent_at[s]) * 1000 for s, t in self.hub_at.items()]

    def down_delays_ms(self) -> list[float]:
        """One-way delay hub -> leaf of each echo that came back."""
        return [(t - self.echoed_at[s]) * 1000 for s, t in self.back_at.items()]

    def up_loss_pct(self) -> float:
        return 100.0 * (1 - len(self.hub_at) / self.count)

    def down_loss_pct(self) -> float:
        """Loss of the echoes, over the datagrams that reached the hub."""
        return 100.0 * (1 - len(self.back_at) / len(self.hub_at))

    def up_bursts(self) -> list[int]:
        """Lengths of the runs of consecutive datagrams lost on the way up."""
        return loss_runs(set(self.hub_at), self.count)

    def up_duplicates(self) -> int:
        return len(self.hub_order) - len(self.hub_at)

    def up_reordered(self) -> int:
        """Arrivals at the hub behind a datagram sent after them."""
        highest, late = -1, 0
        for seq in self.hub_order:
            late += seq < highest
            highest = max(highest, seq)
        return late

    def up_kbps(self) -> float:
        """Arrival rate at the hub in IP kilobits per second, first to last arrival."""
        times = sorted(self.hub_at.values())
        if len(times) < 2:
            return 0.0
        bits = (len(times) - 1) * (self.size + IP_UDP_HEADERS) * 8
        return bits / (times[-1] - times[0]) / 1000


def loss_runs(arrived: set[int], count: int) -> list[int]:
    """Lengths of the runs of consecutive sequence numbers below ``count`` not in ``arrived``."""
    runs: list[int] = []
    run = 0
    for seq in range(count):
        if seq not in arrived:
            run += 1
            continue
        if run:
            runs.append(run)
        run = 0
    if run:
        runs.append(run)
    return runs


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
            seconds, nanoseconds = _TIMESPEC.unpack(data[: _TIMESPEC.size])
            return float(seconds) + float(nanoseconds) / 1e9
    return time.time()  # no timestamp attached: the time it was read


def _receive(
    sock: socket.socket,
    stop: threading.Event,
    arrived: dict[int, float],
    order: list[int],
    echoed: dict[int, float] | None,
) -> None:
    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    while not stop.is_set():
        try:
            data, ancillary, _, peer = sock.recvmsg(65_536, socket.CMSG_SPACE(_TIMESPEC.size))
        except TimeoutError:
            continue
        seq = int.from_bytes(data[:4], "big")
        order.append(seq)
        arrived.setdefault(seq, _kernel_time(ancillary))
        if echoed is not None:
            echoed.setdefault(seq, time.time())
            sock.sendto(data, peer)


def probe(
    net: Network, leaf: str, count: int, interval_s: float, size: int = 64, tail_s: float = 0.5
) -> Probe:
    """Echo ``count`` datagrams of ``size`` bytes, one every ``interval_s``, through the hub."""
    result = Probe(count=count, size=size)
    hub = net.socket("hub")
    client = net.socket(leaf)
    stop = threading.Event()
    try:
        for sock in (hub, client):
            sock.settimeout(_POLL_S)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        hub.bind((net.hub_address(leaf), PORT))
        threads = [
            threading.Thread(
                target=_receive, args=(hub, stop, result.hub_at, result.hub_order, result.echoed_at)
            ),
            threading.Thread(
                target=_receive, args=(client, stop, result.back_at, result.back_order, None)
            ),
        ]
        for thread in threads:
            thread.start()
        padding = bytes(size - 4)
        start = time.monotonic()
        for seq in range(count):
            pause = start + seq * interval_s - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            result.sent_at[seq] = time.time()
            client.sendto(seq.to_bytes(4, "big") + padding, (net.hub_address(leaf), PORT))
        time.sleep(tail_s)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        hub.close()
        client.close()
    return result


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))]


def _summary(delays: list[float]) -> dict[str, float]:
    return {
        name: round(value, 2)
        for name, value in (
            ("min_ms", min(delays)),
            ("p5_ms", percentile(delays, 5)),
            ("p50_ms", statistics.median(delays)),
            ("p95_ms", percentile(delays, 95)),
            ("p99_ms", percentile(delays, 99)),
            ("max_ms", max(delays)),
        )
    }


def _lateness(net: Network) -> dict[str, int]:
    """The forwarder's own error: worst lateness and packets more than 1 ms late."""
    stats = net.stats()["a"].values()
    return {
        "late_max_us": max(s["late_max_us"] for s in stats),
        "late_over_1ms": sum(s["late_over_1ms"] for s in stats),
    }


def measure(seed: int, count: int, realtime: bool) -> dict[str, object]:
    """The accuracy scenarios of docs/netem.md, each on a fresh emulator."""
    out: dict[str, object] = {}

    def network(up: Impairment, down: Impairment | None = None) -> Network:
        return Network({"a": Link(up=up, down=down or up)}, seed=seed, realtime=realtime)

    with network(Impairment(delay_ms=50)) as net:
        p = probe(net, "a", count, 0.001)
        out["fixed_50ms"] = {
            "up": _summary(p.up_delays_ms()),
            "down": _summary(p.down_delays_ms()),
            "forwarder": _lateness(net),
            "realtime": net.realtime,
        }
    with network(Impairment(delay_ms=50, jitter_ms=10, jitter_reorders=True, loss_pct=5)) as net:
        p = probe(net, "a", count, 0.001)
        out["jitter_50_10ms_loss_5pct"] = {
            "up": {**_summary(p.up_delays_ms()), "loss_pct": round(p.up_loss_pct(), 2)},
            "down": {**_summary(p.down_delays_ms()), "loss_pct": round(p.down_loss_pct(), 2)},
        }
    ge = GilbertElliott(p_pct=2, r_pct=25)
    with network(Impairment(gilbert=ge), Impairment()) as net:
        p = probe(net, "a", count, 0.0005)
        out["gilbert_p2_r25"] = {
            "mean_burst": round(statistics.mean(p.up_bursts()), 2),
            "loss_pct": round(p.up_loss_pct(), 2),
            "expected_burst": ge.mean_bad_run,
            "expected_loss_pct": round(ge.mean_loss_pct, 2),
        }
    with network(Impairment(rate_kbps=2000, queue_packets=20), Impairment()) as net:
        p = probe(net, "a", count // 4, 0.002, size=1000)
        out["rate_2000kbps"] = {"up_kbps": round(p.up_kbps(), 1)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=5_000, help="datagrams per scenario")
    parser.add_argument("--no-realtime", action="store_true", help="forwarder without SCHED_FIFO")
    args = parser.parse_args()
    print(json.dumps(measure(args.seed, args.count, not args.no_realtime), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
