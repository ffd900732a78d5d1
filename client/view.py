"""What the terminal shows: a plain model of the room, updated from session events.

The model knows nothing about the protocol core; :mod:`client.session`
translates room events into these calls.  Both renderers (the interactive
screen in :mod:`client.tui` and the plain log) read from it.
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


@dataclass
class MemberView:
    """One member as the user sees them.  ``handle`` is a short local label."""

    handle: str
    name: str
    role: str
    is_me: bool = False
    hand_raised: bool = False
    last_audio: float | None = None

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
    selected: int = 0
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
        self.selected = min(self.selected, max(0, len(self.ordered()) - 1))

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
        ordered = self.ordered()
        if not ordered:
            return None
        return ordered[min(self.selected, len(ordered) - 1)]

    def move_selection(self, delta: int) -> None:
        count = len(self.members)
        if count:
            self.selected = (self.selected + delta) % count

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
