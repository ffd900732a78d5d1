"""The session's life as an enum and a transition table (e2ee/room/state.py, spec §13.2)."""

from __future__ import annotations

import itertools

import pytest

from e2ee.errors import LocalProtocolError
from e2ee.room import RoomSession
from e2ee.room.state import TRANSITIONS, SessionState, transition

from .harness import Router, make_invite, new_identity, rng_for

FINAL = {SessionState.LEFT, SessionState.DENIED, SessionState.ENDED}


@pytest.mark.parametrize(("current", "target"), sorted(TRANSITIONS))
def test_every_listed_move_is_allowed(current: SessionState, target: SessionState) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [p for p in itertools.product(SessionState, repeat=2) if p not in TRANSITIONS],
)
def test_every_other_move_raises(current: SessionState, target: SessionState) -> None:
    with pytest.raises(LocalProtocolError):
        transition(current, target)


def test_final_states_have_no_way_out_and_only_joining_and_member_are_active() -> None:
    assert not any(current in FINAL for current, _ in TRANSITIONS)
    assert {s for s in SessionState if s.active} == {SessionState.JOINING, SessionState.MEMBER}


def test_a_session_walks_the_table_joining_member_left() -> None:
    founder = new_identity(1)
    invite = make_invite(b"\x07" * 32, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "Mod", "open", rng_for(100), 0.0))
    joiner = r.attach(RoomSession.join(new_identity(2), invite, "L", rng_for(200), 0.0))
    assert joiner.session.state is SessionState.JOINING
    r.pump()
    assert mod.session.state is SessionState.MEMBER
    assert joiner.session.state is SessionState.MEMBER
    joiner.session.leave()
    assert joiner.session.state is SessionState.LEFT
    with pytest.raises(LocalProtocolError):
        joiner.session.leave()  # only a member can leave
    assert joiner.session.state == "left"  # the enum compares equal to its name
