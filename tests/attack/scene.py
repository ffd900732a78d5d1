"""A room on the hostile relay, with the people the attack scenarios talk about."""

from __future__ import annotations

from dataclasses import dataclass, field

from room.harness import Invite, Link, make_invite, new_identity, rng_for

from e2ee.room import Role, RoomSession, events
from e2ee.room.session import RoomConfig
from e2ee.room.speaker_auth import PAUSE

from .hostile import HostileRelay

FRAME_S = 0.02  # one Opus frame (spec §11.1)


def opus(n: int) -> bytes:
    """A recognisable stand-in for the n-th Opus frame a speaker sends."""
    return b"opus frame %08d" % n


@dataclass
class Scene:
    """A moderator, speakers and listeners in one room behind a :class:`HostileRelay`."""

    relay: HostileRelay
    invite: Invite
    config: RoomConfig | None
    moderator: Link
    speakers: list[Link] = field(default_factory=list)
    listeners: list[Link] = field(default_factory=list)
    _seed: int = 1000
    salt: int = 0  # changes every random draw, not the identities
    _frames: dict[Link, int] = field(default_factory=dict)
    _sent_at: dict[tuple[Link, bytes], float] = field(default_factory=dict)

    @property
    def speaker(self) -> Link:
        return self.speakers[0]

    @property
    def listener(self) -> Link:
        return self.listeners[0]

    @property
    def members(self) -> list[Link]:
        return [self.moderator, *self.speakers, *self.listeners]

    def join(self, name: str, seed: int | None = None) -> Link:
        """A newcomer with a fresh identity joins; ``seed``: the identity of an earlier joiner.

        Every session gets fresh randomness (its own session key), even for an
        identity that joined before.
        """
        self._seed += 1
        draw = self._seed
        if seed is None:
            seed = draw
        session = RoomSession.join(
            new_identity(seed),
            self.invite,
            name,
            rng_for(draw + 7 + 7919 * self.salt),
            self.relay.now,
            self.config,
        )
        link = self.relay.attach(session)
        self.relay.pump()
        return link

    def promote(self, who: Link) -> None:
        self.moderator.session.invite_to_speak(who.session.me)
        self.relay.pump()
        who.session.accept_invitation()
        self.relay.pump()
        assert who.session.role is Role.SPEAKER

    def run(self, seconds: float) -> None:
        self.relay.advance(seconds)

    def talk(self, seconds: float, *who: Link) -> None:
        """``who`` (default: every speaker) send one frame each per 20 ms for ``seconds``."""
        talkers = who or tuple(self.speakers)
        for _ in range(round(seconds / FRAME_S)):
            for s in talkers:
                if s.session.state == "member":
                    n = self._frames.get(s, 0)
                    self._frames[s] = n + 1
                    self._sent_at[(s, opus(n))] = self.relay.now
                    s.session.send_audio(opus(n), self.relay.now)
            self.relay.advance(FRAME_S)

    def pause(self) -> None:
        """Everyone falls silent long enough to send the proof of their last batch (§15.6).

        A frame is played once its speaker's proof covers it, so what was said
        is only all heard after this.
        """
        self.relay.advance(PAUSE + FRAME_S)

    def sent(self, speaker: Link) -> int:
        return self._frames.get(speaker, 0)

    def heard(
        self, listener: Link, speaker: Link, after: float = -1.0, sent_after: float = -1.0
    ) -> list[bytes]:
        """Opus frames ``listener`` played from ``speaker`` at or after ``after``.

        ``sent_after``: only those the speaker sent at or after that time (a
        frame is played a batch after it was sent, spec §15.6).
        """
        me = speaker.session.me
        return [
            e.opus
            for e in self.relay.events(listener, events.AudioReceived, after)
            if isinstance(e, events.AudioReceived)
            and e.member == me
            and self._sent_at.get((speaker, e.opus), float("inf")) >= sent_after
        ]

    def alerts(self, link: Link, after: float = -1.0) -> list[str]:
        return [
            e.kind
            for e in self.relay.events(link, events.SecurityAlert, after)
            if isinstance(e, events.SecurityAlert)
        ]

    def heads(self, links: list[Link] | None = None) -> set[tuple[int, bytes]]:
        return {(x.session.epoch, x.session.head) for x in (links or self.members)}

    def rosters(self, links: list[Link] | None = None) -> set[tuple[tuple[bytes, Role], ...]]:
        return {
            tuple((m.id, m.role) for m in x.session.members.values())
            for x in (links or self.members)
        }


def build(
    speakers: int = 1,
    listeners: int = 2,
    policy: str = "open",
    seed: int = 0,
    config: RoomConfig | None = None,
    salt: int = 0,
    relay: HostileRelay | None = None,
) -> Scene:
    """A settled room: everyone admitted, ``speakers`` on stage, one chain head.

    ``relay``: the hostile relay to build it on (a new :class:`HostileRelay` by default).
    """
    relay = relay if relay is not None else HostileRelay()
    founder = new_identity(seed + 1)
    invite = make_invite(bytes([seed % 256]) * 32, founder.public)
    mod = relay.attach(
        RoomSession.create(
            founder, invite, "Moderator", policy, rng_for(seed + 2 + 7919 * salt), 0.0, config
        )
    )
    relay.pump()
    scene = Scene(relay, invite, config, mod, _seed=seed + 1000, salt=salt)
    names = [f"Speaker {i}" for i in range(speakers)] + [f"Listener {i}" for i in range(listeners)]
    links = [scene.join(name) for name in names]
    if policy == "knock":
        for q in [e for e in mod.events if isinstance(e, events.JoinRequested)]:
            mod.session.approve(q.request)
        relay.pump()
    scene.speakers, scene.listeners = links[:speakers], links[speakers:]
    for s in scene.speakers:
        scene.promote(s)
    assert all(x.session.state == "member" for x in scene.members)
    assert len(scene.heads()) == 1
    return scene
