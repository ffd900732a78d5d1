"""Receiver loss reports: the LOSS_REPORT control message's arguments (spec §14.4).

A stage member tells a speaker how many of that speaker's frames it did not
receive over its last report window, as ``[speaker_id, loss_permille]``:
``speaker_id`` is the 32-byte member id of the speaker the report is about
and ``loss_permille`` an integer 0..1000 (frames expected but not received,
by frame counter and before any FEC recovery, per thousand).  The message is
sent by UNICAST to that speaker's slot; the id is in the signed body so that
a report the relay delivers to another member is recognised and dropped.
"""

from __future__ import annotations

from e2ee import canonical
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.room.roster import ID_LEN

MAX_PERMILLE = 1000
"""The largest loss a report can state: every frame lost."""


def report_args(speaker: bytes, loss_permille: int) -> list[Value]:
    """The ``args`` of a LOSS_REPORT about ``speaker`` (spec §14.4)."""
    if len(speaker) != ID_LEN:
        raise LocalProtocolError("a loss report names one member id")
    if isinstance(loss_permille, bool) or not 0 <= loss_permille <= MAX_PERMILLE:
        raise LocalProtocolError("loss is reported in permille, 0..1000")
    return [speaker, loss_permille]


def check_report_args(args: list[Value]) -> None:
    """MALFORMED unless ``args`` is ``[speaker_id(32), loss_permille 0..1000]`` (spec §14.4)."""
    if len(args) != 2:
        raise RemoteProtocolError("loss report arguments", ErrorCode.MALFORMED)
    canonical.expect_bytes(args[0], "reported speaker", ID_LEN)
    canonical.expect_int(args[1], "loss permille", 0, MAX_PERMILLE)


def loss_about(args: tuple[Value, ...], me: bytes) -> int | None:
    """The reported loss if a checked report is about ``me``; None if about someone else."""
    speaker, permille = args
    if speaker != me:
        return None
    assert isinstance(permille, int)
    return permille
