"""The terminal view in a real client: selection, confirmation, push-to-talk, local volume,
the recording mark and the audio status line (issue 11 items 1, 8, 12, 13)."""

from __future__ import annotations

import argparse
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import trio

from client import runner
from client.actions import Action
from client.audio.errors import AudioDeviceError
from client.audio.format import FRAME_SAMPLES
from client.audio.sources import ToneSource
from client.audio_io import EncodedFeed
from client.console import ScreenConsole
from client.inproc_relay import start_relay
from client.relay_connect import new_invite
from client.room_client import ClientConfig, RoomClient
from client.view import MemberView
from e2ee.identity import IdentityKey
from tests.client.room_support import LiveRoom, fresh_invite, open_room, run_client


@pytest.fixture
async def room_() -> AsyncIterator[LiveRoom]:
    async with trio.open_nursery() as nursery:
        yield await open_room(nursery, "open")
        nursery.cancel_scope.cancel()


def offline_founder() -> RoomClient:
    """A founder's client that is never connected (its room exists at once)."""
    founder = IdentityKey.generate(secrets.token_bytes)
    invite = new_invite("127.0.0.1", 9, "A" * 43, founder)
    return RoomClient(ClientConfig(invite, founder, "Mod", create=True))


def new_id() -> IdentityKey:
    return IdentityKey.generate(secrets.token_bytes)


async def test_remove_goes_to_the_selected_person_after_a_resort_and_a_yes(
    room_: LiveRoom,
) -> None:
    room = room_
    mod = room.mod
    console = ScreenConsole(mod.view)
    mod._log = console.log  # what the runner does for the terminal view
    bob = (await room.start(new_id(), "Bob")).client
    dave = (await room.start(new_id(), "Dave")).client
    with trio.fail_after(5):
        await mod.wait_until(lambda: len(mod.view.audience()) == 2)
        await dave.wait_until(lambda: dave.view.me() is not None)
    assert [m.name for m in mod.view.audience()] == ["Bob", "Dave"]
    mod.view.selected = mod.view.find("Bob").handle  # type: ignore[union-attr]
    dave.perform(Action("hand"))
    with trio.fail_after(5):
        await mod.wait_until(lambda: mod.view.audience()[0].name == "Dave")
    assert mod.view.selected_member().name == "Bob"  # type: ignore[union-attr]
    assert console.keys("r") == []
    assert console.prompt() == "remove Bob from the room? y/n"
    for action in console.keys("y"):
        mod.perform(action)
    with trio.fail_after(5):
        await bob.wait_until(lambda: bob.removed)
    with trio.fail_after(5):
        await mod.wait_until(lambda: mod.view.find("Bob") is None)
    assert mod.view.find("Dave") is not None and not dave.removed
    assert mod.view.selected is None
    assert "Bob left: nobody is selected now (↑/↓ to select)" in mod.view.status


async def test_a_recording_member_is_marked_in_every_view_and_for_later_joiners(
    room_: LiveRoom, tmp_path: Path
) -> None:
    room = room_
    rec = await room.start(new_id(), "Rec", record=tmp_path / "room.wav")
    with trio.fail_after(5):
        await room.mod.wait_until(lambda: _marked(room.mod, "Rec"))
    assert "Rec is recording the room" in room.mod_lines
    assert _marked(rec.client, "Rec") and "you are recording the room" in rec.lines
    late = (await room.start(new_id(), "Late")).client
    with trio.fail_after(5):
        await late.wait_until(lambda: _marked(late, "Rec"))
    assert not _marked(late, "Mod") and not _marked(late, "Late")
    rec.client.stop_recording()
    with trio.fail_after(5):
        await late.wait_until(lambda: not _marked(late, "Rec"))
    assert "Rec is no longer recording" in room.mod_lines


async def test_a_founder_who_records_is_marked_for_whoever_joins(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        invite, founder = fresh_invite(await start_relay(nursery))
        config = ClientConfig(invite, founder, "Mod", create=True, record=tmp_path / "mod.wav")
        await run_client(nursery, config)
        bob = (await run_client(nursery, ClientConfig(invite, new_id(), "Bob"))).client
        with trio.fail_after(5):
            await bob.wait_until(lambda: _marked(bob, "Mod"))
        nursery.cancel_scope.cancel()


def _marked(client: RoomClient, name: str) -> bool:
    member = client.view.find(name)
    return member is not None and member.recording


async def test_push_to_talk_gates_what_the_session_may_send() -> None:
    client = offline_founder()
    assert client._may_speak()  # the founder is on stage at once
    client.view.push_to_talk = True
    assert not client._may_speak()
    client.view.talking = True
    assert client._may_speak()


async def test_local_volume_and_mute_change_the_mixed_output() -> None:
    client = offline_founder()
    console = ScreenConsole(client.view)
    bob_id = bytes([0xB0]) * 32  # speakers are keyed by member id, the view by its hex
    bob = bob_id.hex()
    client.view.set_members([*client.view.members.values(), MemberView(bob, "Bob", "speaker")])
    client.view.selected = bob
    feed = EncodedFeed(ToneSource(440.0, seconds=2.0))
    now = trio.current_time()

    def rms_of_next(ticks: int) -> float:
        nonlocal now
        out = []
        for _ in range(ticks):
            packet = feed()
            assert packet is not None
            client.receiver.push(bob_id, feed.frames_read, packet, now)
            now += 0.020
            out.append(client.receiver.tick(now))
        tail = np.concatenate(out[ticks // 2 :]).astype(np.float64)  # past the buffer's fill
        assert tail.size == FRAME_SAMPLES * (ticks - ticks // 2)
        return float(np.sqrt(np.mean(tail**2)))

    full = rms_of_next(20)
    assert full > 1000
    console.keys("--")  # Bob at 50 % for this user
    half = rms_of_next(20)
    assert half == pytest.approx(full / 2, rel=0.05)
    console.keys("s")  # Bob muted here
    assert rms_of_next(20) == 0.0
    console.keys("s++")  # heard again, back at 100 %
    assert rms_of_next(20) == pytest.approx(full, rel=0.05)


async def test_no_audio_device_is_said_in_the_view_not_before_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_device(device: str | None = None) -> None:
        raise AudioDeviceError("no output device found (list them with 'hushroom devices')")

    monkeypatch.setattr(runner, "open_output", no_device)
    monkeypatch.setattr(runner, "use_plain", lambda args: False)  # the interactive view
    args = argparse.Namespace(play=None, output_device=None, record=str(tmp_path / "r.wav"))
    notes: list[str] = []
    assert runner.output_from_args(args, notes) is None
    client = offline_founder()
    config = ClientConfig(
        client.config.invite, client.config.identity, "Mod", create=True, record=tmp_path / "r.wav"
    )
    shown = runner._client(config, args, notes)
    shown.receiver.close()
    assert list(shown.view.status) == [
        "not playing the room: no output device found (list them with 'hushroom devices'); "
        "use --record FILE to keep it"
    ]
    assert shown.view.audio_line == f"audio: recording the room to {tmp_path / 'r.wav'}"
    args.output_device = "USB"  # asked for by name: a failure is the command's one error line
    with pytest.raises(AudioDeviceError):
        runner.output_from_args(args, notes)
