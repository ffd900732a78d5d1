"""Random legal and illegal control actions: every member ends on one head (spec §12.5).

The default suite runs 60 derandomized examples (tests/conftest.py); the long
profile explores thousands at random:

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/room/test_room_hypothesis.py
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2ee.envelope import EnvelopeType
from e2ee.errors import LocalProtocolError
from e2ee.room import Role, RoomSession, seal
from e2ee.room.commit import key_confirmation, sign_commit
from e2ee.room.control import ControlType
from e2ee.room.roster import op_role
from e2ee.room.succession import take_over_ops

from .harness import Router, make_invite, new_identity, rng_for

ACTIONS = [
    "raise_hand",
    "lower_hand",
    "invite_to_speak",
    "accept_invitation",
    "decline_invitation",
    "move_to_audience",
    "request_mute",
    "kick",
    "ban",
    "leave",
    "transfer_moderator",
    "send_chat",
    "forge_mute",
    "forge_hand",
    "forge_commit",
    "promote_moderator",
    "take_chair",
]

action = st.tuples(st.integers(0, 4), st.sampled_from(ACTIONS), st.integers(0, 4))
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
EXAMPLES = 60 if PROFILE == "default" else settings.get_profile(PROFILE).max_examples


def _do(r: Router, actor: RoomSession, name: str, target: bytes) -> None:
    if actor.state != "member":
        return
    try:
        if name in ("raise_hand", "lower_hand", "accept_invitation", "decline_invitation", "leave"):
            getattr(actor, name)()
        elif name == "send_chat":
            actor.send_chat("hi")
        elif name == "forge_mute":  # bypasses the local check: receivers must refuse it
            actor._send_control(ControlType.MUTE_REQUEST, [target])
        elif name == "forge_hand":
            actor._send_control(ControlType.HAND, [True])
        elif name == "forge_commit":  # any member signs a commit promoting itself:
            # the roster's deputy may (a take-over, spec §12.2), nobody else
            forged = sign_commit(
                actor._identity,
                actor.room_id,
                actor.epoch + 1,
                actor.head,
                [op_role(actor.me, Role.MODERATOR)],
                False,
                key_confirm=key_confirmation(actor._keys.epoch_keys.get(actor.epoch, b""), b""),
            )
            key = actor._keys.control.get(actor.epoch)
            if key is not None:
                payload = seal.seal_epoch(
                    seal.Kind.COMMIT, key, actor.room_id, actor.epoch, forged.encode(), actor._rng
                )
                actor._send(EnvelopeType.CONTROL, 0, payload)
                if actor.slot is not None:  # its own copy, in relay order, as a chair sends
                    actor._send(EnvelopeType.UNICAST, actor.slot, payload)
        elif name == "take_chair":  # as if every moderator were gone: only the deputy may
            actor._chair.queue[:] = take_over_ops(actor.me)
            actor._flush_commit()
        elif name == "promote_moderator":
            roster = actor._require_moderator()
            if roster.role_of(target) not in (None, Role.MODERATOR):
                actor._moderator_action([op_role(target, Role.MODERATOR)])
        else:
            getattr(actor, name)(target)
    except LocalProtocolError:
        pass


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(action, min_size=1, max_size=25), st.booleans())
def test_random_actions_converge_on_one_head(
    steps: list[tuple[int, str, int]], concurrent: bool
) -> None:
    run_and_check_convergence(steps, concurrent)


def test_transfer_then_kick_by_the_new_moderator_then_a_hand_converges() -> None:
    """Regression: the new moderator did not know the listeners' slots, so its
    kick's re-key secret reached none of them and they stayed an epoch behind."""
    run_and_check_convergence(
        [(0, "transfer_moderator", 1), (1, "kick", 0), (2, "raise_hand", 0)], False
    )


def run_and_check_convergence(steps: list[tuple[int, str, int]], concurrent: bool) -> None:
    founder = new_identity(1)
    invite = make_invite(b"h" * 32, founder.public)
    r = Router()
    links = [r.attach(RoomSession.create(founder, invite, "M", "open", rng_for(1), 0.0))]
    r.pump()
    for i in range(4):
        links.append(
            r.attach(RoomSession.join(new_identity(2 + i), invite, f"P{i}", rng_for(2 + i), 0.0))
        )
    r.pump()
    for actor_i, name, target_i in steps:
        actor = links[actor_i].session
        _do(r, actor, name, links[target_i].session.me)
        if not concurrent:  # otherwise several actions race before the relay moves
            r.pump()
        r.advance(0.1)
    r.advance(5.0)
    alive = [x.session for x in links if x.session.state == "member"]
    assert alive, "the founder cannot be removed while it is the last moderator"
    assert len({(s.epoch, s.head) for s in alive}) == 1
    digests = {s.roster_digest() for s in alive}
    assert len(digests) == 1
    roster = alive[0].roster
    assert roster is not None
    for s in alive:
        assert s.me in roster.members
        assert s.counters["alert_split_view"] == 0 and s.counters["alert_rollback"] == 0
