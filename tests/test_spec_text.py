"""spec/protocol.md stays in step with the code: every label and every error code is listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2ee import kdf
from e2ee.errors import ErrorCode

SPEC = (Path(__file__).resolve().parent.parent / "spec" / "protocol.md").read_text()


@pytest.mark.parametrize("label", sorted(kdf.LABELS.values()))
def test_every_label_is_in_the_label_registry(label: bytes) -> None:
    assert f"| `{label.decode()}` |" in SPEC


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_in_section_18(code: ErrorCode) -> None:
    assert f"| {code.value} | `{code.name}` |" in SPEC


def test_my_sections_are_written() -> None:
    for number in (1, 2, 3, 4, 5, 6, 9, 10, 11, 18, 19, 20, 21, 22):
        start = SPEC.index(f"\n## {number}. ")
        end = SPEC.find("\n## ", start + 5)
        assert len(SPEC[start:end]) > 800, number
    for threat in ("T1", "T2", "T3", "T4", "T5", "T6", "T7"):
        assert f"**{threat} —" in SPEC
