"""The package boundaries: e2ee/ is sans-IO, relay/ never touches E2EE keys, no cycles.

Allowed directions between the first-party packages (an arrow is "may import"):

* ``e2ee`` -> nothing first-party outside ``e2ee``; inside it the core never
  imports ``e2ee.room`` (the room is built on the core, not the other way);
* ``relay.wire`` (what both ends of the relay link share: the pin, reading
  TLS records) -> the envelope codec only;
* ``relay`` -> ``relay``, the envelope codec; never ``client``;
* ``client`` -> ``client``, ``e2ee``, and of the relay only its shared and
  public parts (``relay.wire``, ``relay.errors``, and ``relay.cli``, which the
  ``hushroom`` dispatcher loads by name); the one module that starts
  an in-process relay for the demo, the benchmarks and tests
  (``client.inproc_relay``) may also use the relay server itself;
* ``client.audio`` -> ``client.audio``, the error type and the private-file
  helper of ``client`` (the audio pipeline knows nothing of rooms or CLIs);
* the client's command line (``client.cli``, ``client.commands``,
  ``client.runner``, ``client.demo``, ``client.bench``) -> the rest of the
  client; the rest of the client never imports it;
* ``spec``'s independent verifiers -> nothing first-party.

On top of that, the import graph of every module (including imports inside
functions and under ``TYPE_CHECKING``) has no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

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
# the client-relay datagram codec (spec §23): a hop key the relay draws itself, no E2EE key
ALLOWED_E2EE_IN_RELAY.add("e2ee.datagram")
# its per-hop redundancy (spec §23.6): counters and copies of envelopes, no key at all
ALLOWED_E2EE_IN_RELAY.add("e2ee.datagram_red")


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


# the cluster's I/O lives in its engine adapters; the node, its records and the
# in-memory engine are sans-IO like the router
CLUSTER_IO = {"redis_engine.py", "redis_media.py", "redis_scripts.py", "service.py"}


def test_the_cluster_node_is_sans_io() -> None:
    cluster = ROOT / "relay" / "cluster"
    files = [p for p in sorted(cluster.glob("*.py")) if p.name not in CLUSTER_IO]
    assert len(files) >= 4
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in files
        for name, line in _imports(path)
        if name.split(".")[0] in FORBIDDEN_IN_E2EE | {"coredis", "os"}
    ]
    assert not bad, "relay/cluster (but its engine adapters) must stay sans-IO:\n" + "\n".join(bad)


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import os\nfrom trio import sleep\nx = os.urandom(3)\n")
    names = {n for n, _ in _imports(sample)}
    assert {"os", "trio", "trio.sleep", "os.urandom"} <= names


PACKAGES = ("e2ee", "relay", "client", "spec")
ENVELOPE_CODEC = ("e2ee.envelope", "e2ee.errors")
# What the client may use of the relay: the shared link parts, the relay's own
# error type, and its command line (``hushroom relay`` dispatches to it).
RELAY_PUBLIC = ("relay.wire", "relay.errors", "relay.cli")
IN_PROCESS_RELAY = "client.inproc_relay"

# (importer prefix, importable prefixes); the most specific importer prefix decides.
ALLOWED: dict[str, tuple[str, ...]] = {
    "e2ee": ("e2ee",),
    "e2ee.room": ("e2ee",),
    "relay": ("relay", *ENVELOPE_CODEC, "e2ee.datagram", "e2ee.datagram_red"),
    "relay.wire": ("relay.wire", *ENVELOPE_CODEC),
    # the cluster (spec §24): the router and the envelope codec, no datagram hop key
    "relay.cluster": ("relay", *ENVELOPE_CODEC),
    "client": ("client", "e2ee", *RELAY_PUBLIC),
    IN_PROCESS_RELAY: ("client", "e2ee", "relay"),
    # the room bench drives the real, sans-IO router with an in-memory outbox
    "client.bench.room": ("client", "e2ee", *RELAY_PUBLIC, "relay.router", "relay.config"),
    "client.audio": ("client.audio", "client.errors", "client.secret_file"),
    "spec": ("e2ee",),
    "spec.verify_envelope": (),
    "spec.verify_room": (),
    "spec.verify_vectors": (),
}
# The command-line layer of the client: it may use the rest of the client, never
# the other way round.
CLIENT_CLI = (
    "client.__main__",
    "client.cli",
    "client.commands",
    "client.runner",
    "client.demo",
    "client.bench",
)
# The core of e2ee must not import the room built on it; the client's core
# must not import its command line.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "e2ee": ("e2ee.room",),
    "e2ee.room": (),
    "client": CLIENT_CLI,
    **{layer: () for layer in CLIENT_CLI},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def first_party_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The module a dotted import name lands in (``a.b.func`` -> ``a.b``)."""
    known = set(modules)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> first-party modules it imports, anywhere in its body (relative too)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = name.split(".") if is_package else name.split(".")[:-1]
                    parent = parent[: len(parent) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                # ``from pkg import mod`` depends on pkg.mod, ``from mod import f`` on mod.
                targets |= {
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                }
        resolved = {_resolve(t, modules) for t in targets}
        graph[name] = {r for r in resolved if r is not None and r != name}
    return graph


def _most_specific(name: str, table: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    keys = [k for k in table if name == k or name.startswith(k + ".")]
    return table[max(keys, key=len)] if keys else None


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# The package itself (e2ee/__init__.py) re-exports the public API, the room's too,
# loading it on first use; the core modules under it still never import the room.
PUBLIC_FACADE = "e2ee"


def direction_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for importer, targets in sorted(graph.items()):
        allowed = _most_specific(importer, ALLOWED)
        forbidden = () if importer == PUBLIC_FACADE else _most_specific(importer, FORBIDDEN) or ()
        assert allowed is not None, f"{importer} belongs to no package of the table"
        for target in sorted(targets):
            if not _within(target, allowed) or _within(target, forbidden):
                bad.append(f"{importer} -> {target}")
    return bad


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_every_import_goes_an_allowed_direction() -> None:
    bad = direction_violations(import_graph(first_party_modules()))
    assert not bad, "imports against the allowed directions:\n" + "\n".join(bad)


def test_no_import_cycles_between_or_inside_packages() -> None:
    graph = import_graph(first_party_modules())
    for importer, targets in dispatch_edges().items():
        graph[importer] |= targets
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def dispatch_edges() -> dict[str, set[str]]:
    """The imports the dispatchers make by name (importlib), invisible to the parser."""
    from client import cli
    from client.bench import cli as bench_cli

    return {
        "client.cli": {path for path, _ in cli.COMMANDS.values()},
        "client.bench.cli": {f"client.bench.{name}" for name in bench_cli.BENCHES},
    }


def test_modules_loaded_by_name_go_an_allowed_direction() -> None:
    edges = dispatch_edges()
    modules = first_party_modules()
    assert all(target in modules for targets in edges.values() for target in targets)
    assert direction_violations(edges) == []


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    modules = {
        "client.a": tmp_path / "a.py",
        "client.b": tmp_path / "b.py",
        "client.c": tmp_path / "c.py",
        "relay.x": tmp_path / "x.py",
    }
    modules["client.a"].write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from client.b import B\n"
    )
    modules["client.b"].write_text("def f():\n    from . import c\n")
    modules["client.c"].write_text("import client.a\n")
    modules["relay.x"].write_text("from client.a import thing\n")
    graph = import_graph(modules)
    assert graph == {
        "client.a": {"client.b"},
        "client.b": {"client.c"},
        "client.c": {"client.a"},
        "relay.x": {"client.a"},
    }
    assert import_cycles(graph) == [["client.a", "client.b", "client.c"]]
    assert direction_violations(graph) == ["relay.x -> client.a"]


@pytest.mark.parametrize(
    ("importer", "target"),
    [
        ("relay.cli", "client.errors"),
        ("relay.wire.pin", "relay.state"),
        ("client.link", "relay.server"),
        ("client.audio.sinks", "client.room_client"),
        ("client.bot", "client.runner"),
        ("e2ee.invite", "e2ee.room.session"),
        ("spec.verify_room", "e2ee.kdf"),
        ("relay.server", "client.bench.netem.network"),
        ("e2ee.room.session", "client.bench.netem"),
        ("client.link", "client.bench.netem.model"),
    ],
)
def test_each_forbidden_direction_is_caught(importer: str, target: str) -> None:
    assert direction_violations({importer: {target}}) == [f"{importer} -> {target}"]


# The room's driver (RoomSession) sits on top of its collaborators: they never
# call back into it, so none of them imports it; only the public API does.
ROOM_DRIVER = "e2ee.room.session"
ROOM_DRIVER_IMPORTERS = frozenset({PUBLIC_FACADE, "e2ee.room"})


def room_driver_importers(graph: dict[str, set[str]]) -> list[str]:
    """The modules of ``e2ee`` other than the public API that import the room's driver."""
    return sorted(
        importer
        for importer, targets in graph.items()
        if _within(importer, ("e2ee",))
        and importer not in ROOM_DRIVER_IMPORTERS
        and ROOM_DRIVER in targets
    )


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The import graph between the room's own modules (the package facade left out)."""
    room = {m for m in graph if m.startswith("e2ee.room.")}
    return {m: graph[m] & room for m in room}


def test_no_room_collaborator_imports_the_session_and_they_form_no_cycle() -> None:
    graph = import_graph(first_party_modules())
    assert room_driver_importers(graph) == []
    room = room_graph(graph)
    assert len(room) > 20 and ROOM_DRIVER in room
    assert import_cycles(room) == []
    assert not any(ROOM_DRIVER in targets for targets in room.values())


def test_the_room_checks_catch_a_collaborator_importing_the_driver_or_a_cycle() -> None:
    graph = {
        "e2ee.room": {ROOM_DRIVER},
        ROOM_DRIVER: {"e2ee.room.chair", "e2ee.room.heads"},
        "e2ee.room.chair": {"e2ee.room.heads"},
        "e2ee.room.heads": {"e2ee.room.chair", ROOM_DRIVER},
    }
    assert room_driver_importers(graph) == ["e2ee.room.heads"]
    assert import_cycles(room_graph(graph)) == [["e2ee.room.chair", "e2ee.room.heads", ROOM_DRIVER]]
