"""Control messages a member receives (spec §14.3, §14.4, §16.4).

A control message counts only if its author is in the roster, its signature
verifies under the author's session key, and its ``seq`` is above the last
one seen from that author (one integer per member: bounded by the roster).
What it then does is returned as a :class:`ControlOutcome` for the session
to carry out; this module holds only the sequence numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from e2ee.errors import DecryptionFailed, ErrorCode, RemoteProtocolError
from e2ee.room import actions
from e2ee.room.chair import is_chair
from e2ee.room.control import Control, ControlType, verify_control
from e2ee.room.events import ChatReceived, Event, LossReported, MuteRequested, RecordingChanged
from e2ee.room.loss_report import loss_about
from e2ee.room.recording import RecordingMarks
from e2ee.room.roster import Member, Op, Role, RosterState
from e2ee.room.slots import Slots


@dataclass
class ControlOutcome:
    """What one accepted control message asks of this member, in the order to do it."""

    slots_to: list[int | None] = field(default_factory=list)  # SLOTS to send; None: broadcast
    sync: tuple[bytes, int] | None = None  # catch this member up from this epoch
    reply_to: int | None = None  # answer with our ANNOUNCE [slot, False] there
    event: Event | None = None
    op: Op | None = None  # for the chair's queue
    leave: bytes | None = None  # a leave for the chair to batch


class ControlIn:
    """The last ``seq`` seen per author, and what each control type does (spec §14.4)."""

    __slots__ = ("_counters", "_last_seq", "_me", "_room_id")

    def __init__(self, me: bytes, room_id: bytes, counters: Counter[str]) -> None:
        self._me = me
        self._room_id = room_id
        self._counters = counters
        self._last_seq: dict[bytes, int] = {}

    def forget(self, member: bytes) -> None:
        """``member`` left or joined the roster: its next session counts from scratch."""
        self._last_seq.pop(member, None)

    def accept(self, msg: Control, roster: RosterState) -> Member | None:
        """The author of a fresh, authentic ``msg``; None for a replay (§14.3).

        Raises UNAUTHORIZED for a non-member and DecryptionFailed for a bad
        signature.
        """
        author = roster.members.get(msg.author)
        if author is None:
            raise RemoteProtocolError("control from a non-member", ErrorCode.UNAUTHORIZED)
        try:
            verify_control(msg, self._room_id, author.session_key)
        except DecryptionFailed:
            self._counters["forged_control"] += 1
            raise
        if msg.seq <= self._last_seq.get(msg.author, -1):
            self._counters["replayed_control"] += 1
            return None
        self._last_seq[msg.author] = msg.seq
        return author

    def outcome(
        self,
        msg: Control,
        author: Member,
        src: int,
        at_least: int,
        roster: RosterState,
        slots: Slots,
        epoch: int,
        my_slot: int | None,
        recording: RecordingMarks,
    ) -> ControlOutcome:
        """What ``msg`` from ``author`` at ``src`` asks (spec §14.4); ``slots`` and
        ``recording`` are updated.

        ``at_least`` is the epoch the author is known to be at: the newer of
        the one it signs and the one whose key sealed the message (§16.4).
        """
        me = self._me
        out = ControlOutcome()
        out.op = actions.check_control(msg, author, roster)
        moderator = roster.is_moderator(me)
        t = msg.type
        if t is ControlType.ANNOUNCE:
            slot = msg.args[0]
            assert isinstance(slot, int)
            if slot != src:
                self._counters["slot_mismatch"] += 1
                return out
            changed = slots.get(msg.author) != slot
            slots.set(msg.author, slot)
            if msg.author != me and moderator:
                # Members announce only on (re)joining or in reply to a moderator:
                # either way they need the stage slots, even when their own slot
                # number is the same as before a relay restart.
                out.slots_to.append(slot)
                if changed and author.role.on_stage:
                    # A stage member moved (relay restart): members answered
                    # before we learned it must hear it too.
                    out.slots_to.append(None)
                if at_least < epoch:
                    out.sync = (msg.author, at_least)
            if msg.args[1] and my_slot is not None and msg.author != me:
                role = roster.role_of(me)
                if (role is not None and role.on_stage) or author.role is Role.MODERATOR:
                    out.reply_to = src
        elif t is ControlType.SLOTS:
            for mid, slot in actions.slot_entries(msg):
                if mid in roster.members and mid != me:
                    slots.set(mid, slot)
        elif t is ControlType.LEAVE:
            if is_chair(roster, me, slots.__contains__, excluding=msg.author):
                out.leave = msg.author
        elif t is ControlType.CHAT:
            text = msg.args[0]
            assert isinstance(text, str)
            out.event = ChatReceived(msg.author, text)
        elif t is ControlType.MUTE_REQUEST:
            if msg.args[0] == me:
                out.event = MuteRequested(msg.author)
        elif t is ControlType.RECORDING:
            on = bool(msg.args[0])
            if recording.set(author, on, roster.members.values()):
                out.event = RecordingChanged(msg.author, on)
        elif t is ControlType.LOSS_REPORT:
            if not author.role.on_stage:
                raise RemoteProtocolError("loss report from the audience", ErrorCode.UNAUTHORIZED)
            if (permille := loss_about(msg.args, me)) is None:
                self._counters["misdirected_loss_report"] += 1
            else:
                out.event = LossReported(msg.author, permille)
        elif t is ControlType.SYNC_REQUEST and moderator:
            if at_least >= epoch:
                self._counters["sync_not_behind"] += 1  # nothing it can be missing
            else:
                out.sync = (msg.author, at_least)
        if out.op is not None and not is_chair(roster, me, slots.__contains__, None):
            out.op = None
        return out
