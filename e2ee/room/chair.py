"""The chair: the moderator that turns requests into commits (spec §12.5, §13.4, §16.4).

The first moderator in roster order that can be reached is the chair
(:func:`is_chair`).  It queues ops (at most :data:`MAX_QUEUED_OPS`, spec
§16.7), turns them into one signed commit at a time (:meth:`Chair.flush`;
the next waits until the relay echoes this one back, spec §12.5, §17.3), rebases
queued ops onto whatever commit won instead, batches voluntary leaves for
``leave_debounce`` seconds, and welcomes a joiner once its ADD applied.

Every member keeps the last ``commit_log`` commits it applied: a moderator
answers sync requests from it (paced by :class:`SyncPacer`, bounded by
:data:`MAX_SYNC_COMMITS` and :data:`MAX_SYNC_BYTES`, else a signed snapshot),
and any member forwards a missed commit to a stale sender from it (§15.4).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

from e2ee import canonical
from e2ee.canonical import Value
from e2ee.errors import RemoteProtocolError
from e2ee.identity import IdentityKey
from e2ee.room import keys, seal
from e2ee.room.authority import Authority
from e2ee.room.commit import (
    GENESIS_PARENT,
    Commit,
    key_confirmation,
    sign_commit,
    sign_snapshot,
    snapshot_body,
)
from e2ee.room.control import PairType
from e2ee.room.roster import (
    MAX_OPS_PER_COMMIT,
    Op,
    OpCode,
    Policy,
    Role,
    RosterState,
    op_add,
    op_policy,
)
from e2ee.room.succession import deputy_op
from e2ee.room.sync_pacer import MAX_SYNC_BYTES, MAX_SYNC_COMMITS, SNAPSHOT_ASKED, SyncPacer

Rng = Callable[[int], bytes]
MAX_QUEUED_OPS = 4 * MAX_OPS_PER_COMMIT  # a chair's ops waiting for the next commit (§16.7)


def is_chair(
    roster: RosterState, me: bytes, reachable: Callable[[bytes], bool], excluding: bytes | None
) -> bool:
    """Whether ``me`` is the first moderator in roster order that can be reached (spec §12.5).

    ``excluding`` is a moderator that is leaving and so cannot act.
    """
    if not roster.is_moderator(me):
        return False
    for mid in roster.moderators():
        if mid == me:
            return True
        if reachable(mid) and mid != excluding:
            return False
    return True


@dataclass
class Inflight:
    """Our commit sent and not yet delivered back in relay order (spec §12.5, §17.3)."""

    commit: Commit
    ops: list[Op]
    fresh: bytes | None
    payload: bytes  # the sealed broadcast, which the relay echoes to us in its place


@dataclass(frozen=True, slots=True)
class Flushed:
    """A commit to send: ``payload`` broadcast (echoed to us too); ``fresh`` to the rest."""

    commit: Commit
    payload: bytes
    fresh: bytes | None


class Chair:
    """Op queue, commit in flight, pending welcomes and leaves, commit log (spec §12.5, §16.4)."""

    def __init__(
        self,
        identity: IdentityKey,
        room_id: bytes,
        rng: Rng,
        counters: Counter[str],
        commit_log: int,
        leave_debounce: float,
    ) -> None:
        self._identity = identity
        self._room_id = room_id
        self._rng = rng
        self._counters = counters
        self._leave_debounce = leave_debounce
        self.queue: list[Op] = []
        self.inflight: Inflight | None = None
        self._lost_heads: set[bytes] = set()
        self._lost_payloads: set[bytes] = set()
        self._welcome_to: dict[bytes, tuple[int, bytes]] = {}
        self._leaves: set[bytes] = set()
        self._leave_at: float | None = None
        self.log: deque[bytes] = deque(maxlen=commit_log)
        self._snapshot: tuple[int, bytes] | None = None
        self._pacer = SyncPacer()

    # -- ops and commits -----------------------------------------------------
    def queue_op(self, op: Op) -> None:
        """Queue an op for the next commit; at most MAX_QUEUED_OPS wait (spec §16.7)."""
        if len(self.queue) >= MAX_QUEUED_OPS:
            self._counters["op_queue_full"] += 1
            return
        self.queue.append(op)

    def flush(
        self, roster: RosterState, epoch: int, head: bytes, epoch_key: bytes, control_key: bytes
    ) -> Flushed | None:
        """Turn queued ops into one commit on ``(epoch, head)`` (spec §12.5), if any is valid."""
        ops: list[Op] = []
        for op in self.queue[:MAX_OPS_PER_COMMIT]:
            try:
                roster.check_ops([*ops, op])  # rebase: drop ops the new head made invalid
            except RemoteProtocolError:
                self._counters["dropped_op"] += 1
                if op[0] == OpCode.ADD:
                    self._welcome_to.pop(op[1], None)  # type: ignore[arg-type]
                continue
            ops.append(op)
        del self.queue[:MAX_OPS_PER_COMMIT]
        if not ops:
            return None
        deputy = deputy_op(roster, ops)  # named with the change that calls for it (spec §12.2)
        if deputy is not None and any(op[0] == OpCode.ADD and op[1] == deputy[1] for op in ops):
            self.queue.insert(0, deputy)  # it must apply the commit that names it: the next one
        elif deputy is not None and len(ops) < MAX_OPS_PER_COMMIT:
            ops.append(deputy)
        rekey = any(op[0] == OpCode.REMOVE for op in ops)
        fresh = self._rng(32) if rekey else None
        confirm = key_confirmation(epoch_key, fresh or b"")
        commit = sign_commit(
            self._identity, self._room_id, epoch + 1, head, ops, rekey, key_confirm=confirm
        )
        payload = seal.seal_epoch(
            seal.Kind.COMMIT, control_key, self._room_id, epoch, commit.encode(), self._rng
        )
        self.inflight = Inflight(commit, ops, fresh, payload)
        return Flushed(commit, payload, fresh)

    def is_own_commit(self, payload: bytes) -> bool:
        """Whether ``payload``, echoed from our own slot, is a commit of ours (§12.5, §17.3).

        Our commit in flight, or one that lost its race or its link (counted
        when it comes back).  Every other echo of our own broadcasts (chat,
        hands, beacons) is dropped unopened: we sent it.
        """
        if self.inflight is not None and self.inflight.payload == payload:
            return True
        if payload in self._lost_payloads:
            self._lost_payloads.discard(payload)
            return True
        return False

    def own_fresh(self, commit: Commit) -> bytes | None:
        """The fresh secret of ``commit`` if it is our commit in flight."""
        own = self.inflight
        return own.fresh if own is not None and own.commit.head == commit.head else None

    def requeue(self) -> None:
        """Our commit in flight will not come back (a new link): queue its ops again."""
        if self.inflight is not None:
            self.queue[:0] = self.inflight.ops
            self._lost_heads.add(self.inflight.commit.head)
            self._lost_payloads.add(self.inflight.payload)
            self.inflight = None

    def applied(self, commit: Commit) -> bytes | None:
        """``commit`` applied in relay order: log it; our fresh secret if it was ours (§12.5)."""
        fresh = None
        if self.inflight is not None and self.inflight.commit.epoch <= commit.epoch:
            if self.inflight.commit.head == commit.head:
                fresh = self.inflight.fresh
                self.inflight = None
            else:
                self.requeue()  # lost the race: rebase our ops onto the winner
        self.log.append(commit.encode())
        return fresh

    def was_lost(self, head: bytes) -> bool:
        """Whether ``head`` is a commit of ours that lost its link (counted once)."""
        if head not in self._lost_heads:
            return False
        self._lost_heads.discard(head)
        return True

    # -- welcomes and leaves ---------------------------------------------------
    def expect_welcome(self, member: bytes, slot: int, session_key: bytes) -> None:
        """Welcome ``member`` at ``slot`` once its ADD applies (spec §13.4)."""
        self._welcome_to[member] = (slot, session_key)

    def welcomes(self, commit: Commit, roster: RosterState) -> list[tuple[int, bytes, bytes]]:
        """``(slot, member, session key)`` of the joiners ``commit`` admitted (spec §13.5)."""
        out = []
        for op in commit.ops:
            if op[0] == OpCode.ADD:
                mid = op[1]
                assert isinstance(mid, bytes)
                target = self._welcome_to.pop(mid, None)
                if target is not None and mid in roster.members:
                    out.append((target[0], mid, target[1]))
        return out

    def leave_noted(self, member: bytes, now: float) -> None:
        """``member`` said it leaves; leaves are batched for ``leave_debounce`` (spec §15.2)."""
        self._leaves.add(member)
        if self._leave_at is None:
            self._leave_at = now + self._leave_debounce

    def leaves_due(self, now: float) -> list[bytes]:
        """The batched leaves, in id order, once the debounce is over at ``now``."""
        if self._leave_at is None or now < self._leave_at:
            return []
        self._leave_at = None
        leaves = sorted(self._leaves)
        self._leaves.clear()
        return leaves

    def forget(self, member: bytes) -> None:
        """``member`` left the roster."""
        self._leaves.discard(member)
        self._pacer.forget(member)

    # -- syncs -----------------------------------------------------------------
    def log_since(self, current: int, their_epoch: int) -> list[bytes] | None:
        """The commits after ``their_epoch`` if they fit in one sync reply, else None."""
        missing = current - their_epoch
        if missing > min(len(self.log), MAX_SYNC_COMMITS):
            return None
        commits = list(islice(reversed(self.log), max(0, missing)))[::-1]
        if sum(len(c) for c in commits) > MAX_SYNC_BYTES:
            return None
        return commits

    def signed_snapshot(
        self, roster: RosterState, epoch: int, head: bytes, authority: Authority
    ) -> bytes:
        """Our snapshot of ``epoch`` with the moderators' proofs (spec §12.6, §13.2), cached."""
        if self._snapshot is None or self._snapshot[0] != epoch:
            body = snapshot_body(self._room_id, epoch, head, roster)
            proofs = authority.entries(roster.moderators())
            signed = sign_snapshot(self._identity, self._room_id, body, proofs)
            self._snapshot = (epoch, signed)
        return self._snapshot[1]

    def sync_reply(
        self,
        member: bytes,
        their_epoch: int,
        now: float,
        roster: RosterState,
        current: int,
        head: bytes,
        authority: Authority,
        key: bytes,
    ) -> bytes | None:
        """The pair message that catches ``member`` up, within the pacing (spec §16.4, §16.7).

        The commits since ``their_epoch`` from the log, or our signed snapshot of
        ``(current, head)`` when the log does not reach back or a snapshot was asked.
        """
        if not self._pacer.request(member, their_epoch, now):
            self._counters["sync_deferred"] += 1
            return None
        commits = None if their_epoch == SNAPSHOT_ASKED else self.log_since(current, their_epoch)
        if commits is not None:
            pt = canonical.encode([int(PairType.SYNC), list[Value](commits), key])
        else:
            snapshot = self.signed_snapshot(roster, current, head, authority)
            pt = canonical.encode([int(PairType.SNAPSHOT), snapshot, key])
        self._pacer.sent(member, now, snapshot=commits is None)
        return pt

    def syncs_due(self, now: float) -> list[tuple[bytes, int]]:
        """Deferred sync replies whose interval is over: ``(member, epoch asked)``."""
        return self._pacer.due(now)

    def next_due(self) -> float | None:
        """When :meth:`leaves_due` or :meth:`syncs_due` next has something."""
        times = [t for t in (self._leave_at, self._pacer.next_due()) if t is not None]
        return min(times) if times else None


def genesis(
    founder: IdentityKey, room_id: bytes, policy: Policy, session_key: bytes, name: str, rng: Rng
) -> tuple[Commit, RosterState, bytes]:
    """The founder's genesis commit, the roster it makes, and ``K_0`` (spec §12.3, §15.1)."""
    ops = [op_policy(policy), op_add(founder.public, session_key, name, Role.MODERATOR)]
    fresh = rng(32)
    confirm = key_confirmation(b"", fresh)
    commit = sign_commit(founder, room_id, 0, GENESIS_PARENT, ops, False, key_confirm=confirm)
    roster = RosterState(policy)
    roster.apply_ops(list(commit.ops))
    return commit, roster, keys.first_epoch_key(fresh, commit.head)


def fresh_message(commit: Commit, fresh: bytes) -> bytes:
    """The pair message that hands a re-key commit's fresh secret over (spec §15.2)."""
    return canonical.encode([int(PairType.REKEY), commit.epoch, commit.head, fresh])


def fresh_recipients(commit: Commit, members: Iterable[bytes], me: bytes) -> list[bytes]:
    """Who gets a re-key's fresh secret: every member the commit keeps, but us (spec §15.2)."""
    gone = {op[1] for op in commit.ops if op[0] == OpCode.REMOVE}
    return [m for m in members if m != me and m not in gone]
