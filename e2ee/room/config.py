"""What a room session is given and shows: invite, tunables, roster view (spec §6, §15.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from e2ee.invite import Invite
from e2ee.room import pending
from e2ee.room.roster import Role
from e2ee.room.speaker_auth import AuthConfig


class RoomInvite(Protocol):
    """What a session needs from an invite (spec §6): derived from the room secret.

    :class:`e2ee.invite.Invite` is accepted as well (its ``secrets()`` and
    ``founder_identity`` are used).
    """

    @property
    def room_tag(self) -> bytes: ...
    @property
    def admission_key(self) -> bytes: ...
    @property
    def room_id(self) -> bytes: ...
    @property
    def founder(self) -> bytes: ...


def secrets_of(invite: RoomInvite | Invite) -> tuple[bytes, bytes, bytes, bytes]:
    """(room_tag, admission_key, room_id, founder identity) of an invite (spec §6.4)."""
    if isinstance(invite, Invite):
        secrets = invite.secrets()
        return (
            secrets.room_tag,
            secrets.admission_key,
            secrets.room_id,
            invite.founder_identity,
        )
    return invite.room_tag, invite.admission_key, invite.room_id, invite.founder


@dataclass
class RoomConfig:
    """Tunables (spec §15.2, §16.4); defaults are the spec's."""

    leave_debounce: float = 2.0  # batch voluntary leaves (spec §15.2)
    absent_timeout: float = 10.0  # PEER_LEFT and no signed word since -> removal (§16.4)
    key_grace: float = 1.0  # keep superseded epoch keys this long (spec §15.2)
    rekey_send_grace: float = 0.5  # speakers may use the old key this long after a re-key
    join_retry: float = 3.0  # resend a join request until admitted (spec §13.2)
    sync_after: float = 2.0  # behind a moderator this long -> ask for a sync (spec §16.4)
    fresh_timeout: float = 0.5  # no re-key secret after this long -> ask for a sync (§15.2)
    head_beacon: float = 30.0  # stage members broadcast their head this often (spec §16.2)
    quiet_alert: float = 75.0  # no commit or confirmed head this long -> alert (spec §16.2)
    commit_log: int = 1024  # commits a moderator keeps to catch members up (spec §16.4)
    buffer_limit: int = pending.MAX_ENTRIES  # payloads kept while waiting for a key (§16.7)
    buffer_bytes: int = pending.MAX_BYTES  # and their bytes (spec §16.7)
    speaker_auth: AuthConfig = field(default_factory=AuthConfig)  # spec §15.6


@dataclass(frozen=True, slots=True)
class MemberView:
    """A roster entry as the driver sees it."""

    id: bytes
    display_name: str
    role: Role
    hand_raised: bool
    recording: bool = False
    """The member's client says it records the room (advisory, spec §14.4)."""
