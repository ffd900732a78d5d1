"""What a member does about a speaker still sending under a superseded epoch (spec §15.4).

Audio under an epoch superseded longer than the sender's switch grace ago
means the sender missed a commit (a relay may be withholding it).  Once per
sender and epoch, every member raises a ``stale_sender`` alert, and a member
that does not moderate forwards the missed commit if it is one of the about
FORWARDERS members selected for it (:mod:`e2ee.room.forwarding`), sealed
under the stale epoch's control key, which the sender holds (its audio
proved it).  A moderator sends the sender a sync, paced as every sync is
(:class:`e2ee.room.sync_replies.SyncReplies`).

:class:`StaleSenders` keeps no state of its own: "once per sender and epoch"
is the media module's (:class:`e2ee.room.media.StaleSender`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from e2ee.room import forwarding
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair
from e2ee.room.epochs import EpochKeys
from e2ee.room.media import StaleSender
from e2ee.room.outbox import Outbox
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.sync_replies import SyncReplies

Rng = Callable[[int], bytes]


class StaleSenders:
    """Alerts, forwarded commits and syncs for stale senders (spec §15.4)."""

    __slots__ = (
        "_chain",
        "_chair",
        "_counters",
        "_keys",
        "_me",
        "_outbox",
        "_rng",
        "_room_id",
        "_slots",
        "_sync_replies",
    )

    def __init__(
        self,
        me: bytes,
        room_id: bytes,
        rng: Rng,
        outbox: Outbox,
        counters: Counter[str],
        chair: Chair,
        chain: Chain,
        keys: EpochKeys,
        slots: Slots,
        sync_replies: SyncReplies,
    ) -> None:
        self._me = me
        self._room_id = room_id
        self._rng = rng
        self._outbox = outbox
        self._counters = counters
        self._chair = chair
        self._chain = chain
        self._keys = keys
        self._slots = slots
        self._sync_replies = sync_replies

    def heard(self, stale: StaleSender, roster: RosterState, now: float) -> None:
        """Audio under a superseded epoch after the sender's switch grace (spec §15.4)."""
        moderator = roster.is_moderator(self._me)
        if stale.first:
            self._outbox.alert("stale_sender", f"a speaker still sends under epoch {stale.epoch}")
            if not moderator:
                self.forward_commit(stale.member, stale.epoch, roster)
        if moderator:
            self._sync_replies.send(stale.member, stale.epoch, now, roster)

    def forward_commit(self, member: bytes, epoch: int, roster: RosterState) -> None:
        """Hand a stale sender the commit that moves it off ``epoch``, if we are selected."""
        n = len(roster.members)
        slot, key = self._slots.get(member), self._keys.control.get(epoch)
        if slot is None or key is None:
            return
        if not forwarding.selected(self._room_id, self._me, member, epoch, n):
            return
        payload = forwarding.forward(
            self._chair.log, self._chain.epoch, epoch, self._room_id, key, self._rng
        )
        if payload is not None:
            self._counters["commit_forwarded"] += 1
            self._outbox.unicast(slot, payload)
