"""The honest LOSS signal: per speaker, what share of its audio was not played as sent.

The relay's LOSS notice (spec §8.2) says only what the relay itself dropped;
what a listener hears also suffers from loss on the network and from packets
that came too late to play.  :class:`PlayoutWindow` reads the receiver's own
counters and returns, for each speaker that played since the last call, the
shares of frames over that window that were

* ``concealed`` — made up by Opus PLC (a packet lost, late, or a frame
  inserted while the playout delay grew), not counting the short tail the
  buffer conceals after a talk spurt's last packet before it goes idle;
* ``recovered`` — rebuilt from the next packet's in-band FEC;
* ``late`` — packets that arrived after their playout time (their frame had
  already been concealed or recovered, so this is part of the two above).

``late_or_concealed`` is ``concealed + recovered``: the frames not played from
their own packet.  One entry per speaker of the receiver (bounded by the
stage), forgotten with the speaker.
"""

from __future__ import annotations

from dataclasses import dataclass

from client.audio.receiver import MemberId, RoomAudioReceiver


@dataclass(frozen=True)
class PlayoutQuality:
    """One speaker's playout over one window."""

    speaker_id: MemberId
    frames: int
    """Ticks that played this speaker (decoded, recovered or concealed)."""
    concealed: int
    recovered: int
    late: int
    delay_seconds: float
    """The speaker's playout delay at the end of the window."""

    def share(self, count: int) -> float:
        """``count`` as a percentage of ``frames``."""
        return 100.0 * count / self.frames if self.frames else 0.0

    @property
    def late_or_concealed_pct(self) -> float:
        return self.share(self.concealed + self.recovered)


_Counts = tuple[int, int, int, int]


class PlayoutWindow:
    """Differences of the receiver's per-speaker counters between two calls."""

    def __init__(self) -> None:
        self._last: dict[MemberId, _Counts] = {}

    def take(self, receiver: RoomAudioReceiver) -> list[PlayoutQuality]:
        """Each speaker that played since the last call, with its window's shares."""
        out = []
        current: dict[MemberId, _Counts] = {}
        for speaker in receiver.speakers:
            decode, jitter = receiver.decode_stats(speaker), receiver.jitter_stats(speaker)
            concealed = decode.concealed - jitter.trailing
            now = (decode.decoded, concealed, decode.fec_recovered, jitter.late)
            before = self._last.get(speaker, (0, 0, 0, 0))
            if any(a < b for a, b in zip(now, before, strict=True)):
                before = (0, 0, 0, 0)  # a new stream for the same speaker
            current[speaker] = now
            decoded, concealed, recovered, late = (a - b for a, b in zip(now, before, strict=True))
            frames = decoded + concealed + recovered
            if frames > 0:
                delay = receiver.delay_seconds(speaker)
                out.append(PlayoutQuality(speaker, frames, concealed, recovered, late, delay))
        self._last = current
        return out
