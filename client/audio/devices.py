"""Microphone and speakers through the optional ``sounddevice`` extra.

Install with ``pip install -e '.[mic]'`` (it also needs the PortAudio library).
Both classes are non-blocking so a trio session can drive them from its 20 ms
tick: the sound card's callback thread and the session exchange frames
through small bounded queues.  Missing library or device raises
:class:`~client.audio.errors.AudioDeviceError` with one clear line.
"""

from __future__ import annotations

import queue
from types import ModuleType
from typing import Any

import numpy as np

from client.audio.errors import AudioDeviceError
from client.audio.format import FRAME_SAMPLES, SAMPLE_RATE, Frame, silence

MAX_QUEUED_FRAMES = 10  # 200 ms: beyond that, drop the oldest instead of drifting


def _sounddevice() -> ModuleType:
    try:
        import sounddevice  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise AudioDeviceError(
            "audio devices need the 'sounddevice' extra: pip install 'hushroom[mic]'"
        ) from None
    except OSError:  # sounddevice imports fine but PortAudio itself is missing
        raise AudioDeviceError(
            "audio devices need the PortAudio library (apt-get install libportaudio2)"
        ) from None
    module: ModuleType = sounddevice
    return module


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


def _start_stream(stream_class: Any, device: Any, callback: Any, what: str) -> Any:
    """Open and start a 20 ms mono int16 PortAudio stream, or raise AudioDeviceError."""
    try:
        stream = stream_class(
            samplerate=SAMPLE_RATE,
            channels=1,
            dtype="int16",
            blocksize=FRAME_SAMPLES,
            device=device,
            callback=callback,
        )
        stream.start()
    except Exception as exc:  # PortAudioError, ValueError: no such device
        raise AudioDeviceError(f"cannot open {what}: {exc}") from None
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

        self._stream = _start_stream(sd.RawInputStream, device, callback, "the microphone")
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

        self._stream = _start_stream(sd.RawOutputStream, device, callback, "the speakers")
        self._closed = False

    def write(self, frame: Frame) -> None:
        if not self._closed:
            _put_dropping_oldest(self._frames, frame)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stream.stop()
            self._stream.close()
