"""SIGKILL a speaker's client process mid-room: the room notices, nothing else breaks (``-m load``).

A real relay process (``hushroom relay``, started as in
``test_relay_sigkill``), a moderator, a second speaker and a listener as
whole clients in this process, and the speaker that gets killed as a
``hushroom join --plain --tone`` process of its own.  Once the listener
hears both speakers, that process gets SIGKILL: it sends no LEAVE, the
kernel closes its TCP connection, and the relay ends its membership.

What the spec promises, and what this test checks:

* §17.1: the stage is told — the moderator receives PEER_LEFT for the
  killed speaker's slot.
* §16.4: slots are routing hints, not membership.  PEER_LEFT is an
  unauthenticated notice from the relay: the moderator (the chair) forgets
  the slot, probes it and starts the speaker's absence timer.  Until
  ``absent_timeout`` has passed the killed speaker is in every roster and no
  commit was made.
* §15.2: when the timer fires the moderator removes it by itself (reason
  left); the removal is committed at once and re-keys, and every remaining
  member holds the new epoch key — all within ``absent_timeout`` plus
  ``REMOVAL_MARGIN_S`` of the notice, nobody acting.
* §15.4: the other speaker is heard by the listener throughout, with no gap
  above ``GAP_BOUND_S`` (``rekey_send_grace`` plus ``fresh_timeout``: the
  longest a speaker may hold audio while its re-key secret is being fetched),
  and its frames are opened under the new epoch key.
* No in-process client exits, reconnects or raises a security alert.

Prints one JSON line (``-s``) with the measured times; figures are in
docs/relay-hardening.md.  Real wall clock: a load test.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import trio
from test_relay_sigkill import start_relay_process

from client.actions import Action
from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.bench import fanout
from client.relay_connect import link_connector, new_invite, parse_invite
from client.room_client import ClientConfig, RoomClient
from e2ee.envelope import EnvelopeType
from e2ee.identity import IdentityKey
from e2ee.room import events as ev
from e2ee.room.session import RoomConfig

pytestmark = pytest.mark.load

DEFAULTS = RoomConfig()
GAP_BOUND_S = DEFAULTS.rekey_send_grace + DEFAULTS.fresh_timeout
NOTICE_BOUND_S = 2.0  # kill -> PEER_LEFT: the kernel closes the socket, the relay says so
REMOVAL_MARGIN_S = 2.0  # absent_timeout after PEER_LEFT -> new epoch key at every member


def join_process(invite: str, name: str, home: Path) -> subprocess.Popen[bytes]:
    """``hushroom join`` speaking a tone, accepting an invitation to speak by itself."""
    invite_file = home / "invite.txt"
    invite_file.write_text(invite)
    invite_file.chmod(0o600)
    argv = ["--invite-file", str(invite_file), "--name", name, "--home", str(home)]
    return subprocess.Popen(
        [sys.executable, "-m", "client", "join", *argv, "--tone", "--auto-accept", "--plain"],
        stdin=subprocess.PIPE,  # kept open: the plain console reads commands from it
        stdout=(home / "stdout.txt").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


class Trace:
    """What the in-process clients saw, stamped with trio's clock."""

    def __init__(self) -> None:
        self.peer_left: list[tuple[float, int]] = []
        self.alerts: list[tuple[str, str]] = []
        self.keys_rotated: dict[str, list[tuple[float, int]]] = {}
        self.heard: list[tuple[float, int]] = []  # (time, epoch) of the other speaker's frames

    def watch(self, name: str, client: RoomClient) -> None:
        self.keys_rotated[name] = []

        def on_event(event: Any) -> None:
            if isinstance(event, ev.SecurityAlert):
                self.alerts.append((name, event.kind))
            elif isinstance(event, ev.KeysRotated):
                self.keys_rotated[name].append((trio.current_time(), event.epoch))

        client.on_room_event.append(on_event)

    def watch_peer_left(self, client: RoomClient) -> None:
        before = client.session.on_envelope

        def on_envelope(envelope: Any) -> None:
            if envelope.type == EnvelopeType.PEER_LEFT:
                self.peer_left.append((trio.current_time(), envelope.slot))
            if before is not None:
                before(envelope)

        client.session.on_envelope = on_envelope

    def watch_audio(self, listener: RoomClient, speaker: bytes) -> None:
        def on_event(event: Any) -> None:
            if isinstance(event, ev.AudioReceived) and event.member == speaker:
                epoch = listener.room._media._audio_in._last_epoch[speaker]
                self.heard.append((trio.current_time(), epoch))

        listener.on_room_event.append(on_event)


def longest_gap(times: list[float]) -> tuple[float, float]:
    """The longest interval between successive times, and when it began."""
    return max(((b - a, a) for a, b in itertools.pairwise(times)), default=(0.0, 0.0))


async def test_sigkill_of_a_speaker_is_noticed_and_the_rest_of_the_room_goes_on() -> None:
    port, state = fanout._free_port(), tempfile.mkdtemp(prefix="hushroom-spkkill-")
    relay, pin = start_relay_process(port, state)
    founder = IdentityKey.generate(secrets.token_bytes)
    invite = new_invite("127.0.0.1", port, pin, founder)
    home = Path(tempfile.mkdtemp(prefix="hushroom-spkkill-home-"))
    victim = join_process(invite, "Spk1", home)

    def client(name: str, identity: IdentityKey, **kw: object) -> RoomClient:
        config = ClientConfig(invite=invite, identity=identity, name=name, **kw)  # type: ignore[arg-type]
        return RoomClient(config, connect=link_connector(parse_invite(invite)))

    trace = Trace()
    try:
        async with trio.open_nursery() as nursery:
            mod = client("Mod", founder, create=True)
            await nursery.start(mod.run)
            trace.watch_peer_left(mod)
            other = client(
                "Spk2",
                IdentityKey.generate(secrets.token_bytes),
                source=PcmSource(speech_like(300.0, seed=7)),
                auto_accept=True,
            )
            listener = client("L", IdentityKey.generate(secrets.token_bytes), listen_only=True)
            everyone = {"Mod": mod, "Spk2": other, "L": listener}
            for name, c in everyone.items():
                if c is not mod:
                    await nursery.start(c.run)
                trace.watch(name, c)
            with trio.fail_after(30):
                for c in (other, listener):
                    await c.wait_until(lambda c=c: c.view.me() is not None)
                for name in ("Spk1", "Spk2"):
                    await mod.wait_until(lambda name=name: mod.view.find(name) is not None)
                    mod.perform(Action("invite", target=name))
                trace.watch_audio(listener, other.room.me)
                for name in ("Spk1", "Spk2"):
                    await listener.wait_until(lambda name=name: listener.frames_from(name) >= 25)
            killed_id = next(m.id for m in mod.room.members.values() if m.display_name == "Spk1")
            epoch_before = mod.room.epoch
            await trio.sleep(1.0)  # a second of steady audio before the kill, for the gap
            killed = trio.current_time()
            victim.send_signal(signal.SIGKILL)
            with trio.fail_after(NOTICE_BOUND_S):
                await mod.wait_until(lambda: bool(trace.peer_left))
            noticed = trace.peer_left[0][0]

            # §16.4: the notice only starts the absence timer; no roster change before it fires.
            await trio.sleep_until(noticed + DEFAULTS.absent_timeout - 0.5)
            for c in everyone.values():
                assert killed_id in c.room.members
            assert mod.room.epoch == epoch_before

            with trio.fail_at(noticed + DEFAULTS.absent_timeout + REMOVAL_MARGIN_S):
                await mod.wait_until(lambda: mod.room.epoch > epoch_before)
                committed = trio.current_time()
                rekey_epoch = mod.room.epoch
                for name, c in everyone.items():
                    await c.wait_until(
                        lambda name=name: any(e >= rekey_epoch for _, e in trace.keys_rotated[name])
                    )
                await listener.wait_until(lambda: any(e >= rekey_epoch for _, e in trace.heard))
            in_use = next(t for t, e in trace.heard if e >= rekey_epoch)
            keyed = max(
                next(t for t, e in rotated if e >= rekey_epoch)
                for rotated in trace.keys_rotated.values()
            )
            await trio.sleep(2.0)  # audio keeps going under the new key
            ended = trio.current_time()

            for c in everyone.values():
                assert killed_id not in c.room.members
                assert c.view.connection == "connected" and c.session.reconnects == 0
                assert not (c.ended or c.removed)
            assert trace.alerts == []
            window = [t for t, _ in trace.heard if killed - 1.0 <= t <= ended]
            gap, gap_began = longest_gap(window)
            late = [e for t, e in trace.heard if t > in_use]
            assert late and min(late) >= rekey_epoch, "the old key is not used after the new one"
            result = {
                "kill_to_peer_left_s": round(noticed - killed, 3),
                "kill_to_commit_s": round(committed - killed, 3),
                "kill_to_new_key_everywhere_s": round(keyed - killed, 3),
                "kill_to_new_key_in_use_s": round(in_use - killed, 3),
                "peer_left_to_commit_s": round(committed - noticed, 3),
                "peer_left_to_new_key_everywhere_s": round(keyed - noticed, 3),
                "peer_left_to_new_key_in_use_s": round(in_use - noticed, 3),
                "longest_gap_other_speaker_s": round(gap, 3),
                "longest_gap_began_after_kill_s": round(gap_began - killed, 3),
                "frames_heard_from_other_speaker": len(window),
            }
            print("speaker-killed: " + json.dumps(result))
            assert gap <= GAP_BOUND_S, result
            assert victim.poll() == -signal.SIGKILL
            nursery.cancel_scope.cancel()
    finally:
        for proc in (victim, relay):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
