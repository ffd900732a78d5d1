"""Remote MEDIA in bulk (spec §24.4): a node takes every MEDIA one read brings, at once.

A node that took one pub/sub message per turn of its event loop fell behind
a room's speakers whenever a turn took longer than the interval between
their frames (thousands of links): the backlog grew without bound while the
CPU idled (issue 13, 5,000 listeners on three nodes); and a node that
published from a task of its own added a turn to every frame's hop.  These
tests put a burst of another node's MEDIA in the node's socket at once, then
count the turns of the event loop the node needs to deliver it; and check
that a local frame's PUBLISH leaves in the turn the frame arrived in.

Real Redis and real sockets; the test's own sockets block, so the node's
tasks cannot run while the test writes or waits, and every count is of
event-loop turns, never of time.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import coredis
import pytest
import trio

from e2ee.envelope import DeliveryClass, EnvelopeType
from relay.cluster.records import Media, encode_media
from relay.cluster.redis_engine import room_prefix
from relay.router import Link

from .redis_server import needs_redis, redis_server
from .scaffold import TAG
from .test_cluster_redis import Node, cluster, join, until

pytestmark = needs_redis
OTHER_NODE = b"f" * 16  # a node id no node of the test has
REMOTE_SLOT = 9
BURST = 300


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


def _publish_command(channel: bytes, data: bytes) -> bytes:
    parts = [b"PUBLISH", channel, data]
    return b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def _publish_burst_blocking(url: str, frames: list[bytes]) -> None:
    """Publish ``frames`` as another node would, then PING: when PONG is back, Redis has
    handled every PUBLISH (one connection is served in order) and written the messages."""
    parts = urlsplit(url)
    channel = (room_prefix(TAG) + ":m").encode()
    wire = b"".join(_publish_command(channel, OTHER_NODE + f) for f in frames)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(wire + b"*1\r\n$4\r\nPING\r\n")
        got = b""
        while not got.endswith(b"+PONG\r\n"):
            chunk = s.recv(65536)
            assert chunk, "redis closed the connection"
            got += chunk
    assert got.count(b":1\r\n") == len(frames)  # each PUBLISH reached one subscriber


def _frame(i: int) -> bytes:
    return encode_media(Media(REMOTE_SLOT, DeliveryClass.STAGE, False, b"frame %05d" % i))


def _media_from_remote(node: Node, link: Link, kind: str) -> list[bytes]:
    return [
        e.payload
        for k, e in node.outbox.got.get(link, [])
        if k == kind and e.type == EnvelopeType.MEDIA and e.slot == REMOTE_SLOT
    ]


async def _turns_until(cond: Callable[[], bool]) -> int:
    """Turns of the event loop (one checkpoint of this task each) until ``cond()``."""
    turns = 0
    with trio.fail_after(20):
        while not cond():
            await trio.lowlevel.checkpoint()
            turns += 1
    return turns


async def _subscribed(node: Node, url: str, stage: Link) -> None:
    """Wait until the node hears the room's channel (its SUBSCRIBE is not acknowledged)."""
    probe = coredis.Redis.from_url(url)
    async with probe:
        channel = room_prefix(TAG) + ":m"

        async def heard() -> bool:
            await probe.publish(channel, OTHER_NODE + _frame(99_999))
            await trio.sleep(0.01)
            return bool(_media_from_remote(node, stage, "media"))

        with trio.fail_after(10):
            while not await heard():
                pass
    node.outbox.got.clear()


async def test_a_burst_of_remote_media_is_delivered_in_a_few_turns_not_one_per_frame(
    redis_url: str,
) -> None:
    async with cluster(redis_url, n=1) as nodes:
        node = nodes[0]
        stage = await join(node)
        listener = await join(node, DeliveryClass.AUDIENCE)
        await _subscribed(node, redis_url, stage)
        frames = [_frame(i) for i in range(BURST)]
        media_in = node.engine.stats.media_in
        _publish_burst_blocking(redis_url, frames)
        turns = await _turns_until(lambda: len(_media_from_remote(node, stage, "media")) == BURST)
        # one read of the socket per turn, and all the MEDIA of a read handled in that turn:
        # 300 frames of ~60 bytes fill a few reads (2 turns here); one message per turn
        # (coredis pub/sub, before) needed 303
        assert turns <= 20, f"{turns} event-loop turns for {BURST} remote frames"
        await until(lambda: len(_media_from_remote(node, listener, "batch")) == BURST)
        expected = [b"frame %05d" % i for i in range(BURST)]
        assert _media_from_remote(node, stage, "media") == expected
        assert _media_from_remote(node, listener, "batch") == expected
        assert node.engine.stats.media_in == media_in + BURST


async def test_local_media_is_published_from_the_turn_it_arrived_in(redis_url: str) -> None:
    """No task hop between a frame's arrival and its PUBLISH: the bytes reach Redis while the
    event loop is still blocked in the test (a queue for a publisher task needs a turn)."""
    parts = urlsplit(redis_url)
    channel = (room_prefix(TAG) + ":m").encode()
    async with cluster(redis_url, n=1) as nodes:
        node = nodes[0]
        speaker = await join(node)
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as watcher:
            watcher.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel))
            got = b""
            while got.count(b"\r\n") < 6:  # the subscribe confirmation: *3 $9 subscribe $n ch :1
                got += watcher.recv(65536)
            node.send(speaker, EnvelopeType.MEDIA, 0, b"spoken now")
            got = b""
            while b"spoken now" not in got:  # blocking: the node's tasks cannot run meanwhile
                chunk = watcher.recv(65536)
                assert chunk, "redis closed the connection"
                got += chunk
        assert node.engine.stats.media_out == 1
