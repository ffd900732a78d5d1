"""Replay every stored fuzz input through its target, without atheris (issue 9 "Fuzzing").

* every seed of ``corpus/<harness>/`` meets the decoder contract;
* every crash reproducer of ``crashes/<harness>/`` meets it too: it failed
  before its fix (open ones in :mod:`known` are strict xfails);
* the recorded room still replays: fresh members fed the recorded envelopes
  in order end up admitted and hearing audio, so the session seeds stay deep.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2ee.room import events

from .known import OPEN_CRASHES
from .run import CORPUS, HARNESSES, targets
from .scenario import MEMBERS, fresh_session, recorded

CRASHES = Path(__file__).resolve().parent / "crashes"


def _reproducers() -> list[object]:
    params: list[object] = []
    for path in sorted(CRASHES.glob("*/*")):
        key = f"{path.parent.name}/{path.name}"
        marks = []
        if key in OPEN_CRASHES:
            marks.append(pytest.mark.xfail(strict=True, reason=OPEN_CRASHES[key].reason))
        params.append(pytest.param(path, id=key, marks=marks))
    return params


@pytest.mark.parametrize("harness", HARNESSES)
def test_stored_corpus_meets_the_contract(harness: str) -> None:
    target = targets()[harness]
    seeds = sorted((CORPUS / harness).iterdir())
    assert seeds, f"no stored corpus for {harness}"
    for seed in seeds:
        target(seed.read_bytes())


@pytest.mark.parametrize("path", _reproducers())
def test_crash_reproducer_meets_the_contract(path: Path) -> None:
    targets()[path.parent.name](path.read_bytes())


def test_every_open_crash_has_its_reproducer() -> None:
    for key in OPEN_CRASHES:
        assert (CRASHES / key).is_file(), key


@pytest.mark.parametrize("index", range(len(MEMBERS)))
def test_recorded_room_replays_to_a_member_that_hears_audio(index: int) -> None:
    session = fresh_session(index)
    heard = 0
    for delivery in recorded()[index]:
        while (due := session.get_timer()) is not None and due <= delivery.now:
            session.handle_timer(due)
        session.envelope_received(delivery.envelope, delivery.now)
        while (event := session.next_event()) is not None:
            heard += isinstance(event, events.AudioReceived)
    assert session.state == "member"
    assert session.epoch >= 6
    assert heard >= 3 or MEMBERS[index][0] == "speaker"
