"""The roster state machine: members, roles, hand queue, bans (spec §12.1, §12.2).

A :class:`RosterState` is what every member holds at one epoch.  It changes only
by applying the ops of a verified commit (:mod:`e2ee.room.commit`), in order;
:meth:`RosterState.apply_ops` checks every op against the parent state and
raises ``RemoteProtocolError(UNAUTHORIZED)`` (leaving the state untouched) if
any op is not allowed, so a commit is applied entirely or not at all.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntEnum

import msgpack

from e2ee import canonical
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError

_PACKER = msgpack.Packer(use_bin_type=True)
ID_LEN = 32
MAX_NAME_BYTES = 64
MAX_OPS_PER_COMMIT = 128


class Role(IntEnum):
    """Member roles (spec §12.1)."""

    LISTENER = 0
    SPEAKER = 1
    MODERATOR = 2

    @property
    def on_stage(self) -> bool:
        """Speakers and moderators hold sender keys and may send audio (spec §15.4)."""
        return self is not Role.LISTENER


class Policy(IntEnum):
    """Admission policy (spec §13.3)."""

    OPEN = 0
    KNOCK = 1


class OpCode(IntEnum):
    """Roster op codes (spec §12.2)."""

    ADD = 1
    REMOVE = 2
    ROLE = 3
    HAND = 4
    INVITE = 5
    END = 6
    POLICY = 7
    DEPUTY = 8


class RemoveReason(IntEnum):
    """Why a member was removed (spec §12.2)."""

    LEFT = 0
    KICKED = 1
    BANNED = 2


# An op's enum fields by value, as parse_op bounded them (a lookup, not an enum call).
ROLE_OF: dict[Value, Role] = {int(r): r for r in Role}
REASON_OF: dict[Value, RemoveReason] = {int(r): r for r in RemoveReason}
POLICY_OF: dict[Value, Policy] = {int(p): p for p in Policy}


@dataclass(frozen=True, slots=True)
class Member:
    """One roster entry (spec §12.1).  ``id`` is the 32-byte Ed25519 identity key."""

    id: bytes
    session_key: bytes
    name: str
    role: Role


# Ops are plain tuples in code; ``encode_op``/``decode_op`` give their wire form.
Op = tuple[Value, ...]


def op_add(member_id: bytes, session_key: bytes, name: str, role: Role) -> Op:
    """``[1, id, session_key, name, role]`` (spec §12.2)."""
    return (OpCode.ADD.value, member_id, session_key, name, int(role))


def op_remove(member_id: bytes, reason: RemoveReason) -> Op:
    """``[2, id, reason]`` (spec §12.2)."""
    return (OpCode.REMOVE.value, member_id, int(reason))


def op_role(member_id: bytes, role: Role) -> Op:
    """``[3, id, role]`` (spec §12.2)."""
    return (OpCode.ROLE.value, member_id, int(role))


def op_hand(member_id: bytes, up: bool) -> Op:
    """``[4, id, up]`` (spec §12.2)."""
    return (OpCode.HAND.value, member_id, up)


def op_invite(member_id: bytes, on: bool) -> Op:
    """``[5, id, on]`` (spec §12.2)."""
    return (OpCode.INVITE.value, member_id, on)


def op_end() -> Op:
    """``[6]`` (spec §12.2)."""
    return (OpCode.END.value,)


def op_policy(policy: Policy) -> Op:
    """``[7, policy]`` (spec §12.2)."""
    return (OpCode.POLICY.value, int(policy))


def op_deputy(member_id: bytes) -> Op:
    """``[8, id]``: ``id`` takes the chair if every moderator is gone (spec §12.2)."""
    return (OpCode.DEPUTY.value, member_id)


def _bad(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"roster op: {what}", ErrorCode.MALFORMED)


def _expect_bool(value: Value, what: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"{what} must be a boolean")
    return value


_REMOVE_FIELDS = (int, bytes, int)
# op codes as plain ints, for the per-op tests of parse_op and _stage_ops
_ADD, _REMOVE, _ROLE = OpCode.ADD.value, OpCode.REMOVE.value, OpCode.ROLE.value
_HAND, _INVITE, _END = OpCode.HAND.value, OpCode.INVITE.value, OpCode.END.value
_POLICY, _DEPUTY = OpCode.POLICY.value, OpCode.DEPUTY.value


def parse_op(raw: Value) -> Op:
    """Check one decoded op's shape and field types (spec §12.2); return it as a tuple."""
    if (
        type(raw) is list
        and tuple(map(type, raw)) == _REMOVE_FIELDS
        and raw[0] == _REMOVE
        and len(raw[1]) == ID_LEN  # type: ignore[arg-type]
        and 0 <= raw[2] <= 2  # type: ignore[operator]
    ):
        return tuple(raw)  # REMOVE, the op of a kick or a leave, in one test
    if not isinstance(raw, list) or not raw:
        raise _bad("not a non-empty array")
    code = canonical.expect_int(raw[0], "op code", 1, 255)
    n = len(raw)
    if code == OpCode.ADD and n == 5:
        canonical.expect_bytes(raw[1], "member id", ID_LEN)
        canonical.expect_bytes(raw[2], "session key", 32)
        canonical.expect_str(raw[3], "display name", MAX_NAME_BYTES)
        Role(canonical.expect_int(raw[4], "role", 0, 2))
    elif code == OpCode.REMOVE and n == 3:
        canonical.expect_bytes(raw[1], "member id", ID_LEN)
        canonical.expect_int(raw[2], "reason", 0, 2)
    elif code == OpCode.ROLE and n == 3:
        canonical.expect_bytes(raw[1], "member id", ID_LEN)
        canonical.expect_int(raw[2], "role", 0, 2)
    elif code in (OpCode.HAND, OpCode.INVITE) and n == 3:
        canonical.expect_bytes(raw[1], "member id", ID_LEN)
        _expect_bool(raw[2], "flag")
    elif code == OpCode.END and n == 1:
        pass
    elif code == OpCode.POLICY and n == 2:
        canonical.expect_int(raw[1], "policy", 0, 1)
    elif code == OpCode.DEPUTY and n == 2:
        canonical.expect_bytes(raw[1], "member id", ID_LEN)
    else:
        raise _bad(f"unknown op {code} or wrong field count {n}")
    return tuple(raw)


def _denied(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"roster op not allowed: {what}", ErrorCode.UNAUTHORIZED)


class RosterState:
    """The roster at one epoch (spec §12.1).

    ``members`` keeps insertion (admission) order, which is part of the
    canonical state (spec §12.6) and gives moderators their rank (spec §12.5).
    """

    __slots__ = (
        "_moderators",
        "_next_rank",
        "_packed",
        "_rank",
        "_safety",
        "_stage",
        "banned",
        "deputy",
        "ended",
        "hands",
        "invited",
        "kicked",
        "members",
        "policy",
    )

    def __init__(self, policy: Policy) -> None:
        self.members: dict[bytes, Member] = {}
        # indexes kept in step with ``members`` so role queries do not scan the room
        self._rank: dict[bytes, int] = {}
        self._next_rank = 0
        self._stage: set[bytes] = set()
        self._moderators: tuple[bytes, ...] | None = None  # moderators(), kept until a change
        self._packed: dict[bytes, bytes] = {}  # member id -> msgpack of its entry
        # ``id || role`` per member, sorted (spec §16.1); built on first use, then kept in step
        self._safety: list[bytes] | None = None
        self.hands: list[bytes] = []
        self.invited: set[bytes] = set()
        self.banned: set[bytes] = set()
        self.kicked: set[bytes] = set()
        self.policy = policy
        self.ended = False
        #: the member named by DEPUTY that may take the chair (spec §12.2), or None
        self.deputy: bytes | None = None

    # -- queries -----------------------------------------------------------
    def role_of(self, member_id: bytes) -> Role | None:
        """The member's role, or None if not a member."""
        m = self.members.get(member_id)
        return None if m is None else m.role

    def is_moderator(self, member_id: bytes) -> bool:
        """True if ``member_id`` is a current moderator."""
        m = self.members.get(member_id)
        return m is not None and m.role is Role.MODERATOR

    def moderators(self) -> list[bytes]:
        """Moderator ids in rank (roster) order (spec §12.5); O(stage size), once per change."""
        found = self._moderators
        if found is None:
            members = self.members
            found = tuple([m for m in self.stage() if members[m].role is Role.MODERATOR])
            self._moderators = found
        return list(found)

    def stage(self) -> list[bytes]:
        """Ids of members on stage (speakers and moderators), in roster order."""
        return sorted(self._stage, key=self._rank.__getitem__)

    def safety_entries(self) -> Sequence[bytes]:
        """``identity || u8(role)`` of every member, sorted bytewise (spec §16.1).

        Sorted once, on first use; after that every change to the roster moves,
        replaces or drops one entry (a binary search and one list move), so the
        safety code after a commit costs one join and one hash, not a sort of
        the whole room.  One entry per member: bounded by the roster.
        """
        entries = self._safety
        if entries is None:
            entries = sorted(m.id + bytes((m.role,)) for m in self.members.values())
            self._safety = entries
        return entries

    def _index(self, member: Member) -> None:
        if member.role is Role.MODERATOR or member.id in self._stage:
            self._moderators = None  # it is, or was, on stage: moderators() may change
        if member.id not in self._rank:
            self._rank[member.id] = self._next_rank
            self._next_rank += 1
        if member.role.on_stage:
            self._stage.add(member.id)
        else:
            self._stage.discard(member.id)
        entries = self._safety
        if entries is not None:
            entry = member.id + bytes((member.role,))
            i = bisect_left(entries, member.id)  # an id sorts just before its own entry
            if i < len(entries) and entries[i][:ID_LEN] == member.id:
                entries[i] = entry
            else:
                entries.insert(i, entry)

    def _unindex(self, mid: bytes) -> None:
        if mid in self._stage:
            self._moderators = None
            self._stage.discard(mid)
        self._rank.pop(mid, None)
        self._packed.pop(mid, None)
        entries = self._safety
        if entries is not None:
            i = bisect_left(entries, mid)
            if i < len(entries) and entries[i][:ID_LEN] == mid:
                del entries[i]

    def packed_members(self) -> bytes:
        """msgpack of :meth:`encode_members`, from per-entry caches (spec §12.6).

        Each entry's encoding is kept until the entry changes, so encoding a
        5,000-member snapshot is one join, not 5,000 packs.
        """
        packed = self._packed
        parts = [_PACKER.pack_array_header(len(self.members))]
        for m in self.members.values():
            raw = packed.get(m.id)
            if raw is None:
                raw = _PACKER.pack([m.id, m.session_key, m.name, int(m.role)])
                packed[m.id] = raw
            parts.append(raw)
        return b"".join(parts)

    # -- canonical state (spec §12.6) -------------------------------------
    def encode_members(self) -> list[Value]:
        """``[[id, session_key, name, role], ...]`` in roster order (spec §12.6)."""
        return [[m.id, m.session_key, m.name, int(m.role)] for m in self.members.values()]

    def state_fields(self) -> list[Value]:
        """``[policy, members, hands, invited, banned, kicked, ended, deputy]`` (spec §12.6).

        Sets are encoded sorted bytewise so every member encodes them alike.
        """
        return [
            int(self.policy),
            self.encode_members(),
            _values(self.hands),
            _values(sorted(self.invited)),
            _values(sorted(self.banned)),
            _values(sorted(self.kicked)),
            self.ended,
            self.deputy,
        ]

    def state_fields_without_members(self) -> list[Value]:
        """:meth:`state_fields` minus the members entry (index 1), for :func:`snapshot_body`."""
        return [
            int(self.policy),
            _values(self.hands),
            _values(sorted(self.invited)),
            _values(sorted(self.banned)),
            _values(sorted(self.kicked)),
            self.ended,
            self.deputy,
        ]

    @classmethod
    def from_state_fields(cls, fields: list[Value]) -> RosterState:
        """Inverse of :meth:`state_fields`; raises RemoteProtocolError (spec §12.6)."""
        if len(fields) != 8:
            raise _bad("state: expected 8 fields")
        policy = Policy(canonical.expect_int(fields[0], "policy", 0, 1))
        state = cls(policy)
        raw_members = fields[1]
        if not isinstance(raw_members, list):
            raise _bad("state: members must be an array")
        for raw in raw_members:
            if not isinstance(raw, list) or len(raw) != 4:
                raise _bad("state: member entry")
            mid = canonical.expect_bytes(raw[0], "member id", ID_LEN)
            if mid in state.members:
                raise _bad("state: duplicate member")
            member = Member(
                mid,
                canonical.expect_bytes(raw[1], "session key", 32),
                canonical.expect_str(raw[2], "name", MAX_NAME_BYTES),
                Role(canonical.expect_int(raw[3], "role", 0, 2)),
            )
            state.members[mid] = member
            state._index(member)
        state.hands = [_member_ref(v, state) for v in _expect_list(fields[2])]
        if len(set(state.hands)) != len(state.hands):
            raise _bad("state: duplicate hand")
        state.invited = {_member_ref(v, state) for v in _expect_list(fields[3])}
        state.banned = {canonical.expect_bytes(v, "id", ID_LEN) for v in _expect_list(fields[4])}
        state.kicked = {canonical.expect_bytes(v, "id", ID_LEN) for v in _expect_list(fields[5])}
        ended = fields[6]
        if not isinstance(ended, bool):
            raise _bad("state: ended flag")
        state.ended = ended
        if fields[7] is not None:
            state.deputy = _member_ref(fields[7], state)
            if state.is_moderator(state.deputy):
                raise _bad("state: a moderator as deputy")
        if state.state_fields() != fields:
            raise RemoteProtocolError("state is not in canonical order", ErrorCode.NON_CANONICAL)
        return state

    # -- transitions (spec §12.2) -----------------------------------------
    def check_ops(self, ops: list[Op]) -> None:
        """Raise UNAUTHORIZED if :meth:`apply_ops` would refuse ``ops``; changes nothing."""
        self._stage_ops(ops)

    def apply_ops(self, ops: list[Op]) -> None:
        """Apply ``ops`` atomically; raise UNAUTHORIZED (state unchanged) if one is invalid.

        The caller has already checked that the commit's signer is a moderator
        at the parent epoch (spec §12.3 step 4); this checks each op's
        precondition against the state as left by the previous op (spec §12.2).
        Changes are staged in an overlay first, so the cost is proportional to
        the number of ops, not to the room's size.
        """
        staged = self._stage_ops(ops)
        overlay, readded, hands, invited, banned, kicked, policy, ended, deputy = staged
        members = self.members
        for mid, value in overlay.items():
            if value is None:
                del members[mid]
                self._unindex(mid)
            else:
                if mid in readded:
                    del members[mid]
                    self._unindex(mid)
                members[mid] = value  # a role change keeps the entry's position (spec §12.6)
                self._packed.pop(mid, None)
                self._index(value)
        self.hands = hands
        self.invited = invited
        self.banned = banned
        self.kicked = kicked
        self.policy = policy
        self.ended = ended
        self.deputy = deputy

    def _stage_ops(self, ops: list[Op]) -> _Staged:
        if self.ended:
            raise _denied("the room has ended")
        overlay: dict[bytes, Member | None] = {}
        hands = list(self.hands)
        invited = set(self.invited)
        banned = set(self.banned)
        kicked = set(self.kicked)
        policy = self.policy
        ended = False
        deputy = self.deputy
        moderator_delta = 0
        readded: set[bytes] = set()
        members = self.members
        for op in ops:
            if ended:
                raise _denied("ops after END")
            code = op[0]
            if code == _END:
                ended = True
                continue
            if code == _POLICY:
                policy = POLICY_OF[op[1]]
                continue
            mid = _bytes(op[1])
            member = overlay[mid] if mid in overlay else members.get(mid)
            if code == _DEPUTY:
                new = mid not in members or mid in readded  # added by this very commit
                if member is None or new or member.role is Role.MODERATOR or mid == deputy:
                    raise _denied("deputy must be an earlier member, not a moderator, and new")
                deputy = mid
                continue
            if code == _ADD:
                if member is not None or mid in banned:
                    raise _denied("add of a member or a banned identity")
                role = ROLE_OF[op[4]]
                overlay[mid] = Member(mid, _bytes(op[2]), str(op[3]), role)
                if mid in self.members:
                    readded.add(mid)  # removed earlier in this commit: goes to the end
                moderator_delta += role is Role.MODERATOR
                kicked.discard(mid)
                continue
            if member is None:
                raise _denied("op on a non-member")
            if code == _REMOVE:
                reason = REASON_OF[op[2]]
                overlay[mid] = None
                moderator_delta -= member.role is Role.MODERATOR
                if mid == deputy:
                    deputy = None
                if mid in hands:
                    hands.remove(mid)
                invited.discard(mid)
                if reason is RemoveReason.BANNED:
                    banned.add(mid)
                elif reason is RemoveReason.KICKED:
                    kicked.add(mid)
            elif code == _ROLE:
                role = ROLE_OF[op[2]]
                if role is member.role:
                    raise _denied("role unchanged")
                overlay[mid] = replace(member, role=role)
                if role is Role.MODERATOR and mid == deputy:
                    deputy = None
                moderator_delta += (role is Role.MODERATOR) - (member.role is Role.MODERATOR)
                if role.on_stage:
                    if mid in hands:
                        hands.remove(mid)
                    invited.discard(mid)
            elif code == _HAND:
                if op[2]:
                    if member.role is not Role.LISTENER or mid in hands:
                        raise _denied("hand raise by a non-listener or twice")
                    hands.append(mid)
                else:
                    if mid not in hands:
                        raise _denied("lowering a hand that is not raised")
                    hands.remove(mid)
            elif code == _INVITE:
                if op[2]:
                    if member.role is not Role.LISTENER or mid in invited:
                        raise _denied("invite of a non-listener or twice")
                    invited.add(mid)
                else:
                    if mid not in invited:
                        raise _denied("withdrawing an invitation that does not exist")
                    invited.discard(mid)
            else:  # pragma: no cover - parse_op admits no other code
                raise _bad("unknown op")
        if not ended and moderator_delta < 0:
            if self.moderator_count() + moderator_delta <= 0:
                raise _denied("the last moderator cannot be removed or demoted")
        return overlay, readded, hands, invited, banned, kicked, policy, ended, deputy

    def moderator_count(self) -> int:
        """Number of moderators."""
        return len(self.moderators())

    def copy(self) -> RosterState:
        """An independent copy (members are immutable, so shallow containers suffice)."""
        other = RosterState(self.policy)
        other.members = dict(self.members)
        other._rank = dict(self._rank)
        other._next_rank = self._next_rank
        other._stage = set(self._stage)
        other._moderators = self._moderators
        other._packed = dict(self._packed)
        other._safety = None if self._safety is None else list(self._safety)
        other.hands = list(self.hands)
        other.invited = set(self.invited)
        other.banned = set(self.banned)
        other.kicked = set(self.kicked)
        other.ended = self.ended
        other.deputy = self.deputy
        return other


_Staged = tuple[
    dict[bytes, "Member | None"],
    set[bytes],
    list[bytes],
    set[bytes],
    set[bytes],
    set[bytes],
    Policy,
    bool,
    "bytes | None",
]


def _values(items: list[bytes]) -> list[Value]:
    return list[Value](items)


def _bytes(value: Value) -> bytes:
    assert isinstance(value, bytes)
    return value


def _expect_list(value: Value) -> list[Value]:
    if not isinstance(value, list):
        raise _bad("state: expected an array")
    return value


def _member_ref(value: Value, state: RosterState) -> bytes:
    mid = canonical.expect_bytes(value, "member id", ID_LEN)
    if mid not in state.members:
        raise _bad("state: reference to a non-member")
    return mid
