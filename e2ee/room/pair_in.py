"""Pair messages in: only from a current moderator's current session (spec §15.2, §15.3, §16.4).

Re-key secrets, syncs and snapshots are for moderators to send.  A payload
that opened under a pair channel counts only if the channel's peer is a
moderator now and the channel is the one with that member's current session
key: a demoted moderator, or an old session of a member who rejoined, is
refused (``unauthorized``) before the message is decoded.
"""

from __future__ import annotations

from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.room.pairs import Pairs, Rekey, SnapshotOffer, Sync, parse_pair_message
from e2ee.room.roster import RosterState
from e2ee.room.seal import PairChannel


def open_pair_message(
    ch: PairChannel, payload: bytes, roster: RosterState, pairs: Pairs, room_id: bytes
) -> Rekey | Sync | SnapshotOffer:
    """The pair message ``payload`` on ``ch``, if its peer may send one (spec §15.3)."""
    peer = roster.members.get(ch.peer_id)
    current = pairs.is_current(ch, peer.session_key if peer else None)
    if not roster.is_moderator(ch.peer_id) or not current:
        raise RemoteProtocolError("pairwise message from a non-moderator", ErrorCode.UNAUTHORIZED)
    return parse_pair_message(ch.open(payload), room_id)
