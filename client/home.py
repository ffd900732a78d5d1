"""Where this device keeps its state: the Hushroom home directory.

Resolution order: an explicit ``--home DIR`` flag, then the ``HUSHROOM_HOME``
environment variable, then the per-user data directory of the platform
(``platformdirs.user_data_dir("hushroom")``, e.g. ``~/.local/share/hushroom``).
Tests and the demo always pass a home of their own, so they never touch the
user's real identity.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from client.errors import CliError
from client.secret_file import make_private_dirs

HOME_ENV = "HUSHROOM_HOME"


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The home directory to use (not created)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("hushroom", appauthor=False))


def ensure_home(home: Path) -> Path:
    """Create ``home`` and its missing parents (mode 0700 under any umask) if needed.

    A clear error if that is impossible.
    """
    try:
        make_private_dirs(home)
    except OSError as exc:
        raise CliError(f"cannot create the hushroom home {home}: {exc.strerror}") from None
    if not home.is_dir():
        raise CliError(f"the hushroom home {home} is not a directory")
    return home
