"""Network namespaces: create, delete, sweep stale ones, run code inside one.

Names are ``hnetem-<pid>-<n>-<role>``: unique per process and instance, and
the pid lets :func:`sweep_stale` delete the namespaces of emulators whose
process died without cleaning up, while leaving those of running ones alone.

Two ways into a namespace (docs/netem.md, "Running code inside"):

* :func:`command` prefixes an argv with ``ip netns exec NAME`` for a
  subprocess (the whole process, and its children, live in the namespace);
* :func:`call_in` runs a Python callable on a fresh thread that has entered
  the namespace with ``setns(2)``.  A socket created there stays in that
  namespace for its whole life and can be used from any thread, so tests can
  hand it to trio (``trio.socket.from_stdlib_socket``) or plain threads.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from client.bench.netem.errors import NetemError

T = TypeVar("T")

NETNS_DIR = Path("/run/netns")
PREFIX = "hnetem"
_STALE = re.compile(rf"^{PREFIX}-(\d+)-")
_CLONE_NEWNET = 0x40000000
_instances = itertools.count(1)


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its output, or NetemError with its message."""
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise NetemError("the 'ip' command (iproute2) is not installed") from None
    if done.returncode != 0:
        raise NetemError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def new_names(roles: list[str]) -> dict[str, str]:
    """Fresh namespace names for one emulator instance, one per role."""
    instance = f"{PREFIX}-{os.getpid()}-{next(_instances)}"
    return {role: f"{instance}-{role}" for role in roles}


def add(name: str) -> None:
    """Create the named namespace."""
    ip("netns", "add", name)


def delete(name: str) -> None:
    """Delete the named namespace if it exists."""
    if (NETNS_DIR / name).exists():
        ip("netns", "delete", name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Delete the emulator namespaces whose creating process is gone; their names."""
    if not NETNS_DIR.is_dir():
        return []
    swept = []
    for entry in sorted(NETNS_DIR.iterdir()):
        match = _STALE.match(entry.name)
        if match and not _alive(int(match.group(1))):
            try:
                delete(entry.name)
            except NetemError:
                if entry.exists():
                    raise
                continue  # another emulator swept it first
            swept.append(entry.name)
    return swept


def command(name: str, argv: list[str]) -> list[str]:
    """``argv`` prefixed so that it runs inside the named namespace."""
    return ["ip", "netns", "exec", name, *argv]


def _enter(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise NetemError(f"setns into {name}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def call_in(name: str, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` run on a new thread inside the named namespace; its result or error."""
    result: list[T] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            _enter(name)
            result.append(fn(*args))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=body, name=f"netns {name}", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
