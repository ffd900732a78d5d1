"""The last moderator's client goes; the room does not (spec §12.2), and one identity
cannot sit in a room twice unnoticed (spec §13.4): whole clients on the real relay
router (tests/client/router_relay.py), on trio's MockClock.
"""

from __future__ import annotations

import pytest
import trio

from client import exits
from client.room_client import ClientConfig, RoomClient
from client.runner import run_client
from e2ee.room.roster import Role
from tests.client.test_room_client_core import Room, room  # noqa: F401  (the fixture)


async def test_the_end_of_duration_as_last_moderator_leaves_the_chair_to_the_deputy(
    room: Room,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ClientConfig(room.invite, room.founder, "Fay", create=True)
    done: list[RoomClient] = []

    async def founder() -> None:
        await run_client(
            lambda: RoomClient(config, connect=room.relay.connector()), True, 5.0, done
        )

    room.nursery.start_soon(founder)
    with trio.fail_after(5):
        while not done or done[0].room.state != "member":
            await trio.sleep(0.1)
    fay = done[0]
    bob = await room.join("Bob")
    with trio.fail_after(10):
        await fay.wait_until(lambda: fay.room.deputy == bob.client.room.me)
    with trio.fail_after(10):
        await bob.client.wait_until(lambda: bob.client.room.role is Role.MODERATOR)
    out = capsys.readouterr().out
    assert "--duration 5 s is up: leaving" in out
    assert "leaving without a moderator: Bob takes the chair" in out
    assert "you took the chair (the moderator was gone)" in bob.lines
    assert fay.exit_code == exits.OK
    # the room goes on: the founder's leave is committed, and Bob admits a newcomer
    with trio.fail_after(10):
        await bob.client.wait_until(lambda: room.founder.public not in bob.client.room.members)
    cat = await room.join("Cat")  # admitted by Bob, the only moderator
    assert cat.client.room.epoch == bob.client.room.epoch


async def test_the_deputy_takes_the_chair_when_the_moderators_client_vanishes(room: Room) -> None:  # noqa: F811
    fay = await room.start(room.founder, "Fay", create=True)
    bob, cat = await room.join("Bob"), await room.join("Cat")
    bob_id = bob.client.room.me
    fay.links[-1].stall()  # SIGKILL or a dead network: no LEAVE
    with trio.fail_after(30):
        await cat.client.wait_until(lambda: cat.client.room.members[bob_id].role is Role.MODERATOR)
    assert "you took the chair (the moderator was gone)" in bob.lines
    assert "Bob took the chair (the moderator was gone)" in cat.lines
    with trio.fail_after(30):
        await cat.client.wait_until(lambda: room.founder.public not in cat.client.room.members)
    assert bob.client.room.epoch == cat.client.room.epoch


async def test_a_second_client_with_a_present_moderators_identity_says_so_and_exits(
    room: Room,  # noqa: F811
) -> None:
    fay = await room.start(room.founder, "Fay", create=True)
    await room.join("Bob")
    twin = await room.start(room.founder, "Fay")  # the same identity, another client
    with trio.fail_after(5):  # one knock and its offer
        await twin.done.wait()
    assert exits.IDENTITY_IN_ROOM_LINE in twin.lines
    assert twin.client.exit_code == exits.IDENTITY_IN_USE
    assert fay.client.room.role is Role.MODERATOR and fay.client.room.state == "member"
