"""The room harness is the real relay contract (spec §17), not a copy of it."""

from __future__ import annotations

from room.harness import Router, make_invite, new_identity, rng_for

from e2ee.envelope import EnvelopeType
from e2ee.room import RoomSession


def room_on(r: Router, n: int) -> list:  # type: ignore[type-arg]
    founder = new_identity(1)
    invite = make_invite(bytes(32), founder.public)
    links = [r.attach(RoomSession.create(founder, invite, "Mod", "open", rng_for(2), r.now))]
    r.pump()
    for i in range(n):
        links.append(
            r.attach(
                RoomSession.join(new_identity(10 + i), invite, f"L{i}", rng_for(20 + i), r.now)
            )
        )
        r.pump()
    return links


def test_slots_start_at_first_slot_and_restart_from_slot_base() -> None:
    r = Router(first_slot=3)
    links = room_on(r, 2)
    assert [x.slot for x in links] == [3, 4, 5]
    assert all(x.session.slot == x.slot for x in links)
    r.restart(slot_base=0)
    for x in reversed(links):
        r.reconnect(x)
        r.pump()
    assert [x.slot for x in reversed(links)] == [0, 1, 2]
    assert all(x.session.state == "member" for x in links)


def test_peer_joined_reaches_the_stage_only() -> None:
    r = Router()
    mod, a, b = room_on(r, 2)
    joined_to_mod = [
        env.slot for slot, env in r.log if slot == mod.slot and env.type is EnvelopeType.PEER_JOINED
    ]
    assert joined_to_mod == [a.slot, b.slot]
    # the deputy takes the stage class (spec §12.2), the other listener does not
    audience = [x.slot for x in (a, b) if x.session.delivery_class == "audience"]
    assert len(audience) == 1
    assert not [
        env for slot, env in r.log if slot in audience and env.type is EnvelopeType.PEER_JOINED
    ]


def test_drop_to_loses_control_for_that_slot_only() -> None:
    r = Router()
    mod, a, b = room_on(r, 2)
    assert a.slot is not None
    r.drop_to.add(a.slot)
    mod.session.send_chat("not for a")
    r.pump()
    assert not [e for e in a.events if type(e).__name__ == "ChatReceived"]
    assert [e.text for e in b.events if type(e).__name__ == "ChatReceived"] == ["not for a"]
