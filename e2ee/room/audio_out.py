"""Our audio frames out: stage members only, held while we may be isolated (spec §15.4–§15.6).

Only a speaker or a moderator sends audio (a ``LocalProtocolError``
otherwise).  A member that has heard no commit or confirmed head for the
quiet period, while some member would send it beacons, may be cut off from
a removal the relay hides (spec §15.5): its frames are held
(``audio_held_isolated``), not sent.  Otherwise each frame is protected
under our sender key of the current epoch (:meth:`e2ee.room.media.Media.send`,
with any speaker proofs due) and broadcast as MEDIA.
"""

from __future__ import annotations

from collections import Counter

from e2ee.envelope import EnvelopeType
from e2ee.errors import LocalProtocolError
from e2ee.room.chain import Chain
from e2ee.room.epochs import EpochKeys
from e2ee.room.fresh import FreshSecrets
from e2ee.room.heads import expects_news
from e2ee.room.liveness import QuietWatch
from e2ee.room.media import Media
from e2ee.room.outbox import Outbox
from e2ee.room.roster import RosterState


class AudioOut:
    """One Opus frame protected and broadcast, when we may (spec §15.4); owns no state."""

    __slots__ = ("_chain", "_counters", "_fresh", "_keys", "_me", "_media", "_outbox", "_quiet")

    def __init__(
        self,
        me: bytes,
        outbox: Outbox,
        counters: Counter[str],
        media: Media,
        keys: EpochKeys,
        chain: Chain,
        fresh: FreshSecrets,
        quiet: QuietWatch,
    ) -> None:
        self._me = me
        self._outbox = outbox
        self._counters = counters
        self._media = media
        self._keys = keys
        self._chain = chain
        self._fresh = fresh
        self._quiet = quiet

    def send(self, opus: bytes, now: float, roster: RosterState) -> None:
        """Protect and send ``opus`` at ``now`` (spec §11, §15.4, §15.6)."""
        role = roster.role_of(self._me)
        if role is None or not role.on_stage:
            raise LocalProtocolError("only speakers and moderators can send audio")
        if self._quiet.isolated(now) and expects_news(roster, self._me):
            self._counters["audio_held_isolated"] += 1  # spec §15.5: a removal may be hidden
            return
        others_on_stage = len(roster.stage()) > 1
        epoch, awaiting = self._chain.epoch, self._fresh.awaiting
        for payload in self._media.send(opus, now, self._keys, epoch, awaiting, others_on_stage):
            self._outbox.send(EnvelopeType.MEDIA, 0, payload)
