"""The control messages this member sends: numbered, signed, sealed (spec §14.2).

Each message carries the next ``seq`` of this member's session (receivers keep
the last one per member and drop anything not newer, spec §14.3), the epoch of
the newest control key held and that epoch's head, and is sealed under that
epoch's control key ``C_e``.  While a re-key's fresh secret is awaited, that is
the previous epoch's key.
"""

from __future__ import annotations

from collections.abc import Callable

from e2ee.canonical import Value
from e2ee.identity import IdentityKey
from e2ee.room import seal
from e2ee.room.chain import Chain
from e2ee.room.control import ControlType, sign_control
from e2ee.room.epochs import EpochKeys


class ControlOut:
    """This member's outgoing control ``seq`` and the sealing of each message (spec §14.2)."""

    __slots__ = ("_identity", "_room_id", "_session_public", "seq")

    def __init__(self, identity: IdentityKey, session_public: bytes, room_id: bytes) -> None:
        self._identity = identity
        self._session_public = session_public
        self._room_id = room_id
        self.seq = 0

    def seal(
        self,
        ctype: ControlType,
        args: list[Value],
        keys: EpochKeys,
        chain: Chain,
        rng: Callable[[int], bytes],
    ) -> bytes | None:
        """The sealed message, or None if no control key is held yet."""
        newest = keys.newest_control(chain.epoch)
        if newest is None:
            return None
        epoch, key = newest  # waiting for a fresh secret: the newest key we have
        seq = self.seq
        self.seq += 1
        signed = sign_control(
            self._identity,
            self._session_public,
            self._room_id,
            ctype,
            seq,
            epoch,
            chain.heads.get(epoch, chain.head),
            args,
        )
        return seal.seal_epoch(seal.Kind.CONTROL, key, self._room_id, epoch, signed, rng)
