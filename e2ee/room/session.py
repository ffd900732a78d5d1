"""The sans-IO room session (spec §12–§16): envelopes in, envelopes and events out.

:class:`RoomSession` is driven like h11: feed it every envelope the relay link
delivers (:meth:`RoomSession.envelope_received`), call the action methods, and
after each call drain :meth:`RoomSession.data_to_send` (encoded envelopes for
the relay link) and :meth:`RoomSession.next_event`.  Time is passed in as
``now`` (seconds, any monotonic origin); :meth:`get_timer` says when
:meth:`handle_timer` wants to run next.  Randomness comes from ``rng``.

Commits are applied only in the order the relay delivers them, by everyone,
including their author: a moderator sends each commit as a CONTROL broadcast
and as a UNICAST to its own slot (the relay does not echo broadcasts), and
applies it when that copy comes back (spec §12.5).  This is what makes "first
valid commit in relay order wins" decidable by the loser.
"""

from __future__ import annotations

import hmac
import struct
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

from e2ee import canonical
from e2ee.canonical import Value
from e2ee.envelope import DeliveryClass, Envelope, EnvelopeType, encode_envelope
from e2ee.errors import (
    DecryptionFailed,
    ErrorCode,
    HushroomError,
    LocalProtocolError,
    RemoteProtocolError,
)
from e2ee.frame import FrameSender
from e2ee.identity import IdentityKey, SessionKey
from e2ee.invite import Invite
from e2ee.room import admission, forwarding, hints, keys, pending, rotation, seal, speaker_proof
from e2ee.room.absence import AbsenceTimers
from e2ee.room.admission_rate import AdmissionRate
from e2ee.room.audio_in import AudioIn
from e2ee.room.authority import Authority
from e2ee.room.chunks import ChunkAssembler
from e2ee.room.commit import (
    GENESIS_PARENT,
    Commit,
    decode_commit,
    decode_snapshot,
    key_confirmation,
    sign_commit,
    sign_snapshot,
    snapshot_body,
    state_digest,
)
from e2ee.room.control import (
    BEACON_HEADS,
    Control,
    ControlType,
    PairType,
    decode_beacon,
    encode_beacon,
    parse_control,
    sign_control,
    verify_control,
)
from e2ee.room.events import (
    Admitted,
    AudioReceived,
    ChatReceived,
    Denied,
    Event,
    ForgedAudio,
    HandQueueChanged,
    InvitedToSpeak,
    JoinRequested,
    KeysRotated,
    LossReported,
    MemberJoined,
    MemberLeft,
    MuteRequested,
    RecordingChanged,
    Removed,
    RoleChanged,
    RoomEnded,
    RoomSecretRotated,
    RosterChanged,
    SafetyCodeChanged,
    SecurityAlert,
)
from e2ee.room.gate import Gate
from e2ee.room.joiner import Joiner
from e2ee.room.knocks import PendingKnocks
from e2ee.room.liveness import QuietWatch
from e2ee.room.loss_report import loss_about, report_args
from e2ee.room.recording import RecordingMarks
from e2ee.room.roster import (
    MAX_OPS_PER_COMMIT,
    Member,
    Op,
    OpCode,
    Policy,
    RemoveReason,
    Role,
    RosterState,
    op_add,
    op_end,
    op_hand,
    op_invite,
    op_policy,
    op_remove,
    op_role,
)
from e2ee.room.safety import change_reason, room_safety_code
from e2ee.room.speaker_auth import AuthConfig, ProofBatcher, ProofGate
from e2ee.room.succession import must_hand_over, suggested_successor
from e2ee.room.sync_pacer import MAX_SYNC_BYTES, MAX_SYNC_COMMITS, SNAPSHOT_ASKED, SyncPacer
from e2ee.sender_key import SenderKey

Rng = Callable[[int], bytes]
MAX_QUEUED_OPS = 4 * MAX_OPS_PER_COMMIT  # a chair's ops waiting for the next commit (§16.7)
_U32 = struct.Struct(">I")


class RoomInvite(Protocol):
    """What a session needs from an invite (spec §6): derived from the room secret.

    :class:`e2ee.invite.Invite` is accepted as well (its ``secrets()`` and
    ``founder_identity`` are used).
    """

    @property
    def room_tag(self) -> bytes: ...
    @property
    def admission_key(self) -> bytes: ...
    @property
    def room_id(self) -> bytes: ...
    @property
    def founder(self) -> bytes: ...


def _secrets_of(invite: RoomInvite | Invite) -> tuple[bytes, bytes, bytes, bytes]:
    """(room_tag, admission_key, room_id, founder identity) of an invite (spec §6.4)."""
    if isinstance(invite, Invite):
        secrets = invite.secrets()
        return (
            secrets.room_tag,
            secrets.admission_key,
            secrets.room_id,
            invite.founder_identity,
        )
    return invite.room_tag, invite.admission_key, invite.room_id, invite.founder


@dataclass
class RoomConfig:
    """Tunables (spec §15.2, §16.4); defaults are the spec's."""

    leave_debounce: float = 2.0  # batch voluntary leaves (spec §15.2)
    absent_timeout: float = 10.0  # PEER_LEFT and no signed word since -> removal (§16.4)
    key_grace: float = 1.0  # keep superseded epoch keys this long (spec §15.2)
    rekey_send_grace: float = 0.5  # speakers may use the old key this long after a re-key
    join_retry: float = 3.0  # resend a join request until admitted (spec §13.2)
    sync_after: float = 2.0  # behind a moderator this long -> ask for a sync (spec §16.4)
    fresh_timeout: float = 0.5  # no re-key secret after this long -> ask for a sync (§15.2)
    head_beacon: float = 30.0  # stage members broadcast their head this often (spec §16.2)
    quiet_alert: float = 75.0  # no commit or confirmed head this long -> alert (spec §16.2)
    commit_log: int = 1024  # commits a moderator keeps to catch members up (spec §16.4)
    buffer_limit: int = pending.MAX_ENTRIES  # payloads kept while waiting for a key (§16.7)
    buffer_bytes: int = pending.MAX_BYTES  # and their bytes (spec §16.7)
    speaker_auth: AuthConfig = field(default_factory=AuthConfig)  # spec §15.6


@dataclass
class _AwaitingFresh:
    """A re-key commit applied whose fresh secret has not come yet (spec §15.2)."""

    epoch: int
    head: bytes
    prev_key: bytes
    confirm: bytes  # the commit's key_confirm, checked when the secret comes (spec §12.3)
    since: float  # when the commit was applied: the sender's grace counts from here
    ask_at: float  # when to ask a moderator for a sync next


@dataclass
class _Inflight:
    commit: Commit
    ops: list[Op]
    fresh: bytes | None


@dataclass(frozen=True, slots=True)
class MemberView:
    """A roster entry as the driver sees it."""

    id: bytes
    display_name: str
    role: Role
    hand_raised: bool
    recording: bool = False
    """The member's client says it records the room (advisory, spec §14.4)."""


class RoomSession:
    """One member's view of one room (spec §12–§16).  See the module docstring."""

    # -- construction ------------------------------------------------------
    def __init__(
        self,
        identity: IdentityKey,
        invite: RoomInvite | Invite,
        display_name: str,
        rng: Rng,
        now: float,
        config: RoomConfig | None = None,
    ) -> None:
        if len(display_name.encode("utf-8")) > 64:
            raise LocalProtocolError("display names are at most 64 UTF-8 bytes")
        self.config = config or RoomConfig()
        self._identity = identity
        self.me: bytes = identity.public
        self.display_name = display_name
        self._rng = rng
        self._session_key = SessionKey.generate(rng)
        self._cert = self._session_key.certify(identity)
        self.room_tag, self._admission_key, self.room_id, self._founder = _secrets_of(invite)
        self._authority = Authority(self._founder, self.room_id)
        self._gate = Gate(rng)
        self._rotations = rotation.Rotations()
        self._joiner = Joiner(
            identity, self._session_key, self._cert, display_name, self.room_id, self._founder, rng
        )
        self._now = now
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self.counters: Counter[str] = Counter()
        self.state = "joining"  # joining | member | removed | ended | left | denied
        self.slot: int | None = None
        self.roster: RosterState | None = None
        self.epoch = -1
        self.head = GENESIS_PARENT
        self._heads: dict[int, bytes] = {}
        self._epoch_keys: dict[int, bytes] = {}
        self._control_keys = keys.ControlKeys(self.room_id)
        self._key_expiry: dict[int, float] = {}
        self._awaiting_fresh: _AwaitingFresh | None = None
        self._early_fresh: dict[tuple[int, bytes], bytes] = {}
        self._buffer = pending.PendingPayloads(self.config.buffer_limit, self.config.buffer_bytes)
        self._draining = False
        self._slots: dict[bytes, int] = {}
        self._slot_owner: dict[int, bytes] = {}
        self._seq = 0
        self._last_seq: dict[bytes, int] = {}
        # pair channels by peer (id || session key), kept for this session's life (§15.3)
        self._channels: dict[bytes, seal.PairChannel] = {}
        self._chunks = ChunkAssembler()
        # moderator state
        self._queue: list[Op] = []
        self._inflight: _Inflight | None = None
        self._lost_heads: set[bytes] = set()
        self._welcome_to: dict[bytes, tuple[int, bytes]] = {}
        self._requests: PendingKnocks[tuple[int, admission.JoinRequest]] = PendingKnocks()
        self._admission_rate = AdmissionRate(now)
        self._sync_pacer = SyncPacer()
        self._known: set[bytes] = set()
        self._leaves: set[bytes] = set()
        self._leave_at: float | None = None
        self._absence = AbsenceTimers(self.config.absent_timeout)
        self._recording = RecordingMarks()
        self._log: deque[bytes] = deque(maxlen=self.config.commit_log)
        self._snapshot_cache: tuple[int, bytes] | None = None
        self._safety: tuple[tuple[int, bytes], str] | None = None  # (epoch, head), code
        # timers
        self._join_retry_at: float | None = None
        self._behind_since: float | None = None
        self._behind_of: bytes | None = None
        self._behind_epoch = 0
        self._fresh_from = b""
        self._beacon_at: float | None = None
        self._quiet = QuietWatch(now, self.config.quiet_alert)
        # audio
        self._frame_sender: FrameSender | None = None
        self._audio_in = AudioIn(self.room_id)
        self._proofs_out = ProofBatcher(identity, self.room_id)
        self._proof_gate = ProofGate(self.room_id, self.config.speaker_auth, self.counters)
        self._stale_alerted: dict[bytes, int] = {}
        self._delivery = DeliveryClass.AUDIENCE
        self._send(EnvelopeType.JOIN, 0, bytes((DeliveryClass.AUDIENCE,)))

    @classmethod
    def create(
        cls,
        identity: IdentityKey,
        invite: RoomInvite | Invite,
        display_name: str,
        policy: str,
        rng: Rng,
        now: float,
        config: RoomConfig | None = None,
    ) -> RoomSession:
        """Found the room: signs the genesis commit, becomes its first moderator (spec §12.3)."""
        if policy not in ("open", "knock"):
            raise LocalProtocolError("policy is 'open' or 'knock'")
        self = cls(identity, invite, display_name, rng, now, config)
        if identity.public != self._founder:
            raise LocalProtocolError("only the invite's founder identity can create the room")
        pol = Policy.OPEN if policy == "open" else Policy.KNOCK
        ops = [
            op_policy(pol),
            op_add(self.me, self._session_key.public, display_name, Role.MODERATOR),
        ]
        fresh = rng(32)
        genesis = sign_commit(
            identity,
            self.room_id,
            0,
            GENESIS_PARENT,
            ops,
            False,
            key_confirm=key_confirmation(b"", fresh),
        )
        roster = RosterState(pol)
        roster.apply_ops(list(genesis.ops))
        self.roster = roster
        self._install_epoch(0, genesis.head, keys.first_epoch_key(fresh, genesis.head))
        self._log.append(genesis.encode())
        self._known.add(self.me)
        self.state = "member"
        self._delivery = DeliveryClass.STAGE
        self._out.clear()
        self._send(EnvelopeType.JOIN, 0, bytes((DeliveryClass.STAGE,)))
        self._events.append(Admitted(0))
        return self

    @classmethod
    def join(
        cls,
        identity: IdentityKey,
        invite: RoomInvite | Invite,
        display_name: str,
        rng: Rng,
        now: float,
        config: RoomConfig | None = None,
    ) -> RoomSession:
        """Start joining: JOIN the relay room, then send a join request on WELCOME (spec §13.2)."""
        return cls(identity, invite, display_name, rng, now, config)

    # -- the driver's interface -------------------------------------------
    def data_to_send(self) -> bytes:
        """Encoded envelopes for the relay link, in order; empties the buffer."""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | None:
        """The next pending event, or None."""
        return self._events.popleft() if self._events else None

    @property
    def delivery_class(self) -> str:
        """``"stage"`` or ``"audience"``: the relay delivery class this session asked for."""
        return "stage" if self._delivery is DeliveryClass.STAGE else "audience"

    @property
    def members(self) -> dict[bytes, MemberView]:
        """The roster as the driver sees it, in roster order."""
        if self.roster is None:
            return {}
        hands = set(self.roster.hands)
        return {
            m.id: MemberView(m.id, m.name, m.role, m.id in hands, self._recording.marked(m))
            for m in self.roster.members.values()
        }

    @property
    def successor(self) -> bytes | None:
        """Whom to hand over to before :meth:`leave`, as last moderator (spec §14.4)."""
        if self.roster is None or self.state != "member":
            return None
        return suggested_successor(self.roster, self.me)

    @property
    def hand_queue(self) -> tuple[bytes, ...]:
        """Raised hands in the order all members agree on (spec §12.2)."""
        return tuple(self.roster.hands) if self.roster else ()

    @property
    def role(self) -> Role | None:
        """This session's current role, or None if not a member."""
        return self.roster.role_of(self.me) if self.roster else None

    def safety_code(self) -> str:
        """Room safety code (spec §16.1): six groups of five digits of who is in the
        room and who may moderate and speak; a :class:`SafetyCodeChanged` event
        says when it changes and why."""
        assert self.roster is not None
        if self._safety is None or self._safety[0] != (self.epoch, self.head):
            self._safety = ((self.epoch, self.head), room_safety_code(self.room_id, self.roster))
        return self._safety[1]

    def roster_digest(self) -> bytes:
        """``state_digest`` of the current roster (spec §16.2), for out-of-band comparison."""
        assert self.roster is not None
        return state_digest(snapshot_body(self.room_id, self.epoch, self.head, self.roster))

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should next run, or None."""
        if self.state not in ("joining", "member"):
            return None
        times = [
            t
            for t in (
                self._join_retry_at,
                self._leave_at,
                self._absence.next_due(),
                self._beacon_at,
                self._quiet.deadline() if self.state == "member" else None,
                (self._behind_since + self.config.sync_after) if self._behind_since else None,
                min(self._key_expiry.values()) if self._key_expiry else None,
                self._chunks.next_expiry(),
                self._sync_pacer.next_due(),
                self._awaiting_fresh.ask_at if self._awaiting_fresh else None,
                self._proofs_out.due(),
                self._proof_gate.next_expiry(),
            )
            if t is not None
        ]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Run whatever is due at ``now`` (spec §13.2, §15.2, §16.4)."""
        self._now = now
        if self._join_retry_at is not None and now >= self._join_retry_at:
            self._join_retry_at = None
            if self.state == "joining" and self.slot is not None:
                self._send_join_request()
        aw = self._awaiting_fresh
        if aw is not None and now >= aw.ask_at:
            # the re-key secret did not come: ask its committer for a sync (spec §15.2)
            aw.ask_at = now + self.config.sync_after
            slot = self._moderator_slot(self._fresh_from)
            if slot is not None:
                self._send_control(ControlType.SYNC_REQUEST, [], to=slot)
        due = self._proofs_out.due()
        if due is not None and now >= due:
            self._send_media(self._proofs_out.flush())
        self._on_forged(self._proof_gate.expire(now))
        for epoch, expiry in list(self._key_expiry.items()):
            if now >= expiry:
                self._drop_epoch_key(epoch)
        self.counters["chunk_transfer_expired"] += self._chunks.expire(now)
        for mid, their_epoch in self._sync_pacer.due(now):
            self._send_sync(mid, their_epoch)
        if self._leave_at is not None and now >= self._leave_at:
            self._leave_at = None
            self._flush_leaves()
        for mid in self._absence.due(now):
            self._remove_absent(mid)
        if self._behind_since is not None and now >= self._behind_since + self.config.sync_after:
            self._behind_since = None
            if self._behind_of is not None and self._behind_of in self._slots:
                # the request is refused if our key expired there; the beacon
                # then earns us a snapshot (spec §16.4)
                slot = self._slots[self._behind_of]
                self._send_control(ControlType.SYNC_REQUEST, [], to=slot)
                beacon = self._beacon_payload()
                if beacon is not None:
                    self._send_unicast(slot, beacon)
        if self.state == "member" and self._quiet.overdue(now) and self._expects_news():
            self._alert("isolated", "no commit or confirmed head heard for a while")
        if self._beacon_at is not None and now >= self._beacon_at:
            self._beacon_at = now + self.config.head_beacon
            self._send_beacon()
        self._flush_commit()

    def link_reset(self, now: float) -> None:
        """The relay link dropped and a new one is up: rejoin, re-announce (spec §16.4).

        Identity, session key and roster are kept; the new slot arrives in the
        relay's WELCOME, after which the session announces itself again.
        """
        self._now = now
        self.slot = None
        self._out.clear()
        self._chunks.clear()
        if self._inflight is not None:  # its echo will not come back on the new link
            self._queue[:0] = self._inflight.ops
            self._lost_heads.add(self._inflight.commit.head)
            self._inflight = None
        if self.state in ("joining", "member"):
            self._send(EnvelopeType.JOIN, 0, bytes((self._delivery,)))

    # -- envelopes in ------------------------------------------------------
    def envelope_received(self, env: Envelope, now: float) -> None:
        """Process one envelope from the relay (spec §8, §12–§16)."""
        self._now = now
        if env.room_tag != self.room_tag:
            self.counters["wrong_room_tag"] += 1
            return
        t = env.type
        if t is EnvelopeType.WELCOME:
            self._on_relay_welcome(env.slot)
        elif t is EnvelopeType.PEER_JOINED:
            if self._is_moderator() and self.slot is not None:
                self._send_control(ControlType.ANNOUNCE, [self.slot, True], to=env.slot)
        elif t is EnvelopeType.PEER_LEFT:
            self._on_peer_left(env.slot)
        elif t is EnvelopeType.MEDIA:
            self._on_media(env.slot, env.payload)
        elif t in (EnvelopeType.CONTROL, EnvelopeType.UNICAST):
            self._on_payload(t, env.slot, env.payload, live=True)
        elif t is EnvelopeType.ERROR:
            self.counters["relay_error"] += 1
        self._flush_commit()

    def _on_relay_welcome(self, slot: int) -> None:
        if self.slot is not None and self._slot_owner.get(self.slot) == self.me:
            del self._slot_owner[self.slot]
        self.slot = slot
        self._set_slot(self.me, slot)
        if self.state == "joining":
            self._send_join_request()
        elif self.state == "member":
            self._announce()
        if self._beacon_at is None:
            self._beacon_at = self._now + self.config.head_beacon

    def _on_peer_left(self, slot: int) -> None:
        """The relay says ``slot``'s link is gone (spec §16.4).

        Everyone forgets the slot.  The notice is unauthenticated, so the
        chair only starts the member's absence timer and probes the old slot
        with an ANNOUNCE that asks for a reply; the member's next fresh signed
        control message cancels the timer.
        """
        owner = self._slot_owner.pop(slot, None)
        if owner is None or self._slots.get(owner) != slot:
            return
        del self._slots[owner]
        if owner == self.me or self.slot is None or not self._is_chair():
            return
        assert self.roster is not None
        if owner in self.roster.members:
            self._absence.start(owner, self._now)
            self._send_control(ControlType.ANNOUNCE, [self.slot, True], to=slot)

    def _remove_absent(self, mid: bytes) -> None:
        """The absence timer of ``mid`` fired: the chair removes it, reason LEFT (§16.4)."""
        if self._is_chair() and self.roster is not None and mid in self.roster.members:
            self._queue_op(op_remove(mid, RemoveReason.LEFT))

    def _announce(self) -> None:
        """Tell the room our (new) slot (spec §16.4)."""
        assert self.slot is not None
        if self.role is not None and self.role.on_stage:
            self._send_control(ControlType.ANNOUNCE, [self.slot, True])
        else:
            assert self.roster is not None
            for mid in self.roster.moderators():
                slot = self._slots.get(mid)
                if slot is not None and mid != self.me:
                    self._send_control(ControlType.ANNOUNCE, [self.slot, True], to=slot)

    def _on_payload(self, etype: EnvelopeType, src: int, payload: bytes, live: bool) -> None:
        try:
            self._dispatch(etype, src, payload, live)
        except DecryptionFailed:
            self.counters["decryption_failed"] += 1
        except RemoteProtocolError as exc:
            if exc.code is ErrorCode.UNAUTHORIZED:
                self.counters["unauthorized"] += 1
            else:
                self.counters["malformed"] += 1

    def _hint_candidates(self) -> Iterator[tuple[int | str | seal.PairChannel, bytes]]:
        """The keys a payload's hint is tried against, in the order of spec §16.7."""
        epochs = sorted(self._control_keys, reverse=True)[: hints.MAX_EPOCH_TRIALS]
        if epochs and epochs[0] == self.epoch:
            yield epochs.pop(0), self._control_keys[self.epoch]
        yield "admission", self._admission_key
        for epoch in epochs:
            yield epoch, self._control_keys[epoch]
        if self.roster is not None:
            mods = [m for m in self.roster.moderators() if m != self.me]
            for mid in mods[: hints.MAX_CHANNEL_TRIALS]:
                ch = self._pair(mid)
                yield ch, ch.key

    def _dispatch(self, etype: EnvelopeType, src: int, payload: bytes, live: bool) -> None:
        """Find a payload's key by its hint and hand it on by kind (spec §13.1)."""
        if not seal.is_payload_len(len(payload)):
            raise RemoteProtocolError("room payload size", ErrorCode.MALFORMED)
        found = hints.find_key(payload, self._hint_candidates())
        if isinstance(found, seal.PairChannel):
            self._on_pairwise(found, payload)
        elif isinstance(found, int):
            self._on_epoch_payload(etype, src, payload, found, live)
        elif isinstance(found, hints.NoMatch):
            self._on_unmatched(etype, src, payload, live)
        else:
            kind, body = seal.open_keyed(self._admission_key, self.room_id, payload)
            if kind is seal.Kind.JOIN_REQUEST:
                self._on_join_request(src, body)
            elif kind is seal.Kind.SEALED_CHUNK:
                self._on_chunk(body)
            elif kind is seal.Kind.BEACON:
                self._on_beacon(body)
            else:
                raise RemoteProtocolError("admission payload kind", ErrorCode.MALFORMED)

    def _on_unmatched(self, etype: EnvelopeType, src: int, payload: bytes, live: bool) -> None:
        """No hint matched: a SEALED payload to us, or one whose key has not arrived (§14.3)."""
        if self.state not in ("joining", "member"):
            return
        if live:
            try:
                pt = seal.open_sealed(self._session_key, self.room_id, payload)
            except DecryptionFailed:
                pass
            else:
                self._on_sealed(pt)
                return
        self._buffer_payload(etype, src, payload)

    # -- epoch-keyed payloads: commits and control (spec §12.3, §14.3) ------
    def _on_epoch_payload(
        self, etype: EnvelopeType, src: int, payload: bytes, epoch: int, live: bool
    ) -> None:
        if self.state not in ("joining", "member"):
            return
        if not self._key_usable(epoch):
            self.counters["stale_key"] += 1  # superseded longer than the grace ago (§15.5)
            return
        kind, plaintext = seal.open_epoch(self._control_keys[epoch], self.room_id, epoch, payload)
        if kind is seal.Kind.COMMIT:
            self._on_commit(decode_commit(plaintext, self.room_id), live)
        else:
            self._on_control(parse_control(plaintext), src, etype, epoch)

    def _buffer_payload(self, etype: EnvelopeType, src: int, payload: bytes) -> None:
        self.counters["buffer_overflow"] += self._buffer.add(etype, src, payload)

    def _drain_buffer(self) -> None:
        """Retry buffered payloads against the keys that arrived since (spec §14.3).

        Iterative: a commit applied from the buffer releases the next epoch's
        payloads in this loop, not in a nested call, so any number of held-back
        commits drain in constant stack depth.
        """
        if self._draining:
            return  # the running loop below picks up what the new key released
        self._draining = True
        try:
            while self.state == "member" and (held := self._buffer.next_released()) is not None:
                for etype, src, payload in held:
                    if self.state != "member":
                        break
                    self._on_payload(etype, src, payload, live=False)
        finally:
            self._draining = False

    def _on_commit(self, commit: Commit, live: bool) -> None:
        """Chain, authorize and apply a verified commit (spec §12.3 steps 3–6, §16.3)."""
        assert self.roster is not None
        if self.state != "member":
            return
        if commit.epoch == self.epoch + 1 and commit.parent == self.head:
            if not self.roster.is_moderator(commit.signer):
                raise RemoteProtocolError(
                    "commit signer is not a moderator", ErrorCode.UNAUTHORIZED
                )
            self._apply_commit(commit)
            return
        known = self._heads.get(commit.epoch)
        if known == commit.head:
            if live and commit.epoch < self.epoch:
                self._alert("rollback", f"replayed commit of epoch {commit.epoch}")
            self.counters["duplicate_commit"] += 1
            return
        if commit.head in self._lost_heads:
            self._lost_heads.discard(commit.head)
            self.counters["own_commit_lost"] += 1
            return
        if commit.epoch <= self.epoch + 1 and self._heads.get(commit.epoch - 1) == commit.parent:
            self.counters["stale_commit"] += 1  # lost a race in relay order (spec §12.5)
            return
        if commit.epoch <= self.epoch + 1:
            self._alert("split_view", f"commit of epoch {commit.epoch} is not on our chain")
            return
        self.counters["future_commit"] += 1

    def _key_confirmed(self, commit: Commit) -> bool:
        """Check a commit's ``key_confirm`` against our key (spec §12.3); alert on a mismatch.

        A re-key commit whose fresh secret has not come yet is checked when it
        comes (:meth:`_on_fresh`); without our previous key (catching up through
        a sync) there is nothing to check against.
        """
        prev_key = self._epoch_keys.get(self.epoch)
        if prev_key is None:
            return True
        fresh: bytes | None = b""
        if commit.rekey:
            own = self._inflight
            fresh = own.fresh if own is not None and own.commit.head == commit.head else None
            fresh = fresh or self._early_fresh.get((commit.epoch, commit.head))
        if fresh is None or key_confirmation(prev_key, fresh) == commit.key_confirm:
            return True
        self._alert("key_mismatch", f"the commit of epoch {commit.epoch} confirms another key")
        return False

    def _apply_commit(self, commit: Commit) -> bool:
        """Apply a chained, authorized commit; False if its key confirmation fails."""
        if not self._key_confirmed(commit):
            return False
        roster = self.roster
        assert roster is not None
        before: dict[bytes, Member | None] = {}
        for op in commit.ops:
            if len(op) > 1 and isinstance(op[1], bytes):
                before[op[1]] = roster.members.get(op[1])
        hands_before = list(roster.hands)
        roster.apply_ops(list(commit.ops))
        self._authority.observe(commit)  # promotion proofs (spec §13.2)
        prev_key = self._epoch_keys.get(self.epoch)
        fresh: bytes | None = None
        if self._inflight is not None and self._inflight.commit.epoch <= commit.epoch:
            if self._inflight.commit.head == commit.head:
                fresh = self._inflight.fresh
                self._inflight = None
            else:
                self._queue[:0] = self._inflight.ops
                self._lost_heads.add(self._inflight.commit.head)
                self._inflight = None
        self._log.append(commit.encode())
        head = commit.head
        if prev_key is None:  # catching up through a sync: its key comes at the end
            self._awaiting_fresh = None
            self._advance(commit.epoch, head, None)
        elif commit.rekey:
            if fresh is None:
                fresh = self._early_fresh.pop((commit.epoch, head), None)
            if fresh is None:
                self._advance(commit.epoch, head, None)
                self._awaiting_fresh = _AwaitingFresh(
                    commit.epoch,
                    head,
                    prev_key,
                    commit.key_confirm,
                    self._now,
                    self._now + self.config.fresh_timeout,
                )
                self._fresh_from = commit.signer
            else:
                self._advance(commit.epoch, head, keys.next_epoch_key(prev_key, head, fresh))
                self._events.append(KeysRotated(commit.epoch))
        else:
            self._advance(commit.epoch, head, keys.next_epoch_key(prev_key, head))
        self._quiet.heard(self._now)
        self._emit_commit_events(commit, before, hands_before)
        if self.state == "member" and self._is_moderator():
            self._after_commit(commit)
        if self._epoch_keys.get(self.epoch) is not None:
            self._drain_buffer()
        return True

    def _advance(self, epoch: int, head: bytes, key: bytes | None) -> None:
        old = self.epoch
        self.epoch = epoch
        self.head = head
        self._heads[epoch] = head
        self._heads.pop(epoch - 4096, None)
        if key is not None:
            self._install_epoch(epoch, head, key)
        if old in self._epoch_keys:
            self._key_expiry[old] = self._now + self.config.key_grace
        if self._behind_since is not None and self._behind_epoch <= epoch:
            self._behind_since = None

    def _install_epoch(self, epoch: int, head: bytes, key: bytes) -> None:
        self.epoch = max(self.epoch, epoch)
        if epoch == self.epoch:
            self.head = head
        self._heads[epoch] = head
        self._epoch_keys[epoch] = key
        self._control_keys.install(epoch, key)
        self._key_expiry.pop(epoch, None)
        if self._buffer:
            self._buffer.key_arrived(self._control_keys[epoch])

    def _drop_epoch_key(self, epoch: int) -> None:
        self._key_expiry.pop(epoch, None)
        if epoch == self.epoch:
            return
        self._epoch_keys.pop(epoch, None)
        self._control_keys.forget(epoch)
        self._audio_in.forget_epoch(epoch)

    def _emit_commit_events(
        self, commit: Commit, before: dict[bytes, Member | None], hands_before: list[bytes]
    ) -> None:
        roster = self.roster
        assert roster is not None
        for op in commit.ops:
            code = op[0]
            if code == OpCode.END:
                self.state = "ended"
                self._events.append(RoomEnded())
                continue
            if code == OpCode.POLICY:
                continue
            mid = op[1]
            assert isinstance(mid, bytes)
            if code == OpCode.ADD:
                m = roster.members.get(mid)
                if m is not None:
                    self._known.add(mid)
                    self._requests.pop(mid, None)
                    if mid != self.me:
                        self._events.append(MemberJoined(mid, m.name, m.role))
                    self._last_seq.pop(mid, None)
            elif code == OpCode.REMOVE:
                reason = RemoveReason(op[2])  # type: ignore[arg-type]
                slot = self._slots.pop(mid, None)
                if slot is not None and self._slot_owner.get(slot) == mid:
                    del self._slot_owner[slot]
                self._leaves.discard(mid)
                self._audio_in.forget_member(mid)
                self._proof_gate.forget_member(mid)
                self._last_seq.pop(mid, None)
                self._stale_alerted.pop(mid, None)
                self._sync_pacer.forget(mid)
                self._absence.cancel(mid)
                if mid == self.me:
                    self.state = "removed"
                    self._events.append(Removed(reason))
                else:
                    self._events.append(MemberLeft(mid, reason))
            elif code == OpCode.ROLE:
                old = before.get(mid)
                new = roster.members.get(mid)
                if old is not None and new is not None:
                    self._events.append(RoleChanged(mid, old.role, new.role))
                    if mid == self.me:
                        self._role_changed(new.role)
                    if new.role is Role.MODERATOR and old.role is not Role.MODERATOR:
                        self._promoted(mid)
            elif code == OpCode.INVITE:
                if mid == self.me and op[2]:
                    self._events.append(InvitedToSpeak())
        if roster.hands != hands_before:
            self._events.append(HandQueueChanged(tuple(roster.hands)))
        why = change_reason(before, roster)
        if why is not None and self.state == "member":
            self._events.append(SafetyCodeChanged(commit.epoch, why))
        self._events.append(RosterChanged(commit.epoch, commit.head))

    def _promoted(self, mid: bytes) -> None:
        """Pair channels with a new moderator (spec §15.3): one X25519 per pair, now."""
        assert self.roster is not None
        if mid != self.me:
            self._pair(mid)
            slot = self._slots.get(mid)
            role = self.roster.role_of(self.me)
            if slot is not None and self.slot is not None and role is Role.LISTENER:
                # the new moderator must be able to reach us with re-key secrets
                self._send_control(ControlType.ANNOUNCE, [self.slot, False], to=slot)
            return
        for other in self.roster.members:
            if other != self.me:
                self._pair(other)

    def _role_changed(self, role: Role) -> None:
        self._quiet.heard(self._now)  # on admission, too
        wanted = DeliveryClass.STAGE if role.on_stage else DeliveryClass.AUDIENCE
        if wanted is not self._delivery:
            self._delivery = wanted
            self._send(EnvelopeType.SET_CLASS, 0, bytes((wanted,)))
        if role.on_stage and self.slot is not None:
            # A new moderator asks everyone for their slots: listeners only knew
            # its slot from this very broadcast, so they could not announce to it
            # before, and it needs every slot to hand out re-key secrets (§16.4).
            self._send_control(ControlType.ANNOUNCE, [self.slot, role is Role.MODERATOR])

    # -- control messages (spec §14.3, §14.4) ------------------------------
    def _on_control(self, msg: Control, src: int, etype: EnvelopeType, sealed: int) -> None:
        """A control message sealed under epoch ``sealed``'s key (spec §14.3).

        The sender held that key, so for a catch-up it is at least at that
        epoch, whatever epoch it signs (spec §16.4).
        """
        roster = self.roster
        assert roster is not None
        author = roster.members.get(msg.author)
        if author is None:
            raise RemoteProtocolError("control from a non-member", ErrorCode.UNAUTHORIZED)
        try:
            verify_control(msg, self.room_id, author.session_key)
        except DecryptionFailed:
            self.counters["forged_control"] += 1
            self._alert("forged", "a control message failed its signature check")
            return
        if msg.seq <= self._last_seq.get(msg.author, -1):
            self.counters["replayed_control"] += 1
            return
        self._last_seq[msg.author] = msg.seq
        self._absence.cancel(msg.author)  # signed and fresh: the author is alive (§16.4)
        self._compare_head(msg)
        t = msg.type
        is_mod = author.role is Role.MODERATOR
        if t is ControlType.ANNOUNCE:
            slot = msg.args[0]
            assert isinstance(slot, int)
            if slot != src:
                self.counters["slot_mismatch"] += 1
                return
            changed = self._slots.get(msg.author) != slot
            self._set_slot(msg.author, slot)
            if msg.author != self.me and self._is_moderator():
                # Members announce only on (re)joining or in reply to a
                # moderator: either way they need the stage slots, even when
                # their own slot number is the same as before a relay restart.
                self._send_slots(slot)
                if changed and author.role.on_stage:
                    # A stage member moved (relay restart): members answered
                    # before we learned it must hear it too.
                    self._send_slots(None)
                if max(msg.epoch, sealed) < self.epoch:
                    self._send_sync(msg.author, max(msg.epoch, sealed))
            if msg.args[1] and self.slot is not None and msg.author != self.me:
                me_stage = self.role is not None and self.role.on_stage
                if me_stage or is_mod:
                    self._send_control(ControlType.ANNOUNCE, [self.slot, False], to=src)
        elif t is ControlType.SLOTS:
            if not is_mod:
                raise RemoteProtocolError("slot list from a non-moderator", ErrorCode.UNAUTHORIZED)
            raw = msg.args[0]
            assert isinstance(raw, list)
            for entry in raw:
                assert isinstance(entry, list)
                mid, slot = entry
                assert isinstance(mid, bytes) and isinstance(slot, int)
                if mid in roster.members and mid != self.me:
                    self._set_slot(mid, slot)
        elif t is ControlType.HEAD:
            pass
        elif t is ControlType.HAND:
            up = bool(msg.args[0])
            if up and (author.role is not Role.LISTENER or msg.author in roster.hands):
                raise RemoteProtocolError("hand raise not allowed", ErrorCode.UNAUTHORIZED)
            if not up and msg.author not in roster.hands:
                raise RemoteProtocolError("no hand to lower", ErrorCode.UNAUTHORIZED)
            if self._is_chair():
                self._queue_op(op_hand(msg.author, up))
        elif t is ControlType.INVITE_REPLY:
            if msg.author not in roster.invited:
                raise RemoteProtocolError("answer to no invitation", ErrorCode.UNAUTHORIZED)
            if self._is_chair():
                accept = bool(msg.args[0])
                self._queue_op(
                    op_role(msg.author, Role.SPEAKER) if accept else op_invite(msg.author, False)
                )
        elif t is ControlType.LEAVE:
            if self._is_chair(excluding=msg.author):
                self._leaves.add(msg.author)
                if self._leave_at is None:
                    self._leave_at = self._now + self.config.leave_debounce
        elif t is ControlType.CHAT:
            text = msg.args[0]
            assert isinstance(text, str)
            self._events.append(ChatReceived(msg.author, text))
        elif t is ControlType.MUTE_REQUEST:
            if not is_mod:
                raise RemoteProtocolError(
                    "mute request from a non-moderator", ErrorCode.UNAUTHORIZED
                )
            if msg.args[0] == self.me:
                self._events.append(MuteRequested(msg.author))
        elif t is ControlType.RECORDING:
            if self._recording.set(author, bool(msg.args[0]), roster.members.values()):
                self._events.append(RecordingChanged(msg.author, bool(msg.args[0])))
        elif t is ControlType.LOSS_REPORT:
            if not author.role.on_stage:
                raise RemoteProtocolError("loss report from the audience", ErrorCode.UNAUTHORIZED)
            if (permille := loss_about(msg.args, self.me)) is None:
                self.counters["misdirected_loss_report"] += 1
            else:
                self._events.append(LossReported(msg.author, permille))
        elif t is ControlType.SYNC_REQUEST:
            if not self._is_moderator():
                return
            if max(msg.epoch, sealed) >= self.epoch:
                self.counters["sync_not_behind"] += 1  # nothing it can be missing
                return
            self._send_sync(msg.author, max(msg.epoch, sealed))

    def _compare_head(self, msg: Control) -> None:
        """Members compare chain heads carried by every control message (spec §16.2)."""
        self._check_head(msg.author, msg.epoch, msg.head)

    def _expects_news(self) -> bool:
        """Whether some member would send us beacons: another stage member, or any
        member when we moderate (listeners beacon to moderators, spec §16.2)."""
        assert self.roster is not None
        others = [m for m in self.roster.members if m != self.me]
        return bool(others) and (
            self._is_moderator()
            or any(self.roster.role_of(m) in (Role.SPEAKER, Role.MODERATOR) for m in others)
        )

    def _check_head(self, author: bytes, epoch: int, head: bytes, confirms: bool = True) -> None:
        """A member's (epoch, head) against our chain (spec §16.2, §16.3)."""
        if epoch <= self.epoch:
            ours = self._heads.get(epoch)
            if ours is not None and ours != head:
                self._alert("split_view", f"a member holds a different head at epoch {epoch}")
            elif confirms and epoch == self.epoch and ours == head:
                self._quiet.heard(self._now)  # a member confirms our current head
        elif self.roster is not None and self.roster.is_moderator(author):
            if self._behind_since is None:
                self._behind_since = self._now
                self._behind_of = author
                self._behind_epoch = epoch

    def _send_beacon(self) -> None:
        """Head beacon (spec §16.2): stage broadcasts it, listeners send it to moderators.

        It is sealed under the admission key, not an epoch key: two members on
        different branches of a split hold different epoch keys, so only a key
        that does not follow the chain lets them compare heads at all.  A MAC
        under the named epoch's key proves the author holds that key to every
        member that holds it too (spec §16.2).
        """
        payload = self._beacon_payload()
        if payload is None or self.roster is None:
            return
        if self.role is not None and self.role.on_stage:
            self._send(EnvelopeType.CONTROL, 0, payload)
        else:
            for mid in self.roster.moderators():
                slot = self._slots.get(mid)
                if slot is not None:
                    self._send_unicast(slot, payload)

    def _beacon_payload(self) -> bytes | None:
        """Our head beacon (spec §16.2): the newest BEACON_HEADS heads, signed and sealed."""
        if self.state != "member" or self.slot is None or self.roster is None:
            return None
        heads = []
        for e in range(self.epoch, max(-1, self.epoch - BEACON_HEADS), -1):
            h = self._heads.get(e)
            if h is None:
                break
            heads.append(h)
        pt = encode_beacon(self._identity, self.room_id, self.epoch, heads)
        key = self._epoch_keys.get(self.epoch)
        mac = bytes(seal.BEACON_MAC_LEN) if key is None else seal.beacon_mac(key, self.room_id, pt)
        return seal.seal_admission(
            self._admission_key, self.room_id, pt + mac, self._rng, seal.Kind.BEACON
        )

    def _on_beacon(self, body: bytes) -> None:
        """A head beacon: signed by a member, MAC'd under the key of the epoch it names."""
        if self.state != "member" or self.roster is None:
            return
        pt, mac = body[: -seal.BEACON_MAC_LEN], body[-seal.BEACON_MAC_LEN :]
        author, epoch, heads = decode_beacon(pt, self.room_id)
        if author not in self.roster.members:
            raise RemoteProtocolError("beacon from a non-member", ErrorCode.UNAUTHORIZED)
        key = self._epoch_keys.get(epoch)
        if (
            key is not None
            and self._heads.get(epoch) == heads[0]
            and not hmac.compare_digest(mac, seal.beacon_mac(key, self.room_id, pt))
        ):  # it names our head, so it must prove our key; another head is a split (§16.2)
            if any(mac):  # a member on our head holds another key: ours may be wrong (§16.2)
                self._alert("key_mismatch", f"a member holds another key for epoch {epoch}")
            raise RemoteProtocolError("beacon without the epoch key", ErrorCode.UNAUTHORIZED)
        if epoch > self.epoch:
            self._check_head(author, epoch, heads[0])  # we are behind the author
        elif self._heads.get(epoch) == heads[0] and epoch < self.epoch and self._is_moderator():
            self._catch_up_beacon_author(author, epoch)
        for i, head in enumerate(heads):
            if epoch - i <= self.epoch:
                # only the author's own newest head can confirm ours (spec §16.2)
                self._check_head(author, epoch - i, head, confirms=i == 0)
                return

    def _catch_up_beacon_author(self, author: bytes, epoch: int) -> None:
        """Moderator: a beacon shows ``author`` behind on our chain (spec §16.4).

        A beacon proves no epoch key, so its claim is believed only as far as
        the commits made since an epoch whose key is still within its grace;
        a member further behind is sent a snapshot (one per SNAPSHOT_INTERVAL).
        """
        usable = epoch in self._control_keys and self._key_usable(epoch)
        self._send_sync(author, epoch if usable else SNAPSHOT_ASKED)

    def _moderator_slot(self, preferred: bytes) -> int | None:
        """The slot of ``preferred`` if known, else of any other moderator we can reach."""
        slot = self._slots.get(preferred)
        if slot is not None or self.roster is None:
            return slot
        return next(
            (self._slots[m] for m in self.roster.moderators() if m != self.me and m in self._slots),
            None,
        )

    def _set_slot(self, mid: bytes, slot: int) -> None:
        old_owner = self._slot_owner.get(slot)
        if old_owner is not None and old_owner != mid and self._slots.get(old_owner) == slot:
            del self._slots[old_owner]
        old_slot = self._slots.get(mid)
        if old_slot is not None and old_slot != slot and self._slot_owner.get(old_slot) == mid:
            del self._slot_owner[old_slot]
        self._slots[mid] = slot
        self._slot_owner[slot] = mid

    def _send_slots(self, to: int | None) -> None:
        """Moderator -> member: where the stage is (spec §16.4)."""
        assert self.roster is not None
        entries: list[Value] = [
            [mid, self._slots[mid]] for mid in self.roster.stage() if mid in self._slots
        ]
        self._send_control(ControlType.SLOTS, [entries], to=to)

    # -- pairwise messages (spec §15.2, §16.4) -----------------------------
    def _pair(self, mid: bytes) -> seal.PairChannel:
        """The one channel with ``mid``'s current session (spec §15.3).

        A channel's key depends only on the two session keys, so it is set up
        once and never again: it is kept (its counters with it) for as long as
        this session lives, even after the peer leaves the roster, and is
        found again if that same session key is ever admitted again.
        """
        assert self.roster is not None
        peer = mid + self.roster.members[mid].session_key
        ch = self._channels.get(peer)
        if ch is None:
            member = self.roster.members[mid]
            ch = seal.PairChannel(self._session_key, self.me, mid, member.session_key, self.room_id)
            self._channels[peer] = ch
            if self._buffer:
                self._buffer.key_arrived(ch.key)
        return ch

    def _is_current_pair(self, ch: seal.PairChannel) -> bool:
        """Whether ``ch`` is the channel with its peer's current session (spec §15.3)."""
        assert self.roster is not None
        member = self.roster.members.get(ch.peer_id)
        return member is not None and self._channels.get(ch.peer_id + member.session_key) is ch

    def _on_pairwise(self, ch: seal.PairChannel, payload: bytes) -> None:
        assert self.roster is not None
        if not self.roster.is_moderator(ch.peer_id) or not self._is_current_pair(ch):
            raise RemoteProtocolError(
                "pairwise message from a non-moderator", ErrorCode.UNAUTHORIZED
            )
        f = canonical.decode(ch.open(payload))
        if not isinstance(f, list) or not f:
            raise RemoteProtocolError("pairwise message", ErrorCode.MALFORMED)
        ptype = canonical.expect_int(f[0], "pair type", 1, 3)
        if ptype == PairType.REKEY and len(f) == 4:
            epoch = canonical.expect_int(f[1], "epoch", 0, 2**32 - 1)
            head = canonical.expect_bytes(f[2], "head", 32)
            fresh = canonical.expect_bytes(f[3], "fresh", 32)
            self._on_fresh(epoch, head, fresh)
        elif ptype == PairType.SYNC and len(f) == 3:
            self._on_sync(f[1], canonical.expect_bytes(f[2], "epoch key", 32))
        elif ptype == PairType.SNAPSHOT and len(f) == 3:
            snap = decode_snapshot(
                canonical.expect_bytes(f[1], "snapshot", max_len=1 << 24), self.room_id
            )
            if snap.epoch < self.epoch:
                self._alert("rollback", f"offered a snapshot of epoch {snap.epoch} < {self.epoch}")
                return
            if snap.epoch == self.epoch and snap.head != self.head:
                self._alert("split_view", "offered a snapshot with a different head")
                return
            self._install_snapshot(
                snap.state, snap.epoch, snap.head, canonical.expect_bytes(f[2], "key", 32)
            )
        else:
            raise RemoteProtocolError("pairwise message", ErrorCode.MALFORMED)

    def _on_fresh(self, epoch: int, head: bytes, fresh: bytes) -> None:
        """A re-key commit's fresh secret (spec §15.2)."""
        aw = self._awaiting_fresh
        if aw is not None and aw.epoch == epoch and aw.head == head:
            if key_confirmation(aw.prev_key, fresh) != aw.confirm:
                self._alert("key_mismatch", f"the re-key secret of epoch {epoch} is not the one")
                return  # keep waiting; the sync request timer asks again
            self._awaiting_fresh = None
            self._install_epoch(epoch, head, keys.next_epoch_key(aw.prev_key, head, fresh))
            self._events.append(KeysRotated(epoch))
            self._drain_buffer()
        elif epoch > self.epoch:
            if len(self._early_fresh) < 64:
                self._early_fresh[(epoch, head)] = fresh

    def _on_sync(self, raw_commits: Value, key: bytes) -> None:
        """Catch up from a moderator's commit log (spec §16.4)."""
        if not isinstance(raw_commits, list):
            raise RemoteProtocolError("sync commits", ErrorCode.MALFORMED)
        applied = False
        last = None  # the epoch the sync's key is for, when it carries commits
        for raw in raw_commits:
            commit = decode_commit(canonical.expect_bytes(raw, "commit"), self.room_id)
            last = commit.epoch
            if commit.epoch <= self.epoch:
                if self._heads.get(commit.epoch) not in (None, commit.head):
                    self._alert("split_view", f"sync shows another commit at epoch {commit.epoch}")
                    return
                continue
            if commit.epoch != self.epoch + 1 or commit.parent != self.head:
                self._alert("split_view", "sync commits do not chain onto our head")
                return
            assert self.roster is not None
            if not self.roster.is_moderator(commit.signer):
                raise RemoteProtocolError(
                    "commit signer is not a moderator", ErrorCode.UNAUTHORIZED
                )
            if not self._apply_commit(commit):
                return
            applied = True
            if self.state != "member":
                return
        if last is not None and last < self.epoch:
            # sent before a commit we have applied since: its key is for an older epoch
            self.counters["stale_sync"] += 1
            return
        held = self._epoch_keys.get(self.epoch)
        if held is not None and held != key:
            # we derived K_e ourselves from confirmed commits: a different one is a lie
            self._alert("key_mismatch", f"a sync offers another key for epoch {self.epoch}")
            return
        if applied or held is None or self._awaiting_fresh:
            self._awaiting_fresh = None
            self._install_epoch(self.epoch, self.head, key)
            self._drain_buffer()

    def _send_sync(self, mid: bytes, their_epoch: int) -> None:
        """Moderator: catch a lagging member up, within the reply bounds (spec §16.4, §16.7)."""
        slot = self._slots.get(mid)
        if slot is None or self.roster is None or mid not in self.roster.members:
            return
        key = self._epoch_keys.get(self.epoch)
        if key is None:
            return
        if not self._sync_pacer.request(mid, their_epoch, self._now):
            self.counters["sync_deferred"] += 1
            return
        commits = None if their_epoch == SNAPSHOT_ASKED else self._log_since(their_epoch)
        if commits is not None:
            pt = canonical.encode([int(PairType.SYNC), list[Value](commits), key])
        else:
            pt = canonical.encode([int(PairType.SNAPSHOT), self._signed_snapshot(), key])
        self._sync_pacer.sent(mid, self._now, snapshot=commits is None)
        self._send_unicast(slot, self._pair(mid).seal(pt, self._rng))

    def _log_since(self, their_epoch: int) -> list[bytes] | None:
        """The commits after ``their_epoch`` if they fit in one sync reply, else None."""
        missing = self.epoch - their_epoch
        if missing > min(len(self._log), MAX_SYNC_COMMITS):
            return None
        commits = list(islice(reversed(self._log), max(0, missing)))[::-1]
        if sum(len(c) for c in commits) > MAX_SYNC_BYTES:
            return None
        return commits

    # -- admission (spec §13) ----------------------------------------------
    def _join_request_limited(self, src: int) -> bool:
        """Moderator: drop, unopened, a join request over the rate limits (spec §16.7)."""
        if self.state != "member" or not self._is_moderator():
            return False
        if self._admission_rate.allow(src, self._now):
            return False
        self.counters["join_request_limited"] += 1
        return True

    def _send_join_request(self) -> None:
        """Broadcast a KNOCK; moderators answer with offers (spec §13.3)."""
        payload = seal.seal_admission(
            self._admission_key, self.room_id, self._joiner.knock(), self._rng
        )
        self._send(EnvelopeType.CONTROL, 0, payload)
        self._join_retry_at = self._now + self.config.join_retry

    def _on_join_request(self, src: int, pt: bytes) -> None:
        """An admission payload (kind 0x01): KNOCK, OFFER or REQUEST (spec §13.3, §13.4)."""
        if self._join_request_limited(src):
            return
        if self.state not in ("joining", "member"):
            return
        kind, fields = admission.decode_admission(pt)
        if kind is admission.AdmissionType.OFFER:
            if self.state == "joining":
                answer = self._joiner.answer(fields)
                if answer is not None:
                    self._send_unicast(
                        src,
                        seal.seal_admission(self._admission_key, self.room_id, answer, self._rng),
                    )
            return
        if self.state != "member" or not self._is_moderator():
            return
        if kind is admission.AdmissionType.KNOCK:
            self._send_offer(src)
        else:
            self._on_fresh_request(src, admission.request_sealed(fields))

    def _send_offer(self, slot: int) -> None:
        """Moderator: answer a KNOCK with a challenge and its authority (spec §13.3)."""
        proof = self._authority.proof_of(self.me)
        if proof is None:
            self.counters["offer_without_authority"] += 1
            return
        pt = admission.encode_offer(self._gate.challenge_for(slot, self._now), self._cert, proof)
        self._send_unicast(
            slot, seal.seal_admission(self._admission_key, self.room_id, pt, self._rng)
        )

    def _on_fresh_request(self, src: int, sealed: bytes) -> None:
        """Moderator: a JOIN_REQUEST answering our challenge to ``src`` (spec §13.4)."""
        kind, fields = admission.decode_sealed(
            seal.open_sealed(self._session_key, self.room_id, sealed)
        )
        if kind is not admission.SealedType.JOIN_REQUEST:
            raise RemoteProtocolError("admission request", ErrorCode.MALFORMED)
        if not self._gate.is_outstanding(src, admission.request_challenge(fields), self._now):
            self.counters["stale_join_request"] += 1  # a replay: dropped before any signature
            return
        req = admission.verify_join_request(fields, self.room_id, self.me)
        self._gate.spend(src)
        roster = self.roster
        assert roster is not None
        mid = req.member_id
        if mid in roster.banned:
            self._send_denial(src, req.session_key)
            return
        current = roster.members.get(mid)
        if current is not None:
            if current.session_key == req.session_key:
                # admitted already but missed the welcome: send it again
                self._send_welcome(src, mid, req.session_key)
            elif self._is_chair():
                self._welcome_to[mid] = (src, req.session_key)
                self._queue_op(op_remove(mid, RemoveReason.LEFT))
                self._queue_op(op_add(mid, req.session_key, req.name, Role.LISTENER))
            return
        auto = mid in self._known and mid not in roster.kicked
        if roster.policy is Policy.OPEN and mid not in roster.kicked:
            auto = True
        if auto:
            if self._is_chair():
                self._admit(src, req)
        else:
            fresh = mid not in self._requests
            self._requests[mid] = (src, req)
            if fresh:
                self._events.append(JoinRequested(mid, req.name))

    def _admit(self, src: int, req: admission.JoinRequest) -> None:
        self._welcome_to[req.member_id] = (src, req.session_key)
        self._queue_op(op_add(req.member_id, req.session_key, req.name, Role.LISTENER))

    def _signed_snapshot(self) -> bytes:
        """Our snapshot of the current epoch with the moderators' proofs (spec §12.6, §13.2)."""
        assert self.roster is not None
        if self._snapshot_cache is None or self._snapshot_cache[0] != self.epoch:
            body = snapshot_body(self.room_id, self.epoch, self.head, self.roster)
            proofs = self._authority.entries(self.roster.moderators())
            signed = sign_snapshot(self._identity, self.room_id, body, proofs)
            self._snapshot_cache = (self.epoch, signed)
        return self._snapshot_cache[1]

    def _send_welcome(self, slot: int, mid: bytes, session_key: bytes) -> None:
        """Moderator -> joiner, after the ADD commit applied (spec §13.5)."""
        assert self.roster is not None
        key = self._epoch_keys.get(self.epoch)
        if key is None or self._authority.proof_of(self.me) is None:
            return
        stage: list[Value] = [[m, self._slots[m]] for m in self.roster.stage() if m in self._slots]
        pt = admission.encode_welcome(
            self._identity, self.room_id, session_key, self._signed_snapshot(), key, stage
        )
        sealed = seal.seal_to(session_key, self.room_id, pt, self._rng)
        if len(sealed) <= seal.CHUNK_DATA:
            self._send_unicast(slot, sealed)
        else:
            for piece in seal.split_chunks(sealed, self._rng(8)):
                self._send_unicast(
                    slot,
                    seal.seal_admission(
                        self._admission_key, self.room_id, piece, self._rng, seal.Kind.SEALED_CHUNK
                    ),
                )
        self._set_slot(mid, slot)
        self._pair(mid)  # the pair channel is set up at admission, not at re-key time

    def _send_denial(self, slot: int, session_key: bytes) -> None:
        """Moderator -> joiner: a denial that carries our proof (spec §13.5)."""
        proof = self._authority.proof_of(self.me)
        if proof is None:
            return
        pt = admission.encode_denial(self._identity, self.room_id, session_key, proof)
        self._send_unicast(slot, seal.seal_to(session_key, self.room_id, pt, self._rng))

    def _on_chunk(self, payload: bytes) -> None:
        """A piece of a chunked welcome (spec §13.1): reassembled within stated bounds."""
        if self.state != "joining":
            self.counters["unexpected_chunk"] += 1
            return
        whole = self._chunks.add(payload, self._now)
        if whole is not None:
            self._on_sealed(seal.open_sealed(self._session_key, self.room_id, whole))

    def _on_sealed(self, payload: bytes) -> None:
        """A welcome or a denial addressed to our session key (spec §13.5).

        Either counts only if it verifies back to the invite's founder; one
        that does not is counted and the attempt goes on.
        """
        if self.state == "member":
            self._on_member_sealed(payload)
            return
        if self.state != "joining":
            self.counters["unexpected_welcome"] += 1
            return
        try:
            kind, moderator, body = self._joiner.open_verdict(payload)
            if kind is admission.SealedType.DENIAL:
                self._joiner.check_denial(moderator, body)
                self.state = "denied"
                self._join_retry_at = None
                self._events.append(Denied())
                return
            welcome = self._joiner.check_welcome(moderator, body)
            snap = welcome.snapshot
            self._authority.install(welcome.authority, set(snap.state.moderators()))
        except HushroomError:
            self.counters["rejected_verdict"] += 1
            raise
        self._install_snapshot(snap.state, snap.epoch, snap.head, welcome.epoch_key)
        for entry in welcome.stage:
            if isinstance(entry, list) and len(entry) == 2:
                mid, slot = entry
                if isinstance(mid, bytes) and isinstance(slot, int) and mid != self.me:
                    self._set_slot(mid, slot)
        self._join_retry_at = None
        self.state = "member"
        for mid in snap.state.moderators():
            self._pair(mid)
        self._events.append(Admitted(snap.epoch))
        role = snap.state.members[self.me].role
        self._role_changed(role)
        self._announce()
        self._drain_buffer()
        self._buffer.clear()  # what none of our keys opens was sent before we joined (§14.3)

    def _on_member_sealed(self, payload: bytes) -> None:
        """A member's SEALED payload: a moderator's new room secret (spec §13.7)."""
        kind, fields = admission.decode_sealed(payload)
        if kind is not admission.SealedType.ROTATE:
            self.counters["unexpected_welcome"] += 1
            return
        assert self.roster is not None
        self._switch_secret(self._rotations.accept(fields, self.room_id, self.roster, self.epoch))

    def _switch_secret(self, new: rotation.RoomKeys) -> None:
        """Leave the old room tag and join the new secret's, as on a new link (spec §13.7)."""
        queued = self._out[:]  # still for the old tag, e.g. our own rotation copies
        old_tag = self.room_tag
        self.room_tag, self._admission_key = new.room_tag, new.admission_key
        self._gate = Gate(self._rng)
        self.link_reset(self._now)  # an in-flight commit is queued again; JOIN on the new tag
        self._out[:0] = [*queued, encode_envelope(EnvelopeType.LEAVE, old_tag, 0, b"")]
        self._events.append(RoomSecretRotated(new.room_secret))

    def _install_snapshot(self, state: RosterState, epoch: int, head: bytes, key: bytes) -> None:
        self.roster = state
        self._known.update(state.members)
        self._awaiting_fresh = None
        self._advance(epoch, head, None)
        self._install_epoch(epoch, head, key)

    # -- moderator: building commits (spec §12.5) --------------------------
    def _is_moderator(self) -> bool:
        return self.roster is not None and self.roster.is_moderator(self.me)

    def _is_chair(self, excluding: bytes | None = None) -> bool:
        """The first moderator in roster order that we can reach acts for the room (spec §12.5).

        ``excluding`` is a moderator that is leaving and so cannot act.
        """
        if not self._is_moderator():
            return False
        assert self.roster is not None
        for mid in self.roster.moderators():
            if mid == self.me:
                return True
            if mid in self._slots and mid != excluding:
                return False
        return True

    def _queue_op(self, op: Op) -> None:
        """Queue an op for the next commit; at most MAX_QUEUED_OPS wait (spec §16.7)."""
        if len(self._queue) >= MAX_QUEUED_OPS:
            self.counters["op_queue_full"] += 1
            return
        self._queue.append(op)

    def _flush_leaves(self) -> None:
        if not self._leaves or not self._is_moderator():
            self._leaves.clear()
            return
        for mid in sorted(self._leaves):
            self._queue_op(op_remove(mid, RemoveReason.LEFT))
        self._leaves.clear()

    def _flush_commit(self) -> None:
        """Turn queued ops into one commit if none is in flight (spec §12.5)."""
        if not self._queue or self._inflight is not None or self.state != "member":
            return
        if not self._is_moderator() or self.slot is None:
            if not self._is_moderator():
                self._queue.clear()
            return
        if self.epoch not in self._control_keys:
            return  # waiting for a re-key's fresh secret; flushed once it arrives
        roster = self.roster
        assert roster is not None
        ops: list[Op] = []
        for op in self._queue[:MAX_OPS_PER_COMMIT]:
            try:
                roster.check_ops([*ops, op])  # rebase: drop ops the new head made invalid
            except RemoteProtocolError:
                self.counters["dropped_op"] += 1
                if op[0] == OpCode.ADD:
                    self._welcome_to.pop(op[1], None)  # type: ignore[arg-type]
                continue
            ops.append(op)
        del self._queue[:MAX_OPS_PER_COMMIT]
        if not ops:
            return
        rekey = any(op[0] == OpCode.REMOVE for op in ops)
        fresh = self._rng(32) if rekey else None
        confirm = key_confirmation(self._epoch_keys[self.epoch], fresh or b"")
        commit = sign_commit(
            self._identity,
            self.room_id,
            self.epoch + 1,
            self.head,
            ops,
            rekey,
            key_confirm=confirm,
        )
        self._inflight = _Inflight(commit, ops, fresh)
        payload = seal.seal_epoch(
            seal.Kind.COMMIT,
            self._control_keys[self.epoch],
            self.room_id,
            self.epoch,
            commit.encode(),
            self._rng,
        )
        self._send(EnvelopeType.CONTROL, 0, payload)
        self._send_unicast(self.slot, payload)  # our own copy, in relay order (spec §12.5)
        if fresh is not None:
            self._distribute_fresh(commit, fresh)

    def _distribute_fresh(self, commit: Commit, fresh: bytes) -> None:
        """Seal the fresh secret to every remaining member we can reach (spec §15.2)."""
        assert self.roster is not None
        gone = {op[1] for op in commit.ops if op[0] == OpCode.REMOVE}
        pt = canonical.encode([int(PairType.REKEY), commit.epoch, commit.head, fresh])
        for mid in self.roster.members:
            if mid == self.me or mid in gone:
                continue
            slot = self._slots.get(mid)
            if slot is None:
                continue  # absent: catches up through a sync when it announces (spec §16.4)
            self._send_unicast(slot, self._pair(mid).seal(pt, self._rng))

    def _after_commit(self, commit: Commit) -> None:
        """Moderator duties once a commit is applied: welcomes (spec §13.4)."""
        roster = self.roster
        assert roster is not None
        for op in commit.ops:
            if op[0] == OpCode.ADD:
                mid = op[1]
                assert isinstance(mid, bytes)
                target = self._welcome_to.pop(mid, None)
                if target is not None and mid in roster.members:
                    self._send_welcome(target[0], mid, target[1])
        self._flush_commit()

    # -- actions -----------------------------------------------------------
    def _require_member(self) -> RosterState:
        if self.state != "member" or self.roster is None:
            raise LocalProtocolError(f"not a member of the room (state {self.state})")
        return self.roster

    def _require_moderator(self) -> RosterState:
        roster = self._require_member()
        if not roster.is_moderator(self.me):
            raise LocalProtocolError("only a moderator can do that")
        return roster

    def _require_target(self, roster: RosterState, member: bytes) -> Member:
        m = roster.members.get(member)
        if m is None:
            raise LocalProtocolError("no such member")
        return m

    def _moderator_action(self, ops: list[Op]) -> None:
        for op in ops:
            self._queue_op(op)
        self._flush_commit()

    def raise_hand(self) -> None:
        """Listener: ask to speak (spec §14.4)."""
        roster = self._require_member()
        if roster.role_of(self.me) is not Role.LISTENER or self.me in roster.hands:
            raise LocalProtocolError("only a listener without a raised hand can raise it")
        self._send_control(ControlType.HAND, [True])

    def lower_hand(self) -> None:
        """Withdraw a raised hand (spec §14.4)."""
        roster = self._require_member()
        if self.me not in roster.hands:
            raise LocalProtocolError("no raised hand")
        self._send_control(ControlType.HAND, [False])

    def invite_to_speak(self, member: bytes) -> None:
        """Moderator: invite a listener on stage (spec §14.4)."""
        roster = self._require_moderator()
        m = self._require_target(roster, member)
        if m.role is not Role.LISTENER or member in roster.invited:
            raise LocalProtocolError("only an uninvited listener can be invited")
        self._moderator_action([op_invite(member, True)])

    def accept_invitation(self) -> None:
        """Invited listener: go on stage (spec §14.4)."""
        self._answer_invitation(True)

    def decline_invitation(self) -> None:
        """Invited listener: stay in the audience (spec §14.4)."""
        self._answer_invitation(False)

    def _answer_invitation(self, accept: bool) -> None:
        roster = self._require_member()
        if self.me not in roster.invited:
            raise LocalProtocolError("no pending invitation")
        self._send_control(ControlType.INVITE_REPLY, [accept])

    def move_to_audience(self, member: bytes) -> None:
        """Moderator: take a speaker (or moderator) off stage (spec §14.4)."""
        roster = self._require_moderator()
        m = self._require_target(roster, member)
        if m.role is Role.LISTENER:
            raise LocalProtocolError("already in the audience")
        self._moderator_action([op_role(member, Role.LISTENER)])

    def request_mute(self, member: bytes) -> None:
        """Moderator: ask a speaker to mute (spec §14.4)."""
        roster = self._require_moderator()
        self._require_target(roster, member)
        self._send_control(ControlType.MUTE_REQUEST, [member])

    def kick(self, member: bytes) -> None:
        """Moderator: remove a member and re-key at once (spec §15.2)."""
        self._remove(member, RemoveReason.KICKED)

    def ban(self, member: bytes) -> None:
        """Moderator: remove a member for good and re-key at once (spec §15.2)."""
        self._remove(member, RemoveReason.BANNED)

    def _remove(self, member: bytes, reason: RemoveReason) -> None:
        roster = self._require_moderator()
        self._require_target(roster, member)
        if member == self.me:
            raise LocalProtocolError("use leave() to leave")
        self._moderator_action([op_remove(member, reason)])

    def transfer_moderator(self, member: bytes) -> None:
        """Moderator: make ``member`` a moderator and step down to speaker (spec §14.4)."""
        roster = self._require_moderator()
        m = self._require_target(roster, member)
        if member == self.me or m.role is Role.MODERATOR:
            raise LocalProtocolError("choose another member who is not a moderator")
        self._moderator_action([op_role(member, Role.MODERATOR), op_role(self.me, Role.SPEAKER)])

    def end_room(self) -> None:
        """Moderator: end the room for everyone (spec §14.4)."""
        self._require_moderator()
        self._moderator_action([op_end()])

    def leave(self) -> None:
        """Leave the room: tell the moderators, then leave the relay room (spec §14.4)."""
        roster = self._require_member()
        if must_hand_over(roster, self.me):
            raise LocalProtocolError(
                "the last moderator must transfer_moderator() or end_room() first"
            )
        self._send_control(ControlType.LEAVE, [])
        self._send(EnvelopeType.LEAVE, 0, b"")
        self.state = "left"

    def announce_recording(self, on: bool) -> None:
        """Tell the room that this client records it, or no longer does (advisory, §14.4)."""
        roster = self._require_member()
        if self._recording.set(roster.members[self.me], on, roster.members.values()):
            self._events.append(RecordingChanged(self.me, on))
        self._send_control(ControlType.RECORDING, [on])

    def report_loss(self, speaker: bytes, loss_permille: int) -> None:
        """Tell ``speaker`` (unicast to its slot) the share of its frames we lost (§14.4)."""
        role = self._require_member().role_of(self.me)
        if role is None or not role.on_stage:
            raise LocalProtocolError("only stage members report loss")
        args, slot = report_args(speaker, loss_permille), self._slots.get(speaker)
        if slot is not None and speaker != self.me:
            self._send_control(ControlType.LOSS_REPORT, args, to=slot)

    def send_chat(self, text: str) -> None:
        """Send a text message to the room (spec §14.4)."""
        self._require_member()
        if len(text.encode("utf-8")) > 2000:
            raise LocalProtocolError("chat messages are at most 2000 UTF-8 bytes")
        self._send_control(ControlType.CHAT, [text])

    def approve(self, request: bytes) -> None:
        """Moderator, knock policy: admit a pending join request (spec §13.4)."""
        self._require_moderator()
        pending = self._requests.pop(request, None)
        if pending is None:
            raise LocalProtocolError("no such join request")
        self._admit(pending[0], pending[1])
        self._flush_commit()

    def deny(self, request: bytes) -> None:
        """Moderator, knock policy: refuse a pending join request (spec §13.4)."""
        self._require_moderator()
        pending = self._requests.pop(request, None)
        if pending is None:
            raise LocalProtocolError("no such join request")
        self._send_denial(pending[0], pending[1].session_key)

    def rotate_room_secret(self) -> None:
        """Moderator: move the room to a new room secret, so removed members lose it (§13.7).

        The new secret is sealed to every member whose slot is known; members
        not reachable now need the new invite link out of band.  Every member
        (this one included) emits :class:`RoomSecretRotated`.
        """
        roster = self._require_moderator()
        new = rotation.derive(self._rng(32))
        pt = rotation.encode_rotation(self._identity, self.room_id, self.epoch, new.room_secret)
        for mid, member in roster.members.items():
            slot = self._slots.get(mid)
            if mid == self.me:
                continue
            if slot is None:
                self.counters["rotation_unreachable"] += 1
                continue
            self._send_unicast(slot, seal.seal_to(member.session_key, self.room_id, pt, self._rng))
        self._rotations.note_own(self.epoch)
        self._switch_secret(new)

    # -- audio (spec §15.4) ------------------------------------------------
    def _sender_key(self, epoch: int, member: bytes) -> SenderKey | None:
        """Member ``m``'s sender key at epoch ``e``: kid = e, secret = S_e,m (spec §15.4)."""
        k = self._epoch_keys.get(epoch)
        if k is None:
            return None
        return SenderKey(epoch, epoch, keys.sender_base(k, member))

    def send_audio(self, opus: bytes, now: float) -> None:
        """Protect and send one Opus frame (spec §11, §15.4, §15.6); stage members only.

        The frame is protected by :class:`e2ee.frame.FrameSender` under this
        member's sender key of the current epoch; the frame counter runs on
        across epochs (it is the receivers' ``seq``).  Every batch of frames
        is followed by a speaker proof signed with the identity key (§15.6).
        """
        self._now = now
        roster = self._require_member()
        role = roster.role_of(self.me)
        if role is None or not role.on_stage:
            raise LocalProtocolError("only speakers and moderators can send audio")
        if self._quiet.isolated(now) and self._expects_news():
            self.counters["audio_held_isolated"] += 1  # spec §15.5: a removal may be hidden
            return
        epoch = self.epoch
        if self._epoch_keys.get(epoch) is None:
            aw = self._awaiting_fresh
            if aw is None or now > aw.since + self.config.rekey_send_grace:
                self.counters["audio_held"] += 1
                return
            epoch = max((e for e in self._epoch_keys if e < aw.epoch), default=-1)
        sender = self._frame_sender
        if sender is None or sender.key.epoch != epoch:
            key = self._sender_key(epoch, self.me)
            if key is None:
                self.counters["audio_held"] += 1
                return
            sender = FrameSender(
                key,
                room_id=self.room_id,
                sender_id=self.me,
                next_counter=sender.next_counter if sender is not None else 0,
            )
            self._frame_sender = sender
        frame = sender.protect(opus)
        self._send(EnvelopeType.MEDIA, 0, frame)
        params = self.config.speaker_auth.params(len(roster.stage()) > 1)
        epoch_key = self._epoch_keys[epoch]
        proof_key = lambda: keys.proof_key(keys.sender_base(epoch_key, self.me))  # noqa: E731
        self._send_media(self._proofs_out.add(frame, epoch, now, params, proof_key))

    def _send_media(self, payloads: list[bytes]) -> None:
        for payload in payloads:
            self._send(EnvelopeType.MEDIA, 0, payload)

    def _on_media(self, src: int, payload: bytes) -> None:
        """Anti-ghosting (spec §15.4) and speaker authentication (spec §15.6).

        A frame from a current stage member is held until a proof signed by
        that member covers it, or played first and verified after (§15.6).
        """
        if self.state != "member" or self.roster is None:
            return
        member = self._slot_owner.get(src)
        if member is None:
            self.counters["audio_rejected_unknown_slot"] += 1
            return
        role = self.roster.role_of(member)
        if role is None or not role.on_stage:
            self.counters["audio_rejected_role"] += 1
            return
        try:
            if speaker_proof.is_proof(payload):
                phase = speaker_proof.proof_phase(payload)
                candidates = [
                    (e, keys.proof_key(keys.sender_base(self._epoch_keys[e], member)))
                    for e in self._epoch_keys
                    if e % 8 == phase and self._key_usable(e)
                ]
                released = self._proof_gate.proof(member, payload, self._now, candidates)
            else:
                on_stage = self.role is not None and self.role.on_stage
                released = self._proof_gate.frame(member, payload, self._now, on_stage)
                if not released.tentative:  # held: its epoch may show a stale sender now
                    self._check_stale_arrival(member, payload)
        except RemoteProtocolError as exc:
            self.counters[f"audio_rejected_{exc.code.name.lower()}"] += 1
            return
        self._on_forged(released.events)
        for frame in released.tentative:
            self._play(member, frame, commit=False)
        for frame in released.confirmed:
            self._play(member, frame, play=False)
        for frame in released.frames:
            self._play(member, frame)

    def _on_forged(self, forged: list[ForgedAudio]) -> None:
        for event in forged:
            self.counters[f"audio_forged_{event.reason}"] += 1
            self._events.append(event)

    def _play(self, member: bytes, payload: bytes, commit: bool = True, play: bool = True) -> None:
        """Open a frame under the epoch key that fits and hand it out (spec §15.4, §15.6)."""
        try:
            epoch, frame = self._audio_in.open(
                member,
                payload,
                self._now,
                [e for e in self._epoch_keys if self._key_usable(e)],
                lambda e: self._sender_key(e, member),
                commit,
            )
        except DecryptionFailed:
            self.counters["audio_rejected_auth"] += 1
            return
        except RemoteProtocolError as exc:
            name = "key" if exc.code is ErrorCode.UNKNOWN_KEY else exc.code.name.lower()
            self.counters[f"audio_rejected_{name}"] += 1
            return
        if epoch < self.epoch and not commit:  # held frames: checked on arrival
            self._check_stale_sender(member, epoch)
        if play:
            self.counters["audio_received"] += 1
            self._events.append(AudioReceived(member, frame.counter, frame.payload))

    def _check_stale_arrival(self, member: bytes, payload: bytes) -> None:
        """A held frame that opens under a superseded key shows a stale sender (§15.4, §15.6)."""
        old = [e for e in self._epoch_keys if e < self.epoch and self._key_usable(e)]
        try:
            key_for = lambda e: self._sender_key(e, member)  # noqa: E731
            epoch, _ = self._audio_in.open(member, payload, self._now, old, key_for, False)
        except RemoteProtocolError:
            return
        self._check_stale_sender(member, epoch)

    def _key_usable(self, epoch: int) -> bool:
        """Current, or superseded less than ``key_grace`` ago (spec §15.4)."""
        expiry = self._key_expiry.get(epoch)
        return epoch == self.epoch or expiry is None or self._now < expiry

    def _check_stale_sender(self, member: bytes, epoch: int) -> None:
        """Audio under a superseded epoch after the sender's switch grace (spec §15.4).

        The sender missed a commit (a relay may be withholding it): alert once
        per sender and epoch and, as a moderator, send it a sync.
        """
        expiry = self._key_expiry.get(epoch)
        if expiry is None:
            return
        superseded = expiry - self.config.key_grace
        if self._now < superseded + self.config.rekey_send_grace:
            return
        self.counters["audio_stale_epoch"] += 1
        if self._stale_alerted.get(member) != epoch:
            self._stale_alerted[member] = epoch
            self._alert("stale_sender", f"a speaker still sends under epoch {epoch}")
            if not self._is_moderator():
                self._forward_commit(member, epoch)
        if self._is_moderator():
            self._send_sync(member, epoch)

    def _forward_commit(self, member: bytes, epoch: int) -> None:
        """Hand a stale sender the commit that moves it off ``epoch`` (spec §15.4).

        Sealed under ``epoch``'s control key, which the sender holds (its audio
        proved it); once per sender and epoch, from about FORWARDERS members
        (:mod:`e2ee.room.forwarding`).
        """
        assert self.roster is not None
        n = len(self.roster.members)
        slot, key = self._slots.get(member), self._control_keys.get(epoch)
        if slot is None or key is None:
            return
        if not forwarding.selected(self.room_id, self.me, member, epoch, n):
            return
        raw = forwarding.missed_commit(self._log, self.epoch, epoch, self.room_id)
        if raw is not None:
            self.counters["commit_forwarded"] += 1
            payload = seal.seal_epoch(seal.Kind.COMMIT, key, self.room_id, epoch, raw, self._rng)
            self._send_unicast(slot, payload)

    # -- output helpers ----------------------------------------------------
    def _send(self, etype: EnvelopeType, slot: int, payload: bytes) -> None:
        self._out.append(encode_envelope(etype, self.room_tag, slot, payload))

    def _send_unicast(self, slot: int, payload: bytes) -> None:
        self._send(EnvelopeType.UNICAST, slot, payload)

    def _send_control(self, ctype: ControlType, args: list[Value], to: int | None = None) -> None:
        """Sign, seal under C_e and send a control message (spec §14.2)."""
        if self.state != "member" or self.slot is None:
            return
        key = self._control_keys.get(self.epoch)
        epoch = self.epoch
        if key is None:  # waiting for a fresh secret: use the newest key we have
            epoch = max(self._control_keys, default=-1)
            key = self._control_keys.get(epoch)
            if key is None:
                return
        seq = self._seq
        self._seq += 1
        signed = sign_control(
            self._identity,
            self._session_key.public,
            self.room_id,
            ctype,
            seq,
            epoch,
            self._heads.get(epoch, self.head),
            args,
        )
        payload = seal.seal_epoch(seal.Kind.CONTROL, key, self.room_id, epoch, signed, self._rng)
        if to is None:
            self._send(EnvelopeType.CONTROL, 0, payload)
        else:
            self._send_unicast(to, payload)

    def _alert(self, kind: str, detail: str) -> None:
        self.counters[f"alert_{kind}"] += 1
        self._events.append(SecurityAlert(kind, detail))


__all__ = ["HushroomError", "MemberView", "RoomConfig", "RoomInvite", "RoomSession"]
