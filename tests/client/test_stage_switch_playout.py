"""A listener that comes on stage from the audience drops the held batch's excess
at once (spec §15.6, *Playout*): within one batch of the switch its mouth-to-ear
delay is the stage's, not the audience's.

Whole clients on the real relay router (tests/client/router_relay.py) on trio's
MockClock, the listener's link lossless with up to ``JITTER`` of delay, in
order (tests/client/test_audience_playout.py).  The room's stage mode is the
default, ``optimistic``: a stage member plays a proven speaker's frames first.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import trio

from client.actions import Action
from client.audio.format import FRAME_SECONDS
from client.room_client import ClientConfig
from e2ee.identity import IdentityKey
from tests.client.test_audience_playout import (
    JITTER,
    TARGET,
    start_listener,
    start_speaker,
)

SECONDS = 12.0
AUDIENCE_SECONDS = 4.0
"""How long the listener listens from the audience before it is invited on stage."""


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as n:
        yield n
        n.cancel_scope.cancel()


async def test_a_listener_promoted_to_the_stage_reaches_the_stage_delay_within_one_batch(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    relay, invite, speaker, heard = await start_speaker(nursery)
    aud = IdentityKey.generate(secrets.token_bytes)
    config = ClientConfig(invite, aud, "Aud", auto_accept=True)
    listener = await start_listener(nursery, relay, config, speaker, heard)
    me = speaker.room.me
    await trio.sleep(AUDIENCE_SECONDS)
    auth = listener.room.config.speaker_auth
    audience_delay = (auth.audience_batch - 1 + TARGET) * FRAME_SECONDS
    before = heard.delays()
    assert len(before) > 50 and min(before) >= audience_delay  # held: a batch behind
    speaker.perform(Action("invite", target="Aud"))
    with trio.fail_after(5):
        await listener.wait_until(lambda: listener.may_speak())
    switched_at = trio.current_time()
    heard.played.clear()
    await trio.sleep(SECONDS - AUDIENCE_SECONDS - 2)

    settled = switched_at + auth.audience_batch * FRAME_SECONDS  # one batch after the switch
    count = Counter(p for p, _ in heard.sent)
    sent = {p: t for p, t in heard.sent if count[p] == 1}  # as Heard.delays
    after = [t - sent[p] for p, t in heard.played if t >= settled and p in sent]
    assert len(after) >= 3 / FRAME_SECONDS  # at least 3 s of speech heard on stage
    stage_delay = TARGET * FRAME_SECONDS
    assert max(after) <= stage_delay + JITTER + FRAME_SECONDS
    stats = listener.receiver.jitter_stats(me)
    assert stats.switch_dropped > 0
    assert listener.receiver.delay_seconds(me) == pytest.approx(stage_delay)
