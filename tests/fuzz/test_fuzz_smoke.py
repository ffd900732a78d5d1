"""Each atheris harness, coverage-guided, for a short fixed run in the default suite (issue 9).

Deterministic: ``-seed=1`` and a fixed ``-runs`` per harness, starting from
the stored corpus.  ``-timeout`` bounds one input's time, so a hang fails the
run (inputs take milliseconds; the margin is for a loaded, shared machine),
and ``-rss_limit_mb`` the memory.  It runs in a subprocess because libFuzzer
ends its process when done; atheris is part of the ``test`` extra, so a
missing atheris fails the run rather than skipping it.  A run that stops on
one of the open crashes of :mod:`known` is reported as that xfail; any other
finding fails.
Longer runs: tests/fuzz/README.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .known import matches_open_crash
from .run import CORPUS, HARNESSES

ROOT = Path(__file__).resolve().parents[2]
#: Executions per harness: under a second of fuzzing each on the project's machine.
RUNS = {"session": 100, "frame": 800, "pairwise": 800, "invite": 800}
DEFAULT_RUNS = 1000
_CRASH = re.compile(
    r"=== Uncaught Python exception: ===\n(\w+).*?\nTraceback \(most recent call last\):\n"
    r"((?:  .*\n)+)",
    re.DOTALL,
)
_FRAME = re.compile(r", in (\w+)\n")


def _open_crash(stderr: str) -> str | None:
    """The reason of the known open crash this run stopped on, if it stopped on one."""
    found = _CRASH.search(stderr)
    if found is None:
        return None
    frames = _FRAME.findall(found.group(2))
    known = matches_open_crash(found.group(1), frames[-1]) if frames else None
    return None if known is None else known.reason


@pytest.mark.parametrize("harness", HARNESSES)
def test_harness_runs_clean(harness: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            harness,
            f"-runs={RUNS.get(harness, DEFAULT_RUNS)}",
            "-seed=1",
            "-timeout=60",  # a hang; generous because the machine is shared
            "-rss_limit_mb=1024",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path),
            str(CORPUS / harness),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # atheris prints the Python traceback on stdout
        text=True,
        timeout=300,
        check=False,
    )
    log = proc.stdout[-6000:]
    if proc.returncode != 0 and (reason := _open_crash(proc.stdout)) is not None:
        pytest.xfail(reason)
    assert proc.returncode == 0, log
    assert "Done " in proc.stdout, log
