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
send_chat(text), approve(request), deny(request), rotate_room_secret(),
announce_recording(on) (advisory: honest clients that record say so, spec §14.4).

State: ``state`` (a :class:`SessionState`: joining -> member -> removed | ended | left, or
joining -> denied; the table is :data:`e2ee.room.state.TRANSITIONS`),
``members`` (id -> MemberView), ``me``, ``role``, ``hand_queue``, ``epoch``,
``head``, ``safety_code()``, ``roster_digest()``, ``delivery_class``, ``counters``.
Member ids are 32-byte Ed25519 identity public keys.

``invite`` is an :class:`e2ee.invite.Invite` (its ``secrets()`` and
``founder_identity`` are used) or anything with ``room_tag``, ``admission_key``,
``room_id`` and ``founder`` attributes (:class:`e2ee.room.config.RoomInvite`).

Events (``e2ee.room.events``): JoinRequested(request, display_name), Admitted(epoch),
Denied, IdentityInRoom (a moderator with our own identity offered us admission: another
client of ours moderates the room), MemberJoined(member, display_name, role),
MemberLeft(member, reason),
RoleChanged(member, old, new), ChairTaken(member) (the deputy took the chair: every
moderator was gone, spec §12.2), HandQueueChanged(queue), InvitedToSpeak,
AudioReceived(member, seq, opus), ChatReceived(member, text), MuteRequested(by),
RecordingChanged(member, on) (``MemberView.recording`` holds the current mark),
LossReported(member, loss_permille) (a stage member lost that share of our frames),
Removed(reason), RoomEnded, KeysRotated(epoch), RoomSecretRotated(room_secret) (build the
rotated link with ``Invite.rotated``), SecurityAlert(kind, detail) with kind
"split_view" | "rollback" | "forged" | "stale_sender" | "isolated" | "key_mismatch",
SafetyCodeChanged(epoch, reason), RosterChanged(epoch, head), ForgedAudio(member,
reason) with reason "bad_signature" | "unproven" (frames in ``member``'s name that its
speaker proof did not cover, none of them played; spec §15.6).  Rejected audio and
control are counted in ``session.counters`` (e.g. ``audio_rejected_role``, ``unauthorized``,
``audio_rejected_unproven``, ``audio_proof_rejected``,
``replayed_control``, ``stale_commit``, ``buffer_overflow``,
``join_request_limited``, ``sync_deferred``), not raised as events.
Tunables: :class:`RoomConfig` (leave_debounce 2 s, key_grace 1 s, head_beacon 30 s, ...).
"""

from e2ee.room import events
from e2ee.room.config import MemberView, RoomConfig, RoomInvite
from e2ee.room.roster import Policy, RemoveReason, Role
from e2ee.room.session import RoomSession
from e2ee.room.speaker_proof import is_speaker_proof
from e2ee.room.state import SessionState

__all__ = [
    "MemberView",
    "Policy",
    "RemoveReason",
    "Role",
    "RoomConfig",
    "RoomInvite",
    "RoomSession",
    "SessionState",
    "events",
    "is_speaker_proof",
]
