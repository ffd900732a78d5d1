"""A hostile relay for tests: the real router (tests/room/harness.py) with a hook on every delivery.

The relay is the attacker the spec is written against (§2, §20): it sees every
envelope, chooses what each member receives and when, and may make up
envelopes of its own.  :class:`HostileRelay` is the harness's real
:class:`relay.router.Router` plus rules applied to each delivery, in the order
they were added:

* :meth:`drop` loses matching envelopes, :meth:`withhold` holds them until
  :meth:`Rule.release` (in order, or reversed), :meth:`delay` delivers them
  later on the test clock, :meth:`duplicate` delivers them more than once,
  :meth:`rewrite` / :meth:`flip_bits` change them, :meth:`swap_slots` stamps
  one member's envelopes with another's slot;
* :meth:`send`, :meth:`inject_as` and :meth:`replay` put envelopes of the
  relay's choosing into a member's inbox;
* :attr:`seen` keeps every delivery, so a test can replay a whole earlier
  session; :attr:`timeline` keeps every event with the time it happened.

A rule matches on what a relay knows about a delivery (:class:`Delivery`):
recipient, sending client, envelope type, size, and ``what``, the relay's
classification from what it can see (spec §20): ``"payload"`` (any CONTROL
or UNICAST payload: nothing tells them apart but their padded size, and the
relay echoes every broadcast to its sender, so not even a commit stands out,
spec §17.3), ``"notice"`` (a relay notice), and for MEDIA ``"proof"`` (a
speaker proof: its first byte, 0xFF, is one no wire frame can start with,
spec §15.4.1) or ``"media"``.  An unknown ``what`` is an error, so a test
cannot match on a class the relay cannot see.

``insider`` matches on the payload's kind as the *recipient* would open it
(:func:`room.insider.kind_of`): what a relay would need the recipient's keys
for.  ``authored`` matches on its kind as its *author* opened it when it
sent it (``"commit"``: the relay would need the author's keys).  ``tag`` is
a sender-side label the test sets with :meth:`tagged` ("everything the
moderator sent while kicking"), which needs no guess at all.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from room.harness import Link, Router
from room.insider import kind_of

from e2ee.envelope import Envelope, EnvelopeType, decode_envelope, encode_envelope
from e2ee.errors import HushroomError
from e2ee.room import speaker_proof
from e2ee.room.events import Event

_PAYLOAD_TYPES = (EnvelopeType.CONTROL, EnvelopeType.UNICAST)
WHAT = frozenset({"payload", "notice", "media", "proof"})


@dataclass(frozen=True)
class Delivery:
    """One envelope on its way from the relay to one member."""

    to: Link
    env: Envelope
    src: Link | None  # the client whose output caused it (the joiner, for relay notices)
    tag: str | None  # the sender-side label, see HostileRelay.tagged
    what: str  # one of WHAT
    at: float  # relay clock when it was routed
    authored: str | None = None  # the payload's kind as its author opened it (an insider's view)


Match = Callable[[Delivery], bool]


@dataclass
class Rule:
    """One hostile behaviour; ``held`` keeps what a withholding rule kept back."""

    relay: HostileRelay
    match: Match
    action: str
    arg: object = None
    held: list[Delivery] = field(default_factory=list)
    hits: int = 0

    def release(self, reverse: bool = False) -> None:
        """Lift the rule and deliver what it held, in order or reversed."""
        self.lift()
        held = list(reversed(self.held)) if reverse else list(self.held)
        self.held.clear()
        for d in held:
            self.relay.send(d.to, d.env)

    def lift(self) -> None:
        """Stop applying the rule (what it held stays held)."""
        if self in self.relay.rules:
            self.relay.rules.remove(self)


def _classify(env: Envelope) -> str:
    if env.type is EnvelopeType.MEDIA:
        return "proof" if speaker_proof.is_speaker_proof(env.payload) else "media"
    return "payload" if env.type in _PAYLOAD_TYPES else "notice"


def insider_kind(d: Delivery) -> str | None:
    """The payload's kind as its recipient opens it with its current keys (an insider's view)."""
    if d.env.type not in _PAYLOAD_TYPES:
        return None
    kind = kind_of(d.to.session, d.env.payload)
    return None if kind is None else kind.name.lower()


class HostileRelay(Router):
    """The real relay router, with rules on every delivery (see the module docstring)."""

    def __init__(self, now: float = 0.0, first_slot: int = 0) -> None:
        self.rules: list[Rule] = []
        self.seen: list[Delivery] = []
        self.timeline: dict[Link, list[tuple[float, Event]]] = {}
        self.undecodable = 0  # rewritten envelopes a client's decoder would refuse
        self._source: Link | None = None
        self._tag: str | None = None
        self._authored: dict[bytes, str] = {}
        self._delayed: list[tuple[float, Delivery]] = []
        super().__init__(now, first_slot)

    # -- matching ------------------------------------------------------------------
    @staticmethod
    def match(
        *,
        to: Link | Iterable[Link] | None = None,
        src: Link | Iterable[Link] | None = None,
        types: Iterable[EnvelopeType] | None = None,
        what: Iterable[str] | None = None,
        insider: Iterable[str] | None = None,
        authored: Iterable[str] | None = None,
        tag: str | None = None,
        when: Match | None = None,
    ) -> Match:
        """A predicate on deliveries; every given criterion must hold."""
        tos = None if to is None else ({to} if isinstance(to, Link) else set(to))
        srcs = None if src is None else ({src} if isinstance(src, Link) else set(src))
        type_set = None if types is None else set(types)
        what_set = None if what is None else set(what)
        if what_set is not None and not what_set <= WHAT:
            raise ValueError(f"a relay cannot see {sorted(what_set - WHAT)}; use insider=")
        kinds = None if insider is None else set(insider)
        by_author = None if authored is None else set(authored)

        def pred(d: Delivery) -> bool:
            return (
                (tos is None or d.to in tos)
                and (srcs is None or d.src in srcs)
                and (type_set is None or d.env.type in type_set)
                and (what_set is None or d.what in what_set)
                and (kinds is None or insider_kind(d) in kinds)
                and (by_author is None or d.authored in by_author)
                and (tag is None or d.tag == tag)
                and (when is None or when(d))
            )

        return pred

    def _rule(self, action: str, arg: object = None, **criteria: object) -> Rule:
        rule = Rule(self, self.match(**criteria), action, arg)  # type: ignore[arg-type]
        self.rules.append(rule)
        return rule

    # -- behaviours ----------------------------------------------------------------
    def drop(self, **criteria: object) -> Rule:
        """Lose matching envelopes for good."""
        return self._rule("drop", **criteria)

    def withhold(self, **criteria: object) -> Rule:
        """Keep matching envelopes back until the rule is released."""
        return self._rule("hold", **criteria)

    def delay(self, seconds: float, **criteria: object) -> Rule:
        """Deliver matching envelopes ``seconds`` later on the test clock."""
        return self._rule("delay", seconds, **criteria)

    def duplicate(self, times: int = 2, **criteria: object) -> Rule:
        """Deliver matching envelopes ``times`` times."""
        return self._rule("dup", times, **criteria)

    def rewrite(self, fn: Callable[[Envelope], Envelope | None], **criteria: object) -> Rule:
        """Replace matching envelopes by ``fn(env)`` (None: lose it)."""
        return self._rule("rewrite", fn, **criteria)

    def flip_bits(self, rng: random.Random, bits: int = 1, **criteria: object) -> Rule:
        """Flip ``bits`` random bits anywhere in the encoded envelope, header included.

        A flip that makes the envelope undecodable is what a client's envelope
        decoder refuses (its link closes, an availability harm); it is counted
        in :attr:`undecodable` and not delivered.
        """

        def flip(env: Envelope) -> Envelope | None:
            data = bytearray(encode_envelope(env.type, env.room_tag, env.slot, env.payload))
            for _ in range(bits):
                i = rng.randrange(len(data) * 8)
                data[i // 8] ^= 1 << (i % 8)
            try:
                return decode_envelope(bytes(data))
            except HushroomError:
                self.undecodable += 1
                return None

        return self.rewrite(flip, **criteria)

    def swap_slots(self, a: Link, b: Link) -> Rule:
        """Stamp ``a``'s envelopes with ``b``'s slot and ``b``'s with ``a``'s."""

        def swap(env: Envelope) -> Envelope:
            sa, sb = a.slot, b.slot
            if env.slot == sa and sb is not None:
                return replace(env, slot=sb)
            if env.slot == sb and sa is not None:
                return replace(env, slot=sa)
            return env

        return self.rewrite(swap, src={a, b}, types=(*_PAYLOAD_TYPES, EnvelopeType.MEDIA))

    # -- injection ------------------------------------------------------------------
    def send(self, to: Link, env: Envelope) -> None:
        """Put ``env`` into ``to``'s inbox as the relay's own doing (no rule applies)."""
        Router._deliver(self, to, env)

    def inject_as(self, member: Link, to: Link, etype: EnvelopeType, payload: bytes) -> None:
        """An envelope stamped with ``member``'s current slot: the relay forging its source."""
        assert member.slot is not None
        self.send(to, Envelope(etype, member.session.room_tag, member.slot, payload))

    def client_sends(self, link: Link, env: Envelope) -> None:
        """``link``'s client writes ``env`` itself (a modified client): it goes to the router."""
        self._source = link
        try:
            self._route_envelopes(link, [env])
        finally:
            self._source = None

    def replay(self, deliveries: Iterable[Delivery], to: Link | None = None) -> None:
        """Deliver recorded envelopes again, to their first recipient or to ``to``."""
        for d in list(deliveries):
            self.send(to if to is not None else d.to, d.env)

    @contextmanager
    def tagged(self, link: Link, tag: str) -> Iterator[None]:
        """Label everything ``link`` sends while the block runs (a sender-side tag)."""
        yield
        self._tag = tag
        try:
            self._take_output(link)
        finally:
            self._tag = None

    def events(self, link: Link, kind: type[Event], after: float = -1.0) -> list[Event]:
        """Events of ``kind`` that ``link`` saw at or after ``after``."""
        return [e for t, e in self.timeline.get(link, []) if t >= after and isinstance(e, kind)]

    # -- the hooks ----------------------------------------------------------------------
    def _take_output(self, link: Link) -> bool:
        self._source = link
        try:
            return super()._take_output(link)
        finally:
            self._source = None

    def _route_envelopes(self, link: Link, envelopes: list[Envelope]) -> None:
        self._note_authored(link, envelopes)
        super()._route_envelopes(link, envelopes)

    def _note_authored(self, link: Link, envelopes: list[Envelope]) -> None:
        """Each payload's kind as its author opens it now, before it is routed (insider)."""
        for e in envelopes:
            if e.type in _PAYLOAD_TYPES and e.payload not in self._authored:
                kind = kind_of(link.session, e.payload)
                if kind is not None:
                    self._authored[e.payload] = kind.name.lower()

    def _deliver(self, to: Link, env: Envelope) -> None:
        authored = self._authored.get(env.payload)
        d = Delivery(to, env, self._source, self._tag, _classify(env), self.now, authored)
        self.seen.append(d)
        for rule in list(self.rules):
            if not rule.match(d):
                continue
            rule.hits += 1
            if rule.action == "drop":
                return
            if rule.action == "hold":
                rule.held.append(d)
                return
            if rule.action == "delay":
                assert isinstance(rule.arg, float | int)
                self._delayed.append((self.now + rule.arg, d))
                return
            if rule.action == "dup":
                assert isinstance(rule.arg, int)
                for _ in range(rule.arg - 1):
                    self.send(to, d.env)
            elif rule.action == "rewrite":
                assert callable(rule.arg)
                new = rule.arg(d.env)
                if new is None:
                    return
                d = replace(d, env=new)
        self.send(to, d.env)

    def _drain_events(self, link: Link) -> None:
        line = self.timeline.setdefault(link, [])
        while (ev := link.session.next_event()) is not None:
            link.events.append(ev)
            line.append((self.now, ev))

    def advance(self, dt: float) -> None:
        """Move the clock, delivering delayed envelopes when they fall due."""
        target = self.now + dt
        while self._delayed:
            due = min(t for t, _ in self._delayed)
            if due > target:
                break
            super().advance(max(0.0, due - self.now))
            ready = [d for t, d in self._delayed if t <= self.now]
            self._delayed = [(t, d) for t, d in self._delayed if t > self.now]
            for d in ready:
                self.send(d.to, d.env)
            self.pump()
        super().advance(max(0.0, target - self.now))
