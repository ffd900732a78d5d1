"""Helpers for tests that run the real ``hushroom`` entry point."""

from __future__ import annotations

import secrets
import socket

import pytest

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
