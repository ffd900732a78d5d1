"""A member's audio: protect and prove what it sends, check what it hears (spec §15.4, §15.6).

Sending: each Opus frame is protected by :class:`e2ee.frame.FrameSender`
under this member's sender key of the epoch it sends in (the counter runs on
across epochs: it is the receivers' ``seq``), and every batch of frames is
followed by a speaker proof signed with the identity key (§15.6).

Hearing: a frame from a stage member is held by the :class:`ProofGate` until a
proof signed by that member covers it (or, in the optimistic stage mode, played
first and verified after); it is opened under the held epoch key that fits.
On the wire both frames and proofs have their key phase and counter masked
(:mod:`e2ee.room.header_protection`, §15.4.1): a frame is revealed, and its
epoch found, on arrival.
Audio under a superseded epoch after the sender's switch grace means the
sender missed a commit (a relay may be withholding it): it is reported once
per sender and epoch (spec §15.4).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from e2ee.errors import DecryptionFailed, ErrorCode, RemoteProtocolError
from e2ee.frame import FrameSender
from e2ee.identity import IdentityKey
from e2ee.room import header_protection, speaker_proof
from e2ee.room.audio_in import AudioIn
from e2ee.room.epochs import EpochKeys
from e2ee.room.events import AudioReceived, ForgedAudio
from e2ee.room.fresh import AwaitingFresh
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.speaker_auth import AuthConfig, ProofBatcher, ProofGate
from e2ee.sender_key import SenderKey


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
        # (first counter, epoch, hp_key) of our last two runs of frames under one epoch:
        # a proof is masked under the key of the epoch its batch was sent in (§15.4.1)
        self._runs: deque[tuple[int, int, bytes]] = deque(maxlen=2)

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
                counter_limit=header_protection.MAX_COUNTER,
            )
            self.frame_sender = sender
            self._runs.append(
                (sender.next_counter, epoch, header_protection.header_key(key.secret))
            )
        frame = sender.protect(opus)
        params = self._auth.params(others_on_stage)
        proof_key = lambda: keys.proof_key(epoch, self._me)  # noqa: E731
        proofs = self._proofs_out.add(frame, epoch, now, params, proof_key)
        hidden = header_protection.hide_frame(frame, self._runs[-1][2])
        return [hidden, *self._hide_proofs(proofs)]

    def proofs_due(self, now: float) -> list[bytes]:
        """The proof of a paused speaker's partial batch, once due (spec §15.6)."""
        due = self._proofs_out.due()
        return self._hide_proofs(self._proofs_out.flush()) if due is not None and now >= due else []

    def _hide_proofs(self, proofs: list[bytes]) -> list[bytes]:
        """Mask each proof under the header key of the run its first frame was sent in."""
        out = []
        for proof in proofs:
            first = speaker_proof.proof_first(proof)
            hp = next(hp for start, _, hp in reversed(self._runs) if start <= first)
            out.append(header_protection.hide_proof(proof, hp))
        return out

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
        usable = keys.usable_epochs(current, now)
        key_for = lambda e: keys.sender_key(e, member)  # noqa: E731
        try:
            if speaker_proof.is_speaker_proof(payload):
                epoch, proof = self._reveal_proof(member, payload, usable, key_for)
                candidates = [(epoch, keys.proof_key(epoch, member))]
                released = self._proof_gate.proof(member, proof, now, candidates)
            else:
                epoch, frame = self._audio_in.reveal(member, payload, now, usable, key_for)
                if epoch < current:  # its epoch may show a stale sender now (§15.4)
                    self._stale_sender(member, epoch, now, keys, out)
                released = self._proof_gate.frame(member, frame, now, on_stage)
        except DecryptionFailed:
            self._counters["audio_rejected_auth"] += 1
            return out
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

    def _reveal_proof(
        self,
        member: bytes,
        wire: bytes,
        usable: list[int],
        key_for: Callable[[int], SenderKey | None],
    ) -> tuple[int, bytes]:
        """``(epoch, §15.6 proof)``: the first candidate epoch whose key reveals it (§15.4.1)."""
        for epoch in self._audio_in.order(member, usable):
            hp = self._audio_in.header_key(member, epoch, key_for)
            if hp is None:
                continue
            try:
                return epoch, header_protection.reveal_proof(wire, hp, epoch % 8)
            except DecryptionFailed:
                continue
        raise DecryptionFailed()

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
            _, frame = self._audio_in.open(
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
        if play:
            self._counters["audio_received"] += 1
            out.append(AudioReceived(member, frame.counter, frame.payload, held=commit))

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
