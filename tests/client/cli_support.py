"""Helpers for tests that run the real ``hushroom`` entry point."""

from __future__ import annotations

import queue
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio

from client.inproc_relay import start_relay
from client.relay_connect import new_invite
from e2ee.identity import IdentityKey
from relay.wire.pin import encode_pin


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def invite_for(port: int, pin: bytes = bytes(32)) -> str:
    """A valid invite to a relay on 127.0.0.1:``port`` with ``pin``, fresh founder."""
    return new_invite("127.0.0.1", port, encode_pin(pin), IdentityKey.generate(secrets.token_bytes))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single ``hushroom: error:`` line on stderr (and no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("hushroom: error: ")
    return lines[0]


def missing_audio_part() -> str:
    """What the client will name as missing for sound devices; skips when nothing is.

    "sounddevice" without the ``[mic]`` extra, "libportaudio2" when the extra is
    installed but the PortAudio library is not.
    """
    try:
        import sounddevice  # noqa: F401
    except ImportError:
        return "sounddevice"
    except OSError:
        return "libportaudio2"
    pytest.skip("sounddevice is installed here; this path needs it absent")


@contextmanager
def relay_in_thread() -> Iterator[tuple[int, str]]:
    """A real relay (TLS, loopback) in this process, on its own trio thread: (port, pin).

    ``cli.main`` runs its own ``trio.run``, so the relay cannot share its loop.
    """
    ready: queue.Queue[tuple[int, str, trio.lowlevel.TrioToken, trio.CancelScope]]
    ready = queue.Queue()

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            relay = await start_relay(nursery)
            token = trio.lowlevel.current_trio_token()
            ready.put((relay.port, relay.pin_text, token, nursery.cancel_scope))

    thread = threading.Thread(target=trio.run, args=(serve,), daemon=True)
    thread.start()
    port, pin, token, scope = ready.get(timeout=30)
    try:
        yield port, pin
    finally:
        trio.from_thread.run_sync(scope.cancel, trio_token=token)
        thread.join(10)
