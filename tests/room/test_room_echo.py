"""Every broadcast comes back to its sender in the room's one order (spec §12.5, §17.3).

A committer learns where its commit fell from the relay's echo of its
broadcast, which the relay places in the same order for everybody; the echo
of any other broadcast of its own it drops unopened.
"""

from __future__ import annotations

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.room import events
from e2ee.room.echoes import MAX_PENDING, Echoes
from e2ee.room.roster import Role, op_role

from .harness import Link, Router
from .test_room_session import of, promote, room


def two_moderators() -> tuple[Router, Link, Link, list[Link]]:
    r, mod, (m2, a, b, c) = room(4)
    promote(r, mod, m2)
    mod.session._moderator_action([op_role(m2.session.me, Role.MODERATOR)])
    r.pump()
    assert mod.session.role is Role.MODERATOR and m2.session.role is Role.MODERATOR
    return r, mod, m2, [a, b, c]


def test_a_commit_accepted_between_anothers_commit_and_its_echo_does_not_split_the_room() -> None:
    r, mod, m2, (a, b, c) = two_moderators()
    mod.session.kick(a.session.me)  # both commit on the same parent
    m2.session.kick(b.session.me)
    ours = list(mod.decoder.feed(mod.session.data_to_send()))
    theirs = list(m2.decoder.feed(m2.session.data_to_send()))
    first = next(i for i, e in enumerate(ours) if e.type is EnvelopeType.CONTROL)
    # the relay reads the moderator's broadcast, then all the other moderator wrote, then
    # the rest of the first one's output: nothing the first one sent after its broadcast
    # may decide where its commit fell
    r._route_envelopes(mod, ours[: first + 1])
    r._route_envelopes(m2, theirs)
    r._route_envelopes(mod, ours[first + 1 :])
    r.pump()
    alive = [mod, m2, c]
    assert len({(x.session.epoch, x.session.head) for x in alive}) == 1, "one room, one head"
    assert a.session.me not in mod.session.members and b.session.me not in mod.session.members
    r.advance(2 * mod.session.config.head_beacon)  # beacons would show a split
    assert not [e for x in alive for e in of(x, events.SecurityAlert)]


def test_the_echo_of_a_members_own_chat_is_dropped_unopened() -> None:
    r, mod, (a,) = room(1)
    promote(r, mod, a)
    opened = a.session.counters["decryption_failed"] + a.session.counters["malformed"]
    echoes = a.session.counters["own_echo"]
    a.session.send_chat("hello")
    r.pump()
    assert a.session.counters["own_echo"] == echoes + 1
    assert [e.text for e in of(mod, events.ChatReceived)] == ["hello"]
    assert not of(a, events.ChatReceived), "a member is not told its own chat"
    assert a.session.counters["decryption_failed"] + a.session.counters["malformed"] == opened


def test_a_commit_the_link_lost_before_the_relay_took_it_is_committed_again() -> None:
    r, mod, (a, b) = room(2)
    mod.session.kick(a.session.me)
    mod.session.data_to_send()  # the link drops with the commit still unsent
    assert mod.session._chair.inflight is not None
    r.reconnect(mod)  # its echo will never come: the ops are queued again (spec §12.5)
    r.pump()
    assert a.session.me not in mod.session.members and a.session.me not in b.session.members
    assert mod.session.head == b.session.head
    assert mod.session._chair.inflight is None and not mod.session._chair.queue


def test_pending_echoes_are_bounded_and_come_back_in_order() -> None:
    echoes = Echoes()
    for i in range(MAX_PENDING + 1):  # one more than the bound: the oldest is forgotten
        echoes.sent(b"%d" % i)
    assert len(echoes) == MAX_PENDING
    assert not echoes.returned(b"0"), "forgotten: processed like any payload"
    assert echoes.returned(b"1") and echoes.returned(b"5")  # 2..4 cannot come any more
    assert not echoes.returned(b"3") and not echoes.returned(b"not ours")
    assert len(echoes) == MAX_PENDING - 5
    echoes.clear()
    assert not echoes.returned(b"6")


def test_a_payload_stamped_with_a_members_own_slot_that_it_did_not_send_is_processed() -> None:
    r, mod, (a, b) = room(2)
    promote(r, mod, a)
    a.session.send_chat("from a")
    chat = next(
        e.payload
        for e in a.decoder.feed(a.session.data_to_send())
        if e.type is EnvelopeType.CONTROL
    )
    assert b.slot is not None
    stamped = Envelope(EnvelopeType.CONTROL, b.session.room_tag, b.slot, chat)
    b.session.envelope_received(stamped, r.now)
    got = iter(b.session.next_event, None)
    chats = [(e.member, e.text) for e in got if isinstance(e, events.ChatReceived)]
    assert chats == [(a.session.me, "from a")]
