"""The joining side of admission: knock, answer offers, check the verdict (spec §13.3, §13.5).

A joiner has no roster, so it believes nothing but the invite: every offer,
welcome and denial must come from an identity whose promotion proof chains
back to the invite's founder (:mod:`e2ee.room.authority`).  Anything else is
dropped and the attempt goes on: a forged welcome does not end it in a fake
room, a forged denial does not end it at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from e2ee import canonical
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.identity import IdentityKey, SessionCertificate, SessionKey
from e2ee.room import admission, seal
from e2ee.room.authority import Proof, parse_entries, parse_proof, verify_proof
from e2ee.room.commit import Snapshot, decode_snapshot
from e2ee.room.events import Denied

MAX_ANSWERS_PER_KNOCK = 8
MAX_TRUSTED = 16


@dataclass(frozen=True, slots=True)
class Welcome:
    """A welcome that verified back to the founder (spec §13.5)."""

    moderator: bytes
    snapshot: Snapshot
    authority: tuple[tuple[bytes, Proof], ...]
    epoch_key: bytes
    stage: list[Value]

    def stage_slots(self, me: bytes) -> Iterator[tuple[bytes, int]]:
        """The well-formed ``[member_id, slot]`` stage entries of other members (§13.5)."""
        for entry in self.stage:
            if isinstance(entry, list) and len(entry) == 2:
                mid, slot = entry
                if isinstance(mid, bytes) and isinstance(slot, int) and mid != me:
                    yield mid, slot


class Joiner:
    """What a joining session knows and checks (spec §13.3, §13.5)."""

    __slots__ = (
        "_answered",
        "_cert",
        "_founder",
        "_identity",
        "_name",
        "_rng",
        "_room_id",
        "_session",
        "_trusted",
    )

    def __init__(
        self,
        identity: IdentityKey,
        session: SessionKey,
        cert: SessionCertificate,
        name: str,
        room_id: bytes,
        founder: bytes,
        rng: Callable[[int], bytes],
    ) -> None:
        self._identity = identity
        self._session = session
        self._cert = cert
        self._name = name
        self._room_id = room_id
        self._founder = founder
        self._rng = rng
        self._answered: set[bytes] = set()
        self._trusted: set[tuple[bytes, Proof]] = set()

    def knock(self) -> bytes:
        """A KNOCK plaintext (spec §13.3); a new knock round answers offers afresh."""
        self._answered.clear()
        return admission.encode_knock()

    def _check_authority(self, moderator: bytes, proof: Proof) -> None:
        if (moderator, proof) in self._trusted:
            return
        verify_proof(self._founder, self._room_id, moderator, proof)
        if len(self._trusted) >= MAX_TRUSTED:
            self._trusted.clear()
        self._trusted.add((moderator, proof))

    def offered_by_self(self, fields: list[Value]) -> bool:
        """Whether an OFFER comes from a moderator with our own identity, proven back
        to the founder (another client of ours moderates the room, spec §13.4)."""
        offer = admission.parse_offer(fields)
        if offer.moderator != self._identity.public:
            return False
        self._check_authority(offer.moderator, offer.proof)
        return True

    def answer(self, fields: list[Value]) -> bytes | None:
        """REQUEST plaintext answering an OFFER, or None for an offer already answered.

        Raises (and answers nothing) unless the offering moderator's proof
        chains to the founder: only a moderator learns who is knocking.
        At most :data:`MAX_ANSWERS_PER_KNOCK` offers are answered per knock.
        """
        offer = admission.parse_offer(fields)
        if offer.challenge in self._answered or len(self._answered) >= MAX_ANSWERS_PER_KNOCK:
            return None
        self._check_authority(offer.moderator, offer.proof)
        self._answered.add(offer.challenge)
        pt = admission.encode_join_request(
            self._identity, self._cert, self._name, self._room_id, offer.moderator, offer.challenge
        )
        return admission.encode_request(
            seal.seal_to(offer.moderator_session, self._room_id, pt, self._rng)
        )

    def open_verdict(self, pt: bytes) -> tuple[admission.SealedType, bytes, list[Value]]:
        """``(WELCOME | DENIAL, moderator, body)`` of an opened SEALED payload to this session."""
        kind, fields = admission.decode_sealed(pt)
        if kind not in (admission.SealedType.WELCOME, admission.SealedType.DENIAL):
            raise RemoteProtocolError("not a welcome or a denial", ErrorCode.MALFORMED)
        moderator, body = admission.decode_verdict(kind, fields, self._room_id)
        if body[0] != self._session.public:
            raise RemoteProtocolError("verdict for another session", ErrorCode.MALFORMED)
        return kind, moderator, body

    def verdict(self, pt: bytes) -> Welcome | Denied:
        """An opened SEALED payload to this session, verified back to the founder (§13.5)."""
        kind, moderator, body = self.open_verdict(pt)
        if kind is admission.SealedType.DENIAL:
            self.check_denial(moderator, body)
            return Denied()
        return self.check_welcome(moderator, body)

    def check_denial(self, moderator: bytes, body: list[Value]) -> None:
        """A denial counts only from a moderator whose proof chains to the founder (§13.5)."""
        self._check_authority(moderator, parse_proof(body[1]))

    def check_welcome(self, moderator: bytes, body: list[Value]) -> Welcome:
        """Verify a welcome body (spec §13.5); raises, changes nothing, if it does not hold."""
        snap = decode_snapshot(
            canonical.expect_bytes(body[1], "snapshot", max_len=admission.MAX_WELCOME_BODY),
            self._room_id,
        )
        me = snap.state.members.get(self._identity.public)
        if snap.signer != moderator or me is None:
            raise RemoteProtocolError("welcome does not admit us", ErrorCode.UNAUTHORIZED)
        if me.session_key != self._session.public:
            raise RemoteProtocolError("welcome for another session", ErrorCode.UNAUTHORIZED)
        entries = parse_entries(snap.authority)
        proof = dict(entries).get(moderator)
        if proof is None:
            raise RemoteProtocolError("welcome without authority", ErrorCode.UNAUTHORIZED)
        self._check_authority(moderator, proof)
        key = canonical.expect_bytes(body[2], "epoch key", 32)
        stage = body[3]
        if not isinstance(stage, list):
            raise RemoteProtocolError("welcome stage", ErrorCode.MALFORMED)
        return Welcome(moderator, snap, entries, key, stage)
