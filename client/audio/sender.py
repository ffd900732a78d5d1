"""The send side in one object: a source, an optional mute, and the Opus encoder.

The session calls :meth:`AudioSender.next_packet` once per 20 ms tick and
encrypts and sends what it returns::

    sender = AudioSender(open_source(tone=True))
    packet = sender.next_packet()   # bytes to send, or None (muted, DTX, ended)
    if sender.ended: ...            # the source has no more audio

While muted the source keeps advancing (a microphone or a file goes on in real
time) but nothing is encoded or sent.
"""

from __future__ import annotations

from pathlib import Path

from client.audio.encoder import OpusEncoderConfig, OpusFrameEncoder
from client.audio.errors import AudioError
from client.audio.sources import FrameSource, ToneSource, open_file, speech_source


class AudioSender:
    """Reads one frame per tick from ``source`` and encodes it (see module docstring)."""

    def __init__(self, source: FrameSource, config: OpusEncoderConfig | None = None) -> None:
        self.source = source
        self.encoder = OpusFrameEncoder(config)
        self.muted = False
        self.ended = False
        self.frames_sent = 0

    def next_packet(self) -> bytes | None:
        """The Opus packet for this tick, or ``None`` when there is nothing to send."""
        if self.ended:
            return None
        frame = self.source.read()
        if frame is None:
            self.ended = True
            return None
        if self.muted:
            return None
        packet = self.encoder.encode(frame)
        if packet is not None:
            self.frames_sent += 1
        return packet

    def close(self) -> None:
        self.source.close()
        self.ended = True


def open_source(
    *,
    file: str | Path | None = None,
    tone: bool | float = False,
    say: str | None = None,
    mic: bool = False,
    loop: bool = False,
    speaker_index: int = 0,
) -> FrameSource:
    """The source for ``hushroom join`` flags: exactly one of ``--speak FILE``,
    ``--tone`` (``True`` picks a distinct frequency from ``speaker_index``, a
    float is the frequency in Hz), ``--say TEXT`` (espeak-ng) or ``--mic``.

    A tone plays forever; a file or speech plays once unless ``loop``.
    Raises an :class:`AudioError` subclass with one clear line on failure.
    """
    chosen = [file is not None, tone is not False, say is not None, mic]
    if sum(chosen) != 1:
        raise AudioError("choose exactly one audio source: a file, a tone, speech or the mic")
    if file is not None:
        return open_file(file, loop=loop)
    if say is not None:
        return speech_source(say, loop=loop)
    if mic:
        from client.audio.devices import MicrophoneSource

        return MicrophoneSource()
    from client.audio.synth import speaker_tone_hz

    frequency = speaker_tone_hz(speaker_index) if tone is True else float(tone)
    return ToneSource(frequency)
