"""Where mixed audio goes: WAV files (the room, and optionally each speaker).

The speakers (sound card) live in :mod:`client.audio.devices` because they
need the optional ``sounddevice`` extra.
"""

from __future__ import annotations

import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from client.audio.errors import AudioError
from client.audio.format import CHANNELS, FRAME_SAMPLES, SAMPLE_RATE, SAMPLE_WIDTH_BYTES, Frame
from client.secret_file import make_private_dirs, open_private


class FrameSink(Protocol):
    """Anything that accepts one 20 ms frame per tick."""

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


class WavSink:
    """Writes frames to a 48 kHz mono 16-bit WAV file.

    A recording of the room is as private as the room: the file is created
    0600 and missing folders 0700, whatever the umask.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            make_private_dirs(self.path.parent)
            self._file = open_private(self.path)
        except OSError as exc:
            raise AudioError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        # Opened on our file object: wave never owns (or half-opens) the file.
        self._wav: wave.Wave_write | None = wave.open(self._file, "wb")
        self._wav.setnchannels(CHANNELS)
        self._wav.setsampwidth(SAMPLE_WIDTH_BYTES)
        self._wav.setframerate(SAMPLE_RATE)
        self.frames_written = 0

    @property
    def seconds(self) -> float:
        return self.frames_written * FRAME_SAMPLES / SAMPLE_RATE

    def write(self, frame: Frame) -> None:
        if self._wav is None:
            raise AudioError(f"{self.path} is already closed")
        self._wav.writeframes(frame.astype("<i2").tobytes())
        self.frames_written += 1

    def write_silence(self, frames: int) -> None:
        """Append ``frames`` frames of silence (in chunks)."""
        if self._wav is None:
            raise AudioError(f"{self.path} is already closed")
        chunk = bytes(FRAME_SAMPLES * SAMPLE_WIDTH_BYTES * 50)
        left = frames
        while left > 0:
            n = min(left, 50)
            self._wav.writeframes(chunk[: n * FRAME_SAMPLES * SAMPLE_WIDTH_BYTES])
            left -= n
        self.frames_written += frames

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
            self._file.close()

    def __enter__(self) -> WavSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def speaker_file_name(member_id: bytes) -> str:
    """The file of a speaker's own recording: ``speaker-<member id in hex>.wav``.

    The whole id, so that two speakers never share a file; hex, so that the
    name is safe whatever the id.
    """
    return f"speaker-{member_id.hex()}.wav"


class RoomRecorder:
    """Records the room mix to one WAV and, optionally, each speaker to its own WAV.

    All files share the room's timeline: a speaker's file starts with silence
    up to the tick the speaker was first heard and holds silence whenever the
    speaker is idle, so every file lines up sample for sample with the mix.
    """

    def __init__(self, room_path: str | Path, per_speaker_dir: str | Path | None = None) -> None:
        self.room = WavSink(room_path)
        self.per_speaker_dir = None if per_speaker_dir is None else Path(per_speaker_dir)
        self.speaker_files: dict[bytes, WavSink] = {}
        self.ticks = 0

    def write_tick(self, mix: Frame, speakers: Mapping[bytes, Frame | None]) -> None:
        """Record one tick: the mix and each speaker's frame (``None`` = idle)."""
        self.room.write(mix)
        if self.per_speaker_dir is not None:
            for speaker_id, frame in speakers.items():
                sink = self.speaker_files.get(speaker_id)
                if sink is None and frame is not None:
                    sink = WavSink(self.per_speaker_dir / speaker_file_name(speaker_id))
                    sink.write_silence(self.ticks)
                    self.speaker_files[speaker_id] = sink
                if sink is not None and frame is not None:
                    sink.write(frame)
            for sink in self.speaker_files.values():
                if sink.frames_written <= self.ticks:
                    sink.write_silence(self.ticks + 1 - sink.frames_written)
        self.ticks += 1

    def close(self) -> None:
        self.room.close()
        for sink in self.speaker_files.values():
            sink.close()
