"""Run one coverage-guided (atheris / libFuzzer) harness: ``python -m tests.fuzz.run NAME [flags]``.

``NAME`` is one of :data:`HARNESSES`; every other argument goes to libFuzzer
(``-runs=N``, ``-seed=S``, ``-max_total_time=SECONDS``, ``-timeout=SECONDS``,
``-rss_limit_mb=MB``, corpus directories).  Without a corpus directory the
run reads the stored corpus ``tests/fuzz/corpus/NAME`` and writes what it
discovers to ``tests/fuzz/out/NAME/corpus`` (git-ignored); crash inputs go to
``tests/fuzz/out/NAME/`` unless ``-artifact_prefix=`` says otherwise.
Only ``e2ee`` is instrumented for coverage.  See tests/fuzz/README.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
OUT = HERE / "out"


def _targets() -> dict[str, Callable[[bytes], None]]:
    from fuzz import target_session, targets_core, targets_room

    return {
        "canonical": targets_core.canonical_value,
        "envelope": targets_core.envelope_stream,
        "invite": targets_core.invite_link,
        "sframe_header": targets_core.sframe_header,
        "frame": targets_core.protected_frames,
        "pairwise": targets_core.pairwise_messages,
        "sender_key_update": targets_core.sender_key_updates,
        "join_request": targets_room.join_request,
        "welcome": targets_room.welcome,
        "commit": targets_room.roster_commit,
        "roster_ops": targets_room.roster_ops,
        "snapshot": targets_room.snapshot,
        "control": targets_room.control,
        "room_payload": targets_room.room_payload,
        "session": target_session.session_envelopes,
    }


def targets() -> dict[str, Callable[[bytes], None]]:
    """Harness name -> target, importing the modules uninstrumented (for replay tests)."""
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))
    return _targets()


HARNESSES = (
    "canonical",
    "envelope",
    "invite",
    "sframe_header",
    "frame",
    "pairwise",
    "sender_key_update",
    "join_request",
    "welcome",
    "commit",
    "roster_ops",
    "snapshot",
    "control",
    "room_payload",
    "session",
)


#: libFuzzer modes that start the fuzzer again as a subprocess through argv[0].
_RESPAWNING = frozenset({"-fork", "-jobs", "-workers", "-merge", "-minimize_crash"})


def _self_command(name: str) -> str:
    """An executable that reruns this harness: libFuzzer's -fork and -minimize_crash re-exec it."""
    script = OUT / name / "run.sh"
    script.parent.mkdir(parents=True, exist_ok=True)
    root = HERE.parents[1]
    script.write_text(
        f'#!/bin/sh\ncd "{root}" && exec "{sys.executable}" -m tests.fuzz.run {name} "$@"\n'
    )
    script.chmod(0o755)
    return str(script)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in HARNESSES:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(HARNESSES)}}} [libFuzzer flags]")
    import atheris

    name, flags = argv[1], argv[2:]
    sys.path.insert(0, str(HERE.parent))
    with atheris.instrument_imports(include=["e2ee"]):
        target = _targets()[name]
    target(b"")  # builds the cached keys and the recorded room outside libFuzzer's -timeout
    if not any(not f.startswith("-") for f in flags):
        fresh = OUT / name / "corpus"
        fresh.mkdir(parents=True, exist_ok=True)
        flags += [str(fresh), str(CORPUS / name)]
    if not any(f.startswith("-artifact_prefix=") for f in flags):
        (OUT / name).mkdir(parents=True, exist_ok=True)
        flags.append(f"-artifact_prefix={OUT / name}/")
    respawns = any(f.split("=")[0] in _RESPAWNING for f in flags)
    atheris.Setup([_self_command(name) if respawns else argv[0], *flags], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
