"""Comparing heads with the other members: our beacons out, their claims in (spec §16.2–§16.4).

Every ``head_beacon`` seconds a member sends its head beacon
(:func:`e2ee.room.beacons.seal_beacon`): a stage member broadcasts it, a
listener sends it to each moderator whose slot it knows (listeners beacon
to moderators only, so a listener hears no beacons).  Each head a member
claims, in a beacon or a control message, is checked against our chain
(:meth:`e2ee.room.chain.Chain.check`): another head at an epoch we hold is a
split view (an alert); a moderator's claim of our current head confirms it
(we are not isolated, spec §15.5); a member behind us on our chain is caught
up by a moderator (:class:`e2ee.room.sync_replies.SyncReplies`).

:class:`Heads` keeps no state of its own: it reads the chain and keys it is
given, and tells the quiet watch when a head is confirmed.
"""

from __future__ import annotations

from collections.abc import Callable

from e2ee.envelope import EnvelopeType
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.identity import IdentityKey
from e2ee.room import beacons
from e2ee.room.chain import Chain, HeadCheck
from e2ee.room.epochs import EpochKeys
from e2ee.room.liveness import QuietWatch
from e2ee.room.outbox import Outbox
from e2ee.room.roster import Role, RosterState
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState
from e2ee.room.sync_replies import SyncReplies

Rng = Callable[[int], bytes]


def expects_news(roster: RosterState, me: bytes) -> bool:
    """Whether some member would send us beacons: another stage member, or any
    member when we moderate (listeners beacon to moderators, spec §16.2)."""
    others = [m for m in roster.members if m != me]
    return bool(others) and (
        roster.is_moderator(me)
        or any(roster.role_of(m) in (Role.SPEAKER, Role.MODERATOR) for m in others)
    )


class Heads:
    """Our head beacons and the head claims of others, against our chain (spec §16.2)."""

    __slots__ = (
        "_chain",
        "_identity",
        "_keys",
        "_outbox",
        "_quiet",
        "_rng",
        "_room_id",
        "_slots",
        "_sync_replies",
    )

    def __init__(
        self,
        identity: IdentityKey,
        room_id: bytes,
        rng: Rng,
        outbox: Outbox,
        chain: Chain,
        keys: EpochKeys,
        slots: Slots,
        quiet: QuietWatch,
        sync_replies: SyncReplies,
    ) -> None:
        self._identity = identity
        self._room_id = room_id
        self._rng = rng
        self._outbox = outbox
        self._chain = chain
        self._keys = keys
        self._slots = slots
        self._quiet = quiet
        self._sync_replies = sync_replies

    def beacon(
        self,
        state: SessionState,
        slot: int | None,
        roster: RosterState | None,
        admission_key: bytes,
    ) -> bytes | None:
        """Our head beacon payload, if we are a member with a slot (spec §16.2)."""
        if state is not SessionState.MEMBER or slot is None or roster is None:
            return None
        return beacons.seal_beacon(
            self._identity, self._room_id, admission_key, self._chain, self._keys, self._rng
        )

    def send_beacon(
        self,
        state: SessionState,
        slot: int | None,
        roster: RosterState | None,
        admission_key: bytes,
    ) -> None:
        """Head beacon (spec §16.2): stage broadcasts it, listeners send it to moderators."""
        payload = self.beacon(state, slot, roster, admission_key)
        if payload is None or roster is None:
            return
        role = roster.role_of(self._identity.public)
        if role is not None and role.on_stage:
            self._outbox.send(EnvelopeType.CONTROL, 0, payload)
            return
        for mid in roster.moderators():
            to = self._slots.get(mid)
            if to is not None:
                self._outbox.unicast(to, payload)

    def check(
        self,
        author: bytes,
        epoch: int,
        head: bytes,
        roster: RosterState | None,
        now: float,
        confirms: bool = True,
    ) -> None:
        """A member's (epoch, head) against our chain (spec §16.2, §16.3)."""
        moderator = roster is not None and roster.is_moderator(author)
        check = self._chain.check(author, epoch, head, moderator, now)
        if check is HeadCheck.SPLIT:
            self._outbox.alert("split_view", f"a member holds a different head at epoch {epoch}")
        elif check is HeadCheck.CONFIRMS and confirms:
            self._quiet.heard(now)  # a member confirms our current head

    def received(
        self, body: bytes, state: SessionState, roster: RosterState | None, now: float
    ) -> None:
        """A member's head beacon, checked against our chain (spec §16.2, §16.4)."""
        if state is not SessionState.MEMBER or roster is None:
            return
        claims = beacons.read_beacon(body, self._room_id, roster.members, self._keys, self._chain)
        if isinstance(claims, beacons.ForeignKey):
            # a member on our head holds another key: ours may be wrong (§16.2)
            detail = f"a member holds another key for epoch {claims.epoch}"
            self._outbox.alert("key_mismatch", detail)
            raise RemoteProtocolError("beacon without the epoch key", ErrorCode.UNAUTHORIZED)
        if claims.lagging is not None and roster.is_moderator(self._identity.public):
            self._sync_replies.behind(claims.author, claims.lagging, now, roster)
        for epoch, head, confirms in claims.checks:
            self.check(claims.author, epoch, head, roster, now, confirms)
