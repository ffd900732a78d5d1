"""Private files and folders on disk: files 0600 (written atomically), folders 0700.

The modes are set explicitly, so they hold under any umask (even ``umask 000``),
and a file that others may read is refused when read back.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from client.errors import CliError


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and every missing parent with mode 0700; raises OSError."""
    missing: list[Path] = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to chmod
        os.chmod(folder, 0o700)  # the umask may have removed bits from 0700


def open_private(path: Path) -> BinaryIO:
    """Open ``path`` for writing, truncated, mode 0600 (never briefly wider); raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (never briefly wider)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open_private(tmp) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
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
