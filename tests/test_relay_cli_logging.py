"""``hushroom relay`` logs at INFO: activity counts without identities, and both stop signals.

Spec §17.7: the relay's logs carry no client address, room tag or slot.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import pytest
import trio
import trio.testing

from client.link import connect_relay
from e2ee.envelope import EnvelopeType
from relay import cli
from relay.state import load_or_create
from relay.stats import RelayStats


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hushroom.relay" and r.levelno == logging.INFO
    ]


async def test_joins_leaves_and_errors_are_counted_at_info_once_a_minute(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hushroom.relay")
    stats = RelayStats()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cli.log_activity, stats)
        await trio.sleep(1)
        stats.connections_total += 3  # three links joined, one of them left again
        stats.connections_open += 2
        stats.rooms_open = 1
        stats.errors["RATE_LIMITED"] += 2
        await trio.sleep(cli.ACTIVITY_EVERY)
        assert info_lines(caplog) == [
            "last 60 s: 3 links joined, 1 left, 0 failed handshakes, "
            "errors RATE_LIMITED=2; now 2 links in 1 rooms"
        ]
        await trio.sleep(3 * cli.ACTIVITY_EVERY)  # a quiet relay logs nothing
        assert len(info_lines(caplog)) == 1
        stats.connections_open -= 2
        stats.rooms_open = 0
        await trio.sleep(cli.ACTIVITY_EVERY)
        assert info_lines(caplog)[-1] == (
            "last 60 s: 0 links joined, 2 left, 0 failed handshakes, errors none; "
            "now 0 links in 0 rooms"
        )
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_sigint_is_logged_like_sigterm_and_the_relay_counts_a_real_link(
    signum: signal.Signals,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, "hushroom.relay")
    monkeypatch.setattr(cli, "ACTIVITY_EVERY", 0.2)
    identity = load_or_create(tmp_path)
    config = cli.config_from_args(cli_args())
    ports: list[int] = []

    def grab_port(text: str) -> None:
        ports.append(int(text.split()[4].rpartition(":")[2]))

    monkeypatch.setattr("builtins.print", lambda text, **_kw: grab_port(text))
    args = (config, identity.cert_path, identity.key_path, identity.pin_text)
    counted = trio.Event()

    class OnActivity(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "links joined" in record.getMessage():
                counted.set()

    handler = OnActivity()
    logging.getLogger("hushroom.relay").addHandler(handler)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cli._main, *args, "127.0.0.1", 0, None, False)
            with trio.fail_after(10):
                while not ports:
                    await trio.testing.wait_all_tasks_blocked()
                link = await connect_relay("127.0.0.1", ports[0], identity.pin)
                tag = bytes(range(16))
                await link.send_envelope(EnvelopeType.JOIN, tag, 0, b"\x01")
                await link.receive()
                await counted.wait()
            signal.raise_signal(signum)
    finally:
        logging.getLogger("hushroom.relay").removeHandler(handler)
    lines = info_lines(caplog)
    assert f"{signum.name} received, shutting down" in lines
    joined = next(line for line in lines if "links joined" in line)
    assert joined.startswith("last 0.2 s: 1 links joined, 0 left")
    text = "\n".join(lines)
    assert "127.0.0.1" not in text and tag.hex() not in text  # no address, no room tag


def cli_args():  # type: ignore[no-untyped-def]
    import argparse

    parser = argparse.ArgumentParser()
    cli.register(parser)
    return parser.parse_args([])
