"""A verified commit placed on our chain, applied, and what follows (spec §12.3, §12.5, §15.2).

The steps are :mod:`e2ee.room.commit_apply`'s; this module runs them in
order and routes what they yield.  A commit that is not the next one on our
chain is counted, or alerted when it betrays the relay (spec §16.3).  The
next one must be signed by a moderator of our roster; its key confirmation
must match (a ``key_mismatch`` alert, and it is not applied, otherwise).
Then, in this order: its ops change the roster, its moderator proofs are
observed (spec §13.2), the chair logs it, the chain and the epoch keys
advance (``KeysRotated`` on a re-key), the chain counts as confirmed, and
what the commit means to this member (:mod:`e2ee.room.commit_effects`) is
routed: events, our own life's next state, the per-member tables, our new
role, a new moderator's pair channels.  A member asks for the delivery
class the roster gives it now, and a moderator sends the welcomes the
commit admits, starts the take-over's absence timers and sends its next
commit (spec §12.2, §12.5, §13.5).

The caller holds the session's state: :meth:`CommitIn.apply` returns the
state the commit leaves us in, and whether the new epoch's key is held, so
the payloads that waited for it can be tried again (spec §14.3).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from e2ee.room import commit_apply
from e2ee.room.authority import Authority
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair
from e2ee.room.commit import Commit
from e2ee.room.commit_effects import Gone, Joined, MyRole, commit_effects
from e2ee.room.commit_flush import CommitFlush
from e2ee.room.delivery import Delivery
from e2ee.room.epoch_install import EpochInstall
from e2ee.room.epochs import EpochKeys
from e2ee.room.events import Event, KeysRotated
from e2ee.room.fresh import FreshSecrets
from e2ee.room.join_requests import JoinRequests
from e2ee.room.liveness import QuietWatch
from e2ee.room.member_tables import MemberTables
from e2ee.room.outbox import Outbox
from e2ee.room.promotion import Promotion
from e2ee.room.role_change import RoleChange
from e2ee.room.roster import RosterState
from e2ee.room.state import SessionState, transition
from e2ee.room.take_over import TakeOver


@dataclass(frozen=True, slots=True)
class Applied:
    """A commit applied: the state it leaves us in, and whether its epoch's key is held."""

    state: SessionState
    keyed: bool


class CommitIn:
    """Commits placed and applied, their effects routed (spec §12.3); owns no state."""

    __slots__ = (
        "_authority",
        "_chain",
        "_chair",
        "_counters",
        "_delivery",
        "_flush",
        "_fresh",
        "_install",
        "_join_requests",
        "_keys",
        "_me",
        "_outbox",
        "_promotion",
        "_quiet",
        "_role_change",
        "_tables",
        "_take_over",
    )  # fmt: skip

    def __init__(
        self,
        me: bytes,
        outbox: Outbox,
        counters: Counter[str],
        chain: Chain,
        keys: EpochKeys,
        fresh: FreshSecrets,
        install: EpochInstall,
        authority: Authority,
        chair: Chair,
        quiet: QuietWatch,
        delivery: Delivery,
        role_change: RoleChange,
        tables: MemberTables,
        promotion: Promotion,
        join_requests: JoinRequests,
        take_over: TakeOver,
        flush: CommitFlush,
    ) -> None:
        self._me = me
        self._outbox = outbox
        self._counters = counters
        self._chain = chain
        self._keys = keys
        self._fresh = fresh
        self._install = install
        self._authority = authority
        self._chair = chair
        self._quiet = quiet
        self._delivery = delivery
        self._role_change = role_change
        self._tables = tables
        self._promotion = promotion
        self._join_requests = join_requests
        self._take_over = take_over
        self._flush = flush

    def is_next(self, commit: Commit, live: bool, roster: RosterState) -> bool:
        """Whether ``commit`` is the next on our chain, signed by a moderator (spec §12.3
        steps 3–5, §16.3); every other placement is counted or alerted here."""
        chain = self._chain
        refused = commit_apply.refusal(chain.place(commit), commit, live, chain.epoch, self._chair)
        if refused is None:
            commit_apply.authorize(roster, commit)
            return True
        if refused.alert is not None:
            self._outbox.alert(*refused.alert)
        if refused.counter is not None:
            self._counters[refused.counter] += 1
        return False

    def apply(
        self,
        commit: Commit,
        roster: RosterState,
        state: SessionState,
        slot: int | None,
        admission_key: bytes,
        now: float,
    ) -> Applied | None:
        """Apply a chained, authorized commit; None if its key confirmation fails (§12.3)."""
        prev_key = self._keys.get(self._chain.epoch)
        if not commit_apply.key_confirmed(commit, prev_key, self._chair, self._fresh):
            detail = f"the commit of epoch {commit.epoch} confirms another key"
            self._outbox.alert("key_mismatch", detail)
            return None
        before = commit_apply.apply_ops(roster, commit)
        self._authority.observe(commit)  # promotion proofs (spec §13.2)
        own_fresh = self._chair.applied(commit)
        key, rekeyed = commit_apply.epoch_key_after(commit, prev_key, own_fresh, self._fresh, now)
        self._install.advance(commit.epoch, commit.head, key, now)
        if rekeyed:
            self._outbox.events.append(KeysRotated(commit.epoch))
        self._quiet.heard(now)
        for fx in commit_effects(commit, before.members, before.hands, roster, self._me):
            if isinstance(fx, Event):
                self._outbox.events.append(fx)
            elif isinstance(fx, SessionState):
                state = transition(state, fx)
            elif isinstance(fx, Joined):
                self._tables.joined(fx.member)
            elif isinstance(fx, Gone):
                self._tables.gone(fx.member)
            elif isinstance(fx, MyRole):
                self._role_change.changed(fx.role, roster, state, slot, now)
            else:
                self._promotion.promoted(fx.member, roster, state, slot)
        if state is SessionState.MEMBER:
            self._delivery.refresh(roster, self._me)
        if state is SessionState.MEMBER and roster.is_moderator(self._me):
            # the chair's duties: welcomes, take-over timers, the next commit (§12.2, §13.5)
            for to, mid, session_key in self._chair.welcomes(commit, roster):
                self._join_requests.welcome(to, mid, session_key, roster, admission_key)
            self._take_over.applied(commit, roster, now)
            self._flush.flush(state, roster, slot)
        return Applied(state, self._keys.get(self._chain.epoch) is not None)
