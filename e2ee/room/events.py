"""Typed events a :class:`~e2ee.room.session.RoomSession` hands to its driver (spec §12–§16).

Member ids are 32-byte identity public keys: stable across reconnects.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2ee.room.roster import RemoveReason, Role


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every room event."""


@dataclass(frozen=True, slots=True)
class JoinRequested(Event):
    """Knock policy: a newcomer asks to join; call ``approve(request)`` or ``deny(request)``."""

    request: bytes  # the newcomer's member id
    display_name: str


@dataclass(frozen=True, slots=True)
class Admitted(Event):
    """This session was admitted (or re-synchronised from a snapshot) at ``epoch``."""

    epoch: int


@dataclass(frozen=True, slots=True)
class Denied(Event):
    """A moderator denied this session's join request (or the identity is banned)."""


@dataclass(frozen=True, slots=True)
class MemberJoined(Event):
    member: bytes
    display_name: str
    role: Role


@dataclass(frozen=True, slots=True)
class MemberLeft(Event):
    member: bytes
    reason: RemoveReason


@dataclass(frozen=True, slots=True)
class RoleChanged(Event):
    member: bytes
    old: Role
    new: Role


@dataclass(frozen=True, slots=True)
class IdentityInRoom(Event):
    """A moderator with our own identity offered us admission: another client of
    ours moderates the room, and one identity is one member (spec §13.4)."""


@dataclass(frozen=True, slots=True)
class ChairTaken(Event):
    """The deputy promoted itself: every moderator was gone (spec §12.2)."""

    member: bytes


@dataclass(frozen=True, slots=True)
class HandQueueChanged(Event):
    queue: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class InvitedToSpeak(Event):
    """A moderator invited this session on stage: ``accept_invitation()`` or decline."""


@dataclass(frozen=True, slots=True)
class AudioReceived(Event):
    member: bytes
    seq: int  # the speaker's monotonic frame counter
    opus: bytes
    held: bool = False  # held until a proof covered it, not played on arrival (spec §15.6)


@dataclass(frozen=True, slots=True)
class ChatReceived(Event):
    member: bytes
    text: str


@dataclass(frozen=True, slots=True)
class MuteRequested(Event):
    by: bytes


@dataclass(frozen=True, slots=True)
class RecordingChanged(Event):
    """``member`` says it started (``on``) or stopped recording the room (advisory, §14.4)."""

    member: bytes
    on: bool


@dataclass(frozen=True, slots=True)
class LossReported(Event):
    """``member`` lost ``loss_permille`` of our frames over its last window (§14.4 LOSS_REPORT)."""

    member: bytes
    loss_permille: int


@dataclass(frozen=True, slots=True)
class Removed(Event):
    """This session was removed (kicked, banned) or its leave was committed."""

    reason: RemoveReason


@dataclass(frozen=True, slots=True)
class RoomEnded(Event):
    pass


@dataclass(frozen=True, slots=True)
class KeysRotated(Event):
    """A re-key commit's fresh secret arrived: audio now uses epoch ``epoch``."""

    epoch: int


@dataclass(frozen=True, slots=True)
class RoomSecretRotated(Event):
    """The room moved to a new room secret (spec §13.7): build and keep the new invite link.

    The room id and founder are unchanged; the old link no longer reaches the room.
    """

    room_secret: bytes

    def __repr__(self) -> str:
        return "RoomSecretRotated(<secret>)"


@dataclass(frozen=True, slots=True)
class SecurityAlert(Event):
    """Evidence of a split view, a rollback, a forgery, a stale sender or silence (§16.3)."""

    kind: str  # split_view | rollback | forged | stale_sender | isolated | key_mismatch
    detail: str


@dataclass(frozen=True, slots=True)
class RosterChanged(Event):
    epoch: int
    head: bytes


@dataclass(frozen=True, slots=True)
class SafetyCodeChanged(Event):
    """The room safety code changed at ``epoch`` (spec §16.1); compare it again.

    ``reason`` counts who joined, left or changed role; it names no one.
    """

    epoch: int
    reason: str


@dataclass(frozen=True, slots=True)
class ForgedAudio(Event):
    """Frames or a proof in ``member``'s name failed speaker authentication (spec §15.6).

    ``reason`` is ``"bad_signature"`` (a proof whose frames were all there did
    not verify) or ``"unproven"`` (frames no valid proof covered in time).
    None of them was played, except, on stage in the optimistic mode, at most
    one batch played before its proof was due.
    """

    member: bytes
    reason: str
