"""The package boundaries of DESIGN/spec: e2ee/ is sans-IO, relay/ never touches E2EE keys."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN_IN_E2EE = {
    "trio",
    "asyncio",
    "socket",
    "aiortc",
    "av",
    "time",
    "selectors",
    "ssl",
    "threading",
    "subprocess",
    "random",
    "secrets",
}
# relay/ may use the envelope codec and errors from e2ee, nothing that holds keys.
ALLOWED_E2EE_IN_RELAY = {"e2ee", "e2ee.envelope", "e2ee.errors"}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Attribute) and node.attr == "urandom":
            found.append(("os.urandom", node.lineno))
    return found


def test_e2ee_is_sans_io() -> None:
    files = sorted((ROOT / "e2ee").rglob("*.py"))
    assert files, "e2ee/ has no modules"
    bad = []
    for path in files:
        for name, line in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN_IN_E2EE or name in {"os.urandom", "os"}:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not bad, "e2ee/ must stay sans-IO:\n" + "\n".join(bad)


def test_relay_touches_no_e2ee_keys() -> None:
    bad = []
    for path in sorted((ROOT / "relay").rglob("*.py")):
        for name, line in _imports(path):
            top = name.split(".")[0]
            if top == "nacl":
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
            if (
                top == "e2ee"
                and name not in ALLOWED_E2EE_IN_RELAY
                and not any(name.startswith(a + ".") and a != "e2ee" for a in ALLOWED_E2EE_IN_RELAY)
            ):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
            if name.startswith("cryptography.hazmat.primitives.ciphers"):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not bad, "relay/ may import only the envelope codec from e2ee:\n" + "\n".join(bad)


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import os\nfrom trio import sleep\nx = os.urandom(3)\n")
    names = {n for n, _ in _imports(sample)}
    assert {"os", "trio", "trio.sleep", "os.urandom"} <= names
