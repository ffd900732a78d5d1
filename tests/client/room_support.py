"""Clients in a real room for tests: a relay in this process, a moderator, log lines kept."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import trio

from client.inproc_relay import RunningRelay, start_relay
from client.relay_connect import new_invite
from client.room_client import ClientConfig, RoomClient
from e2ee.identity import IdentityKey


@dataclass
class LiveRoom:
    """A room with its moderator, and a way to add clients that log to a list."""

    relay: RunningRelay
    invite: str
    nursery: trio.Nursery
    mod: RoomClient
    mod_lines: list[str]

    async def start(self, identity: IdentityKey, name: str, **kw: object) -> Running:
        config = ClientConfig(self.invite, identity, name, **kw)  # type: ignore[arg-type]
        return await run_client(self.nursery, config)


@dataclass
class Running:
    """A client running in a test's nursery: its log lines, and an event set when it stops."""

    client: RoomClient
    lines: list[str]
    stopped: trio.Event

    async def until_stopped(self) -> None:
        with trio.fail_after(5):
            await self.stopped.wait()


async def run_client(nursery: trio.Nursery, config: ClientConfig) -> Running:
    lines: list[str] = []
    running = Running(RoomClient(config, log=lines.append), lines, trio.Event())

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await running.client.run(task_status=task_status)
        finally:
            running.stopped.set()

    await nursery.start(run)
    return running


def fresh_invite(relay: RunningRelay) -> tuple[str, IdentityKey]:
    """An invite to a new room on ``relay`` and its founder's identity."""
    founder = IdentityKey.generate(secrets.token_bytes)
    return new_invite(relay.host, relay.port, relay.pin_text, founder), founder


async def open_room(nursery: trio.Nursery, policy: str) -> LiveRoom:
    """A relay and a room on it whose founder moderates with ``policy``."""
    relay = await start_relay(nursery)
    invite, founder = fresh_invite(relay)
    mod_lines: list[str] = []
    mod = RoomClient(
        ClientConfig(invite, founder, "Mod", create=True, policy=policy), log=mod_lines.append
    )
    await nursery.start(mod.run)
    return LiveRoom(relay, invite, nursery, mod, mod_lines)
