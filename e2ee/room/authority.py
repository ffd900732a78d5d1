"""Moderator authority rooted in the founder named in the invite (spec §13.2).

A *promotion proof* for an identity ``M`` is a list of ``n`` commits (wire
form, spec §12.3), ``0 <= n <= MAX_PROOF_COMMITS``:

* ``n = 0``: ``M`` is the founder (the invite's ``founder_identity``);
* otherwise ``c_1`` is signed by the founder, each ``c_{i+1}`` is signed by an
  identity that ``c_i`` promotes or names deputy, ``c_n`` promotes ``M``, and
  the commits' epochs strictly increase.  A commit *promotes* ``x`` if one of
  its ops is ``ROLE(x, 2)`` or ``ADD(x, _, _, 2)``; it *names* ``x`` deputy if
  its last ``DEPUTY`` op is ``DEPUTY(x)`` (spec §12.2).  A deputy's take-over
  commit ``ROLE(x, 2)`` signed by ``x`` promotes its signer like any other.

The deputy ``D`` keeps a *deputy proof*, the same chain except that ``c_n``
names ``D`` deputy (it applied that commit: a moderator names no member in
the commit that adds it, spec §12.2); its take-over extends it into ``D``'s
promotion proof, so ``D`` can prove its authority to joiners afterwards.

The commits are the room's own signed history, so a proof needs no new
signature and costs ``n`` Ed25519 verifications, whatever the room's size.  A
joiner, who has no roster yet, believes an offer, welcome or denial only from
an identity with a valid proof: someone who was never made a moderator through
a chain from the founder cannot produce one.

:class:`Authority` keeps each current moderator's proof as commits are applied,
so any moderator can present its own and a snapshot can carry them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from e2ee import canonical
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.room.commit import MAX_COMMIT_BYTES, Commit, decode_commit
from e2ee.room.roster import ID_LEN, OpCode, Role

MAX_PROOF_COMMITS = 16
MAX_AUTHORITY_ENTRIES = 32

Proof = tuple[bytes, ...]


def _unauthorized(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"authority: {what}", ErrorCode.UNAUTHORIZED)


def promoted_by(commit: Commit) -> set[bytes]:
    """Identities a commit makes moderator: ``ROLE(x, 2)`` or ``ADD(x, _, _, 2)`` (§13.2)."""
    out: set[bytes] = set()
    for op in commit.ops:
        if op[0] == OpCode.ROLE and op[2] == Role.MODERATOR:
            out.add(_id(op[1]))
        elif op[0] == OpCode.ADD and op[4] == Role.MODERATOR:
            out.add(_id(op[1]))
    return out


def named_deputy(commit: Commit) -> bytes | None:
    """The identity a commit's last ``DEPUTY`` op names (spec §12.2), or None."""
    named = None
    for op in commit.ops:
        if op[0] == OpCode.DEPUTY:
            named = _id(op[1])
    return named


def _id(value: Value) -> bytes:
    assert isinstance(value, bytes)
    return value


def verify_proof(founder: bytes, room_id: bytes, moderator: bytes, proof: Sequence[bytes]) -> None:
    """Raise unless ``proof`` chains from ``founder`` to ``moderator`` (spec §13.2).

    UNAUTHORIZED for a broken chain, DecryptionFailed for a bad commit
    signature, MALFORMED / TOO_LARGE for a bad encoding.
    """
    if len(proof) > MAX_PROOF_COMMITS:
        raise RemoteProtocolError("authority: proof too long", ErrorCode.TOO_LARGE)
    commits = [decode_commit(raw, room_id) for raw in proof]
    if not commits and moderator != founder:
        raise _unauthorized("empty proof for someone other than the founder")
    holder, last_epoch = founder, -1
    for i, commit in enumerate(commits):
        last = i + 1 == len(commits)
        target = moderator if last else commits[i + 1].signer
        if commit.signer != holder or commit.epoch <= last_epoch:
            raise _unauthorized("proof does not chain")
        named = not last and named_deputy(commit) == target
        if target not in promoted_by(commit) and not named:
            raise _unauthorized("proof link does not promote the next signer")
        holder, last_epoch = target, commit.epoch


def encode_proof(proof: Proof) -> list[Value]:
    """``[commit, ...]`` (spec §13.2)."""
    return list[Value](proof)


def parse_proof(value: Value) -> Proof:
    """Shape of ``[commit, ...]``; the chain is checked by :func:`verify_proof`."""
    if not isinstance(value, list) or len(value) > MAX_PROOF_COMMITS:
        raise RemoteProtocolError("authority: proof", ErrorCode.MALFORMED)
    return tuple(canonical.expect_bytes(c, "proof commit", max_len=MAX_COMMIT_BYTES) for c in value)


def parse_entries(value: Value) -> tuple[tuple[bytes, Proof], ...]:
    """Shape of ``[[moderator_id, proof], ...]`` as carried with a snapshot (spec §12.6)."""
    if not isinstance(value, list) or len(value) > MAX_AUTHORITY_ENTRIES:
        raise RemoteProtocolError("authority: entries", ErrorCode.MALFORMED)
    out: list[tuple[bytes, Proof]] = []
    for entry in value:
        if not isinstance(entry, list) or len(entry) != 2:
            raise RemoteProtocolError("authority: entry", ErrorCode.MALFORMED)
        out.append((canonical.expect_bytes(entry[0], "moderator", ID_LEN), parse_proof(entry[1])))
    if len({mid for mid, _ in out}) != len(out):
        raise RemoteProtocolError("authority: duplicate entry", ErrorCode.MALFORMED)
    return tuple(out)


class Authority:
    """The promotion proofs of the current moderators (spec §13.2).

    Fed every applied commit (:meth:`observe`) and the proofs a welcome's
    snapshot carries (:meth:`install`); besides, it keeps the deputy proof of
    the member last named deputy (spec §12.2, §13.2).
    """

    __slots__ = ("_deputy", "_founder", "_proofs", "_room_id")

    def __init__(self, founder: bytes, room_id: bytes) -> None:
        self._founder = founder
        self._room_id = room_id
        self._proofs: dict[bytes, Proof] = {}
        self._deputy: tuple[bytes, Proof] | None = None

    def proof_of(self, member: bytes) -> Proof | None:
        """``member``'s proof: empty for the founder, None if unknown."""
        if member == self._founder:
            return ()
        return self._proofs.get(member)

    def observe(self, commit: Commit) -> None:
        """Update proofs for an applied commit: promotions extend the signer's (§13.2)."""
        base = self.proof_of(commit.signer)
        if base is None and self._deputy is not None and self._deputy[0] == commit.signer:
            base = self._deputy[1]  # a deputy's take-over (spec §12.2)
        promoted = promoted_by(commit)
        for op in commit.ops:
            code = op[0]
            if code == OpCode.REMOVE or (code == OpCode.ROLE and op[2] != Role.MODERATOR):
                self._proofs.pop(_id(op[1]), None)
        if base is None or len(base) >= MAX_PROOF_COMMITS:
            return  # the new moderators can act, but cannot prove it to a joiner
        raw = commit.encode()
        for mid in promoted:
            if mid != self._founder:
                self._proofs[mid] = (*base, raw)
        named = named_deputy(commit)
        if named is not None:
            self._deputy = (named, (*base, raw))

    def install(self, entries: Iterable[tuple[bytes, Proof]], moderators: set[bytes]) -> None:
        """Replace the proofs with verified ``entries`` of current ``moderators`` (spec §13.5).

        Raises (and keeps the old proofs) if any entry does not verify.
        """
        proofs: dict[bytes, Proof] = {}
        for mid, proof in entries:
            if mid not in moderators:
                raise _unauthorized("proof for a non-moderator")
            verify_proof(self._founder, self._room_id, mid, proof)
            if mid != self._founder:
                proofs[mid] = proof
        self._proofs = proofs  # all or nothing

    def entries(self, moderators: Iterable[bytes]) -> list[Value]:
        """``[[moderator_id, proof], ...]`` for the given moderators with a known proof."""
        out: list[Value] = []
        for mid in moderators:
            proof = self.proof_of(mid)
            if proof is not None and len(out) < MAX_AUTHORITY_ENTRIES:
                out.append([mid, encode_proof(proof)])
        return out
