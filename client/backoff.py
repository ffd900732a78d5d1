"""Jittered exponential back-off for reconnecting to the relay.

After a relay restart every client of a room (up to thousands) reconnects at
once; setting up TLS costs the relay real CPU (DESIGN §4), so each client
waits a random share of an exponentially growing delay ("equal jitter":
between half and all of it).  The cap stays small so that audio resumes
within a few seconds of the relay coming back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for successive reconnect attempts.

    ``uniform`` returns a float in [0, 1); tests pass a deterministic one.
    """

    uniform: Callable[[], float]
    base: float = 0.1
    factor: float = 2.0
    cap: float = 2.0
    attempt: int = field(default=0, init=False)

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        ceiling = min(self.cap, self.base * self.factor**self.attempt)
        self.attempt += 1
        return ceiling * (0.5 + 0.5 * self.uniform())

    def reset(self) -> None:
        """A connection succeeded: the next failure starts again from ``base``."""
        self.attempt = 0
