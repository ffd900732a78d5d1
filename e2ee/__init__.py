"""Hushroom's sans-IO protocol core (spec/protocol.md).

Bytes and events in, bytes and events out.  ``from e2ee import RoomSession, Invite, ...``
gives the public API a driver (client or relay) needs, as h11 does; its names are
``__all__`` below.  Everything else lives in the submodules mapped here and is
internal: stable only as far as the spec fixes it.  Nothing in this package performs
I/O, reads a clock or draws randomness by itself: callers pass ``now`` (float
seconds) and a ``rng`` (a callable returning *n* random bytes) where needed.

Core API (module -> main names; spec section)
---------------------------------------------
errors      HushroomError > LocalProtocolError, RemoteProtocolError(msg, code) > DecryptionFailed;
            ErrorCode (§18)
canonical   encode(value) -> bytes, decode(bytes) -> Value, decode_array(data, n, what),
            expect_int / expect_bytes / expect_str / expect_version (§4)
kdf         hkdf(label, ikm, length, salt=, context=), hmac_sha256, labelled, labelled_hash,
            LABELS and one constant per label (§3.3, §3.4)
identity    IdentityKey(seed) / .generate(rng) / .public / .sign(label, msg) /
            .to_file_bytes() / .from_file_bytes(data);
            verify_signature(pub, label, msg, sig) -> None (raises DecryptionFailed);
            SessionKey.generate(rng) / .public / .certify(identity) -> SessionCertificate /
            .exchange(peer_pub); SessionCertificate.decode(data) (verifies) / .encode();
            fingerprint(pub), safety_code(pub) -> "12345 67890 ..." (§5)
            Signature labels must start with b"hushroom v1 sig " and be listed in spec §3.4.
xchacha     XChaChaPrefix(key, prefix16).encrypt(suffix8, pt, aad) / .decrypt(...) — HChaCha20
            subkey cached once; encrypt(key, nonce24, pt, aad), decrypt(...), hchacha20 (§3.2)
invite      Invite(host, port, room_secret, relay_pin, founder_identity); Invite.create(host, port,
            relay_pin, founder_identity, rng); .to_link() -> "hushroom://h:p/#code";
            Invite.from_link(text) (RemoteProtocolError, code CHECKSUM for typos); .secrets() ->
            RoomSecrets(room_tag: 16 B, admission_key: 32 B, room_id: 32 B);
            RoomSecrets.derive(room_secret, founder_identity) (§6)
pairwise    PairwiseChannel(room_id=, my_identity=, my_session: SessionKey, peer_identity=,
            peer_session=, max_skip=1000, max_stored_skipped=2000); .seal(pt) -> bytes;
            .open(msg) -> bytes (REPLAY / TOO_FAR / DecryptionFailed); ratchet_step(ck) (§9)
sender_key  SenderKey(kid, epoch, secret); SenderKey.fresh(rng, epoch, kid=0); .ratchet(epoch);
            .encode_update(next_counter) / SenderKey.decode_update(data) -> (key, next_counter);
            frame_key_and_salt(secret, kid) (§10)
frame       FrameSender(key, room_id=, sender_id=, padded=True, next_counter=0, counter_limit=)
            .protect(payload) -> bytes; .ratchet(epoch); .rekey(rng, epoch); .key_update() -> bytes;
            .export_for_joiner(epoch) -> bytes; .key; .next_counter
            FrameReceiver(room_id=, sender_id=, padded=True, window=256, max_jump=2**20, grace=1.0)
            .add_key(key, next_counter) / .add_update(bytes) / .ratchet_to(epoch) / .expire(now)
            .unprotect(frame, now) -> DecryptedFrame(counter, payload)  (one receiver per
            speaker; counter is monotonic per speaker across key changes: the jitter sequence) (§11)
sframe_header encode_header(kid, ctr), decode_header(data) -> (kid, ctr, header_len) (RFC 9605 §4.3)
padding     pad / unpad / BUCKETS (§11.4);  replay  ReplayWindow(size, max_jump) (§11.6)
room        RoomSession.create(identity, invite, name, policy, rng, now) / .join(...): the h11-style
            driver (envelope_received, next_event, data_to_send, get_timer / handle_timer,
            link_reset, send_audio, actions); RoomConfig, RoomInvite, MemberView, Role,
            RemoveReason, Policy; SessionState (joining | member | removed | ended | left | denied,
            transitions in e2ee.room.state); events (Admitted, AudioReceived, SecurityAlert, ...);
            is_speaker_proof(media_payload) (a proof, not a frame: it must arrive, §15.6, §23.6)
            (§12–§16; see e2ee.room)
envelope    Envelope(type, room_tag, slot, payload), EnvelopeType, DeliveryClass, RelayErrorCode,
            EnvelopeDecoder(max_payload, allowed).feed(bytes) -> [Envelope], encode_envelope,
            parse_error, parse_loss, RELAY_TYPES, DEFAULT_MAX_PAYLOAD (§8)
datagram    DatagramChannel(link_key, token, direction).seal(kind, body) / .open(datagram)
            -> Datagram; DatagramGrant.encode() / .decode(payload), Direction, Kind (§23);
            datagram_path  DatagramPath(now, timers).heard / .sent / get_timer / handle_timer,
            PathState, PathTimers (§23.5)

Public names: errors (HushroomError, LocalProtocolError, RemoteProtocolError, DecryptionFailed,
ErrorCode), identity (IdentityKey, fingerprint, safety_code), Invite, the envelope names above
and the room names above.  The errors and the envelope codec load with the package (the relay
uses them); the rest loads on first use, so that importing the envelope codec does not load
the room protocol or any key handling into the relay.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from e2ee.envelope import (
    DEFAULT_MAX_PAYLOAD,
    RELAY_TYPES,
    DeliveryClass,
    Envelope,
    EnvelopeDecoder,
    EnvelopeType,
    RelayErrorCode,
    encode_envelope,
    parse_error,
    parse_loss,
)
from e2ee.errors import (
    DecryptionFailed,
    ErrorCode,
    HushroomError,
    LocalProtocolError,
    RemoteProtocolError,
)

if TYPE_CHECKING:
    from e2ee.identity import IdentityKey, fingerprint, safety_code
    from e2ee.invite import Invite
    from e2ee.room import (
        MemberView,
        Policy,
        RemoveReason,
        Role,
        RoomConfig,
        RoomInvite,
        RoomSession,
        SessionState,
        events,
        is_speaker_proof,
    )

# public name -> the module that defines it, imported on first use
_ON_FIRST_USE = {
    **dict.fromkeys(("IdentityKey", "fingerprint", "safety_code"), "e2ee.identity"),
    "Invite": "e2ee.invite",
    **dict.fromkeys(
        (
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
        ),
        "e2ee.room",
    ),
}


def __getattr__(name: str) -> object:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module 'e2ee' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "RELAY_TYPES",
    "DecryptionFailed",
    "DeliveryClass",
    "Envelope",
    "EnvelopeDecoder",
    "EnvelopeType",
    "ErrorCode",
    "HushroomError",
    "IdentityKey",
    "Invite",
    "LocalProtocolError",
    "MemberView",
    "Policy",
    "RelayErrorCode",
    "RemoteProtocolError",
    "RemoveReason",
    "Role",
    "RoomConfig",
    "RoomInvite",
    "RoomSession",
    "SessionState",
    "encode_envelope",
    "events",
    "fingerprint",
    "is_speaker_proof",
    "parse_error",
    "parse_loss",
    "safety_code",
]
