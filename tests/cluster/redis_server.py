"""A throw-away ``redis-server`` on a free loopback port, for the cluster tests (spec §24)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .tls_files import write_tls_files

REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (apt-get install -y redis-server)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def redis_server(
    port: int | None = None, tls_and_password: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``(url, process)`` of a fresh, non-persistent Redis; stopped on exit.

    ``tls_and_password``: TLS only (a throw-away CA) and this password."""
    assert REDIS is not None
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="hushroom-redis-")
    args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir]
    url = f"redis://127.0.0.1:{port}"
    if tls_and_password is None:
        args += ["--port", str(port)]
    else:
        ca, cert, key = write_tls_files(Path(workdir))
        args += ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert),
                 "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
                 "--tls-auth-clients", "no", "--requirepass", tls_and_password]
        url = f"rediss://:{tls_and_password}@127.0.0.1:{port}?ssl_ca_certs={ca}"
    proc = subprocess.Popen(
        [REDIS, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield url, proc
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
