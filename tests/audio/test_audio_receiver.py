"""RoomAudioReceiver end to end (encode -> network pattern -> jitter -> decode -> mix)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from client.audio.decoder import fec_supported
from client.audio.encoder import OpusEncoderConfig
from client.audio.format import FRAME_SAMPLES
from client.audio.jitter import JitterConfig
from client.audio.quality import (
    aligned_correlation,
    dominant_frequencies,
    mixture_correlation,
    tone_power,
    windowed_correlation,
)
from client.audio.receiver import RoomAudioReceiver
from client.audio.sinks import RoomRecorder, speaker_file_name
from client.audio.sources import decode_file
from client.audio.synth import speaker_tone_hz, speech_like, tone

TICK = 0.02
EXTRA_TICKS = 20


def run_network(
    receiver: RoomAudioReceiver,
    streams: dict[bytes, list[bytes]],
    *,
    loss: float = 0.0,
    burst: tuple[int, int] | None = None,
    max_jitter: float = 0.0,
    duplicate: float = 0.0,
    seed: int = 1,
    offsets: dict[bytes, float] | None = None,
) -> np.ndarray:
    """Deliver each speaker's packets (seq = index) with the given impairments; tick through."""
    rng = random.Random(seed)
    arrivals: list[tuple[float, bytes, int, bytes]] = []
    for speaker, packets in streams.items():
        for i, packet in enumerate(packets):
            if burst and burst[0] <= i < burst[1]:
                continue
            if rng.random() < loss:
                continue
            at = i * TICK + rng.uniform(0.0, max_jitter) + (offsets or {}).get(speaker, 0.0)
            arrivals.append((at, speaker, i, packet))
            if rng.random() < duplicate:
                arrivals.append((at + rng.uniform(0.0, 0.05), speaker, i, packet))
    arrivals.sort(key=lambda a: a[0])
    ticks = max(len(p) for p in streams.values()) + EXTRA_TICKS
    ticks += round(max((offsets or {}).values(), default=0.0) / TICK)
    out = []
    k = 0
    for tick in range(ticks):
        now = tick * TICK + 0.001
        while k < len(arrivals) and arrivals[k][0] <= now:
            at, speaker, seq, packet = arrivals[k]
            receiver.push(speaker, seq, packet, at)
            k += 1
        frame = receiver.tick(now)
        assert frame.shape == (FRAME_SAMPLES,)
        out.append(frame)
    return np.concatenate(out)


def timeline_ok(receiver: RoomAudioReceiver, speaker: bytes, sent: int) -> None:
    """Every sent frame got exactly one tick: played or concealed (none squeezed out)."""
    stats = receiver.jitter_stats(speaker)
    assert stats.played + stats.concealed >= sent
    assert stats.played <= sent


def test_clean_path_matches_source(speech, speech_packets):
    receiver = RoomAudioReceiver()
    out = run_network(receiver, {b"a": speech_packets})
    assert out.size == (len(speech_packets) + EXTRA_TICKS) * FRAME_SAMPLES
    corr, lag = aligned_correlation(speech, out, max_lag=48_000)
    assert corr >= 0.9
    assert lag > 0


@pytest.mark.parametrize(
    ("impairment", "min_corr"),
    [
        ({"loss": 0.10}, 0.85),
        ({"burst": (100, 110)}, 0.85),
        ({"max_jitter": 0.04}, 0.9),
        ({"max_jitter": 0.04, "duplicate": 0.2}, 0.9),
        ({"loss": 0.10, "max_jitter": 0.04, "duplicate": 0.1}, 0.8),
    ],
)
def test_impaired_network_still_gives_continuous_audio(
    speech, speech_packets, impairment, min_corr
):
    receiver = RoomAudioReceiver()
    out = run_network(receiver, {b"a": speech_packets}, **impairment)
    assert out.size == (len(speech_packets) + EXTRA_TICKS) * FRAME_SAMPLES
    timeline_ok(receiver, b"a", len(speech_packets))
    corr, _ = aligned_correlation(speech, out, max_lag=48_000)
    assert corr >= min_corr, corr
    stats = receiver.jitter_stats(b"a")
    if "duplicate" in impairment:
        assert stats.duplicates > 0


def test_fec_is_used_under_random_loss(speech, encode_all):
    speech_packets = encode_all(speech, OpusEncoderConfig(fec=True, expected_loss_percent=10))
    receiver = RoomAudioReceiver(JitterConfig(target_frames=3))
    run_network(receiver, {b"a": speech_packets}, loss=0.1)
    decoded = receiver.decode_stats(b"a")
    if fec_supported():
        assert decoded.fec_recovered > 0
    assert decoded.concealed + decoded.fec_recovered >= receiver.jitter_stats(b"a").concealed


def test_two_tones_mixed_and_both_recovered(encode_all):
    f1, f2 = speaker_tone_hz(0), speaker_tone_hz(1)
    streams = {b"alice": encode_all(tone(f1, 2.0)), b"bob": encode_all(tone(f2, 2.0))}
    receiver = RoomAudioReceiver()
    out = run_network(receiver, streams)
    steady = out[FRAME_SAMPLES * 20 : FRAME_SAMPLES * 90]
    peaks = dominant_frequencies(steady, 2)
    assert sorted(round(p) for p in peaks) == pytest.approx(sorted([f1, f2]), abs=5)
    assert tone_power(steady, f1) > 0.3
    assert tone_power(steady, f2) > 0.3
    assert sorted(receiver.speakers) == [b"alice", b"bob"]


def test_loud_speakers_are_limited_not_wrapped(encode_all):
    loud = {
        name: encode_all(tone(speaker_tone_hz(i), 1.0, amplitude=0.9))
        for i, name in enumerate((b"a", b"b", b"c"))
    }
    out = run_network(RoomAudioReceiver(), loud)
    assert np.max(np.abs(out.astype(np.int32))) <= 32767
    # no int16 wrap-around: the mix never jumps by more than a loud sine can
    assert np.max(np.abs(np.diff(out.astype(np.int32)))) < 20_000


def test_removed_speaker_is_no_longer_played(encode_all):
    receiver = RoomAudioReceiver()
    packets = encode_all(tone(440.0, 1.0))
    for i in range(10):
        receiver.push(b"x", i, packets[i], i * TICK)
        receiver.tick(i * TICK + 0.001)
    receiver.remove_speaker(b"x")
    assert receiver.speakers == []
    assert not receiver.tick(0.3).any()
    assert receiver.active_speakers() == []


def test_speaking_indicator_follows_audio(encode_all, speech_packets):
    receiver = RoomAudioReceiver()
    packets = encode_all(tone(440.0, 0.5))
    assert receiver.active_speakers() == []
    for i in range(25):
        receiver.push(b"x", i, packets[i], i * TICK)
        receiver.tick(i * TICK + 0.001)
    (activity,) = receiver.active_speakers()
    assert activity.speaker_id == b"x"
    assert 0.0 < activity.level <= 1.0
    for i in range(25, 80):
        receiver.tick(i * TICK + 0.001)  # nothing more arrives
    assert receiver.active_speakers() == []


def test_reset_speaker_accepts_restarted_counter(speech_packets):
    receiver = RoomAudioReceiver(JitterConfig(target_frames=1))
    for i in range(20):
        receiver.push(b"a", 500 + i, speech_packets[i], i * TICK)
        receiver.tick(i * TICK + 0.001)
    receiver.reset_speaker(b"a")
    receiver.push(b"a", 0, speech_packets[20], 0.5)
    receiver.tick(0.501)
    assert receiver.jitter_stats(b"a").played >= 1


def test_room_and_per_speaker_recordings_line_up(tmp_path, encode_all):
    recorder = RoomRecorder(tmp_path / "room.wav", per_speaker_dir=tmp_path / "speakers")
    receiver = RoomAudioReceiver(recorder=recorder)
    a = encode_all(tone(440.0, 1.0))
    b = encode_all(tone(660.0, 0.5))
    # bob starts half a second after alice
    streams_out = []
    for tick in range(70):
        now = tick * TICK + 0.001
        if tick < len(a):
            receiver.push(b"alice", tick, a[tick], tick * TICK)
        if 25 <= tick < 25 + len(b):
            receiver.push(b"bob", tick - 25, b[tick - 25], tick * TICK)
        streams_out.append(receiver.tick(now))
    receiver.close()
    room = decode_file(tmp_path / "room.wav")
    alice = decode_file(tmp_path / "speakers" / speaker_file_name(b"alice"))
    bob = decode_file(tmp_path / "speakers" / speaker_file_name(b"bob"))
    assert room.size == alice.size == bob.size == 70 * FRAME_SAMPLES
    assert np.array_equal(room, np.concatenate(streams_out))
    assert not bob[: 25 * FRAME_SAMPLES].any()  # silence before bob was first heard
    assert tone_power(bob[30 * FRAME_SAMPLES : 50 * FRAME_SAMPLES], 660.0) > 0.8
    assert tone_power(alice[10 * FRAME_SAMPLES : 40 * FRAME_SAMPLES], 440.0) > 0.8


def test_overlapping_speakers_are_explained_by_the_mixture(encode_all):
    a = speech_like(4.0, pitch_hz=110.0, seed=11)
    b = speech_like(4.0, pitch_hz=190.0, seed=12)
    receiver = RoomAudioReceiver()
    # bob's packets arrive 50 ms later than alice's: each speaker has its own delay
    streams = {b"alice": encode_all(a), b"bob": encode_all(b)}
    out = run_network(receiver, streams, offsets={b"bob": 0.05}, max_jitter=0.02)
    single_a, _ = aligned_correlation(a, out, max_lag=48_000)
    single_b, _ = aligned_correlation(b, out, max_lag=48_000)
    assert single_a < 0.9 and single_b < 0.9  # one source alone cannot explain the mix
    corr, lags = mixture_correlation([a, b], out, max_lag=48_000)
    assert corr >= 0.9
    # bob's lag is alice's plus 50 ms (2400 samples), within the jitter
    assert abs(lags[1] - lags[0] - 2400) <= 960


def test_windowed_correlation_tolerates_adaptive_stretching(speech, speech_packets):
    """Late packets make the adaptive buffer stretch (a 20 ms shift each time):
    a single global alignment under-reports, the windowed measure does not."""
    receiver = RoomAudioReceiver()
    arrivals = [(i * TICK + (0.1 if i % 50 == 49 else 0.0), i) for i in range(len(speech_packets))]
    arrivals.sort()
    out = []
    k = 0
    for tick in range(len(speech_packets) + EXTRA_TICKS):
        now = tick * TICK + 0.001
        while k < len(arrivals) and arrivals[k][0] <= now:
            receiver.push(b"a", arrivals[k][1], speech_packets[arrivals[k][1]], arrivals[k][0])
            k += 1
        out.append(receiver.tick(now))
    recorded = np.concatenate(out)
    assert receiver.jitter_stats(b"a").stretched >= 2
    global_corr, _ = aligned_correlation(speech, recorded, max_lag=48_000)
    windowed, _ = windowed_correlation(speech, recorded, max_lag=48_000)
    assert windowed >= 0.9
    assert windowed > global_corr
