"""spec/protocol.md stays in step with the code: every label and every error code is listed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgpack
import pytest

from e2ee import kdf
from e2ee.errors import ErrorCode
from e2ee.room import labels as room_labels

SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
SPEC = (SPEC_DIR / "protocol.md").read_text()


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


# -- item 12: the room labels, normative text free of code paths and measurements --------

LABELS_JSON = json.loads((SPEC_DIR / "vectors" / "labels.json").read_text())
EVERY_LABEL = {**kdf.LABELS, **room_labels.ALL}
NORMATIVE = range(3, 19)  # sections 3-18; 19-22 and the appendices are summaries or informative


def _section(number: int) -> str:
    start = SPEC.index(f"\n## {number}. ")
    end = SPEC.find("\n## ", start + 5)
    return SPEC[start:end]


@pytest.mark.parametrize("name", sorted(EVERY_LABEL))
def test_every_label_has_a_registry_row_and_a_vector(name: str) -> None:
    label = EVERY_LABEL[name].decode()
    assert f"| `{label}` |" in _section(3)
    rows = [row for row in LABELS_JSON["registry"] if row["name"] == name]
    assert [row["label"] for row in rows] == [label]


def test_the_label_vectors_list_no_label_the_code_lacks() -> None:
    assert sorted(row["label"].encode() for row in LABELS_JSON["registry"]) == sorted(
        EVERY_LABEL.values()
    )


def test_every_room_label_literal_in_the_code_is_registered() -> None:
    literals = set()
    for path in (SPEC_DIR.parent / "e2ee").rglob("*.py"):
        literals |= set(re.findall(r'b"(hushroom v1 [^"]+)"', path.read_text()))
    literals.discard("hushroom v1 sig ")  # the prefix every signature label must start with
    assert literals == {label.decode() for label in EVERY_LABEL.values()}


@pytest.mark.parametrize("number", NORMATIVE)
def test_normative_sections_name_no_code_path(number: int) -> None:
    text = _section(number)
    assert not re.findall(r"\b(?:e2ee|relay|client|spec|tests)/[\w./]*|\b\w+\.py\b", text)


@pytest.mark.parametrize("number", NORMATIVE)
def test_normative_sections_hold_no_measurement(number: int) -> None:
    text = _section(number)
    # durations that are parameters (a 20 ms frame, a 1.0 s grace) are not measurements
    figures = re.findall(
        r"\b(?:\d+\.\d+|\d{3,}|\d{1,3}(?:,\d{3})+)\s?ms\b|\d\s?(?:µs|kB|MB)\b", text
    )
    words = re.findall(r"(?i)\b(?:measured|benchmark|bench room)\b", text)
    assert not figures and not words


def test_measurements_live_in_an_informative_appendix() -> None:
    start = SPEC.index("\n## Appendix A. Measurements (informative)")
    assert re.search(r"\d[\d,.]*\s?ms\b", SPEC[start:])


# -- §12.8: the field counts of the structure catalogue are those the code emits ---------

VECTORS = SPEC_DIR / "vectors"


def _catalogue() -> dict[str, int]:
    """``Name = [f1, f2, ...]`` definitions of spec §12.8 -> their number of top-level fields."""
    start = SPEC.index("### 12.8 ")
    text = SPEC[start : SPEC.index("\n### ", start + 5)]
    counts: dict[str, int] = {}
    for match in re.finditer(r"^(\w+)\s+= \[", text, re.MULTILINE):
        depth, fields, i = 0, 1, match.end() - 1
        while True:
            ch = text[i]
            depth += {"[": 1, "]": -1}.get(ch, 0)
            if ch == "," and depth == 1 and not text[i + 1].isdigit():  # not 1,024
                fields += 1
            if depth == 0:
                break
            i += 1
        counts[match.group(1)] = fields
    return counts


def _fields(hex_value: str) -> list[object]:
    value = msgpack.unpackb(bytes.fromhex(hex_value), raw=True)
    assert isinstance(value, list)
    return value


def _emitted() -> dict[str, list[object]]:
    commits = json.loads((VECTORS / "room_commits.json").read_text())["cases"]
    snapshot = json.loads((VECTORS / "room_snapshot.json").read_text())
    payloads = json.loads((VECTORS / "room_payloads.json").read_text())
    control = _fields(payloads["control"]["message"])
    snapshot_body = _fields(snapshot["snapshot_body"])
    return {
        "Commit": _fields(commits[0]["commit"]),
        "CommitBody": _fields(commits[0]["body"]),
        "Snapshot": _fields(snapshot["snapshot"]),
        "SnapshotBody": snapshot_body,
        "State": snapshot_body[4],  # type: ignore[dict-item]
        "Control": control,
        "ControlBody": msgpack.unpackb(control[0], raw=True),
        "Beacon": _fields(payloads["beacon"]["plaintext"]),
        "Knock": _fields(payloads["knock"]["plaintext"]),
        "Offer": _fields(payloads["offer"]["plaintext"]),
        "Request": _fields(payloads["join_request"]["request_plaintext"]),
        "JoinRequest": _fields(payloads["join_request"]["plaintext"]),
        "Verdict": _fields(payloads["welcome"]["plaintext"]),
    }


@pytest.mark.parametrize("name", sorted(_emitted()))
def test_the_structure_catalogue_has_the_fields_the_code_emits(name: str) -> None:
    assert _catalogue()[name] == len(_emitted()[name])
