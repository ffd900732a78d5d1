"""Room events as the user sees them: view updates, one log line each, and what follows.

:class:`RoomEvents` applies each ``e2ee.room`` event to what this client
shows — the :class:`~client.view.RoomView`, the names it knows, the audio
receiver's speakers (keyed by member id) — logs one line, and returns an
:class:`Outcome`: what the client must do next (carry out an action, stop,
rejoin, adopt a new invite).  It looks things up in the room session but never
changes it and never calls the client: :class:`~client.room_client.RoomClient`
routes the outcome.  Which event does what is one table, :attr:`RoomEvents.TABLE`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from client import exits, roster_view
from client.actions import Action, Kind
from client.audio.receiver import RoomAudioReceiver
from client.roster_view import ROLE_NAMES, handle_of
from client.view import Knock, RoomView
from e2ee.room import events as ev
from e2ee.room.roster import RemoveReason
from e2ee.room.session import RoomSession

REMOVAL_LINES = {
    "banned": "you were banned from the room",
    "kicked": "you were removed from the room",
    "identity_in_use": exits.IDENTITY_IN_USE_LINE,
}
LEFT_HOW = {
    RemoveReason.LEFT: "left",
    RemoveReason.KICKED: "was removed",
    RemoveReason.BANNED: "was banned",
}


@dataclass(frozen=True)
class Behaviour:
    """What this client does by itself (the command line's flags)."""

    listen_only: bool = False
    auto_accept: bool = False
    raise_hand: bool = False


@dataclass
class Outcome:
    """What an event asks of the client."""

    actions: list[Action] = field(default_factory=list)
    exit_code: int | None = None
    """Set when this client is out of the room (removed, banned, denied, replaced)."""
    ended: bool = False
    rejoin: bool = False
    """The chair dropped this live client as absent: knock again on a fresh session."""
    room_secret: bytes | None = None
    """The room moved to this secret (spec §13.7): the invite changes."""


def removal_kind(room: RoomSession, reason: RemoveReason, leaving: bool) -> str:
    """Why this client is out: left, kicked, banned, identity_in_use or dropped.

    A removal with reason LEFT that this client did not ask for (``leaving``),
    after which the roster still holds this identity, is the chair replacing our
    session with another client's (spec §13.4: a known identity with a new
    session key); without it in the roster, the chair dropped us as absent.
    """
    if reason == RemoveReason.BANNED:
        return "banned"
    if reason == RemoveReason.KICKED:
        return "kicked"
    if leaving:
        return "left"
    roster = room.roster
    if roster is not None and room.me in roster.members:
        return "identity_in_use"
    return "dropped"


class RoomEvents:
    """The view, names and speakers of one client, kept in step with its room."""

    def __init__(
        self,
        view: RoomView,
        receiver: RoomAudioReceiver,
        log: Callable[[str], None],
        behaviour: Behaviour,
    ) -> None:
        self.view = view
        self.receiver = receiver
        self.log = log
        self.behaviour = behaviour
        self.names: dict[bytes, str] = {}
        """Display names of members seen in the roster (dropped when they leave)."""
        self.frames_by_name: Counter[str] = Counter()
        self.last_packet: bytes | None = None
        self.hand_raised_once = False
        self._room: RoomSession | None = None
        self._now = 0.0
        self._leaving = False

    def apply(self, room: RoomSession, event: ev.Event, now: float, leaving: bool) -> Outcome:
        """Apply ``event`` of ``room``; ``leaving``: this client is on its way out."""
        self._room, self._now, self._leaving = room, now, leaving
        handler = self.TABLE.get(type(event))
        return handler(self, event) if handler is not None else Outcome()

    @property
    def room(self) -> RoomSession:
        assert self._room is not None
        return self._room

    def name_of(self, member_id: bytes) -> str:
        member = self.room.members.get(member_id)
        return member.display_name if member is not None else "someone"

    def _refresh(self) -> Outcome:
        self.names.update((m.id, m.display_name) for m in self.room.members.values())
        roster_view.refresh(self.view, self.room)
        return Outcome()

    # -- the TABLE's entries ------------------------------------------------------------
    def _audio(self, event: ev.AudioReceived) -> Outcome:
        self.last_packet = event.opus
        roster, batch = self.room.roster, 0
        if event.held and roster is not None:  # it waited for its proof (spec §15.6)
            batch = self.room.config.speaker_auth.proof_batch(len(roster.stage()))
        self.receiver.push(event.member, event.seq, event.opus, self._now, batch)
        name = self.names.get(event.member)
        if name is not None:
            self.frames_by_name[name] += 1
        return Outcome()

    def _admitted(self, event: ev.Admitted) -> Outcome:
        self._refresh()
        self.log(f"in the room (epoch {event.epoch}); room safety code {self.view.safety_code}")
        role = self.room.role
        on_stage = role is not None and role.on_stage
        if self.behaviour.raise_hand and not on_stage and not self.hand_raised_once:
            self.hand_raised_once = True
            return Outcome([Action(Kind.HAND)])
        return Outcome()

    def _denied(self, _event: ev.Denied) -> Outcome:
        self.log("a moderator denied entry to the room")
        return Outcome(exit_code=exits.REMOVED)

    def _join_requested(self, event: ev.JoinRequested) -> Outcome:
        view = self.view
        view.knocks.append(Knock(handle_of(event.request), event.display_name))
        admit, deny = view.hint("y", "approve"), view.hint("n", "deny")
        self.log(f"{event.display_name} is knocking ({admit} to admit, {deny} to deny)")
        return Outcome()

    def _member_joined(self, event: ev.MemberJoined) -> Outcome:
        self.names[event.member] = event.display_name
        handle = handle_of(event.member)
        self.view.knocks = [k for k in self.view.knocks if k.handle != handle]
        self._refresh()
        self.log(f"{event.display_name} joined as {ROLE_NAMES[event.role]}")
        return Outcome()

    def _member_left(self, event: ev.MemberLeft) -> Outcome:
        name = self.names.pop(event.member, "a member")
        self.receiver.remove_speaker(event.member)
        self.log(f"{name} {LEFT_HOW.get(event.reason, 'left')}")
        return self._refresh()

    def _role_changed(self, event: ev.RoleChanged) -> Outcome:
        role = ROLE_NAMES.get(event.new, str(event.new))
        if not event.new.on_stage:
            self.receiver.remove_speaker(event.member)
        if event.member == self.room.me:
            self.view.invited_to_speak = False
            self.log(f"you are now a {role}")
        else:
            self.log(f"{self.name_of(event.member)} is now a {role}")
        return self._refresh()

    def _hands(self, event: ev.HandQueueChanged) -> Outcome:
        self._refresh()
        names = [self.name_of(mid) for mid in event.queue]
        self.log("raised hands: " + (", ".join(names) if names else "none"))
        return Outcome()

    def _invited(self, _event: ev.InvitedToSpeak) -> Outcome:
        view = self.view
        view.invited_to_speak = True
        if self.behaviour.listen_only:
            self.log("invited to speak; declining (--listen-only)")
            return Outcome([Action(Kind.DECLINE)])
        if self.behaviour.auto_accept:
            self.log("invited to speak; accepting")
            return Outcome([Action(Kind.ACCEPT)])
        accept, decline = view.hint("a", "accept"), view.hint("d", "decline")
        self.log(f"you are invited to speak: {accept} to accept, {decline} to decline")
        return Outcome()

    def _chat(self, event: ev.ChatReceived) -> Outcome:
        line = f"{self.names.get(event.member, 'a member')}: {event.text}"
        self.view.add_chat(line)
        if self.view.typed_commands:  # the terminal view shows chat in its chat pane only
            self.log(f"chat {line}")
        return Outcome()

    def _mute_requested(self, event: ev.MuteRequested) -> Outcome:
        self.view.self_muted = True
        unmute = self.view.hint("m", "unmute")
        self.log(f"{self.name_of(event.by)} asked you to mute; muted ({unmute} to unmute)")
        return Outcome()

    def _removed(self, event: ev.Removed) -> Outcome:
        kind = removal_kind(self.room, event.reason, self._leaving)
        if kind == "left":
            return Outcome()
        if kind == "dropped":
            self.log("the moderators dropped you from the room (your link went quiet); rejoining")
            return Outcome(rejoin=True)
        self.log(REMOVAL_LINES[kind])
        code = exits.IDENTITY_IN_USE if kind == "identity_in_use" else exits.REMOVED
        return Outcome(exit_code=code)

    def _identity_in_room(self, _event: ev.IdentityInRoom) -> Outcome:
        self.log(exits.IDENTITY_IN_ROOM_LINE)
        return Outcome(exit_code=exits.IDENTITY_IN_USE)

    def _chair_taken(self, event: ev.ChairTaken) -> Outcome:
        who = "you" if event.member == self.room.me else self.name_of(event.member)
        self.log(f"{who} took the chair (the moderator was gone)")
        return self._refresh()

    def _ended(self, _event: ev.RoomEnded) -> Outcome:
        self.view.ended = True
        self.log("the room has ended")
        return Outcome(ended=True)

    def _keys_rotated(self, event: ev.KeysRotated) -> Outcome:
        self.log(f"keys rotated (epoch {event.epoch})")
        return Outcome()

    def _safety_code(self, event: ev.SafetyCodeChanged) -> Outcome:
        self._refresh()
        code = self.view.safety_code
        self.log(f"room safety code changed ({event.reason}): {code}; compare it again")
        return Outcome()

    def _secret_rotated(self, event: ev.RoomSecretRotated) -> Outcome:
        return Outcome(room_secret=event.room_secret)

    def _alert(self, event: ev.SecurityAlert) -> Outcome:
        self.log(f"SECURITY ALERT ({event.kind}): {event.detail}")
        return Outcome()

    def _roster(self, _event: ev.RosterChanged) -> Outcome:
        return self._refresh()

    def _recording(self, event: ev.RecordingChanged) -> Outcome:
        outcome = self._refresh()
        who = "you are" if event.member == self.room.me else f"{self.name_of(event.member)} is"
        self.log(f"{who} {'recording the room' if event.on else 'no longer recording'}")
        return outcome

    TABLE: ClassVar[dict[type[ev.Event], Callable[[RoomEvents, Any], Outcome]]] = {
        ev.AudioReceived: _audio,
        ev.Admitted: _admitted,
        ev.Denied: _denied,
        ev.JoinRequested: _join_requested,
        ev.MemberJoined: _member_joined,
        ev.MemberLeft: _member_left,
        ev.RoleChanged: _role_changed,
        ev.HandQueueChanged: _hands,
        ev.InvitedToSpeak: _invited,
        ev.ChatReceived: _chat,
        ev.MuteRequested: _mute_requested,
        ev.Removed: _removed,
        ev.RoomEnded: _ended,
        ev.IdentityInRoom: _identity_in_room,
        ev.ChairTaken: _chair_taken,
        ev.KeysRotated: _keys_rotated,
        ev.SafetyCodeChanged: _safety_code,
        ev.RoomSecretRotated: _secret_rotated,
        ev.SecurityAlert: _alert,
        ev.RosterChanged: _roster,
        ev.RecordingChanged: _recording,
    }
    """What each room event does, by event type."""
