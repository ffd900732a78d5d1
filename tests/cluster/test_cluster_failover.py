"""Room clients on a cluster: SIGKILL the node they are on, they resume through another.

The invite names the cluster's nodes (spec §6.2, one pin for all); the
clients fail over in the invite's order (§6.2.1) and the room, which lives
in the engine (§24), does not split: a listener that stayed on another node
hears the speaker again.  Real node processes, real TLS, real time.
"""

from __future__ import annotations

import secrets
import signal

import pytest
import trio

from client.actions import Action
from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.backoff import Backoff
from client.relay_connect import parse_invite
from client.room_client import ClientConfig, RoomClient
from e2ee.identity import IdentityKey
from e2ee.invite import Invite

from .redis_server import needs_redis
from .test_cluster_processes import Nodes

pytestmark = needs_redis


def invite_in_order(room: Invite, ports: list[int]) -> str:
    """The same room's invite naming the nodes in another order of preference."""
    (first, *rest) = [("127.0.0.1", port) for port in ports]
    return Invite(
        *first, room.room_secret, room.relay_pin, room.founder_identity, None, tuple(rest)
    ).to_link()


async def _kill_the_speakers_node(nodes: Nodes, timeout: float) -> float:
    """Mod and speaker on node 0, a listener on node 1; SIGKILL node 0.

    Returns the seconds from the kill until the listener hears the speaker again.
    """
    founder = IdentityKey.generate(secrets.token_bytes)
    room = Invite.create(
        "127.0.0.1", nodes.ports[0], nodes.pin, founder.public, secrets.token_bytes
    )
    on_node0 = invite_in_order(room, nodes.ports)
    on_node1 = invite_in_order(room, [nodes.ports[1], nodes.ports[2], nodes.ports[0]])
    assert parse_invite(on_node0).secrets() == parse_invite(on_node1).secrets()
    async with trio.open_nursery() as nursery:

        async def start(config: ClientConfig) -> RoomClient:
            backoff = Backoff(uniform=lambda: secrets.randbelow(1000) / 1000, cap=1.0)
            client = RoomClient(config, backoff=backoff)
            await nursery.start(client.run)
            return client

        mod = await start(ClientConfig(on_node0, founder, "Mod", create=True))
        speaker = await start(
            ClientConfig(
                on_node0,
                IdentityKey.generate(secrets.token_bytes),
                "Spk",
                source=PcmSource(speech_like(30.0, seed=8)),
                auto_accept=True,
            )
        )
        listener = await start(
            ClientConfig(
                on_node1, IdentityKey.generate(secrets.token_bytes), "Lis", listen_only=True
            )
        )
        with trio.fail_after(30):
            await mod.wait_until(lambda: mod.view.find("Spk") is not None)
            mod.perform(Action("invite", target="Spk"))
            await listener.wait_until(lambda: listener.frames_from("Spk") >= 10)
        heard = listener.frames_from("Spk")
        nodes.procs[0].send_signal(signal.SIGKILL)
        killed = trio.current_time()
        with trio.fail_after(timeout):
            for c in (mod, speaker):
                await c.wait_until(
                    lambda c=c: c.session.reconnects >= 1 and c.view.connection == "connected"
                )
            await listener.wait_until(lambda: listener.frames_from("Spk") >= heard + 25)
        resumed = trio.current_time() - killed
        assert listener.session.reconnects == 0  # its node stayed up: the room did not split
        nursery.cancel_scope.cancel()
    return resumed


async def test_a_killed_nodes_room_clients_resume_through_another_node(nodes: Nodes) -> None:
    await _kill_the_speakers_node(nodes, timeout=30)


@pytest.mark.load
async def test_a_killed_nodes_room_clients_resume_within_5_s(nodes: Nodes) -> None:
    resumed = await _kill_the_speakers_node(nodes, timeout=30)
    print(f"speaker heard again {resumed:.2f} s after its node was killed")
    assert resumed < 5.0, resumed
