"""A moderator catching a lagging member up (spec §16.4, §16.7).

A member asks for a sync (a SYNC_REQUEST), or shows it is behind (a beacon
on an older head, audio under a superseded epoch).  The moderator answers
over the pair channel with the commits since the member's epoch and ``K_e``,
or with its signed snapshot, within the pacing and bounds of
:class:`e2ee.room.sync_pacer.SyncPacer` (:meth:`e2ee.room.chair.Chair.sync_reply`).
Nothing is sent to a member whose slot is unknown or that is not in the
roster, nor while we do not hold the current epoch key.

A beacon proves no epoch key, so its claim is believed only as far as the
commits made since an epoch whose key is still within its grace; a member
further behind is sent a snapshot (:meth:`SyncReplies.behind`).

:class:`SyncReplies` keeps no state of its own: the commit log and the
pacing are the chair's.
"""

from __future__ import annotations

from e2ee.room.authority import Authority
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair
from e2ee.room.epochs import EpochKeys
from e2ee.room.pair_out import PairOut
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.sync_pacer import SNAPSHOT_ASKED


class SyncReplies:
    """Sync and snapshot replies to lagging members (spec §16.4)."""

    __slots__ = ("_authority", "_chain", "_chair", "_keys", "_pair_out", "_slots")

    def __init__(
        self,
        chair: Chair,
        authority: Authority,
        chain: Chain,
        keys: EpochKeys,
        slots: Slots,
        pair_out: PairOut,
    ) -> None:
        self._chair = chair
        self._authority = authority
        self._chain = chain
        self._keys = keys
        self._slots = slots
        self._pair_out = pair_out

    def send(self, mid: bytes, their_epoch: int, now: float, roster: RosterState | None) -> None:
        """Catch ``mid`` up from ``their_epoch``, within the reply bounds (spec §16.4, §16.7)."""
        slot = self._slots.get(mid)
        if slot is None or roster is None or mid not in roster.members:
            return
        chain = self._chain
        key = self._keys.get(chain.epoch)
        if key is None:
            return
        pt = self._chair.sync_reply(
            mid, their_epoch, now, roster, chain.epoch, chain.head, self._authority, key
        )
        if pt is not None:
            self._pair_out.send(roster, mid, pt)

    def behind(self, author: bytes, epoch: int, now: float, roster: RosterState | None) -> None:
        """A beacon shows ``author`` at ``epoch`` on our chain, behind us (spec §16.4)."""
        usable = epoch in self._keys.control and self._keys.usable(epoch, self._chain.epoch, now)
        self.send(author, epoch if usable else SNAPSHOT_ASKED, now, roster)
