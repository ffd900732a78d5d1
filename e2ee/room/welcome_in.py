"""A joiner's sealed inbox: chunked welcomes reassembled, verdicts checked (spec §13.1, §13.5).

A welcome too large for one payload comes in SEALED_CHUNK pieces whose
header is in clear, so reassembly is bounded and hostile-proof
(:class:`~e2ee.room.chunks.ChunkAssembler`); pieces reaching a session that
is not joining are counted (``unexpected_chunk``) and dropped.  The whole is
opened with our session key.  A welcome or a denial counts only if it
verifies back to the invite's founder (:class:`~e2ee.room.joiner.Joiner`);
a welcome's moderator proofs then replace the ones we hold (spec §13.5).
One that does not verify is counted (``rejected_verdict``), its error
raised, and the attempt goes on.
"""

from __future__ import annotations

from collections import Counter

from e2ee.errors import HushroomError
from e2ee.identity import SessionKey
from e2ee.room import seal
from e2ee.room.authority import Authority
from e2ee.room.chunks import ChunkAssembler
from e2ee.room.events import Denied
from e2ee.room.joiner import Joiner, Welcome
from e2ee.room.state import SessionState


class WelcomeIn:
    """Welcome pieces to a whole, verdicts to a :class:`Welcome` or a :class:`Denied`."""

    __slots__ = ("_authority", "_chunks", "_counters", "_joiner", "_room_id", "_session_key")

    def __init__(
        self,
        joiner: Joiner,
        authority: Authority,
        chunks: ChunkAssembler,
        session_key: SessionKey,
        room_id: bytes,
        counters: Counter[str],
    ) -> None:
        self._joiner = joiner
        self._authority = authority
        self._chunks = chunks
        self._session_key = session_key
        self._room_id = room_id
        self._counters = counters

    def chunk(self, payload: bytes, state: SessionState, now: float) -> bytes | None:
        """A piece of a chunked welcome: the opened SEALED payload once it is whole (§13.1)."""
        if state is not SessionState.JOINING:
            self._counters["unexpected_chunk"] += 1
            return None
        whole = self._chunks.add(payload, now)
        if whole is None:
            return None
        return seal.open_sealed(self._session_key, self._room_id, whole)

    def verdict(self, payload: bytes) -> Welcome | Denied:
        """An opened SEALED payload to our session, verified back to the founder (§13.5)."""
        try:
            verdict = self._joiner.verdict(payload)
            if isinstance(verdict, Welcome):
                moderators = set(verdict.snapshot.state.moderators())
                self._authority.install(verdict.authority, moderators)
        except HushroomError:
            self._counters["rejected_verdict"] += 1
            raise
        return verdict
