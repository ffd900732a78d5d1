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

PORTAUDIO_TEXT = "Error querying device -1"
"""What PortAudio says; it must never reach the user."""


class PortAudioError(Exception):
    pass


DEVICES = [
    {"name": "Built-in Microphone", "max_input_channels": 2, "max_output_channels": 0},
    {"name": "Built-in Speakers", "max_input_channels": 0, "max_output_channels": 2},
    {"name": "USB Headset", "max_input_channels": 1, "max_output_channels": 2},
]


class FakeStream:
    instances: ClassVar[list[FakeStream]] = []
    refuse = False

    def __init__(self, **kwargs: Any) -> None:
        if FakeStream.refuse:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")
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
    module.devices = list(DEVICES)  # type: ignore[attr-defined]
    module.default = types.SimpleNamespace(device=[0, 1])  # type: ignore[attr-defined]
    module.query_devices = lambda: module.devices  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    FakeStream.instances.clear()
    FakeStream.refuse = False
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


def test_a_device_is_picked_by_index_or_part_of_its_name(fake_sd):
    devices.MicrophoneSource()
    devices.MicrophoneSource(device="usb")
    devices.SpeakerOutput(device="2")
    devices.SpeakerOutput()
    assert [s.kwargs["device"] for s in FakeStream.instances] == [0, 2, 2, 1]


def test_a_device_that_does_not_exist_is_one_line_naming_the_list(fake_sd):
    with pytest.raises(AudioDeviceError) as exc:
        devices.MicrophoneSource(device="missing")
    assert str(exc.value) == "no input device 'missing' (list them with 'hushroom devices')"
    with pytest.raises(AudioDeviceError, match="no output device '0'"):  # an input only
        devices.SpeakerOutput(device="0")
    with pytest.raises(AudioDeviceError, match="matches several: 1 Built-in Speakers, 2 USB"):
        devices.SpeakerOutput(device="s")


def test_no_device_at_all_never_shows_portaudio_text(fake_sd):
    def broken() -> list[dict[str, Any]]:
        raise PortAudioError(PORTAUDIO_TEXT)

    fake_sd.default.device = [-1, -1]
    with pytest.raises(AudioDeviceError) as exc:
        devices.SpeakerOutput()
    assert str(exc.value) == "no output device found (list them with 'hushroom devices')"
    fake_sd.query_devices = broken
    for make in (devices.MicrophoneSource, devices.SpeakerOutput, devices.list_devices):
        with pytest.raises(AudioDeviceError) as exc:
            make()
        assert PORTAUDIO_TEXT not in str(exc.value) and "\n" not in str(exc.value)
    fake_sd.query_devices = lambda: DEVICES
    fake_sd.default.device = [0, 1]
    FakeStream.refuse = True
    with pytest.raises(AudioDeviceError) as exc:
        devices.MicrophoneSource()
    assert str(exc.value) == (
        "cannot open the microphone (device 0): it is busy or does not do 48 kHz mono"
    )


def test_device_list_marks_the_defaults(fake_sd):
    assert [d.line() for d in devices.list_devices()] == [
        "  0  Built-in Microphone  (in 2, out 0, default input)",
        "  1  Built-in Speakers  (in 0, out 2, default output)",
        "  2  USB Headset  (in 1, out 2)",
    ]


@pytest.mark.parametrize(
    ("failure", "hint"),
    [
        (ImportError, "pip install -e '.[mic]' (and the system package libportaudio2)"),
        (OSError, "the system package libportaudio2 (apt-get install libportaudio2)"),
    ],
)
def test_missing_library_names_the_extra_and_the_system_package(
    monkeypatch: pytest.MonkeyPatch, failure: type[Exception], hint: str
) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise failure("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(AudioDeviceError) as exc:
        devices.list_devices()
    assert hint in str(exc.value) and "PortAudio library not found" not in str(exc.value)
