"""The room's roster as the terminal view shows it (:class:`client.view.RoomView`).

A member's view handle is the hex of its whole member id, so a handle names
exactly one member and maps back to its id without a search (local display
only; never sent anywhere).
"""

from __future__ import annotations

from client.view import MemberView as ViewMember
from client.view import RoomView
from e2ee.room.roster import Role
from e2ee.room.session import RoomSession

ROLE_NAMES = {Role.LISTENER: "listener", Role.SPEAKER: "speaker", Role.MODERATOR: "moderator"}


def handle_of(member_id: bytes) -> str:
    """The view's handle for a member: the hex of its whole member id."""
    return member_id.hex()


def member_id_of(handle: str) -> bytes:
    """The member id a view handle names."""
    return bytes.fromhex(handle)


def safety_code(room: RoomSession) -> str:
    """The room safety code to show (spec §16.1), or nothing before admission."""
    return str(room.safety_code()) if room.role is not None else ""


def refresh(view: RoomView, room: RoomSession) -> None:
    """Show ``room``'s current roster, raised hands, safety code and last-moderator successor."""
    me = room.me if room.role is not None else None
    view.set_members(
        [
            ViewMember(
                handle_of(m.id),
                m.display_name,
                ROLE_NAMES[m.role],
                is_me=m.id == me,
                recording=m.recording,
            )
            for m in room.members.values()
        ]
    )
    view.set_hand_queue([handle_of(mid) for mid in room.hand_queue])
    view.safety_code = safety_code(room)
    successor = room.successor
    view.successor = view.members.get(handle_of(successor)) if successor is not None else None
