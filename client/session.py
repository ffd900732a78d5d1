"""The trio client session: one relay link, one sans-IO room, audio in and out.

:class:`ClientSession` owns the I/O around a sans-IO room session (the
``RoomSession`` of ``e2ee.room``): it connects to the relay, feeds every
received envelope into the room, writes whatever the room wants sent, runs the
room's timers on trio's clock, paces outgoing audio at one frame per 20 ms and
hands received audio to the playout pipeline.  When the link drops or the
relay restarts it reconnects by itself with jittered exponential back-off and
calls ``link_reset`` so the room re-announces itself; it reports each step as a
:class:`Status` event.

Everything is structured: :meth:`ClientSession.run` is started in the
caller's nursery with ``await nursery.start(session.run)`` and returns when the
session is closed or the room ends.  It uses only trio's clock, so tests drive
it with ``MockClock``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from client.backoff import Backoff
from client.datagram_path import DatagramMedia
from e2ee.errors import HushroomError

FRAME_SECONDS = 0.020
OUTBOX_LIMIT = 4 * 1024 * 1024  # bytes queued while the link is slow; beyond that we drop


class Link(Protocol):
    """An established, authenticated byte stream to the relay."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> list[Any]:
        """The next envelopes from the relay (at least one); raises when the link ends."""
        ...

    async def aclose(self) -> None: ...


class Room(Protocol):
    """What the session needs from the sans-IO room session (``e2ee.room``)."""

    def envelope_received(self, envelope: Any, now: float) -> None: ...

    def data_to_send(self) -> bytes: ...

    def next_event(self) -> Any: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def link_reset(self, now: float) -> None: ...

    def send_audio(self, opus: bytes, now: float) -> None: ...


Connect = Callable[[], Awaitable[Link]]

PacketFeed = Callable[[], bytes | None]
"""Returns the next Opus packet to send (one 20 ms frame), or ``None`` for none."""


@dataclass(frozen=True)
class Status:
    """A session status change, for the status line (``kind`` is a short word)."""

    kind: str  # connecting | connected | reconnecting | disconnected | error | closed
    message: str


class LinkFailed(Exception):
    """A connection attempt failed in a way worth retrying (relay down, reset)."""


class ClientSession:
    """Drive one room over one (re)connecting relay link.

    ``connect`` opens a fresh link (it raises :class:`LinkFailed` or ``OSError``
    when the relay is unreachable; any other exception is fatal and ends the
    session).  Before the first link is up, ``first_attempts`` failures end the
    session with the last error (a relay that is down, a wrong address); once
    connected, the session retries for ever.  The link raises
    :class:`LinkFailed` (or ``OSError``) when it ends.  ``on_event`` receives every room
    event synchronously, in order; ``on_status`` receives :class:`Status` changes.
    """

    def __init__(
        self,
        room: Room,
        connect: Connect,
        *,
        on_event: Callable[[Any], None] | None = None,
        on_status: Callable[[Status], None] | None = None,
        backoff: Backoff | None = None,
        first_attempts: int = 3,
    ) -> None:
        self.room = room
        self._connect = connect
        self._listeners: list[Callable[[Any], None]] = [on_event] if on_event else []
        self._status_listeners: list[Callable[[Status], None]] = [on_status] if on_status else []
        self._backoff = backoff or Backoff(uniform=random.random)
        self._first_attempts = first_attempts
        self._outbox = bytearray()
        self._outbox_ready = trio.Event()
        self._timer_changed = trio.Event()
        self._link: Link | None = None
        self._closing = False
        self._cancel: trio.CancelScope | None = None
        self._link_scope: trio.CancelScope | None = None
        self._reset_reason: str | None = None
        self.connected = trio.Event()
        self.reconnects = 0
        self.dropped_bytes = 0
        self.sent_bytes = 0
        self.feed: PacketFeed | None = None
        self.on_envelope: Callable[[Any], None] | None = None
        """Sees every envelope from the relay before the room does (relay notices)."""
        self.may_speak: Callable[[], bool] = lambda: True
        self.frames_sent = 0
        self.frames_refused = 0
        self.envelopes_refused = 0
        self.datagram_host: str | None = None
        """Set to the relay's host to offer a datagram media channel on every link (spec §23)."""
        self.datagrams_wanted: Callable[[], bool] = lambda: True
        """Offer the channel only once this holds (on stage, spec §23.2)."""
        self.datagrams: DatagramMedia | None = None

    # -- listeners -----------------------------------------------------------
    def _status(self, kind: str, message: str) -> None:
        status = Status(kind, message)
        for listener in list(self._status_listeners):
            listener(status)

    # -- talking to the sans-IO room ---------------------------------------------
    def now(self) -> float:
        return trio.current_time()

    def act(self, action: Callable[..., Any], *args: Any) -> Any:
        """Call a room method (an action such as ``raise_hand``) and flush its effects.

        Every call into the room goes through here or :meth:`pump`, so the bytes
        it produces are queued and its events dispatched at once.
        """
        result = action(*args)
        self.pump()
        return result

    def pump(self) -> None:
        """Queue the room's outgoing bytes, dispatch its events, re-arm its timer."""
        data = self.room.data_to_send()
        if data and self.datagrams is not None:
            data = self.datagrams.divert(data)
        if data:
            self._queue(data)
        while True:
            event = self.room.next_event()
            if event is None:
                break
            for listener in list(self._listeners):
                listener(event)
        self._timer_changed.set()

    def _queue(self, data: bytes) -> None:
        # While disconnected this keeps accumulating; a reconnect clears it and
        # link_reset() makes the room re-send what a fresh link needs.  Before
        # the first link it holds the room's opening bytes.
        if len(self._outbox) + len(data) > OUTBOX_LIMIT:
            self.dropped_bytes += len(data)
            return
        self._outbox += data
        self._outbox_ready.set()

    def reset_link(self, reason: str) -> None:
        """Drop the current link on purpose; the session reconnects as after a failure."""
        if self._link_scope is not None:
            self._reset_reason = reason
            self._link_scope.cancel()

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        """Stop the session (after the caller has let the room say goodbye)."""
        self._closing = True
        if self._cancel is not None:
            self._cancel.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, run until closed; ``started()`` once the first link is up.

        Raises the connect error if the very first attempt fails with a fatal
        error (wrong pin, bad address); retries transient failures.
        """
        failure: Exception | None = None
        with trio.CancelScope() as scope:
            self._cancel = scope
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._timer_loop)
                nursery.start_soon(self._audio_send_loop)
                try:
                    await self._connection_loop(task_status)
                except Exception as exc:  # re-raised below, unwrapped from the nursery
                    failure = exc
                nursery.cancel_scope.cancel()
        self._link = None
        if failure is not None:
            raise failure
        self._status("closed", "left the room")

    async def _connection_loop(self, task_status: trio.TaskStatus[None]) -> None:
        first = True
        attempts = 0
        while not self._closing:
            self._status("connecting" if first else "reconnecting", "connecting to the relay")
            try:
                link = await self._connect()
            except (LinkFailed, OSError) as exc:
                attempts += 1
                if first and attempts >= self._first_attempts:
                    raise  # never connected: the relay is down or the address wrong
                delay = self._backoff.next_delay()
                self._status("reconnecting", f"relay unreachable ({exc}); retry in {delay:.1f}s")
                await trio.sleep(delay)
                continue
            attempts = 0
            self._backoff.reset()
            self._link = link
            if not first:
                self._outbox.clear()
                self.reconnects += 1
                self.room.link_reset(self.now())
            self.pump()
            if self._outbox:
                self._outbox_ready.set()
            self._status("connected", "connected to the relay")
            self.connected.set()
            if first:
                first = False
                task_status.started()
            reason = await self._serve_link(link)
            self._link = None
            self.connected = trio.Event()
            with trio.CancelScope(shield=True):
                with trio.move_on_after(1):
                    try:
                        await link.aclose()
                    except Exception:  # noqa: S110 - the link is already broken
                        pass
            if self._closing:
                break
            delay = self._backoff.next_delay()
            self._status("reconnecting", f"link lost ({reason}); reconnecting in {delay:.1f}s")
            await trio.sleep(delay)

    async def _serve_link(self, link: Link) -> str:
        """Run the reader and writer of one link until it fails; returns why."""
        reason = "closed by the relay"
        async with trio.open_nursery() as nursery:
            self._link_scope = nursery.cancel_scope
            self._reset_reason = None

            async def reader() -> None:
                nonlocal reason
                try:
                    while True:
                        for envelope in await link.receive():
                            if self.datagrams is not None and self.datagrams.intercept(envelope):
                                continue
                            if self.on_envelope is not None:
                                self.on_envelope(envelope)
                            try:
                                self.room.envelope_received(envelope, self.now())
                            except HushroomError:
                                # Bytes from the network never stop the session:
                                # the room refused this envelope; count it.
                                self.envelopes_refused += 1
                        self.pump()
                except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    reason = str(exc) or type(exc).__name__
                except LinkFailed as exc:
                    reason = str(exc)
                nursery.cancel_scope.cancel()

            async def writer() -> None:
                nonlocal reason
                try:
                    while True:
                        await self._outbox_ready.wait()
                        self._outbox_ready = trio.Event()
                        if not self._outbox:
                            continue
                        chunk = bytes(self._outbox)
                        self._outbox.clear()
                        await link.send(chunk)
                        self.sent_bytes += len(chunk)
                except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    reason = str(exc) or type(exc).__name__
                except LinkFailed as exc:
                    reason = str(exc)
                nursery.cancel_scope.cancel()

            nursery.start_soon(reader)
            nursery.start_soon(writer)
            if self.datagram_host is not None:
                self.datagrams = DatagramMedia(
                    self.datagram_host,
                    self._from_datagram,
                    send_link=self._queue,
                    wanted=self.datagrams_wanted,
                )
                nursery.start_soon(self.datagrams.run)
        self.datagrams = None
        self._link_scope = None
        return self._reset_reason or reason

    def _from_datagram(self, envelope: Any) -> None:
        """MEDIA that came by datagram: into the room as if from the link (spec §23.4)."""
        try:
            self.room.envelope_received(envelope, self.now())
        except HushroomError:
            self.envelopes_refused += 1
        self.pump()

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.room.get_timer()
            self._timer_changed = trio.Event()
            with trio.move_on_at(deadline if deadline is not None else math.inf):
                await self._timer_changed.wait()
                continue
            self.room.handle_timer(self.now())
            self.pump()

    async def _audio_send_loop(self) -> None:
        """One packet every 20 ms on trio's clock while we may speak and are linked."""
        next_tick = trio.current_time()
        while True:
            next_tick += FRAME_SECONDS
            now = trio.current_time()
            if next_tick < now - 0.2:  # fell far behind (suspended?): do not burst
                next_tick = now
            await trio.sleep_until(next_tick)
            feed = self.feed
            if feed is None or self._link is None or not self.may_speak():
                continue
            packet = feed()
            if packet is None:
                continue
            try:
                self.room.send_audio(packet, self.now())
            except HushroomError:
                # The room changed under us (moved off stage, removed, ended)
                # between the check above and now: drop this frame.
                self.frames_refused += 1
            else:
                self.frames_sent += 1
            self.pump()
