"""The room key schedule: epoch keys, control keys, sender bases (spec §15.1).

Every epoch ``e`` has a 32-byte epoch key ``K_e``::

    K_0 = HKDF("hushroom v1 room epoch key", ikm = fresh_0, salt = "", ctx = head_0)
    K_e = HKDF("hushroom v1 room epoch key", ikm = fresh_e or "", salt = K_{e-1}, ctx = head_e)

``fresh_e`` is 32 random bytes drawn by the committer of a ``rekey`` commit
and delivered to each remaining member over a pairwise channel (spec §15.2);
for other commits it is empty, so ``K_e`` is a one-way ratchet of ``K_{e-1}``
that anyone holding ``K_{e-1}`` computes alone.  From ``K_e``::

    control key   C_e   = HKDF("hushroom v1 room control key", K_e, ctx = room_id)
    sender base   S_e,m = HKDF("hushroom v1 room sender base", K_e, ctx = member id)
    proof key     k_e,m = HKDF("hushroom v1 room speaker proof key", S_e,m)   (spec §15.6)
"""

from __future__ import annotations

from e2ee import kdf
from e2ee.room import labels

KEY_LEN = 32


def first_epoch_key(fresh: bytes, head: bytes) -> bytes:
    """``K_0`` from the founder's 32 fresh bytes and the genesis head (spec §15.1)."""
    return kdf.hkdf(labels.EPOCH_KEY, fresh, KEY_LEN, context=head)


def next_epoch_key(previous: bytes, head: bytes, fresh: bytes = b"") -> bytes:
    """``K_e`` from ``K_{e-1}``, ``head_e`` and (for a re-key) ``fresh_e`` (spec §15.1)."""
    return kdf.hkdf(labels.EPOCH_KEY, fresh, KEY_LEN, salt=previous, context=head)


def control_key(epoch_key: bytes, room_id: bytes) -> bytes:
    """``C_e``, the key of E2EE control messages and commits at epoch ``e`` (spec §15.1)."""
    return kdf.hkdf(labels.CONTROL_KEY, epoch_key, KEY_LEN, context=room_id)


def sender_base(epoch_key: bytes, member_id: bytes) -> bytes:
    """``S_e,m``, the base of member ``m``'s sender key at epoch ``e`` (spec §15.1)."""
    return kdf.hkdf(labels.SENDER_BASE, epoch_key, KEY_LEN, context=member_id)


def proof_key(sender_base_key: bytes) -> bytes:
    """``k``, the key that hides a speaker proof's body from the relay (spec §15.6)."""
    return kdf.hkdf(labels.PROOF_KEY, sender_base_key, KEY_LEN)
