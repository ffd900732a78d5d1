"""The in-memory engine (spec §24.1): one process, deterministic, for tests.

Operations queue in one FIFO; :meth:`MemoryEngine.pump` applies them in that
order and reports to the subscribed nodes at once, so the order of a room is
the order in which its operations were applied, the same for every node.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from e2ee.envelope import DeliveryClass
from relay.cluster.engine import ClusterSink
from relay.cluster.records import ClassSet, Control, Joined, Left, Media, Ordered, Seat, Unicast
from relay.router import Room


@dataclass(eq=False)
class _RoomState:
    slots: Room
    seats: dict[int, Seat] = field(default_factory=dict)
    followers: list[ClusterSink] = field(default_factory=list)


class MemoryEngine:
    """All rooms of one in-memory cluster (implements :class:`~relay.cluster.engine.Engine`)."""

    def __init__(self) -> None:
        self._ops: deque[Callable[[], None]] = deque()
        self._rooms: dict[bytes, _RoomState] = {}

    def _room(self, tag: bytes) -> _RoomState:
        state = self._rooms.get(tag)
        if state is None:
            state = self._rooms[tag] = _RoomState(Room(tag))
        return state

    def _emit(self, tag: bytes, record: Ordered) -> None:
        for sink in list(self._room(tag).followers):
            sink.ordered(tag, record)

    def _drop_if_idle(self, tag: bytes) -> None:
        state = self._rooms[tag]
        if not state.seats and not state.followers:
            del self._rooms[tag]

    # -- the Engine operations ------------------------------------------------------
    def subscribe(self, sink: ClusterSink, tag: bytes) -> None:
        def op() -> None:
            state = self._room(tag)
            state.followers.append(sink)
            sink.snapshot(tag, dict(state.seats))

        self._ops.append(op)

    def unsubscribe(self, sink: ClusterSink, tag: bytes) -> None:
        def op() -> None:
            self._room(tag).followers.remove(sink)
            self._drop_if_idle(tag)

        self._ops.append(op)

    def join(
        self, sink: ClusterSink, tag: bytes, key: int, cls: DeliveryClass, max_members: int
    ) -> None:
        def op() -> None:
            state = self._room(tag)
            if len(state.seats) >= max_members:
                sink.join_refused(tag, key)
                return
            slot = state.slots.take_slot()
            state.seats[slot] = Seat(sink.node_id, cls)
            self._emit(tag, Joined(slot, cls, sink.node_id, key))

        self._ops.append(op)

    def leave(self, sink: ClusterSink, tag: bytes, slot: int) -> None:
        self._ops.append(lambda: self._free(tag, slot, sink.node_id))

    def _free(self, tag: bytes, slot: int, node: bytes) -> None:
        state = self._room(tag)
        seat = state.seats.get(slot)
        if seat is None or seat.node != node:
            return
        del state.seats[slot]
        state.slots.release_slot(slot)
        self._emit(tag, Left(slot))
        self._drop_if_idle(tag)

    def set_class(self, sink: ClusterSink, tag: bytes, slot: int, cls: DeliveryClass) -> None:
        def op() -> None:
            state = self._room(tag)
            seat = state.seats.get(slot)
            if seat is None or seat.node != sink.node_id or seat.cls == cls:
                return
            state.seats[slot] = Seat(seat.node, cls)
            self._emit(tag, ClassSet(slot, cls))

        self._ops.append(op)

    def append(self, tag: bytes, record: Control | Unicast) -> None:
        self._ops.append(lambda: self._emit(tag, record))

    def publish(self, sink: ClusterSink, tag: bytes, record: Media) -> None:
        def op() -> None:
            for other in list(self._room(tag).followers):
                if other is not sink:
                    other.media(tag, record)

        self._ops.append(op)

    # -- running -------------------------------------------------------------------------
    def pump(self) -> bool:
        """Apply every queued operation (and those they queue); True if there was one."""
        moved = bool(self._ops)
        while self._ops:
            self._ops.popleft()()
        return moved

    def node_died(self, node: bytes) -> None:
        """What liveness does when ``node`` stops: its seats are freed, in order."""
        for tag, state in list(self._rooms.items()):
            state.followers = [s for s in state.followers if s.node_id != node]
            for slot, seat in sorted(state.seats.items()):
                if seat.node == node:
                    self._ops.append(partial(self._free, tag, slot, node))
            self._drop_if_idle(tag)
