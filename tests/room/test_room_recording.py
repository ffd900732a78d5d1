"""RECORDING control messages (spec §14.4): an advisory mark every member sees."""

from __future__ import annotations

import pytest

from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.room import RoomSession, events
from e2ee.room.control import ControlType, parse_control, sign_control
from e2ee.room.recording import RecordingMarks
from e2ee.room.roster import Member, Role

from .harness import Link, make_invite, new_identity, rng_for
from .test_room_session import room


def marks(link: Link) -> dict[str, bool]:
    return {m.display_name: m.recording for m in link.session.members.values()}


def changes(link: Link) -> list[tuple[bytes, bool]]:
    while (event := link.session.next_event()) is not None:  # the author's own, too
        link.events.append(event)
    return [(e.member, e.on) for e in link.events if isinstance(e, events.RecordingChanged)]


def test_a_recording_member_is_marked_for_everyone_until_it_says_it_stopped() -> None:
    r, mod, (a, b) = room(2)
    a.session.announce_recording(True)
    r.pump()
    for link in (mod, a, b):
        assert marks(link) == {"Mod": False, "L0": True, "L1": False}
        assert changes(link) == [(a.session.me, True)]
    a.session.announce_recording(True)  # no change: no second event anywhere
    r.pump()
    assert changes(b) == [(a.session.me, True)]
    a.session.announce_recording(False)
    r.pump()
    for link in (mod, a, b):
        assert not any(marks(link).values())
        assert changes(link)[-1] == (a.session.me, False)


def test_a_rejoined_session_starts_unmarked() -> None:
    r, mod, (a,) = room(1)
    a.session.announce_recording(True)
    r.pump()
    assert marks(mod)["L0"]
    r.drop_link(a)
    r.pump()
    # the same identity joins again with a new session key: the old mark does not carry over
    invite = make_invite(bytes(32), mod.session.me)
    again = r.attach(RoomSession.join(new_identity(10), invite, "L0", rng_for(300), r.now))
    r.pump()
    r.advance(3.0)
    assert again.session.state == "member"
    assert marks(mod) == {"Mod": False, "L0": False}
    again.session.announce_recording(False)
    r.pump()
    assert len(mod.session._recording._marks) == 0  # the old session's mark is pruned


def test_recording_needs_membership_and_a_boolean() -> None:
    founder = new_identity(1)
    invite = make_invite(bytes(32), founder.public)
    joiner = RoomSession.join(new_identity(2), invite, "J", rng_for(2), 0.0)
    with pytest.raises(LocalProtocolError):
        joiner.announce_recording(True)
    session_key = bytes(32)
    for args in ([1], [], [True, True]):
        signed = sign_control(
            founder, session_key, bytes(32), ControlType.RECORDING, 0, 0, bytes(32), args
        )
        with pytest.raises(RemoteProtocolError) as exc:
            parse_control(signed)
        assert exc.value.code is ErrorCode.MALFORMED


def test_the_mark_table_never_holds_more_than_the_roster() -> None:
    roster = [Member(bytes([i]) * 32, bytes([i]) * 32, f"M{i}", Role.LISTENER) for i in range(8)]
    marks = RecordingMarks()
    assert all(marks.set(m, True, roster) for m in roster)
    assert len(marks._marks) == len(roster)
    stranger = Member(b"\xff" * 32, b"\xff" * 32, "X", Role.LISTENER)
    assert not marks.set(stranger, True, roster)  # not in the roster: never marked
    rejoined = Member(roster[0].id, b"\xee" * 32, "M0", Role.LISTENER)  # new session key
    smaller = [rejoined, *roster[1:3]]
    assert not marks.set(rejoined, False, smaller)
    assert len(marks._marks) == 2  # M1, M2: the others left with the roster
    assert not marks.marked(rejoined) and marks.marked(roster[1])
