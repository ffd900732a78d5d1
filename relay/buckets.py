"""Token buckets for the relay's rate limits (spec §17.5), sans-IO.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per
second of the caller's clock; :meth:`TokenBucket.take` spends ``amount``
tokens or, if fewer are left, spends nothing and says no.
"""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` held; starts with ``start`` (or full)."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float, start: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst if start is None else min(start, burst)
        self.last = now

    def take(self, amount: float, now: float) -> bool:
        """Spend ``amount`` tokens at time ``now``; False (nothing spent) if too few."""
        tokens = self.tokens + (now - self.last) * self.rate
        self.last = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens < amount:
            self.tokens = tokens
            return False
        self.tokens = tokens - amount
        return True
