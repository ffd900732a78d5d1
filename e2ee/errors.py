"""The one error hierarchy of the protocol core (spec/protocol.md, "Errors").

Modelled on h11/wsproto: one base class, split into errors the *caller* made
(:class:`LocalProtocolError`) and errors the *peer* made
(:class:`RemoteProtocolError`, with a numeric code).  Every authentication or
decryption failure, whatever its cause (wrong key, flipped bit, replay of a
ciphertext, forged signature), is the single opaque :class:`DecryptionFailed`
so that no oracle distinguishes one failure from another.  Verification never
returns a bool: it returns nothing or raises.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Codes carried by :class:`RemoteProtocolError` (spec/protocol.md, "Error codes")."""

    MALFORMED = 1  # bytes do not parse as the expected structure
    NON_CANONICAL = 2  # parses, but is not the canonical encoding
    UNSUPPORTED_VERSION = 3
    UNKNOWN_TYPE = 4
    TOO_LARGE = 5
    REPLAY = 6  # counter already seen or below the replay window
    TOO_FAR = 7  # counter jumps further ahead than allowed
    UNKNOWN_KEY = 8  # key id not (or no longer) known
    CHECKSUM = 9  # a human-typed encoding's checksum does not match
    UNAUTHORIZED = 10  # well-formed and authentic, but the roster forbids it
    STALE = 11  # refers to an epoch or chain position that is no longer current
    AUTHENTICATION = 12  # used only by DecryptionFailed


class HushroomError(Exception):
    """Base class of every error raised by the protocol core."""


class LocalProtocolError(HushroomError):
    """The caller used the API wrongly (wrong state, bad argument, exhausted counter)."""


class RemoteProtocolError(HushroomError):
    """Bytes received from a peer (or the relay) are invalid.

    ``code`` is an :class:`ErrorCode`; the message is for logs and never
    contains key material, names or identity keys.
    """

    def __init__(self, message: str, code: ErrorCode = ErrorCode.MALFORMED) -> None:
        super().__init__(message)
        self.code = code


class DecryptionFailed(RemoteProtocolError):
    """Opaque: authentication or decryption failed.

    Raised for every AEAD open failure and every signature or MAC
    verification failure.  It deliberately carries no detail.
    """

    def __init__(self) -> None:
        super().__init__("decryption or verification failed", ErrorCode.AUTHENTICATION)
