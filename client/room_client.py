"""A whole room client: session + room protocol + audio + view, as one trio task.

:class:`RoomClient` is what every command runs (``join``, ``room create``,
``demo``, ``bot``) and what the integration tests drive.  It wires:

* a :class:`~client.session.ClientSession` (relay link, reconnects, timers,
  20 ms audio pacing) around the sans-IO room of ``e2ee.room``;
* room events -> the :class:`~client.view.RoomView`, one log line each, and
  received audio -> :class:`~client.audio.receiver.RoomAudioReceiver`
  (jitter buffer, PLC/FEC, mixer, WAV sink) ticked every 20 ms;
* user :class:`~client.actions.Action` values -> room actions;
* automatic behaviour a user expects: accept an invitation when asked to
  (``auto_accept``), raise a hand on admission (``raise_hand``), and as a
  moderator re-admit a known member after a reconnect (policy ``knock``)
  unless they were removed.

Protocol specifics (event and method names of ``e2ee.room``) live in
:mod:`client.room_protocol`; this module only orchestrates.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from client import exits
from client import room_protocol as rp
from client.actions import Action
from client.audio.format import Frame
from client.audio.jitter import JitterConfig
from client.audio.receiver import SPEAKING_THRESHOLD_DBFS, RoomAudioReceiver
from client.audio.sinks import FrameSink, RoomRecorder
from client.audio.sources import FrameSource
from client.audio_io import EncodedFeed, is_live, playout_loop
from client.backoff import Backoff
from client.door import Door
from client.errors import CliError
from client.session import ClientSession, Connect, Status
from client.view import RoomView
from e2ee.envelope import EnvelopeType, parse_loss
from e2ee.identity import IdentityKey
from e2ee.room.events import Admitted, AudioReceived


@dataclass
class ClientConfig:
    """What one client does in the room (the command line's flags)."""

    invite: str
    identity: IdentityKey
    name: str
    create: bool = False
    policy: str = "open"
    source: FrameSource | None = None
    record: Path | None = None
    record_speakers_dir: Path | None = None
    output: FrameSink | None = None
    """Where the room mix is played (the speakers), if anywhere."""
    jitter: JitterConfig | None = None
    """Playout buffer settings (default: the audio pipeline's, 60 ms adaptive)."""
    listen_only: bool = False
    auto_accept: bool = False
    raise_hand: bool = False
    admit_wait: float = 15.0
    """Give up when no moderator answers the knock within this many seconds."""
    datagrams: bool = False
    """Offer the relay a datagram media channel on every link (spec §23)."""


LOCAL_KINDS = frozenset({"help", "who", "mute", "unmute", "leave"})
"""Commands that need no admission: they are carried out at once, never queued."""


@dataclass
class AudioStats:
    """Received audio, per member handle (what the tests and the bench read)."""

    frames: dict[str, int] = field(default_factory=dict)
    frames_by_name: dict[str, int] = field(default_factory=dict)
    first_frame_at: float | None = None
    last_frame_at: dict[str, float] = field(default_factory=dict)


class RoomClient:
    """One participant.  Start with ``await nursery.start(client.run)``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        connect: Connect | None = None,
        log: Callable[[str], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.invite = rp.parse_invite(config.invite)
        self.view = RoomView(room_name=f"relay {self.invite.host}:{self.invite.port}")
        if config.create:
            self.view.invite = config.invite  # the moderator's own screen: to share it
        self.room = rp.make_room(
            config.identity,
            self.invite,
            config.name,
            create=config.create,
            policy=config.policy,
            rng=secrets.token_bytes,
            now=trio.current_time(),
        )
        self._log = log or (lambda line: None)
        self.receiver = RoomAudioReceiver(
            jitter=config.jitter,
            recorder=RoomRecorder(config.record, config.record_speakers_dir)
            if config.record
            else None,
            output=config.output,
        )
        self.feed = (
            EncodedFeed(config.source, stop_at_end=not is_live(config.source))
            if config.source is not None
            else None
        )
        self.last_packet: bytes | None = None
        self.session = ClientSession(
            self.room,
            connect or rp.default_connect(self.invite),
            on_event=self._on_event,
            on_status=self._on_status,
            backoff=backoff,
        )
        if self.feed is not None and not config.listen_only:
            self.session.feed = self._next_packet
        self.session.may_speak = self._may_speak
        if config.datagrams:
            self.session.datagram_host = self.invite.host
            self.session.datagrams_wanted = lambda: rp.may_speak(self.room)
        self.session.on_envelope = self._relay_notice
        self.relay_dropped_frames = 0
        self.resyncs = 0
        self.actions_send, self.actions_recv = trio.open_memory_channel[Action](64)
        self.audio = AudioStats()
        self.events: deque[Any] = deque(maxlen=1000)
        """Recent room events other than audio (for tests and debugging)."""
        self.removed = False
        self.ended = False
        self.exit_code = exits.OK
        self.names: dict[bytes, str] = {}
        """Display names of members seen in the roster (dropped when they leave)."""
        self.door = Door(config.admit_wait)
        self.known_members: set[bytes] = set()
        self.pending_requests: dict[str, bytes] = {}
        self.hand_raised_once = False
        self.banned: set[bytes] = set()
        self._changed = trio.Event()
        self.on_room_event: list[Callable[[Any], None]] = []
        self.on_packet_sent: list[Callable[[bytes], None]] = []
        """Called with each Opus packet before it is encrypted (the demo's leak check)."""

    # -- logging and waiting ------------------------------------------------------
    def log(self, line: str) -> None:
        self._log(line)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds (re-checked after every event or status)."""
        while not predicate():
            await self._changed.wait()

    # -- audio -----------------------------------------------------------------------
    def _may_speak(self) -> bool:
        return (
            not self.config.listen_only
            and not self.view.self_muted
            and not self.removed
            and rp.may_speak(self.room)
        )

    def speak(self, source: FrameSource, *, stop_at_end: bool = True) -> None:
        """Speak from ``source`` from now on (when allowed on stage), replacing any other.

        With ``stop_at_end=False`` a source that has nothing now (returns
        ``None``) is asked again on the next tick (the bot's greeting queue).
        """
        if self.feed is not None:
            self.feed.close()
        self.feed = EncodedFeed(source, stop_at_end=stop_at_end)
        self.session.feed = self._next_packet

    def _after_tick(self, _mixed: Frame, now: float) -> None:
        """Speaking indicators: who was heard above the speech threshold this tick."""
        for active in self.receiver.active_speakers():
            self.view.audio_from(str(active.speaker_id), now)

    def _next_packet(self) -> bytes | None:
        assert self.feed is not None
        packet = self.feed()
        if packet is not None and self.feed.last_dbfs > SPEAKING_THRESHOLD_DBFS:
            me = self.view.me()
            if me is not None:
                self.view.audio_from(me.handle, trio.current_time())
        if packet is not None:
            for hook in self.on_packet_sent:
                hook(packet)
        return packet

    def _audio_received(self, handle: str, seq: int, opus: bytes) -> None:
        now = trio.current_time()
        self.last_packet = opus
        self.receiver.push(handle, seq, opus, now)
        self.audio.frames[handle] = self.audio.frames.get(handle, 0) + 1
        member = self.view.members.get(handle)
        if member is not None:
            by_name = self.audio.frames_by_name
            by_name[member.name] = by_name.get(member.name, 0) + 1
        self.audio.last_frame_at[handle] = now
        if self.audio.first_frame_at is None:
            self.audio.first_frame_at = now

    def stop_recording(self) -> None:
        """Close the WAV file(s) now; the room keeps playing (if there is an output)."""
        recorder = self.receiver.recorder
        self.receiver.recorder = None
        if recorder is not None:
            recorder.close()

    def frames_from(self, name: str) -> int:
        """Audio frames received so far from the member(s) called ``name``."""
        return self.audio.frames_by_name.get(name, 0)

    def _relay_notice(self, envelope: Any) -> None:
        """The relay tells us it dropped audio for us (our link was too slow)."""
        if envelope.type == EnvelopeType.UNICAST and self.room.state == "joining":
            self.door.answered()
        if envelope.type == EnvelopeType.LOSS:
            frames, _nbytes = parse_loss(envelope)
            self.relay_dropped_frames += frames
            self.log(f"audio dropped: the relay skipped {frames} frames (slow link)")

    async def _slot_watchdog(self, every: float = 1.0) -> None:
        """Re-synchronise when audio keeps arriving from a slot the room cannot place.

        After a relay restart every member gets a new slot; the room learns
        them from announcements.  If one was missed, frames from a speaker
        are refused as "unknown slot" for good.  When that goes on for a
        whole second with no audio decrypted, reconnect: the fresh
        announcement makes a moderator send the current slot table.
        """
        last_rejected = self.room.counters["audio_rejected_unknown_slot"]
        last_received = self.room.counters["audio_received"]
        while True:
            await trio.sleep(every)
            rejected = self.room.counters["audio_rejected_unknown_slot"]
            received = self.room.counters["audio_received"]
            if rejected - last_rejected >= 25 and received == last_received:
                self.log("audio arrives from a speaker this client cannot place; re-synchronising")
                self.resyncs += 1
                self.session.reset_link("re-synchronising slots")
            last_rejected, last_received = rejected, received

    async def _audio_health_loop(self, every: float = 5.0) -> None:
        """Every few seconds, one status line per speaker whose audio had gaps."""
        concealed: dict[Any, int] = {}
        while True:
            await trio.sleep(every)
            for speaker in self.receiver.speakers:
                now = self.receiver.decode_stats(speaker).concealed
                lost = now - concealed.get(speaker, 0)
                concealed[speaker] = now
                member = self.view.members.get(str(speaker))
                if lost >= 15 and member is not None:  # a talk spurt ends with ~8
                    self.log(f"audio from {member.name}: {lost} frames lost and concealed")

    # -- session callbacks -------------------------------------------------------------
    def _on_status(self, status: Status) -> None:
        """Link status: one line per outage, not one per retry (the view shows the latest)."""
        before = self.view.connection
        self.view.connection = status.kind
        self.view.link_detail = status.message if status.kind == "reconnecting" else ""
        if status.kind == "reconnecting" and before != "reconnecting":
            self.log(f"{status.message} (further retries update the status line)")
        elif status.kind == "connected" and before == "reconnecting":
            self.log("reconnected to the relay")
        elif status.kind not in ("connecting", "reconnecting"):
            self.log(status.message)
        self._notify()

    def _on_event(self, event: Any) -> None:
        if not isinstance(event, AudioReceived):
            self.events.append(event)
        rp.apply_event(self, event)
        for hook in list(self.on_room_event):
            hook(event)
        if isinstance(event, Admitted):
            self.door.admitted()
            for action in self.door.take_queued():
                self.perform(action)
        self._notify()

    # -- actions -------------------------------------------------------------------------
    def perform(self, action: Action) -> None:
        """Carry out one user action; a user mistake is logged, never raised."""
        try:
            rp.perform(self, action)
        except CliError as exc:
            self.log(str(exc))
        self._notify()

    async def _action_loop(self) -> None:
        async for action in self.actions_recv:
            if self.room.state == "joining" and action.kind not in LOCAL_KINDS:
                self.log(self.door.queue(action))
                self._notify()
                continue
            self.perform(action)
            if self.ended:
                return

    async def _door_loop(self) -> None:
        """Say that we wait to be admitted; give up when no moderator answers (exit 5)."""
        await self.session.connected.wait()
        if self.room.state != "joining":
            return
        self.log("waiting for a moderator to admit you…")
        self._notify()
        if await self.door.wait_for_answer():
            return
        self.exit_code = exits.NOT_ADMITTED
        self.log(
            f"no moderator answered in {self.config.admit_wait:g} s: the room has ended "
            "or nobody has opened it yet"
        )
        self.ended = True
        self._notify()

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, join or create the room, and run until leaving, removal or the end."""
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.session.run)
                nursery.start_soon(playout_loop, self.receiver, self._after_tick)
                nursery.start_soon(self._audio_health_loop)
                nursery.start_soon(self._slot_watchdog)
                nursery.start_soon(self._watch_for_exit, nursery.cancel_scope)
                nursery.start_soon(self._action_loop)
                nursery.start_soon(self._door_loop)
                task_status.started()
        finally:
            self.receiver.close()
            if self.feed is not None:
                self.feed.close()

    async def _watch_for_exit(self, scope: trio.CancelScope) -> None:
        await self.wait_until(
            lambda: self.ended or self.removed or self.view.connection == "closed"
        )
        await trio.sleep(0.2)  # let the last bytes (a goodbye, a final commit) go out
        self.session.close()
        scope.cancel()

    def leave(self) -> None:
        """Leave the room (say goodbye, then stop)."""
        self.perform(Action("leave"))
