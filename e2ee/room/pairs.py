"""Pair channels with moderators and what they carry (spec §15.2, §15.3, §16.4).

A member holds one channel per peer session (``identity || session key``):
its key depends only on the two session keys, so it is set up once, kept with
its counters for as long as this session lives (even after the peer leaves
the roster) and found again if that same session is ever admitted again.
Channels exist only with moderators, or, for a moderator, with every member,
so the table is bounded by the sessions the roster has held.

Messages on a channel are ``[type, ...]`` (spec §15.2, §16.4)::

    [REKEY, epoch, head, fresh]      a re-key commit's fresh secret
    [SYNC, [commit, ...], key]       commits after the receiver's epoch, then K_e
    [SNAPSHOT, snapshot, key]        a signed snapshot of the current epoch, and K_e
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from e2ee import canonical
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.identity import SessionKey
from e2ee.room.commit import Snapshot, decode_snapshot
from e2ee.room.control import PairType
from e2ee.room.seal import PairChannel


class Pairs:
    """This session's pair channels, by peer session (spec §15.3)."""

    __slots__ = ("_by_peer", "_me", "_room_id", "_session_key")

    def __init__(self, session_key: SessionKey, me: bytes, room_id: bytes) -> None:
        self._session_key = session_key
        self._me = me
        self._room_id = room_id
        self._by_peer: dict[bytes, PairChannel] = {}

    def channel(self, member: bytes, session_key: bytes) -> tuple[PairChannel, bool]:
        """The one channel with ``member``'s session ``session_key``; whether it is new."""
        peer = member + session_key
        ch = self._by_peer.get(peer)
        if ch is not None:
            return ch, False
        ch = PairChannel(self._session_key, self._me, member, session_key, self._room_id)
        self._by_peer[peer] = ch
        return ch, True

    def is_current(self, ch: PairChannel, session_key: bytes | None) -> bool:
        """Whether ``ch`` is the channel with its peer's current ``session_key``."""
        return session_key is not None and self._by_peer.get(ch.peer_id + session_key) is ch


@dataclass(frozen=True, slots=True)
class Rekey:
    """A re-key commit's fresh secret (spec §15.2)."""

    epoch: int
    head: bytes
    fresh: bytes


@dataclass(frozen=True, slots=True)
class Sync:
    """A moderator's commit log since our epoch, and the key of its last epoch (spec §16.4)."""

    commits: list[Value]
    key: bytes


@dataclass(frozen=True, slots=True)
class SnapshotOffer:
    """A moderator's signed snapshot of its current epoch, and that epoch's key (spec §16.4)."""

    snapshot: Snapshot
    key: bytes


_REKEY_FIELDS = (int, int, bytes, bytes)
_MAX_EPOCH = 2**32 - 1


def parse_pair_message(plaintext: bytes, room_id: bytes) -> Rekey | Sync | SnapshotOffer:
    """Decode an opened pairwise message (spec §15.2, §16.4); a snapshot's signature is checked."""
    rekey = canonical.decode_fields(plaintext, _REKEY_FIELDS)  # a re-key's, tested at once
    if rekey is not None:
        ptype, epoch, head, fresh = cast("tuple[int, int, bytes, bytes]", rekey)
        if ptype == PairType.REKEY and 0 <= epoch <= _MAX_EPOCH and len(head) == len(fresh) == 32:
            return Rekey(epoch, head, fresh)
    f = canonical.decode(plaintext)
    if not isinstance(f, list) or not f:
        raise RemoteProtocolError("pairwise message", ErrorCode.MALFORMED)
    ptype = canonical.expect_int(f[0], "pair type", 1, 3)
    if ptype == PairType.REKEY and len(f) == 4:
        epoch = canonical.expect_int(f[1], "epoch", 0, _MAX_EPOCH)
        head = canonical.expect_bytes(f[2], "head", 32)
        return Rekey(epoch, head, canonical.expect_bytes(f[3], "fresh", 32))
    if ptype == PairType.SYNC and len(f) == 3:
        commits = f[1]
        if not isinstance(commits, list):
            raise RemoteProtocolError("sync commits", ErrorCode.MALFORMED)
        return Sync(commits, canonical.expect_bytes(f[2], "epoch key", 32))
    if ptype == PairType.SNAPSHOT and len(f) == 3:
        snap = decode_snapshot(canonical.expect_bytes(f[1], "snapshot", max_len=1 << 24), room_id)
        return SnapshotOffer(snap, canonical.expect_bytes(f[2], "key", 32))
    raise RemoteProtocolError("pairwise message", ErrorCode.MALFORMED)
