"""Forwarding a missed commit to a stale sender (spec §15.4): which, and by whom.

Any member may forward a commit: it is signed by a moderator and chains onto
the sender's head, so the sender checks it exactly as one from the relay.

Every member that hears a speaker under a superseded epoch could hand it the
commit it missed; in a large audience that would be thousands of copies of
one commit.  So about :data:`FORWARDERS` members do it: a member forwards for
``(sender, epoch)`` if a hash of the room, itself, the sender and the epoch
selects it, which every member computes alone and the relay (which sees
slots, not member ids) cannot predict.  In a room of at most
:data:`FORWARDERS` other members everyone forwards.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from e2ee import kdf
from e2ee.room import labels, seal
from e2ee.room.commit import decode_commit

FORWARDERS = 8
_U32 = struct.Struct(">I")


def selected(room_id: bytes, me: bytes, sender: bytes, epoch: int, members: int) -> bool:
    """Whether ``me`` forwards to ``sender`` for ``epoch`` in a room of ``members`` members.

    ``u64(labelled_hash("hushroom v1 room forwarder", room_id || me || sender ||
    u32 epoch)[0:8]) mod (members - 1) < FORWARDERS``: about FORWARDERS of the
    other members are selected, all of them in a small room.
    """
    others = members - 1
    if others <= FORWARDERS:
        return True
    digest = kdf.labelled_hash(labels.FORWARDER, room_id + me + sender + _U32.pack(epoch))
    return int.from_bytes(digest[:8], "big") % others < FORWARDERS


def missed_commit(log: Sequence[bytes], current: int, stale: int, room_id: bytes) -> bytes | None:
    """The commit of epoch ``stale + 1`` from a member's ``log`` (newest last, at ``current``).

    None if the log does not reach back that far or has a gap there (a member
    that joined from a snapshot holds no earlier commits).
    """
    back = current - stale - 1
    if not 0 <= back < len(log):
        return None
    raw = log[len(log) - 1 - back]
    return raw if decode_commit(raw, room_id).epoch == stale + 1 else None


def forward(
    log: Sequence[bytes],
    current: int,
    stale: int,
    room_id: bytes,
    stale_key: bytes,
    rng: Callable[[int], bytes],
) -> bytes | None:
    """The missed commit sealed under the stale epoch's control key, which the sender holds."""
    raw = missed_commit(log, current, stale, room_id)
    if raw is None:
        return None
    return seal.seal_epoch(seal.Kind.COMMIT, stale_key, room_id, stale, raw, rng)
