"""Where each member's relay link is: member id <-> relay slot (spec §8, §16.4).

A slot is learned from a member's own signed ANNOUNCE, a moderator's SLOTS
list, a welcome's stage list or a join request; it is forgotten when the
relay says the link is gone (PEER_LEFT) or the member leaves the roster.
The two maps are kept inverse: one member per slot, one slot per member.
Both are bounded by the roster plus this session's own entry.
"""

from __future__ import annotations

from collections.abc import Iterable

from e2ee.canonical import Value


class Slots:
    """Member id -> slot and slot -> member id, kept consistent (spec §16.4)."""

    __slots__ = ("_owner", "_slot")

    def __init__(self) -> None:
        self._slot: dict[bytes, int] = {}
        self._owner: dict[int, bytes] = {}

    def __contains__(self, member: object) -> bool:
        return member in self._slot

    def __getitem__(self, member: bytes) -> int:
        return self._slot[member]

    def get(self, member: bytes) -> int | None:
        """``member``'s slot, or None if not known."""
        return self._slot.get(member)

    def owner(self, slot: int) -> bytes | None:
        """The member whose link is ``slot``, or None."""
        return self._owner.get(slot)

    def set(self, member: bytes, slot: int) -> None:
        """``member`` is at ``slot``; whoever was there before is not, nor is its old slot."""
        old_owner = self._owner.get(slot)
        if old_owner is not None and old_owner != member and self._slot.get(old_owner) == slot:
            del self._slot[old_owner]
        old_slot = self._slot.get(member)
        if old_slot is not None and old_slot != slot and self._owner.get(old_slot) == member:
            del self._owner[old_slot]
        self._slot[member] = slot
        self._owner[slot] = member

    def release(self, slot: int) -> bytes | None:
        """The relay says ``slot``'s link is gone: forget it; its member, if it was current."""
        owner = self._owner.pop(slot, None)
        if owner is None or self._slot.get(owner) != slot:
            return None
        del self._slot[owner]
        return owner

    def forget(self, member: bytes) -> None:
        """``member`` left the roster: forget its slot."""
        slot = self._slot.pop(member, None)
        if slot is not None and self._owner.get(slot) == member:
            del self._owner[slot]

    def drop_own(self, me: bytes, slot: int | None) -> None:
        """Our own link changed: forget our old ``slot`` if it is still ours."""
        if slot is not None and self._owner.get(slot) == me:
            del self._owner[slot]

    def entries(self, members: Iterable[bytes]) -> list[Value]:
        """``[[id, slot], ...]`` for those of ``members`` whose slot is known (spec §16.4)."""
        return [[m, self._slot[m]] for m in members if m in self._slot]

    def first_of(self, preferred: bytes, others: Iterable[bytes]) -> int | None:
        """The slot of ``preferred`` if known, else of the first of ``others`` that is."""
        slot = self._slot.get(preferred)
        if slot is not None:
            return slot
        return next((self._slot[m] for m in others if m in self._slot), None)
