"""A precise wake-up for the forwarding loop: a Linux ``timerfd`` armed at an absolute time.

``selectors`` waits in whole milliseconds (rounded up), which would make a
packet leave up to 1 ms after its due time.  A timerfd on CLOCK_MONOTONIC
(the clock of ``time.monotonic``) becomes readable at the nanosecond it was
armed for, plus the process's timer slack, which :func:`reduce_timer_slack`
lowers from its default 50 µs.  Python 3.11 has no ``os.timerfd_*``, hence ctypes.
"""

from __future__ import annotations

import ctypes
import os

from client.bench.netem.errors import NetemError

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1
_PR_SET_TIMERSLACK = 29
_libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _check(result: int, what: str) -> int:
    if result < 0:
        raise NetemError(f"{what}: {os.strerror(ctypes.get_errno())}")
    return result


def reduce_timer_slack() -> None:
    """Let this process's timers fire within 1 µs of their time (prctl PR_SET_TIMERSLACK)."""
    _check(_libc.prctl(_PR_SET_TIMERSLACK, 1_000, 0, 0, 0), "prctl(PR_SET_TIMERSLACK)")


class Alarm:
    """A descriptor that becomes readable at the armed ``time.monotonic()`` instant."""

    def __init__(self) -> None:
        flags = _TFD_NONBLOCK | _TFD_CLOEXEC
        self._fd = _check(_libc.timerfd_create(_CLOCK_MONOTONIC, flags), "timerfd_create")
        self.armed: float | None = None

    def fileno(self) -> int:
        return self._fd

    def arm(self, at: float | None) -> None:
        """Fire at monotonic time ``at`` (at once if it has passed); None disarms."""
        if at == self.armed:
            return
        value = _Timespec(0, 0)  # all zero: disarmed
        if at is not None:
            value = _Timespec(*divmod(max(1, round(at * 1e9)), 1_000_000_000))
        spec = _Itimerspec(_Timespec(0, 0), value)
        _check(
            _libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None),
            "timerfd_settime",
        )
        self.armed = at

    def acknowledge(self) -> None:
        """Consume a firing, so the descriptor is no longer readable."""
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass
        self.armed = None

    def close(self) -> None:
        os.close(self._fd)
