"""The room protocol (spec §12–§16): roster, admission, control, re-keying, safety code.

Public API (sans-IO, like h11)::

    from e2ee.room import RoomSession, RoomConfig, events, Role

    s = RoomSession.create(identity, invite, "Ada", "knock", rng, now)   # founder
    s = RoomSession.join(identity, invite, "Bob", rng, now)              # everyone else
    link.send(s.data_to_send())            # includes the initial JOIN envelope
    s.envelope_received(env, now)          # every Envelope the relay delivers
    while (ev := s.next_event()) is not None: ...
    s.get_timer() / s.handle_timer(now)
    s.link_reset(now)                      # new relay link (new slot): rejoin + re-announce
    s.send_audio(opus, now)                # speakers/moderators only (LocalProtocolError)

Actions (LocalProtocolError when the roster forbids them): raise_hand, lower_hand,
invite_to_speak(m), accept_invitation, decline_invitation, move_to_audience(m),
request_mute(m), kick(m), ban(m), leave, transfer_moderator(m), end_room,
send_chat(text), approve(request), deny(request).

State: ``members`` (id -> MemberView), ``me``, ``role``, ``hand_queue``, ``epoch``,
``head``, ``safety_code()``, ``roster_digest()``, ``delivery_class``, ``counters``.
Member ids are 32-byte Ed25519 identity public keys.

``invite`` is anything with ``room_tag``, ``admission_key``, ``room_id`` and
``founder`` attributes (:class:`e2ee.room.session.RoomInvite`).
"""

from e2ee.room import events
from e2ee.room.roster import Policy, RemoveReason, Role
from e2ee.room.session import MemberView, RoomConfig, RoomInvite, RoomSession

__all__ = [
    "MemberView",
    "Policy",
    "RemoveReason",
    "Role",
    "RoomConfig",
    "RoomInvite",
    "RoomSession",
    "events",
]
