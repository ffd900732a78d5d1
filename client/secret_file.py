"""Private files on disk: created 0600, written atomically, refused if others can read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from client.errors import CliError


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (never briefly wider)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


def read_private(path: Path) -> bytes:
    """Read a private file; refuse one that group or others may read or write."""
    try:
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            raise CliError(
                f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                f"fix it with: chmod 600 {path}"
            )
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
