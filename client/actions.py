"""What a user can ask the session to do, from a key press or a typed line.

Interactive view: single keys (see :func:`action_for_key`).  Plain mode and
scripts: one command per line on stdin (see :data:`LINE_HELP`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from client.view import RoomView


class Kind(StrEnum):
    """Every command a user can give; the value is its word in plain mode."""

    HAND = "hand"
    LOWER = "lower"
    ACCEPT = "accept"
    DECLINE = "decline"
    MUTE = "mute"
    UNMUTE = "unmute"
    LEAVE = "leave"
    CHAT = "chat"
    INVITE = "invite"
    AUDIENCE = "audience"
    ASKMUTE = "askmute"
    KICK = "kick"
    BAN = "ban"
    MODERATOR = "moderator"
    APPROVE = "approve"
    DENY = "deny"
    END = "end"
    HELP = "help"
    WHO = "who"


MEMBER_KINDS = frozenset(
    {Kind.INVITE, Kind.AUDIENCE, Kind.ASKMUTE, Kind.KICK, Kind.BAN, Kind.MODERATOR}
)
"""Moderator commands that act on one named member."""

KINDS: dict[str, tuple[bool, bool]] = {
    kind: (kind in MEMBER_KINDS, kind is Kind.CHAT) for kind in Kind
}
"""Command syntax: kind -> (needs a target member, takes free text)."""

LINE_HELP = (
    "commands: hand | lower | accept | decline | mute | unmute | chat TEXT | who | help | leave; "
    "moderators: approve [NAME] | deny [NAME] | invite NAME | audience NAME | "
    "askmute NAME | kick NAME | ban NAME | moderator NAME | end"
)


@dataclass(frozen=True)
class Action:
    """One request from the user.  ``target`` names a member (handle or name)."""

    kind: str
    target: str | None = None
    text: str | None = None


def parse_line(line: str) -> Action | None:
    """A typed command line as an :class:`Action`; ``None`` for a blank line.

    Raises ``ValueError`` with a one-line message for anything else.
    """
    words = line.strip().split(maxsplit=1)
    if not words:
        return None
    kind, rest = words[0].lower(), (words[1].strip() if len(words) > 1 else "")
    if kind in ("say", "/chat", "msg"):
        kind = "chat"
    if kind not in KINDS:
        raise ValueError(f"unknown command {words[0]!r}; {LINE_HELP}")
    needs_target, takes_text = KINDS[kind]
    if takes_text:
        if not rest:
            raise ValueError(f"'{kind}' needs some text")
        return Action(kind, text=rest)
    if needs_target and not rest:
        raise ValueError(f"'{kind}' needs a member name")
    return Action(kind, target=rest or None)


def action_for_key(key: str, view: RoomView) -> Action | None:
    """The action bound to ``key`` in the interactive view, or ``None``."""
    me = view.me()
    if key == "h":
        return Action("lower" if me is not None and me.hand_raised else "hand")
    if key == "a" and view.invited_to_speak:
        return Action("accept")
    if key == "d" and view.invited_to_speak:
        return Action("decline")
    if key == "m":
        return Action("unmute" if view.self_muted else "mute")
    if key == "q":
        return Action("leave")
    if not view.is_moderator():
        return None
    if key == "y" and view.knocks:
        return Action("approve", target=view.knocks[0].handle)
    if key == "n" and view.knocks:
        return Action("deny", target=view.knocks[0].handle)
    if key == "E":
        return Action("end")
    selected = view.selected_member()
    if selected is None or selected.is_me:
        return None
    per_member = {"i": "invite", "v": "audience", "r": "kick", "b": "ban", "M": "askmute"}
    if key in per_member:
        return Action(per_member[key], target=selected.handle)
    return None
