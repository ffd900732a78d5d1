"""A cluster node: the real router for its own links, rooms shared through an engine (§24.3).

:class:`ClusterRouter` is :class:`relay.router.Router` with the room
operations redirected: a JOIN, LEAVE, SET_CLASS, CONTROL or UNICAST of a
local link goes to the engine, and the node acts on it only when it comes
back in the room's one order (spec §17.3), exactly like the records of the
other nodes' links.  Every node therefore delivers a room's reliable
envelopes to its own links in that one order.  MEDIA reaches local members
at once and the other nodes over the engine's unordered channel.

Per room the node keeps the room-wide seats (slot -> node, class) as of the
last record it applied; slots, rosters, unicast checks and the CONTROL byte
cost are taken from them.
"""

from __future__ import annotations

from collections import Counter

from e2ee.envelope import HEADER_LEN, DeliveryClass, Envelope, EnvelopeType, RelayErrorCode
from e2ee.envelope import encode_envelope as enc
from relay.cluster.engine import Engine
from relay.cluster.records import (
    ClassSet,
    Control,
    Joined,
    Left,
    Media,
    Ordered,
    Seat,
    Unicast,
)
from relay.config import RelayConfig
from relay.router import Link, Membership, Outbox, Room, Router
from relay.stats import RelayStats


class ClusterRouter(Router):
    """All local links of one node, their rooms spanning the cluster (spec §24.3)."""

    def __init__(
        self,
        config: RelayConfig,
        outbox: Outbox,
        engine: Engine,
        node_id: bytes,
        stats: RelayStats | None = None,
    ) -> None:
        super().__init__(config, outbox, stats)
        self.engine = engine
        self.node_id = node_id
        #: room tag -> room-wide seats, or None while the subscription's snapshot is due
        self._seats: dict[bytes, dict[int, Seat] | None] = {}
        #: (room tag, link id) -> (link, its JOIN's time) for JOINs not yet in the order
        self._pending: dict[tuple[bytes, int], tuple[Link, float]] = {}
        self._pending_per_link: Counter[int] = Counter()
        self._pending_per_room: Counter[bytes] = Counter()

    # -- following rooms ----------------------------------------------------------
    def seats(self, tag: bytes) -> dict[int, Seat]:
        """The room-wide seats of ``tag`` as this node last saw them."""
        return self._seats.get(tag) or {}

    def _follow(self, tag: bytes) -> None:
        if tag not in self._seats:
            self._seats[tag] = None
            self.engine.subscribe(self, tag)

    def _unfollow_if_idle(self, tag: bytes) -> None:
        if tag in self._seats and tag not in self.rooms and not self._pending_per_room[tag]:
            del self._seats[tag]
            del self._pending_per_room[tag]
            self.engine.unsubscribe(self, tag)

    # -- local requests (overriding the single relay's) -----------------------------
    def _join(self, link: Link, env: Envelope, now: float) -> None:
        """JOIN: ask the engine for a slot; WELCOME comes with the order (spec §24.3)."""
        tag = env.room_tag
        if tag in link.rooms or (tag, link.id) in self._pending:
            self.refuse(link, RelayErrorCode.ALREADY_JOINED, "already in that room", tag)
            return
        rooms = len(link.rooms) + self._pending_per_link[link.id]
        if rooms >= self.config.max_rooms_per_connection:
            self.refuse(link, RelayErrorCode.TOO_MANY_ROOMS, "too many rooms on this link", tag)
            return
        self._follow(tag)
        self._pending[(tag, link.id)] = (link, now)
        self._pending_per_link[link.id] += 1
        self._pending_per_room[tag] += 1
        cls = DeliveryClass(env.payload[0])
        self.engine.join(self, tag, link.id, cls, self.config.max_members_per_room)

    def _leave(self, me: Membership) -> None:
        """The local link leaves at once; the other members learn it from the order."""
        room = me.room
        self._drop_local(me)
        self.engine.leave(self, room.tag, me.slot)
        self._unfollow_if_idle(room.tag)

    def _drop_local(self, me: Membership) -> None:
        room = me.room
        del me.link.rooms[room.tag]
        del room.members[me.slot]
        room.stage.pop(me.slot, None)
        room.audience.pop(me.slot, None)
        if not room.members:
            del self.rooms[room.tag]
            self.stats.rooms_open -= 1

    def _set_class(self, link: Link, env: Envelope) -> None:
        me = self._membership(link, env)
        if me is not None:
            self.engine.set_class(self, me.room.tag, me.slot, DeliveryClass(env.payload[0]))

    def _control(self, link: Link, env: Envelope) -> None:
        me = self._broadcast_source(link, env)
        if me is not None:
            self.engine.append(me.room.tag, Control(me.slot, env.payload))

    def _unicast(self, link: Link, env: Envelope) -> None:
        me = self._membership(link, env)
        if me is None:
            return
        if env.slot not in self.seats(me.room.tag):
            self.refuse(link, RelayErrorCode.NO_SUCH_SLOT, "no member in that slot", env.room_tag)
            return
        self.engine.append(me.room.tag, Unicast(me.slot, env.slot, env.payload))

    def _fan_out_media(
        self, room: Room, src: int, cls: DeliveryClass, data: bytes, by_datagram: bool
    ) -> None:
        super()._fan_out_media(room, src, cls, data, by_datagram)
        self.engine.publish(self, room.tag, Media(src, cls, by_datagram, data[HEADER_LEN:]))

    def _delivery_bytes(self, link: Link, env: Envelope) -> int:  # type: ignore[override]
        """As on one relay, with the room-wide number of members (spec §17.5)."""
        size = HEADER_LEN + len(env.payload)
        if env.type == EnvelopeType.CONTROL and env.room_tag in link.rooms:
            return size * max(1, len(self.seats(env.room_tag)) - 1)
        return size

    def _tell_roster(self, me: Membership) -> None:
        tag = me.room.tag
        for slot in sorted(self.seats(tag)):
            if slot != me.slot:
                self.outbox.send_reliable(me.link, enc(EnvelopeType.PEER_JOINED, tag, slot), tag)

    def close_link(self, link: Link) -> None:
        super().close_link(link)
        self._pending_per_link.pop(link.id, None)

    # -- what the engine reports (ClusterSink) ----------------------------------------------
    def snapshot(self, tag: bytes, seats: dict[int, Seat]) -> None:
        if tag in self._seats:
            self._seats[tag] = dict(seats)

    def join_refused(self, tag: bytes, key: int) -> None:
        entry = self._take_pending(tag, key)
        if entry is not None and not entry[0].closing:
            self.refuse(entry[0], RelayErrorCode.ROOM_FULL, "room is full", tag)
        self._unfollow_if_idle(tag)

    def engine_lost(self) -> None:
        """Every link in a room is closed (it reconnects and rejoins); the rooms are forgotten."""
        links = {m.link for room in self.rooms.values() for m in room.members.values()}
        links |= {link for link, _ in self._pending.values()}
        for link in links:
            for me in list(link.rooms.values()):
                self._drop_local(me)
            if not link.closing:
                self.refuse(link, RelayErrorCode.SHUTTING_DOWN, "the cluster engine was lost")
        self._seats.clear()
        self._pending.clear()
        self._pending_per_link.clear()
        self._pending_per_room.clear()

    def media(self, tag: bytes, record: Media) -> None:
        room = self.rooms.get(tag)
        if room is not None:
            data = enc(EnvelopeType.MEDIA, tag, record.src, record.payload)
            Router._fan_out_media(self, room, record.src, record.cls, data, record.by_datagram)

    def ordered(self, tag: bytes, record: Ordered) -> None:
        seats = self._seats.get(tag)
        if seats is None:
            return  # not following, or before the snapshot: not ours to apply
        if isinstance(record, Control):
            self._deliver_control(tag, record)
        elif isinstance(record, Unicast):
            self._deliver_unicast(tag, record)
        elif isinstance(record, Joined):
            seats[record.slot] = Seat(record.node, record.cls)
            self._notify_stage(tag, EnvelopeType.PEER_JOINED, record.slot)
            if record.node == self.node_id:
                self._welcome(tag, record)
        elif isinstance(record, Left):
            seats.pop(record.slot, None)
            self._seat_lost(tag, record.slot)
            self._notify_stage(tag, EnvelopeType.PEER_LEFT, record.slot)
        elif record.slot in seats:
            seats[record.slot] = Seat(seats[record.slot].node, record.cls)
            self._move_local(tag, record)

    # -- applying the order to local links ----------------------------------------------------
    def _take_pending(self, tag: bytes, key: int) -> tuple[Link, float] | None:
        entry = self._pending.pop((tag, key), None)
        if entry is not None:
            self._pending_per_room[tag] -= 1
            if not entry[0].closing:
                self._pending_per_link[key] -= 1
                if not self._pending_per_link[key]:
                    del self._pending_per_link[key]
        return entry

    def _welcome(self, tag: bytes, record: Joined) -> None:
        """Our link's JOIN reached the order: WELCOME, then the roster (spec §17.1)."""
        entry = self._take_pending(tag, record.key)
        if entry is None or entry[0].closing:
            self.engine.leave(self, tag, record.slot)  # it went away meanwhile
            self._unfollow_if_idle(tag)
            return
        link, since = entry
        room = self.rooms.get(tag)
        if room is None:
            room = self.rooms[tag] = Room(tag)
            self.stats.rooms_open += 1
        me = Membership(room, link, record.slot, record.cls, self.config, since)
        link.rooms[tag] = me
        self.outbox.send_reliable(link, enc(EnvelopeType.WELCOME, tag, me.slot), tag)
        room.members[me.slot] = me
        if record.cls == DeliveryClass.STAGE:
            room.stage[me.slot] = me
            self._tell_roster(me)
        else:
            room.audience[me.slot] = me

    def _notify_stage(self, tag: bytes, etype: EnvelopeType, slot: int) -> None:
        room = self.rooms.get(tag)
        if room is None:
            return
        data = enc(etype, tag, slot)
        for member in list(room.stage.values()):
            if not member.link.closing and member.slot != slot:
                self.outbox.send_reliable(member.link, data, tag)

    def _seat_lost(self, tag: bytes, slot: int) -> None:
        """A local link's seat was freed by the others (this node was taken for dead)."""
        room = self.rooms.get(tag)
        me = room.members.get(slot) if room is not None else None
        if me is not None:
            self._drop_local(me)
            self.refuse(me.link, RelayErrorCode.SHUTTING_DOWN, "this node lost its seat")
            self._unfollow_if_idle(tag)

    def _move_local(self, tag: bytes, record: ClassSet) -> None:
        room = self.rooms.get(tag)
        me = room.members.get(record.slot) if room is not None else None
        if me is not None and me.cls != record.cls:
            self._move_class(me, record.cls)

    def _deliver_control(self, tag: bytes, record: Control) -> None:
        room = self.rooms.get(tag)
        if room is None:
            return
        data = enc(EnvelopeType.CONTROL, tag, record.src, record.payload)
        sent = 0
        for member in list(room.members.values()):
            if not member.link.closing:  # its sender included: the echo (spec §17.3)
                self.outbox.send_reliable(member.link, data, tag)
                sent += 1
        self.stats.frames_forwarded += sent
        self.stats.bytes_forwarded += sent * len(data)

    def _deliver_unicast(self, tag: bytes, record: Unicast) -> None:
        room = self.rooms.get(tag)
        dest = room.members.get(record.dst) if room is not None else None
        if dest is None or dest.link.closing:
            return  # another node's member, or gone since the sender's check
        data = enc(EnvelopeType.UNICAST, tag, record.src, record.payload)
        self.outbox.send_reliable(dest.link, data, tag)
        self.stats.frames_forwarded += 1
        self.stats.bytes_forwarded += len(data)
