"""open_source (what the command line speaks) and the audio bench."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from client.audio.errors import AudioDeviceError, AudioSourceError
from client.audio.quality import dominant_frequencies
from client.audio_io import open_source
from client.bench.audio import measure


def test_open_source_builds_what_the_command_line_named(tmp_path):
    assert open_source() is None  # no audio flag: a listener
    tone_source = open_source(tone=True, tone_hz=500.0)
    assert tone_source is not None
    pcm = np.concatenate([tone_source.read() for _ in range(10)])
    assert abs(dominant_frequencies(pcm, 1)[0] - 500.0) < 30
    with pytest.raises(AudioSourceError, match="no such file"):
        open_source(speak=str(tmp_path / "missing.ogg"))


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
