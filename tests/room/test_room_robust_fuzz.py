"""Hostile envelopes against RoomSession (spec §16.7): nothing but the project's errors escapes.

Every example builds a small room (moderator, speaker, listener, a knocker still
joining), then feeds its members mutated copies of real traffic, random
payloads, and control messages that a member signs and seals correctly but
fills with arbitrary content, interleaved with timers.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2ee.canonical import Value
from e2ee.envelope import Envelope, EnvelopeType
from e2ee.errors import HushroomError
from e2ee.room import Role, RoomSession, seal
from e2ee.room.control import sign_control

from .harness import Link, Router, make_invite, new_identity, rng_for

TYPES = [
    EnvelopeType.CONTROL,
    EnvelopeType.UNICAST,
    EnvelopeType.MEDIA,
    EnvelopeType.PEER_JOINED,
    EnvelopeType.PEER_LEFT,
    EnvelopeType.WELCOME,
    EnvelopeType.ERROR,
]


def build() -> tuple[Router, list[Link], list[Envelope]]:
    founder = new_identity(60)
    invite = make_invite(b"f" * 32, founder.public)
    r = Router()
    corpus: list[Envelope] = []
    mod = r.attach(RoomSession.create(founder, invite, "M", "open", rng_for(60), 0.0))
    r.pump()
    links = [mod]
    for i in range(3):
        links.append(
            r.attach(RoomSession.join(new_identity(61 + i), invite, f"P{i}", rng_for(61 + i), 0.0))
        )
    r.pump()
    for link in links:
        deliver = link.session.envelope_received

        def recording(env: Envelope, now: float, deliver=deliver) -> None:  # type: ignore[no-untyped-def]
            corpus.append(env)
            deliver(env, now)

        link.session.envelope_received = recording  # type: ignore[method-assign]
    m, spk, lst, gone = (x.session for x in links)
    m.invite_to_speak(spk.me)
    r.pump()
    spk.accept_invitation()
    r.pump()
    lst.raise_hand()
    r.pump()
    lst.send_chat("hello")
    spk.send_audio(b"opus", r.now)
    r.pump()
    m.kick(gone.me)
    r.pump()
    r.advance(1.0)
    for link in links:
        del link.session.envelope_received
    assert spk.role is Role.SPEAKER and corpus
    knocker = r.attach(RoomSession.join(new_identity(70), invite, "K", rng_for(70), r.now))
    r.pump()
    return r, [mod, links[1], links[2], knocker], corpus


def mutate(data: bytes, how: int, pos: int, junk: bytes) -> bytes:
    if not data:
        return junk
    pos %= len(data)
    if how == 0:
        return data[:pos] + bytes((data[pos] ^ 1 << (pos % 8),)) + data[pos + 1 :]
    if how == 1:
        return data[:pos]
    if how == 2:
        return data + junk
    if how == 3:
        return data[:pos] + junk + data[pos:]
    return junk + data[pos:]


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=10,
)

move = st.one_of(
    st.tuples(
        st.just("mutate"),
        st.integers(0, 3),  # victim
        st.integers(0, 10_000),  # corpus index
        st.integers(0, 4),
        st.integers(0, 10_000),
        st.binary(max_size=24),
        st.sampled_from(TYPES),
        st.integers(0, 12),  # stamped source slot
    ),
    st.tuples(
        st.just("random"),
        st.integers(0, 3),
        st.sampled_from(TYPES),
        st.integers(0, 12),
        st.binary(max_size=300),
    ),
    st.tuples(
        st.just("insider"),  # the listener signs and seals anything as a control message
        st.integers(0, 3),
        st.integers(0, 12),  # control type
        st.integers(0, 2**64 - 1),  # seq
        st.integers(0, 2**32 - 1),  # claimed epoch
        st.lists(values, max_size=3),
    ),
    st.tuples(
        st.just("chunk"),  # chunk headers are in clear: anyone can send pieces
        st.integers(0, 3),
        st.integers(0, 1),  # transfer id
        st.integers(0, 4),  # index
        st.integers(0, 4),  # count
        st.sampled_from([1, 100, seal.CHUNK_DATA]),
    ),
    st.tuples(st.just("timer"), st.integers(0, 3), st.floats(0.0, 40.0)),
)


def feed(victim: RoomSession, env: Envelope, now: float) -> None:
    try:
        victim.envelope_received(env, now)
    except HushroomError:
        pass  # allowed by the promise; anything else fails the test


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(move, min_size=1, max_size=40))
def test_hostile_envelopes_raise_nothing_but_project_errors(moves: list[tuple]) -> None:  # type: ignore[type-arg]
    r, links, corpus = build()
    sessions = [x.session for x in links]
    insider = sessions[2]
    now = r.now
    for mv in moves:
        victim = sessions[mv[1]]
        if mv[0] == "mutate":
            _, _, i, how, pos, junk, etype, slot = mv
            base = corpus[i % len(corpus)]
            env = Envelope(etype, victim.room_tag, slot, mutate(base.payload, how, pos, junk))
            feed(victim, env, now)
        elif mv[0] == "random":
            _, _, etype, slot, payload = mv
            feed(victim, Envelope(etype, victim.room_tag, slot, payload), now)
        elif mv[0] == "insider":
            _, _, ctype, seq, epoch, args = mv
            args_v: list[Value] = list(args)
            try:
                signed = sign_control(
                    insider._identity,
                    insider._session_key.public,
                    insider.room_id,
                    ctype,  # type: ignore[arg-type]
                    seq,
                    epoch,
                    insider.head,
                    args_v,
                )
            except HushroomError:
                continue  # not encodable: nothing to send
            key = insider._keys.control[max(insider._keys.control)]
            payload = seal.seal_epoch(
                seal.Kind.CONTROL,
                key,
                insider.room_id,
                max(insider._keys.control),
                signed,
                insider._rng,
            )
            feed(
                victim,
                Envelope(EnvelopeType.CONTROL, victim.room_tag, insider.slot or 0, payload),
                now,
            )
        elif mv[0] == "chunk":
            _, _, tid, index, count, size = mv
            head = bytes((seal.Kind.SEALED_CHUNK, tid)) + bytes(7)
            piece = head + index.to_bytes(2, "big") + count.to_bytes(2, "big") + bytes(size)
            feed(victim, Envelope(EnvelopeType.UNICAST, victim.room_tag, 1, piece), now)
        else:
            now += mv[2]
            try:
                victim.handle_timer(now)
            except HushroomError:
                pass
        victim.data_to_send()
        while victim.next_event() is not None:
            pass
