"""Where an inbound room payload goes, found from its key (spec §13.1, §14.3, §16.7).

A CONTROL or UNICAST payload names no key: :func:`route` checks its length,
finds the first candidate key whose hint it carries (:mod:`e2ee.room.hints`,
in the order of :func:`candidates`) and says which handler takes it: a pair
channel's, an epoch's (a commit or a control message), the admission key's
(opened here: a join request, a welcome chunk or a beacon), or none
(:data:`UNMATCHED`); an epoch's payload is opened only while its key is
usable (:func:`open_epoch_payload`).  An unmatched payload is either SEALED to our session
key (:func:`open_unmatched`) or under a key still on its way; the latter is
held, bounded, in :class:`e2ee.room.pending.PendingPayloads` until a key
arrives (a new pair channel is such a key: :class:`e2ee.room.pair_out.PairOut`).

A payload that fails here raises one of the project's errors, which
:func:`error_counter` names for the session's counters: nothing from the
relay is answered or logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from e2ee.errors import DecryptionFailed, ErrorCode, RemoteProtocolError
from e2ee.identity import SessionKey
from e2ee.room import hints, seal
from e2ee.room.commit import Commit, decode_commit
from e2ee.room.control import Control, parse_control
from e2ee.room.epochs import EpochKeys
from e2ee.room.keys import ControlKeys
from e2ee.room.pair_out import PairOut
from e2ee.room.roster import RosterState


@dataclass(frozen=True, slots=True)
class ToPair:
    """Under a pair channel with a moderator (spec §15.3)."""

    channel: seal.PairChannel


@dataclass(frozen=True, slots=True)
class ToEpoch:
    """Under ``epoch``'s control key: a commit or a control message (spec §12.3, §14.3)."""

    epoch: int


@dataclass(frozen=True, slots=True)
class Keyed:
    """Under the admission key, opened: its kind and body (spec §13.1)."""

    kind: seal.Kind
    body: bytes


class Unmatched:
    """No candidate key's hint matched (spec §14.3)."""

    __slots__ = ()


UNMATCHED: Final = Unmatched()
Route = ToPair | ToEpoch | Keyed | Unmatched


def candidates(
    control: ControlKeys,
    current: int,
    admission_key: bytes,
    pair_out: PairOut,
    roster: RosterState | None,
    me: bytes,
) -> Iterator[tuple[int | str | seal.PairChannel, bytes]]:
    """The keys a payload's hint is tried against (:func:`e2ee.room.hints.candidates`).

    The pair channels last: those with the other moderators, made as they are reached.
    """
    return hints.candidates(
        control, current, admission_key, _moderator_channels(pair_out, roster, me)
    )


def _moderator_channels(
    pair_out: PairOut, roster: RosterState | None, me: bytes
) -> Iterator[seal.PairChannel]:
    if roster is not None:
        for mid in roster.moderators():
            if mid != me:
                yield pair_out.channel(roster, mid)


def route(
    payload: bytes,
    tried: Iterator[tuple[int | str | seal.PairChannel, bytes]],
    admission_key: bytes,
    room_id: bytes,
) -> Route:
    """Which handler takes ``payload`` (spec §13.1); MALFORMED for an impossible size."""
    if not seal.is_payload_len(len(payload)):
        raise RemoteProtocolError("room payload size", ErrorCode.MALFORMED)
    found = hints.find_key(payload, tried)
    if isinstance(found, int):  # an epoch: a commit or control message, the commonest
        return ToEpoch(found)
    if isinstance(found, seal.PairChannel):
        return ToPair(found)
    if isinstance(found, hints.NoMatch):
        return UNMATCHED
    return Keyed(*seal.open_keyed(admission_key, room_id, payload))


def open_epoch_payload(
    keys: EpochKeys, epoch: int, current: int, now: float, room_id: bytes, payload: bytes
) -> Commit | Control | None:
    """A payload under ``epoch``'s control key, opened and decoded (spec §12.3, §14.3).

    None when that key was superseded longer than its grace ago (spec §15.5):
    the payload is not opened.
    """
    if not keys.usable(epoch, current, now):
        return None
    kind, plaintext = seal.open_epoch(keys.control[epoch], room_id, epoch, payload)
    if kind is seal.Kind.COMMIT:
        return decode_commit(plaintext, room_id)
    return parse_control(plaintext)


def open_unmatched(mine: SessionKey, room_id: bytes, payload: bytes) -> bytes | None:
    """The plaintext of an unmatched payload SEALED to ``mine`` (spec §13.1), else None."""
    try:
        return seal.open_sealed(mine, room_id, payload)
    except DecryptionFailed:
        return None


def error_counter(exc: DecryptionFailed | RemoteProtocolError) -> str:
    """The counter a payload that failed with ``exc`` bumps (spec §18)."""
    if isinstance(exc, DecryptionFailed):
        return "decryption_failed"
    return "unauthorized" if exc.code is ErrorCode.UNAUTHORIZED else "malformed"
