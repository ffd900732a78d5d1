"""A member whose link dies is removed on schedule; a relay's word alone removes nobody (§16.4).

PEER_LEFT starts the chair's absence timer and a probe of the old slot; a
fresh signed control message from the member cancels it; when it runs out
the chair commits REMOVE(member, LEFT), which re-keys (spec §15.2).
"""

from __future__ import annotations

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.room import RoomConfig
from e2ee.room.chair import is_chair
from e2ee.room.events import AudioReceived, MemberLeft, Removed
from e2ee.room.roster import RemoveReason, Role, op_role

from .harness import Link, Router
from .test_room_robust_buffer import intercept
from .test_room_robust_rekey import stage_room

TIMEOUT = 6.0
CONFIG = RoomConfig(absent_timeout=TIMEOUT)


def peer_left(to: Link, slot: int) -> None:
    """The relay tells ``to`` that ``slot``'s link is gone (true or not)."""
    to.inbox.append(Envelope(EnvelopeType.PEER_LEFT, to.session.room_tag, slot, b""))


def in_every_roster(links: list[Link], who: Link) -> bool:
    return all(who.session.me in x.session.members for x in links)


def test_a_speaker_whose_link_dies_is_removed_after_absent_timeout_and_the_room_rekeys() -> None:
    r, mod, spk, listeners = stage_room(CONFIG)
    rest = [mod, *listeners]
    old_epoch, old_key = mod.session.epoch, mod.session._keys.epoch_keys[mod.session.epoch]
    # a frame the speaker protected under the old key, before it died
    spk.session.send_audio(b"old-opus", r.now)
    sent = spk.decoder.feed(spk.session.data_to_send())
    stale = [e for e in sent if e.type is EnvelopeType.MEDIA]
    assert stale
    r.drop_link(spk)  # SIGKILL: no LEAVE, the relay sends PEER_LEFT to the stage
    r.pump()
    r.advance(TIMEOUT - 0.1)
    assert in_every_roster(rest, spk) and mod.session.epoch == old_epoch
    r.advance(0.2)  # the timer fired at TIMEOUT after the notice
    assert not any(spk.session.me in x.session.members for x in rest)
    new_epoch = mod.session.epoch
    assert new_epoch == old_epoch + 1
    new_key = mod.session._keys.epoch_keys[new_epoch]
    assert new_key != old_key
    assert all(x.session.epoch == new_epoch for x in rest)
    assert all(x.session._keys.epoch_keys[new_epoch] == new_key for x in rest)
    for x in listeners:
        left = [e for e in x.events if isinstance(e, MemberLeft)]
        assert [(e.member, e.reason) for e in left] == [(spk.session.me, RemoveReason.LEFT)]
    # after the key grace the old key is gone: the dead speaker's frame is not played
    r.advance(CONFIG.key_grace + 0.1)
    for x in listeners:
        assert old_epoch not in x.session._keys.epoch_keys
        before = len(x.events)
        x.session.envelope_received(stale[0], r.now)
        r.pump()
        assert not any(isinstance(e, AudioReceived) for e in x.events[before:])


def test_a_forged_peer_left_for_a_live_speaker_changes_no_roster() -> None:
    r, mod, spk, listeners = stage_room(CONFIG)
    everyone = [mod, spk, *listeners]
    before = (mod.session.epoch, mod.session.head)
    slot = spk.slot
    assert slot is not None
    for x in (mod, *listeners):
        peer_left(x, slot)
    r.pump()
    r.advance(2 * TIMEOUT)
    assert in_every_roster(everyone, spk)
    assert all((x.session.epoch, x.session.head) == before for x in everyone)
    # the probe's signed answer gave the chair the speaker's slot back
    assert mod.session._slots[spk.session.me] == slot
    assert len(mod.session._absence) == 0


def test_a_relay_that_forges_peer_left_and_withholds_the_answers_costs_availability_only() -> None:
    r, mod, spk, listeners = stage_room(CONFIG)
    slot = spk.slot
    assert slot is not None
    intercept(mod, lambda env: env.slot == slot and env.type is not EnvelopeType.PEER_LEFT)
    peer_left(mod, slot)
    r.pump()
    r.advance(TIMEOUT + 0.1)
    # removed, as if it had died; it sees its own removal and knows it never left
    assert spk.session.me not in mod.session.members
    assert spk.session.state == "removed"
    assert [e.reason for e in spk.events if isinstance(e, Removed)] == [RemoveReason.LEFT]
    assert all(x.session.epoch == mod.session.epoch for x in listeners)


def reconnect_within_timeout(r: Router, who: Link) -> None:
    r.drop_link(who)
    r.pump()
    r.advance(TIMEOUT / 2)
    r.reconnect(who)
    r.pump()
    r.advance(2 * TIMEOUT)


def test_a_speaker_that_reconnects_within_the_timeout_is_not_removed() -> None:
    r, mod, spk, listeners = stage_room(CONFIG)
    epoch = mod.session.epoch
    reconnect_within_timeout(r, spk)
    assert in_every_roster([mod, spk, *listeners], spk)
    assert mod.session.epoch == epoch and spk.session.state == "member"
    assert mod.session._slots[spk.session.me] == spk.slot


def test_a_listener_that_reconnects_within_the_timeout_is_not_removed() -> None:
    r, mod, spk, (lis, other) = stage_room(CONFIG)
    epoch = mod.session.epoch
    reconnect_within_timeout(r, lis)
    assert in_every_roster([mod, spk, lis, other], lis)
    assert mod.session.epoch == epoch and lis.session.state == "member"


def test_the_absence_table_holds_at_most_one_timer_per_member() -> None:
    r, mod, spk, listeners = stage_room(CONFIG)
    others = [spk, *listeners]
    slots = [x.slot for x in others]
    logged = len(r.log)
    for _ in range(3):
        for s in range(4096):
            peer_left(mod, s)
    # the members' own answers are withheld, so every timer runs
    intercept(mod, lambda env: env.slot in slots and env.type is not EnvelopeType.PEER_LEFT)
    r.pump()
    assert len(mod.session._absence) == len(others)
    probes = [e for to, e in r.log[logged:] if to in slots and e.type is EnvelopeType.UNICAST]
    assert len(probes) == len(others)  # one probe per member, not per notice
    r.advance(TIMEOUT + 0.1)
    assert len(mod.session._absence) == 0
    assert list(mod.session.members) == [mod.session.me]


def test_when_the_chair_itself_dies_the_next_moderator_removes_it() -> None:
    r, chair, spk, listeners = stage_room(CONFIG)
    chair.session._moderator_action([op_role(spk.session.me, Role.MODERATOR)])
    r.pump()
    s = chair.session
    assert spk.session.role is Role.MODERATOR
    assert s.roster is not None and is_chair(s.roster, s.me, s._slots.__contains__, None)
    epoch = spk.session.epoch
    r.drop_link(chair)
    r.pump()
    assert len(spk.session._absence) == 1
    r.advance(TIMEOUT + 0.1)
    rest = [spk, *listeners]
    assert not any(chair.session.me in x.session.members for x in rest)
    assert all(x.session.epoch == epoch + 1 for x in rest)
    new_key = spk.session._keys.epoch_keys[epoch + 1]
    assert all(x.session._keys.epoch_keys[epoch + 1] == new_key for x in rest)
