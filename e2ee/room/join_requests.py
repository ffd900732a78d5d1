"""The moderators' side of admission, from payload to verdict on the wire (spec §13.3–§13.5).

An admission payload (kind 0x01) is a KNOCK, an OFFER or a REQUEST.  A
moderator drops one over the rate limits unopened (spec §16.7), answers a
KNOCK with an OFFER, and passes a REQUEST to
:meth:`e2ee.room.admitting.Admissions.request`, whose decision it carries
out: a denial or a repeated welcome goes to the joiner's slot at once, an
admission (or re-admission of a member's new session) is queued for the
chair's next commit, to be welcomed once it applies (:meth:`JoinRequests.welcome`),
and a knock under the knock policy becomes a :class:`JoinRequested` event.
A joiner answers an OFFER with its REQUEST (:class:`e2ee.room.joiner.Joiner`).

:class:`JoinRequests` keeps no state of its own: it reads and updates the
collaborators it is built with and sends through the session's outbox.
"""

from __future__ import annotations

from collections.abc import Callable

from e2ee.room import admission, seal
from e2ee.room.admitting import Admissions, Admit, Deny, Readmit, Rewelcome
from e2ee.room.authority import Authority
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair, is_chair
from e2ee.room.epochs import EpochKeys
from e2ee.room.events import IdentityInRoom, JoinRequested
from e2ee.room.joiner import Joiner
from e2ee.room.outbox import Outbox
from e2ee.room.pair_out import PairOut
from e2ee.room.roster import RemoveReason, Role, RosterState, op_add, op_remove
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState

Rng = Callable[[int], bytes]


class JoinRequests:
    """Knocks, requests, welcomes and denials as one member handles them (spec §13.3–§13.5)."""

    __slots__ = (
        "_admissions",
        "_authority",
        "_chain",
        "_chair",
        "_keys",
        "_me",
        "_outbox",
        "_pair_out",
        "_rng",
        "_room_id",
        "_slots",
    )

    def __init__(
        self,
        me: bytes,
        room_id: bytes,
        rng: Rng,
        outbox: Outbox,
        admissions: Admissions,
        chair: Chair,
        authority: Authority,
        chain: Chain,
        keys: EpochKeys,
        slots: Slots,
        pair_out: PairOut,
    ) -> None:
        self._me = me
        self._room_id = room_id
        self._rng = rng
        self._outbox = outbox
        self._admissions = admissions
        self._chair = chair
        self._authority = authority
        self._chain = chain
        self._keys = keys
        self._slots = slots
        self._pair_out = pair_out

    def received(
        self,
        src: int,
        pt: bytes,
        now: float,
        state: SessionState,
        roster: RosterState | None,
        joiner: Joiner,
        admission_key: bytes,
    ) -> None:
        """An admission payload (kind 0x01) from ``src``: KNOCK, OFFER or REQUEST (§13.3, §13.4)."""
        moderating = state is SessionState.MEMBER and _moderates(roster, self._me)
        if moderating and self._admissions.limited(src, now):
            return  # dropped, unopened (spec §16.7)
        if not state.active:
            return
        kind, fields = admission.decode_admission(pt)
        if kind is admission.AdmissionType.OFFER:
            if state is SessionState.JOINING and joiner.offered_by_self(fields):
                self._outbox.events.append(IdentityInRoom())  # unanswered: it would replace nobody
            elif state is SessionState.JOINING:
                answer = joiner.answer(fields)
                if answer is not None:
                    self._send_admission(src, answer, admission_key)
            return
        if not moderating:
            return
        assert roster is not None
        if kind is admission.AdmissionType.KNOCK:
            offer = self._admissions.offer(src, now, self._authority.proof_of(self._me))
            if offer is not None:
                self._send_admission(src, offer, admission_key)
        else:
            self.fresh_request(src, admission.request_sealed(fields), now, roster, admission_key)

    def fresh_request(
        self, src: int, sealed: bytes, now: float, roster: RosterState, admission_key: bytes
    ) -> None:
        """Moderator: a JOIN_REQUEST answering our challenge to ``src`` (spec §13.4)."""
        d = self._admissions.request(src, sealed, now, roster, self._me)
        chair = is_chair(roster, self._me, self._slots.__contains__, None)
        if isinstance(d, Deny):
            self.deny(d.slot, d.session_key)
        elif isinstance(d, Rewelcome):
            self.welcome(d.slot, d.member, d.session_key, roster, admission_key)
        elif isinstance(d, Readmit) and chair:
            req = d.request
            self._chair.expect_welcome(req.member_id, d.slot, req.session_key)
            self._chair.queue_op(op_remove(req.member_id, RemoveReason.LEFT))
            self._chair.queue_op(op_add(req.member_id, req.session_key, req.name, Role.LISTENER))
        elif isinstance(d, Admit) and chair:
            self.admit(d.slot, d.request)
        elif isinstance(d, JoinRequested):
            self._outbox.events.append(d)

    def admit(self, src: int, req: admission.JoinRequest) -> None:
        """Queue the ADD of ``req``'s member; welcome it at ``src`` once it applies (§13.4)."""
        self._chair.expect_welcome(req.member_id, src, req.session_key)
        self._chair.queue_op(op_add(req.member_id, req.session_key, req.name, Role.LISTENER))

    def welcome(
        self,
        slot: int,
        mid: bytes,
        session_key: bytes,
        roster: RosterState,
        admission_key: bytes,
    ) -> None:
        """Moderator -> joiner, after the ADD commit applied (spec §13.5).

        The welcome carries our signed snapshot, ``K_e`` and the stage's slots;
        the pair channel with the new member is set up now, not at re-key time.
        """
        key = self._keys.get(self._chain.epoch)
        if key is None or self._authority.proof_of(self._me) is None:
            return
        stage = self._slots.entries(roster.stage())
        snapshot = self._chair.signed_snapshot(
            roster, self._chain.epoch, self._chain.head, self._authority
        )
        for piece in self._admissions.welcome(session_key, snapshot, key, stage, admission_key):
            self._outbox.unicast(slot, piece)
        self._slots.set(mid, slot)
        self._pair_out.channel(roster, mid)

    def deny(self, slot: int, session_key: bytes) -> None:
        """Moderator -> joiner: a denial that carries our proof (spec §13.5)."""
        proof = self._authority.proof_of(self._me)
        if proof is not None:
            self._outbox.unicast(slot, self._admissions.denial(session_key, proof))

    def _send_admission(self, slot: int, pt: bytes, admission_key: bytes) -> None:
        payload = seal.seal_admission(admission_key, self._room_id, pt, self._rng)
        self._outbox.unicast(slot, payload)


def _moderates(roster: RosterState | None, me: bytes) -> bool:
    return roster is not None and roster.is_moderator(me)
