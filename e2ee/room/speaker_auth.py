"""Speaker authentication: batching proofs out, holding frames in until proven (spec §15.6).

:class:`ProofBatcher` is the speaker's side: it collects the digests of the
frames it sends and emits a :mod:`~e2ee.room.speaker_proof` every ``batch``
frames, when its epoch changes, or when it pauses (:meth:`ProofBatcher.due`).

:class:`ProofGate` is the receiver's side.  A frame that arrives on a
speaker's slot is *held*; it is released (to be opened and played) once a
proof whose signature by that speaker covers its digest has been verified.
In the ``optimistic`` stage mode a receiver on stage instead plays at once
the frames of a speaker in good standing that lie within
``play_first_frames`` counters above the speaker's proven floor (the batch
being proven and those of the next that come before its proof: *tentative*
frames), and keeps their digests; their proof must verify them within
``tentative_wait`` or the speaker is reported, and they count against its
*unproven plays*: a stage member plays first at most ``play_first_frames``
frames of a speaker that end unproven per ``demotion`` seconds, and holds
the speaker until proven while that many are spent or tentative.  A bad
signature holds the speaker until proven for ``demotion`` seconds.  Held
frames that expire are reported too; they were never played.  A proof travels more than one way (two
datagrams and the link, spec §23.6); a copy of one waiting or lately
verified is dropped by its bytes.
Replay windows see only proven frames: a tentative frame is opened without
moving one and is handed back as *confirmed* once proven, so a forged frame —
whatever its counter — cannot silence anyone.  Held and tentative frames and
proofs are bounded per speaker and expire; an unproven or disproven frame is
reported as a forgery in that speaker's name.  Every frame the gate does not
release, every tentative frame never proven and every proof it drops is
counted, once, in the ``counters`` it is given (spec §15.6).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from e2ee.errors import DecryptionFailed, LocalProtocolError
from e2ee.identity import IdentityKey
from e2ee.room import speaker_proof
from e2ee.room.events import ForgedAudio
from e2ee.room.speaker_proof import MAX_BATCH, MAX_PARITY, Proof
from e2ee.sframe_header import decode_header

FRAME_SECONDS = 0.02
MAX_HELD_FRAMES = 2 * MAX_BATCH  # unproven frames held per speaker (spec §15.6)
MAX_HELD_PROOFS = 4  # proofs waiting for their frames, per speaker (spec §15.6)
# and as many verified proofs are kept per speaker, to drop their copies (spec §15.6 step 2)
PAUSE = 1.5 * FRAME_SECONDS  # no frame for this long: the speaker closes its batch


StageMode = Literal["hold", "optimistic"]


@dataclass(frozen=True)
class AuthConfig:
    """Room parameters of speaker authentication (spec §15.6); defaults are the spec's."""

    stage_mode: StageMode = "optimistic"  # stage members play first, then verify; or "hold"
    stage_batch: int = 20  # frames per proof while another member is on stage
    stage_parity: int = 2
    audience_batch: int = 25  # frames per proof when only the audience listens
    audience_parity: int = 3
    hold: float = 1.5  # seconds an unproven frame or a waiting proof is kept
    proof_margin: float = 0.4  # seconds a proof may come after its batch's last frame
    demotion: float = 60.0  # a bad signature holds until proven, a spent play counts, this long

    def __post_init__(self) -> None:
        for n, r in (
            (self.stage_batch, self.stage_parity),
            (self.audience_batch, self.audience_parity),
        ):
            if not 1 <= n <= MAX_BATCH or not 1 <= r <= min(n, MAX_PARITY):
                raise LocalProtocolError("bad speaker authentication batch or parity")
        if self.stage_mode not in ("hold", "optimistic"):
            raise LocalProtocolError("stage_mode is 'hold' or 'optimistic'")

    def params(self, others_on_stage: bool) -> tuple[int, int]:
        """``(batch, parity)`` a speaker uses (spec §15.6)."""
        if others_on_stage:
            return self.stage_batch, self.stage_parity
        return self.audience_batch, self.audience_parity

    def proof_batch(self, stage_size: int) -> int:
        """Most frames one proof covers, for a speaker on a stage of ``stage_size`` (§15.6)."""
        return self.params(stage_size > 1)[0]

    @property
    def play_first_frames(self) -> int:
        """Counters above a speaker's floor that a stage member plays first (spec §15.6).

        The batch being proven and the frames of the next one that arrive
        within ``proof_margin`` after it, before its proof: ``stage_batch +
        ceil(proof_margin / 20 ms)``.  It also bounds the tentative frames
        kept per speaker, and the forged frames played before a report.
        """
        return self.stage_batch + math.ceil(round(self.proof_margin / FRAME_SECONDS, 6))

    @property
    def tentative_wait(self) -> float:
        """Seconds after its arrival by which a tentative frame must be proven (spec §15.6)."""
        return self.stage_batch * FRAME_SECONDS + self.proof_margin


STAGE_HOLD = AuthConfig(stage_mode="hold", stage_batch=3, stage_parity=1)
"""The hold-until-proven stage mode with its own batch and parity (spec §15.6: 40 ms, 36 bytes)."""


# -- the speaker's side -----------------------------------------------------------------


class ProofBatcher:
    """Digests of the frames sent since the last proof (spec §15.6)."""

    def __init__(self, identity: IdentityKey, room_id: bytes) -> None:
        self._identity = identity
        self._room_id = room_id
        self._digests: list[bytes] = []
        self._first = 0
        self._epoch = -1
        self._key = b""
        self._parity = 1
        self._last_at = 0.0

    def add(
        self,
        frame: bytes,
        epoch: int,
        now: float,
        params: tuple[int, int],
        proof_key: Callable[[], bytes],
    ) -> list[bytes]:
        """Record a frame just protected under ``epoch``; returns the proofs to send now."""
        _, counter, _ = decode_header(frame)
        out: list[bytes] = []
        if self._digests and (epoch != self._epoch or counter != self._first + len(self._digests)):
            out.extend(self.flush())
        if not self._digests:
            self._first, self._epoch, self._key = counter, epoch, proof_key()
        batch, self._parity = params
        self._digests.append(speaker_proof.frame_digest(frame))
        self._last_at = now
        if len(self._digests) >= batch:
            out.extend(self.flush())
        return out

    def due(self) -> float | None:
        """When a paused speaker must send the proof of its partial batch."""
        return self._last_at + PAUSE if self._digests else None

    def flush(self) -> list[bytes]:
        """The proof of the frames collected so far (none if there are none)."""
        if not self._digests:
            return []
        digests, self._digests = self._digests, []
        r = min(self._parity, len(digests), speaker_proof.MAX_PARITY)
        return [
            speaker_proof.make_proof(
                self._identity, self._key, self._room_id, self._epoch, self._first, digests, r
            )
        ]


# -- the receiver's side ----------------------------------------------------------------


def _may_cover(proof: bytes, ctr: int) -> bool:
    """Counter ``ctr`` is at most a batch above the proof's clear ``first`` (spec §15.6)."""
    return 0 <= ctr - speaker_proof.proof_first(proof) < MAX_BATCH


def _awaited(h: _Held, ctr: int) -> bool:
    """A waiting proof may cover counter ``ctr``: its frame is kept even below the floor."""
    return any(_may_cover(p[1], ctr) for p in h.proofs)


@dataclass
class Released:
    """What a frame or proof arrival lets through (spec §15.6).

    ``frames`` are proven: open and play them, in counter order.
    ``tentative`` frames are played before they are proven (the optimistic
    stage mode): open them without moving any replay window.  ``confirmed``
    frames were played tentatively and a proof now covers them: open them
    only so that their replay window moves, and do not play them again.
    """

    frames: list[bytes]
    events: list[ForgedAudio]
    tentative: list[bytes] = field(default_factory=list)
    confirmed: list[bytes] = field(default_factory=list)


Entry = tuple[bytes, bytes, float]  # a frame, its digest D(F), its arrival time


@dataclass
class _Held:
    """One speaker's unproven frames and waiting proofs (spec §15.6)."""

    frames: dict[int, Entry] = field(default_factory=dict)  # held: not played yet
    tentative: dict[int, Entry] = field(default_factory=dict)  # played, not proven yet
    proofs: list[tuple[list[tuple[int, bytes]], bytes, float]] = field(default_factory=list)
    proven: dict[int, bytes] = field(default_factory=dict)  # digests of proven, unseen frames
    verified: deque[bytes] = field(default_factory=lambda: deque(maxlen=MAX_HELD_PROOFS))
    floor: int = 0  # every counter below is released, proven-missing or given up
    alerted_at: float = float("-inf")
    demoted_until: float = float("-inf")  # held until proven, whatever the mode, until then
    # (settle time, count) of frames played first that ended unproven, the last ``demotion`` s
    spent: deque[tuple[float, int]] = field(default_factory=deque)


class ProofGate:
    """Holds each speaker's frames until its signature covers them (spec §15.6)."""

    def __init__(self, room_id: bytes, config: AuthConfig, counters: Counter[str]) -> None:
        self._room_id = room_id
        self._config = config
        self._held: dict[bytes, _Held] = {}
        self._counters = counters

    def frame(self, member: bytes, frame: bytes, now: float, on_stage: bool = False) -> Released:
        """A frame arrived on ``member``'s slot (its header already parses).

        ``on_stage``: the receiver itself is on stage, so in the optimistic
        stage mode it plays the frames of a speaker in good standing first.
        """
        _, ctr, _ = decode_header(frame)
        h = self._held.setdefault(member, _Held())
        out = Released([], self._expire(member, h, now))
        digest = speaker_proof.frame_digest(frame)
        if ctr < h.floor and h.proven.get(ctr) == digest:  # late, but its digest was signed
            del h.proven[ctr]
            out.frames.append(frame)
            return out
        if ctr < h.floor and not _awaited(h, ctr):
            self._counters["audio_rejected_replay"] += 1  # settled already: a replay or forgery
            return out
        seen = h.frames.get(ctr) or h.tentative.get(ctr)
        if seen is not None:
            same = seen[1] == digest
            self._counters["audio_rejected_replay" if same else "audio_rejected_conflict"] += 1
            return out  # the first copy stays; a relay could drop it anyway
        if on_stage and self._plays_first(h, ctr, now):
            h.tentative[ctr] = (frame, digest, now)
            out.tentative.append(frame)
        elif not self._hold_frame(h, ctr, (frame, digest, now)):
            return out
        for entry in list(h.proofs):
            if _may_cover(entry[1], ctr):
                self._settle(member, h, entry, now, out)
        return out

    def proof(
        self,
        member: bytes,
        payload: bytes,
        now: float,
        candidates: Sequence[tuple[int, bytes]],
    ) -> Released:
        """A proof arrived on ``member``'s slot; ``candidates`` are ``(epoch, proof key)``."""
        speaker_proof.proof_phase(payload)
        h = self._held.setdefault(member, _Held())
        out = Released([], self._expire(member, h, now))
        if payload in h.verified or any(p[1] == payload for p in h.proofs):
            self._counters["audio_proof_duplicate"] += 1  # its other copy came first (§23.6)
            return out
        if len(h.proofs) >= MAX_HELD_PROOFS:
            h.proofs.pop(0)
            self._counters["audio_proof_dropped"] += 1
        entry = (list(candidates), payload, now)
        h.proofs.append(entry)
        self._settle(member, h, entry, now, out)
        return out

    def next_expiry(self) -> float | None:
        """When the oldest held or tentative frame or waiting proof runs out of time."""
        hold, wait = self._config.hold, self._config.tentative_wait
        times = [
            t
            for h in self._held.values()
            for t in (
                next(iter(h.frames.values()))[2] + hold if h.frames else None,
                next(iter(h.tentative.values()))[2] + wait if h.tentative else None,
                h.proofs[0][2] + hold if h.proofs else None,
            )
            if t is not None
        ]
        return min(times) if times else None

    def expire(self, now: float) -> list[ForgedAudio]:
        """Drop what ran out of time; one event per speaker whose frames went unproven."""
        events: list[ForgedAudio] = []
        for member, h in self._held.items():
            events += self._expire(member, h, now)
        return events

    def forget_member(self, member: bytes) -> None:
        """``member`` left the roster: its held frames and proofs go."""
        self._held.pop(member, None)

    def __len__(self) -> int:
        return sum(len(h.frames) + len(h.tentative) + len(h.proofs) for h in self._held.values())

    # -- internals ----------------------------------------------------------------------

    def _plays_first(self, h: _Held, ctr: int, now: float) -> bool:
        """Optimistic mode, a speaker in good standing, within ``play_first_frames`` of its floor.

        Good standing: a proof of the speaker verified (the floor is above 0),
        no bad signature was reported in its name for ``demotion`` seconds,
        and its *unproven plays* (its tentative frames, and those of its
        frames played first that ended unproven in the last ``demotion``
        seconds) are fewer than ``play_first_frames``: so no more than that
        many unproven frames are ever played first per ``demotion`` period.
        Every tentative counter lies in that window (those below a rising
        floor are settled at once), so it also bounds the tentative table.
        """
        w = self._config.play_first_frames
        return (
            self._config.stage_mode == "optimistic"
            and 0 < h.floor <= ctr < h.floor + w
            and now >= h.demoted_until
            and len(h.tentative) + self._spent(h, now) < w
        )

    def _spent(self, h: _Held, now: float) -> int:
        """Frames of this speaker played first that ended unproven in the last ``demotion`` s."""
        while h.spent and h.spent[0][0] + self._config.demotion <= now:
            h.spent.popleft()
        return sum(n for _, n in h.spent)  # at most play_first_frames entries: see _plays_first

    def _hold_frame(self, h: _Held, ctr: int, entry: Entry) -> bool:
        """Keep a frame until it is proven; False if the full table has no room for it."""
        if len(h.frames) >= MAX_HELD_FRAMES:
            self._counters["audio_rejected_held_full"] += 1
            top = max(h.frames)
            if ctr > top:
                return False
            del h.frames[top]  # keep the lowest counters: a forged jump cannot crowd them out
        h.frames[ctr] = entry
        return True

    def _settle(
        self,
        member: bytes,
        h: _Held,
        entry: tuple[list[tuple[int, bytes]], bytes, float],
        now: float,
        out: Released,
    ) -> None:
        """Try to verify one waiting proof; release its frames into ``out`` if it verifies.

        A proof that no candidate key opens, or whose frames are all known but
        whose signature fails, is dropped and reported; one that lacks frames
        waits for them (until the hold time ends).
        """
        candidates, payload, _ = entry
        complete = False
        opened = False
        for epoch, key in candidates:
            try:
                proof = speaker_proof.open_proof(key, epoch, payload)
            except DecryptionFailed:
                continue
            opened = True
            known = {c: e[1] for c, e in (*h.frames.items(), *h.tentative.items())} | h.proven
            digests = speaker_proof.recover_digests(proof, known)
            if digests is None:
                continue
            complete = True
            try:
                speaker_proof.verify_proof(self._room_id, member, proof, digests)
            except DecryptionFailed:
                continue
            h.proofs.remove(entry)
            h.verified.append(payload)
            self._release(member, h, proof, digests, now, out)
            return
        if complete or (candidates and not opened):
            h.proofs.remove(entry)
            self._counters["audio_proof_rejected"] += 1
            self._report(member, h, now, "bad_signature", out.events)

    def _release(
        self, member: bytes, h: _Held, proof: Proof, digests: list[bytes], now: float, out: Released
    ) -> None:
        for i, digest in enumerate(digests):
            ctr = proof.first + i
            held = h.frames.pop(ctr, None)
            if held is not None and held[1] == digest:
                out.frames.append(held[0])
            elif ctr in h.tentative and h.tentative[ctr][1] == digest:
                out.confirmed.append(h.tentative.pop(ctr)[0])
            elif ctr >= h.floor - MAX_HELD_FRAMES:  # the bound of spec §15.6 step 3
                h.proven[ctr] = digest
        end = proof.first + proof.n
        if end <= h.floor:
            return
        h.floor = end
        for c in [c for c in h.proven if c < end - MAX_HELD_FRAMES]:
            del h.proven[c]
        for c in [c for c in h.frames if c < end and not _awaited(h, c)]:
            del h.frames[c]  # never proven, and now behind the speaker: given up
            self._counters["audio_rejected_unproven"] += 1
        passed = [c for c in h.tentative if c < end]  # played, and the speaker moved on
        for c in passed:
            del h.tentative[c]
        if passed:
            self._counters["audio_played_unproven"] += len(passed)
            h.spent.append((now, len(passed)))
            self._report(member, h, now, "unproven", out.events, demote=False)

    def _expire(self, member: bytes, h: _Held, now: float) -> list[ForgedAudio]:
        events: list[ForgedAudio] = []
        hold = self._config.hold  # the same sums as next_expiry(), so a due timer always clears
        stale = [c for c, (_, _, t) in h.frames.items() if t + hold <= now]
        for c in stale:
            del h.frames[c]
        wait = self._config.tentative_wait
        late = [c for c, (_, _, t) in h.tentative.items() if t + wait <= now]
        for c in late:
            del h.tentative[c]
        waiting = len(h.proofs)
        h.proofs[:] = [p for p in h.proofs if p[2] + hold > now]
        if waiting > len(h.proofs):
            self._counters["audio_proof_dropped"] += waiting - len(h.proofs)
        if stale:
            self._counters["audio_rejected_unproven"] += len(stale)
        if late:
            self._counters["audio_played_unproven"] += len(late)
            h.spent.append((now, len(late)))
        if stale or late:  # unproven plays are spent, not demoted (_plays_first)
            self._report(member, h, now, "unproven", events, demote=False)
        return events

    def _report(
        self,
        member: bytes,
        h: _Held,
        now: float,
        reason: str,
        events: list[ForgedAudio],
        demote: bool = True,
    ) -> None:
        """One event per speaker per ``hold``; ``demote``: hold it until proven for ``demotion``.

        At most one event per speaker and hold period keeps the queue bounded.
        A bad signature demotes (it cannot come from loss); unproven frames do
        not: those played first are spent against the speaker's unproven
        plays (:meth:`_plays_first`), those held were never played (spec §15.6).
        """
        if demote:
            h.demoted_until = now + self._config.demotion
        if now - h.alerted_at >= self._config.hold:
            h.alerted_at = now
            events.append(ForgedAudio(member, reason))
