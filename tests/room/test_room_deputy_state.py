"""The DEPUTY op and the roster's deputy field (spec §12.2, §12.6), unit by unit."""

from __future__ import annotations

import pytest

from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.room.roster import (
    Policy,
    RemoveReason,
    Role,
    RosterState,
    op_add,
    op_deputy,
    op_remove,
    op_role,
    parse_op,
)
from e2ee.room.succession import deputy_op, wanted_deputy

MOD, A, B = b"m" * 32, b"a" * 32, b"b" * 32
KEY = b"k" * 32


def roster() -> RosterState:
    state = RosterState(Policy.OPEN)
    state.apply_ops(
        [
            op_add(MOD, KEY, "Mod", Role.MODERATOR),
            op_add(A, KEY, "A", Role.LISTENER),
            op_add(B, KEY, "B", Role.LISTENER),
        ]
    )
    return state


def denied(state: RosterState, ops: list) -> None:  # type: ignore[type-arg]
    with pytest.raises(RemoteProtocolError) as err:
        state.apply_ops(ops)
    assert err.value.code is ErrorCode.UNAUTHORIZED


def test_deputy_op_shape() -> None:
    assert parse_op([8, A]) == (8, A)
    for bad in ([8], [8, A, 1], [8, b"short"], [8, "text"]):
        with pytest.raises(RemoteProtocolError):
            parse_op(bad)


def test_a_deputy_must_be_a_member_not_a_moderator_and_new() -> None:
    state = roster()
    denied(state, [op_deputy(b"x" * 32)])
    denied(state, [op_deputy(MOD)])
    state.apply_ops([op_deputy(A)])
    assert state.deputy == A
    denied(state, [op_deputy(A)])  # unchanged: not a new deputy
    state.apply_ops([op_deputy(B)])
    assert state.deputy == B


def test_the_deputy_is_cleared_when_promoted_or_removed_and_kept_otherwise() -> None:
    state = roster()
    state.apply_ops([op_deputy(A), op_role(A, Role.SPEAKER)])
    assert state.deputy == A
    state.apply_ops([op_role(A, Role.MODERATOR)])
    assert state.deputy is None
    state.apply_ops([op_deputy(B), op_remove(B, RemoveReason.LEFT)])
    assert state.deputy is None
    denied(state, [op_remove(A, RemoveReason.LEFT), op_deputy(A)])  # no longer a member


def test_no_commit_names_a_member_it_adds() -> None:
    """The deputy must apply the commit that names it, to keep its proof (spec §12.2, §13.2)."""
    state = roster()
    c = b"c" * 32
    denied(state, [op_add(c, KEY, "C", Role.LISTENER), op_deputy(c)])
    denied(
        state, [op_remove(A, RemoveReason.LEFT), op_add(A, KEY, "A", Role.LISTENER), op_deputy(A)]
    )


def test_the_deputy_is_part_of_the_canonical_state_and_checked_on_decode() -> None:
    state = roster()
    state.apply_ops([op_deputy(A)])
    fields = state.state_fields()
    assert len(fields) == 8 and fields[7] == A
    assert RosterState.from_state_fields(fields).deputy == A
    for bad in (MOD, b"x" * 32, b"short"):
        with pytest.raises(RemoteProtocolError):
            RosterState.from_state_fields([*fields[:7], bad])
    with pytest.raises(RemoteProtocolError):
        RosterState.from_state_fields(fields[:7])
    assert state.copy().deputy == A


def test_the_chair_names_the_first_stage_member_else_the_first_member() -> None:
    state = roster()
    assert wanted_deputy(state) == A
    assert deputy_op(state, [op_role(B, Role.SPEAKER)]) == op_deputy(B)
    assert deputy_op(state, [op_add(b"c" * 32, KEY, "C", Role.LISTENER)]) == op_deputy(A)
    state.apply_ops([op_deputy(A)])
    assert deputy_op(state, [op_add(b"c" * 32, KEY, "C", Role.LISTENER)]) is None
    # two moderators: nobody needs naming; a hand or an invitation is not looked at
    assert deputy_op(state, [op_role(B, Role.MODERATOR)]) is None
    assert wanted_deputy(RosterState(Policy.OPEN)) is None
