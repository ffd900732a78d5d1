"""Measured cost of admission authority at 5,000 members (spec §13.8); excluded by default.

    .venv/bin/python -m pytest -m load -s tests/room/test_room_admission_cost.py

prints JSON lines: the bytes the moderators' promotion proofs add to a welcome,
the joiner's CPU to verify them, the whole welcome check for comparison, and a
moderator's CPU for one replayed join request and for rotating the room secret.
Nothing here is asserted about speed.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import pytest

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.identity import SessionKey
from e2ee.room import RoomSession, admission, rotation, seal
from e2ee.room.authority import Authority
from e2ee.room.commit import sign_commit, sign_snapshot, snapshot_body
from e2ee.room.joiner import Joiner
from e2ee.room.roster import Policy, Role, RosterState, op_add, op_role

from .admission_util import founded_room
from .harness import make_invite, new_identity, rng_for
from .test_room_admission_fresh import admission_payloads, tap

MEMBERS = 5000


def _median_ms(fn: Callable[[], object], runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 3)


@pytest.mark.load
def test_authority_cost_at_five_thousand_members() -> None:
    founder, a, b, joiner_id = (new_identity(i) for i in (1, 2, 3, 4))
    invite = make_invite(bytes(32), founder.public)
    room_id = invite.room_id
    joiner_session = SessionKey.generate(rng_for(5))
    state = RosterState(Policy.OPEN)
    state.apply_ops([op_add(founder.public, bytes(32), "Mod", Role.MODERATOR)])
    ids = [joiner_id.public, a.public, b.public]
    ids += [new_identity(1000 + i).public for i in range(MEMBERS - 4)]
    sessions = {joiner_id.public: joiner_session.public}
    state.apply_ops(
        [
            op_add(m, sessions.get(m, bytes(32)), f"member {i:04d}", Role.LISTENER)
            for i, m in enumerate(ids)
        ]
    )
    # founder -> a -> b by two transfers: proofs of 0, 1 and 2 commits
    auth = Authority(founder.public, room_id)
    c1 = sign_commit(
        founder,
        room_id,
        1,
        bytes(32),
        [op_role(a.public, Role.MODERATOR)],
        False,
        key_confirm=bytes(32),
    )
    c2 = sign_commit(
        a, room_id, 2, c1.head, [op_role(b.public, Role.MODERATOR)], False, key_confirm=bytes(32)
    )
    for c in (c1, c2):
        state.apply_ops(list(c.ops))
        auth.observe(c)
    assert len(state.members) == MEMBERS
    moderators = state.moderators()
    body = snapshot_body(room_id, 2, c2.head, state)
    entries = auth.entries(moderators)
    with_proofs = sign_snapshot(b, room_id, body, entries)
    without = sign_snapshot(b, room_id, body, [])
    welcome = admission.encode_welcome(
        b, room_id, joiner_session.public, with_proofs, bytes(32), []
    )

    def new_joiner() -> Joiner:  # a fresh one each time: no cached proof verifications
        cert = joiner_session.certify(joiner_id)
        return Joiner(joiner_id, joiner_session, cert, "J", room_id, founder.public, rng_for(6))

    joiner = new_joiner()
    kind, fields = admission.decode_sealed(welcome)
    moderator, wbody = admission.decode_verdict(kind, fields, room_id)
    checked = joiner.check_welcome(moderator, wbody)

    def verify_all() -> None:
        Authority(founder.public, room_id).install(checked.authority, set(moderators))

    figures = {
        "members": MEMBERS,
        "moderators": len(moderators),
        "proof_commits": sum(len(p) for _, p in checked.authority),
        "snapshot_bytes": len(without),
        "authority_bytes": len(with_proofs) - len(without),
        "offer_bytes_depth_2": len(
            admission.encode_offer(
                bytes(16), SessionKey.generate(rng_for(7)).certify(b), auth.proof_of(b.public) or ()
            )
        ),
        "joiner_verify_authority_ms": _median_ms(verify_all),
        "joiner_check_welcome_ms": _median_ms(lambda: new_joiner().check_welcome(moderator, wbody)),
    }
    print(json.dumps(figures))
    assert figures["authority_bytes"] == len(sign_snapshot(b, room_id, b"", entries)) - len(
        sign_snapshot(b, room_id, b"", [])
    )


@pytest.mark.load
def test_replayed_request_cost() -> None:
    """CPU a moderator spends on one replayed join request (no roster work, so any room size)."""
    r, invite, mod = founded_room("open", bytes([3]) * 32)
    s = RoomSession.join(new_identity(30), invite, "X", rng_for(30), r.now)
    seen = tap(s)
    r.attach(s)
    r.pump()
    request = [e for e in admission_payloads(seen, invite) if e.type is EnvelopeType.UNICAST][-1]
    env = Envelope(request.type, request.room_tag, s.slot or 0, request.payload)

    def once() -> None:
        mod.session.envelope_received(env, r.now)

    ms = _median_ms(once, runs=200)
    # each replay is dropped: stale, or over the slot's admission rate before it is opened
    c = mod.session.counters
    assert c["stale_join_request"] + c["join_request_limited"] == 200
    print(
        json.dumps(
            {"moderator_replayed_request_ms": ms, "reply_bytes": len(mod.session.data_to_send())}
        )
    )


@pytest.mark.load
def test_rotation_cost_at_five_thousand_members() -> None:
    """A moderator's CPU and bytes to hand a new room secret to 4,999 members (spec §13.7)."""
    mod = new_identity(1)
    room_id = bytes(32)
    sessions = [SessionKey.generate(rng_for(2000 + i)).public for i in range(MEMBERS - 1)]
    rng = rng_for(3)

    def rotate() -> int:
        pt = rotation.encode_rotation(mod, room_id, 7, bytes(32))
        return sum(len(seal.seal_to(s, room_id, pt, rng)) for s in sessions)

    t = time.process_time()
    sent = rotate()
    cpu_ms = (time.process_time() - t) * 1000
    print(
        json.dumps({"members": MEMBERS, "rotation_cpu_ms": round(cpu_ms), "rotation_bytes": sent})
    )
