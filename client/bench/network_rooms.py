"""``hushroom bench network``: the six clients, their relay and the listeners' probes.

:mod:`client.bench.network` runs a case with these: per room a speaker, a
stage listener and an audience listener, each a real
:class:`~client.room_client.RoomClient` on its own thread and trio loop
inside its leaf namespace of the emulated network, and one relay process in
the hub.  A listener's receive side is a :class:`ListenerProbe`: while armed
it notes when each packet is played (``time.monotonic``, the clock the
speaker's :class:`~client.bench.network_score.SpeakerLog` uses) and records
the mixed output.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import trio

from client.actions import Action
from client.audio.format import FRAME_SECONDS, Frame
from client.audio.jitter import JitterBuffer, Playout
from client.audio.receiver import MemberId, RoomAudioReceiver
from client.audio.speaker import SpeakerStream
from client.bench.netem import Network
from client.bench.network_score import SpeakerLog
from client.errors import CliError
from client.relay_connect import new_invite, parse_invite
from client.room_client import ClientConfig, RoomClient
from client.room_entry import RoomKeys
from e2ee.identity import IdentityKey
from e2ee.room.config import RoomConfig
from e2ee.room.session import RoomSession
from e2ee.room.speaker_auth import AuthConfig

RELAY_PORT = 7443
UDP_PORT = 7444
SETUP_TIMEOUT = 30.0

PLAYOUT_COUNTS = (
    "late",
    "concealed",
    "trailing",
    "stretched",
    "skipped",
    "switch_dropped",
    "overflowed",
)
"""The playout-buffer counts a row reports for its window (``stage_playout_<name>``)."""

T = TypeVar("T")


# -- timing frames at both ends ---------------------------------------------------


class _TimedJitter(JitterBuffer):
    """A jitter buffer that notes the time each packet is played while its probe is armed."""

    def __init__(self, stream: SpeakerStream, probe: ListenerProbe) -> None:
        super().__init__(stream.jitter.config)
        self._probe = probe
        self.max_target = self.target_frames
        """The largest playout delay (frames) while armed."""

    def pop(self, now: float) -> Playout:
        step = super().pop(now)
        if self._probe.armed:
            if step.kind == "packet" and step.payload is not None:
                self._probe.played.append((step.payload, time.monotonic()))
            self.max_target = max(self.max_target, self.target_frames)
        return step


class ListenerProbe(RoomAudioReceiver):
    """The listener's receive side, noting playout times and recording while armed."""

    def __init__(self, original: RoomAudioReceiver) -> None:
        super().__init__(jitter=original.jitter_config)
        self.mixer = original.mixer
        self.played: list[tuple[bytes, float]] = []
        self.recording: list[Frame] = []
        self.armed = False
        self.buffers: list[_TimedJitter] = []
        self._armed_stats: Counter[str] | None = None

    def _stream(self, speaker_id: MemberId) -> SpeakerStream:
        stream = super()._stream(speaker_id)
        if not isinstance(stream.jitter, _TimedJitter):
            stream.jitter = _TimedJitter(stream, self)
            self.buffers.append(stream.jitter)
        return stream

    @property
    def max_delay_ms(self) -> float:
        """The largest playout-buffer target any speaker's stream had while armed."""
        return max((b.max_target for b in self.buffers), default=0) * FRAME_SECONDS * 1000

    def tick(self, now: float) -> Frame:
        mixed = super().tick(now)
        if self.armed:
            self.recording.append(mixed.copy())
        return mixed

    def arm(self) -> None:
        """Start the window: record from the next tick."""
        self.played.clear()
        self.recording.clear()
        for buffer in self.buffers:
            buffer.max_target = buffer.target_frames
        self._armed_stats = self.playout_counts()
        self.armed = True

    def playout_counts(self) -> Counter[str]:
        """The playout buffers' counts (:class:`~client.audio.jitter.JitterStats`) so far,
        or since :meth:`arm` once disarmed."""
        total: Counter[str] = Counter()
        for buffer in self.buffers:
            total.update({name: getattr(buffer.stats, name) for name in PLAYOUT_COUNTS})
        if not self.armed and self._armed_stats is not None:
            total.subtract(self._armed_stats)
        return total

    def disarm(self) -> None:
        self.armed = False


def probe_of(client: RoomClient) -> ListenerProbe:
    probe = client.receiver
    assert isinstance(probe, ListenerProbe)
    return probe


# -- one client per thread, each in its namespace ---------------------------------


class ClientThread:
    """A RoomClient on its own trio loop, on a thread inside one leaf namespace."""

    def __init__(self, net: Network, leaf: str, make: Callable[[], RoomClient]) -> None:
        self.net, self.leaf, self._make = net, leaf, make
        self.client: RoomClient | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._stop: trio.Event | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"bench-{leaf}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(SETUP_TIMEOUT) or self.client is None:
            raise CliError(f"bench network: client {self.leaf} did not start: {self.error}")

    def _main(self) -> None:
        try:
            self.net.call(self.leaf, trio.run, self._run)
        except BaseException as exc:  # reported by start() and stop()
            self.error = exc
            self._ready.set()

    async def _run(self) -> None:
        self.client = self._make()
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(self.client.run)
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def do(self, fn: Callable[[RoomClient], T]) -> T:
        """``fn(client)`` on the client's own trio thread."""
        assert self._token is not None and self.client is not None
        client = self.client
        return trio.from_thread.run_sync(fn, client, trio_token=self._token)

    def wait(self, what: str, predicate: Callable[[RoomClient], bool]) -> None:
        deadline = time.monotonic() + SETUP_TIMEOUT
        while not self.do(predicate):
            if self.error is not None or time.monotonic() > deadline:
                raise CliError(f"bench network: {self.leaf} never {what} ({self.error})")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._token is not None and self._stop is not None:
            stop = self._stop
            try:
                trio.from_thread.run_sync(stop.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(10)


@dataclass
class BenchRoom:
    """One transport's room: speaker, stage listener, audience listener."""

    transport: str
    speaker: ClientThread
    stage: ClientThread
    audience: ClientThread
    log: SpeakerLog = field(default_factory=SpeakerLog)

    @property
    def clients(self) -> tuple[ClientThread, ...]:
        return self.speaker, self.stage, self.audience


def leaf_names(transport: str) -> dict[str, str]:
    return {role: f"{transport}_{role}" for role in ("speaker", "stage", "audience")}


class BenchClient(RoomClient):
    """A RoomClient whose room session uses the bench's speaker-authentication mode."""

    def __init__(self, config: ClientConfig, auth: AuthConfig | None) -> None:
        self._auth = auth
        super().__init__(config)

    def _new_room(self, *, create: bool) -> RoomSession:
        if self._auth is None:  # the room's default
            return super()._new_room(create=create)
        keys = RoomKeys.of(self.invite)
        config = RoomConfig(speaker_auth=self._auth)
        identity, name, now = self.config.identity, self.config.name, trio.current_time()
        if create:
            return RoomSession.create(
                identity, keys, name, self.config.policy, secrets.token_bytes, now, config
            )
        return RoomSession.join(identity, keys, name, secrets.token_bytes, now, config)


def _listener(
    invite: str, *, on_stage: bool, datagrams: bool, auth: AuthConfig | None
) -> RoomClient:
    client = BenchClient(
        ClientConfig(
            invite,
            IdentityKey.generate(secrets.token_bytes),
            "Stage" if on_stage else "Audience",
            auto_accept=on_stage,
            listen_only=not on_stage,
            datagrams=datagrams,
        ),
        auth,
    )
    # The probe stands in for the client's receive side before it runs.
    probe = ListenerProbe(client.receiver)
    client.receiver = client.shown.receiver = probe
    return client


def open_room(net: Network, transport: str, pin: str, auth: AuthConfig | None) -> BenchRoom:
    """Start a room's three clients and bring the stage listener on stage.

    Each client reaches the relay at the hub's address on its own link: the
    relay's UDP replies leave from that address, and a client's connected
    datagram socket takes only those.
    """
    leaves = leaf_names(transport)
    founder = IdentityKey.generate(secrets.token_bytes)
    room_invite = parse_invite(
        new_invite(net.hub_address(leaves["speaker"]), RELAY_PORT, pin, founder)
    )

    def invite_for(role: str) -> str:
        return replace(room_invite, host=net.hub_address(leaves[role])).to_link()

    udp = transport == "udp"
    log = SpeakerLog()

    def make_speaker() -> RoomClient:
        config = ClientConfig(invite_for("speaker"), founder, "Speaker", create=True)
        config.datagrams = udp
        client = BenchClient(config, auth)

        def sent(packet: bytes) -> None:
            assert client.feed is not None
            log.sent(packet, client.feed.frames_read - 1)

        client.on_packet_sent.append(sent)
        return client

    speaker = ClientThread(net, leaves["speaker"], make_speaker)
    speaker.start()
    stage = ClientThread(
        net,
        leaves["stage"],
        lambda: _listener(invite_for("stage"), on_stage=True, datagrams=udp, auth=auth),
    )
    audience = ClientThread(
        net,
        leaves["audience"],
        lambda: _listener(invite_for("audience"), on_stage=False, datagrams=udp, auth=auth),
    )
    room = BenchRoom(transport, speaker, stage, audience, log)
    stage.start()
    audience.start()
    speaker.wait("saw both listeners", lambda c: len(c.room.members) == 3)
    speaker.do(lambda c: c.perform(Action("invite", target="Stage")))
    stage.wait("came on stage", lambda c: c.may_speak())
    if udp:
        for member in (speaker, stage):
            member.wait("had a datagram path", _datagrams_up)
    return room


def _datagrams_up(client: RoomClient) -> bool:
    media = client.session.datagrams
    return media is not None and media.path is not None and media.path.uses_datagrams


def start_relay(net: Network, state: Path) -> subprocess.Popen[bytes]:
    base = [sys.executable, "-m", "client", "relay", "--state-dir", str(state)]
    argv = [*base, "--listen", f"0.0.0.0:{RELAY_PORT}", "--udp-port", str(UDP_PORT)]
    return subprocess.Popen(
        net.command("hub", argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def relay_pin(state: Path) -> str:
    base = [sys.executable, "-m", "client", "relay", "--state-dir", str(state)]
    out = subprocess.run([*base, "--print-pin"], capture_output=True, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def wait_for_relay(net: Network, leaf: str, host: str) -> None:
    deadline = time.monotonic() + SETUP_TIMEOUT
    while time.monotonic() < deadline:
        if net.call(leaf, _can_connect, host):
            return
        time.sleep(0.1)
    raise CliError("bench network: the relay did not start")


def _can_connect(host: str) -> bool:
    try:
        with socket.create_connection((host, RELAY_PORT), timeout=0.5):
            return True
    except OSError:
        return False
