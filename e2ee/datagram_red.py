"""Redundancy on one datagram hop (spec §23.3 MEDIA_RED, §23.6), sans-IO.

Each end of a channel measures the loss of the datagrams it receives
(:class:`LossWatch`, by gaps in their counters) and, while that loss is at or
above ``ON_LOST`` per ``WINDOW`` counters, sets REDUNDANT on what it sends.
The other end, while the latest datagram it accepted had REDUNDANT set, sends
each MEDIA as MEDIA_RED with a copy of the MEDIA it sent ``DISTANCE`` media
datagrams before (:class:`CopyRing`).  A single loss, or a burst no longer than
``DISTANCE`` frames, then costs nothing: the copy arrives in a later datagram
and the receiver's replay window lets exactly one of copy and original through.

Both classes are bounded: the ring holds ``DISTANCE`` envelopes, the watch
two counters and a flag.
"""

from __future__ import annotations

from collections import deque

from e2ee import datagram as dg
from e2ee.datagram import Kind
from e2ee.errors import LocalProtocolError

DISTANCE = 2
"""Media datagrams between a frame and its copy (40 ms at one speaker).  Measured
against 1 and 3 (docs/network.md): 2 also survives bursts of two and its copy
still arrives within the default 60 ms playout buffer on a path with ±10 ms of
jitter; 3 arrives too late for that buffer and makes it grow."""
WINDOW = 100
"""Counters per loss measurement (2 s of one speaker's audio)."""
ON_LOST = 1
"""Lost counters in a window (1 %) that turn REDUNDANT on."""
OFF_WINDOWS = 3
"""Windows in a row with no loss before REDUNDANT goes off again."""


class LossWatch:
    """Whether this end asks the other for MEDIA_RED (spec §23.6), from the counters it hears."""

    __slots__ = ("_heard", "_quiet", "_start", "measured", "wanted")

    def __init__(self) -> None:
        self._start: int | None = None
        self._heard = 0
        self._quiet = 0
        self.wanted = False
        """Set REDUNDANT on the datagrams this end sends."""
        self.measured = False
        """A window has closed: ``wanted`` reflects a measurement (a client's start, §23.6)."""

    def heard(self, counter: int) -> None:
        """An accepted datagram's own counter (not a MEDIA_RED copy's)."""
        if self._start is None:
            self._start = counter
        if counter < self._start:
            return  # late from a closed window: already counted as lost
        windows = (counter - self._start) // WINDOW
        if windows > 0:
            self._close(WINDOW - self._heard)
            if windows > 1:  # whole windows without a datagram
                self._close(WINDOW)
            self._start += windows * WINDOW
            self._heard = 0
        self._heard += 1

    def _close(self, lost: int) -> None:
        self.measured = True
        if lost >= ON_LOST:
            self.wanted = True
            self._quiet = 0
            return
        self._quiet += 1
        if self._quiet >= OFF_WINDOWS:
            self.wanted = False


class CopyRing:
    """The last ``distance`` MEDIA envelopes one end sent, to copy into MEDIA_RED (§23.3)."""

    __slots__ = ("_sent",)

    def __init__(self, distance: int = DISTANCE) -> None:
        if not 1 <= distance <= dg.MAX_BACK:
            raise LocalProtocolError("a copy lies 1 to MAX_BACK media datagrams back")
        self._sent: deque[tuple[int, bytes]] = deque(maxlen=distance)

    def wrap(self, counter: int, envelope: bytes, redundant: bool) -> tuple[Kind, bytes]:
        """Kind and body of the media datagram ``counter`` that carries ``envelope``.

        MEDIA_RED with the copy of the envelope sent ``distance`` media
        datagrams before, when ``redundant``, that one exists, lies at most
        ``MAX_BACK`` counters back and both fit one datagram; else MEDIA.
        """
        kind, body = Kind.MEDIA, envelope
        if redundant and len(self._sent) == self._sent.maxlen:
            old_counter, old = self._sent[0]
            back = counter - old_counter
            if 1 <= back <= dg.MAX_BACK and dg.fits(3 + len(envelope) + len(old)):
                kind, body = Kind.MEDIA_RED, dg.red_body(back, envelope, old)
        self._sent.append((counter, envelope))
        return kind, body
