"""The Redis engine (spec §24.4): a Stream per room for its one order, pub/sub for MEDIA.

:class:`RedisEngine` implements :class:`~relay.cluster.engine.Engine` for one
node.  Its calls only queue: :meth:`RedisEngine.run` does the I/O with four
connections — one writes the node's operations in their order (pipelined,
each an atomic script from :mod:`relay.cluster.redis_scripts`), one reads the
followed rooms' streams with a blocking XREAD, one publishes MEDIA and one
receives it (both bare RESP, :mod:`relay.cluster.redis_media`, so that MEDIA
never waits for a round trip or for a turn of the event loop per message) —
plus a heartbeat that keeps the node alive and frees the seats of dead nodes.

If the engine becomes unreachable, the node cannot keep its rooms in one
order: it closes every link in a room (they reconnect and rejoin, spec
§16.4), forgets the rooms and connects again (spec §24.6).
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import coredis
import coredis.exceptions
import trio

from e2ee.envelope import DeliveryClass
from e2ee.errors import HushroomError, RemoteProtocolError
from relay.cluster import redis_media, redis_scripts, resp
from relay.cluster.engine import ClusterSink
from relay.cluster.records import (
    MEDIA_HEADER_LEN,
    NODE_ID_LEN,
    Control,
    Media,
    Seat,
    Unicast,
    decode_media,
    encode_media,
    field_int,
    record_fields,
    record_from_fields,
)

log = logging.getLogger("hushroom.relay.cluster")


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """The Redis engine's bounds and timings (spec §24.4)."""

    #: records kept per room stream (trimmed with ``MAXLEN ~``: at least this many)
    maxlen: int = 10_000
    #: seconds an emptied room's stream and counter stay before Redis deletes them
    linger: float = 600.0
    #: seconds after its last heartbeat when a node counts as dead
    node_ttl: float = 3.0
    heartbeat: float = 1.0
    #: how long one XREAD blocks; also the longest wait before a new room is read
    read_block: float = 0.05
    #: operations queued for the engine; one more and the engine counts as lost
    max_ops: int = 65_536
    #: MEDIA queued for publishing; beyond it the oldest is dropped
    max_media: int = 4_096
    #: operations per round trip (pipelined), or MEDIA per write
    batch: int = 256
    #: records taken from the streams per XREAD
    read_count: int = 1_024


def room_prefix(tag: bytes) -> str:
    """The engine's name for a room: a hash of its tag, never the tag (spec §24.5)."""
    return "hr:" + hashlib.blake2b(tag, digest_size=16, person=b"hushroom cluster").hexdigest()


@dataclass(eq=False, slots=True)
class _Op:
    script: str
    prefix: str
    args: list[str | bytes | int]
    then: Callable[[Any], None] | None = None


@dataclass(eq=False, slots=True)
class _Follow:
    tag: bytes
    last_id: bytes
    last_seq: int


@dataclass
class EngineStats:
    """What went through the engine, for the bench and the logs (no identifiers)."""

    ops: int = 0
    records: int = 0
    media_out: int = 0
    media_in: int = 0
    media_dropped: int = 0
    gaps: int = 0
    lost: int = 0
    #: times the engine closed the MEDIA subscription and the node subscribed again
    resubscribed: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class EngineLost(HushroomError):
    """The engine is unreachable or too far behind; the node starts again (spec §24.6)."""


#: what ends a session with the engine: a lost connection (coredis and below), or this node
#: unable to keep up
ENGINE_LOSSES: tuple[type[Exception], ...] = (
    coredis.exceptions.RedisError,
    OSError,
    TimeoutError,
    trio.BrokenResourceError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    EngineLost,
    resp.RespError,
)


class RedisEngine:
    """One node's connection to the Redis engine (spec §24.4)."""

    def __init__(
        self,
        url: str,
        node_id: bytes,
        max_payload: int,
        settings: RedisSettings | None = None,
    ) -> None:
        if len(node_id) != NODE_ID_LEN:
            raise ValueError("node id length")
        self.url = url
        self.node_id = node_id
        self.settings = settings or RedisSettings()
        self.stats = EngineStats()
        self.connected = trio.Event()
        self._max_payload = max_payload
        self._sink: ClusterSink | None = None
        self._ops: deque[_Op] = deque()
        #: the MEDIA connections of the current session (spec §24.4)
        self._publisher: redis_media.EngineSocket | None = None
        self._follow: dict[str, _Follow] = {}
        self._channels: dict[bytes, str] = {}
        self._subscriptions: deque[tuple[bool, str]] = deque()
        self._ops_ready = trio.Event()
        self._follow_changed = trio.Event()
        self._channels_changed = trio.Event()
        self._overflow = False
        #: the engine's epoch this node's state belongs to (spec §24.6)
        self._epoch: bytes | None = None

    # -- the Engine operations (queue only) ------------------------------------------
    def _queue(self, op: _Op) -> None:
        if len(self._ops) >= self.settings.max_ops:
            self._overflow = True
        else:
            self._ops.append(op)
        self._ops_ready.set()

    def subscribe(self, sink: ClusterSink, tag: bytes) -> None:
        prefix = room_prefix(tag)
        # MEDIA first, so that the channel is open by the time the first WELCOME goes out
        self._channels[(prefix + ":m").encode()] = prefix
        self._subscriptions.append((True, prefix))
        self._channels_changed.set()
        self._queue(_Op("snapshot", prefix, [], lambda r: self._followed(tag, prefix, r)))

    def unsubscribe(self, sink: ClusterSink, tag: bytes) -> None:
        prefix = room_prefix(tag)
        self._follow.pop(prefix, None)
        self._channels.pop((prefix + ":m").encode(), None)
        self._subscriptions.append((False, prefix))
        self._channels_changed.set()

    def join(
        self, sink: ClusterSink, tag: bytes, key: int, cls: DeliveryClass, max_members: int
    ) -> None:
        args: list[str | bytes | int] = [self.node_id, key, int(cls), max_members, self._maxlen]

        def then(slot: Any) -> None:
            if int(slot) < 0 and self._sink is not None:
                self._sink.join_refused(tag, key)

        self._queue(_Op("join", room_prefix(tag), args, then))

    def leave(self, sink: ClusterSink, tag: bytes, slot: int) -> None:
        args: list[str | bytes | int] = [slot, self.node_id, self._maxlen, self._linger_ms]
        self._queue(_Op("leave", room_prefix(tag), args))

    def set_class(self, sink: ClusterSink, tag: bytes, slot: int, cls: DeliveryClass) -> None:
        args: list[str | bytes | int] = [slot, self.node_id, int(cls), self._maxlen]
        self._queue(_Op("set_class", room_prefix(tag), args))

    def append(self, tag: bytes, record: Control | Unicast) -> None:
        args: list[str | bytes | int] = [self._maxlen]
        for name, value in record_fields(record).items():
            args += [name, value]
        self._queue(_Op("append", room_prefix(tag), args))

    def publish(self, sink: ClusterSink, tag: bytes, record: Media) -> None:
        """PUBLISH now, from the caller's turn, unless earlier ones still wait (spec §24.4)."""
        out = self._publisher
        if out is None:
            self.stats.media_dropped += 1  # no session: MEDIA is at most once
            return
        channel = room_prefix(tag) + ":m"
        dropped = out.dropped
        out.write(resp.command(b"PUBLISH", channel, self.node_id + encode_media(record)))
        self.stats.media_dropped += out.dropped - dropped
        self.stats.media_out += 1

    @property
    def _maxlen(self) -> int:
        return self.settings.maxlen

    @property
    def _linger_ms(self) -> int:
        return int(self.settings.linger * 1000)

    # -- running -------------------------------------------------------------------------
    async def run(self, sink: ClusterSink) -> None:
        """Serve ``sink``'s node until cancelled, connecting again after each loss.

        The node's state is dropped once per loss, when a session that was
        connected ends; attempts that fail while the engine stays down drop
        nothing, so the JOINs that arrive meanwhile wait for it (spec §24.6)
        instead of their links being closed at every attempt.
        """
        self._sink = sink
        backoff = 0.1
        while True:
            try:
                await self._session(sink)
            except* ENGINE_LOSSES as group:
                # cancelled: coredis may fail to unsubscribe on a closed connection; nothing lost
                if trio.current_effective_deadline() != -math.inf:
                    if self.connected.is_set():
                        backoff = 0.1
                        self._lost(sink, type(group.exceptions[0]).__name__)
                    else:
                        backoff = min(backoff * 2, 2.0)
            await trio.sleep(backoff)

    def _lost(self, sink: ClusterSink, why: str) -> None:
        self.stats.lost += 1
        log.warning("cluster engine lost (%s): closing links in rooms", why)
        self._reset()
        sink.engine_lost()

    def _reset(self) -> None:
        self._ops.clear()
        self._follow.clear()
        self._channels.clear()
        self._subscriptions.clear()
        self._overflow = False
        self._epoch = None
        self.connected = trio.Event()

    async def _session(self, sink: ClusterSink) -> None:
        writer = coredis.Redis.from_url(self.url)
        reader = coredis.Redis.from_url(self.url)
        async with writer, reader:
            scripts = {
                "join": writer.register_script(redis_scripts.JOIN),
                "leave": writer.register_script(redis_scripts.LEAVE),
                "set_class": writer.register_script(redis_scripts.SET_CLASS),
                "append": writer.register_script(redis_scripts.APPEND),
                "snapshot": writer.register_script(redis_scripts.SNAPSHOT),
                "alive": writer.register_script(redis_scripts.ALIVE),
                "reap": writer.register_script(redis_scripts.REAP),
            }
            await self._heartbeat_once(scripts)
            publisher = await redis_media.connect(self.url, self.settings.max_media)
            try:
                async with trio.open_nursery() as nursery:
                    self._publisher = publisher
                    self.connected.set()
                    nursery.start_soon(self._write_ops, writer, scripts)
                    nursery.start_soon(publisher.run_writer, self.settings.batch)
                    nursery.start_soon(self._publish_replies, publisher)
                    nursery.start_soon(self._read_streams, reader, sink)
                    nursery.start_soon(self._subscription, sink)
                    nursery.start_soon(self._heartbeat, scripts)
            finally:
                self._publisher = None
                publisher.close()

    async def _subscription(self, sink: ClusterSink) -> None:
        """The MEDIA subscription, connected again whenever the engine closes it (spec §24.6).

        Redis closes a subscriber whose output buffer passes its
        ``client-output-buffer-limit pubsub`` (a node that stopped reading):
        MEDIA is never stored, so only what was in flight is lost; the node
        subscribes again to every room it follows and closes no link.  A
        subscriber that cannot connect again ends the session (the engine is
        gone).
        """
        while True:
            subscriber = await redis_media.connect(self.url, self.settings.max_ops)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(subscriber.run_writer, self.settings.batch)
                    draining: set[bytes] = set()
                    nursery.start_soon(self._subscribe_media, subscriber, draining)
                    nursery.start_soon(self._receive_media, subscriber, sink, draining)
            except* (OSError, resp.RespError):
                self.stats.resubscribed += 1
            finally:
                subscriber.close()

    async def _heartbeat_once(self, scripts: dict[str, Any]) -> None:
        ttl = int(self.settings.node_ttl * 1000)
        epoch = bytes(await scripts["alive"](args=[self.node_id, ttl, secrets.token_hex(8)]))
        if self._epoch is None:
            self._epoch = epoch
        elif epoch != self._epoch:
            raise EngineLost("the engine restarted empty")
        await scripts["reap"](args=[self._maxlen, self._linger_ms])

    async def _heartbeat(self, scripts: dict[str, Any]) -> None:
        while True:
            await trio.sleep(self.settings.heartbeat)
            await self._heartbeat_once(scripts)

    async def _write_ops(self, client: Any, scripts: dict[str, Any]) -> None:
        while True:
            await self._ops_ready.wait()
            self._ops_ready = trio.Event()
            while self._ops:
                if self._overflow:
                    raise EngineLost("too many operations queued for the engine")
                n = min(len(self._ops), self.settings.batch)
                batch = [self._ops.popleft() for _ in range(n)]
                async with client.pipeline(transaction=False) as pipe:
                    pending = [
                        scripts[op.script](keys=[op.prefix], args=op.args, client=pipe)
                        for op in batch
                    ]
                self.stats.ops += len(batch)
                for op, result in zip(batch, pending, strict=True):
                    value = await result
                    if op.then is not None:
                        op.then(value)

    def _followed(self, tag: bytes, prefix: str, reply: Any) -> None:
        """A SNAPSHOT came back: the seats, and where the room's order continues."""
        try:
            flat, last_id, last_seq = reply
            seats: dict[int, Seat] = {}
            for i in range(0, len(flat), 2):
                value = bytes(flat[i + 1])
                cls = DeliveryClass(int(value[NODE_ID_LEN:]))
                seats[int(flat[i])] = Seat(value[:NODE_ID_LEN], cls)
            follow = _Follow(tag, bytes(last_id), int(last_seq))
        except (TypeError, ValueError):
            raise EngineLost("a snapshot the nodes do not write") from None
        self._follow[prefix] = follow
        self._follow_changed.set()
        if self._sink is not None:
            self._sink.snapshot(tag, seats)

    async def _read_streams(self, client: Any, sink: ClusterSink) -> None:
        block = max(1, int(self.settings.read_block * 1000))
        while True:
            if not self._follow:
                await self._follow_changed.wait()
                self._follow_changed = trio.Event()
                continue
            asked = dict(self._follow)
            streams = {prefix + ":log": f.last_id for prefix, f in asked.items()}
            reply = await client.xread(streams, count=self.settings.read_count, block=block)
            for key, entries in (reply or {}).items():
                prefix = bytes(key).decode()[: -len(":log")]
                follow = asked[prefix]
                for entry in entries:
                    if self._follow.get(prefix) is not follow:
                        break  # unfollowed (or followed again from a new snapshot) meanwhile
                    self._apply(sink, follow, entry)

    def _apply(self, sink: ClusterSink, follow: _Follow, entry: Any) -> None:
        follow.last_id = bytes(entry.identifier)
        fields = {bytes(k): bytes(v) for k, v in entry.field_values.items()}
        try:
            seq = field_int(fields, b"q", 2**63)
            record = record_from_fields(fields, self._max_payload)
        except RemoteProtocolError:
            raise EngineLost("a record the nodes do not write") from None
        if seq != follow.last_seq + 1:
            # records were trimmed before this node read them: it cannot deliver the order
            self.stats.gaps += 1
            raise EngineLost("a room's order has a gap")
        follow.last_seq = seq
        self.stats.records += 1
        sink.ordered(follow.tag, record)

    async def _publish_replies(self, stream: redis_media.EngineSocket) -> None:
        """Read the publishes' replies (receiver counts); an error reply ends the session."""
        parser = resp.RespParser(64)
        while True:
            for reply in parser.feed(await stream.receive()):
                if not isinstance(reply, int):
                    raise EngineLost("a reply to PUBLISH the engine does not send")

    async def _subscribe_media(
        self, stream: redis_media.EngineSocket, draining: set[bytes]
    ) -> None:
        """Follow the rooms' MEDIA channels as rooms are followed and left.

        ``draining``: channels unsubscribed whose confirmation has not come back (spec §24.6).
        """
        subscribed = {channel.decode() for channel in self._channels}
        changes = [resp.command(b"SUBSCRIBE", channel) for channel in sorted(subscribed)]
        while True:
            while self._subscriptions:
                on, prefix = self._subscriptions.popleft()
                channel = prefix + ":m"
                if on and channel not in subscribed:
                    subscribed.add(channel)
                    changes.append(resp.command(b"SUBSCRIBE", channel))
                elif not on and channel in subscribed and channel.encode() not in self._channels:
                    subscribed.discard(channel)
                    draining.add(channel.encode())
                    changes.append(resp.command(b"UNSUBSCRIBE", channel))
            if changes:
                stream.write(b"".join(changes))
                changes = []
                if stream.dropped:
                    raise EngineLost("too many subscriptions queued for the engine")
            await self._channels_changed.wait()
            self._channels_changed = trio.Event()

    async def _receive_media(
        self, stream: redis_media.EngineSocket, sink: ClusterSink, draining: set[bytes]
    ) -> None:
        """Hand every MEDIA of one read to the node before reading again (spec §24.4).

        A read is at most 64 KiB, so the work of one turn stays bounded: each frame costs
        one send per local stage member and one append to the room's audience batch,
        which the flusher writes once per pass however many frames it holds (spec §17.3).
        """
        parser = resp.RespParser(NODE_ID_LEN + MEDIA_HEADER_LEN + self._max_payload)
        while True:
            data = await stream.receive()
            for reply in parser.feed(data):
                if not isinstance(reply, list) or len(reply) != 3:
                    raise EngineLost("a pub/sub message the engine does not send")
                kind, channel, body = reply
                if not isinstance(channel, bytes):
                    raise EngineLost("a pub/sub message the engine does not send")
                self._pubsub_message(sink, kind, channel, body, draining)

    def _pubsub_message(
        self, sink: ClusterSink, kind: object, channel: bytes, body: object, draining: set[bytes]
    ) -> None:
        """One item of the subscription's stream, in the order Redis sent them (spec §24.6).

        MEDIA of a channel this node unsubscribed from, up to Redis's
        confirmation, was published while the node still followed the room:
        it may have waited for seconds (a node stopped, then resumed) and its
        slots may have new members since, so it is dropped, never delivered
        to whoever joins the room next.  A confirmation of either kind ends
        that (after a reconnection the node subscribes again and the
        unsubscribe's confirmation never comes).
        """
        if kind in (b"subscribe", b"unsubscribe"):
            draining.discard(channel)
        elif kind == b"message" and isinstance(body, bytes):
            if channel not in draining:
                self._media_received(sink, channel, body)
        else:
            raise EngineLost("a pub/sub message the engine does not send")

    def _media_received(self, sink: ClusterSink, channel: bytes, data: bytes) -> None:
        room = self._channels.get(channel)
        follow = self._follow.get(room) if room is not None else None
        if follow is None or data[:NODE_ID_LEN] == self.node_id:
            return
        try:
            record = decode_media(data[NODE_ID_LEN:], self._max_payload)
        except HushroomError:
            return  # not what a node publishes: dropped like any bad MEDIA
        self.stats.media_in += 1
        sink.media(follow.tag, record)
