"""AudioSender and open_source (the send side the session drives)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from client.audio.decoder import open_decoder
from client.audio.errors import AudioDeviceError, AudioError, AudioSourceError
from client.audio.quality import dominant_frequencies
from client.audio.sender import AudioSender, open_source
from client.audio.sources import PcmSource
from client.audio.synth import speaker_tone_hz, tone
from client.bench.audio import measure


def test_sender_encodes_each_tick_until_the_source_ends():
    sender = AudioSender(PcmSource(tone(500.0, 0.2)))
    packets = [sender.next_packet() for _ in range(12)]
    assert all(p is not None for p in packets[:10])
    assert packets[10:] == [None, None]
    assert sender.ended
    assert sender.frames_sent == 10
    decoder = open_decoder()
    pcm = np.concatenate([decoder.decode(p) for p in packets[:10] if p is not None])
    assert abs(dominant_frequencies(pcm[2000:], 1)[0] - 500.0) < 5


def test_muted_sender_sends_nothing_but_the_source_advances():
    source = PcmSource(tone(500.0, 0.2))
    sender = AudioSender(source)
    sender.muted = True
    assert [sender.next_packet() for _ in range(5)] == [None] * 5
    sender.muted = False
    assert all(sender.next_packet() is not None for _ in range(5))
    assert sender.next_packet() is None  # 10 frames consumed in all


def test_open_source_tone_picks_distinct_frequencies():
    a = open_source(tone=True, speaker_index=0).read()
    b = open_source(tone=True, speaker_index=1).read()
    assert a is not None and b is not None
    fa = dominant_frequencies(np.tile(a, 10), 1)[0]
    fb = dominant_frequencies(np.tile(b, 10), 1)[0]
    assert abs(fa - speaker_tone_hz(0)) < 30
    assert abs(fb - speaker_tone_hz(1)) < 30
    custom = open_source(tone=1000.0).read()
    assert custom is not None


def test_open_source_needs_exactly_one_choice(tmp_path):
    with pytest.raises(AudioError, match="exactly one"):
        open_source()
    with pytest.raises(AudioError, match="exactly one"):
        open_source(tone=True, say="hi")
    with pytest.raises(AudioSourceError, match="no such file"):
        open_source(file=tmp_path / "missing.ogg")


def test_open_source_mic_without_sounddevice(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(AudioDeviceError):
        open_source(mic=True)


def test_bench_measures_plausible_numbers():
    result = measure(seconds=1.0, include_espeak=False)
    speech = result["signals"]["speech_like"]
    assert speech["24k_vbr_off"]["max_bytes"] == speech["24k_vbr_off"]["min_bytes"] == 60
    assert speech["codec_round_trip"]["correlation"] >= 0.9
    assert speech["receiver_correlation"]["clean"]["correlation"] >= 0.9
    assert speech["receiver_correlation"]["spike_100ms_every_25"]["late"] >= 1
