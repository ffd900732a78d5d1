"""One direction of an emulated link, as pure code (docs/netem.md, "Model").

:class:`Direction` takes packets with the time they arrived and hands them
back at the time they are due, applying an :class:`Impairment`.  It owns its
random generator and never reads a clock: the caller passes ``now`` (seconds
on any monotonic scale), so the same seed and the same arrivals give the same
output, on a virtual clock in unit tests as in the forwarding process.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass

from client.bench.netem.settings import Impairment

_NORMAL_CUT = 3.0  # a normal jitter draw is cut at this many standard deviations


@dataclass(slots=True)
class DirectionStats:
    """Packet counts of one direction since it was created.

    ``received`` counts packets offered; each is then either ``lost`` (loss
    or bursty loss) or kept.  A kept packet, and its copy when it is
    ``duplicated``, is dropped when the direction already holds
    ``limit_packets`` (``dropped_limit``), dropped at the full bottleneck
    queue (``dropped_queue``), or eventually ``delivered``.
    """

    received: int = 0
    lost: int = 0
    dropped_limit: int = 0
    dropped_queue: int = 0
    duplicated: int = 0
    delivered: int = 0


class Direction:
    """Delay line, loss, duplication and bottleneck of one link direction."""

    __slots__ = (
        "_bad",
        "_heap",
        "_last_due",
        "_link_free_at",
        "_rng",
        "_seq",
        "_waiting",
        "impairment",
        "stats",
    )

    def __init__(self, impairment: Impairment, rng: random.Random) -> None:
        self.impairment = impairment
        self.stats = DirectionStats()
        self._rng = rng
        self._bad = False  # Gilbert–Elliott state
        self._heap: list[tuple[float, int, bytes]] = []
        self._seq = 0
        self._last_due = float("-inf")  # departure of the last in-order packet
        self._link_free_at = float("-inf")  # when the bottleneck finishes sending
        self._waiting: deque[float] = deque()  # serialization end times, oldest first

    @property
    def held(self) -> int:
        """Packets waiting or in flight."""
        return len(self._heap)

    def next_due(self) -> float | None:
        """When the next packet is due, or None when none is held."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[float, bytes]]:
        """The packets due at ``now`` with their due times, in departure order."""
        out: list[tuple[float, bytes]] = []
        while self._heap and self._heap[0][0] <= now:
            due, _, packet = heapq.heappop(self._heap)
            out.append((due, packet))
        self.stats.delivered += len(out)
        return out

    def submit(self, packet: bytes, now: float) -> None:
        """Offer one packet arriving at ``now`` (docs/netem.md, "Processing order")."""
        imp = self.impairment
        self.stats.received += 1
        if self._lost():
            self.stats.lost += 1
            return
        copies = 1
        if imp.duplicate_pct and self._chance(imp.duplicate_pct):
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            if len(self._heap) >= imp.limit_packets:
                self.stats.dropped_limit += 1
                continue
            ready = self._through_bottleneck(len(packet), now)
            if ready is None:
                self.stats.dropped_queue += 1
                continue
            self._seq += 1
            heapq.heappush(self._heap, (self._departure(ready), self._seq, packet))

    def _chance(self, pct: float) -> bool:
        return self._rng.random() * 100.0 < pct

    def _lost(self) -> bool:
        imp = self.impairment
        lost = False
        ge = imp.gilbert
        if ge is not None:
            self._bad = not self._chance(ge.r_pct) if self._bad else self._chance(ge.p_pct)
            lost = self._chance(ge.loss_bad_pct if self._bad else ge.loss_good_pct)
        if imp.loss_pct and self._chance(imp.loss_pct):
            lost = True
        return lost

    def _through_bottleneck(self, size: int, now: float) -> float | None:
        """When the packet has left the bottleneck, or None if its queue is full."""
        imp = self.impairment
        if not imp.rate_kbps:
            return now
        while self._waiting and self._waiting[0] <= now:
            self._waiting.popleft()
        if len(self._waiting) >= imp.queue_packets:
            return None
        start = max(now, self._link_free_at)
        self._link_free_at = start + size * 8 / (imp.rate_kbps * 1000.0)
        self._waiting.append(self._link_free_at)
        return self._link_free_at

    def _departure(self, ready: float) -> float:
        imp = self.impairment
        if imp.reorder_pct and self._chance(imp.reorder_pct):
            return ready  # overtakes the packets in flight; does not move _last_due
        delay = imp.delay_ms + self._jitter_ms()
        due = ready + max(delay, 0.0) / 1000.0
        if not imp.jitter_reorders:
            due = max(due, self._last_due)
            self._last_due = due
        return due

    def _jitter_ms(self) -> float:
        imp = self.impairment
        if not imp.jitter_ms:
            return 0.0
        if imp.jitter_distribution == "uniform":
            return self._rng.uniform(-imp.jitter_ms, imp.jitter_ms)
        draw = self._rng.gauss(0.0, 1.0)
        return max(-_NORMAL_CUT, min(_NORMAL_CUT, draw)) * imp.jitter_ms
