"""Glue between the session and the audio pipeline (client/audio/).

* :class:`EncodedFeed` turns a PCM frame source into the session's packet
  feed: one Opus packet per 20 ms tick (``None`` when the source is done or
  the silence gate holds the frame back).
* :func:`open_source` builds the source a command line asked for
  (:class:`SourceChoice` holds that choice and describes it for the
  view's status line, :func:`audio_summary`).
* :func:`playout_loop` ticks a :class:`~client.audio.receiver.RoomAudioReceiver`
  every 20 ms on trio's clock, so recording and playback keep real time (and
  tests can use ``MockClock``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from client.audio.encoder import OpusEncoderConfig, OpusFrameEncoder
from client.audio.format import Frame, level_dbfs
from client.audio.receiver import RoomAudioReceiver
from client.audio.sinks import FrameSink
from client.audio.sources import FrameSource, ToneSource, open_file, speech_source
from client.errors import CliError

FRAME_SECONDS = 0.020


class EncodedFeed:
    """A :data:`client.session.PacketFeed` over a frame source and an Opus encoder."""

    def __init__(
        self,
        source: FrameSource,
        config: OpusEncoderConfig | None = None,
        *,
        stop_at_end: bool = True,
    ) -> None:
        self.source = source
        self.stop_at_end = stop_at_end
        self.encoder = OpusFrameEncoder(config)
        self.frames_read = 0
        self.last_dbfs = -120.0
        self.finished = False

    def __call__(self) -> bytes | None:
        if self.finished:
            return None
        frame = self.source.read()
        if frame is None:
            self.finished = self.stop_at_end  # else: nothing now, ask again next tick
            return None
        self.frames_read += 1
        self.last_dbfs = level_dbfs(frame)
        return self.encoder.encode(frame)

    def close(self) -> None:
        self.source.close()


def open_source(
    *,
    speak: str | None = None,
    tone: bool = False,
    tone_hz: float = 440.0,
    mic: bool = False,
    say: str | None = None,
    loop: bool = False,
    input_device: str | None = None,
) -> FrameSource | None:
    """The source named by ``--speak FILE | --tone | --mic | --say TEXT`` (or ``None``).

    ``input_device`` (``--input-device``: an index or part of a name) picks the
    microphone; it implies ``--mic``.

    Raises the audio pipeline's one-line errors (unreadable file, no audio
    device, no espeak-ng).
    """
    if speak:
        return open_file(speak, loop=loop)
    if tone:
        return ToneSource(tone_hz)
    if mic or input_device is not None:
        return LiveMicrophone(input_device)
    if say:
        return speech_source(say, loop=loop)
    return None


class LiveMicrophone:
    """The microphone as a non-blocking source: ``read`` returns ``None`` when no
    frame is ready yet, so the session's 20 ms tick never blocks trio (use it
    with ``EncodedFeed(..., stop_at_end=False)``)."""

    live = True

    def __init__(self, device: str | None = None) -> None:
        from client.audio.devices import MicrophoneSource

        self.mic = MicrophoneSource(device)

    def read(self) -> Frame | None:
        return self.mic.poll()

    def close(self) -> None:
        self.mic.close()


def is_live(source: FrameSource) -> bool:
    """A live source (microphone) has nothing *yet*, never nothing *more*."""
    return bool(getattr(source, "live", False))


def open_output(device: str | None = None) -> FrameSink:
    """This device's speakers, or ``device`` (optional ``sounddevice`` extra).

    Raises AudioDeviceError.
    """
    from client.audio.devices import SpeakerOutput

    return SpeakerOutput(device)


async def playout_loop(
    receiver: RoomAudioReceiver,
    on_tick: Callable[[Frame, float], None] | None = None,
) -> None:
    """Tick ``receiver`` once per 20 ms on trio's clock until cancelled."""
    next_tick = trio.current_time()
    while True:
        next_tick += FRAME_SECONDS
        now = trio.current_time()
        if next_tick < now - 0.2:  # fell far behind: do not catch up in a burst
            next_tick = now
        await trio.sleep_until(next_tick)
        mixed = receiver.tick(trio.current_time())
        if on_tick is not None:
            on_tick(mixed, next_tick)



@dataclass(frozen=True)
class SourceChoice:
    """What the command line asked this client to speak from (``--speak``, ``--mic``, ...)."""

    speak: str | None = None
    tone: bool = False
    mic: bool = False
    say: str | None = None
    input_device: str | None = None

    def open(self) -> FrameSource | None:
        """The source (raises the audio pipeline's one-line errors, or a CliError for a
        device given with a file, a tone or speech)."""
        if self.input_device is not None and (self.speak or self.tone or self.say):
            raise CliError(
                "--input-device picks a microphone: not with --speak, --tone or --say",
                exit_code=2,
            )
        return open_source(
            speak=self.speak,
            tone=self.tone,
            mic=self.mic,
            say=self.say,
            input_device=self.input_device,
        )

    def describe(self) -> str:
        """``the default microphone``, ``the file talk.ogg``, ... (empty: a listener)."""
        if self.input_device is not None:
            return f"microphone {self.input_device!r}"
        if self.mic:
            return "the default microphone"
        if self.speak:
            return f"the file {self.speak}"
        if self.tone:
            return "a test tone"
        return "espeak-ng speech" if self.say else ""


def audio_summary(
    source: SourceChoice, record: Path | None, playing: bool, output_device: str | None
) -> str:
    """One status line: what this client speaks from, records to and plays on."""
    spoken = source.describe()
    parts = [f"speaking from {spoken} (when on stage)"] if spoken else []
    if record is not None:
        parts.append(f"recording the room to {record.resolve()}")
    if playing:
        parts.append(f"playing on {output_device!r}" if output_device else "playing on speakers")
    return "audio: " + "; ".join(parts) if parts else ""
