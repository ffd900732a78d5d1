"""The exit status of ``hushroom join`` / ``room create`` / ``bot`` (docs/client.md, "Exit codes").

Scripts branch on these, so each outcome has its own number and one line
that says what happened.
"""

from __future__ import annotations

OK = 0
"""Left the room, the room ended, or ``--duration`` was up while in the room."""
ERROR = 1
"""A setup or connection failure (one ``hushroom: error:`` line)."""
USAGE = 2
"""Bad command-line arguments."""
REMOVED = 3
"""Removed, banned, or entry denied by a moderator."""
IDENTITY_IN_USE = 4
"""This identity joined the room from another client; this one was disconnected
(or: it moderates the room from another client, so this one stops)."""
NOT_ADMITTED = 5
"""Never admitted: no moderator answered (the room has ended or is not open), or
``--duration`` ran out while waiting at the door."""

IDENTITY_IN_USE_LINE = "this identity joined from another client; you were disconnected"
IDENTITY_IN_ROOM_LINE = (
    "this identity is already in the room from another client, as its moderator: "
    "this client stops (give each person their own --home or HUSHROOM_HOME)"
)

TABLE = (
    (OK, "left the room, or the room ended"),
    (ERROR, "setup or connection failure"),
    (USAGE, "bad arguments"),
    (REMOVED, "removed, banned or denied entry"),
    (IDENTITY_IN_USE, "this identity joined from another client"),
    (NOT_ADMITTED, "never admitted (no moderator answered, or --duration ran out)"),
)

HELP = "exit codes:\n" + "".join(f"  {code}  {what}\n" for code, what in TABLE)
