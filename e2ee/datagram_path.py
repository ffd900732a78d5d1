"""The client's datagram path state machine (spec §23.5), sans-IO.

The path is PROBING after a DATAGRAM_ACCEPT, UP once an authenticated
datagram from the relay arrived, SUSPECT after ``suspect_after`` seconds of
silence, DEAD after ``dead_after`` (or when probing finds nothing for
``probe_timeout``), and PROBING again after a back-off.  Media goes by
datagram only while UP; otherwise it goes over the link.

The legal moves are the table :data:`TRANSITIONS`; the machine owns its
state, takes ``now`` from the caller, and tells it when to send a PROBE
(:meth:`DatagramPath.handle_timer`) and when to call again
(:meth:`DatagramPath.get_timer`).  It never sends anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from e2ee.datagram import FLAG_RECEIVING
from e2ee.errors import LocalProtocolError


class PathState(Enum):
    """States of the datagram path (spec §23.5)."""

    PROBING = "probing"
    UP = "up"
    SUSPECT = "suspect"
    DEAD = "dead"


class PathEvent(Enum):
    """What moves the path (spec §23.5)."""

    HEARD = "heard"  # an authenticated datagram from the relay
    QUIET = "quiet"  # nothing heard for suspect_after
    SILENT = "silent"  # nothing heard for dead_after
    PROBE_TIMEOUT = "probe_timeout"  # probing found nothing for probe_timeout
    REPROBE = "reprobe"  # the back-off after DEAD ended


#: (state, event) -> next state; a pair not listed is ignored (spec §23.5)
TRANSITIONS: dict[tuple[PathState, PathEvent], PathState] = {
    (PathState.PROBING, PathEvent.HEARD): PathState.UP,
    (PathState.PROBING, PathEvent.PROBE_TIMEOUT): PathState.DEAD,
    (PathState.UP, PathEvent.HEARD): PathState.UP,
    (PathState.UP, PathEvent.QUIET): PathState.SUSPECT,
    (PathState.UP, PathEvent.SILENT): PathState.DEAD,
    (PathState.SUSPECT, PathEvent.HEARD): PathState.UP,
    (PathState.SUSPECT, PathEvent.SILENT): PathState.DEAD,
    (PathState.DEAD, PathEvent.HEARD): PathState.UP,
    (PathState.DEAD, PathEvent.REPROBE): PathState.PROBING,
}


@dataclass(frozen=True, slots=True)
class PathTimers:
    """The timers of spec §23.5, in seconds."""

    #: at most one PROBE per interval; one is due when nothing was sent or heard for it
    probe_interval: float = 0.05
    #: PROBING without an answer for this long: DEAD (UDP is blocked)
    probe_timeout: float = 1.0
    #: nothing heard for this long while UP: SUSPECT (media back on the link)
    suspect_after: float = 0.2
    #: nothing heard for this long: DEAD (probes stop until the back-off ends)
    dead_after: float = 1.0
    #: first back-off after DEAD, doubled on every failed probe round up to reprobe_max
    reprobe_first: float = 2.0
    reprobe_max: float = 30.0

    def __post_init__(self) -> None:
        if not (
            0 < self.probe_interval < self.suspect_after < self.dead_after
            and 0 < self.probe_interval < self.probe_timeout
            and 0 < self.reprobe_first <= self.reprobe_max
        ):
            raise LocalProtocolError("datagram path timers out of order")


class DatagramPath:
    """The client's view of its datagram path to the relay (spec §23.5)."""

    __slots__ = (
        "_backoff",
        "_dead_since",
        "_last_heard",
        "_last_probe",
        "_last_sent",
        "_next_probe_id",
        "_probing_since",
        "state",
        "timers",
    )

    def __init__(self, now: float, timers: PathTimers | None = None) -> None:
        self.timers = timers if timers is not None else PathTimers()
        self.state = PathState.PROBING
        self._probing_since = now
        self._last_heard = now
        self._last_sent = -1e18
        self._last_probe = -1e18
        self._dead_since = now
        self._backoff = self.timers.reprobe_first
        self._next_probe_id = 0

    # -- what the caller asks ---------------------------------------------------------

    @property
    def uses_datagrams(self) -> bool:
        """True while media should go by datagram (spec §23.5: UP only)."""
        return self.state is PathState.UP

    @property
    def flags(self) -> int:
        """The flags of the next client datagram: RECEIVING while UP (spec §23.3)."""
        return FLAG_RECEIVING if self.state is PathState.UP else 0

    def get_timer(self) -> float:
        """The next time :meth:`handle_timer` has something to do (spec §23.5)."""
        t = self.timers
        if self.state is PathState.DEAD:
            return self._dead_since + self._backoff
        if self.state is PathState.PROBING:
            return min(self._last_probe + t.probe_interval, self._probing_since + t.probe_timeout)
        silence_deadline = self._last_heard + (
            t.suspect_after if self.state is PathState.UP else t.dead_after
        )
        return min(self._probe_due(), silence_deadline)

    # -- what happened ------------------------------------------------------------------

    def heard(self, now: float) -> None:
        """An authenticated datagram from the relay arrived (spec §23.5)."""
        self._last_heard = now
        if self.state is not PathState.UP:
            self._backoff = self.timers.reprobe_first
        self._move(PathEvent.HEARD)

    def sent(self, now: float) -> None:
        """The caller sent a datagram (MEDIA or PROBE) on this path."""
        self._last_sent = now

    def handle_timer(self, now: float) -> int | None:
        """Advance the timers; returns the id of a PROBE to send now, or None (spec §23.5)."""
        t = self.timers
        state = self.state
        if state is PathState.DEAD:
            if now >= self._dead_since + self._backoff:
                self._move(PathEvent.REPROBE)
                self._probing_since = now
                self._backoff = min(self._backoff * 2, t.reprobe_max)
            else:
                return None
        elif state is PathState.PROBING:
            if now >= self._probing_since + t.probe_timeout:
                self._die(now, PathEvent.PROBE_TIMEOUT)
                return None
        else:
            quiet = now - self._last_heard
            if quiet >= t.dead_after:
                self._die(now, PathEvent.SILENT)
                return None
            if quiet >= t.suspect_after:
                self._move(PathEvent.QUIET)
        if self.state is PathState.PROBING:
            due = self._last_probe + t.probe_interval
        else:
            due = self._probe_due()
        if now < due:
            return None
        self._last_probe = now
        self._last_sent = now
        probe = self._next_probe_id
        self._next_probe_id += 1
        return probe

    # -- internals ---------------------------------------------------------------------

    def _probe_due(self) -> float:
        """UP or SUSPECT: a PROBE is due after an interval with nothing sent, or nothing heard."""
        interval = self.timers.probe_interval
        idle_since = min(self._last_sent, max(self._last_heard, self._last_probe))
        return max(idle_since + interval, self._last_probe + interval)

    def _die(self, now: float, event: PathEvent) -> None:
        self._dead_since = now
        self._move(event)

    def _move(self, event: PathEvent) -> None:
        self.state = TRANSITIONS.get((self.state, event), self.state)
