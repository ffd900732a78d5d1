"""What a node needs from the engine it shares rooms through (spec §24.1).

Every call returns at once (the node is sans-IO); what the engine decides
comes back, per room, through the node's :class:`ClusterSink` in one order
that is the same for every node of the room.  An engine implementation
guarantees, per room tag:

* :meth:`Engine.subscribe` is answered by exactly one
  :meth:`ClusterSink.snapshot` (the seats at some position of the order),
  followed by every ordered record after that position, in order, until
  :meth:`Engine.unsubscribe`;
* :meth:`Engine.join` atomically takes the lowest free slot of the room
  (room-wide, across nodes) and appends :class:`~relay.cluster.records.Joined`,
  or answers :meth:`ClusterSink.join_refused` when the room has
  ``max_members`` seats; :meth:`Engine.leave` and :meth:`Engine.set_class`
  update the seats and append in the same step;
* :meth:`Engine.append` appends to the room's order;
* :meth:`Engine.publish` reaches the other subscribed nodes at most once,
  in any order, and is never stored.
"""

from __future__ import annotations

from typing import Protocol

from e2ee.envelope import DeliveryClass
from relay.cluster.records import Control, Media, Ordered, Seat, Unicast


class ClusterSink(Protocol):
    """The node side: what the engine reports (spec §24.3)."""

    node_id: bytes

    def snapshot(self, tag: bytes, seats: dict[int, Seat]) -> None:
        """The room's seats at the position the subscription starts from."""

    def ordered(self, tag: bytes, record: Ordered) -> None:
        """The next record of the room's one order."""

    def media(self, tag: bytes, record: Media) -> None:
        """MEDIA from another node."""

    def join_refused(self, tag: bytes, key: int) -> None:
        """The room was full when link ``key``'s JOIN reached the engine."""

    def engine_lost(self) -> None:
        """The engine can no longer give this node the rooms' order (spec §24.6)."""


class Engine(Protocol):
    """The engine's operations (spec §24.1); none blocks."""

    def subscribe(self, sink: ClusterSink, tag: bytes) -> None:
        """Start following the room ``tag``."""

    def unsubscribe(self, sink: ClusterSink, tag: bytes) -> None:
        """Stop following it (the node has no link in it any more)."""

    def join(
        self, sink: ClusterSink, tag: bytes, key: int, cls: DeliveryClass, max_members: int
    ) -> None:
        """Take the lowest free slot for link ``key`` of ``sink``'s node."""

    def leave(self, sink: ClusterSink, tag: bytes, slot: int) -> None:
        """Free ``slot`` if ``sink``'s node still holds it."""

    def set_class(self, sink: ClusterSink, tag: bytes, slot: int, cls: DeliveryClass) -> None:
        """Move ``slot`` to ``cls`` if ``sink``'s node holds it and it is not there yet."""

    def append(self, tag: bytes, record: Control | Unicast) -> None:
        """Append a CONTROL or UNICAST to the room's order."""

    def publish(self, sink: ClusterSink, tag: bytes, record: Media) -> None:
        """Send MEDIA to the room's other nodes."""
