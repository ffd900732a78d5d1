"""Installing a signed roster snapshot: a welcome's, or a moderator's offer (spec §13.5, §16.4).

A snapshot replaces our roster and moves our chain to its ``(epoch, head)``
with that epoch's key (the keys of the epoch it supersedes keep their
grace, spec §15.4); every member in it is known (spec §13.3) and an awaited
re-key secret is no longer needed (spec §15.2).

An offered snapshot (a moderator catching us up, spec §16.4) is refused
with an alert when it would roll us back (``rollback``) or move us off our
head (``split_view``).  A welcome's snapshot admits us (spec §13.5): the
stage's slots it carries are recorded, the KNOCK retry stops, we set up a
pair channel with every moderator, emit ``Admitted``, take our role
(:mod:`e2ee.room.role_change`) and announce our slot (spec §16.4).  The
caller keeps the roster each method returns and, for a welcome, our new
state: a member.
"""

from __future__ import annotations

from e2ee.room import catch_up
from e2ee.room.admitting import Admissions
from e2ee.room.announce import Announcements
from e2ee.room.chain import Chain
from e2ee.room.epoch_install import EpochInstall
from e2ee.room.events import Admitted
from e2ee.room.fresh import FreshSecrets
from e2ee.room.joiner import Welcome
from e2ee.room.knocking import Knocking
from e2ee.room.outbox import Outbox
from e2ee.room.pair_out import PairOut
from e2ee.room.pairs import SnapshotOffer
from e2ee.room.role_change import RoleChange
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState


class SnapshotInstall:
    """A snapshot made our roster, chain and key (spec §13.5, §16.4); owns no state."""

    __slots__ = (
        "_admissions", "_announcements", "_chain", "_fresh", "_install", "_knocking", "_me",
        "_outbox", "_pair_out", "_role_change", "_slots",
    )  # fmt: skip

    def __init__(
        self,
        me: bytes,
        outbox: Outbox,
        chain: Chain,
        install: EpochInstall,
        fresh: FreshSecrets,
        admissions: Admissions,
        slots: Slots,
        knocking: Knocking,
        pair_out: PairOut,
        role_change: RoleChange,
        announcements: Announcements,
    ) -> None:
        self._me = me
        self._outbox = outbox
        self._chain = chain
        self._install = install
        self._fresh = fresh
        self._admissions = admissions
        self._slots = slots
        self._knocking = knocking
        self._pair_out = pair_out
        self._role_change = role_change
        self._announcements = announcements

    def offered(self, msg: SnapshotOffer, now: float) -> RosterState | None:
        """A moderator's snapshot offer: its roster once installed, or None if refused."""
        snap = msg.snapshot
        refusal = catch_up.snapshot_refusal(snap, self._chain)
        if refusal is not None:
            self._outbox.alert(*refusal)
            return None
        self._take(snap.state, snap.epoch, snap.head, msg.key, now)
        return snap.state

    def welcomed(self, welcome: Welcome, slot: int | None, now: float) -> RosterState:
        """A verified welcome admits us (spec §13.5): our roster, as a member."""
        snap = welcome.snapshot
        roster = snap.state
        self._take(roster, snap.epoch, snap.head, welcome.epoch_key, now)
        for mid, at in welcome.stage_slots(self._me):
            self._slots.set(mid, at)
        self._knocking.stop()
        for mid in roster.moderators():
            self._pair_out.channel(roster, mid)
        self._outbox.events.append(Admitted(snap.epoch))
        member = SessionState.MEMBER
        self._role_change.changed(roster.members[self._me].role, roster, member, slot, now)
        assert slot is not None
        self._announcements.ours(member, slot, roster)
        return roster

    def _take(self, roster: RosterState, epoch: int, head: bytes, key: bytes, now: float) -> None:
        self._admissions.known.update(roster.members)
        self._fresh.cancel()
        self._install.advance(epoch, head, None, now)
        self._install.install(epoch, head, key)
