"""Microphone and speakers against a fake ``sounddevice`` (no sound card in CI)."""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar

import numpy as np
import pytest

from client.audio import devices
from client.audio.errors import AudioDeviceError
from client.audio.format import FRAME_SAMPLES
from client.audio.synth import tone


class FakeStream:
    instances: ClassVar[list[FakeStream]] = []

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("device") == "missing":
            raise ValueError("No input device matching 'missing'")
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.started = False
        self.closed = False
        FakeStream.instances.append(self)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("sounddevice")
    module.RawInputStream = FakeStream  # type: ignore[attr-defined]
    module.RawOutputStream = FakeStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    FakeStream.instances.clear()
    return module


def test_microphone_delivers_captured_frames(fake_sd):
    mic = devices.MicrophoneSource()
    (stream,) = FakeStream.instances
    assert stream.kwargs["samplerate"] == 48_000
    assert stream.kwargs["blocksize"] == FRAME_SAMPLES
    assert stream.kwargs["channels"] == 1
    assert mic.poll() is None
    captured = tone(440.0, 0.02)
    stream.callback(captured.tobytes(), FRAME_SAMPLES, None, None)
    frame = mic.read()
    assert frame is not None and np.array_equal(frame, captured)
    mic.close()
    assert stream.closed
    assert mic.read() is None


def test_microphone_queue_drops_oldest_when_nobody_reads(fake_sd):
    mic = devices.MicrophoneSource()
    (stream,) = FakeStream.instances
    for i in range(devices.MAX_QUEUED_FRAMES + 5):
        stream.callback(np.full(FRAME_SAMPLES, i, np.int16).tobytes(), FRAME_SAMPLES, None, None)
    first = mic.poll()
    assert first is not None and first[0] == 5  # the 5 oldest were dropped


def test_speakers_play_written_frames_then_silence(fake_sd):
    out = devices.SpeakerOutput()
    (stream,) = FakeStream.instances
    frame = tone(440.0, 0.02)
    out.write(frame)
    buf = bytearray(FRAME_SAMPLES * 2)
    stream.callback(buf, FRAME_SAMPLES, None, None)
    assert np.array_equal(np.frombuffer(bytes(buf), np.int16), frame)
    stream.callback(buf, FRAME_SAMPLES, None, None)
    assert not np.frombuffer(bytes(buf), np.int16).any()
    assert out.underruns == 1
    out.close()
    assert stream.closed


def test_missing_device_is_a_clear_error(fake_sd):
    with pytest.raises(AudioDeviceError, match="cannot open the microphone: No input device"):
        devices.MicrophoneSource(device="missing")
