"""Per-direction impairment settings of the network emulator (docs/netem.md, "Model").

Plain, validated values: what one direction of one emulated link does to the
IP packets that cross it.  :mod:`client.bench.netem.model` applies them; the
forwarding process receives them as JSON (:meth:`Impairment.to_json`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

JitterDistribution = Literal["uniform", "normal"]

#: Packets one direction may hold at once (delay line and rate queue together).
MAX_HELD_PACKETS = 100_000


def _check_pct(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 100.0):
        raise ValueError(f"{name} must be a percentage in [0, 100], not {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


@dataclass(frozen=True, slots=True)
class GilbertElliott:
    """Bursty loss: a two-state Markov chain (good, bad) stepped once per packet.

    Before each packet the chain moves good -> bad with probability ``p_pct``
    and bad -> good with probability ``r_pct``; the packet is then lost with
    ``loss_bad_pct`` in the bad state and ``loss_good_pct`` in the good state.
    The bad state lasts 1/r packets on average (geometric), the chain spends
    p/(p+r) of the packets in it, and the long-run loss rate is
    ``(p*loss_bad + r*loss_good) / (p + r)``.  With the defaults
    (100 % loss in bad, 0 % in good) this is the Gilbert model and a loss
    burst is exactly a stay in the bad state: mean burst length 1/r.
    """

    p_pct: float
    r_pct: float
    loss_bad_pct: float = 100.0
    loss_good_pct: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p_pct", "r_pct", "loss_bad_pct", "loss_good_pct"):
            _check_pct(name, getattr(self, name))
        if self.r_pct == 0.0:
            raise ValueError("r_pct must be > 0 (the bad state would never end)")

    @property
    def mean_loss_pct(self) -> float:
        """The long-run share of packets this chain loses, in percent."""
        p, r = self.p_pct, self.r_pct
        return (p * self.loss_bad_pct + r * self.loss_good_pct) / (p + r)

    @property
    def mean_bad_run(self) -> float:
        """Mean number of consecutive packets the chain stays in the bad state."""
        return 100.0 / self.r_pct


@dataclass(frozen=True, slots=True)
class Impairment:
    """What one direction of an emulated link does to each IP packet.

    The processing order (docs/netem.md, "Processing order") is: loss
    (``loss_pct`` and ``gilbert`` independently), duplication, the hold
    limit, the rate limit with its queue, then delay with jitter or
    reordering.  All times are milliseconds, all
    probabilities percentages; the defaults impair nothing.

    * ``delay_ms``: fixed one-way delay added to every packet.
    * ``jitter_ms``: random extra delay.  ``uniform``: uniform on
      [-jitter, +jitter]; ``normal``: normal with standard deviation jitter,
      cut at +-3 standard deviations.  The total delay is never below 0.
    * ``jitter_reorders``: if false (the default) a packet never leaves
      before the one that entered before it (jitter delays, it does not
      reorder); if true every packet leaves at its own drawn time.
    * ``loss_pct``: independent random loss per packet.
    * ``gilbert``: bursty loss, see :class:`GilbertElliott`.
    * ``reorder_pct``: share of packets that skip the delay and jitter and
      leave as soon as the rate limit lets them, overtaking the packets in
      flight (needs ``delay_ms`` > 0 to have an effect).
    * ``duplicate_pct``: share of surviving packets sent twice; the copy
      draws its own delay.
    * ``rate_kbps``: bottleneck rate in kilobits (1,000 bits) per second of
      IP packet bytes; 0 means unlimited.
    * ``queue_packets``: packets that may wait for the bottleneck (its
      tail-drop buffer); only used with a rate limit.
    * ``limit_packets``: packets this direction may hold at once, waiting or
      in flight; beyond it new packets are dropped.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    jitter_distribution: JitterDistribution = "uniform"
    jitter_reorders: bool = False
    loss_pct: float = 0.0
    gilbert: GilbertElliott | None = None
    reorder_pct: float = 0.0
    duplicate_pct: float = 0.0
    rate_kbps: float = 0.0
    queue_packets: int = 100
    limit_packets: int = field(default=10_000)

    def __post_init__(self) -> None:
        _check_non_negative("delay_ms", self.delay_ms)
        _check_non_negative("jitter_ms", self.jitter_ms)
        _check_non_negative("rate_kbps", self.rate_kbps)
        for name in ("loss_pct", "reorder_pct", "duplicate_pct"):
            _check_pct(name, getattr(self, name))
        if self.jitter_distribution not in ("uniform", "normal"):
            raise ValueError(f"unknown jitter distribution {self.jitter_distribution!r}")
        if not 1 <= self.queue_packets <= MAX_HELD_PACKETS:
            raise ValueError(f"queue_packets must be in [1, {MAX_HELD_PACKETS}]")
        if not 1 <= self.limit_packets <= MAX_HELD_PACKETS:
            raise ValueError(f"limit_packets must be in [1, {MAX_HELD_PACKETS}]")

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (the forwarding process's input)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Impairment:
        """The inverse of :meth:`to_json`; validates every field."""
        fields = dict(data)
        gilbert = fields.pop("gilbert", None)
        return cls(**fields, gilbert=None if gilbert is None else GilbertElliott(**gilbert))
