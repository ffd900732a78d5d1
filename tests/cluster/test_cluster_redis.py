"""Three nodes in one process over a real Redis: the engine keeps one order per room (§24.4).

Real sockets and real time: every wait is for a condition, with a deadline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
import trio

from e2ee.envelope import DeliveryClass, Envelope, EnvelopeType, RelayErrorCode
from relay.cluster.node import ClusterRouter
from relay.cluster.redis_engine import RedisEngine, RedisSettings
from relay.config import RelayConfig
from relay.router import Link

from .redis_server import needs_redis, redis_server
from .scaffold import TAG, Outbox, kinds

pytestmark = needs_redis
T = EnvelopeType
FAST = RedisSettings(node_ttl=0.6, heartbeat=0.1, read_block=0.02)


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


class Node:
    def __init__(self, url: str, i: int, settings: RedisSettings, config: RelayConfig) -> None:
        self.outbox = Outbox()
        node_id = b"%016x" % (i + 1)
        self.engine = RedisEngine(url, node_id, config.max_payload, settings)
        self.router = ClusterRouter(config, self.outbox, self.engine, node_id)
        self.scope = trio.CancelScope()

    async def run(self) -> None:
        with self.scope:
            await self.engine.run(self.router)

    def link(self) -> Link:
        return self.router.open_link(trio.current_time())

    def send(self, link: Link, etype: EnvelopeType, slot: int = 0, payload: bytes = b"") -> None:
        self.router.receive(link, [Envelope(etype, TAG, slot, payload)], trio.current_time())

    def got(self, link: Link) -> list[tuple[str, Envelope]]:
        return self.outbox.got.setdefault(link, [])


@asynccontextmanager
async def cluster(
    url: str, n: int = 3, settings: RedisSettings = FAST, config: RelayConfig | None = None
) -> AsyncIterator[list[Node]]:
    nodes = [Node(url, i, settings, config or RelayConfig()) for i in range(n)]
    async with trio.open_nursery() as nursery:
        for node in nodes:
            nursery.start_soon(node.run)
        with trio.fail_after(10):
            for node in nodes:
                await node.engine.connected.wait()
        yield nodes
        nursery.cancel_scope.cancel()


async def until(cond: Callable[[], object], timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while not cond():
            await trio.sleep(0.005)


async def join(node: Node, cls: DeliveryClass = DeliveryClass.STAGE) -> Link:
    link = node.link()
    node.send(link, T.JOIN, 0, bytes((cls,)))
    await until(lambda: TAG in link.rooms)
    return link


async def test_members_on_three_nodes_share_one_order_and_unique_slots(redis_url: str) -> None:
    async with cluster(redis_url) as nodes:
        links = [await join(nodes[i]) for i in range(3)]
        assert [link.rooms[TAG].slot for link in links] == [0, 1, 2]
        for i, link in enumerate(links):
            nodes[i].got(link).clear()
        # every node writes at once; every member sees the same interleaving
        for n in range(20):
            for i, link in enumerate(links):
                nodes[i].send(link, T.CONTROL, 0, b"%d/%d" % (i, n))
        await until(lambda: all(len(nodes[i].got(link)) == 60 for i, link in enumerate(links)))
        orders = [[e.payload for _, e in nodes[i].got(link)] for i, link in enumerate(links)]
        # one order for everybody, each sender's own broadcasts (echoes) included (§17.3)
        assert orders[0] == orders[1] == orders[2]
        assert sorted(orders[0]) == sorted(b"%d/%d" % (i, n) for i in range(3) for n in range(20))
        for i, order in enumerate(orders):
            assert [e.slot for _, e in nodes[i].got(links[i])] == [
                int(p.split(b"/")[0]) for p in order
            ]


async def test_unicast_media_and_peer_left_cross_nodes(redis_url: str) -> None:
    async with cluster(redis_url) as nodes:
        a = await join(nodes[0])
        b = await join(nodes[1])
        listener = await join(nodes[2], DeliveryClass.AUDIENCE)
        await until(lambda: kinds(nodes[0].got(a))[-1:] == [(T.PEER_JOINED, 2)])
        nodes[0].send(a, T.UNICAST, 1, b"for b")
        await until(lambda: (T.UNICAST, 0) in kinds(nodes[1].got(b)))
        nodes[1].send(b, T.MEDIA, 0, b"opus")
        await until(lambda: ("media", 1) in [(k, e.slot) for k, e in nodes[0].got(a)])
        await until(lambda: ("batch", 1) in [(k, e.slot) for k, e in nodes[2].got(listener)])
        nodes[2].router.close_link(listener)
        await until(lambda: (T.PEER_LEFT, 2) in kinds(nodes[0].got(a)))
        await until(lambda: (T.PEER_LEFT, 2) in kinds(nodes[1].got(b)))


async def test_a_room_full_across_nodes_refuses_the_next_join(redis_url: str) -> None:
    async with cluster(redis_url, config=RelayConfig(max_members_per_room=2)) as nodes:
        await join(nodes[0])
        await join(nodes[1])
        late = nodes[2].link()
        nodes[2].send(late, T.JOIN, 0, bytes((DeliveryClass.STAGE,)))
        await until(lambda: any(e.type is T.ERROR for _, e in nodes[2].got(late)))
        assert TAG not in late.rooms


async def test_a_dead_nodes_members_leave_after_its_ttl(redis_url: str) -> None:
    async with cluster(redis_url) as nodes:
        a = await join(nodes[0])
        await join(nodes[1])
        await join(nodes[2])
        nodes[2].scope.cancel()  # the node stops: no heartbeat, no LEAVE
        start = trio.current_time()
        await until(lambda: (T.PEER_LEFT, 2) in kinds(nodes[0].got(a)))
        assert trio.current_time() - start >= FAST.node_ttl * 0.9
        assert sorted(nodes[0].router.seats(TAG)) == [0, 1]


async def test_a_node_too_far_behind_the_trimmed_order_closes_its_links(redis_url: str) -> None:
    tiny = RedisSettings(node_ttl=0.6, heartbeat=0.1, read_block=0.02, maxlen=5, read_count=1)
    async with cluster(redis_url, n=2, settings=tiny) as nodes:
        a = await join(nodes[0])
        b = await join(nodes[1])
        # node 1 reads one record per XREAD; node 0 writes far more than the stream keeps
        for n in range(2000):
            nodes[0].send(a, T.CONTROL, 0, b"%d" % n)
        await until(lambda: nodes[1].outbox.closed.get(b) == RelayErrorCode.SHUTTING_DOWN)
        assert nodes[1].engine.stats.gaps >= 1
        assert TAG not in b.rooms


async def test_the_engine_restarted_nodes_close_their_links_and_connect_again() -> None:
    from .redis_server import free_port

    port = free_port()
    with redis_server(port) as (url, proc):
        async with cluster(url, n=2) as nodes:
            a = await join(nodes[0])
            proc.kill()
            proc.wait()
            await until(lambda: nodes[0].outbox.closed.get(a) == RelayErrorCode.SHUTTING_DOWN)
            with redis_server(port):
                for node in nodes:  # both noticed, and are back
                    await until(lambda n=node: n.engine.stats.lost and n.engine.connected.is_set())
                # the rooms start again: a new link joins at slot 0
                again = await join(nodes[1])
                assert again.rooms[TAG].slot == 0


async def test_a_record_no_node_writes_makes_the_nodes_start_again_not_crash(
    redis_url: str,
) -> None:
    import coredis

    from relay.cluster.redis_engine import room_prefix

    async with cluster(redis_url, n=2) as nodes:
        a = await join(nodes[0])
        b = await join(nodes[1])
        async with coredis.Redis.from_url(redis_url) as r:
            await r.xadd(room_prefix(TAG) + ":log", {"q": b"3", "t": b"C", "s": b"x" * 30})
        await until(lambda: nodes[0].outbox.closed.get(a) == RelayErrorCode.SHUTTING_DOWN)
        await until(lambda: nodes[1].outbox.closed.get(b) == RelayErrorCode.SHUTTING_DOWN)
        for node in nodes:  # and they are back
            await until(lambda n=node: n.engine.connected.is_set())
        assert TAG in (await join(nodes[1])).rooms


async def test_nodes_reach_an_engine_over_tls_with_a_password() -> None:
    with redis_server(tls_and_password="s3cret-for-this-test") as (url, _):
        assert url.startswith("rediss://")
        async with cluster(url, n=2) as nodes:
            a = await join(nodes[0])
            b = await join(nodes[1])
            nodes[1].send(b, T.CONTROL, 0, b"over tls")
            await until(lambda: (T.CONTROL, 1) in kinds(nodes[0].got(a)))
