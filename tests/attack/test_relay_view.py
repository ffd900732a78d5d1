"""What the relay can tell apart, measured on a recorded session (spec §20, issue 8 item 11).

The session (:func:`attack.capture.record_session`) has joins, promotions, a
raised hand, chat, a kick with its re-key and a round of beacons, all
through the real router.  Each assertion below is one line of §20's list of
what remains visible; the insider column (``kinds_by_size``) shows that a
payload's size does not give its kind away.
"""

from __future__ import annotations

from attack.capture import record_session, visible_metadata
from e2ee.envelope import EnvelopeType
from e2ee.room import seal


def test_reliable_payloads_show_only_a_padded_size_and_a_fresh_hint() -> None:
    cap = record_session()
    seen = visible_metadata(cap)
    sizes = seen["reliable_sizes"]
    assert isinstance(sizes, list) and seen["reliable_sizes_all_padded"] is True
    assert set(sizes) <= {32 + n + 16 for n in (256, 512, 1024, 2048, 4096)}
    assert seen["repeated_hints"] == 0, "a hint repeated: payloads would be linkable"
    by_size = seen["kinds_by_size"]
    assert isinstance(by_size, dict)
    opened = {n: set(kinds) - {"unopened"} for n, kinds in by_size.items()}
    assert any("BEACON" in k for k in opened.values())
    for n, kinds in opened.items():
        assert len(kinds) >= 2, f"every {n}-byte payload is a {kinds}: the size tells the kind"


def test_commits_are_the_one_kind_the_relay_picks_out() -> None:
    cap = record_session()
    echoed = {
        e.payload
        for link, e in cap.relay.up
        if e.type is EnvelopeType.UNICAST and e.slot == link.slot
    }
    kinds: dict[bytes, set[str]] = {}
    for env, kind in cap.relay.kinds:
        kinds.setdefault(env.payload, set()).add(kind)
    commits = {p for p, k in kinds.items() if seal.Kind.COMMIT.name in k}
    assert commits and commits <= echoed, "the author's echo finds every commit (§12.5)"
    assert all(kinds[p] <= {seal.Kind.COMMIT.name, "unopened"} for p in echoed & set(kinds))
    assert visible_metadata(cap)["commits_identified_by_self_echo"] >= len(commits)


def test_audio_headers_still_show_the_key_phase_and_a_rising_counter() -> None:
    seen = visible_metadata(record_session())
    assert seen["audio_key_ids_seen"] == [0, 1]  # one key id per epoch phase (spec §11.2)
    assert seen["audio_counters_in_clear_and_rising"] is True
