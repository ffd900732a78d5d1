"""The honest LOSS signal: per-speaker shares of frames concealed, rebuilt and late."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from test_audio_receiver import TICK, run_network

from client.audio.encoder import OpusEncoderConfig
from client.audio.jitter import JitterConfig
from client.audio.playout_quality import PlayoutWindow
from client.audio.receiver import RoomAudioReceiver
from client.json_stream import EventStream
from client.view import MemberView, RoomView


def test_a_clean_stream_has_nothing_concealed(speech_packets: list[bytes]) -> None:
    receiver = RoomAudioReceiver()
    window = PlayoutWindow()
    run_network(receiver, {b"a": speech_packets})
    (q,) = window.take(receiver)
    assert q.frames == len(speech_packets)
    assert (q.concealed, q.recovered, q.late) == (0, 0, 0) and q.late_or_concealed_pct == 0.0
    assert q.delay_seconds == 3 * TICK
    assert window.take(receiver) == []  # nothing played since: no entry


def test_lost_frames_show_as_concealed_or_rebuilt_per_speaker(
    speech_packets: list[bytes], encode_all, speech
) -> None:  # type: ignore[no-untyped-def]
    fec_packets = encode_all(speech, OpusEncoderConfig(fec=True, expected_loss_percent=5))
    receiver = RoomAudioReceiver(JitterConfig(target_frames=3, adaptive=False))
    window = PlayoutWindow()
    run_network(receiver, {b"clean": speech_packets}, seed=3)
    run_network(receiver, {b"lossy": fec_packets}, loss=0.1, seed=3)
    shares = {q.speaker_id: q for q in window.take(receiver)}
    assert shares[b"clean"].late_or_concealed_pct == 0.0
    lossy = shares[b"lossy"]
    stats = receiver.jitter_stats(b"lossy")
    assert lossy.concealed + lossy.recovered == stats.concealed - stats.trailing > 0
    assert lossy.frames == len(fec_packets)  # every frame of the stream, the tail not counted
    assert 5.0 < lossy.late_or_concealed_pct < 15.0  # 10 % random loss
    assert lossy.recovered > 0  # the FEC in the next packet rebuilt some


def test_packets_after_their_playout_time_count_as_late(speech_packets: list[bytes]) -> None:
    receiver = RoomAudioReceiver(JitterConfig(target_frames=2, adaptive=False))
    window = PlayoutWindow()
    for tick in range(120):
        now = tick * TICK + 0.001
        for seq in range(100):
            at = seq * TICK + (0.1 if seq % 20 == 10 else 0.0)  # 5 packets 100 ms late
            if now - TICK < at <= now:
                receiver.push(b"a", seq, speech_packets[seq], at)
        receiver.tick(now)
    (q,) = window.take(receiver)
    assert q.late == receiver.jitter_stats(b"a").late == 5
    assert q.concealed + q.recovered == 5  # each late packet's frame was made up
    assert q.share(q.late) == q.late_or_concealed_pct == 5 * 100 / q.frames


def test_audio_quality_objects_give_each_speakers_shares_over_the_window(
    speech_packets: list[bytes],
) -> None:
    receiver = RoomAudioReceiver(JitterConfig(target_frames=3, adaptive=False))
    view = RoomView()
    alice, bob = b"a" * 32, b"b" * 32
    view.set_members([MemberView(alice.hex(), "Alice", "speaker")])  # Bob is not in the view
    client: Any = SimpleNamespace(view=view, receiver=receiver)
    stream = EventStream(client)
    for tick in range(120):
        now = tick * TICK + 0.001
        if tick < 100 and tick % 10 != 5:  # one frame in ten never comes
            receiver.push(alice, tick, speech_packets[tick], now)
            receiver.push(bob, tick, speech_packets[tick], now)
        receiver.tick(now)
    (obj,) = stream.playout()
    assert obj["event"] == "audio_quality" and obj["name"] == "Alice"
    assert obj["frames"] == 100 and obj["late_pct"] == 0.0
    assert obj["concealed_pct"] + obj["fec_pct"] == obj["late_or_concealed_pct"] == 10.0
    assert obj["delay_ms"] == 60
    assert stream.playout() == []  # nothing played since the last window
