"""What the roster lets a member do (spec §14.4): its own actions, and others' control requests.

Each local action is checked against the roster before anything is sent
(:class:`LocalProtocolError` when the roster forbids it) and returns the
control arguments or the ops it stands for.  :func:`check_control` is the
same rule seen from the receiving side: a signed control message whose
author the roster does not allow to send it is UNAUTHORIZED; a hand or an
invitation answer it allows becomes the op the chair queues.
"""

from __future__ import annotations

from e2ee.canonical import Value
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.room.control import MAX_CHAT_BYTES, Control, ControlType
from e2ee.room.roster import (
    Member,
    Op,
    RemoveReason,
    Role,
    RosterState,
    op_end,
    op_hand,
    op_invite,
    op_remove,
    op_role,
)
from e2ee.room.succession import must_hand_over


def require_moderator(roster: RosterState, me: bytes) -> RosterState:
    """``roster`` if ``me`` moderates it."""
    if not roster.is_moderator(me):
        raise LocalProtocolError("only a moderator can do that")
    return roster


def _target(roster: RosterState, member: bytes) -> Member:
    m = roster.members.get(member)
    if m is None:
        raise LocalProtocolError("no such member")
    return m


def raise_hand(roster: RosterState, me: bytes) -> list[Value]:
    """HAND arguments of a listener asking to speak."""
    if roster.role_of(me) is not Role.LISTENER or me in roster.hands:
        raise LocalProtocolError("only a listener without a raised hand can raise it")
    return [True]


def lower_hand(roster: RosterState, me: bytes) -> list[Value]:
    """HAND arguments that withdraw a raised hand."""
    if me not in roster.hands:
        raise LocalProtocolError("no raised hand")
    return [False]


def answer_invitation(roster: RosterState, me: bytes, accept: bool) -> list[Value]:
    """INVITE_REPLY arguments of an invited listener."""
    if me not in roster.invited:
        raise LocalProtocolError("no pending invitation")
    return [accept]


def chat(text: str) -> list[Value]:
    """CHAT arguments (at most MAX_CHAT_BYTES)."""
    if len(text.encode("utf-8")) > MAX_CHAT_BYTES:
        raise LocalProtocolError("chat messages are at most 2000 UTF-8 bytes")
    return [text]


def request_mute(roster: RosterState, member: bytes) -> list[Value]:
    """MUTE_REQUEST arguments of a moderator asking ``member`` to mute."""
    _target(roster, member)
    return [member]


def invite_to_speak(roster: RosterState, member: bytes) -> list[Op]:
    """A moderator invites an uninvited listener on stage."""
    if _target(roster, member).role is not Role.LISTENER or member in roster.invited:
        raise LocalProtocolError("only an uninvited listener can be invited")
    return [op_invite(member, True)]


def move_to_audience(roster: RosterState, member: bytes) -> list[Op]:
    """A moderator takes a speaker (or moderator) off stage."""
    if _target(roster, member).role is Role.LISTENER:
        raise LocalProtocolError("already in the audience")
    return [op_role(member, Role.LISTENER)]


def remove(roster: RosterState, me: bytes, member: bytes, reason: RemoveReason) -> list[Op]:
    """A moderator kicks or bans another member (a re-key, spec §15.2)."""
    _target(roster, member)
    if member == me:
        raise LocalProtocolError("use leave() to leave")
    return [op_remove(member, reason)]


def transfer_moderator(roster: RosterState, me: bytes, member: bytes) -> list[Op]:
    """A moderator makes ``member`` a moderator and steps down to speaker."""
    if member == me or _target(roster, member).role is Role.MODERATOR:
        raise LocalProtocolError("choose another member who is not a moderator")
    return [op_role(member, Role.MODERATOR), op_role(me, Role.SPEAKER)]


def end_room(roster: RosterState) -> list[Op]:
    """A moderator ends the room for everyone."""
    return [op_end()]


def check_leave(roster: RosterState, me: bytes, to_deputy: bool = False) -> None:
    """The last moderator of a room with others in it must hand over or end it first,
    or leave the chair to the roster's deputy on purpose (spec §12.2)."""
    if must_hand_over(roster, me) and not (to_deputy and roster.deputy is not None):
        raise LocalProtocolError("the last moderator must transfer_moderator() or end_room() first")


def _unauthorized(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(what, ErrorCode.UNAUTHORIZED)


def check_control(msg: Control, author: Member, roster: RosterState) -> Op | None:
    """Whether the roster lets ``author`` send ``msg``; the op it asks the chair for, if any."""
    t = msg.type
    is_mod = author.role is Role.MODERATOR
    if t is ControlType.SLOTS and not is_mod:
        raise _unauthorized("slot list from a non-moderator")
    if t is ControlType.MUTE_REQUEST and not is_mod:
        raise _unauthorized("mute request from a non-moderator")
    if t is ControlType.HAND:
        up = bool(msg.args[0])
        if up and (author.role is not Role.LISTENER or msg.author in roster.hands):
            raise _unauthorized("hand raise not allowed")
        if not up and msg.author not in roster.hands:
            raise _unauthorized("no hand to lower")
        return op_hand(msg.author, up)
    if t is ControlType.INVITE_REPLY:
        if msg.author not in roster.invited:
            raise _unauthorized("answer to no invitation")
        accept = bool(msg.args[0])
        return op_role(msg.author, Role.SPEAKER) if accept else op_invite(msg.author, False)
    return None


def slot_entries(msg: Control) -> list[tuple[bytes, int]]:
    """The ``(member, slot)`` pairs of a SLOTS message (shapes checked by parse_control)."""
    raw = msg.args[0]
    assert isinstance(raw, list)
    out = []
    for entry in raw:
        assert isinstance(entry, list)
        mid, slot = entry
        assert isinstance(mid, bytes) and isinstance(slot, int)
        out.append((mid, slot))
    return out
