"""Two watches over received audio, each a small state machine the client polls.

* :class:`SlotWatch`: audio keeps arriving from a relay slot the room cannot
  place.  After a relay restart every member gets a new slot and the room
  learns them from announcements; if one was missed, that speaker's frames are
  refused as "unknown slot" for good.  Reconnecting makes a moderator send the
  current slot table (spec §16.4).
* :class:`GapReport`: which speakers' audio had gaps that were concealed.

Neither does I/O or calls back: they return what the client should do or say.
"""

from __future__ import annotations

from collections.abc import Mapping

from client.audio.receiver import RoomAudioReceiver

STUCK_FRAMES = 25
"""Frames from unknown slots, with nothing decrypted, that count as stuck (0.5 s)."""
GAP_FRAMES = 15
"""Concealed frames of one speaker worth a line (a talk spurt ends with about 8)."""


class SlotWatch:
    """True from :meth:`stuck` when unplaceable audio arrived and none was decrypted."""

    def __init__(self, counters: Mapping[str, int]) -> None:
        self._rejected = counters["audio_rejected_unknown_slot"]
        self._received = counters["audio_received"]

    def stuck(self, counters: Mapping[str, int]) -> bool:
        """Compare with the last call (counters may restart: a new room session)."""
        rejected = counters["audio_rejected_unknown_slot"]
        received = counters["audio_received"]
        is_stuck = rejected - self._rejected >= STUCK_FRAMES and received == self._received
        self._rejected, self._received = rejected, received
        return is_stuck


class GapReport:
    """Per speaker, the frames concealed since the last report."""

    def __init__(self) -> None:
        self._concealed: dict[bytes, int] = {}

    def lines(self, receiver: RoomAudioReceiver, names: Mapping[bytes, str]) -> list[str]:
        out = []
        for speaker in receiver.speakers:
            now = receiver.decode_stats(speaker).concealed
            lost = now - self._concealed.get(speaker, 0)
            self._concealed[speaker] = now
            if lost >= GAP_FRAMES and speaker in names:
                out.append(f"audio from {names[speaker]}: {lost} frames lost and concealed")
        return out
