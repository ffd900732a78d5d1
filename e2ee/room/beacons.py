"""Head beacons: sealing ours, reading a member's (spec §16.2).

A beacon carries the author's newest :data:`BEACON_HEADS` heads, signed, and
a MAC under the key of the epoch it names.  It is sealed under the admission
key, not an epoch key: two members on different branches of a split hold
different epoch keys, so only a key that does not follow the chain lets them
compare heads at all.  The MAC proves the author holds the named epoch's key
to every member that holds it too; a member without that key sends a zero MAC.

These functions hold no state: :func:`read_beacon` returns what the beacon
claims as a :class:`BeaconClaims` (or a :class:`ForeignKey`), and the session
checks those claims against its chain.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Container
from dataclasses import dataclass

from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.identity import IdentityKey
from e2ee.room import seal
from e2ee.room.chain import Chain
from e2ee.room.control import BEACON_HEADS, decode_beacon, encode_beacon
from e2ee.room.epochs import EpochKeys


@dataclass(frozen=True, slots=True)
class BeaconClaims:
    """What a verified beacon asks us to check (spec §16.2, §16.4).

    ``checks`` are ``(epoch, head, confirms)`` claims for the chain, in order;
    ``lagging`` is the epoch the author is at when it is behind us on our own
    chain (a moderator catches it up), else None.
    """

    author: bytes
    checks: tuple[tuple[int, bytes, bool], ...]
    lagging: int | None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A beacon on our head whose MAC proves another key for ``epoch`` (spec §16.2)."""

    epoch: int


def seal_beacon(
    identity: IdentityKey,
    room_id: bytes,
    admission_key: bytes,
    chain: Chain,
    keys: EpochKeys,
    rng: Callable[[int], bytes],
) -> bytes:
    """Our head beacon (spec §16.2): the newest BEACON_HEADS heads, signed, MAC'd, sealed."""
    pt = encode_beacon(identity, room_id, chain.epoch, chain.newest_heads(BEACON_HEADS))
    key = keys.get(chain.epoch)
    mac = bytes(seal.BEACON_MAC_LEN) if key is None else seal.beacon_mac(key, room_id, pt)
    return seal.seal_admission(admission_key, room_id, pt + mac, rng, seal.Kind.BEACON)


def read_beacon(
    body: bytes, room_id: bytes, members: Container[bytes], keys: EpochKeys, chain: Chain
) -> BeaconClaims | ForeignKey:
    """Verify a beacon's signature and MAC; what it claims (spec §16.2).

    Raises UNAUTHORIZED for a non-member's beacon and for one that names our
    head without proving our key; a non-zero MAC that proves another key is a
    :class:`ForeignKey` (our key may be wrong), which the caller reports and
    then refuses the same way.
    """
    pt, mac = body[: -seal.BEACON_MAC_LEN], body[-seal.BEACON_MAC_LEN :]
    author, epoch, heads = decode_beacon(pt, room_id)
    if author not in members:
        raise RemoteProtocolError("beacon from a non-member", ErrorCode.UNAUTHORIZED)
    key = keys.get(epoch)
    ours = chain.heads.get(epoch)
    if (
        key is not None
        and ours == heads[0]
        and not hmac.compare_digest(mac, seal.beacon_mac(key, room_id, pt))
    ):  # it names our head, so it must prove our key; another head is a split (§16.2)
        if any(mac):
            return ForeignKey(epoch)
        raise RemoteProtocolError("beacon without the epoch key", ErrorCode.UNAUTHORIZED)
    checks: list[tuple[int, bytes, bool]] = []
    lagging = None
    if epoch > chain.epoch:
        checks.append((epoch, heads[0], True))  # we are behind the author
    elif ours == heads[0] and epoch < chain.epoch:
        lagging = epoch
    for i, head in enumerate(heads):
        if epoch - i <= chain.epoch:
            # only the author's own newest head can confirm ours (spec §16.2)
            checks.append((epoch - i, head, i == 0))
            break
    return BeaconClaims(author, tuple(checks), lagging)
