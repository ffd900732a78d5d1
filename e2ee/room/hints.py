"""Which key a room payload is under, found from its hint (spec §13.1, §16.7).

A room payload names no key: its first 8 bytes are a hint that only a holder
of the key can compute (:func:`e2ee.room.seal.hint_matches`).  A receiver
tries its keys in a fixed order and stops at the first match, so a payload
costs at most :data:`MAX_HINT_TRIALS` SHA-256 computations (one per candidate key) before any
decryption, and at most one decryption after a match.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Final, TypeVar

from e2ee.room import seal
from e2ee.room.keys import ControlKeys
from e2ee.room.seal import HEAD_LEN, HINT_LEN, MIN_PAYLOAD, PairChannel

MAX_EPOCH_TRIALS: Final = 128  # held epoch keys tried, newest first (spec §16.7)
MAX_CHANNEL_TRIALS: Final = 31  # pairwise channels with moderators tried (spec §16.7)
MAX_HINT_TRIALS: Final = MAX_EPOCH_TRIALS + 1 + MAX_CHANNEL_TRIALS  # the admission key: 1


class NoMatch:
    """No candidate key's hint matched."""

    __slots__ = ()


NO_MATCH: Final = NoMatch()
T = TypeVar("T")


def candidates(
    control: ControlKeys, current: int, admission_key: bytes, channels: Iterable[PairChannel]
) -> Iterator[tuple[int | str | PairChannel, bytes]]:
    """The keys a payload's hint is tried against, in the order of spec §16.7.

    The current epoch's control key, the admission key, the pair channels
    with moderators (MAX_CHANNEL_TRIALS), which ``channels`` yields lazily,
    then the other held epochs' control keys newest first (MAX_EPOCH_TRIALS
    in all).  Most payloads match one of the first three: a commit or control
    message of the current epoch, an admission message, a re-key secret
    (which comes while its epoch's key is not yet held).  Superseded epochs
    are tried last: they are only ever used within ``key_grace`` of a commit.
    """
    epochs = sorted(control, reverse=True)[:MAX_EPOCH_TRIALS]
    key = control.get
    if epochs and epochs[0] == current:
        yield epochs.pop(0), key(current)  # type: ignore[misc]  # held: an epoch of control
    yield "admission", admission_key
    for ch in islice(channels, MAX_CHANNEL_TRIALS):
        yield ch, ch.key
    for epoch in epochs:
        yield epoch, key(epoch)  # type: ignore[misc]


def find_key(payload: bytes, candidates: Iterable[tuple[T, bytes]]) -> T | NoMatch:
    """The tag of the first of (at most :data:`MAX_HINT_TRIALS`) candidate keys whose
    hint ``payload`` carries, or :data:`NO_MATCH` (as for one too short to be a room payload).
    """
    if len(payload) < MIN_PAYLOAD:
        return NO_MATCH
    carried, nonce = payload[:HINT_LEN], payload[HINT_LEN:HEAD_LEN]
    hint = seal.hint
    for tag, key in islice(candidates, MAX_HINT_TRIALS):
        if hint(key, nonce) == carried:
            return tag
    return NO_MATCH
