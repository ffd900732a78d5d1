"""Sending the chair's next commit (spec §12.5, §15.2).

Queued ops become one commit only when no commit of ours is in flight, we
are a member with a slot, and we hold the current epoch's keys (a re-key's
fresh secret may still be on its way; the queue is flushed once it comes).
A member that is no longer a moderator drops its queue.  The commit goes
out as a CONTROL broadcast and as a UNICAST to our own slot: the relay does
not echo broadcasts, and we apply our own commit only when that copy comes
back in relay order.  A re-key commit's fresh secret goes, over the pair
channels, to every member the commit keeps whose slot we know; an absent one
catches up through a sync when it announces itself (spec §16.4).

:class:`CommitFlush` keeps no state: the op queue and the commit in flight
are the :class:`~e2ee.room.chair.Chair`'s.
"""

from __future__ import annotations

from e2ee.envelope import EnvelopeType
from e2ee.room import succession
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair, fresh_message, fresh_recipients
from e2ee.room.epochs import EpochKeys
from e2ee.room.outbox import Outbox
from e2ee.room.pair_out import PairOut
from e2ee.room.roster import RosterState
from e2ee.room.state import SessionState


class CommitFlush:
    """Turns the chair's queued ops into one commit on the wire (spec §12.5)."""

    __slots__ = ("_chain", "_chair", "_keys", "_me", "_outbox", "_pair_out")

    def __init__(
        self,
        me: bytes,
        outbox: Outbox,
        chair: Chair,
        chain: Chain,
        keys: EpochKeys,
        pair_out: PairOut,
    ) -> None:
        self._me = me
        self._outbox = outbox
        self._chair = chair
        self._chain = chain
        self._keys = keys
        self._pair_out = pair_out

    def flush(self, state: SessionState, roster: RosterState | None, slot: int | None) -> None:
        """Send one commit of the queued ops if none is in flight (spec §12.5)."""
        chair = self._chair
        if not chair.queue or chair.inflight is not None or state is not SessionState.MEMBER:
            return  # nothing queued, or our commit is still on its way back (spec §12.5)
        taking_over = succession.taking_over(roster, self._me, chair.queue)  # spec §12.2
        if roster is None or not (roster.is_moderator(self._me) or taking_over):
            chair.queue.clear()
            return
        epoch = self._chain.epoch
        epoch_key, control_key = self._keys.get(epoch), self._keys.control.get(epoch)
        if slot is None or epoch_key is None or control_key is None:
            return  # e.g. waiting for a re-key's fresh secret; flushed once it arrives
        out = chair.flush(roster, epoch, self._chain.head, epoch_key, control_key)
        if out is None:
            return
        self._outbox.send(EnvelopeType.CONTROL, 0, out.payload)  # echoed to us in order (§17.3)
        if out.fresh is not None:
            # the fresh secret goes to every remaining member we can reach (spec §15.2)
            pt = fresh_message(out.commit, out.fresh)
            for mid in fresh_recipients(out.commit, roster.members, self._me):
                self._pair_out.send(roster, mid, pt)  # absent: catches up through a sync
