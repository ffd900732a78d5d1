"""KDF, hash and signature labels of the room protocol (spec §12–§16).

Every label is ASCII and used with :func:`e2ee.kdf.hkdf`,
:func:`e2ee.kdf.labelled_hash` or :meth:`e2ee.identity.IdentityKey.sign`, which
prefix it with its one-byte length (spec §3.3).  Signature labels start with
``"hushroom v1 sig "`` as spec §5.2 requires.
"""

from __future__ import annotations

# Hashes (spec §12.4, §16.1).
COMMIT_HEAD = b"hushroom v1 room commit head"
STATE_DIGEST = b"hushroom v1 room state digest"
SAFETY_CODE = b"hushroom v1 room safety code"
WELCOME_DIGEST = b"hushroom v1 room welcome digest"
KEY_CONFIRM = b"hushroom v1 room key confirmation"
FORWARDER = b"hushroom v1 room forwarder"
# Signatures (spec §12.3, §12.6, §13.2, §13.4, §14.2).
SIG_COMMIT = b"hushroom v1 sig room commit"
SIG_SNAPSHOT = b"hushroom v1 sig room snapshot"
SIG_JOIN_REQUEST = b"hushroom v1 sig room fresh join request"
SIG_WELCOME = b"hushroom v1 sig room welcome"
SIG_CONTROL = b"hushroom v1 sig room control"
SIG_BEACON = b"hushroom v1 sig room head beacon"
# Key derivations (spec §13.1, §15.1, §15.2, §15.3).
EPOCH_KEY = b"hushroom v1 room epoch key"
CONTROL_KEY = b"hushroom v1 room control key"
SENDER_BASE = b"hushroom v1 room sender base"
SEAL_KEY = b"hushroom v1 room seal key"
# Room payload v2 (spec §14.1, §16.2).
PAYLOAD_HINT = b"hushroom v1 room payload hint"
PAIR_WRAP_KEY = b"hushroom v1 room pair wrap key"
BEACON_KEY = b"hushroom v1 room beacon key"
# Speaker proofs (spec §15.6).
FRAME_DIGEST = b"hushroom v1 room frame digest"
SIG_SPEAKER_PROOF = b"hushroom v1 sig room speaker proof"
PROOF_KEY = b"hushroom v1 room speaker proof key"
# Header protection of room audio (spec §15.4.1).
FRAME_HEADER_KEY = b"hushroom v1 room frame header key"

ALL: dict[str, bytes] = {
    name: value for name, value in globals().items() if isinstance(value, bytes) and name.isupper()
}
