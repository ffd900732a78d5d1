"""``--json``: a real client in a real room emits one JSON object per event, obeys JSON commands."""

from __future__ import annotations

import io
import json
import queue
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from client.actions import Action
from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.json_stream import MAX_COMMAND_BYTES, JsonConsole, parse_command
from client.room_client import ClientConfig, RoomClient
from e2ee.identity import IdentityKey
from tests.client.room_support import open_room


class Stream:
    """A JSON-mode client's stdout (parsed objects) and stdin (lines a script writes)."""

    def __init__(self, client: RoomClient) -> None:
        self.client = client
        self.out = io.StringIO()
        self.stdin: queue.Queue[str] = queue.Queue()
        self.console = JsonConsole(client, self.out)
        client._log = self.console.log  # what the runner does for --json

    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects() if o["event"] == kind]

    def write(self, obj: object) -> None:
        self.stdin.put(json.dumps(obj) + "\n")

    async def until(self, kind: str, count: int = 1) -> list[dict[str, Any]]:
        with trio.move_on_after(5):
            while len(self.events(kind)) < count:
                await trio.sleep(0.01)  # real clock: the relay and links are real sockets
        found = self.events(kind)
        assert len(found) >= count, "\n".join(map(str, self.objects()))
        return found


@pytest.fixture
async def json_room() -> AsyncIterator[tuple[RoomClient, Stream]]:
    async with trio.open_nursery() as nursery:
        room = await open_room(nursery, "open")
        mod, invite = room.mod, room.invite
        bob = RoomClient(ClientConfig(invite, IdentityKey.generate(secrets.token_bytes), "Bob"))
        stream = Stream(bob)
        await nursery.start(bob.run)
        nursery.start_soon(stream.console.run, bob.actions_send, stream.stdin.get)
        yield mod, stream
        stream.stdin.put("")  # end of input: the reading thread returns
        nursery.cancel_scope.cancel()


async def test_json_client_reports_room_events_and_obeys_json_commands(
    json_room: tuple[RoomClient, Stream],
) -> None:
    mod, bob = json_room
    (admitted,) = await bob.until("admitted")
    assert admitted["role"] == "listener"
    assert admitted["members"] == ["Mod", "Bob"]
    assert admitted["safety_code"] == str(bob.client.room.safety_code())
    bob.write({"cmd": "hand"})
    hands = await bob.until("hands")
    assert hands[-1] == {"event": "hands", "queue": ["Bob"]}
    mod.perform(Action("chat", text="hi Bob"))
    (chat,) = await bob.until("chat")
    assert chat == {"event": "chat", "name": "Mod", "text": "hi Bob"}
    mod.perform(Action("invite", target="Bob"))
    await bob.until("invited_to_speak")
    bob.write({"cmd": "accept"})
    roles = await bob.until("role_changed")
    assert roles[-1] == {
        "event": "role_changed",
        "name": "Bob",
        "you": True,
        "old": "listener",
        "new": "speaker",
    }
    changed = await bob.until("safety_code_changed")
    assert changed[-1]["reason"] == "1 member changed role"
    assert changed[-1]["safety_code"] == str(bob.client.room.safety_code())
    old_link = bob.client.invite.to_link()
    mod.session.act(mod.room.rotate_room_secret)
    (rotated,) = await bob.until("room_secret_rotated")
    assert rotated["invite"].startswith("hushroom://")
    assert rotated["invite"] != old_link
    assert rotated["invite"] == mod.invite.to_link()
    logs = [o["text"] for o in bob.events("log")]
    assert (
        f"the room has a new invite link (the old one no longer reaches it): {rotated['invite']}"
        in logs
    )
    bob.write("not a command")
    (error,) = await bob.until("error")
    assert error["text"] == "not a JSON object"  # a JSON string, not an object


async def test_json_client_names_who_left(json_room: tuple[RoomClient, Stream]) -> None:
    mod, bob = json_room
    await bob.until("admitted")
    invite = mod.config.invite
    cara = RoomClient(ClientConfig(invite, IdentityKey.generate(secrets.token_bytes), "Cara"))
    async with trio.open_nursery() as nursery:
        await nursery.start(cara.run)
        (joined,) = await bob.until("joined")
        assert joined == {"event": "joined", "name": "Cara", "role": "listener"}
        mod.perform(Action("kick", target="Cara"))
        (left,) = await bob.until("left")
        assert left == {"event": "left", "name": "Cara", "reason": "kicked"}
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1]", "not a JSON object"),
        ("{", "not a JSON object"),
        ("[" * 5000, f"command line longer than {MAX_COMMAND_BYTES} bytes"),
        ("[" * 4000, "not a JSON object"),
        ('{"cmd": "fly"}', "unknown cmd 'fly'"),
        ('{"cmd": "chat"}', "'chat' needs \"text\""),
        ('{"cmd": "kick"}', "'kick' needs \"member\""),
        ('{"cmd": "kick", "member": 7}', "'member' must be a string"),
    ],
)
def test_bad_json_commands_are_one_line_errors(line: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[")):
        parse_command(line)


def test_json_commands_are_actions() -> None:
    assert parse_command('{"cmd": "chat", "text": " hi "}') == Action("chat", text="hi")
    assert parse_command('{"cmd": "kick", "member": "Bob"}') == Action("kick", target="Bob")
    assert parse_command('{"cmd": "leave", "member": "anyway"}') == Action("leave", "anyway")
    assert parse_command("  \n") is None


async def test_json_client_reports_speaker_levels(json_room: tuple[RoomClient, Stream]) -> None:
    mod, bob = json_room
    await bob.until("admitted")
    mod.speak(PcmSource(speech_like(5.0, seed=3)))
    with trio.fail_after(8):
        while not bob.events("level"):
            await trio.sleep(0.05)
    level = bob.events("level")[0]
    assert level["name"] == "Mod"
    assert -60.0 < level["dbfs"] <= 0.0


async def test_json_client_reports_its_removal(json_room: tuple[RoomClient, Stream]) -> None:
    mod, bob = json_room
    await bob.until("admitted")
    mod.perform(Action("kick", target="Bob"))
    (removed,) = await bob.until("removed")
    assert removed == {"event": "removed", "reason": "kicked"}
    assert bob.client.exit_code == 3
