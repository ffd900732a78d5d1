"""Audio sources: each yields 20 ms mono 48 kHz int16 frames, then ends or loops.

* :func:`open_file` / :class:`FileSource` — any file PyAV can read (WAV, Ogg/Opus,
  MP3, FLAC, ...), resampled with ``av.AudioResampler``; unreadable or missing
  files raise :class:`~client.audio.errors.AudioSourceError`.
* :class:`ToneSource` — a sine tone; :func:`client.audio.synth.speaker_tone_hz`
  picks a distinct frequency per speaker.
* :func:`synthesize_speech` — speech from espeak-ng (when installed) via a temp WAV.
* the microphone: :class:`client.audio.devices.MicrophoneSource` (optional extra).

A source is read with :meth:`~FrameSource.read` (``None`` once it has ended) or
iterated.  Sources do no pacing: the session reads one frame per 20 ms tick.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np
import numpy.typing as npt

from client.audio.errors import AudioSourceError, SpeechSynthesisError
from client.audio.format import FRAME_SAMPLES, SAMPLE_RATE, Frame

MAX_FILE_SECONDS = 3600.0
""":func:`decode_file` holds the whole file in memory (5.8 MB per minute) and
refuses longer ones; :class:`FileSource` streams and has no limit."""


class FrameSource(Protocol):
    def read(self) -> Frame | None:
        """The next frame, or ``None`` when the source has ended."""
        ...

    def close(self) -> None: ...


class PcmSource:
    """Frames from mono int16 PCM held in memory; ``loop=True`` repeats forever."""

    def __init__(self, pcm: npt.NDArray[np.int16], loop: bool = False) -> None:
        flat = np.ascontiguousarray(pcm, dtype=np.int16).reshape(-1)
        count = -(-flat.size // FRAME_SAMPLES)
        self.pcm = np.zeros(count * FRAME_SAMPLES, dtype=np.int16)
        self.pcm[: flat.size] = flat
        self.loop = loop
        self._pos = 0

    @property
    def seconds(self) -> float:
        return self.pcm.size / SAMPLE_RATE

    def read(self) -> Frame | None:
        if self._pos >= self.pcm.size:
            if not self.loop or self.pcm.size == 0:
                return None
            self._pos = 0
        frame = self.pcm[self._pos : self._pos + FRAME_SAMPLES].copy()
        self._pos += FRAME_SAMPLES
        return frame

    def close(self) -> None:
        self._pos = self.pcm.size
        self.loop = False

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, av.InvalidDataError):
        return "not an audio format this build can read"
    if isinstance(exc, av.error.EOFError):
        return "the file is empty or truncated"
    if isinstance(exc, av.FFmpegError):
        text = str(getattr(exc, "strerror", "") or "")
        return text.lower() or "not a readable audio file"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return "not a readable audio file"


def decode_file(path: str | Path, max_seconds: float = MAX_FILE_SECONDS) -> npt.NDArray[np.int16]:
    """Decode a whole audio file to mono 48 kHz int16 PCM.

    Raises :class:`AudioSourceError` ("cannot read audio file X: reason").
    """
    name = str(path)
    if Path(name).is_dir():
        raise AudioSourceError(f"cannot read audio file {name}: is a directory")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks: list[npt.NDArray[np.int16]] = []
    total = 0
    limit = int(max_seconds * SAMPLE_RATE)
    try:
        with av.open(name, "r") as container:
            if not container.streams.audio:
                raise AudioSourceError(f"cannot read audio file {name}: it has no audio stream")
            stream = container.streams.audio[0]
            for packet in container.demux(stream):
                for frame in packet.decode():
                    assert isinstance(frame, av.AudioFrame)
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray().reshape(-1).astype(np.int16))
                        total += chunks[-1].size
                if total > limit:
                    raise AudioSourceError(
                        f"cannot read audio file {name}: longer than {max_seconds:.0f} s"
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.int16))
    except AudioSourceError:
        raise
    except (OSError, av.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise AudioSourceError(f"cannot read audio file {name}: {_reason(exc)}") from None
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if pcm.size == 0:
        raise AudioSourceError(f"cannot read audio file {name}: it holds no audio")
    return pcm


class FileSource:
    """Streams an audio file as frames, decoding as it goes (constant memory).

    The file is opened and its first audio decoded in the constructor, so a
    missing, unreadable or empty file raises :class:`AudioSourceError` at once.
    With ``loop=True`` the file restarts seamlessly at its end.  A file that
    turns corrupt part-way simply ends there.
    """

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        self.path = str(path)
        self.loop = loop
        self._pending = np.zeros(0, dtype=np.int16)
        self._container: Any = None
        self._chunks: Iterator[npt.NDArray[np.int16]] | None = None
        self._open()
        if not self._fill(1):
            self.close()
            raise AudioSourceError(f"cannot read audio file {self.path}: it holds no audio")

    def _open(self) -> None:
        if Path(self.path).is_dir():
            raise AudioSourceError(f"cannot read audio file {self.path}: is a directory")
        self._close_container()
        try:
            container = av.open(self.path, "r")
        except (OSError, av.FFmpegError, ValueError, UnicodeDecodeError) as exc:
            raise AudioSourceError(f"cannot read audio file {self.path}: {_reason(exc)}") from None
        if not container.streams.audio:
            container.close()
            raise AudioSourceError(f"cannot read audio file {self.path}: it has no audio stream")
        self._container = container
        self._chunks = self._decode(container)

    @staticmethod
    def _decode(container: Any) -> Iterator[npt.NDArray[np.int16]]:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            for frame in packet.decode():
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.int16)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.int16)

    def _fill(self, samples: int) -> bool:
        """Decode until ``samples`` are pending; ``False`` if the file ended first."""
        parts = [self._pending]
        have = self._pending.size
        ok = True
        while have < samples:
            try:
                chunk = next(self._chunks) if self._chunks is not None else None
            except StopIteration:
                chunk = None
            except (OSError, av.FFmpegError, ValueError):
                chunk = None  # corrupt from here on: treat as the end
            if chunk is None:
                ok = False
                break
            parts.append(chunk)
            have += chunk.size
        self._pending = np.concatenate(parts) if len(parts) > 1 else self._pending
        return ok

    def read(self) -> Frame | None:
        if not self._fill(FRAME_SAMPLES) and self.loop and self._chunks is not None:
            try:
                self._open()
            except AudioSourceError:
                self.loop = False
            else:
                self._fill(FRAME_SAMPLES)
        if self._pending.size == 0:
            self._close_container()
            return None
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        take = min(FRAME_SAMPLES, self._pending.size)
        frame[:take] = self._pending[:take]
        self._pending = self._pending[take:]
        return frame

    def _close_container(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        self._chunks = None

    def close(self) -> None:
        self._close_container()
        self._pending = np.zeros(0, dtype=np.int16)
        self.loop = False

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame


def open_file(path: str | Path, loop: bool = False) -> FileSource:
    """A source streaming an audio file once (or forever with ``loop=True``)."""
    return FileSource(path, loop=loop)


class ToneSource:
    """A sine tone with continuous phase; ``seconds=None`` plays forever."""

    def __init__(
        self, frequency_hz: float, seconds: float | None = None, amplitude: float = 0.3
    ) -> None:
        if not 20.0 <= frequency_hz <= SAMPLE_RATE / 2:
            raise ValueError("tone frequency must be between 20 Hz and 24 kHz")
        self.frequency_hz = frequency_hz
        self.amplitude = amplitude
        self._frames_left = None if seconds is None else math.ceil(seconds * 50)
        self._phase = 0.0  # radians at the start of the next frame
        self._step = 2 * np.pi * frequency_hz / SAMPLE_RATE

    def read(self) -> Frame | None:
        if self._frames_left is not None:
            if self._frames_left <= 0:
                return None
            self._frames_left -= 1
        phases = self._phase + self._step * np.arange(FRAME_SAMPLES)
        self._phase = float((self._phase + self._step * FRAME_SAMPLES) % (2 * np.pi))
        wave = np.sin(phases) * self.amplitude * 32767
        frame: Frame = np.round(wave).astype(np.int16)
        return frame

    def close(self) -> None:
        self._frames_left = 0

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame


def espeak_binary() -> str | None:
    """Path of espeak-ng (or espeak), or ``None`` when not installed."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


def synthesize_speech(
    text: str, voice: str = "en", words_per_minute: int = 160, pitch: int = 50
) -> npt.NDArray[np.int16]:
    """Speech for ``text`` from espeak-ng as mono 48 kHz int16 PCM.

    Raises :class:`SpeechSynthesisError` when espeak-ng is missing or fails.
    """
    binary = espeak_binary()
    if binary is None:
        raise SpeechSynthesisError(
            "speech needs espeak-ng, which is not installed "
            "(apt-get install espeak-ng), or use --tone or a file"
        )
    if not text.strip():
        raise SpeechSynthesisError("nothing to say: the text is empty")
    with tempfile.TemporaryDirectory(prefix="hushroom-say-") as tmp:
        wav = Path(tmp) / "say.wav"
        cmd = [binary, "-v", voice, "-s", str(words_per_minute), "-p", str(pitch)]
        cmd += ["-w", str(wav), "--", text]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpeechSynthesisError(f"espeak-ng failed: {exc}") from None
        if proc.returncode != 0 or not wav.exists():
            detail = proc.stderr.decode(errors="replace").strip().splitlines()
            raise SpeechSynthesisError(
                "espeak-ng failed: " + (detail[0] if detail else f"exit {proc.returncode}")
            )
        return decode_file(wav)


def speech_source(text: str, voice: str = "en", loop: bool = False, pitch: int = 50) -> PcmSource:
    """A source speaking ``text`` with espeak-ng (see :func:`synthesize_speech`)."""
    return PcmSource(synthesize_speech(text, voice=voice, pitch=pitch), loop=loop)
