"""Inter-arrival jitter of one speaker's packets, and the playout delay it calls for.

The estimator is RFC 3550's (§6.4.1, "interarrival jitter"), with the frame
counter as the sender's clock: for each packet, against the one that arrived
before it, ``D = (t - t_prev) - (seq - seq_prev) * FRAME``, and
``J += (|D| - J) / 16``.  Loss and reordering cancel out of ``D`` (the
counters say how far apart the two were sent).  A ``|D|`` of ``PAUSE_SECONDS``
or more is not jitter and is ignored: a pause in sending (the sender's
silence gate, during which the counter stands still) or a restarted counter.

The delay asked for is ``ceil(JITTER_FACTOR * J / FRAME)`` frames.  For two
independent delays spread evenly over ``[0, X]`` the mean ``|D|`` is
``X / 3``, so a factor of 3 asks for the whole spread ``X``; for normally
distributed delays (deviation ``s``) the mean ``|D|`` is about ``1.13 s`` and
the factor asks for about ``3.4 s``.  The buffer clamps the result between
its configured minimum and maximum, and late arrivals still raise it
(client.audio.jitter).

State: two numbers and the last arrival; nothing grows.
"""

from __future__ import annotations

import math

from client.audio.format import FRAME_SECONDS

GAIN = 1 / 16
"""RFC 3550's smoothing gain: about the last 16 packets (320 ms) weigh most."""
JITTER_FACTOR = 3.0
"""Playout delay asked for, in multiples of the jitter estimate."""
PAUSE_SECONDS = 0.2
"""An inter-arrival excess this large is a pause in sending, not jitter."""


class JitterEstimate:
    """RFC 3550 interarrival jitter over consecutive frame counters (module docstring)."""

    def __init__(self) -> None:
        self.jitter = 0.0
        """Smoothed mean ``|D|`` in seconds."""
        self._last: tuple[int, float] | None = None

    def arrival(self, seq: int, now: float) -> None:
        """Packet ``seq`` arrived at ``now`` (seconds); late ones too, duplicates not."""
        last, self._last = self._last, (seq, now)
        if last is None:
            return
        excess = abs(now - last[1] - (seq - last[0]) * FRAME_SECONDS)
        if excess < PAUSE_SECONDS:
            self.jitter += (excess - self.jitter) * GAIN

    def frames_needed(self) -> int:
        """The playout delay, in frames, this jitter calls for."""
        return math.ceil(JITTER_FACTOR * self.jitter / FRAME_SECONDS - 1e-9)
