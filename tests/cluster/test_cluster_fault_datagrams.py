"""The datagram media path after a failover: the channel moves to the new node (spec §23, §24.6).

A speaker whose audio rides the datagram channel (§23) is on a node that is
killed.  Its client reconnects to the invite's next address (§6.2.1); the
new link offers a channel again, gets the new node's UDP port, key and
token (§23.2), and the audio goes by datagram again — through the new node,
across the engine, to a moderator on a third node that receives it by
datagram too.  Real node processes with ``--udp-port 0``, real TLS and UDP,
real time; every wait is for a condition, with a deadline as a hang guard.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from client.actions import Action
from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.backoff import Backoff
from client.room_client import ClientConfig, RoomClient
from e2ee.datagram_path import PathState
from e2ee.identity import IdentityKey
from e2ee.invite import Invite

from .redis_server import needs_redis, redis_server
from .test_cluster_processes import Nodes

pytestmark = needs_redis
#: node 1 has another address: a channel kept on the first node's host would miss it
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.1")


@pytest.fixture
def udp_nodes(tmp_path: Path) -> Iterator[Nodes]:
    """Three nodes, each with a datagram endpoint on a free UDP port; node 1 on 127.0.0.2."""
    with redis_server() as (url, _):
        cluster = Nodes(url, tmp_path / "relay")
        try:
            for host in HOSTS:
                cluster.start("--listen", f"{host}:0", "--udp-port", "0")
            yield cluster
        finally:
            cluster.stop()


def invite_in_order(room: Invite, nodes: Nodes, order: list[int]) -> str:
    """The room's invite naming the nodes in this order of preference (spec §6.2)."""
    (first, *rest) = [(HOSTS[i], nodes.ports[i]) for i in order]
    return Invite(
        *first, room.room_secret, room.relay_pin, room.founder_identity, None, tuple(rest)
    ).to_link()


async def until(cond: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``cond`` (datagram counters notify nobody); the timeout only guards a hang."""
    with trio.move_on_after(timeout):
        while not cond():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"not within {timeout} s: {what}")


def by_datagram(client: RoomClient, what: str) -> int:
    """``sent_media`` or ``received_media`` on the client's current link's channel."""
    media = client.session.datagrams
    return media.counts[what] if media is not None else 0


def path_up(client: RoomClient) -> bool:
    media = client.session.datagrams
    return media is not None and media.state is PathState.UP


async def test_a_failed_over_speakers_audio_rides_the_new_nodes_datagram_channel(
    udp_nodes: Nodes,
) -> None:
    nodes = udp_nodes
    founder = IdentityKey.generate(secrets.token_bytes)
    room = Invite.create(
        "127.0.0.1", nodes.ports[0], nodes.pin, founder.public, secrets.token_bytes
    )
    async with trio.open_nursery() as nursery:

        async def start(config: ClientConfig) -> RoomClient:
            backoff = Backoff(uniform=lambda: secrets.randbelow(1000) / 1000, cap=1.0)
            client = RoomClient(config, backoff=backoff)
            await nursery.start(client.run)
            return client

        def someone() -> IdentityKey:
            return IdentityKey.generate(secrets.token_bytes)

        on_node = {i: invite_in_order(room, nodes, [i, (i + 1) % 3, (i + 2) % 3]) for i in range(3)}
        mod = await start(ClientConfig(on_node[2], founder, "Mod", create=True, datagrams=True))
        speech = PcmSource(speech_like(20.0, seed=9))
        speaker = await start(
            ClientConfig(
                on_node[0], someone(), "Spk", source=speech, auto_accept=True, datagrams=True
            )
        )
        listener = await start(ClientConfig(on_node[1], someone(), "Lis", listen_only=True))
        await until(lambda: mod.view.find("Spk") is not None, "the speaker is in the room")
        mod.perform(Action("invite", target="Spk"))
        # before: node 0 takes the speaker's datagrams, node 2 gives them to Mod by datagram
        await until(
            lambda: path_up(speaker) and by_datagram(speaker, "sent_media") >= 25,
            "the speaker's audio goes by datagram to node 0",
        )
        await until(lambda: by_datagram(mod, "received_media") >= 25, "Mod gets it by datagram")
        old_channel = speaker.session.datagrams
        nodes.procs[0].send_signal(signal.SIGKILL)
        await until(lambda: speaker.session.reconnects >= 1, "the speaker reconnects")
        # after: a new channel, granted by node 1 on the new link, UP, carrying the audio
        await until(
            lambda: path_up(speaker) and speaker.session.datagrams is not old_channel,
            "the speaker's new channel (node 1) is UP",
        )
        new_channel = speaker.session.datagrams
        received = by_datagram(mod, "received_media")
        await until(lambda: by_datagram(speaker, "sent_media") >= 50, "audio by the new channel")
        await until(
            lambda: by_datagram(mod, "received_media") >= received + 50,
            "Mod gets it by datagram again, through node 1 and the engine",
        )
        assert speaker.session.datagrams is new_channel  # no fall back, no second failover
        heard = listener.frames_from("Spk")
        await until(lambda: listener.frames_from("Spk") >= heard + 25, "the listener hears it")
        assert mod.session.reconnects == 0 and listener.session.reconnects == 0
        nursery.cancel_scope.cancel()
