"""An audience member's playout spans a proof batch (spec §15.6): nothing late, skipped
or concealed on a lossless link with jitter, and a constant mouth-to-ear delay.

A listener holds each speaker's frames until that speaker's proof covers them,
so it receives them in releases of up to one batch.  Whole clients run here on
the real relay router (tests/client/router_relay.py) on trio's MockClock; the
listener's link delivers every envelope, in order, each delayed by up to
``JITTER`` (a lossless link with jitter).  The speaker talks for 12 s.
"""

from __future__ import annotations

import math
import random
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import trio

from client.actions import Action
from client.audio.format import FRAME_SECONDS
from client.audio.jitter import JitterBuffer, JitterConfig, Playout
from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.room_client import ClientConfig, RoomClient
from client.session import Connect
from e2ee.identity import IdentityKey
from e2ee.room.speaker_auth import AuthConfig
from tests.client.router_relay import MemoryLink, MemoryRelay

SECONDS = 12.0
JITTER = 0.03  # each envelope to the listener is delayed by 0-30 ms, in order
TARGET = JitterConfig().target_frames


class JitteryLink(MemoryLink):
    """A lossless link whose deliveries are delayed by a random 0..JITTER, in order."""

    def __init__(self, relay: MemoryRelay, rng: random.Random) -> None:
        super().__init__(relay)
        self._rng = rng
        self._due = trio.current_time()
        self._send, self._recv = trio.open_memory_channel[tuple[float, bytes]](math.inf)

    def deliver(self, data: bytes) -> None:
        self._due = max(self._due, trio.current_time() + self._rng.uniform(0.0, JITTER))
        self._send.send_nowait((self._due, data))

    async def forward(self) -> None:
        async for due, data in self._recv:
            await trio.sleep_until(due)
            super().deliver(data)


def jittery_connector(relay: MemoryRelay, nursery: trio.Nursery, seed: int) -> Connect:
    rng = random.Random(seed)

    async def connect() -> JitteryLink:
        await trio.lowlevel.checkpoint()
        link = JitteryLink(relay, rng)
        nursery.start_soon(link.forward)
        return link

    return connect


@dataclass
class Heard:
    """When the speaker sent each Opus packet, and when the listener played it."""

    sent: list[tuple[bytes, float]]
    played: list[tuple[bytes, float]]

    def delays(self) -> list[float]:
        """Mouth to ear, for each packet the speaker sent once (silence repeats itself)."""
        count = Counter(p for p, _ in self.sent)
        sent = {p: t for p, t in self.sent if count[p] == 1}
        return [t - sent[p] for p, t in self.played if p in sent]


def time_playout(buffer: JitterBuffer, heard: Heard) -> None:
    """Record in ``heard`` when ``buffer`` hands each packet to the decoder."""
    pop = buffer.pop

    def timed_pop(now: float) -> Playout:
        step = pop(now)
        if step.payload is not None:
            heard.played.append((step.payload, now))
        return step

    buffer.pop = timed_pop  # type: ignore[method-assign]


async def start_speaker(nursery: trio.Nursery) -> tuple[MemoryRelay, str, RoomClient, Heard]:
    """A relay and its room, whose founder talks for SECONDS; ``heard`` logs what it sends."""
    relay = MemoryRelay()
    founder = IdentityKey.generate(secrets.token_bytes)
    invite = relay.invite(founder)
    pcm = speech_like(SECONDS, 130.0, seed=3)
    speaker = RoomClient(
        ClientConfig(invite, founder, "Mod", create=True, source=PcmSource(pcm)),
        connect=relay.connector(),
    )
    heard = Heard([], [])
    speaker.on_packet_sent.append(lambda p: heard.sent.append((p, trio.current_time())))
    await nursery.start(speaker.run)
    return relay, invite, speaker, heard


async def start_listener(
    nursery: trio.Nursery,
    relay: MemoryRelay,
    config: ClientConfig,
    speaker: RoomClient,
    heard: Heard,
) -> RoomClient:
    """A listener on a jittery link; once it hears ``speaker``, ``heard`` logs its playout."""
    listener = RoomClient(config, connect=jittery_connector(relay, nursery, seed=11))
    await nursery.start(listener.run)
    me = speaker.room.me
    with trio.fail_after(10):
        await listener.wait_until(lambda: me in listener.receiver.speakers)
    time_playout(listener.receiver._speakers[me].jitter, heard)
    return listener


@dataclass
class Talk:
    speaker: RoomClient
    listener: RoomClient
    heard: Heard


async def talk(nursery: trio.Nursery, share_stage: bool) -> Talk:
    """The founder talks for SECONDS (with a silent second member on stage if
    ``share_stage``); a listener hears it over a jittery link."""
    relay, invite, speaker, heard = await start_speaker(nursery)
    if share_stage:
        ben = IdentityKey.generate(secrets.token_bytes)
        other = RoomClient(
            ClientConfig(invite, ben, "Ben", auto_accept=True), connect=relay.connector()
        )
        await nursery.start(other.run)
        await speaker.wait_until(lambda: speaker.view.find("Ben") is not None)
        speaker.perform(Action("invite", target="Ben"))
        await other.wait_until(lambda: other.may_speak())
    aud = IdentityKey.generate(secrets.token_bytes)
    config = ClientConfig(invite, aud, "Aud", listen_only=True)
    listener = await start_listener(nursery, relay, config, speaker, heard)
    await trio.sleep(SECONDS + 1)
    return Talk(speaker, listener, heard)


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as n:
        yield n
        n.cancel_scope.cancel()


@pytest.mark.parametrize("share_stage", [False, True], ids=["alone", "sharing_the_stage"])
async def test_the_audience_plays_every_frame_of_a_speaker_once_and_on_time(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, share_stage: bool
) -> None:
    t = await talk(nursery, share_stage)
    me = t.speaker.room.me
    stats = t.listener.receiver.jitter_stats(me)
    decoded = t.listener.receiver.decode_stats(me)
    assert stats.played >= 10 / FRAME_SECONDS  # at least 10 s of speech heard
    assert (stats.late, stats.skipped, stats.overflowed, stats.stretched) == (0, 0, 0, 0)
    assert stats.concealed == stats.trailing  # only the tail after the speaker's last frame
    assert decoded.concealed == stats.trailing and decoded.fec_recovered == 0
    # Mouth to ear: one batch (the proof comes after its last frame) plus the
    # jitter target, the same for every frame; the link's jitter and the
    # tick's phase add at most JITTER + one frame.
    auth: AuthConfig = t.listener.room.config.speaker_auth
    batch = auth.params(share_stage)[0]
    expected = (batch - 1 + TARGET) * FRAME_SECONDS
    delays = t.heard.delays()
    assert len(delays) >= 0.8 * stats.played
    assert expected <= min(delays) and max(delays) <= expected + JITTER + FRAME_SECONDS
    assert t.listener.receiver.delay_seconds(me) == pytest.approx(expected)
