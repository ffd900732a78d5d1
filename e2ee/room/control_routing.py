"""A control message accepted, and what it calls for sent or queued (spec §14.3, §14.4, §16.4).

:class:`~e2ee.room.control_in.ControlIn` checks the author's signature and
``seq`` and says what the message asks; this module routes the answer.  A
control message that fails its signature check is a ``forged`` alert.  A
signed, fresh one proves its author alive (its absence timer ends, spec
§16.4) and its ``(epoch, head)`` is checked against our chain (spec §16.2).
The sender held the key that sealed it, so for a catch-up it is at least at
that epoch, whatever epoch it signs (spec §16.4).  Then, in this order: the
stage's slots to whoever announced, a sync for a lagging member, our slot to
whoever asked, the event, the op for the chair's queue, and a leave noted
for the debounced removal (spec §15.2).  A moderator that says it leaves
makes the deputy take the chair if no other moderator may be here; the
leaver is then removed once the take-over commit is out (spec §12.2).
"""

from __future__ import annotations

from e2ee.errors import DecryptionFailed
from e2ee.room.absence import AbsenceTimers
from e2ee.room.announce import Announcements
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair
from e2ee.room.commit_flush import CommitFlush
from e2ee.room.control import Control, ControlType
from e2ee.room.control_in import ControlIn
from e2ee.room.heads import Heads
from e2ee.room.outbox import Outbox
from e2ee.room.recording import RecordingMarks
from e2ee.room.roster import Role, RosterState
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState
from e2ee.room.sync_replies import SyncReplies
from e2ee.room.take_over import TakeOver


class ControlRouting:
    """Inbound control messages accepted and their outcome routed (spec §14.3); no state."""

    __slots__ = (
        "_absence", "_announcements", "_chain", "_chair", "_control_in", "_flush", "_heads",
        "_outbox", "_recording", "_slots", "_sync_replies", "_take_over",
    )  # fmt: skip

    def __init__(
        self,
        outbox: Outbox,
        control_in: ControlIn,
        chain: Chain,
        slots: Slots,
        recording: RecordingMarks,
        announcements: Announcements,
        heads: Heads,
        sync_replies: SyncReplies,
        chair: Chair,
        absence: AbsenceTimers,
        take_over: TakeOver,
        flush: CommitFlush,
    ) -> None:
        self._outbox = outbox
        self._control_in = control_in
        self._chain = chain
        self._slots = slots
        self._recording = recording
        self._announcements = announcements
        self._heads = heads
        self._sync_replies = sync_replies
        self._chair = chair
        self._absence = absence
        self._take_over = take_over
        self._flush = flush

    def received(
        self,
        msg: Control,
        src: int,
        sealed: int,
        roster: RosterState,
        state: SessionState,
        slot: int | None,
        now: float,
    ) -> None:
        """``msg`` came from slot ``src`` sealed under epoch ``sealed``'s key (spec §14.3)."""
        try:
            author = self._control_in.accept(msg, roster)
        except DecryptionFailed:
            self._outbox.alert("forged", "a control message failed its signature check")
            return
        if author is None:
            return
        self._absence.cancel(msg.author)  # signed and fresh: the author is alive (§16.4)
        self._heads.check(msg.author, msg.epoch, msg.head, roster, now)
        at_least = max(msg.epoch, sealed)
        out = self._control_in.outcome(
            msg, author, src, at_least, roster, self._slots, self._chain.epoch, slot,
            self._recording,
        )  # fmt: skip
        for to in out.slots_to:
            self._announcements.stage(to, state, slot, roster)
        if out.sync is not None:
            self._sync_replies.send(*out.sync, now, roster)
        if out.reply_to is not None:
            self._announcements.to_slot(out.reply_to, state, slot, ask=False)
        if out.event is not None:
            self._outbox.events.append(out.event)
        if out.op is not None:
            self._chair.queue_op(out.op)
        if out.leave is not None:
            self._chair.leave_noted(out.leave, now)
        elif msg.type is ControlType.LEAVE and author.role is Role.MODERATOR:
            if self._take_over.queue_if_gone(roster, msg.author):
                self._flush.flush(state, roster, slot)
                self._chair.leave_noted(msg.author, now)  # the leaver goes once we chair
