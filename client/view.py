"""What the terminal shows: a plain model of the room, updated from session events.

The model knows nothing about the protocol core; :mod:`client.room_events` and
:mod:`client.roster_view` translate room events into these calls.  Both consoles of
:mod:`client.console` (the interactive screen drawn by :mod:`client.render`
and the plain log) read from it.  Local listening choices (a speaker's
volume, local mute) and push-to-talk live here too: they are this user's
alone and never leave the device.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

ROLES = ("moderator", "speaker", "listener")
SPEAKING_WINDOW = 0.3  # seconds after a member's last frame we still show them speaking
STATUS_LINES = 6
CHAT_LINES = 6
"""Chat lines shown at once; PgUp/PgDn scroll through the history."""
CHAT_HISTORY = 500
"""Chat lines kept for scrolling back (older ones are dropped)."""
VOLUME_STEP = 0.25
MAX_VOLUME = 2.0
"""Local volume of one speaker: 0 % .. 200 % in steps of 25 % (100 %: as sent)."""


@dataclass
class MemberView:
    """One member as the user sees them.  ``handle`` is the hex of the whole member id."""

    handle: str
    name: str
    role: str
    is_me: bool = False
    hand_raised: bool = False
    last_audio: float | None = None
    recording: bool = False
    """The member's client announces that it records the room (advisory, spec §14.4)."""

    @property
    def on_stage(self) -> bool:
        return self.role in ("moderator", "speaker")


@dataclass
class Knock:
    """A join request waiting for a moderator (policy ``knock``)."""

    handle: str
    name: str


@dataclass
class RoomView:
    """The room as shown to this user."""

    room_name: str = ""
    invite: str = ""
    safety_code: str = ""
    connection: str = "connecting"
    link_detail: str = ""
    """The latest reconnect message while reconnecting (one updating line)."""
    members: dict[str, MemberView] = field(default_factory=dict)
    hand_queue: list[str] = field(default_factory=list)
    knocks: list[Knock] = field(default_factory=list)
    invited_to_speak: bool = False
    self_muted: bool = False
    push_to_talk: bool = False
    """Speak only while talking is switched on (Space in the terminal view)."""
    talking: bool = False
    selected: str | None = None
    """The member key (``members``) of the selected member: it follows the person, not a row."""
    volumes: dict[str, float] = field(default_factory=dict)
    """Local playback volume per member key (absent: 1.0); never sent anywhere."""
    local_mutes: set[str] = field(default_factory=set)
    """Members this user does not want to hear (local only)."""
    audio_line: str = ""
    """What this client speaks from and records to, for the status line."""
    status: deque[str] = field(default_factory=lambda: deque(maxlen=STATUS_LINES))
    chat: deque[str] = field(default_factory=lambda: deque(maxlen=CHAT_HISTORY))
    chat_scroll: int = 0
    """How many lines back from the newest the chat pane shows (0: the newest)."""
    successor: MemberView | None = None
    """Set while this user is the last moderator of an occupied room: who could take over."""
    ended: bool = False
    typed_commands: bool = False
    """Commands are typed lines (plain mode), not single keys (the terminal view)."""

    def hint(self, key: str, command: str) -> str:
        """How the user asks for something: ``key`` in the view, ``command`` in plain mode."""
        return f"'{command}'" if self.typed_commands else key

    # -- updates -----------------------------------------------------------
    def set_members(self, members: list[MemberView]) -> None:
        """Replace the roster, keeping speaking times of members still present."""
        old = self.members
        self.members = {}
        for m in members:
            prev = old.get(m.handle)
            if prev is not None and m.last_audio is None:
                m.last_audio = prev.last_audio
            self.members[m.handle] = m
        self.hand_queue = [h for h in self.hand_queue if h in self.members]
        for h, m in self.members.items():
            m.hand_raised = h in self.hand_queue
        gone = [h for h in (*self.volumes, *self.local_mutes) if h not in self.members]
        for h in gone:
            self.volumes.pop(h, None)
            self.local_mutes.discard(h)
        if self.selected is not None and self.selected not in self.members:
            left = old.get(self.selected)
            self.selected = None
            who = left.name if left is not None else "the selected member"
            self.add_status(f"{who} left: nobody is selected now (↑/↓ to select)")

    def set_hand_queue(self, handles: list[str]) -> None:
        self.hand_queue = [h for h in handles if h in self.members]
        for h, m in self.members.items():
            m.hand_raised = h in self.hand_queue

    def audio_from(self, handle: str, now: float) -> None:
        member = self.members.get(handle)
        if member is not None:
            member.last_audio = now

    def add_status(self, line: str) -> None:
        self.status.append(line)

    def add_chat(self, line: str) -> None:
        self.chat.append(line)
        if self.chat_scroll:
            self.chat_scroll = min(self.chat_scroll + 1, self._max_scroll())

    def scroll_chat(self, lines: int) -> None:
        """Scroll the chat pane ``lines`` back (positive) or forward (negative)."""
        self.chat_scroll = max(0, min(self.chat_scroll + lines, self._max_scroll()))

    def _max_scroll(self) -> int:
        return max(0, len(self.chat) - CHAT_LINES)

    def visible_chat(self) -> list[str]:
        """The chat lines the pane shows now (at most :data:`CHAT_LINES`)."""
        end = len(self.chat) - self.chat_scroll
        return list(self.chat)[max(0, end - CHAT_LINES) : end]

    # -- queries -------------------------------------------------------------
    def me(self) -> MemberView | None:
        return next((m for m in self.members.values() if m.is_me), None)

    def is_moderator(self) -> bool:
        me = self.me()
        return me is not None and me.role == "moderator"

    def stage(self) -> list[MemberView]:
        return sorted(
            (m for m in self.members.values() if m.on_stage),
            key=lambda m: (ROLES.index(m.role), m.name.lower(), m.handle),
        )

    def who(self) -> str:
        """The room in one line: stage, audience (raised hands marked), people knocking."""

        def label(m: MemberView) -> str:
            you = " (you)" if m.is_me else ""
            role = " (moderator)" if m.role == "moderator" else ""
            return f"{m.name}{you}{role}{' [hand]' if m.hand_raised else ''}"

        parts = [
            "stage: " + (", ".join(map(label, self.stage())) or "nobody"),
            "audience: " + (", ".join(map(label, self.audience())) or "nobody"),
        ]
        if self.knocks:
            parts.append("knocking: " + ", ".join(k.name for k in self.knocks))
        return "; ".join(parts)

    def audience(self) -> list[MemberView]:
        return sorted(
            (m for m in self.members.values() if not m.on_stage),
            key=lambda m: (not m.hand_raised, m.name.lower(), m.handle),
        )

    def ordered(self) -> list[MemberView]:
        """Stage then audience: the order in which members are listed and selected."""
        return self.stage() + self.audience()

    def selected_member(self) -> MemberView | None:
        return self.members.get(self.selected) if self.selected is not None else None

    def move_selection(self, delta: int) -> None:
        """Select the member ``delta`` rows away (the first or last row when nobody is)."""
        ordered = [m.handle for m in self.ordered()]
        if not ordered:
            return
        if self.selected not in ordered:
            self.selected = ordered[0 if delta > 0 else -1]
        else:
            self.selected = ordered[(ordered.index(self.selected) + delta) % len(ordered)]

    # -- local listening and speaking (never sent anywhere) ---------------------------
    def volume_of(self, handle: str) -> float:
        """The gain the mixer applies to ``handle``'s audio (0.0 when locally muted)."""
        if handle in self.local_mutes:
            return 0.0
        return self.volumes.get(handle, 1.0)

    def change_volume(self, handle: str, steps: int) -> float:
        """Turn ``handle`` up (positive) or down by :data:`VOLUME_STEP` steps; the new volume."""
        volume = self.volumes.get(handle, 1.0) + steps * VOLUME_STEP
        volume = round(max(0.0, min(MAX_VOLUME, volume)), 2)
        if volume == 1.0:
            self.volumes.pop(handle, None)
        else:
            self.volumes[handle] = volume
        return volume

    def toggle_local_mute(self, handle: str) -> bool:
        """Stop or resume hearing ``handle`` here; whether they are now muted."""
        if handle in self.local_mutes:
            self.local_mutes.discard(handle)
            return False
        self.local_mutes.add(handle)
        return True

    def transmitting(self) -> bool:
        """Whether this user's audio may go out now (not muted; talking, with push-to-talk)."""
        return not self.self_muted and (self.talking or not self.push_to_talk)

    def find(self, text: str) -> MemberView | None:
        """A member by handle, exact name, or unique name prefix (case-insensitive)."""
        if text in self.members:
            return self.members[text]
        low = text.lower()
        exact = [m for m in self.members.values() if m.name.lower() == low]
        if len(exact) == 1:
            return exact[0]
        prefix = [m for m in self.members.values() if m.name.lower().startswith(low)]
        return prefix[0] if len(prefix) == 1 else None

    def speaking(self, member: MemberView, now: float) -> bool:
        return member.last_audio is not None and now - member.last_audio <= SPEAKING_WINDOW
