"""The collaborators the session's driver routes through, alone (spec §13.2, §16.4).

Each is built from real collaborators and driven without a session: the
KNOCK retry (:mod:`e2ee.room.knocking`) and a sync read commit by commit as
the chain advances (:mod:`e2ee.room.sync_run`).
"""

from __future__ import annotations

from collections import Counter

from e2ee.envelope import EnvelopeType
from e2ee.room.chain import Chain
from e2ee.room.commit import GENESIS_PARENT
from e2ee.room.events import SecurityAlert
from e2ee.room.knocking import Knocking
from e2ee.room.outbox import Outbox
from e2ee.room.pairs import Sync
from e2ee.room.roster import Policy
from e2ee.room.sync_run import SyncRun

from .harness import rng_for
from .test_room_collaborators import ROOM, TAG, a_joiner, commit_on, sent


def test_a_joiner_knocks_again_each_period_until_a_verdict_stops_it() -> None:
    box = Outbox(TAG, Counter())
    knocking = Knocking(a_joiner()[2], ROOM, rng_for(3), box, period=3.0)
    assert knocking.retry_at is None and not knocking.due(100.0)
    knocking.send(b"\x08" * 32, now=1.0)
    assert [e.type for e in sent(box)] == [EnvelopeType.CONTROL]
    assert knocking.retry_at == 4.0 and not knocking.due(3.9)
    assert knocking.due(4.0) and not knocking.due(4.0)  # cleared until the next KNOCK
    knocking.send(b"\x08" * 32, now=4.0)
    knocking.stop()
    assert knocking.retry_at is None and not knocking.due(100.0)


def test_a_sync_hands_on_each_next_commit_once_the_one_before_applied_and_skips_held_ones() -> None:
    chain, box = Chain(sync_after=2.0), Outbox(TAG, Counter())
    c0 = commit_on(0, GENESIS_PARENT)
    c1 = commit_on(1, c0.head)
    c2 = commit_on(2, c1.head)
    chain.advance(0, c0.head)
    run = SyncRun(Sync([c0.encode(), c1.encode(), c2.encode()], b"\x05" * 32), ROOM, chain, box)
    handed = []
    for commit in run.commits():
        handed.append(commit.epoch)
        chain.advance(commit.epoch, commit.head)  # the caller applied it
    assert handed == [1, 2] and run.complete and run.applied and run.last == 2
    assert not box.events


def test_a_sync_off_our_chain_alerts_and_ends_before_its_key_is_judged() -> None:
    chain, box = Chain(sync_after=2.0), Outbox(TAG, Counter())
    c0 = commit_on(0, GENESIS_PARENT)
    chain.advance(0, c0.head)
    rival = commit_on(0, GENESIS_PARENT, Policy.KNOCK)
    run = SyncRun(Sync([rival.encode()], b"\x05" * 32), ROOM, chain, box)
    assert list(run.commits()) == []
    assert not run.complete and not run.applied and run.last == 0
    alert = box.next_event()
    assert isinstance(alert, SecurityAlert) and alert.kind == "split_view"


def test_a_caller_that_stops_reading_leaves_the_sync_incomplete_and_unapplied() -> None:
    chain, box = Chain(sync_after=2.0), Outbox(TAG, Counter())
    c0 = commit_on(0, GENESIS_PARENT)
    chain.advance(0, c0.head)
    c1 = commit_on(1, c0.head)
    run = SyncRun(
        Sync([c1.encode(), commit_on(2, c1.head).encode()], b"\x05" * 32), ROOM, chain, box
    )
    for _ in run.commits():
        break  # its key confirmation failed, say: the caller reads no further
    assert not run.complete and not run.applied and run.last == 1
