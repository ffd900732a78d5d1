"""Roster commits and snapshots: encoding, signing, verification (spec §12.3–§12.6).

A commit moves the roster from epoch ``e-1`` to ``e``.  Its body is the
canonical array::

    [2, room_id, epoch, parent_head, signer, [op, ...], rekey, key_confirm]

where ``key_confirm = labelled_hash("hushroom v1 room key confirmation",
K_{e-1} || fresh_e)`` binds the epoch key the committer holds and the fresh
secret it hands out (spec §12.3, §15.2).

and it travels as ``[body_bytes, signature]`` where the signature is the
signer's Ed25519 signature with label ``"hushroom v1 sig room commit"``.
The head of epoch ``e`` is ``labelled_hash("hushroom v1 room commit head",
body_bytes)``; because the body contains the parent head, heads form a hash
chain.  A commit's size depends on its ops only, never on the room's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import msgpack

from e2ee import canonical, identity, kdf
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.room import labels
from e2ee.room.roster import (
    ID_LEN,
    MAX_OPS_PER_COMMIT,
    Op,
    OpCode,
    RosterState,
    parse_op,
)

COMMIT_VERSION = 2
CONFIRM_LEN = 32
SNAPSHOT_VERSION = 1
HEAD_LEN = 32
GENESIS_PARENT = bytes(HEAD_LEN)
MAX_COMMIT_BYTES = 32_768
MAX_EPOCH = 2**32 - 1
_PACKER = msgpack.Packer(use_bin_type=True)


@dataclass(frozen=True, slots=True)
class Commit:
    """A verified (or freshly signed) roster commit (spec §12.3)."""

    room_id: bytes
    epoch: int
    parent: bytes
    signer: bytes
    ops: tuple[Op, ...]
    rekey: bool
    key_confirm: bytes
    body: bytes
    signature: bytes
    #: the chain head this commit creates (spec §12.4), hashed once here
    head: bytes = field(init=False)
    #: the wire form ``canonical([body_bytes, signature])``: the bytes a
    #: decoded commit came in, else packed once here
    wire: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "head", commit_head(self.body))
        if not self.wire:
            # Two byte strings: msgpack's encoding is the canonical one by
            # construction, so this skips :func:`e2ee.canonical.encode`'s subset walk.
            object.__setattr__(self, "wire", _PACKER.pack([self.body, self.signature]))

    def encode(self) -> bytes:
        """Wire form ``canonical([body_bytes, signature])`` (spec §12.3).

        Every member logs each commit it applies and a promotion's proof
        carries it (spec §13.2): it is packed once, when the commit is built.
        """
        return self.wire

    @property
    def removes(self) -> bool:
        """True if an op removes a member (such a commit MUST set ``rekey``, spec §15.2)."""
        return any(op[0] == OpCode.REMOVE for op in self.ops)


def commit_head(body: bytes) -> bytes:
    """``labelled_hash("hushroom v1 room commit head", body)`` (spec §12.4)."""
    return kdf.labelled_hash(labels.COMMIT_HEAD, body)


def key_confirmation(previous: bytes, fresh: bytes) -> bytes:
    """``labelled_hash("hushroom v1 room key confirmation", K_{e-1} || fresh_e)`` (spec §12.3).

    ``previous`` is empty for the genesis commit, ``fresh`` for a commit that
    does not re-key.  Both inputs are secret and ``fresh`` is 32 random bytes,
    so the tag reveals neither; it commits the committer to both.
    """
    return kdf.labelled_hash(labels.KEY_CONFIRM, previous + fresh)


def sign_commit(
    signer: identity.IdentityKey,
    room_id: bytes,
    epoch: int,
    parent: bytes,
    ops: list[Op],
    rekey: bool,
    *,
    key_confirm: bytes,
) -> Commit:
    """Build and sign a commit (spec §12.3); ``key_confirm`` from :func:`key_confirmation`."""
    body = canonical.encode(
        [
            COMMIT_VERSION,
            room_id,
            epoch,
            parent,
            signer.public,
            [list(op) for op in ops],
            rekey,
            key_confirm,
        ]
    )
    signature = signer.sign(labels.SIG_COMMIT, body)
    return Commit(
        room_id, epoch, parent, signer.public, tuple(ops), rekey, key_confirm, body, signature
    )


_OUTER = (bytes, bytes)
_BODY = (int, bytes, int, bytes, bytes, list, bool, bytes)
_Body = tuple[int, bytes, int, bytes, bytes, list[Value], bool, bytes]


def decode_commit(data: bytes, room_id: bytes) -> Commit:
    """Parse a commit and verify its signature against its ``signer`` field (spec §12.3 steps 1–2).

    Raises RemoteProtocolError for a malformed commit or one for another room,
    DecryptionFailed for a bad signature.  Whether the signer may commit, and
    whether the parent is our head, is the caller's check (steps 3–5).
    """
    if len(data) > MAX_COMMIT_BYTES:
        raise RemoteProtocolError("commit too large", ErrorCode.TOO_LARGE)
    commit = _well_formed(data, room_id) or _checked(data, room_id)
    identity.verify_signature(commit.signer, labels.SIG_COMMIT, commit.body, commit.signature)
    return commit


def _well_formed(data: bytes, room_id: bytes) -> Commit | None:
    """The commit in ``data`` if every check of :func:`_checked` passes, else None.

    The fast path (one decode of each array, each field tested once, see
    :func:`e2ee.canonical.decode_fields`); it accepts exactly what
    :func:`_checked` accepts, which names the error of anything else.
    """
    outer = canonical.decode_fields(data, _OUTER)
    if outer is None:
        return None
    body, signature = cast("tuple[bytes, bytes]", outer)
    fields = canonical.decode_fields(body, _BODY)
    if fields is None or len(signature) != 64:
        return None
    version, rid, epoch, parent, signer, raw_ops, rekey, key_confirm = cast(_Body, fields)
    if (
        version != COMMIT_VERSION
        or rid != room_id
        or not 0 <= epoch <= MAX_EPOCH
        or len(parent) != HEAD_LEN
        or len(signer) != ID_LEN
        or len(raw_ops) > MAX_OPS_PER_COMMIT
        or len(key_confirm) != CONFIRM_LEN
    ):
        return None
    try:
        ops = tuple(map(parse_op, raw_ops))
    except RemoteProtocolError:
        return None
    if not rekey and any(op[0] == OpCode.REMOVE for op in ops):
        return None
    wire = bytes(data)
    return Commit(rid, epoch, parent, signer, ops, rekey, key_confirm, body, signature, wire)


def _checked(data: bytes, room_id: bytes) -> Commit:
    """Spec §12.3 step 1, check by check: the commit in ``data``, or the error it deserves."""
    outer = canonical.decode_array(data, 2, "commit")
    body = canonical.expect_bytes(outer[0], "commit body")
    signature = canonical.expect_bytes(outer[1], "commit signature", 64)
    fields = canonical.decode_array(body, 8, "commit body")
    canonical.expect_version(fields[0], "commit", COMMIT_VERSION)
    rid = canonical.expect_bytes(fields[1], "room id", len(room_id))
    if rid != room_id:
        raise RemoteProtocolError("commit for another room", ErrorCode.UNAUTHORIZED)
    epoch = canonical.expect_int(fields[2], "epoch", 0, MAX_EPOCH)
    parent = canonical.expect_bytes(fields[3], "parent head", HEAD_LEN)
    signer = canonical.expect_bytes(fields[4], "signer", ID_LEN)
    raw_ops = fields[5]
    if not isinstance(raw_ops, list) or len(raw_ops) > MAX_OPS_PER_COMMIT:
        raise RemoteProtocolError("commit ops", ErrorCode.MALFORMED)
    ops = tuple([parse_op(op) for op in raw_ops])
    rekey = fields[6]
    if not isinstance(rekey, bool):
        raise RemoteProtocolError("commit rekey flag", ErrorCode.MALFORMED)
    key_confirm = canonical.expect_bytes(fields[7], "key confirmation", CONFIRM_LEN)
    wire = bytes(data)  # it decoded as the canonical [body, signature]: the wire form
    commit = Commit(rid, epoch, parent, signer, ops, rekey, key_confirm, body, signature, wire)
    if commit.removes and not rekey:
        raise RemoteProtocolError("a removal must re-key", ErrorCode.MALFORMED)
    return commit


# -- snapshots (spec §12.6) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A verified roster snapshot at ``epoch`` with chain head ``head`` (spec §12.6)."""

    room_id: bytes
    epoch: int
    head: bytes
    state: RosterState
    signer: bytes
    body: bytes
    authority: Value  # [[moderator_id, proof], ...], checked by e2ee.room.authority (§13.2)


def snapshot_body(room_id: bytes, epoch: int, head: bytes, state: RosterState) -> bytes:
    """``canonical([1, room_id, epoch, head, state_fields])`` (spec §12.6).

    Every value in a :class:`RosterState` was checked when it entered the
    roster (nil, ints, bytes, str and arrays only), so the canonical subset holds by
    construction and this packs with msgpack directly: the subset check of
    :func:`e2ee.canonical.encode` walks all 5 x N fields and would dominate
    a moderator's admission cost at 5,000 members.  tests/room asserts the two
    encodings agree.
    """
    fields = state.state_fields_without_members()
    pack = _PACKER.pack
    return b"".join(
        [
            _PACKER.pack_array_header(5),
            pack(SNAPSHOT_VERSION),
            pack(room_id),
            pack(epoch),
            pack(head),
            _PACKER.pack_array_header(8),
            pack(fields[0]),
            state.packed_members(),
            *(pack(f) for f in fields[1:]),
        ]
    )


def state_digest(body: bytes) -> bytes:
    """``labelled_hash("hushroom v1 room state digest", snapshot_body)`` (spec §16.2)."""
    return kdf.labelled_hash(labels.STATE_DIGEST, body)


def sign_snapshot(
    signer: identity.IdentityKey, room_id: bytes, body: bytes, authority: Value = None
) -> bytes:
    """Wire form ``canonical([body, signer, signature, authority])`` (spec §12.6).

    The signature covers ``room_id || state_digest(body)`` (the room id is
    also inside the body; it is repeated so the signed bytes name the room).
    ``authority`` is the moderators' promotion proofs (spec §13.2); they are
    signed commits already, so the snapshot signature does not cover them.
    """
    sig = signer.sign(labels.SIG_SNAPSHOT, room_id + state_digest(body))
    return canonical.encode([body, signer.public, sig, [] if authority is None else authority])


def decode_snapshot(data: bytes, room_id: bytes) -> Snapshot:
    """Parse and verify a snapshot (spec §12.6): signature, and the signer is a moderator in it."""
    outer = canonical.decode_array(data, 4, "snapshot")
    body = canonical.expect_bytes(outer[0], "snapshot body", max_len=1 << 24)
    signer = canonical.expect_bytes(outer[1], "snapshot signer", ID_LEN)
    signature = canonical.expect_bytes(outer[2], "snapshot signature", 64)
    identity.verify_signature(signer, labels.SIG_SNAPSHOT, room_id + state_digest(body), signature)
    fields = canonical.decode_array(body, 5, "snapshot body")
    canonical.expect_version(fields[0], "snapshot", SNAPSHOT_VERSION)
    rid = canonical.expect_bytes(fields[1], "room id", len(room_id))
    if rid != room_id:
        raise RemoteProtocolError("snapshot for another room", ErrorCode.UNAUTHORIZED)
    epoch = canonical.expect_int(fields[2], "epoch", 0, MAX_EPOCH)
    head = canonical.expect_bytes(fields[3], "head", HEAD_LEN)
    raw_state: Value = fields[4]
    if not isinstance(raw_state, list):
        raise RemoteProtocolError("snapshot state", ErrorCode.MALFORMED)
    state = RosterState.from_state_fields(raw_state)
    if not state.is_moderator(signer):
        raise RemoteProtocolError("snapshot signer is not a moderator", ErrorCode.UNAUTHORIZED)
    return Snapshot(rid, epoch, head, state, signer, body, outer[3])
