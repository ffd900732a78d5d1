"""What a listener measures for receiver loss reports (spec §14.4 LOSS_REPORT).

:class:`LossMeter` counts, per speaker, the frames it expected and the frames
it received over one report window, by the speaker's frame counter and before
any FEC recovery or concealment: a frame that arrives at all counts as
received, late or not.  Every ``REPORT_INTERVAL`` seconds the client calls
:meth:`LossMeter.take`, which closes the window and returns one
``(speaker, loss_permille)`` per speaker heard in it; each becomes a
LOSS_REPORT sent by unicast to that speaker.

Rules (``seq`` is the speaker's frame counter, which DTX silence does not
advance, so a pause in speech is no loss):

* A window covers the counters from the first one after the previous window
  (or, for a speaker not heard before, the lowest received) up to the highest
  received; ``expected`` is that span, ``received`` the distinct counters in it.
  A hole at the end of one window is counted in the next once a later frame
  arrives.
* A frame below the window's start (late from an earlier window) or a
  duplicate is not counted again.
* A jump of ``MAX_SPAN`` counters or more, either way (the stream restarted),
  starts the speaker's window again from that frame; the jump is no loss.
* A speaker with fewer than ``MIN_EXPECTED`` expected frames is carried over
  to the next window rather than reported from so few frames.
* At most ``MAX_SPEAKERS`` speakers are tracked (the least recently heard is
  forgotten), and a window's counters are bounded by ``MAX_SPAN``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PER_MILLE = 1000
"""A report is in thousandths of the frames expected (all of them lost: 1000)."""
REPORT_INTERVAL = 5.0
"""Seconds between two reports from one listener about one speaker."""
MIN_EXPECTED = 50
"""Frames (one second of speech) a window needs before its loss is reported."""
MAX_SPAN = 2000
"""The most counters one window covers (40 s at 50 frames a second); beyond, a restart."""
MAX_SPEAKERS = 64
"""Speakers tracked at once."""


@dataclass
class _Window:
    start: int
    """The first counter this window expects."""
    seen: set[int] = field(default_factory=set)

    @property
    def expected(self) -> int:
        return max(self.seen) - self.start + 1 if self.seen else 0


class LossMeter:
    """Per-speaker frames expected and received over the current report window."""

    def __init__(self) -> None:
        self._windows: dict[bytes, _Window] = {}

    def frame(self, speaker: bytes, seq: int) -> None:
        """A frame with counter ``seq`` arrived from ``speaker`` (duplicates included)."""
        window = self._windows.pop(speaker, None)  # re-inserted last: least recent first
        if window is None:
            if len(self._windows) >= MAX_SPEAKERS:
                del self._windows[next(iter(self._windows))]
            window = _Window(seq)
        if not -MAX_SPAN < seq - window.start < MAX_SPAN:
            window = _Window(seq)
        if seq >= window.start:
            window.seen.add(seq)
        self._windows[speaker] = window

    def forget(self, speaker: bytes) -> None:
        """``speaker`` left the stage or its stream restarted: drop its window."""
        self._windows.pop(speaker, None)

    def take(self) -> list[tuple[bytes, int]]:
        """Close the window: ``(speaker, loss_permille)`` for each speaker with enough frames."""
        reports = []
        for speaker, window in self._windows.items():
            expected = window.expected
            if expected < MIN_EXPECTED:
                continue
            lost = expected - len(window.seen)
            reports.append((speaker, min(PER_MILLE, round(PER_MILLE * lost / expected))))
            self._windows[speaker] = _Window(window.start + expected)
        return reports
