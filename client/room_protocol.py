"""The one place that knows the sans-IO room API (``e2ee.room.RoomSession``).

It builds the room, turns its events into view updates, log lines and audio
for a :class:`~client.room_client.RoomClient`, and turns user actions into
room calls.  Member handles shown in the view are the first 8 hex digits of
the member's identity key (local display only; never sent anywhere).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from client import exits
from client.actions import LINE_HELP, Action
from client.audio.receiver import RoomAudioReceiver
from client.errors import CliError
from client.relay_connect import (
    CONNECT_ERRORS,
    check_invite_text,
    describe_connect_error,
    invite_founder_is,
    link_connector,
    new_invite,
    parse_invite,
    save_policy,
    saved_policy,
)
from client.session import ClientSession
from client.view import Knock, RoomView
from client.view import MemberView as ViewMember
from e2ee.errors import HushroomError
from e2ee.identity import IdentityKey
from e2ee.invite import Invite
from e2ee.room import events as ev
from e2ee.room.roster import RemoveReason, Role
from e2ee.room.session import MemberView, RoomSession


class ClientFlags(Protocol):
    """The command-line choices the adapter acts on (``ClientConfig``)."""

    @property
    def name(self) -> str: ...
    @property
    def raise_hand(self) -> bool: ...
    @property
    def auto_accept(self) -> bool: ...
    @property
    def listen_only(self) -> bool: ...


class RoomClient(Protocol):
    """What this adapter reads and changes on its client (``client.room_client``).

    A structural type, so that this module does not import the client that
    imports it.
    """

    room: RoomSession
    invite: Invite
    session: ClientSession
    view: RoomView
    receiver: RoomAudioReceiver
    known_members: set[bytes]
    banned: set[bytes]
    pending_requests: dict[str, bytes]
    hand_raised_once: bool
    removed: bool
    ended: bool
    exit_code: int
    names: dict[bytes, str]

    @property
    def config(self) -> ClientFlags: ...
    def log(self, line: str) -> None: ...
    def perform(self, action: Action) -> None: ...
    def _audio_received(self, handle: str, seq: int, opus: bytes) -> None: ...


__all__ = [
    "CONNECT_ERRORS",
    "check_invite_text",
    "default_connect",
    "describe_connect_error",
    "invite_founder_is",
    "new_invite",
    "parse_invite",
    "save_policy",
    "saved_policy",
]

default_connect = link_connector
ROLE_NAMES = {Role.LISTENER: "listener", Role.SPEAKER: "speaker", Role.MODERATOR: "moderator"}


def handle_of(member_id: bytes) -> str:
    return member_id.hex()[:8]


@dataclass(frozen=True)
class RoomKeys:
    """The invite as ``RoomSession`` wants it (its ``RoomInvite`` protocol, spec §6.4)."""

    room_tag: bytes
    admission_key: bytes
    room_id: bytes
    founder: bytes

    @classmethod
    def of(cls, invite: Invite) -> RoomKeys:
        derived = invite.secrets()
        return cls(
            derived.room_tag, derived.admission_key, derived.room_id, invite.founder_identity
        )

    def __repr__(self) -> str:
        return "RoomKeys(<secret>)"


def make_room(
    identity: IdentityKey,
    invite: Invite,
    name: str,
    *,
    create: bool,
    policy: str,
    rng: Callable[[int], bytes],
    now: float,
) -> RoomSession:
    """Create (founder) or join the room of ``invite``."""
    keys = RoomKeys.of(invite)
    try:
        if create:
            return RoomSession.create(identity, keys, name, policy, rng, now)
        return RoomSession.join(identity, keys, name, rng, now)
    except HushroomError as exc:
        raise CliError(f"cannot enter the room: {exc}") from None


def members(room: RoomSession) -> list[MemberView]:
    """The current roster as a list (in roster order)."""
    return list(room.members.values())


def my_id(room: RoomSession) -> bytes | None:
    return room.me if room.role is not None else None


def name_of(room: RoomSession, member_id: bytes) -> str:
    member = room.members.get(member_id)
    return member.display_name if member is not None else "someone"


def safety_code(room: RoomSession) -> str:
    return str(room.safety_code())


def member_count(room: RoomSession) -> int:
    return len(members(room))


def my_role(room: RoomSession) -> Role | None:
    return room.role


def may_speak(room: RoomSession) -> bool:
    role = my_role(room)
    return room.state == "member" and role is not None and role.on_stage


def hand_queue_names(room: RoomSession) -> list[str]:
    return [name_of(room, mid) for mid in room.hand_queue]


def _member_views(client: RoomClient) -> list[ViewMember]:
    mid = my_id(client.room)
    return [
        ViewMember(
            handle_of(m.id), m.display_name, ROLE_NAMES[m.role], is_me=m.id == mid,
            recording=m.recording,
        )
        for m in members(client.room)
    ]


def _refresh(client: RoomClient) -> None:
    view = client.view
    client.names.update((m.id, m.display_name) for m in members(client.room))
    view.set_members(_member_views(client))
    view.set_hand_queue([handle_of(mid) for mid in client.room.hand_queue])
    view.safety_code = safety_code(client.room) if my_id(client.room) is not None else ""
    successor = last_moderator_successor(client.room)
    view.successor = view.members.get(handle_of(successor.id)) if successor is not None else None


def apply_event(client: RoomClient, event: ev.Event) -> None:
    """Update ``client`` (view, audio, automatic behaviour) for one room event."""
    if isinstance(event, ev.AudioReceived):
        client._audio_received(handle_of(event.member), event.seq, event.opus)
        return
    room = client.room
    log = client.log
    view = client.view
    if isinstance(event, ev.Admitted):
        _refresh(client)
        log(f"in the room (epoch {event.epoch}); room safety code {view.safety_code}")
        client.known_members.update(m.id for m in members(room))
        if client.config.raise_hand and not may_speak(room) and not client.hand_raised_once:
            client.hand_raised_once = True
            client.perform(Action("hand"))
    elif isinstance(event, ev.Denied):
        log("a moderator denied entry to the room")
        client.removed = True
        client.exit_code = exits.REMOVED
    elif isinstance(event, ev.JoinRequested):
        rid = event.request
        if rid in client.known_members and rid not in client.banned:
            log(f"{event.display_name} is back (reconnected); re-admitting")
            client.session.act(room.approve, rid)
        else:
            client.pending_requests[handle_of(rid)] = rid
            view.knocks.append(Knock(handle_of(rid), event.display_name))
            admit, deny = view.hint("y", "approve"), view.hint("n", "deny")
            log(f"{event.display_name} is knocking ({admit} to admit, {deny} to deny)")
    elif isinstance(event, ev.MemberJoined):
        client.known_members.add(event.member)
        client.names[event.member] = event.display_name
        view.knocks = [k for k in view.knocks if k.handle != handle_of(event.member)]
        _refresh(client)
        log(f"{event.display_name} joined as {ROLE_NAMES[event.role]}")
    elif isinstance(event, ev.MemberLeft):
        handle = handle_of(event.member)
        name = client.names.pop(event.member, "a member")
        client.receiver.remove_speaker(handle)
        if event.reason == RemoveReason.BANNED:
            client.banned.add(event.member)
        if event.reason in (RemoveReason.KICKED, RemoveReason.BANNED):
            client.known_members.discard(event.member)
        how = {
            RemoveReason.LEFT: "left",
            RemoveReason.KICKED: "was removed",
            RemoveReason.BANNED: "was banned",
        }.get(event.reason, "left")
        log(f"{name} {how}")
        _refresh(client)
    elif isinstance(event, ev.RoleChanged):
        role = ROLE_NAMES.get(event.new, str(event.new))
        if not event.new.on_stage:
            client.receiver.remove_speaker(handle_of(event.member))
        if event.member == my_id(room):
            view.invited_to_speak = False
            log(f"you are now a {role}")
        else:
            log(f"{name_of(room, event.member)} is now a {role}")
        _refresh(client)
    elif isinstance(event, ev.HandQueueChanged):
        _refresh(client)
        names = [name_of(room, mid) for mid in event.queue]
        log("raised hands: " + (", ".join(names) if names else "none"))
    elif isinstance(event, ev.InvitedToSpeak):
        view.invited_to_speak = True
        if client.config.listen_only:
            log("invited to speak; declining (--listen-only)")
            client.perform(Action("decline"))
        elif client.config.auto_accept:
            log("invited to speak; accepting")
            client.perform(Action("accept"))
        else:
            accept, decline = view.hint("a", "accept"), view.hint("d", "decline")
            log(f"you are invited to speak: {accept} to accept, {decline} to decline")
    elif isinstance(event, ev.ChatReceived):
        line = f"{client.names.get(event.member, 'a member')}: {event.text}"
        view.add_chat(line)
        if view.typed_commands:  # the terminal view shows chat in its chat pane only
            log(f"chat {line}")
    elif isinstance(event, ev.MuteRequested):
        view.self_muted = True
        unmute = view.hint("m", "unmute")
        log(f"{name_of(room, event.by)} asked you to mute; muted ({unmute} to unmute)")
    elif isinstance(event, ev.RecordingChanged):
        _refresh(client)
        who = "you are" if event.member == my_id(room) else f"{name_of(room, event.member)} is"
        log(f"{who} {'recording the room' if event.on else 'no longer recording'}")
    elif isinstance(event, ev.Removed):
        _removed(client, event.reason)
    elif isinstance(event, ev.RoomEnded):
        client.ended = True
        view.ended = True
        log("the room has ended")
    elif isinstance(event, ev.KeysRotated):
        log(f"keys rotated (epoch {event.epoch})")
    elif isinstance(event, ev.SafetyCodeChanged):
        _refresh(client)
        log(f"room safety code changed ({event.reason}): {view.safety_code}; compare it again")
    elif isinstance(event, ev.RoomSecretRotated):
        client.invite = client.invite.rotated(event.room_secret)
        link = client.invite.to_link()
        if view.invite:
            view.invite = link
        # the new link is shown to this user only (their own screen or stream)
        log(f"the room has a new invite link (the old one no longer reaches it): {link}")
    elif isinstance(event, ev.SecurityAlert):
        log(f"SECURITY ALERT ({event.kind}): {event.detail}")
    elif isinstance(event, ev.RosterChanged):
        _refresh(client)


def removal_kind(client: RoomClient, reason: RemoveReason) -> str:
    """Why this client is out: ``left``, ``kicked``, ``banned``, ``identity_in_use`` or ``dropped``.

    A removal with reason LEFT that this client did not ask for, after which
    the roster still holds this identity, is the chair replacing our session
    with another client's (spec §13.4: a known identity with a new session key).
    """
    if reason == RemoveReason.BANNED:
        return "banned"
    if reason == RemoveReason.KICKED:
        return "kicked"
    if client.ended:
        return "left"
    roster = client.room.roster
    if roster is not None and client.room.me in roster.members:
        return "identity_in_use"
    return "dropped"


def _removed(client: RoomClient, reason: RemoveReason) -> None:
    kind = removal_kind(client, reason)
    if kind == "left":
        return
    client.removed = True
    line = {
        "banned": "you were banned from the room",
        "kicked": "you were removed from the room",
        "identity_in_use": exits.IDENTITY_IN_USE_LINE,
        "dropped": "the moderators dropped you from the room (your link went quiet)",
    }[kind]
    client.exit_code = exits.IDENTITY_IN_USE if kind == "identity_in_use" else exits.REMOVED
    client.log(line)


def _target(client: RoomClient, action: Action) -> bytes:
    if action.target is None:
        raise CliError(f"'{action.kind}' needs a member")
    member = client.view.find(action.target)
    if member is None:
        raise CliError(f"no member called {action.target!r}")
    for m in members(client.room):
        if handle_of(m.id) == member.handle:
            return bytes(m.id)
    raise CliError(f"{action.target!r} is no longer in the room")


CONFIRMATIONS = {
    "invite": "invited {name} to speak",
    "audience": "moved {name} to the audience",
    "askmute": "asked {name} to mute",
    "kick": "removed {name} from the room",
    "ban": "banned {name} from the room",
    "moderator": "handed the moderator role to {name}",
}


def last_moderator_successor(room: RoomSession) -> MemberView | None:
    """Who a leaving last moderator could hand over to, or ``None`` if leaving is fine.

    The suggestion is the first other member on stage, else the first other member.
    """
    others = [m for m in members(room) if m.id != room.me]
    moderators = [m for m in members(room) if m.role is Role.MODERATOR]
    if room.role is not Role.MODERATOR or not others or len(moderators) != 1:
        return None
    on_stage = [m for m in others if m.role.on_stage]
    return (on_stage or others)[0]


def perform(client: RoomClient, action: Action) -> None:
    """Carry out ``action`` on the room; a refused action is one log line."""
    room = client.room
    kind = action.kind
    try:
        if kind == "hand":
            client.session.act(room.raise_hand)
        elif kind == "lower":
            client.session.act(room.lower_hand)
        elif kind == "accept" and client.config.listen_only:
            if client.view.invited_to_speak:
                client.view.invited_to_speak = False
                client.session.act(room.decline_invitation)
            raise CliError("--listen-only: this client does not speak; invitations are declined")
        elif kind == "accept":
            client.view.invited_to_speak = False
            client.session.act(room.accept_invitation)
        elif kind == "decline":
            client.view.invited_to_speak = False
            client.session.act(room.decline_invitation)
        elif kind == "mute":
            client.view.self_muted = True
            client.log("muted")
        elif kind == "unmute":
            client.view.self_muted = False
            client.log("unmuted")
        elif kind == "help":
            client.log(LINE_HELP)
        elif kind == "who":
            client.log(client.view.who())
        elif kind == "chat":
            client.session.act(room.send_chat, action.text or "")
            client.view.add_chat(f"{client.config.name} (you): {action.text}")
        elif kind == "leave" and action.target == "anyway":
            client.log("leaving without a moderator: nobody can admit or re-key until one rejoins")
            client.ended = True
        elif kind == "leave" and room.state != "member":
            client.log("stopped waiting at the door")
            client.ended = True
        elif kind == "leave":
            successor = last_moderator_successor(room)
            if successor is not None:
                view, name = client.view, successor.display_name
                raise CliError(
                    f"you are the last moderator: hand over to {name} "
                    f"({view.hint('o', 'moderator ' + name)}), end the room "
                    f"({view.hint('e', 'end')}), or leave it without a moderator "
                    f"({view.hint('l', 'leave anyway')})?"
                )
            client.session.act(room.leave)
            client.ended = True
        elif kind == "end":
            client.session.act(room.end_room)
            client.ended = True
        elif kind in ("approve", "deny"):
            knocks = client.view.knocks
            knock = next((k for k in knocks if action.target in (None, k.handle, k.name)), None)
            if knock is None:
                raise CliError("nobody is knocking")
            client.view.knocks = [k for k in knocks if k is not knock]
            method = room.approve if kind == "approve" else room.deny
            rid = client.pending_requests.pop(knock.handle, None)
            if rid is None:
                raise CliError("that request is gone")
            client.session.act(method, rid)
        else:
            target = _target(client, action)
            method_name = {
                "invite": "invite_to_speak",
                "audience": "move_to_audience",
                "askmute": "request_mute",
                "kick": "kick",
                "ban": "ban",
                "moderator": "transfer_moderator",
            }[kind]
            if kind == "ban":
                client.banned.add(target)
            if kind in ("kick", "ban"):
                client.known_members.discard(target)
            client.session.act(getattr(room, method_name), target)
            client.log(CONFIRMATIONS[kind].format(name=client.names.get(target, "them")))
    except HushroomError as exc:
        raise CliError(f"{kind}: {exc}") from None
