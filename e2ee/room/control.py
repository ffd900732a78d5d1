"""Signed control messages (spec §14.2–§14.4).

A control message is signed by its author's identity key and then sealed
under the epoch control key (spec §14.1).  The signed body is::

    [1, type, author_id, seq, epoch, head, [args...]]

``epoch``/``head`` are the author's current roster epoch and chain head: every
control message carries a chain head, which is how members compare heads
(spec §16.2).  ``seq`` increases strictly per author session; receivers drop
any message whose ``seq`` is not above the last one seen from that author
(spec §14.3).  The signature covers
``labelled("hushroom v1 sig room control", room_id || author_session_key || body)``,
so a message signed in one session of a member cannot be replayed once the
member's session key changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from e2ee import canonical, identity
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.room import labels
from e2ee.room.commit import HEAD_LEN, MAX_EPOCH
from e2ee.room.loss_report import check_report_args
from e2ee.room.roster import ID_LEN

CONTROL_VERSION = 1
MAX_CHAT_BYTES = 2000


class ControlType(IntEnum):
    """Control message types and their ``args`` (spec §14.4)."""

    ANNOUNCE = 1  # [slot u32, want_reply bool]
    HEAD = 2  # []
    HAND = 3  # [up bool]
    INVITE_REPLY = 4  # [accept bool]
    LEAVE = 5  # []
    CHAT = 6  # [text str]
    MUTE_REQUEST = 7  # [target id]
    SYNC_REQUEST = 8  # []
    SLOTS = 9  # [[[member_id, slot u32], ...]]  (moderators only)
    RECORDING = 10  # [on bool]  (advisory: "I record the room", or no longer)
    LOSS_REPORT = 11  # [speaker_id, loss_permille u16 <= 1000]  (unicast to that speaker)


@dataclass(frozen=True, slots=True)
class Control:
    """A control message whose shape has been checked (signature checked by the caller)."""

    type: ControlType
    author: bytes
    seq: int
    epoch: int
    head: bytes
    args: tuple[Value, ...]
    body: bytes
    signature: bytes


def _signed_part(room_id: bytes, session_key: bytes, body: bytes) -> bytes:
    return room_id + session_key + body


def sign_control(
    author: identity.IdentityKey,
    session_key: bytes,
    room_id: bytes,
    ctype: ControlType,
    seq: int,
    epoch: int,
    head: bytes,
    args: list[Value],
) -> bytes:
    """``canonical([body, signature])`` of a control message (spec §14.2)."""
    body = canonical.encode([CONTROL_VERSION, int(ctype), author.public, seq, epoch, head, args])
    sig = author.sign(labels.SIG_CONTROL, _signed_part(room_id, session_key, body))
    return canonical.encode([body, sig])


def _check_args(ctype: ControlType, args: list[Value]) -> None:
    """Argument shapes per type (spec §14.4)."""
    n = len(args)
    if ctype is ControlType.ANNOUNCE and n == 2:
        canonical.expect_int(args[0], "slot", 0, 2**32 - 1)
        if not isinstance(args[1], bool):
            raise RemoteProtocolError("announce flag", ErrorCode.MALFORMED)
    elif ctype in (ControlType.HEAD, ControlType.LEAVE, ControlType.SYNC_REQUEST) and n == 0:
        pass
    elif ctype in (ControlType.HAND, ControlType.INVITE_REPLY, ControlType.RECORDING) and n == 1:
        if not isinstance(args[0], bool):
            raise RemoteProtocolError("control flag", ErrorCode.MALFORMED)
    elif ctype is ControlType.CHAT and n == 1:
        canonical.expect_str(args[0], "chat text", MAX_CHAT_BYTES)
    elif ctype is ControlType.MUTE_REQUEST and n == 1:
        canonical.expect_bytes(args[0], "target", ID_LEN)
    elif ctype is ControlType.LOSS_REPORT:
        check_report_args(args)
    elif ctype is ControlType.SLOTS and n == 1:
        entries = args[0]
        if not isinstance(entries, list) or len(entries) > 1024:
            raise RemoteProtocolError("slot list", ErrorCode.MALFORMED)
        for entry in entries:
            if not isinstance(entry, list) or len(entry) != 2:
                raise RemoteProtocolError("slot entry", ErrorCode.MALFORMED)
            canonical.expect_bytes(entry[0], "member id", ID_LEN)
            canonical.expect_int(entry[1], "slot", 0, 2**32 - 1)
    else:
        raise RemoteProtocolError("control arguments", ErrorCode.MALFORMED)


def parse_control(data: bytes) -> Control:
    """Parse a control message's shape (spec §14.2); the signature is checked separately."""
    outer = canonical.decode_array(data, 2, "control")
    body = canonical.expect_bytes(outer[0], "control body", max_len=8192)
    signature = canonical.expect_bytes(outer[1], "control signature", 64)
    f = canonical.decode_array(body, 7, "control body")
    canonical.expect_version(f[0], "control", CONTROL_VERSION)
    try:
        ctype = ControlType(canonical.expect_int(f[1], "control type", 0, 255))
    except ValueError:
        raise RemoteProtocolError("unknown control type", ErrorCode.UNKNOWN_TYPE) from None
    author = canonical.expect_bytes(f[2], "author", ID_LEN)
    seq = canonical.expect_int(f[3], "seq")
    epoch = canonical.expect_int(f[4], "epoch", 0, MAX_EPOCH)
    head = canonical.expect_bytes(f[5], "head", HEAD_LEN)
    args = f[6]
    if not isinstance(args, list):
        raise RemoteProtocolError("control arguments", ErrorCode.MALFORMED)
    _check_args(ctype, args)
    return Control(ctype, author, seq, epoch, head, tuple(args), body, signature)


def verify_control(msg: Control, room_id: bytes, session_key: bytes) -> None:
    """Check the author's signature with the session key the roster lists (spec §14.3)."""
    identity.verify_signature(
        msg.author, labels.SIG_CONTROL, _signed_part(room_id, session_key, msg.body), msg.signature
    )


# -- pairwise plaintexts (spec §15.2, §16.4) -------------------------------


class PairType(IntEnum):
    """Types of messages sent over a pair channel (spec §15.3)."""

    REKEY = 1  # [1, epoch, head, fresh]
    SYNC = 2  # [2, [commit, ...], epoch_key]
    SNAPSHOT = 3  # [3, snapshot, epoch_key]


# -- head beacons (spec §16.2) ---------------------------------------------

BEACON_VERSION = 1
BEACON_HEADS = 8


def _beacon_signed(room_id: bytes, epoch: int, heads: list[bytes]) -> bytes:
    return room_id + epoch.to_bytes(4, "big") + b"".join(heads)


def encode_beacon(
    author: identity.IdentityKey, room_id: bytes, epoch: int, heads: list[bytes]
) -> bytes:
    """``canonical([1, author_id, epoch, [head_e, head_e-1, ...], signature])`` (spec §16.2).

    ``heads`` are the author's last (at most 8) chain heads, newest first, so a
    receiver that is a few epochs behind still finds one to compare.  The
    signature (label ``"hushroom v1 sig room head beacon"``) covers
    ``room_id || epoch u32 || head_e || head_e-1 || ...``.
    """
    sig = author.sign(labels.SIG_BEACON, _beacon_signed(room_id, epoch, heads))
    return canonical.encode([BEACON_VERSION, author.public, epoch, list[Value](heads), sig])


def decode_beacon(data: bytes, room_id: bytes) -> tuple[bytes, int, list[bytes]]:
    """Verify a beacon; return ``(author, epoch, heads newest first)`` (spec §16.2)."""
    f = canonical.decode_array(data, 5, "beacon")
    canonical.expect_version(f[0], "beacon", BEACON_VERSION)
    author = canonical.expect_bytes(f[1], "author", ID_LEN)
    epoch = canonical.expect_int(f[2], "epoch", 0, MAX_EPOCH)
    raw = f[3]
    if not isinstance(raw, list) or not 1 <= len(raw) <= BEACON_HEADS or len(raw) > epoch + 1:
        raise RemoteProtocolError("beacon heads", ErrorCode.MALFORMED)
    heads = [canonical.expect_bytes(h, "head", HEAD_LEN) for h in raw]
    sig = canonical.expect_bytes(f[4], "signature", 64)
    identity.verify_signature(author, labels.SIG_BEACON, _beacon_signed(room_id, epoch, heads), sig)
    return author, epoch, heads
