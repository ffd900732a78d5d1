"""Open crashes: stored reproducers of crashes inside ``RoomSession`` (e2ee/room/session.py).

The session is being fixed on other branches; until then each reproducer in
``crashes/session/`` listed here is a strict xfail, and a smoke run of the
session harness that stops on one of these (same exception, same innermost
function) is reported as that known failure.  Remove an entry when its
reproducer passes (strict xfail turns the fix into a test failure that says so).
"""

from __future__ import annotations

from typing import NamedTuple


class OpenCrash(NamedTuple):
    """Why a stored reproducer still fails, and how its traceback ends."""

    reason: str
    exception: str
    function: str


# none open: both stored session reproducers pass since the room fixes landed
OPEN_CRASHES: dict[str, OpenCrash] = {}


def matches_open_crash(exception: str, function: str) -> OpenCrash | None:
    """The open crash with this exception type and innermost function, if any."""
    for crash in OPEN_CRASHES.values():
        if (crash.exception, crash.function) == (exception, function):
            return crash
    return None
