"""A node's MEDIA subscription through leaving, rejoining and a lost connection (§24.4, §24.6).

In-process nodes over a real Redis (the scaffold of test_cluster_redis): real
sockets and real time, every wait for a condition with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator

import coredis
import pytest
from coredis.tokens import PureToken

from e2ee.envelope import DeliveryClass, EnvelopeType, RelayErrorCode
from relay.cluster.records import Media, Seat, encode_media
from relay.cluster.redis_engine import RedisEngine, room_prefix
from relay.router import Link

from .redis_server import needs_redis, redis_server
from .scaffold import TAG
from .test_cluster_redis import Node, cluster, join, until

pytestmark = needs_redis
T = EnvelopeType


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


def media_from(node: Node, link: Link, payload: bytes) -> bool:
    return any(e.type is T.MEDIA and e.payload == payload for _, e in node.got(link))


async def test_a_node_that_left_a_room_and_rejoined_gets_its_media_again(redis_url: str) -> None:
    async with cluster(redis_url, n=2) as nodes:
        a = await join(nodes[0])
        b = await join(nodes[1], DeliveryClass.AUDIENCE)
        nodes[0].send(a, T.MEDIA, 0, b"first")
        await until(lambda: media_from(nodes[1], b, b"first"))
        nodes[1].router.close_link(b)  # node 1 follows no room: it unsubscribes
        again = await join(nodes[1], DeliveryClass.AUDIENCE)
        nodes[0].send(a, T.MEDIA, 0, b"second")
        await until(lambda: media_from(nodes[1], again, b"second"))


async def test_media_comes_back_after_redis_closed_the_subscriptions(redis_url: str) -> None:
    """What Redis does to a subscriber past ``client-output-buffer-limit pubsub``."""
    async with cluster(redis_url, n=2) as nodes:
        a = await join(nodes[0])
        b = await join(nodes[1], DeliveryClass.AUDIENCE)
        async with coredis.Redis.from_url(redis_url) as r:
            assert await r.client_kill(type_=PureToken.PUBSUB) == 2
        n = 0

        def sent_and_heard() -> bool:
            nonlocal n
            n += 1
            nodes[0].send(a, T.MEDIA, 0, b"after %d" % n)
            return any(e.type is T.MEDIA for _, e in nodes[1].got(b)[-5:])

        nodes[1].got(b).clear()
        await until(sent_and_heard)
        # no link was closed for it: MEDIA is never stored, only what was in flight is lost
        assert nodes[1].outbox.closed.get(b) != RelayErrorCode.SHUTTING_DOWN
        assert nodes[0].engine.stats.lost == nodes[1].engine.stats.lost == 0


class MediaSink:
    """The node side of an engine, recording the MEDIA it is given."""

    node_id = b"%016x" % 1

    def __init__(self) -> None:
        self.media_payloads: list[bytes] = []

    def snapshot(self, tag: bytes, seats: dict[int, Seat]) -> None:
        pass

    def media(self, tag: bytes, record: Media) -> None:
        self.media_payloads.append(record.payload)


def test_media_of_a_channel_being_unsubscribed_is_dropped_until_a_confirmation() -> None:
    """Stream order (§24.6): stale MEDIA, then the confirmation; after it, MEDIA is fresh."""
    sink = MediaSink()
    engine = RedisEngine("redis://127.0.0.1:1", sink.node_id, 1200)
    engine.subscribe(sink, TAG)  # type: ignore[arg-type]
    prefix = room_prefix(TAG)
    engine._followed(TAG, prefix, ([], b"0-0", 0))
    channel = (prefix + ":m").encode()

    def message(kind: bytes, payload: bytes = b"") -> tuple[bytes, bytes, object]:
        if kind != b"message":
            return kind, channel, 1  # a confirmation carries the count of subscriptions
        data = b"%016x" % 2 + encode_media(Media(0, DeliveryClass.STAGE, False, payload))
        return kind, channel, data

    draining = {channel}  # this node sent UNSUBSCRIBE, and follows the room again meanwhile
    for item in (
        message(b"message", b"stale"),
        message(b"unsubscribe"),
        message(b"message", b"new"),
    ):
        engine._pubsub_message(sink, *item, draining)  # type: ignore[arg-type]
    # after a reconnection the node subscribes again: that confirmation ends the drop too
    draining = {channel}
    for item in (
        message(b"message", b"lost"),
        message(b"subscribe"),
        message(b"message", b"again"),
    ):
        engine._pubsub_message(sink, *item, draining)  # type: ignore[arg-type]
    assert sink.media_payloads == [b"new", b"again"]
