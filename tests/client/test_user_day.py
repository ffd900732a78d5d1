"""A user's day: identity clashes, waiting at the door, queued commands (real relay, real links)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import trio

from client import exits
from client.actions import Action, parse_line
from client.door import MAX_QUEUED
from client.inproc_relay import start_relay
from client.room_client import ClientConfig
from e2ee.identity import IdentityKey
from tests.client.room_support import LiveRoom, fresh_invite, open_room, run_client


@pytest.fixture
async def knock_room() -> AsyncIterator[LiveRoom]:
    async with trio.open_nursery() as nursery:
        yield await open_room(nursery, "knock")
        nursery.cancel_scope.cancel()


@pytest.fixture
async def open_room_fixture() -> AsyncIterator[LiveRoom]:
    async with trio.open_nursery() as nursery:
        yield await open_room(nursery, "open")
        nursery.cancel_scope.cancel()


async def test_same_identity_from_a_second_client_disconnects_the_first(
    open_room_fixture: LiveRoom,
) -> None:
    room = open_room_fixture
    carol_id = IdentityKey.generate(secrets.token_bytes)
    first = await room.start(carol_id, "Carol")
    one = first.client
    with trio.fail_after(5):
        await one.wait_until(lambda: one.view.me() is not None)
    two = (await room.start(carol_id, "Guest")).client
    with trio.fail_after(5):
        await two.wait_until(lambda: two.view.me() is not None)
    await first.until_stopped()
    assert exits.IDENTITY_IN_USE_LINE in first.lines
    assert one.exit_code == exits.IDENTITY_IN_USE
    assert two.exit_code == exits.OK and not two.removed


async def test_a_knock_says_it_waits_and_a_hand_typed_meanwhile_is_raised(
    knock_room: LiveRoom,
) -> None:
    room = knock_room
    running = await room.start(IdentityKey.generate(secrets.token_bytes), "Eve")
    eve, lines = running.client, running.lines
    with trio.fail_after(5):
        await room.mod.wait_until(lambda: [k.name for k in room.mod.view.knocks] == ["Eve"])
    assert "waiting for a moderator to admit you…" in lines
    hand = parse_line("hand")
    assert hand is not None
    await eve.actions_send.send(hand)  # what `echo hand | hushroom join ...` does
    with trio.fail_after(5):
        await eve.wait_until(lambda: any("'hand' will be carried out" in line for line in lines))
    room.mod.perform(Action("approve"))
    with trio.fail_after(5):
        await eve.wait_until(lambda: eve.view.me() is not None)
    with trio.fail_after(5):
        await room.mod.wait_until(lambda: room.mod.view.hand_queue == [eve.view.me().handle])  # type: ignore[union-attr]


async def test_commands_beyond_the_door_queue_bound_are_dropped_with_a_line(
    knock_room: LiveRoom,
) -> None:
    room = knock_room
    running = await room.start(IdentityKey.generate(secrets.token_bytes), "Eve")
    eve, lines = running.client, running.lines
    for i in range(MAX_QUEUED + 1):
        await eve.actions_send.send(Action("chat", text=f"line {i}"))
    with trio.fail_after(5):
        await eve.wait_until(lambda: any("'chat' dropped" in line for line in lines))
    waiting = [line for line in lines if "will be carried out" in line]
    assert len(waiting) == MAX_QUEUED
    assert lines[-1] == (
        f"not admitted yet and {MAX_QUEUED} commands are already waiting: 'chat' dropped"
    )


async def test_a_denied_knock_ends_with_exit_code_removed(knock_room: LiveRoom) -> None:
    room = knock_room
    running = await room.start(IdentityKey.generate(secrets.token_bytes), "Dan")
    dan, lines = running.client, running.lines
    with trio.fail_after(5):
        await room.mod.wait_until(lambda: bool(room.mod.view.knocks))
    room.mod.perform(Action("deny"))
    await running.until_stopped()
    assert "a moderator denied entry to the room" in lines
    assert dan.exit_code == exits.REMOVED


async def test_a_room_with_no_moderator_ends_the_wait_with_exit_code_not_admitted() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            invite, _founder = fresh_invite(await start_relay(nursery))
            config = ClientConfig(
                invite, IdentityKey.generate(secrets.token_bytes), "Late", admit_wait=0.5
            )
            running = await run_client(nursery, config)
            await running.until_stopped()
            assert running.lines[-3:] == [
                "connected to the relay",
                "waiting for a moderator to admit you…",
                "no moderator answered in 0.5 s: the room has ended or nobody has opened it yet",
            ]
            assert running.client.exit_code == exits.NOT_ADMITTED
            nursery.cancel_scope.cancel()
