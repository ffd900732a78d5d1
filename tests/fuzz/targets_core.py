"""Fuzz targets for the core decoders (spec §4, §6, §8, §9, §10, §11).

Each target takes one input and returns normally when the decoder either
decoded it or raised :class:`~e2ee.errors.RemoteProtocolError` (the remote
error class of spec §18, which includes ``DecryptionFailed``).  Any other
exception escapes and is a finding.  Targets also check what a successful
decode returns: nothing larger than the input, and canonical round trips.
"""

from __future__ import annotations

from e2ee import canonical, envelope
from e2ee.envelope import EnvelopeDecoder, EnvelopeType
from e2ee.errors import RemoteProtocolError
from e2ee.frame import FrameReceiver
from e2ee.identity import SessionKey
from e2ee.invite import Invite
from e2ee.pairwise import PairwiseChannel
from e2ee.sender_key import SenderKey
from e2ee.sframe_header import decode_header, encode_header

from .cursor import Cursor, chunks, require
from .vectors import hexval, load


def canonical_value(data: bytes) -> None:
    """canonical.decode (spec §4.2): a decoded value re-encodes to exactly the input."""
    try:
        value = canonical.decode(data)
    except RemoteProtocolError:
        return
    require(canonical.encode(value) == data, "canonical value does not re-encode to its input")


_ALLOWED = (None, envelope.CLIENT_TYPES, envelope.RELAY_TYPES)
_MAX_PAYLOADS = (envelope.DEFAULT_MAX_PAYLOAD, 0, envelope.MAX_PING_PAYLOAD, 1000)


def _feed_all(
    decoder: EnvelopeDecoder, pieces: list[bytes]
) -> tuple[list[envelope.Envelope], bool]:
    out: list[envelope.Envelope] = []
    for piece in pieces:
        try:
            out += decoder.feed(piece)
        except RemoteProtocolError:
            return out, True
    return out, False


def _parse_fields(env: envelope.Envelope) -> None:
    """The relay-payload parsers never raise on an envelope the decoder accepted (spec §8.2)."""
    if env.type is EnvelopeType.ERROR:
        envelope.parse_error(env)
    elif env.type is EnvelopeType.LOSS:
        envelope.parse_loss(env)
    elif env.type in (EnvelopeType.JOIN, EnvelopeType.SET_CLASS):
        envelope.DeliveryClass(env.payload[0])  # the decoder admits only 0 and 1 (spec §8.2)


def envelope_stream(data: bytes) -> None:
    """EnvelopeDecoder (spec §8.3) fed the same stream whole and in input-chosen splits.

    Input: mode byte (allowed types, max payload), split count, split sizes
    (one byte each), then the stream.  Both feedings must give the same
    envelopes and the same verdict; after an error the decoder stays poisoned.
    """
    cur = Cursor(data)
    mode = cur.byte()
    sizes = [cur.byte() for _ in range(cur.byte() % 16)]
    stream = cur.rest()
    allowed = _ALLOWED[mode % 3]
    max_payload = _MAX_PAYLOADS[(mode >> 2) % 4]
    pieces, pos = [], 0
    for size in sizes:
        pieces.append(stream[pos : pos + size])
        pos += size
    pieces.append(stream[pos:])
    whole, whole_failed = _feed_all(EnvelopeDecoder(max_payload, allowed), [stream])
    split_decoder = EnvelopeDecoder(max_payload, allowed)
    split, split_failed = _feed_all(split_decoder, pieces)
    require(split_failed == whole_failed, "split feeding changed the verdict")
    require(split_failed or split == whole, "split feeding changed the envelopes")
    if split_failed:
        try:
            split_decoder.feed(b"")
        except RemoteProtocolError:
            pass
        else:
            raise AssertionError("decoder not poisoned after an error")
    used = sum(envelope.HEADER_LEN + len(e.payload) for e in whole)
    require(used <= len(stream), "envelopes larger than their stream")
    for env in whole:
        require(len(env.payload) <= max_payload, "payload above max_payload")
        _parse_fields(env)
    try:
        one = envelope.decode_envelope(stream, max_payload)
    except RemoteProtocolError:
        return
    require(len(one.payload) + envelope.HEADER_LEN == len(stream), "decode_envelope length")


def invite_link(data: bytes) -> None:
    """Invite.from_link (spec §6.3); a parsed invite links back to an invite that parses alike."""
    try:
        invite = Invite.from_link(data.decode("utf-8", "replace"))
    except RemoteProtocolError:
        return
    require(Invite.from_link(invite.to_link()) == invite, "invite does not round-trip")


def sframe_header(data: bytes) -> None:
    """decode_header (spec §11.2): an accepted header is the minimal encoding of its values."""
    try:
        kid, ctr, hlen = decode_header(data)
    except RemoteProtocolError:
        return
    require(encode_header(kid, ctr) == data[:hlen], "SFrame header not canonical")


def _frame_receiver(padded: bool) -> tuple[FrameReceiver, SenderKey]:
    v = load("frames")
    key = SenderKey(v["kid"], v["epoch"], hexval("frames", "secret"))
    receiver = FrameReceiver(
        room_id=hexval("frames", "room_id"), sender_id=hexval("frames", "sender_id"), padded=padded
    )
    receiver.add_key(key, 0)
    return receiver, key


def protected_frames(data: bytes) -> None:
    """FrameReceiver.unprotect (spec §11.6) under the frames.json key, over a frame sequence.

    Input: flags byte (bit 0 padding on, bit 1 also install the next ratcheted
    key), then u16-length-prefixed frames, opened 0.25 s apart.
    """
    cur = Cursor(data)
    flags = cur.byte()
    receiver, key = _frame_receiver(bool(flags & 1))
    if flags & 2:
        receiver.add_key(key.ratchet(key.epoch + 1), 0)
    for i, frame in enumerate(chunks(cur.rest())):
        try:
            opened = receiver.unprotect(frame, i * 0.25)
        except RemoteProtocolError:
            continue
        require(len(opened.payload) < len(frame), "frame payload larger than the frame")


def _pairwise_receiver() -> PairwiseChannel:
    v = load("pairwise")
    return PairwiseChannel(
        room_id=hexval("pairwise", "room_id"),
        my_identity=hexval("pairwise", "b_identity"),
        my_session=SessionKey(hexval("pairwise", "b_session_private")),
        peer_identity=hexval("pairwise", "a_identity"),
        peer_session=bytes.fromhex(v["a_session_public"]),
        max_skip=64,
        max_stored_skipped=16,
    )


def pairwise_messages(data: bytes) -> None:
    """PairwiseChannel.open (spec §9.5) as party b of pairwise.json, over a message sequence."""
    channel = _pairwise_receiver()
    for message in chunks(data):
        try:
            plaintext = channel.open(message)
        except RemoteProtocolError:
            continue
        require(len(plaintext) < len(message), "pairwise plaintext larger than the message")


def sender_key_updates(data: bytes) -> None:
    """SenderKey.decode_update + FrameReceiver.add_update (spec §10.4, §11.6), in sequence."""
    receiver, _ = _frame_receiver(True)
    for update in chunks(data):
        try:
            receiver.add_update(update)
        except RemoteProtocolError:
            continue
    require(len(receiver.known_kids()) <= 8, "more keys held than key phases")
