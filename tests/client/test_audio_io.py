"""The session-side audio glue: packet feed from a source, playout paced on trio's clock."""

from __future__ import annotations

import numpy as np
import trio
import trio.testing

from client.audio.format import FRAME_SAMPLES
from client.audio.quality import aligned_correlation
from client.audio.receiver import RoomAudioReceiver
from client.audio.sources import PcmSource, ToneSource
from client.audio_io import EncodedFeed, playout_loop


def test_feed_encodes_one_packet_per_frame_and_stops_at_the_end() -> None:
    pcm = (np.sin(np.arange(FRAME_SAMPLES * 5) * 0.05) * 8000).astype(np.int16)
    feed = EncodedFeed(PcmSource(pcm))
    packets = [feed() for _ in range(7)]
    assert all(isinstance(p, bytes) and 10 < len(p) < 200 for p in packets[:5])
    assert packets[5:] == [None, None]
    assert feed.frames_read == 5 and feed.finished


async def test_playout_ticks_every_20ms_and_plays_what_was_pushed(
    autojump_clock: trio.abc.Clock,
) -> None:
    feed = EncodedFeed(ToneSource(440.0, seconds=1.0))
    receiver = RoomAudioReceiver()
    played: list[np.ndarray] = []
    ticks: list[float] = []

    def on_tick(frame: np.ndarray, t: float) -> None:
        played.append(frame)
        ticks.append(t)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(playout_loop, receiver, on_tick)
        seq = 0
        while (packet := feed()) is not None:
            receiver.push("speaker", seq, packet, trio.current_time())
            seq += 1
            await trio.sleep(0.020)
        await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    gaps = np.diff(ticks)
    assert np.allclose(gaps, 0.020)
    recorded = np.concatenate(played)
    reference = np.concatenate(list(ToneSource(440.0, seconds=1.0)))
    corr, _lag = aligned_correlation(reference, recorded)
    assert corr >= 0.9
