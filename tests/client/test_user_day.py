"""A user's day: identity clashes, waiting at the door, queued commands (real relay, real links)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import trio

from client import exits
from client.actions import Action, parse_line
from client.console import ScreenConsole
from client.door import MAX_QUEUED
from client.inproc_relay import start_relay
from client.relay_connect import new_invite
from client.room_client import ClientConfig, RoomClient
from client.session import Status
from e2ee.identity import IdentityKey
from e2ee.room import events as ev
from e2ee.room.roster import RemoveReason, Role
from tests.client.room_support import LiveRoom, fresh_invite, open_room, run_client


@pytest.fixture
async def knock_room() -> AsyncIterator[LiveRoom]:
    async with trio.open_nursery() as nursery:
        yield await open_room(nursery, "knock")
        nursery.cancel_scope.cancel()


@pytest.fixture
async def room_() -> AsyncIterator[LiveRoom]:
    async with trio.open_nursery() as nursery:
        yield await open_room(nursery, "open")
        nursery.cancel_scope.cancel()


async def test_same_identity_from_a_second_client_disconnects_the_first(
    room_: LiveRoom,
) -> None:
    room = room_
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


def fresh_invite_offline() -> tuple[str, IdentityKey]:
    """An invite to a relay that is never contacted (the client is not run)."""
    founder = IdentityKey.generate(secrets.token_bytes)
    return new_invite("127.0.0.1", 9, "A" * 43, founder), founder


async def test_members_leaving_in_one_commit_are_each_named() -> None:
    # One commit may remove several members: the view is refreshed after the
    # first removal, so each name must come from what this client saw before.
    invite, founder = fresh_invite_offline()
    lines: list[str] = []
    mod = RoomClient(ClientConfig(invite, founder, "Mod", create=True), log=lines.append)
    cara, dan = b"\x01" * 32, b"\x02" * 32
    for event in (
        ev.MemberJoined(cara, "Cara", Role.LISTENER),
        ev.MemberJoined(dan, "Dan", Role.LISTENER),
        ev.MemberLeft(cara, RemoveReason.LEFT),
        ev.MemberLeft(dan, RemoveReason.KICKED),
    ):
        mod.event_received(event)
    assert lines[-2:] == ["Cara left", "Dan was removed"]
    assert set(mod.names) == {founder.public}  # the departed are not kept


async def bob_in(room: LiveRoom) -> RoomClient:
    bob = (await room.start(IdentityKey.generate(secrets.token_bytes), "Bob")).client
    with trio.fail_after(5):
        await room.mod.wait_until(lambda: room.mod.view.find("Bob") is not None)
    return bob


async def test_moderator_actions_are_confirmed(room_: LiveRoom) -> None:
    room = room_
    await bob_in(room)
    room.mod.perform(Action("invite", target="Bob"))
    room.mod.perform(Action("askmute", target="Bob"))
    assert room.mod_lines[-2:] == ["invited Bob to speak", "asked Bob to mute"]


async def test_chat_is_shown_once_in_the_terminal_view(room_: LiveRoom) -> None:
    room = room_
    bob = await bob_in(room)
    bob._log = ScreenConsole(bob.view).log  # what the runner does for the terminal view
    # Bob's terminal view (not plain mode): the chat pane shows it, the status lines do not
    room.mod.perform(Action("chat", text="hello Bob"))
    with trio.fail_after(5):
        await bob.wait_until(lambda: bool(bob.view.chat))
    assert list(bob.view.chat) == ["Mod: hello Bob"]
    assert not any("hello Bob" in line for line in bob.view.status)


async def test_reconnect_messages_collapse_into_one_status_line() -> None:
    invite, founder = fresh_invite_offline()
    lines: list[str] = []
    client = RoomClient(ClientConfig(invite, founder, "Mod", create=True), log=lines.append)
    client._on_status(Status("connected", "connected to the relay"))
    for delay in ("0.5", "1.0", "2.0"):
        client._on_status(Status("reconnecting", f"link lost (reset); reconnecting in {delay}s"))
        client._on_status(Status("reconnecting", "connecting to the relay"))
    assert client.view.link_detail == "connecting to the relay"  # the view's one updating line
    client._on_status(Status("connected", "connected to the relay"))
    assert lines == [
        "connected to the relay",
        "link lost (reset); reconnecting in 0.5s (further retries update the status line)",
        "reconnected to the relay",
    ]
    assert client.view.link_detail == ""


async def test_last_moderator_leaving_is_asked_and_may_leave_anyway(room_: LiveRoom) -> None:
    room = room_
    await room.start(IdentityKey.generate(secrets.token_bytes), "Bob")
    with trio.fail_after(5):
        await room.mod.wait_until(lambda: room.mod.view.successor is not None)
    room.mod.view.typed_commands = True  # plain mode
    room.mod.perform(Action("leave"))
    assert room.mod_lines[-1] == (
        "you are the last moderator: hand over to Bob ('moderator Bob'), end the room "
        "('end'), or leave it without a moderator ('leave anyway')?"
    )
    assert not room.mod.ended
    action = parse_line("leave anyway")
    assert action is not None
    room.mod.perform(action)
    assert room.mod.ended and room.mod.exit_code == exits.OK
    assert room.mod_lines[-1].startswith("leaving without a moderator")
