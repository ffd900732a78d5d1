"""This device's long-term identity on disk (spec §5.5 file format, from e2ee.identity).

The identity lives in ``HOME/identity`` (see :mod:`client.home`), mode 0600,
written atomically.  Rotating keeps the previous file as
``identity.previous`` (also 0600) so a rotation by mistake can be undone by
hand; it is never read by Hushroom.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from client.errors import CliError
from client.home import ensure_home
from client.secret_file import read_private, write_private
from e2ee.errors import HushroomError
from e2ee.identity import IdentityKey, fingerprint, safety_code

FILE_NAME = "identity"


def format_fingerprint(identity_public: bytes) -> str:
    """The fingerprint as 8 groups of 4 hex digits (the first 16 bytes of spec §5.4's hash)."""
    hexed = fingerprint(identity_public)[:16].hex()
    return " ".join(hexed[i : i + 4] for i in range(0, len(hexed), 4))


class IdentityStore:
    """Load, create and rotate the identity kept in one home directory."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / FILE_NAME

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> IdentityKey:
        data = read_private(self.path)
        try:
            return IdentityKey.from_file_bytes(data)
        except HushroomError:
            raise CliError(
                f"{self.path} is not a valid Hushroom identity file; "
                "move it away and run 'hushroom id' to create a new identity"
            ) from None

    def create(self) -> IdentityKey:
        ensure_home(self.home)
        identity = IdentityKey.generate(secrets.token_bytes)
        write_private(self.path, identity.to_file_bytes())
        return identity

    def load_or_create(self) -> IdentityKey:
        return self.load() if self.exists() else self.create()

    def rotate(self) -> IdentityKey:
        """Replace the identity, keeping the old file as ``identity.previous``."""
        if self.exists():
            write_private(self.path.with_name(FILE_NAME + ".previous"), read_private(self.path))
        return self.create()

    @staticmethod
    def describe(identity: IdentityKey) -> dict[str, str]:
        return {
            "fingerprint": format_fingerprint(identity.public),
            "safety_code": safety_code(identity.public),
        }
