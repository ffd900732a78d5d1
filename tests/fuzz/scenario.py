"""A real room, recorded: what each of three members receives from the relay (spec §12–§16).

The room runs on the in-memory relay of tests/room/harness.py with fixed
seeds: a moderator creates it, three listeners join, one is promoted to
speaker and talks, a hand goes up, a chat message and a mute request are
sent, a listener is kicked (re-key), a listener leaves (debounced leave) and
the head beacons fire.  Every envelope each member receives is recorded with
its delivery time.  Because sessions draw all randomness from seeded rngs,
:func:`fresh_session` rebuilds a member exactly as it was before its first
envelope, so the recorded envelopes are valid input for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from room.harness import Invite, Link, Router, make_invite, new_identity, rng_for

from e2ee.envelope import Envelope
from e2ee.room import RoomSession

#: The recorded members: (name, identity seed, rng seed); the first one founds the room.
MEMBERS = (("moderator", 1, 100), ("listener", 10, 200), ("speaker", 11, 201))
_KICKED = ("kicked", 12, 202)
_SECRET = bytes(range(32))


@dataclass(frozen=True)
class Delivery:
    """One envelope the relay delivered to a member, and when."""

    now: float
    envelope: Envelope


class _RecordingRouter(Router):
    def __init__(self) -> None:
        super().__init__()
        self.received: dict[int, list[Delivery]] = {}

    def _deliver(self, to: Link, env: Envelope) -> None:
        self.received.setdefault(id(to), []).append(Delivery(self.now, env))
        super()._deliver(to, env)


def _invite() -> Invite:
    return make_invite(_SECRET, new_identity(MEMBERS[0][1]).public)


def fresh_session(index: int) -> RoomSession:
    """Member ``index`` of :data:`MEMBERS` as it was created in the recorded room."""
    name, ident, rng = MEMBERS[index]
    if index == 0:
        return RoomSession.create(new_identity(ident), _invite(), name, "open", rng_for(rng), 0.0)
    return RoomSession.join(new_identity(ident), _invite(), name, rng_for(rng), 0.0)


@cache
def recorded() -> tuple[tuple[Delivery, ...], ...]:
    """The deliveries to each member of :data:`MEMBERS`, in order."""
    r = _RecordingRouter()
    links = [r.attach(fresh_session(0))]
    r.pump()
    for i in range(1, len(MEMBERS)):
        links.append(r.attach(fresh_session(i)))
        r.pump()
    mod, listener, speaker = (x.session for x in links)
    _, ident, rng = _KICKED
    kicked = r.attach(RoomSession.join(new_identity(ident), _invite(), "k", rng_for(rng), 0.0))
    r.pump()
    mod.invite_to_speak(speaker.me)
    r.pump()
    speaker.accept_invitation()
    r.pump()
    for i in range(3):
        speaker.send_audio(b"opus frame %d" % i, r.now)
        r.advance(0.02)
    listener.raise_hand()
    listener.send_chat("hello room")
    mod.request_mute(speaker.me)
    r.pump()
    mod.kick(kicked.session.me)
    r.advance(1.0)
    speaker.send_audio(b"after the kick", r.now)
    listener.lower_hand()
    r.pump()
    r.advance(mod.config.head_beacon + 1)
    speaker.send_audio(b"late frame", r.now)
    r.advance(1.0)
    return tuple(tuple(r.received.get(id(x), [])) for x in links)
