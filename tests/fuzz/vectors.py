"""The spec's test vectors (spec/vectors/*.json), read once: the keys the targets decode under."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "spec" / "vectors"


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed ``spec/vectors/<name>.json``."""
    data: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return data


def hexval(name: str, *path: str | int) -> bytes:
    """A hex field of a vector file, e.g. ``hexval("frames", "secret")``."""
    node: Any = load(name)
    for key in path:
        node = node[key]
    return bytes.fromhex(node)
