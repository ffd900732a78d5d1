"""The room's receive side, driven by the session's 20 ms clock.

:class:`RoomAudioReceiver` holds one :class:`~client.audio.speaker.SpeakerStream`
per speaker (jitter buffer, Opus decoder with PLC/FEC, level meter), mixes them
and feeds the sinks.  It is synchronous and does no I/O scheduling: the session
calls :meth:`~RoomAudioReceiver.push` for every decrypted Opus frame and
:meth:`~RoomAudioReceiver.tick` every 20 ms (``now`` in seconds from any
monotonic clock, e.g. ``trio.current_time()``)::

    receiver = RoomAudioReceiver(recorder=RoomRecorder("room.wav"))
    receiver.push(speaker_id, seq, opus_bytes, now)   # as frames arrive
    mixed = receiver.tick(now)                        # every 20 ms: one frame
    receiver.active_speakers()                        # for the speaking indicators
    receiver.close()                                  # closes the sinks

``speaker_id`` is the speaker's member id (its whole identity key, never a
prefix of it: two members whose ids share a prefix get two streams); ``seq``
is that speaker's monotonically increasing frame counter.  Call
:meth:`~RoomAudioReceiver.reset_speaker` when a speaker's counter restarts and
:meth:`~RoomAudioReceiver.remove_speaker` when someone leaves the stage: their
buffered frames are dropped and never played.
"""

from __future__ import annotations

from dataclasses import dataclass

from client.audio.decoder import DecoderBackend
from client.audio.format import Frame
from client.audio.jitter import JitterConfig, JitterStats, PushResult
from client.audio.mixer import Mixer
from client.audio.sinks import FrameSink, RoomRecorder
from client.audio.speaker import DecodeStats, SpeakerStream

MemberId = bytes
"""A speaker's member id (spec §5.4): what every per-speaker table is keyed by."""

SPEAKING_THRESHOLD_DBFS = -45.0
"""A speaker whose smoothed level is above this counts as speaking."""


@dataclass(frozen=True)
class SpeakerActivity:
    """One speaker's speaking indicator."""

    speaker_id: MemberId
    level: float
    """0.0 (at the threshold) .. 1.0 (full scale), for a level bar."""
    dbfs: float


class RoomAudioReceiver:
    """Per-speaker jitter buffers + decoding + mixing + sinks (see module docstring)."""

    def __init__(
        self,
        jitter: JitterConfig | None = None,
        decoder_backend: DecoderBackend = "auto",
        recorder: RoomRecorder | None = None,
        output: FrameSink | None = None,
    ) -> None:
        self.jitter_config = jitter or JitterConfig()
        self.decoder_backend: DecoderBackend = decoder_backend
        self.recorder = recorder
        self.output = output
        self.mixer = Mixer()
        self._speakers: dict[MemberId, SpeakerStream] = {}
        self.ticks = 0

    @property
    def speakers(self) -> list[MemberId]:
        return list(self._speakers)

    def _stream(self, speaker_id: MemberId) -> SpeakerStream:
        stream = self._speakers.get(speaker_id)
        if stream is None:
            stream = SpeakerStream(self.jitter_config, self.decoder_backend)
            self._speakers[speaker_id] = stream
        return stream

    def push(
        self, speaker_id: MemberId, seq: int, opus: bytes, now: float, proof_batch: int = 0
    ) -> PushResult:
        """Queue one received Opus frame from ``speaker_id``.

        ``proof_batch``: the frame was held until a speaker proof covered it,
        and one proof of this speaker covers up to that many frames (spec
        §15.6; 0: played on arrival).  The speaker's playout then spans the
        batch (:mod:`client.audio.jitter`).
        """
        return self._stream(speaker_id).push(seq, opus, now, proof_batch)

    def tick(self, now: float) -> Frame:
        """Produce the room's next 20 ms frame (silence when nobody speaks)."""
        frames: dict[MemberId, Frame | None] = {
            speaker_id: stream.next_frame(now) for speaker_id, stream in self._speakers.items()
        }
        mixed = self.mixer.mix_speakers(frames)
        if self.recorder is not None:
            self.recorder.write_tick(mixed, frames)
        if self.output is not None:
            self.output.write(mixed)
        self.ticks += 1
        return mixed

    def active_speakers(
        self, threshold_dbfs: float = SPEAKING_THRESHOLD_DBFS
    ) -> list[SpeakerActivity]:
        """Speakers currently heard above ``threshold_dbfs``, loudest first."""
        active = [
            SpeakerActivity(
                speaker_id,
                min(1.0, (stream.level_dbfs - threshold_dbfs) / -threshold_dbfs),
                stream.level_dbfs,
            )
            for speaker_id, stream in self._speakers.items()
            if stream.level_dbfs > threshold_dbfs
        ]
        return sorted(active, key=lambda a: a.dbfs, reverse=True)

    def reset_speaker(self, speaker_id: MemberId) -> None:
        """The speaker's stream restarted (new counter): forget its buffered frames."""
        stream = self._speakers.get(speaker_id)
        if stream is not None:
            stream.reset()

    def remove_speaker(self, speaker_id: MemberId) -> None:
        """Stop playing ``speaker_id``: its buffered frames are dropped."""
        self._speakers.pop(speaker_id, None)

    def jitter_stats(self, speaker_id: MemberId) -> JitterStats:
        return self._speakers[speaker_id].jitter.stats

    def decode_stats(self, speaker_id: MemberId) -> DecodeStats:
        return self._speakers[speaker_id].stats

    def delay_seconds(self, speaker_id: MemberId) -> float:
        """``speaker_id``'s current playout delay (its jitter target, plus a proof batch)."""
        return self._speakers[speaker_id].jitter.delay_seconds

    def close(self) -> None:
        """Close the recorder and the output."""
        if self.recorder is not None:
            self.recorder.close()
        if self.output is not None:
            self.output.close()
