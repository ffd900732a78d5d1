"""Routing and accounting, sans-IO (spec §17): slots, rooms, delivery classes, limits.

The router never touches a socket.  It receives decoded envelopes for a
:class:`Link` together with ``now`` and tells an :class:`Outbox` what to
deliver; the trio server (relay/server.py) implements the outbox with
non-blocking TLS writes, tests implement it with lists.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Protocol

from e2ee.envelope import (
    HEADER_LEN,
    ZERO_TAG,
    DeliveryClass,
    Envelope,
    EnvelopeType,
    RelayErrorCode,
    encode_envelope,
    encode_error,
)
from relay.buckets import TokenBucket
from relay.config import RelayConfig
from relay.stats import RelayStats

#: envelopes that make the relay notify the stage or list the room, or draw a
#: datagram channel: they take a token of the join bucket (spec §17.5, §23.2)
_MEMBERSHIP_CHANGES = frozenset(
    (EnvelopeType.JOIN, EnvelopeType.SET_CLASS, EnvelopeType.DATAGRAM_OFFER)
)


class Link:
    """Router-side state of one client connection (spec §17.1)."""

    __slots__ = (
        "byte_bucket",
        "closing",
        "envelope_bucket",
        "id",
        "join_bucket",
        "rooms",
        "transport",
    )

    def __init__(self, link_id: int, now: float, config: RelayConfig) -> None:
        self.id = link_id
        #: room tag -> (room, my slot, my delivery class)
        self.rooms: dict[bytes, Membership] = {}
        self.envelope_bucket = TokenBucket(config.envelope_rate, config.envelope_burst, now)
        # one second's worth to start with: reconnecting buys no fresh burst (spec §17.5)
        self.byte_bucket = TokenBucket(
            config.byte_rate, config.byte_burst, now, start=config.byte_rate
        )
        self.join_bucket = TokenBucket(config.join_rate, config.join_burst, now)
        self.closing = False
        #: free for the server's per-connection I/O state
        self.transport: object = None

    def __repr__(self) -> str:  # never shows tags or slots (spec §17.7)
        return f"<Link #{self.id}>"


class Membership:
    """One link's place in one room tag: its slot, delivery class and MEDIA allowance."""

    __slots__ = ("cls", "link", "media_bytes", "media_frames", "room", "slot")

    def __init__(
        self, room: Room, link: Link, slot: int, cls: DeliveryClass, config: RelayConfig, now: float
    ) -> None:
        self.room = room
        self.link = link
        self.slot = slot
        self.cls = cls
        #: per-source MEDIA bound (spec §17.3): envelopes and bytes per second, starting
        #: with one second's worth (the burst is for catching up, not for joining)
        self.media_frames = TokenBucket(
            config.media_rate, config.media_burst, now, start=config.media_rate
        )
        self.media_bytes = TokenBucket(
            config.media_byte_rate, config.media_byte_burst, now, start=config.media_byte_rate
        )


class Room:
    """Members of one opaque room tag, split by delivery class (spec §17.2)."""

    __slots__ = ("_free", "_next_slot", "audience", "members", "stage", "tag", "transport")

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.members: dict[int, Membership] = {}
        self.stage: dict[int, Membership] = {}
        self.audience: dict[int, Membership] = {}
        self._free: list[int] = []
        self._next_slot = 0
        #: free for the server's audience batching state
        self.transport: object = None

    def take_slot(self) -> int:
        """Lowest free slot (spec §17.1)."""
        if self._free:
            return heapq.heappop(self._free)
        slot = self._next_slot
        self._next_slot += 1
        return slot

    def release_slot(self, slot: int) -> None:
        """Return a slot to the pool (spec §17.1)."""
        heapq.heappush(self._free, slot)


class Outbox(Protocol):
    """Where the router's decisions go (implemented by the server and by tests)."""

    def send_media(self, link: Link, data: bytes, tag: bytes, by_datagram: bool) -> None:
        """One droppable audio envelope to one stage link, written at once; ``by_datagram``:
        it arrived by datagram and may leave by one (spec §23.6)."""

    def send_reliable(self, link: Link, data: bytes, tag: bytes) -> None:
        """Reliable bytes to one link; the outbox closes it with SLOW_CONSUMER if it cannot."""

    def audience_batch(self, room: Room, data: bytes) -> None:
        """Append one audio envelope to the room's shared audience batch."""

    def close(self, link: Link, code: RelayErrorCode, reason: str) -> None:
        """Send ERROR(code, reason) as the last envelope and close the link."""


class DatagramOffers(Protocol):
    """The relay's datagram channels, as the router sees them (spec §23.2)."""

    def offer(self, link: Link, now: float) -> bytes:
        """A DATAGRAM_ACCEPT payload for a new channel of ``link``."""

    def forget(self, link: Link) -> None:
        """``link`` ended: drop its channel."""


class Router:
    """All rooms of one relay process (spec §17)."""

    def __init__(self, config: RelayConfig, outbox: Outbox, stats: RelayStats | None = None):
        self.config = config
        self.outbox = outbox
        self.stats = stats if stats is not None else RelayStats()
        self.rooms: dict[bytes, Room] = {}
        self._next_id = 0
        #: set by the server when it has a datagram endpoint (spec §23)
        self.datagrams: DatagramOffers | None = None

    # -- links -----------------------------------------------------------------

    def open_link(self, now: float) -> Link:
        """Register a new connection (after its TLS handshake)."""
        self._next_id += 1
        return Link(self._next_id, now, self.config)

    def close_link(self, link: Link) -> None:
        """Forget a closed connection: leave every room it was in (spec §17.1)."""
        link.closing = True
        for membership in list(link.rooms.values()):
            self._leave(membership)
        if self.datagrams is not None:
            self.datagrams.forget(link)

    def refuse(self, link: Link, code: RelayErrorCode, reason: str, tag: bytes = ZERO_TAG) -> None:
        """Report an error: a refusal (code >= 0x100) or a close (spec §17.6)."""
        self.stats.errors[code.name] += 1
        if code.closes_connection:
            link.closing = True
            self.outbox.close(link, code, reason)
        else:
            self.outbox.send_reliable(link, encode_error(tag, code, reason), tag)

    # -- envelopes ---------------------------------------------------------------

    def receive(
        self, link: Link, envelopes: Iterable[Envelope], now: float, by_datagram: bool = False
    ) -> None:
        """Process envelopes from ``link`` in order (spec §17); stops once it closes.

        ``by_datagram``: they came over the link's datagram channel (spec §23.6)."""
        stats, envelope_bucket, byte_bucket = self.stats, link.envelope_bucket, link.byte_bucket
        for env in envelopes:
            if link.closing:
                return
            stats.envelopes_received += 1
            # token buckets: envelopes, and bytes the relay writes because of it (spec §17.5)
            if not envelope_bucket.take(1.0, now):
                self.refuse(link, RelayErrorCode.RATE_LIMITED, "envelope rate limit exceeded")
                return
            if not byte_bucket.take(self._delivery_bytes(link, env), now):
                self.refuse(link, RelayErrorCode.RATE_LIMITED, "byte rate limit exceeded")
                return
            if env.type in _MEMBERSHIP_CHANGES and not link.join_bucket.take(1.0, now):
                self.refuse(link, RelayErrorCode.RATE_LIMITED, "join rate limit exceeded")
                return
            self.handle(link, env, now, by_datagram)

    @staticmethod
    def _delivery_bytes(link: Link, env: Envelope) -> int:
        """What one envelope costs in the byte bucket (spec §17.5).

        Its size on the wire, times the number of recipients for a CONTROL
        broadcast (every member, its sender included).
        """
        size = HEADER_LEN + len(env.payload)
        if env.type == EnvelopeType.CONTROL:
            membership = link.rooms.get(env.room_tag)
            if membership is not None:
                return size * len(membership.room.members)
        return size

    def handle(self, link: Link, env: Envelope, now: float, by_datagram: bool = False) -> None:
        """Dispatch one client envelope (spec §17.1–17.4; ``by_datagram``: §23.6)."""
        etype = env.type
        if etype == EnvelopeType.MEDIA:
            self._media(link, env, now, by_datagram)
        elif etype == EnvelopeType.CONTROL:
            self._control(link, env)
        elif etype == EnvelopeType.UNICAST:
            self._unicast(link, env)
        elif etype == EnvelopeType.PING:
            self.outbox.send_reliable(
                link, encode_envelope(EnvelopeType.PONG, env.room_tag, 0, env.payload), ZERO_TAG
            )
        elif etype == EnvelopeType.JOIN:
            self._join(link, env, now)
        elif etype == EnvelopeType.LEAVE:
            membership = link.rooms.get(env.room_tag)
            if membership is None:
                self.refuse(link, RelayErrorCode.NOT_JOINED, "not in that room", env.room_tag)
            else:
                self._leave(membership)
        elif etype == EnvelopeType.SET_CLASS:
            self._set_class(link, env)
        elif etype == EnvelopeType.DATAGRAM_OFFER:
            grant = self.datagrams.offer(link, now) if self.datagrams is not None else b""
            accept = encode_envelope(EnvelopeType.DATAGRAM_ACCEPT, ZERO_TAG, 0, grant)
            self.outbox.send_reliable(link, accept, ZERO_TAG)
        else:
            self.refuse(link, RelayErrorCode.UNEXPECTED_TYPE, f"{etype.name} is relay-to-client")

    def _membership(self, link: Link, env: Envelope) -> Membership | None:
        membership = link.rooms.get(env.room_tag)
        if membership is None:
            self.refuse(link, RelayErrorCode.NOT_JOINED, "not in that room", env.room_tag)
        return membership

    def _broadcast_source(self, link: Link, env: Envelope) -> Membership | None:
        """The sender's membership for a broadcast, or None after refusing it (spec §8.3)."""
        if env.slot:
            self.refuse(link, RelayErrorCode.MALFORMED, "broadcast slot must be zero")
            return None
        return self._membership(link, env)

    def _media(self, link: Link, env: Envelope, now: float, by_datagram: bool) -> None:
        """Broadcast audio: stage first, frame by frame; audience batched (spec §17.3).

        MEDIA beyond the source's allowance (``media_rate``/``media_byte_rate``)
        is dropped here and counted, so that one source cannot push the others'
        audio out of the listeners' queues.
        """
        me = self._broadcast_source(link, env)
        if me is None:
            return
        size = HEADER_LEN + len(env.payload)
        if not me.media_frames.take(1.0, now) or not me.media_bytes.take(size, now):
            self.stats.media_over_rate += 1
            return
        data = encode_envelope(EnvelopeType.MEDIA, me.room.tag, me.slot, env.payload)
        self._fan_out_media(me.room, me.slot, me.cls, data, by_datagram)

    def _fan_out_media(
        self, room: Room, src: int, cls: DeliveryClass, data: bytes, by_datagram: bool
    ) -> None:
        """MEDIA ``data`` from slot ``src`` (of class ``cls``) to this relay's members."""
        outbox = self.outbox
        tag = room.tag
        for member in room.stage.values():
            if member.slot != src:
                outbox.send_media(member.link, data, tag, by_datagram)
        if cls == DeliveryClass.AUDIENCE:
            # A sender in the audience must not hear itself: no shared batch.
            for member in room.audience.values():
                if member.slot != src:
                    outbox.send_media(member.link, data, tag, by_datagram)
        elif room.audience:
            outbox.audience_batch(room, data)

    def _control(self, link: Link, env: Envelope) -> None:
        """Reliable broadcast to every member, its sender included, never dropped (§17.3).

        The sender's own copy takes its place in the room's one reliable order,
        so every author learns where its broadcast fell, and no broadcast
        looks different from another (spec §17.3, §20).
        """
        me = self._broadcast_source(link, env)
        if me is None:
            return
        room = me.room
        tag = room.tag
        data = encode_envelope(EnvelopeType.CONTROL, tag, me.slot, env.payload)
        send = self.outbox.send_reliable
        for member in list(room.members.values()):
            if not member.link.closing:
                send(member.link, data, tag)
        self.stats.frames_forwarded += len(room.members)
        self.stats.bytes_forwarded += len(room.members) * len(data)

    def _unicast(self, link: Link, env: Envelope) -> None:
        """Reliable delivery to one slot, stamped with the source slot (spec §17.4)."""
        me = self._membership(link, env)
        if me is None:
            return
        room = me.room
        dest = room.members.get(env.slot)
        if dest is None or dest.link.closing:
            self.refuse(link, RelayErrorCode.NO_SUCH_SLOT, "no member in that slot", env.room_tag)
            return
        data = encode_envelope(EnvelopeType.UNICAST, room.tag, me.slot, env.payload)
        self.outbox.send_reliable(dest.link, data, room.tag)
        stats = self.stats
        stats.frames_forwarded += 1
        stats.bytes_forwarded += len(data)

    def _join(self, link: Link, env: Envelope, now: float) -> None:
        """JOIN: assign the lowest free slot, WELCOME, notify the stage (spec §17.1)."""
        tag = env.room_tag
        cfg = self.config
        if tag in link.rooms:
            self.refuse(link, RelayErrorCode.ALREADY_JOINED, "already in that room", tag)
            return
        if len(link.rooms) >= cfg.max_rooms_per_connection:
            self.refuse(link, RelayErrorCode.TOO_MANY_ROOMS, "too many rooms on this link", tag)
            return
        room = self.rooms.get(tag)
        if room is None:
            room = self.rooms[tag] = Room(tag)
            self.stats.rooms_open += 1
        elif len(room.members) >= cfg.max_members_per_room:
            self.refuse(link, RelayErrorCode.ROOM_FULL, "room is full", tag)
            return
        cls = DeliveryClass(env.payload[0])
        me = Membership(room, link, room.take_slot(), cls, cfg, now)
        link.rooms[tag] = me
        self.outbox.send_reliable(link, encode_envelope(EnvelopeType.WELCOME, tag, me.slot), tag)
        joined = encode_envelope(EnvelopeType.PEER_JOINED, tag, me.slot)
        for member in list(room.stage.values()):
            if not member.link.closing:
                self.outbox.send_reliable(member.link, joined, tag)
        room.members[me.slot] = me
        if cls == DeliveryClass.STAGE:
            room.stage[me.slot] = me
            self._tell_roster(me)
        else:
            room.audience[me.slot] = me

    def _tell_roster(self, me: Membership) -> None:
        """A stage member learns every other occupied slot (spec §17.2)."""
        tag = me.room.tag
        for slot in sorted(me.room.members):
            if slot != me.slot:
                self.outbox.send_reliable(
                    me.link, encode_envelope(EnvelopeType.PEER_JOINED, tag, slot), tag
                )

    def _leave(self, me: Membership) -> None:
        """Remove one membership, free its slot, notify the stage (spec §17.1)."""
        room = me.room
        link = me.link
        del link.rooms[room.tag]
        del room.members[me.slot]
        room.stage.pop(me.slot, None)
        room.audience.pop(me.slot, None)
        room.release_slot(me.slot)
        left = encode_envelope(EnvelopeType.PEER_LEFT, room.tag, me.slot)
        for member in list(room.stage.values()):
            if not member.link.closing:
                self.outbox.send_reliable(member.link, left, room.tag)
        if not room.members:
            del self.rooms[room.tag]
            self.stats.rooms_open -= 1

    def _set_class(self, link: Link, env: Envelope) -> None:
        """SET_CLASS: move between stage and audience delivery (spec §17.2)."""
        me = self._membership(link, env)
        if me is None:
            return
        cls = DeliveryClass(env.payload[0])
        if cls != me.cls:
            self._move_class(me, cls)

    def _move_class(self, me: Membership, cls: DeliveryClass) -> None:
        """Move ``me`` to delivery class ``cls``; on the stage it learns the roster (§17.2)."""
        room = me.room
        me.cls = cls
        if cls == DeliveryClass.STAGE:
            del room.audience[me.slot]
            room.stage[me.slot] = me
            self._tell_roster(me)
        else:
            del room.stage[me.slot]
            room.audience[me.slot] = me
