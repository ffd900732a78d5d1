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

from collections.abc import Iterator

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


class ControlKeys:
    """The control keys ``C_e`` of the epochs whose key is held, each derived on first use.

    A member installs ``K_e`` when it applies a commit or receives a re-key's
    fresh secret (spec §15.1), but needs ``C_e`` only when it next opens or
    seals a COMMIT or CONTROL payload of epoch ``e`` (spec §14.1): deriving
    it then keeps the HKDF off the re-key path, and it is derived once.
    Holds the same epochs as the session's epoch keys; read like a dict.
    """

    __slots__ = ("_derived", "_epoch_keys", "_room_id")

    def __init__(self, room_id: bytes) -> None:
        self._room_id = room_id
        self._epoch_keys: dict[int, bytes] = {}
        self._derived: dict[int, bytes] = {}

    def install(self, epoch: int, epoch_key: bytes) -> None:
        """Hold ``K_e``; ``C_e`` is derived from it when first asked for."""
        self._epoch_keys[epoch] = epoch_key
        self._derived.pop(epoch, None)

    def forget(self, epoch: int) -> None:
        """Drop epoch ``epoch``'s keys, if held."""
        self._epoch_keys.pop(epoch, None)
        self._derived.pop(epoch, None)

    def get(self, epoch: int) -> bytes | None:
        """``C_e``, or None if ``K_e`` is not held."""
        key = self._derived.get(epoch)
        if key is None:
            epoch_key = self._epoch_keys.get(epoch)
            if epoch_key is None:
                return None
            key = self._derived[epoch] = control_key(epoch_key, self._room_id)
        return key

    def __getitem__(self, epoch: int) -> bytes:
        key = self.get(epoch)
        if key is None:
            raise KeyError(epoch)
        return key

    def __contains__(self, epoch: object) -> bool:
        return epoch in self._epoch_keys

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch_keys)
