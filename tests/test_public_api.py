"""The curated public API of ``e2ee`` (as h11 curates its own): what a driver imports."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

import e2ee

ROOT = Path(__file__).resolve().parent.parent
# the driver's code; client/bench measures internals on purpose and is left out
DRIVER = [p for p in (ROOT / "client").rglob("*.py") if "bench" not in p.parts]


def test_star_import_gives_exactly_all_and_every_name_resolves() -> None:
    namespace: dict[str, object] = {}
    exec("from e2ee import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(e2ee.__all__)
    assert len(e2ee.__all__) == len(set(e2ee.__all__))
    for name in e2ee.__all__:
        assert namespace[name] is _defined_in_a_submodule(name), name


def _defined_in_a_submodule(name: str) -> object:
    """The object ``name`` names in the e2ee submodule that defines it."""
    value = getattr(e2ee, name)
    if isinstance(value, types.ModuleType):
        assert value.__name__.startswith("e2ee."), value.__name__
        return value
    home = getattr(value, "__module__", None)
    if home is None:  # a constant: the submodule whose top level binds the same object
        homes = [m for m in list(sys.modules) if m.startswith("e2ee.")]
        home = next(m for m in homes if getattr(sys.modules[m], name, None) is value)
    assert home.startswith("e2ee."), f"{name} comes from {home}"
    return getattr(importlib.import_module(home), name)


def test_every_public_name_is_in_the_module_docstring_api_map() -> None:
    doc = e2ee.__doc__ or ""
    missing = [name for name in e2ee.__all__ if name not in doc]
    assert not missing, f"public names the docstring does not mention: {missing}"


def _e2ee_imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` of every ``from e2ee... import name`` in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("e2ee"):
            out += [(node.module or "", alias.name) for alias in node.names]
    return out


def test_the_client_uses_the_room_only_through_public_names() -> None:
    """The room's modules behind RoomSession are internal: the client names only what
    ``e2ee`` (or ``e2ee.events``) exports of them.  (Core modules the client drives
    directly, such as the envelope codec, are not checked here.)"""
    imported = [(p, m, n) for p in DRIVER for m, n in _e2ee_imports(p) if m.startswith("e2ee.room")]
    assert imported, "the client imports the room somewhere"
    internal = []
    for path, module, name in imported:
        value = getattr(importlib.import_module(module), name)
        public = getattr(e2ee, name, None) is value or getattr(e2ee.events, name, None) is value
        if not public:  # events are public as e2ee.events.<Name>
            internal.append(f"{path.relative_to(ROOT)}: {module}.{name}")
    assert not internal, "the client reaches past the public API:\n" + "\n".join(internal)


def test_the_relay_loading_the_envelope_codec_loads_no_room_and_no_keys() -> None:
    probe = (
        "import sys, relay.router, relay.sendqueue, relay.config\n"
        "print(sorted(m for m in sys.modules if m.startswith('e2ee')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    loaded = set(ast.literal_eval(out))
    assert "e2ee.envelope" in loaded
    assert not {m for m in loaded if m.startswith(("e2ee.room", "e2ee.identity", "e2ee.invite"))}
