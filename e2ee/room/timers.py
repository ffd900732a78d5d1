"""What a room session does when time passes (spec §13.2, §15.2, §15.4–§15.6, §16.2, §16.4).

Every timer lives in the collaborator it belongs to; this module asks them
what is due, in one fixed order, and sends what that calls for:

1. a joiner's KNOCK again (spec §13.2);
2. a sync request to the committer whose re-key secret did not come, or to
   another moderator we can reach (spec §15.2);
3. the speaker proofs due, forged-audio verdicts, superseded epoch keys and
   stale welcome pieces dropped (spec §15.4, §15.6, §13.1);
4. the chair's duties: syncs paced for lagging members, debounced leaves
   and absent members removed, the deputy's take-over (spec §12.2, §15.2,
   §16.4);
5. a member behind a moderator asks it for a sync and sends its head beacon
   (refused if our key expired there; the beacon then earns a snapshot), an
   isolated member is alerted, and the periodic head beacon goes out
   (spec §16.2–§16.4);
6. the chair's queued ops go out as one commit (spec §12.5).

:class:`Timers` owns one deadline, the next head beacon's: it starts when
the relay first welcomes our link.
"""

from __future__ import annotations

from collections import Counter

from e2ee.envelope import EnvelopeType
from e2ee.room.absence import AbsenceTimers
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair, is_chair
from e2ee.room.chunks import ChunkAssembler
from e2ee.room.commit_flush import CommitFlush
from e2ee.room.control import ControlType
from e2ee.room.control_send import ControlSender
from e2ee.room.epochs import EpochKeys
from e2ee.room.fresh import FreshSecrets
from e2ee.room.heads import Heads, expects_news
from e2ee.room.knocking import Knocking
from e2ee.room.liveness import QuietWatch
from e2ee.room.media import Media
from e2ee.room.outbox import Outbox
from e2ee.room.roster import RemoveReason, RosterState, op_remove
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState
from e2ee.room.sync_replies import SyncReplies
from e2ee.room.take_over import TakeOver


class Timers:
    """The session's deadlines asked for and run in order (spec §16.4); owns ``beacon_at``."""

    __slots__ = (
        "_absence", "_chain", "_chair", "_chunks", "_control", "_counters", "_flush",
        "_fresh", "_heads", "_keys", "_knocking", "_me", "_media", "_outbox", "_period",
        "_quiet", "_slots", "_sync_replies", "_take_over", "beacon_at",
    )  # fmt: skip

    def __init__(
        self,
        me: bytes,
        beacon_period: float,
        counters: Counter[str],
        outbox: Outbox,
        knocking: Knocking,
        control: ControlSender,
        slots: Slots,
        chain: Chain,
        keys: EpochKeys,
        fresh: FreshSecrets,
        chunks: ChunkAssembler,
        media: Media,
        chair: Chair,
        sync_replies: SyncReplies,
        absence: AbsenceTimers,
        take_over: TakeOver,
        flush: CommitFlush,
        heads: Heads,
        quiet: QuietWatch,
    ) -> None:
        self._me = me
        self._period = beacon_period
        self._counters = counters
        self._outbox = outbox
        self._knocking = knocking
        self._control = control
        self._slots = slots
        self._chain = chain
        self._keys = keys
        self._fresh = fresh
        self._chunks = chunks
        self._media = media
        self._chair = chair
        self._sync_replies = sync_replies
        self._absence = absence
        self._take_over = take_over
        self._flush = flush
        self._heads = heads
        self._quiet = quiet
        self.beacon_at: float | None = None

    def link_up(self, now: float) -> None:
        """The relay welcomed a link: the head beacon runs from the first one (§16.2)."""
        if self.beacon_at is None:
            self.beacon_at = now + self._period

    def next_due(self, state: SessionState) -> float | None:
        """When :meth:`run` should next run, or None."""
        if not state.active:
            return None
        times = [
            t
            for t in (
                self._knocking.retry_at,
                self._chair.next_due(),
                self._absence.next_due(),
                self.beacon_at,
                self._quiet.deadline() if state is SessionState.MEMBER else None,
                self._chain.sync_due(),
                self._keys.next_expiry(),
                self._chunks.next_expiry(),
                self._fresh.next_due(),
                self._media.next_due(),
            )
            if t is not None
        ]
        return min(times) if times else None

    def run(
        self,
        now: float,
        state: SessionState,
        roster: RosterState | None,
        slot: int | None,
        admission_key: bytes,
    ) -> None:
        """Run whatever is due at ``now``, in the order of the module docstring."""
        if self._knocking.due(now) and state is SessionState.JOINING and slot is not None:
            self._knocking.send(admission_key, now)
        committer = self._fresh.ask_due(now)
        if committer is not None:
            # the re-key secret did not come: ask its committer for a sync (spec §15.2)
            to = self._moderator_slot(committer, roster)
            if to is not None:
                self._control.send(ControlType.SYNC_REQUEST, [], state, slot, to)
        self._expire(now)
        self._chair_duties(now, state, roster, slot)
        # behind a moderator, isolated, or the head beacon due (spec §16.2–§16.4)
        behind_of = self._chain.behind_due(now)
        if behind_of is not None and behind_of in self._slots:
            # the request is refused if our key expired there; the beacon
            # then earns us a snapshot (spec §16.4)
            to = self._slots[behind_of]
            self._control.send(ControlType.SYNC_REQUEST, [], state, slot, to)
            beacon = self._heads.beacon(state, slot, roster, admission_key)
            if beacon is not None:
                self._outbox.unicast(to, beacon)
        member = roster if state is SessionState.MEMBER else None
        if member is not None and self._quiet.overdue(now) and expects_news(member, self._me):
            self._outbox.alert("isolated", "no commit or confirmed head heard for a while")
        if self.beacon_at is not None and now >= self.beacon_at:
            self.beacon_at = now + self._period
            self._heads.send_beacon(state, slot, roster, admission_key)
        self._flush.flush(state, roster, slot)

    def _expire(self, now: float) -> None:
        """Speaker proofs due; forged audio, old epoch keys, stale pieces (§13.1, §15.4–§15.6)."""
        for payload in self._media.proofs_due(now):
            self._outbox.send(EnvelopeType.MEDIA, 0, payload)
        self._outbox.events.extend(self._media.expire(now))
        for epoch in self._keys.expire(now, self._chain.epoch):
            self._media.forget_epoch(epoch)
        self._counters["chunk_transfer_expired"] += self._chunks.expire(now)

    def _chair_duties(
        self, now: float, state: SessionState, roster: RosterState | None, slot: int | None
    ) -> None:
        """Paced syncs, debounced leaves, absent members, the take-over (§12.2, §15.2, §16.4)."""
        for mid, their_epoch in self._chair.syncs_due(now):
            self._sync_replies.send(mid, their_epoch, now, roster)
        leaves = self._chair.leaves_due(now)
        if roster is not None and roster.is_moderator(self._me):
            for mid in leaves:
                self._chair.queue_op(op_remove(mid, RemoveReason.LEFT))
        gone = self._absence.due(now)
        if roster is None or not gone:
            return
        chairing = is_chair(roster, self._me, self._slots.__contains__, None)
        for mid in gone:
            self._take_over.remove_absent(mid, roster, chairing)
        if any(map(roster.is_moderator, gone)) and self._take_over.queue_if_gone(roster):
            self._flush.flush(state, roster, slot)

    def _moderator_slot(self, preferred: bytes, roster: RosterState | None) -> int | None:
        """The slot of ``preferred`` if known, else of any other moderator we can reach."""
        if roster is None:
            return self._slots.get(preferred)
        others = [m for m in roster.moderators() if m != self._me]
        return self._slots.first_of(preferred, others)
