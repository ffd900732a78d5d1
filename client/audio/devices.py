"""Microphone and speakers through the optional ``sounddevice`` extra.

Install with ``pip install -e '.[mic]'``; it also needs the system package
``libportaudio2`` (the PortAudio library).  Both classes are non-blocking so
a trio session can drive them from its 20 ms tick: the sound card's callback
thread and the session exchange frames through small bounded queues.

A device is named by its index or by (part of) its name, as
:func:`list_devices` (``hushroom devices``) shows them.  A missing library,
no device, a device that does not exist or refuses 48 kHz mono raises
:class:`~client.audio.errors.AudioDeviceError` with one line of our own:
PortAudio's messages ("Error querying device -1") never reach the user.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np

from client.audio.errors import AudioDeviceError
from client.audio.format import FRAME_SAMPLES, SAMPLE_RATE, Frame, silence

MAX_QUEUED_FRAMES = 10  # 200 ms: beyond that, drop the oldest instead of drifting
INSTALL_HINT = "pip install -e '.[mic]' (and the system package libportaudio2)"
"""How to get sound devices (the README says the same)."""
LIST_HINT = "list them with 'hushroom devices'"

Kind = Literal["input", "output"]


def _sounddevice() -> ModuleType:
    try:
        import sounddevice  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise AudioDeviceError(
            f"audio devices need sounddevice: {INSTALL_HINT}"
        ) from None
    except OSError:  # sounddevice imports fine but PortAudio itself is missing
        raise AudioDeviceError(
            "audio devices need the system package libportaudio2 "
            "(apt-get install libportaudio2)"
        ) from None
    module: ModuleType = sounddevice
    return module


@dataclass(frozen=True)
class Device:
    """One sound device as PortAudio lists it."""

    index: int
    name: str
    inputs: int
    outputs: int
    default_input: bool = False
    default_output: bool = False

    def line(self) -> str:
        """``3  USB headset  (in 1, out 2, default output)`` for ``hushroom devices``."""
        marks = [f"in {self.inputs}", f"out {self.outputs}"]
        marks += ["default input"] if self.default_input else []
        marks += ["default output"] if self.default_output else []
        return f"{self.index:3d}  {self.name}  ({', '.join(marks)})"


def list_devices(sd: ModuleType | None = None) -> list[Device]:
    """Every sound device, in PortAudio's order (raises AudioDeviceError without PortAudio)."""
    sd = sd or _sounddevice()
    try:
        entries = list(sd.query_devices())
        default_in, default_out = (int(d) for d in sd.default.device)
    except Exception:  # PortAudioError: the host API is broken or absent
        raise AudioDeviceError("PortAudio finds no sound system (no sound devices)") from None
    return [
        Device(
            index,
            str(entry["name"]),
            int(entry["max_input_channels"]),
            int(entry["max_output_channels"]),
            index == default_in,
            index == default_out,
        )
        for index, entry in enumerate(entries)
    ]


def find_device(sd: ModuleType, device: int | str | None, kind: Kind) -> int:
    """The index of the ``kind`` device named ``device`` (``None``: the default one).

    ``device`` is an index or a case-insensitive part of exactly one such device's name.
    """
    usable = [d for d in list_devices(sd) if (d.inputs if kind == "input" else d.outputs) > 0]
    if device is None:
        found = [d for d in usable if (d.default_input if kind == "input" else d.default_output)]
        if not found:
            raise AudioDeviceError(f"no {kind} device found ({LIST_HINT})")
    elif str(device).isdigit():
        found = [d for d in usable if d.index == int(device)]
    else:
        found = [d for d in usable if str(device).lower() in d.name.lower()]
    if len(found) > 1:
        names = ", ".join(f"{d.index} {d.name}" for d in found)
        raise AudioDeviceError(f"{kind} device {device!r} matches several: {names}")
    if not found:
        raise AudioDeviceError(f"no {kind} device {device!r} ({LIST_HINT})")
    return found[0].index


def _put_dropping_oldest(q: queue.Queue[Frame], frame: Frame) -> None:
    while True:
        try:
            q.put_nowait(frame)
            return
        except queue.Full:
            try:
                q.get_nowait()
            except queue.Empty:
                pass


def _start_stream(
    sd: ModuleType, kind: Kind, device: int | str | None, callback: Any, what: str
) -> Any:
    """Open and start a 20 ms mono int16 PortAudio stream, or raise AudioDeviceError."""
    index = find_device(sd, device, kind)
    stream_class = sd.RawInputStream if kind == "input" else sd.RawOutputStream
    try:
        stream = stream_class(
            samplerate=SAMPLE_RATE,
            channels=1,
            dtype="int16",
            blocksize=FRAME_SAMPLES,
            device=index,
            callback=callback,
        )
        stream.start()
    except Exception:  # PortAudioError: busy, unplugged, or no 48 kHz mono
        raise AudioDeviceError(
            f"cannot open {what} (device {index}): it is busy or does not do 48 kHz mono"
        ) from None
    return stream


class MicrophoneSource:
    """The default (or a named) input device as a frame source.

    :meth:`read` blocks until a frame is captured (use it from a worker thread);
    :meth:`poll` returns ``None`` at once when no frame is ready.
    """

    def __init__(self, device: int | str | None = None) -> None:
        sd = _sounddevice()
        self._frames: queue.Queue[Frame] = queue.Queue(MAX_QUEUED_FRAMES)

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            pcm = np.frombuffer(bytes(indata), dtype=np.int16)
            if pcm.size == FRAME_SAMPLES:
                _put_dropping_oldest(self._frames, pcm.copy())

        self._stream = _start_stream(sd, "input", device, callback, "the microphone")
        self._closed = False

    def read(self) -> Frame | None:
        if self._closed:
            return None
        return self._frames.get()

    def poll(self) -> Frame | None:
        try:
            return self._frames.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stream.stop()
            self._stream.close()


class SpeakerOutput:
    """The default (or a named) output device as a frame sink.

    :meth:`write` never blocks; the device plays queued frames and silence when
    the queue runs dry.
    """

    def __init__(self, device: int | str | None = None) -> None:
        sd = _sounddevice()
        self._frames: queue.Queue[Frame] = queue.Queue(MAX_QUEUED_FRAMES)
        self.underruns = 0

        def callback(outdata: Any, frames: int, time: Any, status: Any) -> None:
            try:
                frame = self._frames.get_nowait()
            except queue.Empty:
                frame = silence()
                self.underruns += 1
            outdata[:] = frame[:frames].tobytes()

        self._stream = _start_stream(sd, "output", device, callback, "the speakers")
        self._closed = False

    def write(self, frame: Frame) -> None:
        if not self._closed:
            _put_dropping_oldest(self._frames, frame)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stream.stop()
            self._stream.close()
