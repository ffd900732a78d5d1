"""A member's audio: protect and prove what it sends, check what it hears (spec §15.4, §15.6).

Sending: each Opus frame is protected by :class:`e2ee.frame.FrameSender`
under this member's sender key of the epoch it sends in (the counter runs on
across epochs: it is the receivers' ``seq``), and every batch of frames is
followed by a speaker proof signed with the identity key (§15.6).

Hearing: a frame from a stage member is held by the :class:`ProofGate` until a
proof signed by that member covers it (or, in the optimistic stage mode, played
first and verified after); it is opened under the held epoch key that fits.
Audio under a superseded epoch after the sender's switch grace means the
sender missed a commit (a relay may be withholding it): it is reported once
per sender and epoch (spec §15.4).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from e2ee.errors import DecryptionFailed, ErrorCode, RemoteProtocolError
from e2ee.frame import FrameSender
from e2ee.identity import IdentityKey
from e2ee.room import speaker_proof
from e2ee.room.audio_in import AudioIn
from e2ee.room.epochs import EpochKeys
from e2ee.room.events import AudioReceived, ForgedAudio
from e2ee.room.fresh import AwaitingFresh
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.speaker_auth import AuthConfig, ProofBatcher, ProofGate


@dataclass(frozen=True, slots=True)
class StaleSender:
    """``member`` still sends under superseded ``epoch``; ``first`` for this sender and epoch."""

    member: bytes
    epoch: int
    first: bool


Heard = AudioReceived | ForgedAudio | StaleSender  # what a MEDIA payload gives, in order


class Media:
    """Frame sender, proof batcher, proof gate and frame receivers of one session (§15.4, §15.6)."""

    def __init__(
        self,
        identity: IdentityKey,
        room_id: bytes,
        auth: AuthConfig,
        send_grace: float,
        counters: Counter[str],
    ) -> None:
        self._me = identity.public
        self._room_id = room_id
        self._auth = auth
        self._send_grace = send_grace  # rekey_send_grace (spec §15.2)
        self._counters = counters
        self.frame_sender: FrameSender | None = None
        self._audio_in = AudioIn(room_id)
        self._proofs_out = ProofBatcher(identity, room_id)
        self._proof_gate = ProofGate(room_id, auth, counters)
        self._stale_alerted: dict[bytes, int] = {}

    # -- sending -----------------------------------------------------------------
    def send(
        self,
        opus: bytes,
        now: float,
        keys: EpochKeys,
        current: int,
        awaiting: AwaitingFresh | None,
        others_on_stage: bool,
    ) -> list[bytes]:
        """MEDIA payloads for one Opus frame: the frame, then any proof now due (§15.4, §15.6).

        Without the current epoch's key (a re-key's secret has not come) the
        previous key is used for ``rekey_send_grace`` after the commit applied.
        """
        epoch = current
        if keys.get(epoch) is None:
            if awaiting is None or now > awaiting.since + self._send_grace:
                self._counters["audio_held"] += 1
                return []
            epoch = max((e for e in keys.epoch_keys if e < awaiting.epoch), default=-1)
        sender = self.frame_sender
        if sender is None or sender.key.epoch != epoch:
            key = keys.sender_key(epoch, self._me)
            if key is None:
                self._counters["audio_held"] += 1
                return []
            sender = FrameSender(
                key,
                room_id=self._room_id,
                sender_id=self._me,
                next_counter=sender.next_counter if sender is not None else 0,
            )
            self.frame_sender = sender
        frame = sender.protect(opus)
        params = self._auth.params(others_on_stage)
        proof_key = lambda: keys.proof_key(epoch, self._me)  # noqa: E731
        return [frame, *self._proofs_out.add(frame, epoch, now, params, proof_key)]

    def proofs_due(self, now: float) -> list[bytes]:
        """The proof of a paused speaker's partial batch, once due (spec §15.6)."""
        due = self._proofs_out.due()
        return self._proofs_out.flush() if due is not None and now >= due else []

    # -- hearing -----------------------------------------------------------------
    def sender_of(self, src: int, slots: Slots, roster: RosterState) -> bytes | None:
        """Anti-ghosting (spec §15.4): the stage member whose slot ``src`` is, else None
        (counted): only a current stage member's slot may send audio."""
        member = slots.owner(src)
        if member is None:
            self._counters["audio_rejected_unknown_slot"] += 1
            return None
        role = roster.role_of(member)
        if role is None or not role.on_stage:
            self._counters["audio_rejected_role"] += 1
            return None
        return member

    def heard(
        self,
        member: bytes,
        payload: bytes,
        now: float,
        keys: EpochKeys,
        current: int,
        on_stage: bool,
    ) -> list[Heard]:
        """A MEDIA payload from stage member ``member`` (spec §15.4, §15.6).

        A frame is held until a proof covers it, or, in the optimistic stage
        mode, played first and verified after (§15.6); ``on_stage`` says
        whether this member is on stage itself.
        """
        out: list[Heard] = []
        try:
            if speaker_proof.is_speaker_proof(payload):
                phase = speaker_proof.proof_phase(payload)
                candidates = [
                    (e, keys.proof_key(e, member))
                    for e in keys.epoch_keys
                    if e % 8 == phase and keys.usable(e, current, now)
                ]
                released = self._proof_gate.proof(member, payload, now, candidates)
            else:
                released = self._proof_gate.frame(member, payload, now, on_stage)
                if not released.tentative:  # held: its epoch may show a stale sender now
                    self._check_stale_arrival(member, payload, now, keys, current, out)
        except RemoteProtocolError as exc:
            self._counters[f"audio_rejected_{exc.code.name.lower()}"] += 1
            return out
        out.extend(self._count_forged(released.events))
        for frame in released.tentative:
            self._play(member, frame, now, keys, current, out, commit=False)
        for frame in released.confirmed:
            self._play(member, frame, now, keys, current, out, play=False)
        for frame in released.frames:
            self._play(member, frame, now, keys, current, out)
        return out

    def expire(self, now: float) -> list[ForgedAudio]:
        """Frames no proof covered in time: reported, never played (spec §15.6)."""
        return self._count_forged(self._proof_gate.expire(now))

    def next_due(self) -> float | None:
        """When :meth:`proofs_due` or :meth:`expire` next has something."""
        times = [
            t for t in (self._proofs_out.due(), self._proof_gate.next_expiry()) if t is not None
        ]
        return min(times) if times else None

    def forget_epoch(self, epoch: int) -> None:
        """The epoch's key was dropped."""
        self._audio_in.forget_epoch(epoch)

    def forget_member(self, member: bytes) -> None:
        """``member`` left the roster."""
        self._audio_in.forget_member(member)
        self._proof_gate.forget_member(member)
        self._stale_alerted.pop(member, None)

    def _count_forged(self, forged: list[ForgedAudio]) -> list[ForgedAudio]:
        for event in forged:
            self._counters[f"audio_forged_{event.reason}"] += 1
        return forged

    def _play(
        self,
        member: bytes,
        payload: bytes,
        now: float,
        keys: EpochKeys,
        current: int,
        out: list[Heard],
        commit: bool = True,
        play: bool = True,
    ) -> None:
        """Open a frame under the epoch key that fits and hand it out (spec §15.4, §15.6).

        ``commit`` False: a tentative frame (optimistic mode), its receive state not
        moved yet; ``play`` False: a frame already played, now confirmed.
        """
        try:
            epoch, frame = self._audio_in.open(
                member,
                payload,
                now,
                keys.usable_epochs(current, now),
                lambda e: keys.sender_key(e, member),
                commit,
            )
        except DecryptionFailed:
            self._counters["audio_rejected_auth"] += 1
            return
        except RemoteProtocolError as exc:
            name = "key" if exc.code is ErrorCode.UNKNOWN_KEY else exc.code.name.lower()
            self._counters[f"audio_rejected_{name}"] += 1
            return
        if epoch < current and not commit:  # held frames: checked on arrival
            self._stale_sender(member, epoch, now, keys, out)
        if play:
            self._counters["audio_received"] += 1
            out.append(AudioReceived(member, frame.counter, frame.payload, held=commit))

    def _check_stale_arrival(
        self,
        member: bytes,
        payload: bytes,
        now: float,
        keys: EpochKeys,
        current: int,
        out: list[Heard],
    ) -> None:
        """A held frame that opens under a superseded key shows a stale sender (§15.4, §15.6)."""
        old = [e for e in keys.usable_epochs(current, now) if e < current]
        try:
            key_for = lambda e: keys.sender_key(e, member)  # noqa: E731
            epoch, _ = self._audio_in.open(member, payload, now, old, key_for, False)
        except RemoteProtocolError:
            return
        self._stale_sender(member, epoch, now, keys, out)

    def _stale_sender(
        self, member: bytes, epoch: int, now: float, keys: EpochKeys, out: list[Heard]
    ) -> None:
        """Audio under superseded ``epoch`` after the sender's switch grace (spec §15.4)."""
        superseded = keys.superseded_at(epoch)
        if superseded is not None and now >= superseded + self._send_grace:
            self._counters["audio_stale_epoch"] += 1
            first = self._stale_alerted.get(member) != epoch
            self._stale_alerted[member] = epoch
            out.append(StaleSender(member, epoch, first))
