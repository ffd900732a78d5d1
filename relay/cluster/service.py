"""``hushroom relay --cluster URL``: make a relay server a node of a cluster (spec §24).

The server keeps its I/O; only its router changes, to a
:class:`~relay.cluster.node.ClusterRouter` over a
:class:`~relay.cluster.redis_engine.RedisEngine` whose tasks run beside it.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

import trio

from relay.cluster.node import ClusterRouter
from relay.cluster.records import NODE_ID_LEN
from relay.cluster.redis_engine import RedisEngine, RedisSettings
from relay.errors import RelaySetupError
from relay.server import RelayServer

SCHEMES = ("redis", "rediss")


def engine_address(url: str) -> str:
    """``HOST:PORT`` of an engine URL, for messages: never its user name or password."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise RelaySetupError("--cluster takes redis://HOST:PORT or rediss://HOST:PORT")
    return f"{parts.hostname}:{parts.port or 6379}"


def new_node_id() -> bytes:
    """A fresh random node identifier (spec §24.3): it names nothing but this process."""
    return secrets.token_hex(NODE_ID_LEN // 2).encode()


def make_node(server: RelayServer, url: str, settings: RedisSettings | None = None) -> RedisEngine:
    """Give ``server`` a cluster router over the engine at ``url``; run the engine's tasks."""
    engine_address(url)
    # coredis logs commands and their arguments when verbose: never any of ours (spec §24.5)
    logging.getLogger("coredis").setLevel(logging.WARNING)
    node_id = new_node_id()
    engine = RedisEngine(url, node_id, server.config.max_payload, settings)
    server.router = ClusterRouter(server.config, server, engine, node_id, server.stats)
    return engine


async def run_node(
    engine: RedisEngine,
    router: ClusterRouter,
    connect_timeout: float = 5.0,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the engine; ``started`` once it is reachable (or fail clearly at start-up)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run, router)
        with trio.move_on_after(connect_timeout):
            await engine.connected.wait()
        if not engine.connected.is_set():
            where = engine_address(engine.url)
            raise RelaySetupError(f"cannot reach the cluster engine at {where}")
        task_status.started()
