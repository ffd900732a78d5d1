"""RoomClient's own rules: speakers keyed by member id, one table entry per command,
rooms that outlive their founder's client, and rejoining after being dropped as absent.

The room tests run whole clients through the real relay router
(tests/client/router_relay.py) on trio's MockClock.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import trio

from client import exits
from client.actions import KINDS, LINE_HELP, Action, Kind, parse_line
from client.audio.encoder import OpusFrameEncoder
from client.audio.format import frames_from_pcm
from client.audio.synth import tone
from client.relay_connect import parse_invite
from client.room_client import ClientConfig, RoomClient
from client.room_entry import RoomKeys, room_occupied
from e2ee.envelope import DeliveryClass, EnvelopeType, encode_envelope
from e2ee.identity import IdentityKey
from e2ee.room import events as ev
from e2ee.room.roster import Role
from relay.config import RelayConfig
from tests.client.router_relay import MemoryLink, MemoryRelay


def opus_packets(count: int) -> list[bytes]:
    encoder = OpusFrameEncoder()
    packets = [encoder.encode(f) for f in frames_from_pcm(tone(440.0, count * 0.02 + 0.1))]
    return [p for p in packets if p is not None][:count]


async def test_two_members_whose_ids_share_the_first_4_bytes_get_separate_jitter_streams() -> None:
    relay = MemoryRelay()
    founder = IdentityKey.generate(secrets.token_bytes)
    client = RoomClient(
        ClientConfig(relay.invite(founder), founder, "Mod", create=True),
        connect=relay.connector(),
    )
    ann, bea = bytes(4) + b"\x0a" * 28, bytes(4) + b"\x0b" * 28  # one 8-hex-digit prefix
    for seq, packet in enumerate(opus_packets(3)):
        for member in (ann, bea):
            client.event_received(ev.AudioReceived(member, seq, packet))
    assert sorted(client.receiver.speakers) == [ann, bea]
    assert all(client.receiver.jitter_stats(m).received == 3 for m in (ann, bea))


def test_the_command_table_covers_every_command() -> None:
    assert set(RoomClient.COMMANDS) == set(Kind)
    assert set(KINDS) == set(Kind)
    for kind in Kind:  # and every command can be typed
        assert kind.value in LINE_HELP
        line = f"{kind.value} some text" if KINDS[kind] != (False, False) else kind.value
        action = parse_line(line)
        assert action is not None and action.kind == kind


async def test_an_unknown_command_is_one_line_not_an_exception() -> None:
    relay = MemoryRelay()
    founder = IdentityKey.generate(secrets.token_bytes)
    lines: list[str] = []
    client = RoomClient(
        ClientConfig(relay.invite(founder), founder, "Mod", create=True),
        connect=relay.connector(),
        log=lines.append,
    )
    client.perform(Action("dance"))
    assert lines == [f"unknown command 'dance'; {LINE_HELP}"]


# -- rooms on the real router, on MockClock ------------------------------------------------


@dataclass
class Member:
    client: RoomClient
    lines: list[str]
    links: list[MemoryLink]
    done: trio.Event


@dataclass
class Room:
    relay: MemoryRelay
    founder: IdentityKey
    invite: str
    nursery: trio.Nursery

    async def start(self, identity: IdentityKey, name: str, **kw: object) -> Member:
        lines: list[str] = []
        links: list[MemoryLink] = []
        config = ClientConfig(self.invite, identity, name, **kw)  # type: ignore[arg-type]
        client = RoomClient(config, connect=self.relay.connector(links), log=lines.append)
        member = Member(client, lines, links, trio.Event())

        async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await client.run(task_status=task_status)
            finally:
                member.done.set()

        await self.nursery.start(run)
        return member

    async def join(self, name: str) -> Member:
        member = await self.start(IdentityKey.generate(secrets.token_bytes), name)
        with trio.fail_after(10):
            await member.client.wait_until(lambda: member.client.room.state == "member")
        return member


@pytest.fixture
async def room(autojump_clock: trio.abc.Clock) -> AsyncIterator[Room]:
    relay = MemoryRelay()
    founder = IdentityKey.generate(secrets.token_bytes)
    async with trio.open_nursery() as nursery:
        yield Room(relay, founder, relay.invite(founder), nursery)
        nursery.cancel_scope.cancel()


def in_roster(of: RoomClient, who: RoomClient) -> bool:
    return who.room.me in of.room.members


async def test_a_founder_who_handed_over_rejoins_the_room_its_members_are_still_in(
    room: Room,
) -> None:
    founder = await room.start(room.founder, "Fay", create=True)
    bob, cat = await room.join("Bob"), await room.join("Cat")
    founder.client.perform(Action(Kind.MODERATOR, target="Bob"))
    with trio.fail_after(10):
        await bob.client.wait_until(lambda: bob.client.room.role is Role.MODERATOR)
    founder.client.leave()
    await founder.done.wait()
    with trio.fail_after(20):
        await bob.client.wait_until(lambda: room.founder.public not in bob.client.room.members)
    epoch = bob.client.room.epoch
    assert epoch > 0
    # the founder's client comes back with the same identity and invite
    again = await room.start(room.founder, "Fay", reopen=True)
    with trio.fail_after(20):
        await again.client.wait_until(lambda: again.client.room.state == "member")
    assert "the room is open: rejoining it (a moderator admits you)" in again.lines
    assert again.client.room.epoch > epoch  # the same room, one re-key later: not epoch 0
    assert again.client.room.epoch == bob.client.room.epoch == cat.client.room.epoch
    assert again.client.room.role is Role.LISTENER
    assert all(room.founder.public in m.client.room.members for m in (bob, cat))


async def test_a_founder_who_left_the_chair_to_the_deputy_is_admitted_by_it_on_return(
    room: Room,
) -> None:
    founder = await room.start(room.founder, "Fay", create=True)
    bob = await room.join("Bob")
    founder.client.perform(Action(Kind.LEAVE, target="anyway"))
    await founder.done.wait()
    assert founder.lines[-1] == "leaving without a moderator: Bob takes the chair"
    with trio.fail_after(10):
        await bob.client.wait_until(lambda: room.founder.public not in bob.client.room.members)
    assert bob.client.room.role is Role.MODERATOR
    epoch = bob.client.room.epoch
    again = await room.start(room.founder, "Fay", reopen=True, admit_wait=5.0)
    with trio.fail_after(30):
        await again.client.wait_until(lambda: again.client.room.state == "member")
    assert again.client.room.epoch > epoch  # the same room, not a second one at epoch 0
    assert again.client.room.epoch == bob.client.room.epoch
    assert again.client.room.role is Role.LISTENER


async def test_a_founder_reopens_a_room_nobody_is_in(room: Room) -> None:
    founder = await room.start(room.founder, "Fay", create=True)
    founder.client.leave()
    await founder.done.wait()
    again = await room.start(room.founder, "Fay", reopen=True)
    assert again.client.room.state == "member" and again.client.room.epoch == 0
    assert again.client.room.role is Role.MODERATOR
    assert "nobody is in the room: opening it as its founder" in again.lines


async def test_a_member_dropped_as_absent_after_a_long_stall_rejoins_by_itself(
    room: Room,
) -> None:
    mod = await room.start(room.founder, "Mod", create=True)
    bob = await room.join("Bob")
    bob.links[-1].stall()  # the relay drops the link; Bob hears nothing and notices nothing
    with trio.fail_after(30):
        await mod.client.wait_until(lambda: not in_roster(mod.client, bob.client))
    await trio.sleep(5)
    bob.links[0].unstall()  # the stall ends: Bob's link fails and it reconnects
    with trio.fail_after(30):
        await mod.client.wait_until(lambda: in_roster(mod.client, bob.client))
        await bob.client.wait_until(lambda: bob.client.room.state == "member")
    assert bob.client.rejoins == 1
    notices = [line for line in bob.lines if "rejoining" in line]
    assert len(notices) == 1
    assert bob.client.room.epoch == mod.client.room.epoch


async def test_a_member_the_chair_removed_as_absent_while_it_was_alive_rejoins(
    room: Room,
) -> None:
    mod = await room.start(room.founder, "Mod", create=True)
    bob = await room.join("Bob")
    # A relay reports Bob's link gone and withholds Bob's answers to the chair's probe
    slot = bob.client.room.slot
    assert slot is not None
    bob.links[-1].uplink_dropped = True
    mod.links[-1].deliver(encode_envelope(EnvelopeType.PEER_LEFT, mod.client.room.room_tag, slot))
    with trio.fail_after(30):
        await bob.client.wait_until(lambda: bob.client.rejoins == 1)
    bob.links[-1].uplink_dropped = False
    with trio.fail_after(30):
        await mod.client.wait_until(lambda: in_roster(mod.client, bob.client))
        await bob.client.wait_until(lambda: bob.client.room.state == "member")
    assert not bob.client.removed and bob.client.exit_code == exits.OK
    assert (
        bob.lines.count(
            "the moderators dropped you from the room (your link went quiet); rejoining"
        )
        == 1
    )


async def test_who_comes_back_without_a_person_is_decided_by_the_room_session(
    room: Room,
) -> None:
    """The client keeps no known or banned lists: a known identity is re-admitted, a banned
    one is denied and a kicked one knocks, all by the room session's rules (spec §13.4)."""
    mod = await room.start(room.founder, "Mod", create=True)
    ids = {name: IdentityKey.generate(secrets.token_bytes) for name in ("Kim", "Ben", "Kat")}
    first = {name: await room.start(ids[name], name) for name in ids}
    for member in first.values():
        with trio.fail_after(10):
            await member.client.wait_until(lambda m=member: m.client.room.state == "member")
    mod.client.perform(Action(Kind.BAN, target="Ben"))
    mod.client.perform(Action(Kind.KICK, target="Kat"))
    with trio.fail_after(10):
        await first["Ben"].done.wait()
        await first["Kat"].done.wait()
    first["Kim"].client.session.close()  # Kim's device drops off, and comes back
    await first["Kim"].done.wait()
    kim = await room.start(ids["Kim"], "Kim")
    ben = await room.start(ids["Ben"], "Ben")
    kat = await room.start(ids["Kat"], "Kat")
    with trio.fail_after(20):
        await kim.client.wait_until(lambda: kim.client.room.state == "member")
        await ben.done.wait()
        await mod.client.wait_until(lambda: [k.name for k in mod.client.view.knocks] == ["Kat"])
    assert ben.client.exit_code == exits.REMOVED
    assert "a moderator denied entry to the room" in ben.lines
    assert kat.client.room.state == "joining"
    mod.client.perform(Action(Kind.APPROVE, target="Kat"))
    with trio.fail_after(10):
        await kat.client.wait_until(lambda: kat.client.room.state == "member")


async def test_the_occupancy_probe_counts_a_full_room_as_occupied(
    autojump_clock: trio.abc.Clock,
) -> None:
    relay = MemoryRelay(RelayConfig(max_members_per_room=1))
    invite = parse_invite(relay.invite(IdentityKey.generate(secrets.token_bytes)))
    assert not await room_occupied(relay.connector(), invite)
    member = await relay.connector()()
    tag = RoomKeys.of(invite).room_tag
    await member.send(encode_envelope(EnvelopeType.JOIN, tag, 0, bytes((DeliveryClass.AUDIENCE,))))
    assert await room_occupied(relay.connector(), invite)  # full: refused, yet occupied
    assert len(relay.router.rooms[tag].members) == 1  # the probe left nothing behind
