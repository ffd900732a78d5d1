"""``--json``: one JSON object per line for every room event, JSON command lines on stdin.

The format is documented in docs/client.md ("JSON event stream").  Every
object has an ``"event"`` key; members are named by display name (never by
identity key).  Commands are objects such as ``{"cmd": "hand"}``,
``{"cmd": "chat", "text": "hi"}`` or ``{"cmd": "kick", "member": "Bob"}``:
the same commands as plain mode (:data:`client.actions.KINDS`).  A bad line
is answered with an ``error`` object, never by stopping.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

import trio

from client.actions import KINDS, Action
from client.audio.playout_quality import PlayoutWindow
from client.console import read_lines
from client.room_client import RoomClient
from client.roster_view import ROLE_NAMES
from e2ee.room import events as ev
from e2ee.room.roster import RemoveReason

MAX_COMMAND_BYTES = 4096
"""A longer command line is refused (chat text is at most 2,000 bytes, spec §14.4)."""
LEVEL_INTERVAL = 1.0
"""Seconds between ``level`` objects for each speaker heard."""
QUALITY_LEVELS = 5
"""``audio_quality`` objects come with every fifth round of ``level`` objects (5 s)."""

REASONS = {RemoveReason.LEFT: "left", RemoveReason.KICKED: "kicked", RemoveReason.BANNED: "banned"}

JsonObject = dict[str, Any]


def parse_command(line: str) -> Action | None:
    """A JSON command line as an :class:`Action`; ``None`` for a blank line.

    Raises ``ValueError`` with a one-line message for anything else.
    """
    if len(line.encode("utf-8", errors="replace")) > MAX_COMMAND_BYTES:
        raise ValueError(f"command line longer than {MAX_COMMAND_BYTES} bytes")
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        raise ValueError("not a JSON object") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    kind = obj.get("cmd")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"unknown cmd {kind!r}; one of: {', '.join(KINDS)}")
    needs_member, takes_text = KINDS[kind]
    member, text = obj.get("member"), obj.get("text")
    if member is not None and not isinstance(member, str):
        raise ValueError("'member' must be a string")
    if not takes_text:
        text = None
    elif not (isinstance(text, str) and text.strip()):
        raise ValueError(f"'{kind}' needs \"text\"")
    if needs_member and not member:
        raise ValueError(f"'{kind}' needs \"member\"")
    return Action(kind, target=member or None, text=text.strip() if isinstance(text, str) else None)


class EventStream:
    """Turns room events of one client into JSON objects (its own name table)."""

    def __init__(self, client: RoomClient) -> None:
        self.client = client
        self._names: dict[bytes, str] = {}
        self._playout = PlayoutWindow()

    def _name(self, member: bytes) -> str:
        return self._names.get(member, "a member")

    def to_object(self, event: ev.Event) -> JsonObject | None:
        """The JSON object for ``event`` (after the client applied it), or ``None``."""
        left = self._names.pop(event.member, "a member") if isinstance(event, ev.MemberLeft) else ""
        room = self.client.room
        self._names.update((m.id, m.display_name) for m in room.members.values())
        me = room.me if room.role is not None else None
        if isinstance(event, ev.Admitted):
            role = room.role
            return {
                "event": "admitted",
                "epoch": event.epoch,
                "role": ROLE_NAMES[role] if role is not None else None,
                "safety_code": self.client.safety_code(),
                "members": [m.display_name for m in room.members.values()],
            }
        if isinstance(event, ev.Denied):
            return {"event": "denied"}
        if isinstance(event, ev.JoinRequested):
            return {"event": "knock", "name": event.display_name}
        if isinstance(event, ev.MemberJoined):
            return {
                "event": "joined",
                "name": event.display_name,
                "role": ROLE_NAMES[event.role],
            }
        if isinstance(event, ev.MemberLeft):
            return {"event": "left", "name": left, "reason": REASONS.get(event.reason, "left")}
        if isinstance(event, ev.RoleChanged):
            return {
                "event": "role_changed",
                "name": self._name(event.member),
                "you": event.member == me,
                "old": ROLE_NAMES[event.old],
                "new": ROLE_NAMES[event.new],
            }
        if isinstance(event, ev.HandQueueChanged):
            return {"event": "hands", "queue": [self._name(m) for m in event.queue]}
        if isinstance(event, ev.InvitedToSpeak):
            return {"event": "invited_to_speak"}
        if isinstance(event, ev.ChatReceived):
            return {"event": "chat", "name": self._name(event.member), "text": event.text}
        if isinstance(event, ev.MuteRequested):
            return {"event": "mute_requested", "by": self._name(event.by)}
        if isinstance(event, ev.Removed):
            return {"event": "removed", "reason": self.client.removal_kind(event.reason)}
        if isinstance(event, ev.RoomEnded):
            return {"event": "room_ended"}
        if isinstance(event, ev.KeysRotated):
            return {"event": "keys_rotated", "epoch": event.epoch}
        if isinstance(event, ev.SafetyCodeChanged):
            return {
                "event": "safety_code_changed",
                "epoch": event.epoch,
                "reason": event.reason,
                "safety_code": self.client.safety_code(),
            }
        if isinstance(event, ev.RoomSecretRotated):
            # The new link goes to this user's own stream only, never to the room.
            return {"event": "room_secret_rotated", "invite": self.client.invite.to_link()}
        if isinstance(event, ev.SecurityAlert):
            return {"event": "alert", "kind": event.kind, "detail": event.detail}
        return None  # AudioReceived, RosterChanged: nothing a script acts on

    def levels(self) -> list[JsonObject]:
        """One ``level`` object per speaker heard above the speech threshold now."""
        members = self.client.view.members
        return [
            {"event": "level", "name": members[a.speaker_id.hex()].name, "dbfs": round(a.dbfs, 1)}
            for a in self.client.receiver.active_speakers()
            if a.speaker_id.hex() in members
        ]

    def playout(self) -> list[JsonObject]:
        """One ``audio_quality`` object per speaker played since the last call (honest LOSS)."""
        members = self.client.view.members
        return [
            {
                "event": "audio_quality",
                "name": members[q.speaker_id.hex()].name,
                "frames": q.frames,
                "concealed_pct": round(q.share(q.concealed), 1),
                "fec_pct": round(q.share(q.recovered), 1),
                "late_pct": round(q.share(q.late), 1),
                "late_or_concealed_pct": round(q.late_or_concealed_pct, 1),
                "delay_ms": round(q.delay_seconds * 1000),
            }
            for q in self._playout.take(self.client.receiver)
            if q.speaker_id.hex() in members
        ]


class JsonConsole:
    """The ``--json`` console: objects on ``out``, JSON commands from stdin."""

    def __init__(self, client: RoomClient, out: TextIO | None = None) -> None:
        self.view = client.view
        view = client.view
        view.typed_commands = True
        self.out = out or sys.stdout
        self.stream = EventStream(client)
        client.on_room_event.append(self._event)

    def emit(self, obj: JsonObject) -> None:
        print(json.dumps(obj, ensure_ascii=False), file=self.out, flush=True)

    def log(self, line: str) -> None:
        """A human-readable line (status, confirmations) as a ``log`` object."""
        self.emit({"event": "log", "text": line})

    def changed(self) -> None:
        """Events are emitted as they arrive; nothing to redraw."""

    def _event(self, event: ev.Event) -> None:
        obj = self.stream.to_object(event)
        if obj is not None:
            self.emit(obj)

    async def run(
        self, actions: trio.MemorySendChannel[Action], readline: Callable[[], str] | None = None
    ) -> None:
        """Read JSON commands until end of input; speaker levels once a second throughout."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._levels_loop)
            await read_lines(actions, parse_command, self._error, readline)

    def _error(self, message: str) -> None:
        self.emit({"event": "error", "text": message})

    async def _levels_loop(self) -> None:
        rounds = 0
        while True:
            await trio.sleep(LEVEL_INTERVAL)
            rounds += 1
            quality = self.stream.playout() if rounds % QUALITY_LEVELS == 0 else []
            for obj in [*self.stream.levels(), *quality]:
                self.emit(obj)
