"""The roster's sorted safety entries stay equal to a fresh sort (spec §16.1).

``RosterState.safety_entries`` sorts once and then follows every applied op;
the room safety code is computed from it.  These tests drive random op
sequences (joins, leaves, kicks, role changes, a removal and re-add in one
commit) and compare the kept entries with a sort of the roster from scratch
after every commit, and check that a copy keeps its own entries.
"""

from __future__ import annotations

from hypothesis import given, seed, settings
from hypothesis import strategies as st

from e2ee.errors import RemoteProtocolError
from e2ee.room.roster import (
    Op,
    Policy,
    RemoveReason,
    Role,
    RosterState,
    op_add,
    op_remove,
    op_role,
)
from e2ee.room.safety import room_safety_code, safety_input

ROOM = bytes(range(32))
IDS = [bytes([i]) * 32 for i in range(1, 13)]


def from_scratch(roster: RosterState) -> list[bytes]:
    return sorted(m.id + bytes((int(m.role),)) for m in roster.members.values())


def founded() -> RosterState:
    roster = RosterState(Policy.OPEN)
    roster.apply_ops([op_add(IDS[0], bytes(32), "founder", Role.MODERATOR)])
    return roster


def candidate_op(roster: RosterState, choice: int, who: int, role: int) -> Op:
    mid = IDS[who]
    member = roster.members.get(mid)
    if member is None:
        return op_add(mid, bytes([who]) * 32, f"m{who}", Role(role))
    if choice % 3 == 0:
        return op_remove(mid, RemoveReason(choice % 2))
    return op_role(mid, Role(role))


commits = st.lists(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(1, len(IDS) - 1), st.integers(0, 2)),
        min_size=1,
        max_size=4,
    ),
    min_size=1,
    max_size=25,
)


@seed(8_005)
@settings(max_examples=150, deadline=None)
@given(commits, st.integers(0, 25))
def test_kept_entries_equal_a_fresh_sort_after_every_commit(
    plan: list[list[tuple[int, int, int]]], build_at: int
) -> None:
    roster = founded()
    for n, ops in enumerate(plan):
        if n == build_at:
            roster.safety_entries()  # built part-way: later commits must keep it in step
        batch: list[Op] = []
        for choice, who, role in ops:
            op = candidate_op(roster, choice, who, role)
            try:
                roster.check_ops([*batch, op])
            except RemoteProtocolError:
                continue
            batch.append(op)
        if choice % 5 == 4 and IDS[who] in roster.members and IDS[who] != IDS[0]:
            # removed and added again in one commit: the entry moves with its new role
            readd = [
                op_remove(IDS[who], RemoveReason.LEFT),
                op_add(IDS[who], bytes(32), "x", Role.SPEAKER),
            ]
            try:
                roster.check_ops([*batch, *readd])
                batch += readd
            except RemoteProtocolError:
                pass
        if batch:
            roster.apply_ops(batch)
        assert list(roster.safety_entries()) == from_scratch(roster)
        assert len(roster.safety_entries()) == len(roster.members)  # bounded by the roster
        assert safety_input(ROOM, roster) == ROOM + b"".join(from_scratch(roster))


def test_a_copy_keeps_its_own_entries() -> None:
    roster = founded()
    roster.apply_ops([op_add(IDS[1], bytes(32), "a", Role.LISTENER)])
    code = room_safety_code(ROOM, roster)  # builds the entries
    other = roster.copy()
    other.apply_ops([op_role(IDS[1], Role.SPEAKER), op_add(IDS[2], bytes(32), "b", Role.LISTENER)])
    assert list(roster.safety_entries()) == from_scratch(roster)
    assert list(other.safety_entries()) == from_scratch(other)
    assert room_safety_code(ROOM, roster) == code != room_safety_code(ROOM, other)
