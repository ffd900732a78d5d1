"""A stopped (SIGSTOP) node does not slow the others; what it finds when it resumes (§24.6).

A room spans three node processes: a speaker on node 0 sends 50 MEDIA a
second, a listener on node 1 and one on node 2 receive them.  Node 2 is
stopped.  The listener on node 1 keeps receiving every frame, and a CONTROL
sent meanwhile, on time: no node waits for another (each writes to the
engine and reads from it at its own pace).  When node 2 resumes:

* stopped for less than ``node_ttl``, it catches up: its listener keeps its
  link and receives every frame sent meanwhile (late, from the socket and
  the engine's buffer for its MEDIA subscription);
* stopped for longer, the others took it for dead and freed its seats
  (Left): when it reads them it closes its links with SHUTTING_DOWN, and the
  clients reconnect and rejoin (spec §16.4).

And what the engine holds for a stopped node is bounded: Redis closes a
subscriber whose output buffer passes ``client-output-buffer-limit pubsub``,
dropping the MEDIA in it (MEDIA is never stored, §24.1), and the node's
subscription comes back by itself when it resumes.

Real processes, real signals, real time; the latency bound is generous (a
hang guard on a shared machine, not a figure), the ordering facts are exact.
"""

from __future__ import annotations

import signal
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import coredis
import trio
from coredis.tokens import PureToken

from client.link import RelayClosed
from e2ee.envelope import DeliveryClass, EnvelopeType, RelayErrorCode
from relay.cluster.redis_engine import RedisSettings, room_prefix

from .redis_server import needs_redis
from .test_cluster_processes import TAG, Client, Nodes, join

pytestmark = needs_redis
T = EnvelopeType
FRAME = 0.02
#: far above the cross-node hop on a loaded 2-core machine (tens of ms), far below the stop
LATE = 1.0
NODE_TTL = RedisSettings().node_ttl
DURING = b"sent while node 2 was stopped"


@dataclass
class Heard:
    """What one listener received from the speaker: frame number -> arrival time, and
    CONTROL payload -> arrival time."""

    at: dict[int, float] = field(default_factory=dict)
    controls: dict[bytes, float] = field(default_factory=dict)
    closed: RelayClosed | None = None


async def listen(client: Client, speaker: int, heard: Heard) -> None:
    """Record the speaker's MEDIA and CONTROL until the link ends."""
    try:
        while True:
            for env in await client.link.receive():
                if env.type is T.MEDIA and env.slot == speaker:
                    heard.at.setdefault(
                        struct.unpack_from(">I", env.payload)[0], trio.current_time()
                    )
                elif env.type is T.CONTROL and env.slot == speaker:
                    heard.controls[env.payload] = trio.current_time()
    except RelayClosed as exc:
        heard.closed = exc


async def speak(client: Client, frames: range, sent: dict[int, float]) -> None:
    """One MEDIA every 20 ms on the clock, numbered (60 bytes, an Opus frame's size)."""
    start = trio.current_time() - frames.start * FRAME
    for n in frames:
        await trio.sleep_until(start + n * FRAME)
        sent[n] = trio.current_time()
        await client.link.send_envelope(T.MEDIA, TAG, 0, struct.pack(">I", n) + bytes(56))


async def until(cond: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    with trio.move_on_after(timeout):
        while not cond():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"not within {timeout} s: {what}")


async def _stop_node_2(nodes: Nodes, stopped: float) -> tuple[Heard, Heard, dict[int, float]]:
    """Speak 1 s, SIGSTOP node 2 for ``stopped`` s, SIGCONT, speak 1 s more, until all is heard.

    Returns what the listeners on node 1 and node 2 heard and when each frame was sent.
    """
    speaker = await join(nodes, 0)
    near = await join(nodes, 1, DeliveryClass.AUDIENCE)
    far = await join(nodes, 2, DeliveryClass.AUDIENCE)
    sent: dict[int, float] = {}
    near_heard, far_heard = Heard(), Heard()
    before, during = int(1 / FRAME), int(stopped / FRAME)
    total = before + during + before
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen, near, speaker.slot, near_heard)
        nursery.start_soon(listen, far, speaker.slot, far_heard)
        await speak(speaker, range(before), sent)
        nodes.procs[2].send_signal(signal.SIGSTOP)
        try:
            # the room's one order does not wait for node 2 either (spec §24.3)
            ordered = trio.current_time()
            await speaker.link.send_envelope(T.CONTROL, TAG, 0, DURING)
            await speak(speaker, range(before, before + during), sent)
            assert near_heard.controls[DURING] - ordered < LATE
        finally:
            nodes.procs[2].send_signal(signal.SIGCONT)
        await speak(speaker, range(before + during, total), sent)
        await until(lambda: len(near_heard.at) == total, "node 1's listener heard every frame")
        if stopped < NODE_TTL:
            await until(lambda: len(far_heard.at) == total, "node 2's listener caught up")
            await until(lambda: DURING in far_heard.controls, "and got the CONTROL of the stop")
        else:
            await until(lambda: far_heard.closed is not None, "node 2 closed its listener's link")
        nursery.cancel_scope.cancel()
    return near_heard, far_heard, sent


def assert_on_time(heard: Heard, sent: dict[int, float]) -> float:
    """Every frame heard, each within LATE of being sent; returns the worst delay."""
    assert sorted(heard.at) == sorted(sent)
    worst = max(heard.at[n] - sent[n] for n in sent)
    assert worst < LATE, worst
    return worst


async def test_a_node_stopped_past_its_ttl_slows_nobody_and_its_clients_reconnect(
    nodes: Nodes,
) -> None:
    near, far, sent = await _stop_node_2(nodes, stopped=NODE_TTL + 1.0)
    worst = assert_on_time(near, sent)
    print(f"node 2 stopped {NODE_TTL + 1.0:.0f} s: worst delay on node 1 {worst * 1000:.0f} ms")
    # node 2's seat was freed while it was stopped: its listener is told to reconnect
    assert far.closed is not None and far.closed.code == RelayErrorCode.SHUTTING_DOWN
    # node 2 serves the room again: a client that rejoins there hears the speaker, and only
    # what was sent after it joined (nothing queued for the room while node 2 had left it)
    speaker = await join(nodes, 0)
    again = await join(nodes, 2, DeliveryClass.AUDIENCE)
    heard, sent_again = Heard(), dict[int, float]()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen, again, speaker.slot, heard)
        await speak(speaker, range(1000, 1025), sent_again)
        await until(lambda: 1024 in heard.at, "the rejoined listener hears the speaker")
        nursery.cancel_scope.cancel()
    assert sorted(heard.at) == list(range(1000, 1025))


async def test_a_node_stopped_within_its_ttl_catches_up(nodes: Nodes) -> None:
    near, far, sent = await _stop_node_2(nodes, stopped=NODE_TTL / 2)
    worst = assert_on_time(near, sent)
    print(f"node 2 stopped {NODE_TTL / 2:.1f} s: worst delay on node 1 {worst * 1000:.0f} ms")
    assert far.closed is None and sorted(far.at) == sorted(sent)  # none lost
    first_stopped = int(1 / FRAME)  # sent just after the SIGSTOP: heard after the SIGCONT
    assert far.at[first_stopped] - sent[first_stopped] >= NODE_TTL / 2 * 0.8


async def test_the_engine_drops_a_stopped_nodes_media_beyond_its_buffer_limit(
    nodes: Nodes,
) -> None:
    """Redis bounds what it holds for a stopped subscriber; the node recovers by itself."""
    speaker = await join(nodes, 0)
    listener = await join(nodes, 2, DeliveryClass.AUDIENCE)
    # a room only node 2 follows: what is published on its channel reaches node 2 alone
    other = bytes(range(16, 32))
    await listener.link.send_envelope(T.JOIN, other, 0, bytes((DeliveryClass.AUDIENCE,)))
    await listener.wait_for(lambda e: e.type is T.WELCOME and e.room_tag == other)
    async with coredis.Redis.from_url(nodes.url) as r:
        await r.config_set({"client-output-buffer-limit": "pubsub 1mb 256kb 1"})
        subscribers = len(await r.client_list(type_=PureToken.PUBSUB))
        nodes.procs[2].send_signal(signal.SIGSTOP)
        stopped = trio.current_time()
        worst = 0  # the largest output buffer Redis held for any subscriber
        try:
            # 8 MB for node 2: past what the sockets hold (a few MB), and past the 1 MB limit
            channel = room_prefix(other) + ":m"
            for _ in range(64):
                async with r.pipeline(transaction=False) as pipe:
                    for _ in range(128):
                        pipe.publish(channel, b"\xff" * 1000)
                clients = await r.client_list(type_=PureToken.PUBSUB)
                worst = max([worst, *(int(c["omem"]) for c in clients)])
            with trio.fail_after(10):  # Redis closes the stopped node's subscription
                while len(await r.client_list(type_=PureToken.PUBSUB)) != subscribers - 1:
                    await trio.sleep(0.02)
        finally:
            nodes.procs[2].send_signal(signal.SIGCONT)
            stopped = trio.current_time() - stopped
    assert stopped < NODE_TTL, stopped  # else its seats were freed: the other test's case
    print(f"the largest subscriber output buffer Redis held: {worst} bytes")
    assert 0 < worst <= 1024 * 1024 + 64 * 1024, worst  # the limit, and one batch of writes
    # the node's subscription comes back by itself: its listener hears the speaker again
    heard, sent = Heard(), dict[int, float]()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen, listener, speaker.slot, heard)
        await speak(speaker, range(50), sent)
        await until(lambda: len(heard.at) >= 25, "node 2's listener hears the speaker again")
        nursery.cancel_scope.cancel()
    assert heard.closed is None
