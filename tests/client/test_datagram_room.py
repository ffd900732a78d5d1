"""Real room clients with the datagram channel (spec §23): UDP up, blocked, lost and back."""

from __future__ import annotations

import functools
import itertools
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from test_client_rooms import Room
from test_datagram_media import Blocker

from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.inproc_relay import start_relay
from client.relay_connect import link_connector, new_invite, parse_invite
from client.relay_view import RelayObserver
from client.room_client import ClientConfig, RoomClient
from e2ee.datagram_path import PathState, PathTimers
from e2ee.envelope import EnvelopeType
from e2ee.identity import IdentityKey
from relay.config import RelayConfig


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    async with trio.open_nursery() as nursery:
        relay = await start_relay(nursery, config=RelayConfig(datagram_port=0))
        founder = IdentityKey.generate(secrets.token_bytes)
        invite = new_invite(relay.host, relay.port, relay.pin_text, founder)
        r = Room(relay, invite, nursery, RelayObserver())
        mod = RoomClient(
            ClientConfig(invite, founder, "Mod", create=True, datagrams=True),
            connect=link_connector(parse_invite(invite), tap=r.observer.link("Mod")),
        )
        await nursery.start(mod.run)
        r.moderator = mod
        yield r
        nursery.cancel_scope.cancel()


def blocker(room: Room) -> Blocker:
    server = room.relay.server
    assert server is not None and server.udp is not None
    return Blocker(server.udp.table)


def path_state(client: RoomClient) -> PathState | None:
    media = client.session.datagrams
    return media.state if media is not None else None


def media_by_datagram(client: RoomClient) -> int:
    media = client.session.datagrams
    return media.counts["received_media"] if media is not None else 0


async def until(predicate: object, seconds: float = 10.0) -> None:
    with trio.fail_after(seconds):
        while not predicate():  # type: ignore[operator]
            await trio.sleep(0.02)


@functools.cache
def speech() -> Any:
    """10 s of speech, synthesised once: enough for a fall back and a return (about 5 s)."""
    return speech_like(10.0, seed=7)


async def speaker(room: Room) -> RoomClient:
    spk = await room.add("Spk", source=PcmSource(speech()), auto_accept=True, datagrams=True)
    await room.on_stage(spk)
    return spk


async def test_stage_audio_rides_datagrams(room: Room) -> None:
    mod = room.moderator
    assert mod is not None
    spk = await speaker(room)
    media = spk.session.datagrams
    assert media is not None
    await until(lambda: media.counts["sent_media"] >= 20)  # the speaker's frames go by datagram
    await until(lambda: media_by_datagram(mod) >= 20)  # and reach the moderator by datagram
    assert mod.frames_from("Spk") >= 20
    assert path_state(mod) is PathState.UP and path_state(spk) is PathState.UP


async def test_a_network_that_drops_all_udp_works_as_over_the_link(room: Room) -> None:
    mod = room.moderator
    assert mod is not None
    blocker(room).blocked = True
    spk = await speaker(room)
    await until(lambda: path_state(spk) is PathState.DEAD)
    start = mod.frames_from("Spk")
    await until(lambda: mod.frames_from("Spk") >= start + 50)  # one second of speech
    assert media_by_datagram(mod) == 0 and path_state(mod) is PathState.DEAD


async def test_audio_falls_back_to_the_link_and_returns_to_datagrams(room: Room) -> None:
    mod = room.moderator
    assert mod is not None
    spk = await speaker(room)
    await until(lambda: media_by_datagram(mod) >= 20)
    wall = blocker(room)
    wall.blocked = True
    await until(lambda: path_state(spk) is PathState.DEAD and path_state(mod) is PathState.DEAD)
    during = mod.frames_from("Spk")
    by_datagram = media_by_datagram(mod)
    await until(lambda: mod.frames_from("Spk") >= during + 25)  # the link carries the audio
    assert media_by_datagram(mod) == by_datagram
    wall.blocked = False
    await until(lambda: path_state(spk) is PathState.UP and path_state(mod) is PathState.UP)
    await until(lambda: media_by_datagram(mod) >= by_datagram + 20)


async def test_the_audience_opens_no_channel_until_it_is_on_stage(room: Room) -> None:
    listener = await room.add("Aud", auto_accept=True, datagrams=True)
    server = room.relay.server
    assert server is not None and server.udp is not None
    await trio.sleep(1.0)  # two checks of the stage (spec §23.2)
    assert path_state(listener) is None and len(server.udp.table) == 1  # the moderator's
    await room.on_stage(listener)
    await until(lambda: path_state(listener) is PathState.UP)
    assert len(server.udp.table) == 2


@pytest.mark.load
async def test_the_audio_gap_of_a_fall_back_is_about_the_detection_time(room: Room) -> None:
    """Measured: the longest pause between audio frames arriving while UDP dies (spec §23.6)."""
    mod = room.moderator
    assert mod is not None
    arrivals: list[float] = []
    inner = mod.session.room.envelope_received

    def seen(envelope: Any, now: float) -> None:
        if envelope.type is EnvelopeType.MEDIA:
            arrivals.append(trio.current_time())
        inner(envelope, now)

    mod.session.room.envelope_received = seen  # type: ignore[method-assign]
    spk = await speaker(room)
    await until(lambda: media_by_datagram(mod) >= 50)
    cut = trio.current_time()
    blocker(room).blocked = True
    await until(lambda: path_state(spk) is PathState.DEAD)
    await trio.sleep(0.5)
    around = [t for t in arrivals if t >= cut - 0.1]
    gap = max(b - a for a, b in itertools.pairwise(around))
    print(f"longest pause between frames at the fall back: {gap * 1000:.0f} ms")
    assert gap <= PathTimers().suspect_after + 0.1
