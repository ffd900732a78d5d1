"""Per-speaker jitter buffer: orders packets by sequence number and paces playout.

The buffer knows nothing about Opus.  The session pushes ``(seq, payload)`` as
packets arrive; once per 20 ms tick the speaker's stream calls :meth:`pop`,
which says what to play: a packet, a *lost* frame to conceal (with the next
packet attached when it is already here, so the decoder can use its FEC), or
*idle* (the speaker is silent: nothing to mix).

Rules (``seq`` is a per-speaker, monotonically increasing integer that may jump):

* Playout starts ``target_frames`` frames after the first packet of a talk
  spurt (or once that many frames are buffered), at the lowest buffered seq.
* Duplicates, and packets older than the playout point ("late"), are dropped.
* A missing frame whose successor is at most ``jump_frames`` ahead is concealed;
  a hole of ``jump_frames`` or more is a sequence jump: playout continues at
  the next buffered packet without concealing the hole.
* With nothing buffered for ``idle_after_frames`` ticks the speaker goes idle;
  the next packet starts a new talk spurt.
* The buffer holds at most ``max_frames`` packets (oldest dropped first).
* Adaptive delay (optional) follows the measured jitter
  (:mod:`client.audio.jitter_estimate`: RFC 3550 interarrival jitter ``J``
  over every arrival, late ones included; the delay it asks for is
  ``ceil(3 J / 20 ms)`` frames).  The *floor* is that delay, clamped between
  the configured target and ``max_target_frames``.  Once a second (every
  ``ADAPT_TICKS`` ticks) a target below the floor rises by up to
  ``MAX_GROWTH`` frames.  Late arrivals raise it by one frame *per burst*
  (up to ``max_target_frames``): a late arrival less than ``LATE_BURST``
  (half a frame period) after the previous late one belongs to the same
  burst and raises nothing, so the frames a stalled TCP segment or a
  stalled loop delivers at once add one frame, not one each; frames late
  one by one (a path that became slower) each still raise one.  Every frame
  of growth stretches playout by one concealed frame.
* Decay: after a *hold* of ``shrink_after_ticks`` ticks (3 s by default)
  without a late arrival the target drops by one frame, and by one more
  every ``ADAPT_TICKS`` (1 s) while no late arrival comes, never below the
  floor: from the 240 ms ceiling back to 60 ms in 3 + 8 = 11 s.  Playout
  catches up by skipping one buffered frame once a second while more than
  the target stayed buffered all that second.
* Anti-flap: a late-driven rise less than ``FORGET_TICKS`` (128 s) after
  the previous late arrival, the target having decayed in between, is a
  *relapse*: the delay just given up was needed again, as when a speaker's
  path keeps switching between datagrams and the slower TLS link (each
  switch to the slower path finds the buffer short by the difference unless
  the target kept it).  Each relapse multiplies the hold by ``HOLD_GROWTH``
  (4), up to ``MAX_HOLD_TICKS`` (64 s): such a path pays a run of late
  frames ever more rarely, at most once per 64 s and the decay after it,
  instead of at every switch after the target came down.  After
  ``FORGET_TICKS`` without a late arrival the hold is back to
  ``shrink_after_ticks``.
* :meth:`reset` forgets everything: use it when a speaker's stream restarts
  (for example with a new sender key and a counter that starts again).

Frames held until their speaker's proof (spec §15.6) arrive in *releases*: all
the frames one proof covers, at once, the newest of them sent just before the
proof.  :meth:`push` says so with ``proof_batch``, the most frames one proof
may cover (0: the frame came on its own); held frames pushed less than
``RELEASE_SPREAD`` apart are one release.  For such a speaker

* playout of a spurt starts at lowest buffered ``seq`` ``s0`` once
  ``target_frames + proof_batch - 1 - (s_new - s0)`` frame periods have passed
  since ``s_new``, the newest frame, arrived: every frame then plays
  ``proof_batch - 1 + target`` frame periods after it was sent, the first
  frame of each later release on time too (a spurt that starts with a short
  release, a paused speaker's, waits for the rest of the batch);
* only the newest frame of a release is an arrival for the jitter estimate
  (the others were held, not delayed), compared with the newest of the last;
* the buffer holds ``max_frames + proof_batch`` packets;
* the playout delay (:attr:`JitterBuffer.delay_seconds`) is
  ``target_frames + proof_batch - 1`` frame periods;
* the trim rule looks at the level as each release arrives (what is left of
  the earlier ones, about ``target_frames - 1`` on time), not at every tick, so
  the frames a release puts in the buffer never count as excess delay; its
  window spans at least a second and ``TRIM_RELEASES`` releases (a few
  releases a second would not show the link's jitter).

Whether a speaker is held is set by the newest frame: a frame above every
counter accepted so far.  When such a frame comes on its own after held
frames that came in releases of two or more (the receiver turned from
holding the speaker to playing it first, §15.6 *Playout*; a lone held frame
between frames played first is no batch to drop), the buffer drops the held
batch's excess at once: every buffered frame below ``seq - target_frames +
1`` goes (counted as ``switch_dropped``) and playout continues there, one
glitch instead of trimming a frame a second.  Held frames older than the
newest that come after that (the batch that was waiting for its proof at
the switch) are behind the gate, not the network: one that is late is
counted but raises no target, and none of them is a jitter-estimate arrival.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from client.audio.format import FRAME_SECONDS
from client.audio.jitter_estimate import JitterEstimate

ADAPT_TICKS = 50
"""Ticks (one second) between two looks at the buffer level and the jitter estimate."""
MAX_GROWTH = 2
"""Frames the target may rise by at one look for the jitter estimate."""
RELEASE_SPREAD = FRAME_SECONDS / 4
"""Held frames pushed closer together than this came in one release (spec §15.6)."""
TRIM_RELEASES = 8
"""Releases the trim rule looks at, at least, before it skips a held speaker's frame."""
LATE_BURST = FRAME_SECONDS / 2
"""Late arrivals closer together than this are one burst: they raise the target once."""
HOLD_GROWTH = 4
"""Each relapse multiplies the hold by this (3 s, 12 s, 48 s, then the maximum)."""
MAX_HOLD_TICKS = 3200
"""Longest hold before the target decays (64 s)."""
FORGET_TICKS = 6400
"""128 s without a late arrival: the next one is no relapse, the hold is back to its base."""


class PushResult(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"


@dataclass(frozen=True)
class Playout:
    """What to play for one tick."""

    kind: Literal["packet", "lost", "idle"]
    seq: int | None = None
    payload: bytes | None = None
    """The packet to decode (``kind == "packet"``)."""
    next_payload: bytes | None = None
    """For ``kind == "lost"``: the following packet if buffered (its FEC can rebuild this frame)."""


@dataclass
class JitterStats:
    received: int = 0
    duplicates: int = 0
    late: int = 0
    played: int = 0
    concealed: int = 0
    trailing: int = 0
    """Of ``concealed``: the tail after a spurt's last packet (the speaker stopped, no loss)."""
    stretched: int = 0
    skipped: int = 0
    switch_dropped: int = 0
    """Frames dropped at once when the speaker turned from held to played first (§15.6)."""
    overflowed: int = 0
    jumps: int = 0
    spurts: int = field(default=0)


@dataclass(frozen=True)
class JitterConfig:
    target_frames: int = 3
    """Playout delay in 20 ms frames (3 = 60 ms)."""
    max_frames: int = 50
    idle_after_frames: int = 10
    jump_frames: int = 50
    adaptive: bool = True
    max_target_frames: int = 12
    shrink_after_ticks: int = 150
    """The hold: ticks without a late arrival before the target starts to decay."""

    def __post_init__(self) -> None:
        if not 0 <= self.target_frames <= self.max_target_frames:
            raise ValueError("target_frames must be between 0 and max_target_frames")
        if self.max_frames < self.max_target_frames + 1:
            raise ValueError("max_frames must exceed max_target_frames")
        if self.idle_after_frames < 1 or self.jump_frames < 2:
            raise ValueError("idle_after_frames >= 1 and jump_frames >= 2 are required")
        if not 1 <= self.shrink_after_ticks <= MAX_HOLD_TICKS:
            raise ValueError(f"shrink_after_ticks must be between 1 and {MAX_HOLD_TICKS}")


class JitterBuffer:
    """One speaker's jitter buffer (see the module docstring for the rules)."""

    def __init__(self, config: JitterConfig | None = None) -> None:
        self.config = config or JitterConfig()
        self.stats = JitterStats()
        self._clear()

    def _clear(self) -> None:
        self._packets: dict[int, bytes] = {}
        self._recent: deque[int] = deque(maxlen=256)
        self._recent_set: set[int] = set()
        self.target_frames = self.config.target_frames
        self._next_seq: int | None = None  # playout point; everything below is history
        self._playing = False
        self._spurt_started_at: float | None = None
        self._empty_ticks = 0
        self._tail_start: int | None = None  # first seq concealed with nothing buffered
        self._stretch_pending = 0
        self._ticks_since_late = 0
        self._last_late: float | None = None  # arrival time of the latest late packet
        self._hold = self.config.shrink_after_ticks
        self._ticks_since_decay: int | None = None  # None: no decay step since the last rise
        self._ticks_since_trim = 0
        self._min_level = self.config.max_frames
        self.estimate = JitterEstimate()
        self.proof_batch = 0
        """Most frames one speaker proof releases at once for this speaker (0: none held)."""
        self._newest: tuple[int, float] | None = None  # highest seq accepted, its arrival
        self._release: tuple[int, float] | None = None  # the current release's newest arrival
        self._batched = False  # since last played first, held frames came several at once
        self._releases = 0  # releases since the last trim look

    # -- state -------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def buffered(self) -> int:
        """Packets waiting to be played."""
        return len(self._packets)

    @property
    def floor_frames(self) -> int:
        """The delay the measured jitter calls for, within the configured bounds."""
        needed = self.estimate.frames_needed()
        return max(self.config.target_frames, min(self.config.max_target_frames, needed))

    @property
    def delay_seconds(self) -> float:
        """Current playout delay: the target, plus a proof batch for frames held for it."""
        return (self.target_frames + self.hold_frames) * FRAME_SECONDS

    @property
    def hold_frames(self) -> int:
        """Frame periods the first frame of a release waited for its proof (spec §15.6)."""
        return max(0, self.proof_batch - 1)

    def reset(self) -> None:
        """Forget all packets and history; the next packet starts a new stream."""
        self._clear()

    # -- input -------------------------------------------------------------
    def _remember(self, seq: int) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(seq)
        self._recent_set.add(seq)

    def push(self, seq: int, payload: bytes, now: float, proof_batch: int = 0) -> PushResult:
        """Add a received packet; ``now`` is the arrival time in seconds.

        ``proof_batch``: the packet was held until a speaker proof of up to
        that many frames covered it (0: it came on its own); see the module
        docstring.
        """
        self.stats.received += 1
        if seq in self._packets or seq in self._recent_set:
            self.stats.duplicates += 1
            return PushResult.DUPLICATE
        newest = self._newest is None or seq > self._newest[0]
        behind_gate = proof_batch > 0 and not self.proof_batch and not newest
        switched = newest and self._batched and not proof_batch
        if not behind_gate:
            self._arrival(seq, now, proof_batch if newest else self.proof_batch)
        if self._next_seq is not None and seq < self._next_seq:
            self.stats.late += 1
            self._remember(seq)
            if (
                self._playing
                and self.config.adaptive
                and not behind_gate
                and self._next_seq - seq <= self.target_frames + 8
            ):
                self._late(now)
            return PushResult.LATE
        self._packets[seq] = payload
        if not self._playing and self._spurt_started_at is None:
            self._spurt_started_at = now
        if newest:
            self._newest = (seq, now)
        if switched:
            self._drop_held_excess(seq)
        while len(self._packets) > self.config.max_frames + self.proof_batch:
            oldest = min(self._packets)
            del self._packets[oldest]
            self._remember(oldest)
            self.stats.overflowed += 1
            if self._next_seq is not None and oldest >= self._next_seq:
                self._next_seq = oldest + 1
        return PushResult.ACCEPTED

    def _drop_held_excess(self, seq: int) -> None:
        """Played first after held: keep only the target's frames up to ``seq`` (§15.6)."""
        start = seq - self.target_frames + 1
        for old in [s for s in self._packets if s < start]:
            del self._packets[old]
            self._remember(old)
            self.stats.switch_dropped += 1
        if self._next_seq is not None:
            self._next_seq = max(self._next_seq, start)
        self._stretch_pending = 0

    def _ready(self, now: float) -> bool:
        """A spurt's playout may start (module docstring)."""
        if self.proof_batch > 0 and self._newest is not None:
            newest, at = self._newest
            lead = self.hold_frames + self.target_frames - (newest - min(self._packets))
            return now + 1e-9 >= at + lead * FRAME_SECONDS
        assert self._spurt_started_at is not None
        waited = now - self._spurt_started_at + 1e-9
        return len(self._packets) >= max(1, self.target_frames) or waited >= self.delay_seconds

    def _arrival(self, seq: int, now: float, proof_batch: int) -> None:
        """Feed the jitter estimate: each packet, or the newest of each release (§15.6)."""
        self.proof_batch = proof_batch
        if not proof_batch:
            self._release = None
            self._batched = False
            self.estimate.arrival(seq, now)
            return
        last = self._release
        if last is not None and now - last[1] < RELEASE_SPREAD:  # more of the same release
            self._release = (max(seq, last[0]), now)
            self._batched = True
            return
        if last is not None:  # a new release: the last one is complete
            self.estimate.arrival(*last)
        self._release = (seq, now)
        if self._playing:  # what is left when a release comes is the delay to spare
            self._releases += 1
            self._min_level = min(self._min_level, len(self._packets))

    def _late(self, now: float) -> None:
        """A late arrival: one frame more per burst; a relapse lengthens the hold."""
        quiet, self._ticks_since_late = self._ticks_since_late, 0
        same_burst = self._last_late is not None and now - self._last_late < LATE_BURST
        self._last_late = now
        if same_burst or self.target_frames >= self.config.max_target_frames:
            return
        self.target_frames += 1
        self._stretch_pending += 1
        if self._ticks_since_decay is not None and quiet < FORGET_TICKS:
            self._hold = min(MAX_HOLD_TICKS, HOLD_GROWTH * self._hold)
        self._ticks_since_decay = None

    # -- output ------------------------------------------------------------
    def pop(self, now: float) -> Playout:
        """What to play for the tick at ``now`` (call exactly once per 20 ms)."""
        if not self._playing:
            if not self._packets or self._spurt_started_at is None:
                return Playout("idle")
            if not self._ready(now):
                return Playout("idle")
            self._playing = True
            self._spurt_started_at = None
            self._empty_ticks = 0
            self._stretch_pending = 0
            self._next_seq = min(self._packets)
            self.stats.spurts += 1
        assert self._next_seq is not None
        self._adapt()

        if self._stretch_pending > 0 and self._packets:
            self._stretch_pending -= 1
            self.stats.stretched += 1
            return Playout("lost", seq=None)

        seq = self._next_seq
        payload = self._packets.pop(seq, None)
        if payload is None and self._packets:
            nearest = min(self._packets)
            if nearest - seq >= self.config.jump_frames:
                self.stats.jumps += 1
                seq = nearest
                payload = self._packets.pop(seq)
        if payload is not None:
            self._empty_ticks = 0
            self._tail_start = None
            self._next_seq = seq + 1
            self._remember(seq)
            self.stats.played += 1
            return Playout("packet", seq=seq, payload=payload)

        # The frame is missing.
        if not self._packets:
            self._empty_ticks += 1
            if self._tail_start is None:
                self._tail_start = seq
            if self._empty_ticks > self.config.idle_after_frames:
                # The speaker stopped (DTX, muted, gone).  Rewind over the
                # concealed tail: a new talk spurt may continue right there.
                self._playing = False
                self._stretch_pending = 0
                self.stats.trailing += self._empty_ticks - 1
                self._next_seq = self._tail_start
                self._tail_start = None
                return Playout("idle")
        else:
            self._empty_ticks = 0
            self._tail_start = None
        self._next_seq = seq + 1
        self.stats.concealed += 1
        return Playout("lost", seq=seq, next_payload=self._packets.get(seq + 1))

    def _decay(self) -> None:
        """After the hold without a late arrival, one frame a second down to the floor."""
        if self._ticks_since_decay is not None:
            self._ticks_since_decay += 1
        if self._ticks_since_late >= FORGET_TICKS:
            self._hold = self.config.shrink_after_ticks
        if self._ticks_since_late < self._hold or self.target_frames <= self.floor_frames:
            return
        if self._ticks_since_decay is None or self._ticks_since_decay >= ADAPT_TICKS:
            self.target_frames -= 1
            self._ticks_since_decay = 0

    def _adapt(self) -> None:
        if not self.config.adaptive:
            return
        self._ticks_since_late += 1
        self._ticks_since_trim += 1
        if not self.proof_batch:  # held frames: the level is taken as each release arrives
            self._min_level = min(self._min_level, len(self._packets))
        self._decay()
        if self._ticks_since_trim < ADAPT_TICKS:
            return
        rise = min(MAX_GROWTH, self.floor_frames - self.target_frames)
        if rise > 0:
            self.target_frames += rise
            self._stretch_pending += rise
        self._ticks_since_trim = 0
        if self.proof_batch and self._releases < TRIM_RELEASES:
            return  # held frames: the window stays open until enough releases came
        # Over the last second more than the target was always buffered:
        # skip the oldest frame to cut the delay by 20 ms.
        assert self._next_seq is not None
        if (
            self._min_level > self.target_frames
            and self._stretch_pending == 0
            and self._next_seq in self._packets
        ):
            del self._packets[self._next_seq]
            self._remember(self._next_seq)
            self._next_seq += 1
            self.stats.skipped += 1
        self._min_level = self.config.max_frames
        self._releases = 0
