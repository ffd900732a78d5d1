"""The sans-IO room session (spec §12–§16): envelopes in, envelopes and events out.

:class:`RoomSession` is driven like h11: feed it every envelope the relay link
delivers (:meth:`RoomSession.envelope_received`), call the action methods, and
after each call drain :meth:`RoomSession.data_to_send` (encoded envelopes for
the relay link) and :meth:`RoomSession.next_event`.  Time is passed in as
``now`` (seconds, any monotonic origin); :meth:`get_timer` says when
:meth:`handle_timer` wants to run next.  Randomness comes from ``rng``.

Commits are applied only in the order the relay delivers them, by everyone,
including their author: the relay echoes every CONTROL broadcast to its
sender in its place in the room's order (spec §17.3), and a moderator applies
its commit when that copy comes back (spec §12.5); the echoes of its other
broadcasts it drops unopened.  This is what makes "first
valid commit in relay order wins" decidable by the loser.

The session is the driver: its state lives in the collaborators below, which
never call back into it, and what it does with that state runs in pipelines
that keep none of their own (:mod:`e2ee.room.pipelines`).  The session routes
what they return (payloads, events, alerts, our next state); it keeps only its
life (:mod:`e2ee.room.state`), the roster, its relay slot and the time.

==================  ====================================================  ============
module              owns                                                  spec
==================  ====================================================  ============
``chain``           epoch, head, recent heads; split views; behind        §16.2–§16.4
``epochs``          epoch and control keys, their expiry                  §15.1, §15.4
``fresh``           the awaited re-key secret, early secrets              §15.2
``pending``         payloads held until their key arrives                 §14.3, §16.7
``chair``           op queue, commit in flight, welcomes, leaves, log     §12.5, §16.4
``authority``       the moderator proofs rooted in the founder            §13.2, §13.5
``admitting``       challenges, pending knocks, known members             §13.3–§13.5
``joiner``          the joining side of admission                         §13.3, §13.5
``knocking``        our KNOCK and its retry                               §13.2
``chunks``          welcome pieces being reassembled                      §13.1
``control_in``      last control ``seq`` per member; what each type does  §14.3, §14.4
``control_out``     our control ``seq``; signing, sealing our messages    §14.2
``pairs``           pair channels and their messages                      §15.3
``slots``           member <-> relay slot                                 §16.4
``absence``         absence timers of members whose link is gone          §16.4
``liveness``        when the chain was last confirmed                     §16.2
``recording``       which member sessions say they record (advisory)      §14.4
``media``           frame sender, speaker proofs, frame receivers         §15.4, §15.6
``delivery``        the relay delivery class we ask for                   §12.2, §17.2
``roster_view``     the safety code of our current head                   §16.1
``outbox``          envelopes, events, unechoed broadcasts, room tag      §8, §17.3
==================  ====================================================  ============
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from e2ee.canonical import Value
from e2ee.envelope import DeliveryClass, Envelope, EnvelopeType
from e2ee.errors import (
    DecryptionFailed,
    ErrorCode,
    HushroomError,
    LocalProtocolError,
    RemoteProtocolError,
)
from e2ee.identity import IdentityKey, SessionKey
from e2ee.invite import Invite
from e2ee.room import (
    actions,
    admission,
    chair,
    commit_apply,
    inbound,
    pending,
    rotation,
    seal,
)
from e2ee.room.absence import AbsenceTimers
from e2ee.room.admitting import Admissions
from e2ee.room.authority import Authority
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair
from e2ee.room.chunks import ChunkAssembler
from e2ee.room.commit import Commit
from e2ee.room.config import MemberView, RoomConfig, RoomInvite, secrets_of
from e2ee.room.control import ControlType
from e2ee.room.control_in import ControlIn
from e2ee.room.control_out import ControlOut
from e2ee.room.delivery import Delivery
from e2ee.room.epochs import EpochKeys
from e2ee.room.events import Admitted, Denied, Event, RecordingChanged
from e2ee.room.fresh import FreshSecrets
from e2ee.room.joiner import Joiner
from e2ee.room.knocking import Knocking
from e2ee.room.liveness import QuietWatch
from e2ee.room.loss_report import report_args
from e2ee.room.media import Media
from e2ee.room.outbox import Outbox
from e2ee.room.pair_in import open_pair_message
from e2ee.room.pairs import Pairs, Rekey, Sync
from e2ee.room.pipelines import Pipelines
from e2ee.room.recording import RecordingMarks
from e2ee.room.roster import Op, Policy, RemoveReason, Role, RosterState
from e2ee.room.roster_view import SafetyCodes, member_views, roster_digest
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState, transition
from e2ee.room.succession import suggested_successor
from e2ee.room.sync_run import SyncRun

Rng = Callable[[int], bytes]


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
        self.config = cfg = config or RoomConfig()
        self._identity = identity
        self.me: bytes = identity.public
        self.display_name = display_name
        self._rng = rng
        self._session_key = key = SessionKey.generate(rng)
        self._cert = key.certify(identity)
        room_tag, admission_key, self.room_id, self._founder = secrets_of(invite)
        room_id, founder, me = self.room_id, self._founder, self.me
        self._now = now
        self.counters = counters = Counter[str]()
        self._outbox = out = Outbox(room_tag, counters)
        self._events = out.events
        self._state = SessionState.JOINING
        self.slot: int | None = None
        self.roster: RosterState | None = None
        # the session's state, each part in the collaborator that owns it
        self._authority = Authority(founder, room_id)
        self._joiner = Joiner(identity, key, self._cert, display_name, room_id, founder, rng)
        self._knocking = Knocking(self._joiner, room_id, rng, out, cfg.join_retry)
        self._chain = Chain(cfg.sync_after)
        self._keys = EpochKeys(room_id, cfg.key_grace)
        self._fresh = FreshSecrets(cfg.fresh_timeout, cfg.sync_after)
        self._buffer = pending.PendingPayloads(cfg.buffer_limit, cfg.buffer_bytes)
        self._draining = False
        self._slots = Slots()
        self._control_out = ControlOut(identity, key.public, room_id)
        self._control_in = ControlIn(me, room_id, counters)
        self._pairs = Pairs(key, me, room_id)
        self._chunks = ChunkAssembler()
        self._chair = Chair(identity, room_id, rng, counters, cfg.commit_log, cfg.leave_debounce)
        self._admissions = Admissions(identity, key, self._cert, room_id, rng, counters, now)
        self._quiet = QuietWatch(now, cfg.quiet_alert)
        self._absence = AbsenceTimers(cfg.absent_timeout)
        self._recording = RecordingMarks()
        self._safety = SafetyCodes(room_id)
        self._media = Media(identity, room_id, cfg.speaker_auth, cfg.rekey_send_grace, counters)
        self._delivery = Delivery(out)
        # what the session does with that state (:mod:`e2ee.room.pipelines`)
        self._p = Pipelines(
            identity, key, room_id, admission_key, rng, cfg, counters, out, self._chain,
            self._keys, self._fresh, self._buffer, self._slots, self._chair, self._admissions,
            self._authority, self._joiner, self._knocking, self._chunks, self._control_out,
            self._control_in, self._pairs, self._quiet, self._absence, self._recording,
            self._media, self._delivery,
        )  # fmt: skip
        self._delivery.join()

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
        genesis, self.roster, key = chair.genesis(
            identity, self.room_id, pol, self._session_key.public, display_name, rng
        )
        self._p.epoch_install.install(0, genesis.head, key)
        self._chair.log.append(genesis.encode())
        self._admissions.known.add(self.me)
        self._move(SessionState.MEMBER)
        self._delivery.current = DeliveryClass.STAGE
        self._outbox.envelopes.clear()
        self._delivery.join()
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
        return self._outbox.drain()

    def next_event(self) -> Event | None:
        """The next pending event, or None."""
        return self._outbox.next_event()

    @property
    def room_tag(self) -> bytes:
        """The relay room tag this session sends under (spec §6.1; changes on rotation, §13.7)."""
        return self._outbox.room_tag

    @property
    def state(self) -> SessionState:
        """Where this session is in its life: see :mod:`e2ee.room.state`."""
        return self._state

    def _move(self, target: SessionState) -> None:
        self._state = transition(self._state, target)

    @property
    def epoch(self) -> int:
        """The epoch of the newest commit applied (-1 before admission)."""
        return self._chain.epoch

    @property
    def head(self) -> bytes:
        """The head of the newest commit applied (spec §12.3)."""
        return self._chain.head

    @property
    def delivery_class(self) -> str:
        """``"stage"`` or ``"audience"``: the relay delivery class this session asked for."""
        return "stage" if self._delivery.current is DeliveryClass.STAGE else "audience"

    @property
    def members(self) -> dict[bytes, MemberView]:
        """The roster as the driver sees it, in roster order."""
        return member_views(self.roster, self._recording)

    @property
    def successor(self) -> bytes | None:
        """Whom to hand over to before :meth:`leave`, as last moderator (spec §14.4)."""
        if self.roster is None or self._state is not SessionState.MEMBER:
            return None
        return suggested_successor(self.roster, self.me)

    @property
    def deputy(self) -> bytes | None:
        """Who takes the chair if every moderator is gone (spec §12.2)."""
        return self.roster.deputy if self.roster is not None else None

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
        return self._safety.code(self.roster, self._chain.epoch, self._chain.head)

    def roster_digest(self) -> bytes:
        """``state_digest`` of the current roster (spec §16.2), for out-of-band comparison."""
        assert self.roster is not None
        return roster_digest(self.room_id, self.roster, self._chain.epoch, self._chain.head)

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should next run, or None."""
        return self._p.timers.next_due(self._state)

    def handle_timer(self, now: float) -> None:
        """Run whatever is due at ``now``: see :mod:`e2ee.room.timers` (spec §13.2, §16.4)."""
        self._now = now
        self._p.timers.run(now, self._state, self.roster, self.slot, self._admission_key)

    def link_reset(self, now: float) -> None:
        """The relay link dropped and a new one is up: rejoin, re-announce (spec §16.4).

        Identity, session key and roster are kept; the new slot arrives in the
        relay's WELCOME, after which the session announces itself again.
        """
        self._now = now
        self.slot = None
        self._p.relay_link.reset(self._state)

    # -- envelopes in ------------------------------------------------------
    def envelope_received(self, env: Envelope, now: float) -> None:
        """Process one envelope from the relay (spec §8, §12–§16)."""
        self._now = now
        if env.room_tag != self.room_tag:
            self.counters["wrong_room_tag"] += 1
            return
        t = env.type
        link, state, slot, roster = self._p.relay_link, self._state, self.slot, self.roster
        if t is EnvelopeType.WELCOME:
            self.slot = env.slot
            link.welcomed(slot, env.slot, state, roster, self._admission_key, now)
        elif t is EnvelopeType.PEER_JOINED:
            link.peer_joined(env.slot, state, slot, roster)
        elif t is EnvelopeType.PEER_LEFT:
            link.peer_left(env.slot, state, slot, roster, now)
        elif t is EnvelopeType.MEDIA:
            self._p.frames_in.received(env.slot, env.payload, self._state, self.roster, now)
        elif t in (EnvelopeType.CONTROL, EnvelopeType.UNICAST):
            own = env.slot == self.slot and self._outbox.echoes.returned(env.payload)
            if own and not self._chair.is_own_commit(env.payload):
                self.counters["own_echo"] += 1  # we sent it (spec §12.5, §17.3)
            else:
                self._on_payload(t, env.slot, env.payload, live=True)
        elif t is EnvelopeType.ERROR:
            self.counters["relay_error"] += 1
        self._flush_commit()

    def _on_payload(self, etype: EnvelopeType, src: int, payload: bytes, live: bool) -> None:
        try:
            self._dispatch(etype, src, payload, live)
        except (DecryptionFailed, RemoteProtocolError) as exc:
            self.counters[inbound.error_counter(exc)] += 1

    def _hint_candidates(self) -> Iterator[tuple[int | str | seal.PairChannel, bytes]]:
        """The keys a payload's hint is tried against (:func:`e2ee.room.inbound.candidates`)."""
        control, epoch, post = self._keys.control, self._chain.epoch, self._p.pair_out
        return inbound.candidates(control, epoch, self._admission_key, post, self.roster, self.me)

    def _dispatch(self, etype: EnvelopeType, src: int, payload: bytes, live: bool) -> None:
        """Hand a payload on by the key its hint names, and then by kind (spec §13.1)."""
        to = inbound.route(payload, self._hint_candidates(), self._admission_key, self.room_id)
        if isinstance(to, inbound.ToPair):
            self._on_pairwise(to.channel, payload)
        elif isinstance(to, inbound.ToEpoch):
            self._on_epoch_payload(etype, src, payload, to.epoch, live)
        elif isinstance(to, inbound.Unmatched):
            self._on_unmatched(etype, src, payload, live)
        elif to.kind is seal.Kind.JOIN_REQUEST:  # a knock, an offer, a request (spec §13.3)
            state, now, key = self._state, self._now, self._admission_key
            self._p.join_requests.received(src, to.body, now, state, self.roster, self._joiner, key)
        elif to.kind is seal.Kind.SEALED_CHUNK:  # a piece of a chunked welcome (spec §13.1)
            if (sealed := self._p.welcome_in.chunk(to.body, self._state, self._now)) is not None:
                self._on_sealed(sealed)
        elif to.kind is seal.Kind.BEACON:
            self._p.heads.received(to.body, self._state, self.roster, self._now)
        else:
            raise RemoteProtocolError("admission payload kind", ErrorCode.MALFORMED)

    def _on_unmatched(self, etype: EnvelopeType, src: int, payload: bytes, live: bool) -> None:
        """No hint matched: a SEALED payload to us, or one whose key has not arrived (§14.3)."""
        if not self._state.active:
            return
        sealed = inbound.open_unmatched(self._session_key, self.room_id, payload) if live else None
        if sealed is not None:
            self._on_sealed(sealed)
        else:
            self.counters["buffer_overflow"] += self._buffer.add(etype, src, payload)

    # -- epoch-keyed payloads: commits and control (spec §12.3, §14.3) ------
    def _on_epoch_payload(
        self, etype: EnvelopeType, src: int, payload: bytes, epoch: int, live: bool
    ) -> None:
        if not self._state.active:
            return
        now, current = self._now, self._chain.epoch
        opened = inbound.open_epoch_payload(self._keys, epoch, current, now, self.room_id, payload)
        if opened is None:
            self.counters["stale_key"] += 1  # superseded longer than the grace ago (§15.5)
        elif isinstance(opened, Commit):
            self._on_commit(opened, live)
        else:  # sealed under epoch's key: see :mod:`e2ee.room.control_routing` (spec §14.3)
            assert self.roster is not None
            state, slot = self._state, self.slot
            self._p.control_routing.received(opened, src, epoch, self.roster, state, slot, now)

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
            member = SessionState.MEMBER
            while self._state is member and (held := self._buffer.next_released()) is not None:
                for etype, src, payload in held:
                    if self._state is not SessionState.MEMBER:
                        break
                    self._on_payload(etype, src, payload, live=False)
        finally:
            self._draining = False

    def _on_commit(self, commit: Commit, live: bool) -> None:
        """Chain, authorize and apply a verified commit (spec §12.3 steps 3–6, §16.3)."""
        member = self.roster if self._state is SessionState.MEMBER else None
        if member is not None and self._p.commit_in.is_next(commit, live, member):
            self._apply_commit(commit)

    def _apply_commit(self, commit: Commit) -> bool:
        """Apply a chained, authorized commit (:mod:`e2ee.room.commit_in`); False if its key
        confirmation fails (spec §12.3)."""
        assert self.roster is not None
        now, key = self._now, self._admission_key
        applied = self._p.commit_in.apply(commit, self.roster, self._state, self.slot, key, now)
        if applied is None:
            return False
        self._state = applied.state
        if applied.keyed:
            self._drain_buffer()
        return True

    # -- pairwise messages (spec §15.2, §16.4) -----------------------------
    def _on_pairwise(self, ch: seal.PairChannel, payload: bytes) -> None:
        assert self.roster is not None
        msg = open_pair_message(ch, payload, self.roster, self._pairs, self.room_id)
        if isinstance(msg, Rekey):  # a re-key commit's fresh secret (spec §15.2)
            if self._p.catch_up_keys.fresh_received(msg.epoch, msg.head, msg.fresh):
                self._drain_buffer()
        elif isinstance(msg, Sync):
            self._on_sync(msg)
        elif (roster := self._p.snapshots.offered(msg, self._now)) is not None:
            self.roster = roster  # a moderator's snapshot offer (spec §16.4)

    def _on_sync(self, msg: Sync) -> None:
        """Catch up from a moderator's commit log: see :mod:`e2ee.room.sync_run` (§16.4)."""
        run = SyncRun(msg, self.room_id, self._chain, self._outbox)
        for commit in run.commits():
            assert self.roster is not None
            commit_apply.authorize(self.roster, commit)
            if not self._apply_commit(commit) or self._state is not SessionState.MEMBER:
                return
        if run.complete and self._p.catch_up_keys.sync_key(run.last, msg.key, run.applied):
            self._drain_buffer()

    # -- admission (spec §13) ----------------------------------------------
    def _on_sealed(self, payload: bytes) -> None:
        """A SEALED payload to our session key: to a joiner, a welcome or a denial
        (spec §13.5), which counts only if it verifies back to the invite's founder
        (one that does not is counted and the attempt goes on)."""
        if self._state is SessionState.MEMBER:  # a moderator's new room secret (spec §13.7)
            assert self.roster is not None
            new = self._p.room_secret.received(payload, self.roster, self._chain.epoch)
            if new is not None:
                self._switch_secret(new)
            return
        if self._state is not SessionState.JOINING:
            self.counters["unexpected_welcome"] += 1
            return
        welcome = self._p.welcome_in.verdict(payload)
        if isinstance(welcome, Denied):
            self._move(SessionState.DENIED)
            self._knocking.stop()
            self._events.append(welcome)
            return
        self.roster = self._p.snapshots.welcomed(welcome, self.slot, self._now)
        self._move(SessionState.MEMBER)
        self._drain_buffer()
        self._buffer.clear()  # what none of our keys opens was sent before we joined (§14.3)

    def _switch_secret(self, new: rotation.RoomKeys) -> None:
        """Move to a new room secret as on a new link: see :mod:`e2ee.room.room_secret`."""
        self.slot = None
        self._p.room_secret.switch(new, self._state)

    @property
    def _admission_key(self) -> bytes:
        return self._p.room_secret.admission_key

    # -- moderator: building commits (spec §12.5) --------------------------
    def _flush_commit(self) -> None:
        """Turn queued ops into one commit if none is in flight (spec §12.5)."""
        self._p.commit_flush.flush(self._state, self.roster, self.slot)

    # -- actions (spec §13.4, §13.7, §14.4) --------------------------------
    def _require_member(self) -> RosterState:
        if self._state is not SessionState.MEMBER or self.roster is None:
            raise LocalProtocolError(f"not a member of the room (state {self._state})")
        return self.roster

    def _require_moderator(self) -> RosterState:
        return actions.require_moderator(self._require_member(), self.me)

    def _moderator_action(self, ops: list[Op]) -> None:
        for op in ops:
            self._chair.queue_op(op)
        self._flush_commit()

    def raise_hand(self) -> None:
        """Listener: ask to speak (spec §14.4)."""
        self._send_control(ControlType.HAND, actions.raise_hand(self._require_member(), self.me))

    def lower_hand(self) -> None:
        """Withdraw a raised hand (spec §14.4)."""
        self._send_control(ControlType.HAND, actions.lower_hand(self._require_member(), self.me))

    def invite_to_speak(self, member: bytes) -> None:
        """Moderator: invite a listener on stage (spec §14.4)."""
        self._moderator_action(actions.invite_to_speak(self._require_moderator(), member))

    def accept_invitation(self) -> None:
        """Invited listener: go on stage (spec §14.4)."""
        self._answer_invitation(True)

    def decline_invitation(self) -> None:
        """Invited listener: stay in the audience (spec §14.4)."""
        self._answer_invitation(False)

    def _answer_invitation(self, accept: bool) -> None:
        args = actions.answer_invitation(self._require_member(), self.me, accept)
        self._send_control(ControlType.INVITE_REPLY, args)

    def move_to_audience(self, member: bytes) -> None:
        """Moderator: take a speaker (or moderator) off stage (spec §14.4)."""
        self._moderator_action(actions.move_to_audience(self._require_moderator(), member))

    def request_mute(self, member: bytes) -> None:
        """Moderator: ask a speaker to mute (spec §14.4)."""
        args = actions.request_mute(self._require_moderator(), member)
        self._send_control(ControlType.MUTE_REQUEST, args)

    def kick(self, member: bytes) -> None:
        """Moderator: remove a member and re-key at once (spec §15.2)."""
        roster = self._require_moderator()
        self._moderator_action(actions.remove(roster, self.me, member, RemoveReason.KICKED))

    def ban(self, member: bytes) -> None:
        """Moderator: remove a member for good and re-key at once (spec §15.2)."""
        roster = self._require_moderator()
        self._moderator_action(actions.remove(roster, self.me, member, RemoveReason.BANNED))

    def transfer_moderator(self, member: bytes) -> None:
        """Moderator: make ``member`` a moderator and step down to speaker (spec §14.4)."""
        roster = self._require_moderator()
        self._moderator_action(actions.transfer_moderator(roster, self.me, member))

    def end_room(self) -> None:
        """Moderator: end the room for everyone (spec §14.4)."""
        self._moderator_action(actions.end_room(self._require_moderator()))

    def leave(self, *, to_deputy: bool = False) -> None:
        """Leave the room: tell the moderators, then leave the relay room (spec §14.4).

        The last moderator may leave only ``to_deputy``: the deputy takes the chair
        when it hears the LEAVE (spec §12.2)."""
        actions.check_leave(self._require_member(), self.me, to_deputy)
        self._send_control(ControlType.LEAVE, [])
        self._send(EnvelopeType.LEAVE, 0, b"")
        self._move(SessionState.LEFT)

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
        self._send_control(ControlType.CHAT, actions.chat(text))

    def approve(self, request: bytes) -> None:
        """Moderator, knock policy: admit a pending join request (spec §13.4)."""
        src, req = self._take_request(request)
        self._p.join_requests.admit(src, req)
        self._flush_commit()

    def deny(self, request: bytes) -> None:
        """Moderator, knock policy: refuse a pending join request (spec §13.4)."""
        src, req = self._take_request(request)
        self._p.join_requests.deny(src, req.session_key)

    def _take_request(self, request: bytes) -> tuple[int, admission.JoinRequest]:
        self._require_moderator()
        knock = self._admissions.requests.pop(request, None)
        if knock is None:
            raise LocalProtocolError("no such join request")
        return knock

    def rotate_room_secret(self) -> None:
        """Moderator: move the room to a new room secret, so removed members lose it (§13.7).

        The new secret is sealed to every member whose slot is known; members
        not reachable now need the new invite link out of band.  Every member
        (this one included) emits :class:`RoomSecretRotated`.
        """
        roster = self._require_moderator()
        self._switch_secret(self._p.room_secret.rotate(roster, self._slots, self._chain.epoch))

    # -- audio (spec §15.4, §15.6) -----------------------------------------
    def send_audio(self, opus: bytes, now: float) -> None:
        """Protect and send one Opus frame (spec §11, §15.4, §15.6); stage members only.

        See :meth:`e2ee.room.media.Media.send`; audio is held while this member
        may be isolated from a removal (spec §15.5).
        """
        self._now = now
        self._p.audio_out.send(opus, now, self._require_member())

    # -- output helpers ----------------------------------------------------
    def _send(self, etype: EnvelopeType, slot: int, payload: bytes) -> None:
        self._outbox.send(etype, slot, payload)

    def _send_control(self, ctype: ControlType, args: list[Value], to: int | None = None) -> None:
        """Sign, seal under C_e and send a control message (spec §14.2)."""
        self._p.control.send(ctype, args, self._state, self.slot, to)


__all__ = ["HushroomError", "MemberView", "RoomConfig", "RoomInvite", "RoomSession"]
