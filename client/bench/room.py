"""``hushroom bench room``: an in-memory room of N members (spec §12–§16, no network).

Every member is a real :class:`e2ee.room.RoomSession`, and they meet through
the real relay router (:class:`relay.router.Router`, spec §17: slots, delivery
classes, PEER_JOINED to the stage only) with an in-memory outbox, one FIFO per
link.  Reported (all CPU times are ``time.process_time`` of this one process,
so they count every party's work):

* ``admit_ms_per_member`` — median moderator CPU for one admission at full
  room size: opening and checking the join request, signing and sealing the
  ADD commit, applying its own copy, and building, signing and sealing the
  welcome (snapshot of the whole roster).
* ``member_commit_us`` — median CPU of one member applying that ADD commit.
* ``join_bytes`` — bytes the last joiner downloads from its JOIN until it has
  decrypted its first audio frame (relay WELCOME, welcome chunks, slot list,
  commits in flight, the frame).
* ``commit_bytes`` — the ADD commit's wire size (``[body, signature]``) and,
  as ``commit_payload_bytes``, its sealed CONTROL payload.
* ``kick_rekey_ms`` — CPU from ``kick()`` until every remaining member holds
  the new epoch key (from which each speaker's new sender key is one HKDF,
  made at its first frame), all parties counted
  (one process clock read at each end: no per-party accounts in this kick).
* ``critical_path_ms`` — what a member waits for after a kick: the
  moderator's CPU (``kick()``: sign and seal the commit, seal the fresh
  secret to every member; then its own copy), plus the relay routing every
  message the moderator sent, plus the slowest single member's CPU for its
  commit and fresh secret (``critical_moderator_ms``, ``critical_relay_ms``,
  ``critical_slowest_member_us``).  Members work in parallel on their own
  machines, so only the slowest one is on the path.  Measured on other
  kicks than ``kick_rekey_ms`` (they alternate), as the per-party accounts
  read the process clock around every step.
* ``rekey_bytes_total`` — bytes all clients sent for that kick (commit +
  pairwise fresh secrets); ``rekey_bytes_delivered`` — bytes the relay delivered.

To build a 5,000-member room in reasonable time the bench admits members in
batches (a moderator folds the join requests that queue up behind an
in-flight commit into one commit, spec §12.5) and its outbox skips delivering
the join requests of members still joining to non-moderators (who drop them
unopened); that shortcut touches no measured step.
The simulated members' objects are frozen out of Python's cyclic garbage
collector before measuring (``gc.freeze``): one process holding 5,000
rosters is an artifact of the bench, and full collections over it would
otherwise land in random samples.  For the same reason the collector is off
while a kick is measured (it runs between kicks): the garbage thousands of
simulated members make at once would otherwise trigger collections whose
pause lands in one member's work and becomes the "slowest member".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from client.bench.progress import Progress
from client.errors import CliError
from e2ee.envelope import (
    RELAY_TYPES,
    Envelope,
    EnvelopeDecoder,
    EnvelopeType,
    RelayErrorCode,
)
from e2ee.identity import IdentityKey
from e2ee.invite import Invite
from e2ee.room import Role, RoomSession
from e2ee.room import events as ev
from relay.config import RelayConfig
from relay.router import Link, Room, Router

HELP = "in-memory room of N members: admission, join bytes, kick re-key"
KICKS = 3  # kicks measured one after another; the median is reported


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", type=int, default=5000, help="room size (default 5000)")
    parser.add_argument("--speakers", type=int, default=4, help="speakers besides the founder")
    parser.add_argument("--samples", type=int, default=15, help="single admissions timed")
    parser.add_argument("--batch", type=int, default=250, help="joiners per bulk batch")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


@dataclass(eq=False)
class _Link:
    session: RoomSession
    conn: Link
    decoder: EnvelopeDecoder = field(default_factory=EnvelopeDecoder)  # the relay's, of our bytes
    rx: EnvelopeDecoder = field(default_factory=lambda: EnvelopeDecoder(allowed=RELAY_TYPES))
    inbox: deque[bytes] = field(default_factory=deque)  # what the relay wrote to us
    bytes_in: int = 0
    audio: int = 0
    #: CPU seconds of this member's own work (its session) and of the relay
    #: routing what it sent, since the last :meth:`_Relay.reset_cpu`
    cpu: float = 0.0
    route_cpu: float = 0.0

    def deliver_one(self, now: float) -> int:
        """Hand the oldest delivery to the session, as its socket would; its size."""
        data = self.inbox.popleft()
        for env in self.rx.feed(data):
            self.session.envelope_received(env, now)
        return len(data)


class _Relay:
    """The real relay router (relay/router.py, spec §17) with an in-memory outbox.

    Deliveries go to one FIFO per link.  The one shortcut: while a member is
    still joining, its CONTROL broadcasts (join requests) reach only
    moderators, who are the only ones that open them.
    """

    def __init__(self, members: int) -> None:
        # The bench runs at one instant of simulated time: no rate limit applies.
        unlimited = 1e12
        config = RelayConfig(
            envelope_rate=unlimited,
            envelope_burst=unlimited,
            byte_rate=unlimited,
            byte_burst=unlimited,
            join_rate=unlimited,
            join_burst=unlimited,
            media_rate=unlimited,
            media_burst=unlimited,
            media_byte_rate=unlimited,
            media_byte_burst=unlimited,
            max_members_per_room=members + 64,
        )
        self.router = Router(config, self)
        self.links: list[_Link] = []
        self.moderators: set[_Link] = set()
        self.now = 0.0
        self.sent = 0
        self.delivered = 0
        self.pending: deque[_Link] = deque()
        self._source: _Link | None = None

    def attach(self, session: RoomSession) -> _Link:
        link = _Link(session, self.router.open_link(self.now))
        link.conn.transport = link
        self.links.append(link)
        self.pending.append(link)
        return link

    # -- the router's outbox ---------------------------------------------------------
    def _put(self, conn: Link, data: bytes) -> None:
        link = conn.transport
        assert isinstance(link, _Link)
        src = self._source
        if (
            src is not None
            and data[1] == _CONTROL
            and link not in self.moderators
            and src.session.state == "joining"
        ):
            return
        link.inbox.append(data)
        if len(link.inbox) == 1:
            self.pending.append(link)

    def send_media(self, link: Link, data: bytes, tag: bytes, by_datagram: bool) -> None:
        self._put(link, data)

    def send_reliable(self, link: Link, data: bytes, tag: bytes) -> None:
        self._put(link, data)

    def audience_batch(self, room: Room, data: bytes) -> None:
        for member in list(room.audience.values()):
            self._put(member.link, data)

    def close(self, link: Link, code: RelayErrorCode, reason: str) -> None:
        raise CliError(f"the relay closed a bench link: {code.name} ({reason})")

    # -- clients -------------------------------------------------------------------------
    def route(self, link: _Link, envelopes: list[Envelope]) -> None:
        """Hand one client's envelopes to the router."""
        self._source = link
        self.router.receive(link.conn, envelopes, self.now)
        self._source = None

    def _route(self, link: _Link, data: bytes) -> None:
        """Route the bytes ``link``'s session wrote."""
        if data:
            self.sent += len(data)
            self.route(link, link.decoder.feed(data))

    def _collect(self, link: _Link) -> None:
        self._route_out(link, self._work(link, link.session.data_to_send, _cpu()))

    @staticmethod
    def _work(link: _Link, step: Callable[[], bytes], since: float) -> tuple[bytes, float]:
        """Run one step of ``link``'s session; its CPU from ``since`` goes to :attr:`_Link.cpu`."""
        data = step()
        now = _cpu()
        link.cpu += now - since
        return data, now

    def _route_out(self, link: _Link, written: tuple[bytes, float]) -> float:
        """Route what ``link`` wrote; the relay's CPU goes to ``link.route_cpu``.

        ``written`` is the bytes and the CPU reading taken when they were
        written; returns the reading at the end, so one reading separates each
        party's work from the next (the clock read costs about a microsecond).
        """
        data, since = written
        if not data:
            return since
        self._route(link, data)
        now = _cpu()
        link.route_cpu += now - since
        return now

    def drain(self) -> None:
        """Deliver until quiet, as :meth:`pump` does, without the CPU accounts."""
        while self.pending:
            link = self.pending.popleft()
            self._route(link, link.session.data_to_send())
            while link.inbox:
                self._route(link, self._deliver(link))

    def reset_cpu(self) -> None:
        """Zero every link's CPU accounts (:attr:`_Link.cpu`, :attr:`_Link.route_cpu`)."""
        for link in self.links:
            link.cpu = link.route_cpu = 0.0

    def pump(self) -> None:
        """Deliver until quiet: each link drains its FIFO in order."""
        clock = _cpu()
        while self.pending:
            link = self.pending.popleft()
            session = link.session
            clock = self._route_out(link, self._work(link, session.data_to_send, clock))
            while link.inbox:
                step = partial(self._deliver, link)
                clock = self._route_out(link, self._work(link, step, clock))

    def _deliver(self, link: _Link) -> bytes:
        """One delivery to ``link``'s session and what it wrote in answer."""
        n = link.deliver_one(self.now)
        session = link.session
        data = session.data_to_send()
        audio = ev.AudioReceived
        while (e := session.next_event()) is not None:
            if isinstance(e, audio):
                link.audio += 1
        link.bytes_in += n
        self.delivered += n
        return data


_CONTROL = EnvelopeType.CONTROL.value


def _cpu() -> float:
    return time.process_time()


@dataclass(eq=False)
class BuiltRoom:
    """A founder (the moderator) and its admitted members on one in-memory relay."""

    relay: _Relay
    moderator: _Link
    speakers: list[_Link]
    invite: Invite


def build_room(
    capacity: int, joiners: int, speakers: int, batch: int, progress: Progress | None = None
) -> BuiltRoom:
    """Admit ``joiners`` members in batches of ``batch``; the first ``speakers`` go on stage.

    The relay admits up to ``capacity`` members.  Join requests queued behind
    an in-flight commit fold into one commit (spec §12.5), so a batch costs a
    few commits, not one per joiner.
    """
    rng = os.urandom
    founder_id = IdentityKey.generate(rng)
    invite = Invite("127.0.0.1", 4433, rng(32), rng(32), founder_id.public)
    relay = _Relay(capacity)
    mod = relay.attach(RoomSession.create(founder_id, invite, "moderator", "open", rng, 0.0))
    relay.moderators.add(mod)
    relay.pump()
    made = 0
    stage: list[_Link] = []
    while made < joiners:
        count = min(batch, joiners - made)
        for i in range(count):
            name = f"member {made + i}"
            relay.attach(RoomSession.join(IdentityKey.generate(rng), invite, name, rng, 0.0))
        made += count
        relay.pump()
        if progress is not None:
            progress.update(f"{made + 1} of {joiners + 1} members")
        if not stage:  # put the first joiners on stage
            stage = relay.links[1 : 1 + speakers]
            for link in stage:
                mod.session.invite_to_speak(link.session.me)
            relay.pending.append(mod)
            relay.pump()
            for link in stage:
                link.session.accept_invitation()
                relay.pending.append(link)
            relay.pump()
    return BuiltRoom(relay, mod, stage, invite)


def run(args: argparse.Namespace) -> int:
    n = args.members
    if n < args.speakers + 3 + args.samples:
        raise CliError("--members must exceed --speakers + --samples + 3")
    rng = os.urandom
    progress = Progress("room")
    progress.phase("building the room", f"0 of {n} members")
    t_build = time.perf_counter()
    built = build_room(n, n - 1 - args.samples, args.speakers, args.batch, progress)
    relay, mod, speakers, invite = built.relay, built.moderator, built.speakers, built.invite
    build_s = time.perf_counter() - t_build
    # The process holds 5,000 rosters (one per simulated member, ~25 million
    # objects); a real client holds one.  Freeze them out of the cyclic GC so
    # its full passes over the simulation do not land in a measured step.
    gc.collect()
    gc.freeze()

    # -- single admissions at full size -----------------------------------
    progress.phase("timing single admissions", f"{args.samples} samples")
    admit_ms: list[float] = []
    member_us: list[float] = []
    commit_bytes = commit_payload = 0
    last: _Link | None = None
    probe = relay.links[-1]
    for _ in range(args.samples):
        last = relay.attach(
            RoomSession.join(IdentityKey.generate(rng), invite, "late joiner", rng, 0.0)
        )
        # the joiner's side, then the moderator alone; twice: knock -> offer,
        # then join request -> ADD commit and welcome (spec §13.3)
        if mod in relay.pending:
            relay.pending.remove(mod)
        cpu = 0.0
        for _leg in range(2):
            relay._collect(last)
            while last.inbox:
                last.deliver_one(0.0)
                relay._collect(last)
            while mod.inbox:
                c0 = _cpu()
                mod.deliver_one(0.0)
                data = mod.session.data_to_send()
                cpu += _cpu() - c0
                relay.sent += len(data)
                outs = list(mod.decoder.feed(data))
                # the commit is the broadcast the chair waits to see echoed (spec §12.5)
                chair = mod.session._chair
                for out in outs:
                    if out.type is EnvelopeType.CONTROL and chair.is_own_commit(out.payload):
                        commit_payload = len(out.payload)
                relay.route(mod, outs)
                while mod.session.next_event() is not None:
                    pass
        admit_ms.append(cpu * 1000)
        c = mod.session._chair.log[-1]  # the ADD commit just applied (wire form)
        commit_bytes = len(c)
        # one member applies it: time the probe listener's processing of the broadcast
        if probe.inbox:
            c0 = _cpu()
            probe.deliver_one(0.0)
            member_us.append((_cpu() - c0) * 1e6)
        relay.pending.extend(x for x in relay.links if x.inbox)
        relay.pump()
    assert last is not None
    if last.session.state != "member":
        raise CliError("the last joiner was not admitted")
    # first decrypted audio frame for the last joiner
    speaker = speakers[0]
    speaker.session.send_audio(b"\xfc" + bytes(60), 0.0)
    speaker.session.handle_timer(0.05)  # the speaker pauses: its proof goes out (spec §15.6)
    relay.pending.append(speaker)
    relay.pump()
    if last.audio < 1:
        raise CliError("the last joiner could not decrypt audio")
    join_bytes = last.bytes_in

    members = len(mod.session.roster.members) if mod.session.roster else 0
    # -- kick and re-key -----------------------------------------------------
    progress.phase("timing kicks and re-keys", f"{KICKS} kicks")
    gc.collect()
    gc.freeze()
    # Kicks of different members, one after another, each measured on its own
    # (a single shot on a shared 2-core machine is too noisy to report).  They
    # alternate: a kick timed as a whole (kick_rekey_ms), then one with every
    # party's CPU accounted apart (critical_path_ms).  The accounts read the
    # process clock around every step, a system call of a few microseconds
    # that no party makes: it stays out of the whole kick's figure.
    kick_cpus: list[float] = []
    kick_walls: list[float] = []
    critical: list[tuple[float, float, float]] = []  # (moderator, relay, slowest member)
    victims: list[_Link] = []
    listeners = [x for x in relay.links if x is not mod and x not in speakers]
    for kick_no in range(2 * KICKS):
        accounted = kick_no % 2 == 1
        victim = listeners[len(listeners) * (kick_no + 1) // (2 * KICKS + 2)]
        victims.append(victim)
        sent0, delivered0 = relay.sent, relay.delivered
        relay.reset_cpu()
        gc.collect()
        gc.disable()
        try:
            c0 = _cpu()
            w0 = time.perf_counter()
            mod.session.kick(victim.session.me)
            kick_call = _cpu() - c0 if accounted else 0.0
            relay.pending.append(mod)
            if accounted:
                relay.pump()
            else:
                relay.drain()
                kick_cpus.append(_cpu() - c0)
                kick_walls.append(time.perf_counter() - w0)
        finally:
            gc.enable()
        if accounted:
            slowest = max(x.cpu for x in relay.links if x is not mod)
            critical.append((kick_call + mod.cpu, mod.route_cpu, slowest))
        rekey_sent = relay.sent - sent0
        rekey_delivered = relay.delivered - delivered0
        new_epoch = mod.session.epoch
        remaining = [x for x in relay.links if x not in victims]
        holders = sum(
            1
            for x in remaining
            if x.session.state == "member" and new_epoch in x.session._keys.epoch_keys
        )
        if holders != len(remaining):
            raise CliError(f"only {holders} of {len(remaining)} members hold the new key")
        if new_epoch in victim.session._keys.epoch_keys:
            raise CliError("the kicked member holds the new key")
    kick_cpu = statistics.median(kick_cpus)
    path = sorted(critical, key=sum)[len(critical) // 2]  # the median kick's split
    kick_wall = statistics.median(kick_walls)
    # audio after the kick reaches the others, not the victim
    before_victims = [v.audio for v in victims]
    for s in speakers:
        s.session.send_audio(b"\xfc" + bytes(60), 1.0)
        relay.pending.append(s)
    relay.pump()
    gc.unfreeze()
    result = {
        "members": members,
        "speakers": len(speakers),
        "admit_ms_per_member": round(statistics.median(admit_ms), 3),
        "admit_ms_samples": [round(x, 2) for x in admit_ms],
        "member_commit_us": round(statistics.median(member_us), 1) if member_us else None,
        "join_bytes": join_bytes,
        "kick_rekey_ms": round(kick_cpu * 1000, 1),
        "kick_rekey_wall_ms": round(kick_wall * 1000, 1),
        "kick_rekey_ms_samples": [round(x * 1000, 1) for x in kick_cpus],
        "critical_path_ms": round(sum(path) * 1000, 1),
        "critical_path_ms_samples": [round(sum(c) * 1000, 1) for c in critical],
        "critical_moderator_ms": round(path[0] * 1000, 1),
        "critical_relay_ms": round(path[1] * 1000, 1),
        "critical_slowest_member_us": round(path[2] * 1e6, 1),
        "rekey_bytes_total": rekey_sent,
        "rekey_bytes_delivered": rekey_delivered,
        "commit_bytes": commit_bytes,
        "commit_payload_bytes": commit_payload,
        "victim_frames_after_kick": sum(v.audio for v in victims) - sum(before_victims),
        "build_seconds": round(build_s, 1),
        "role_of_speakers": sorted({int(s.session.role or Role.LISTENER) for s in speakers}),
    }
    progress.done()
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:28} {v}")
    return 0
