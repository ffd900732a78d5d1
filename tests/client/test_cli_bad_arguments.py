"""Every subcommand, given bad arguments, says so in one line and exits non-zero.

Each case runs the real entry point (``python -m client``) in a subprocess, so
what is checked is exactly what a user sees on stderr: one ``hushroom: error:``
line, no traceback, no "Exception ignored" noise from a destructor at exit.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from cli_support import free_port, invite_for

INVITE = "{invite}"  # replaced by a valid invite to a port where nothing listens
BUSY = "{busy}"  # replaced by a loopback port that is in use

CASES: list[tuple[list[str], str]] = [
    (["relay", "--listen", f"127.0.0.1:{BUSY}"], "cannot listen on 127.0.0.1:"),
    (
        ["relay", "--listen", "127.0.0.1:0", "--metrics", f"127.0.0.1:{BUSY}"],
        "cannot serve metrics",
    ),
    (["relay", "--listen", "nosuch.invalid:7448"], "cannot listen on nosuch.invalid:7448"),
    (["relay", "--listen", "nonsense"], "expected HOST:PORT"),
    (["relay", "--max-members", "0"], "limits must be positive"),
    (["relay", "--state-dir", "/dev/null/state"], "cannot use the state directory"),
    (["join", INVITE, "--duration", "-1"], "argument --duration: must be a positive number"),
    (["join", INVITE, "--record", "/tmp"], "cannot write /tmp"),
    (["join"], "no invite"),
    (["join", INVITE, "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["room"], "choose an action"),
    (["room", "create", "--relay", "127.0.0.1:7443"], "--pin is required"),
    (["room", "create", "--relay", "127.0.0.1:7443", "--pin=short"], "bad --pin"),
    (["room", "create", "--relay", "127.0.0.1:7443", "--policy", "closed"], "argument --policy"),
    (["bot"], "choose a bot"),
    (["bot", "welcome", INVITE, "--duration", "0"], "argument --duration"),
    (["id", "--home", "/dev/null/home"], "cannot create the hushroom home"),
    (["demo", "--out", "/dev/null/demo"], "cannot create /dev/null/demo"),
    (["bench"], "choose a benchmark"),
    (["bench", "crypto", "--batches", "0"], "argument --batches"),
    (["bench", "fanout", "--seconds", "-1"], "seconds > 0"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, tuple[int, str]]]:
    """Run every case at once (they are independent): case index -> (status, stderr)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        values = {INVITE: invite_for(free_port()), BUSY: str(busy.getsockname()[1])}
        env = {k: v for k, v in os.environ.items() if k != "HUSHROOM_INVITE"}
        running = []
        for i, (argv, _) in enumerate(CASES):
            tmp = tmp_path_factory.mktemp(f"case{i}")
            args = [values.get(a, a.replace(BUSY, values[BUSY])) for a in argv]
            if args[0] == "relay" and "--state-dir" not in args:
                args += ["--state-dir", str(tmp / "relay")]
            proc = subprocess.Popen(
                [sys.executable, "-m", "client", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env={**env, "HUSHROOM_HOME": str(tmp / "home")},
            )
            running.append(proc)
        try:
            errors = [p.communicate(timeout=120)[1] for p in running]
            yield {
                i: (p.returncode, err)
                for i, (p, err) in enumerate(zip(running, errors, strict=True))
            }
        finally:
            for p in running:
                if p.poll() is None:
                    p.kill()
                    p.wait()


@pytest.mark.parametrize("case", range(len(CASES)), ids=[" ".join(a) for a, _ in CASES])
def test_bad_arguments_are_one_line_and_a_non_zero_exit(
    case: int, outcomes: dict[int, tuple[int, str]]
) -> None:
    status, stderr = outcomes[case]
    assert status != 0, stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("hushroom: error: ")
    assert CASES[case][1] in lines[0]
