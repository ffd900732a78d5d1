"""What one member computes for a kick's re-key (spec §15.1, §15.2, §16.6).

Counted, not timed: every remaining member verifies one signature (the
commit's), runs one HKDF (``K_e`` from ``K_{e-1}``, ``head_e`` and the fresh
secret) and no X25519 (its pair channel with the moderator was set up at
admission).  The control key ``C_e`` is derived when first used — once,
when the member next opens a payload of epoch ``e`` — not on the re-key path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from e2ee import canonical, identity, kdf
from e2ee.pairwise import PairwiseChannel
from e2ee.room import RoomConfig, RoomSession, keys, seal
from e2ee.room.commit import decode_commit, sign_commit
from e2ee.room.roster import Policy, op_policy

from .harness import Link, Router, rng_for
from .test_room_robust_rekey import stage_room


def counting(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, tally: Counter[str], who: list[bytes]
) -> None:
    """Replace ``owner.name`` by a wrapper that counts calls per current member."""
    real: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if who:
            tally[who[-1].hex() + " " + name] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


@pytest.fixture
def room() -> tuple[Router, Link, Link, list[Link]]:
    """A moderator, a speaker and two listeners on the real router."""
    return stage_room(RoomConfig())


def track_receiver(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """A stack whose top is the member whose ``envelope_received`` is running."""
    who: list[bytes] = []
    real_receive = RoomSession.envelope_received

    def receive(self: RoomSession, env: Any, now: float) -> None:
        who.append(self.me)
        try:
            real_receive(self, env, now)
        finally:
            who.pop()

    monkeypatch.setattr(RoomSession, "envelope_received", receive)
    return who


def per_member_work(
    monkeypatch: pytest.MonkeyPatch, act: Callable[[], None], r: Router
) -> Counter[str]:
    """Signature checks, HKDFs and X25519s each session ran while ``act`` settled."""
    tally: Counter[str] = Counter()
    who = track_receiver(monkeypatch)
    counting(monkeypatch, identity, "verify_signature", tally, who)
    counting(monkeypatch, kdf, "hkdf", tally, who)
    counting(monkeypatch, identity.SessionKey, "exchange", tally, who)
    act()
    r.pump()
    monkeypatch.undo()
    return tally


def test_a_member_checks_one_signature_and_runs_one_hkdf_per_kick(
    monkeypatch: pytest.MonkeyPatch, room: tuple[Router, Link, Link, list[Link]]
) -> None:
    r, mod, speaker, listeners = room
    victim, *rest = listeners
    tally = per_member_work(monkeypatch, lambda: mod.session.kick(victim.session.me), r)
    epoch = mod.session.epoch
    for link in [speaker, *rest]:
        me = link.session.me.hex()
        assert epoch in link.session._keys.epoch_keys
        work = {k.split(" ")[1]: v for k, v in tally.items() if k.startswith(me)}
        assert work == {"verify_signature": 1, "hkdf": 1}, link.session.role


def test_a_member_holding_old_epoch_keys_finds_each_re_key_payload_in_three_hints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Spec §16.7's order: the pair channels with moderators come before superseded epochs.

    A re-key secret arrives while its epoch's key is not held, so under the old
    order a member tried every superseded epoch held within ``key_grace``
    first; and a matched hint is not computed again when the payload opens.
    """
    r, mod, speaker, listeners = stage_room(RoomConfig(key_grace=1000.0))
    for i in range(12):  # commits within the grace: 12 superseded epoch keys stay held
        mod.session._moderator_action([op_policy(Policy.KNOCK if i % 2 == 0 else Policy.OPEN)])
        r.pump()
    assert len(list(speaker.session._keys.control)) > 12
    hints: Counter[str] = Counter()
    who = track_receiver(monkeypatch)
    real_hint = seal.hint

    def hint(key: bytes, nonce: bytes) -> bytes:
        if who:
            hints[who[-1].hex()] += 1
        return real_hint(key, nonce)

    monkeypatch.setattr(seal, "hint", hint)
    victim, kept = listeners
    mod.session.kick(victim.session.me)
    r.pump()
    for link in (speaker, kept):
        assert mod.session.epoch in link.session._keys.epoch_keys
        # the commit: C_e of the current epoch (1); the re-key secret: the admission
        # key, then the channel with the moderator (2)
        assert hints[link.session.me.hex()] == 3, link.session.role


def test_the_control_key_is_derived_once_when_first_used(
    monkeypatch: pytest.MonkeyPatch, room: tuple[Router, Link, Link, list[Link]]
) -> None:
    r, mod, speaker, listeners = room
    mod.session.kick(listeners[0].session.me)
    r.pump()
    epoch = speaker.session.epoch
    # the next commit (a raised hand) is sealed under C_e: each member derives it now, once
    tally = per_member_work(monkeypatch, listeners[1].session.raise_hand, r)
    assert speaker.session.epoch == epoch + 1
    for link in [speaker]:
        me = link.session.me.hex()
        assert tally[me + " hkdf"] == 2, link.session.role  # C_e, then K_{e+1} (no re-key)


def test_control_keys_derive_on_first_use_and_once() -> None:
    room_id, epoch_key = b"i" * 32, b"k" * 32
    held = keys.ControlKeys(room_id)
    held.install(7, epoch_key)
    assert 7 in held and 8 not in held and list(held) == [7]
    assert held.get(8) is None
    with pytest.raises(KeyError):
        held[8]
    first = held[7]
    assert first == keys.control_key(epoch_key, room_id)
    assert held.get(7) is first  # the same object: not derived again
    held.install(7, b"n" * 32)  # a new key for the epoch replaces the derived one
    assert held[7] == keys.control_key(b"n" * 32, room_id) != first
    held.forget(7)
    assert 7 not in held and held.get(7) is None


def test_the_fast_wire_encodings_are_the_canonical_ones() -> None:
    founder = identity.IdentityKey(b"f" * 32)
    commit = sign_commit(founder, b"i" * 32, 3, b"p" * 32, [], False, key_confirm=b"c" * 32)
    assert commit.encode() == canonical.encode([commit.body, commit.signature])
    decoded = decode_commit(commit.encode(), b"i" * 32)  # keeps the bytes it came in
    assert decoded.encode() == commit.encode() and decoded.head == commit.head
    a, b = (identity.SessionKey.generate(rng_for(i)) for i in (1, 2))
    channel = PairwiseChannel(
        room_id=b"i" * 32,
        my_identity=b"m" * 32,
        my_session=a,
        peer_identity=b"n" * 32,
        peer_session=b.public,
    )
    for size in (0, 200, 70_000):  # msgpack's bin8, bin16 and bin32 forms
        message = channel.seal(bytes(size))
        version, counter, ct = canonical.decode_array(message, 3, "pairwise message")
        assert message == canonical.encode([version, counter, ct])
