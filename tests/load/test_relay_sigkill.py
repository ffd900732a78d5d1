"""SIGKILL the relay process mid-room and restart it: every client resumes (``-m load``).

A real relay process (``hushroom relay``), a moderator, a speaker and two
listeners as whole clients in this process.  Once the listeners hear the
speaker, the relay is killed with SIGKILL (no SHUTTING_DOWN, no FIN from a
graceful close) and started again on the same port and state directory (so
the pin in the invite stays valid).  Reports the time from the restart to
audio heard again by every listener.  Real wall clock: a load test.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import trio

from client.actions import Action
from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.backoff import Backoff
from client.bench import fanout
from client.relay_connect import link_connector, new_invite, parse_invite
from client.room_client import ClientConfig, RoomClient
from e2ee.identity import IdentityKey

pytestmark = pytest.mark.load


def start_relay_process(port: int, state_dir: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "client", "relay", "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*cmd, "--state-dir", state_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "pin" in line, line
    return proc, line.split()[-1]


async def test_sigkill_relay_mid_room_every_client_resumes() -> None:
    port, state = fanout._free_port(), tempfile.mkdtemp(prefix="hushroom-sigkill-")
    relay, pin = start_relay_process(port, state)
    founder = IdentityKey.generate(secrets.token_bytes)
    invite = new_invite("127.0.0.1", port, pin, founder)

    def client(name: str, identity: IdentityKey, **kw: object) -> RoomClient:
        config = ClientConfig(invite=invite, identity=identity, name=name, **kw)  # type: ignore[arg-type]
        return RoomClient(
            config,
            connect=link_connector(parse_invite(invite)),
            backoff=Backoff(uniform=lambda: secrets.randbelow(1000) / 1000, cap=1.0),
        )

    try:
        async with trio.open_nursery() as nursery:
            mod = client("Mod", founder, create=True)
            await nursery.start(mod.run)
            speaker = client(
                "Spk",
                IdentityKey.generate(secrets.token_bytes),
                source=PcmSource(speech_like(120.0, seed=5)),
                auto_accept=True,
            )
            listeners = [
                client(f"L{i}", IdentityKey.generate(secrets.token_bytes), listen_only=True)
                for i in range(2)
            ]
            for c in (speaker, *listeners):
                await nursery.start(c.run)
            with trio.fail_after(20):
                for c in (speaker, *listeners):
                    await c.wait_until(lambda c=c: c.view.me() is not None)
                await mod.wait_until(lambda: mod.view.find("Spk") is not None)
                mod.perform(Action("invite", target="Spk"))
                for c in listeners:
                    await c.wait_until(lambda c=c: c.frames_from("Spk") >= 10)
            before = {id(c): c.frames_from("Spk") for c in listeners}
            killed = time.monotonic()
            relay.send_signal(signal.SIGKILL)
            relay.wait(timeout=10)
            relay, again = start_relay_process(port, state)
            assert again == pin
            restarted = time.monotonic()
            with trio.fail_after(30):
                for c in (mod, speaker, *listeners):
                    await c.wait_until(
                        lambda c=c: c.session.reconnects >= 1 and c.view.connection == "connected"
                    )
                connected = time.monotonic() - restarted
                for c in listeners:
                    await c.wait_until(lambda c=c: c.frames_from("Spk") >= before[id(c)] + 25)
            audio = time.monotonic() - restarted
            print(
                f"sigkill: relay back {restarted - killed:.3f} s after the kill; then all"
                f" reconnected in {connected:.3f} s, audio resumed in {audio:.3f} s"
            )
            nursery.cancel_scope.cancel()
    finally:
        relay.kill()
        relay.wait(timeout=10)
