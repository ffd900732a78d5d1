"""A whole room client: session + room + audio + view, as one trio task.

:class:`RoomClient` is what every command runs (``join``, ``room create``,
``demo``, ``bot``) and what the integration tests drive.  It wires:

* a :class:`~client.session.ClientSession` (relay link, reconnects, timers,
  20 ms audio pacing) around the sans-IO ``RoomSession`` of ``e2ee.room``;
* room events -> :class:`~client.room_events.RoomEvents` (the view, one log
  line each, received audio into the
  :class:`~client.audio.receiver.RoomAudioReceiver`, one jitter stream per
  member id, ticked every 20 ms), whose :class:`~client.room_events.Outcome`
  this client then follows (stop, rejoin, a new invite, an automatic action);
* user :class:`~client.actions.Action` values -> room calls through
  :attr:`RoomClient.COMMANDS`, a table with one entry per
  :class:`~client.actions.Kind`;
* automatic behaviour a user expects: accept an invitation when asked to
  (``auto_accept``), raise a hand on admission (``raise_hand``), rejoin the
  room the founder's members are still in (``reopen``), and rejoin by itself
  when the chair dropped this client as absent while it was alive.

Room policy (who may leave, who is re-admitted without a person, who is
banned) is the room session's alone: the client asks it (``RoomSession``'s
``successor``, its automatic admission of known members, spec §13.4) and
keeps no copy.  Speakers and view handles are keyed by the whole member id
(:mod:`client.roster_view`).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import trio

from client import exits, roster_view
from client.actions import KINDS, LINE_HELP, Action, Kind
from client.audio.encoder import OpusFrameEncoder
from client.audio.format import Frame
from client.audio.jitter import JitterConfig
from client.audio.receiver import SPEAKING_THRESHOLD_DBFS, RoomAudioReceiver
from client.audio.sinks import FrameSink, RoomRecorder
from client.audio.sources import FrameSource
from client.audio_io import EncodedFeed, is_live, playout_loop
from client.audio_watch import GapReport, SlotWatch
from client.backoff import Backoff
from client.door import Door
from client.errors import CliError
from client.loss_exchange import LossExchange
from client.recording_mark import RecordingAnnouncer
from client.relay_connect import RelayConnector, link_connector, parse_invite
from client.room_entry import make_room, room_occupied
from client.room_events import Behaviour, Outcome, RoomEvents, removal_kind
from client.roster_view import handle_of, member_id_of
from client.session import ClientSession, Connect, Status
from client.view import Knock, RoomView
from e2ee.envelope import EnvelopeType, parse_loss
from e2ee.errors import HushroomError
from e2ee.identity import IdentityKey
from e2ee.room import events as ev
from e2ee.room.roster import RemoveReason, Role
from e2ee.room.session import RoomSession


@dataclass
class ClientConfig:
    """What one client does in the room (the command line's flags)."""

    invite: str
    identity: IdentityKey
    name: str
    create: bool = False
    reopen: bool = False
    """The founder coming back: rejoin the room if anyone is in it, else open it (create)."""
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


LOCAL_KINDS = frozenset({Kind.HELP, Kind.WHO, Kind.MUTE, Kind.UNMUTE, Kind.LEAVE})
"""Commands that need no admission: they are carried out at once, never queued."""


@dataclass(frozen=True)
class MemberCommand:
    """A moderator's command on one member: the room call and the line confirming it."""

    call: Callable[[RoomSession, bytes], None]
    done: str


MEMBER_COMMANDS: dict[Kind, MemberCommand] = {
    Kind.INVITE: MemberCommand(RoomSession.invite_to_speak, "invited {name} to speak"),
    Kind.AUDIENCE: MemberCommand(RoomSession.move_to_audience, "moved {name} to the audience"),
    Kind.ASKMUTE: MemberCommand(RoomSession.request_mute, "asked {name} to mute"),
    Kind.KICK: MemberCommand(RoomSession.kick, "removed {name} from the room"),
    Kind.BAN: MemberCommand(RoomSession.ban, "banned {name} from the room"),
    Kind.MODERATOR: MemberCommand(
        RoomSession.transfer_moderator, "handed the moderator role to {name}"
    ),
}


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
        self.invite = parse_invite(config.invite)
        self.view = RoomView(room_name=f"relay {self.invite.host}:{self.invite.port}")
        if config.create:
            self.view.invite = config.invite  # the moderator's own screen: to share it
        self.room = self._new_room(create=config.create)
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
        self._connect = connect or link_connector(self.invite)
        self.session = ClientSession(
            self.room,
            self._connect,
            on_event=self.event_received,
            on_status=self._on_status,
            backoff=backoff,
        )
        if self.feed is not None and not config.listen_only:
            self.session.feed = self._next_packet
        self.session.may_speak = self._may_speak
        if config.datagrams:
            self.session.datagram_host = self.invite.host
            self.session.datagrams_wanted = self.may_speak
        self.session.on_envelope = self._relay_notice
        self.relay_dropped_frames = 0
        self.resyncs = 0
        self.rejoins = 0
        self._last_heard = trio.current_time()
        """Times this client rejoined by itself after the chair dropped it as absent."""
        self.actions_send, self.actions_recv = trio.open_memory_channel[Action](64)
        self.events: deque[Any] = deque(maxlen=1000)
        """Recent room events other than audio (for tests and debugging)."""
        self.removed = False
        self.ended = False
        self.exit_code = exits.OK
        self.door = Door(config.admit_wait)
        self.shown = RoomEvents(
            self.view,
            self.receiver,
            self.log,
            Behaviour(config.listen_only, config.auto_accept, config.raise_hand),
        )
        """What this client shows of the room (view, names, speakers), event by event."""
        self._changed = trio.Event()
        self.on_room_event: list[Callable[[Any], None]] = []
        self.on_packet_sent: list[Callable[[bytes], None]] = []
        """Called with each Opus packet before it is encrypted (the demo's leak check)."""
        self.receiver.mixer.volume = self._local_volume
        self.recording_mark = RecordingAnnouncer(self.room, self.session.act)
        if config.record is not None:
            self.on_room_event.append(self.recording_mark)
        self.loss = LossExchange(
            lambda: self.room, self.session.act, self._encoder, follow=config.datagrams
        )
        self.on_room_event.append(self.loss)

    def _new_room(self, *, create: bool) -> RoomSession:
        return make_room(
            self.config.identity,
            self.invite,
            self.config.name,
            create=create,
            policy=self.config.policy,
            rng=secrets.token_bytes,
            now=trio.current_time(),
        )

    def _replace_room(self, room: RoomSession) -> None:
        """Go on with a new room session (same identity) on a fresh relay link."""
        self.room = room
        self.session.room = room
        self.recording_mark.room = room
        self.session.reset_link("rejoining the room")

    def _local_volume(self, speaker: bytes) -> float:
        """This listener's volume for a speaker (keyed by member id; the view's ``+ - s``)."""
        return self.view.volume_of(handle_of(speaker))

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

    # -- queries ---------------------------------------------------------------------
    def may_speak(self) -> bool:
        """The room lets this client speak now (a member on stage)."""
        role = self.room.role
        return self.room.state == "member" and role is not None and role.on_stage

    def safety_code(self) -> str:
        return roster_view.safety_code(self.room)

    def name_of(self, member_id: bytes) -> str:
        member = self.room.members.get(member_id)
        return member.display_name if member is not None else "someone"

    @property
    def names(self) -> dict[bytes, str]:
        """Display names of members seen in the roster (dropped when they leave)."""
        return self.shown.names

    @property
    def last_packet(self) -> bytes | None:
        """The last Opus packet received (the join bench decodes it)."""
        return self.shown.last_packet

    def removal_kind(self, reason: RemoveReason) -> str:
        """Why this client is out (see :func:`client.room_events.removal_kind`)."""
        return removal_kind(self.room, reason, self.ended)

    # -- audio -----------------------------------------------------------------------
    def _may_speak(self) -> bool:
        return (
            not self.config.listen_only
            and self.view.transmitting()
            and not self.removed
            and self.may_speak()
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

    def _encoder(self) -> OpusFrameEncoder | None:
        return self.feed.encoder if self.feed is not None else None

    def _after_tick(self, _mixed: Frame, now: float) -> None:
        """Speaking indicators: who was heard above the speech threshold this tick."""
        for active in self.receiver.active_speakers():
            self.view.audio_from(handle_of(active.speaker_id), now)

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

    def stop_recording(self) -> None:
        """Close the WAV file(s) now; the room keeps playing (if there is an output)."""
        recorder = self.receiver.recorder
        self.receiver.recorder = None
        if recorder is not None:
            recorder.close()
            self.recording_mark.announce(False)

    def frames_from(self, name: str) -> int:
        """Audio frames received so far from the member(s) called ``name``."""
        return self.shown.frames_by_name[name]

    def _relay_notice(self, envelope: Any) -> None:
        """Every envelope from the relay: the door's answer, and audio the relay dropped."""
        self._last_heard = trio.current_time()
        if envelope.type == EnvelopeType.UNICAST and self.room.state == "joining":
            self.door.answered()
        if envelope.type == EnvelopeType.LOSS:
            frames, _nbytes = parse_loss(envelope)
            self.relay_dropped_frames += frames
            self.log(f"audio dropped: the relay skipped {frames} frames (slow link)")

    async def _slot_watchdog(self, every: float = 1.0) -> None:
        """Re-synchronise (reconnect) when audio keeps coming from slots we cannot place."""
        watch = SlotWatch(self.room.counters)
        while True:
            await trio.sleep(every)
            if watch.stuck(self.room.counters):
                self.log("audio arrives from a speaker this client cannot place; re-synchronising")
                self.resyncs += 1
                self.session.reset_link("re-synchronising slots")

    async def _audio_health_loop(self, every: float = 5.0) -> None:
        """Every few seconds, one status line per speaker whose audio had gaps."""
        report = GapReport()
        while True:
            await trio.sleep(every)
            for line in report.lines(self.receiver, self.names):
                self.log(line)

    # -- session callbacks -------------------------------------------------------------
    def _on_status(self, status: Status) -> None:
        """Link status: one line per outage, not one per retry (the view shows the latest)."""
        before = self.view.connection
        self.view.connection = status.kind
        if status.kind == "connected" and self.config.datagrams:
            if isinstance(self._connect, RelayConnector) and self._connect.current is not None:
                self.session.datagram_host = self._connect.current[0]  # that node (§6.2.1)
        if status.kind == "reconnecting":
            self._rejoin_if_away_too_long()
        self.view.link_detail = status.message if status.kind == "reconnecting" else ""
        if status.kind == "reconnecting" and before != "reconnecting":
            self.log(f"{status.message} (further retries update the status line)")
        elif status.kind == "connected" and before == "reconnecting":
            self.log("reconnected to the relay")
        elif status.kind not in ("connecting", "reconnecting"):
            self.log(status.message)
        self._notify()

    def event_received(self, event: ev.Event) -> None:
        """Apply one room event (the session calls this for each, in order)."""
        if not isinstance(event, ev.AudioReceived):
            self.events.append(event)
        now = trio.current_time()
        self._follow(self.shown.apply(self.room, event, now, leaving=self.ended))
        for hook in list(self.on_room_event):
            hook(event)
        if isinstance(event, ev.Admitted):
            self.door.admitted()
            for action in self.door.take_queued():
                self.perform(action)
        self._notify()

    # -- following what room events ask for ---------------------------------------------
    def _follow(self, outcome: Outcome) -> None:
        if outcome.exit_code is not None:
            self.removed = True
            self.exit_code = outcome.exit_code
        if outcome.ended:
            self.ended = True
        if outcome.room_secret is not None:
            self.invite = self.invite.rotated(outcome.room_secret)
            link = self.invite.to_link()
            if self.view.invite:
                self.view.invite = link
            # the new link is shown to this user only (their own screen or stream)
            self.log(f"the room has a new invite link (the old one no longer reaches it): {link}")
        if outcome.rejoin:
            self._rejoin_after_drop()
        for action in outcome.actions:
            self.perform(action)

    def _rejoin_if_away_too_long(self) -> None:
        """Link lost after hearing nothing for longer than the chair waits for an absent
        member (spec §16.4): it has removed us, and nothing on the new link would say so.

        Rejoin on a fresh session key instead: the chair re-admits a known identity
        without a person, and if we were still a member it swaps the session (§13.4).
        A moderator never does this: it is the one who admits.
        """
        away = trio.current_time() - self._last_heard
        room = self.room
        if room.state != "member" or room.role is Role.MODERATOR:
            return
        if away <= room.config.absent_timeout:
            return
        self.rejoins += 1
        self._last_heard = trio.current_time()
        self.log(
            f"nothing heard from the room for {away:.0f} s, longer than it keeps an absent "
            "member; rejoining"
        )
        self.room = self.session.room = self._new_room(create=False)

    def _rejoin_after_drop(self) -> None:
        """The chair removed us as absent (spec §16.4) while we are alive: knock again.

        The identity is known to the chair, so it is re-admitted without a
        person (spec §13.4) on a fresh session key.
        """
        self.rejoins += 1
        self._replace_room(self._new_room(create=False))

    # -- actions (the COMMANDS table) ----------------------------------------------------
    def perform(self, action: Action) -> None:
        """Carry out one user action; a user mistake or a refusal is one log line."""
        if action.kind not in KINDS:
            self.log(f"unknown command {action.kind!r}; {LINE_HELP}")
            return
        kind = Kind(action.kind)
        try:
            self.COMMANDS[kind](self, action)
        except HushroomError as exc:
            self.log(f"{kind}: {exc}")
        except CliError as exc:
            self.log(str(exc))
        self._notify()

    def _act(self, call: Callable[..., None], *args: Any) -> None:
        self.session.act(call, *args)

    def _do_hand(self, _action: Action) -> None:
        self._act(self.room.raise_hand)

    def _do_lower(self, _action: Action) -> None:
        self._act(self.room.lower_hand)

    def _do_accept(self, _action: Action) -> None:
        if self.config.listen_only:
            if self.view.invited_to_speak:
                self._do_decline(_action)
            raise CliError("--listen-only: this client does not speak; invitations are declined")
        self.view.invited_to_speak = False
        self._act(self.room.accept_invitation)

    def _do_decline(self, _action: Action) -> None:
        self.view.invited_to_speak = False
        self._act(self.room.decline_invitation)

    def _do_mute(self, _action: Action) -> None:
        self.view.self_muted = True
        self.log("muted")

    def _do_unmute(self, _action: Action) -> None:
        self.view.self_muted = False
        self.log("unmuted")

    def _do_help(self, _action: Action) -> None:
        self.log(LINE_HELP)

    def _do_who(self, _action: Action) -> None:
        self.log(self.view.who())

    def _do_chat(self, action: Action) -> None:
        self._act(self.room.send_chat, action.text or "")
        self.view.add_chat(f"{self.config.name} (you): {action.text}")

    def _do_leave(self, action: Action) -> None:
        room = self.room
        if room.state != "member":
            self.log("stopped waiting at the door")
        elif room.successor is not None and action.target == "anyway":
            self._leave_to_deputy()
        elif room.successor is not None:
            view, name = self.view, self.name_of(room.successor)
            raise CliError(
                f"you are the last moderator: hand over to {name} "
                f"({view.hint('o', 'moderator ' + name)}), end the room "
                f"({view.hint('e', 'end')}), or leave it without a moderator "
                f"({view.hint('l', 'leave anyway')})?"
            )
        else:
            self._act(room.leave)
        self.ended = True

    def _leave_to_deputy(self) -> None:
        """The last moderator leaves on purpose: the deputy takes the chair (spec §12.2)."""
        room, deputy = self.room, self.room.deputy
        if deputy is None:  # nobody named yet: the room waits for a moderator to rejoin
            self.log("leaving without a moderator: nobody can admit or re-key until one rejoins")
            return
        self.log(f"leaving without a moderator: {self.name_of(deputy)} takes the chair")
        self._act(lambda: room.leave(to_deputy=True))

    def _do_end(self, _action: Action) -> None:
        self._act(self.room.end_room)
        self.ended = True

    def _knock(self, action: Action) -> Knock:
        knocks = self.view.knocks
        knock = next((k for k in knocks if action.target in (None, k.handle, k.name)), None)
        if knock is None:
            raise CliError("nobody is knocking")
        self.view.knocks = [k for k in knocks if k is not knock]
        return knock

    def _do_approve(self, action: Action) -> None:
        self._act(self.room.approve, member_id_of(self._knock(action).handle))

    def _do_deny(self, action: Action) -> None:
        self._act(self.room.deny, member_id_of(self._knock(action).handle))

    def _target(self, action: Action) -> bytes:
        if action.target is None:
            raise CliError(f"'{action.kind}' needs a member")
        member = self.view.find(action.target)
        if member is None:
            raise CliError(f"no member called {action.target!r}")
        member_id = member_id_of(member.handle)
        if member_id not in self.room.members:
            raise CliError(f"{action.target!r} is no longer in the room")
        return member_id

    def _do_member_command(self, action: Action) -> None:
        command = MEMBER_COMMANDS[Kind(action.kind)]
        target = self._target(action)
        self._act(command.call, self.room, target)
        self.log(command.done.format(name=self.names.get(target, "them")))

    COMMANDS: ClassVar[dict[Kind, Callable[[RoomClient, Action], None]]] = {
        Kind.HAND: _do_hand,
        Kind.LOWER: _do_lower,
        Kind.ACCEPT: _do_accept,
        Kind.DECLINE: _do_decline,
        Kind.MUTE: _do_mute,
        Kind.UNMUTE: _do_unmute,
        Kind.HELP: _do_help,
        Kind.WHO: _do_who,
        Kind.CHAT: _do_chat,
        Kind.LEAVE: _do_leave,
        Kind.END: _do_end,
        Kind.APPROVE: _do_approve,
        Kind.DENY: _do_deny,
        Kind.INVITE: _do_member_command,
        Kind.AUDIENCE: _do_member_command,
        Kind.ASKMUTE: _do_member_command,
        Kind.KICK: _do_member_command,
        Kind.BAN: _do_member_command,
        Kind.MODERATOR: _do_member_command,
    }
    """What each command does: one entry per :class:`~client.actions.Kind`."""

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
        if self.config.reopen:
            self.log(
                f"no moderator answered in {self.config.admit_wait:g} s: the room's members "
                "are still in it, but none of its moderators is; it goes on without one "
                "(hand over before leaving next time)"
            )
        else:
            self.log(
                f"no moderator answered in {self.config.admit_wait:g} s: the room has ended "
                "or nobody has opened it yet"
            )
        self.ended = True
        self._notify()

    # -- lifecycle -------------------------------------------------------------------------
    async def _choose_entry(self) -> None:
        """The founder coming back: rejoin the room if anyone is in it, else open it."""
        if await room_occupied(self._connect, self.invite):
            self.log("the room is open: rejoining it (a moderator admits you)")
            return
        self.log("nobody is in the room: opening it as its founder")
        self.room = self.session.room = self._new_room(create=True)
        self.view.invite = self.config.invite

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, join or create the room, and run until leaving, removal or the end."""
        try:
            if self.config.reopen:
                await self._choose_entry()
            async with trio.open_nursery() as nursery:
                await nursery.start(self.session.run)
                nursery.start_soon(playout_loop, self.receiver, self._after_tick)
                nursery.start_soon(self._audio_health_loop)
                nursery.start_soon(self.loss.run)
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

    def leave(self, anyway: bool = False) -> None:
        """Leave the room (say goodbye, then stop); ``anyway``: as the last moderator
        too, leaving the chair to the deputy (``leave anyway``, spec §12.2)."""
        self.perform(Action(Kind.LEAVE, "anyway" if anyway else None))
