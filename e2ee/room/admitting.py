"""A moderator's side of admission: knocks, challenges, requests, verdicts (spec §13.3–§13.5).

A KNOCK (unauthenticated, rate-limited per slot and per room before it is
opened, spec §16.7) is answered with an OFFER: a fresh challenge for that
slot (:class:`Gate`) and the moderator's authority.  A JOIN_REQUEST must
answer an outstanding challenge before its signature is checked (a replay
costs no signature check), and is then decided by the roster: banned ->
denied; the same session admitted already -> welcomed again; another session
of a member -> re-admitted; known or open policy -> admitted by the chair;
else a pending knock (at most MAX_PENDING_KNOCKS) that a moderator approves
or denies.  Verdicts are sealed to the joiner's session key; a welcome too
large for one payload goes in chunks (spec §13.1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.identity import IdentityKey, SessionCertificate, SessionKey
from e2ee.room import admission, seal
from e2ee.room.admission_rate import AdmissionRate
from e2ee.room.authority import Proof
from e2ee.room.events import JoinRequested
from e2ee.room.gate import Gate
from e2ee.room.knocks import PendingKnocks
from e2ee.room.roster import Policy, RosterState


@dataclass(frozen=True, slots=True)
class Deny:
    """Send ``slot`` a denial sealed to ``session_key``."""

    slot: int
    session_key: bytes


@dataclass(frozen=True, slots=True)
class Rewelcome:
    """The same session was admitted already but missed its welcome: send it again."""

    slot: int
    member: bytes
    session_key: bytes


@dataclass(frozen=True, slots=True)
class Readmit:
    """A member joins with a new session: the chair removes the old one and adds this one."""

    slot: int
    request: admission.JoinRequest


@dataclass(frozen=True, slots=True)
class Admit:
    """Admitted without asking (known member, or open policy): the chair adds it."""

    slot: int
    request: admission.JoinRequest


Decision = Deny | Rewelcome | Readmit | Admit | JoinRequested | None


class Admissions:
    """Challenges out, pending knocks, members known to this room (spec §13.3, §13.4)."""

    def __init__(
        self,
        identity: IdentityKey,
        session_key: SessionKey,
        cert: SessionCertificate,
        room_id: bytes,
        rng: Callable[[int], bytes],
        counters: Counter[str],
        now: float,
    ) -> None:
        self._identity = identity
        self._session_key = session_key
        self._cert = cert
        self._room_id = room_id
        self._rng = rng
        self._counters = counters
        self._rate = AdmissionRate(now)
        self.gate = Gate(rng)
        self.requests: PendingKnocks[tuple[int, admission.JoinRequest]] = PendingKnocks()
        self.known: set[bytes] = set()  # members this room has admitted: re-admitted at once

    def new_room_secret(self) -> None:
        """The room secret changed: challenges given under the old one are void (spec §13.7)."""
        self.gate = Gate(self._rng)

    def limited(self, src: int, now: float) -> bool:
        """Whether an admission payload from ``src`` is over the rate limits (spec §16.7)."""
        if self._rate.allow(src, now):
            return False
        self._counters["join_request_limited"] += 1
        return True

    def offer(self, slot: int, now: float, proof: Proof | None) -> bytes | None:
        """The OFFER that answers ``slot``'s KNOCK: a challenge and our authority (§13.3)."""
        if proof is None:
            self._counters["offer_without_authority"] += 1
            return None
        return admission.encode_offer(self.gate.challenge_for(slot, now), self._cert, proof)

    def request(
        self, src: int, sealed: bytes, now: float, roster: RosterState, me: bytes
    ) -> Decision:
        """A JOIN_REQUEST answering our challenge to ``src`` (spec §13.4)."""
        kind, fields = admission.decode_sealed(
            seal.open_sealed(self._session_key, self._room_id, sealed)
        )
        if kind is not admission.SealedType.JOIN_REQUEST:
            raise RemoteProtocolError("admission request", ErrorCode.MALFORMED)
        if not self.gate.is_outstanding(src, admission.request_challenge(fields), now):
            self._counters["stale_join_request"] += 1  # a replay: dropped before any signature
            return None
        req = admission.verify_join_request(fields, self._room_id, me)
        self.gate.spend(src)
        mid = req.member_id
        if mid in roster.banned:
            return Deny(src, req.session_key)
        current = roster.members.get(mid)
        if current is not None:
            if current.session_key == req.session_key:
                return Rewelcome(src, mid, req.session_key)
            return Readmit(src, req)
        auto = mid in self.known and mid not in roster.kicked
        if roster.policy is Policy.OPEN and mid not in roster.kicked:
            auto = True
        if auto:
            return Admit(src, req)
        fresh = mid not in self.requests
        self.requests[mid] = (src, req)
        return JoinRequested(mid, req.name) if fresh else None

    def welcome(
        self,
        session_key: bytes,
        snapshot: bytes,
        epoch_key: bytes,
        stage: list[Value],
        admission_key: bytes,
    ) -> list[bytes]:
        """A welcome sealed to ``session_key``, in chunks if it needs them (spec §13.1, §13.5).

        Chunks are sealed again under the admission key, as every admission payload is.
        """
        pt = admission.encode_welcome(
            self._identity, self._room_id, session_key, snapshot, epoch_key, stage
        )
        sealed = seal.seal_to(session_key, self._room_id, pt, self._rng)
        if len(sealed) <= seal.CHUNK_DATA:
            return [sealed]
        return [
            seal.seal_admission(
                admission_key, self._room_id, piece, self._rng, seal.Kind.SEALED_CHUNK
            )
            for piece in seal.split_chunks(sealed, self._rng(8))
        ]

    def denial(self, session_key: bytes, proof: Proof) -> bytes:
        """A denial sealed to ``session_key`` that carries our proof (spec §13.5)."""
        pt = admission.encode_denial(self._identity, self._room_id, session_key, proof)
        return seal.seal_to(session_key, self._room_id, pt, self._rng)
