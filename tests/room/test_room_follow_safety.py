"""The safety code follows who is in the room and who may moderate and speak (spec §16.1)."""

from __future__ import annotations

from attack.scene import Scene, build

from e2ee.room import events


def codes(room: Scene) -> set[str]:
    return {x.session.safety_code() for x in room.members}


def changes(room: Scene, mark: int) -> list[str]:
    """The reasons of the SafetyCodeChanged events the moderator saw since event ``mark``."""
    seen = room.moderator.events[mark:]
    return [e.reason for e in seen if isinstance(e, events.SafetyCodeChanged)]


def test_hands_and_invitations_leave_the_code_as_it_is() -> None:
    room = build(listeners=2)
    a, b = room.listeners
    code, t = room.moderator.session.safety_code(), len(room.moderator.events)
    a.session.raise_hand()
    room.relay.pump()
    room.moderator.session.invite_to_speak(b.session.me)
    room.relay.pump()
    b.session.decline_invitation()
    room.relay.pump()
    a.session.lower_hand()
    room.relay.pump()
    assert room.moderator.session.epoch >= 4
    assert codes(room) == {code}
    assert changes(room, t) == []


def test_joins_role_changes_and_removals_change_it_and_say_why() -> None:
    room = build(listeners=1)
    seen = [room.moderator.session.safety_code()]
    t = len(room.moderator.events)
    newcomer = room.join("Newcomer")
    seen.append(room.moderator.session.safety_code())
    room.promote(newcomer)
    seen.append(room.moderator.session.safety_code())
    room.moderator.session.kick(newcomer.session.me)
    room.relay.pump()
    seen.append(room.moderator.session.safety_code())
    assert len(set(seen[:3])) == 3
    assert seen[3] == seen[0], "the same people in the same roles: the same code"
    assert changes(room, t) == ["1 member joined", "1 member changed role", "1 member left"]
    others = [x for x in room.members if x is not newcomer]
    assert {x.session.safety_code() for x in others} == {seen[3]}
