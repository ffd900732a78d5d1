"""The epoch keys a member holds, and how long it holds them (spec §15.1, §15.4, §15.5).

``K_e`` of the current epoch is held until a newer epoch is current; a
superseded key is kept ``key_grace`` seconds more, so that payloads and audio
sealed just before a commit still open, and then dropped: keys expire by time,
whatever the relay withholds (spec §15.5).  The control keys ``C_e`` are
derived from the held ``K_e`` on first use (:class:`e2ee.room.keys.ControlKeys`).
Held keys are bounded by the epochs superseded within one grace, plus one.
"""

from __future__ import annotations

from e2ee.room import keys
from e2ee.sender_key import SenderKey


class EpochKeys:
    """``K_e`` and ``C_e`` by epoch, with the expiry of superseded ones (spec §15.4)."""

    __slots__ = ("_expiry", "_grace", "control", "epoch_keys")

    def __init__(self, room_id: bytes, grace: float) -> None:
        self._grace = grace
        self.epoch_keys: dict[int, bytes] = {}
        self.control = keys.ControlKeys(room_id)
        self._expiry: dict[int, float] = {}

    def get(self, epoch: int) -> bytes | None:
        """``K_e``, or None if not held."""
        return self.epoch_keys.get(epoch)

    def install(self, epoch: int, key: bytes) -> None:
        """Hold ``K_e`` (it does not expire until superseded)."""
        self.epoch_keys[epoch] = key
        self.control.install(epoch, key)
        self._expiry.pop(epoch, None)

    def supersede(self, epoch: int, now: float) -> None:
        """Epoch ``epoch`` is no longer current: its key, if held, expires a grace from now."""
        if epoch in self.epoch_keys:
            self._expiry[epoch] = now + self._grace

    def superseded_at(self, epoch: int) -> float | None:
        """When ``epoch`` stopped being current, if its key is held and expiring."""
        expiry = self._expiry.get(epoch)
        return None if expiry is None else expiry - self._grace

    def usable(self, epoch: int, current: int, now: float) -> bool:
        """Current, or superseded less than ``key_grace`` ago (spec §15.4)."""
        expiry = self._expiry.get(epoch)
        return epoch == current or expiry is None or now < expiry

    def usable_epochs(self, current: int, now: float) -> list[int]:
        """The epochs whose key is held and usable at ``now``."""
        return [e for e in self.epoch_keys if self.usable(e, current, now)]

    def next_expiry(self) -> float | None:
        """When the next superseded key expires, or None."""
        return min(self._expiry.values()) if self._expiry else None

    def expire(self, now: float, current: int) -> list[int]:
        """Drop the keys whose grace is over at ``now`` (never the current one); their epochs."""
        dropped = []
        for epoch, expiry in list(self._expiry.items()):
            if now >= expiry:
                del self._expiry[epoch]
                if epoch != current:
                    self.epoch_keys.pop(epoch, None)
                    self.control.forget(epoch)
                    dropped.append(epoch)
        return dropped

    def newest_control(self, current: int) -> tuple[int, bytes] | None:
        """``(e, C_e)`` of the current epoch, else of the newest epoch held (spec §14.2)."""
        key = self.control.get(current)
        if key is not None:
            return current, key
        epoch = max(self.control, default=-1)
        key = self.control.get(epoch)
        return None if key is None else (epoch, key)

    def sender_key(self, epoch: int, member: bytes) -> SenderKey | None:
        """Member ``m``'s sender key at epoch ``e``: kid = e, secret = S_e,m (spec §15.4)."""
        k = self.epoch_keys.get(epoch)
        if k is None:
            return None
        return SenderKey(epoch, epoch, keys.sender_base(k, member))

    def proof_key(self, epoch: int, member: bytes) -> bytes:
        """``k_e,m``, the key of ``member``'s speaker proofs at a held epoch (spec §15.6)."""
        return keys.proof_key(keys.sender_base(self.epoch_keys[epoch], member))
