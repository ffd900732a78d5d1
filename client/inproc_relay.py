"""A real relay inside this process, for the demo, the join benchmark and tests.

It is the same :class:`relay.server.RelayServer` that ``hushroom relay`` runs,
with a fresh key and self-signed certificate in a temporary directory, on a
loopback port.  :meth:`RunningRelay.restart` stops it (every link drops) and
starts it again on the same port with the same key, as an operator restarting
the relay would.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trio

from relay.config import RelayConfig
from relay.server import RelayServer, server_ssl_context
from relay.state import RelayIdentity, load_or_create
from relay.stats import RelayStats


@dataclass
class RunningRelay:
    """Handle on an in-process relay started by :func:`start_relay`."""

    host: str
    port: int
    identity: RelayIdentity
    nursery: trio.Nursery
    config: RelayConfig
    server: RelayServer | None = None
    scope: trio.CancelScope | None = None
    starts: int = 0
    stats: list[RelayStats] = field(default_factory=list)
    _stopped: trio.Event = field(default_factory=trio.Event)

    @property
    def pin_text(self) -> str:
        return self.identity.pin_text

    async def _serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        stopped = trio.Event()
        self._stopped = stopped
        try:
            await self._serve_until_cancelled(task_status)
        finally:
            stopped.set()

    async def _serve_until_cancelled(self, task_status: trio.TaskStatus[int]) -> None:
        with trio.CancelScope() as scope:
            self.scope = scope
            stats = RelayStats()
            self.stats.append(stats)
            context = server_ssl_context(str(self.identity.cert_path), str(self.identity.key_path))
            self.server = RelayServer(self.config, context, stats)
            await self.server.serve(self.host, self.port, task_status=task_status)

    async def start(self) -> None:
        self.port = await self.nursery.start(self._serve)
        self.starts += 1

    async def stop(self) -> None:
        """Stop abruptly: every client link drops (as when the process dies)."""
        if self.scope is not None:
            self.scope.cancel()
            self.scope = None
            await self._stopped.wait()  # the listening socket is closed

    async def restart(self, downtime: float = 0.0) -> None:
        await self.stop()
        await trio.sleep(downtime)
        await self.start()


async def start_relay(
    nursery: trio.Nursery,
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: Path | None = None,
    config: RelayConfig | None = None,
) -> RunningRelay:
    """Start a relay serving in ``nursery`` and return its handle once it listens."""
    if state_dir is None:
        state_dir = Path(tempfile.mkdtemp(prefix="hushroom-relay-"))
    identity = load_or_create(state_dir)
    relay = RunningRelay(host, port, identity, nursery, config or RelayConfig())
    await relay.start()
    return relay
