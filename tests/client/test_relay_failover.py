"""An invite naming two relay addresses: the room moves to the second when the first dies.

Spec §6.2.1: the clients lose their links to the preferred relay, reconnect
with their back-off to the next address (same pinned key) and the room
resumes there through ``link_reset`` (§16.4): the same sessions, audio again.
Real TLS relays in this process, like the relay-restart test.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import trio

from client.actions import Action
from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.backoff import Backoff
from client.inproc_relay import start_relay
from client.relay_connect import new_invite
from client.room_client import ClientConfig, RoomClient
from e2ee.identity import IdentityKey


async def test_clients_fail_over_to_the_second_address_and_audio_resumes(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        first = await start_relay(nursery, state_dir=tmp_path)
        second = await start_relay(nursery, state_dir=tmp_path)  # same key: the same pin
        founder = IdentityKey.generate(secrets.token_bytes)
        invite = new_invite(
            first.host, first.port, first.pin_text, founder, ((second.host, second.port),)
        )

        async def start(config: ClientConfig) -> RoomClient:
            backoff = Backoff(uniform=lambda: secrets.randbelow(1000) / 1000, cap=1.0)
            client = RoomClient(config, backoff=backoff)
            await nursery.start(client.run)
            return client

        def member(name: str, **kw: object) -> ClientConfig:
            identity = IdentityKey.generate(secrets.token_bytes)
            return ClientConfig(invite, identity, name, **kw)  # type: ignore[arg-type]

        mod = await start(ClientConfig(invite, founder, "Mod", create=True))
        speaker = await start(
            member("Spk", source=PcmSource(speech_like(60.0, seed=7)), auto_accept=True)
        )
        listener = await start(member("Lis", listen_only=True))
        with trio.fail_after(10):
            await mod.wait_until(lambda: mod.view.find("Spk") is not None)
            mod.perform(Action("invite", target="Spk"))
            await listener.wait_until(lambda: listener.frames_from("Spk") >= 10)
        everyone = (mod, speaker, listener)
        assert all(c.session.reconnects == 0 for c in everyone)
        assert sum(s.connections_total for s in second.stats) == 0  # all on the first
        heard = listener.frames_from("Spk")
        rooms = [c.room for c in everyone]

        await first.stop()  # for good: it does not come back

        with trio.fail_after(15):  # generous: a loaded machine; the 5 s goal is a load test
            for c in everyone:
                await c.wait_until(
                    lambda c=c: c.session.reconnects >= 1 and c.view.connection == "connected"
                )
            await listener.wait_until(lambda: listener.frames_from("Spk") >= heard + 25)
        assert all(c.room is r for c, r in zip(everyone, rooms, strict=True))  # same sessions
        assert sum(s.connections_total for s in second.stats) >= len(everyone)
        nursery.cancel_scope.cancel()
