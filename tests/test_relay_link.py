"""The relay over real TLS 1.3 links on loopback (spec §7, §17)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing

from client.link import PinMismatch, RelayClosed, RelayLink, RelayUnavailable, connect_relay
from e2ee.envelope import (
    Envelope,
    EnvelopeType,
    RelayErrorCode,
    encode_envelope,
    parse_error,
    parse_loss,
)
from relay.config import RelayConfig
from relay.server import RelayServer, server_ssl_context
from relay.state import RelayIdentity, load_or_create

TAG = bytes(range(16))

_IDENTITY: dict[str, RelayIdentity] = {}


def identity(tmp_root: Path) -> RelayIdentity:
    """One relay identity per test session (key generation is not what is tested)."""
    if "id" not in _IDENTITY:
        _IDENTITY["id"] = load_or_create(tmp_root / "relay-state")
    return _IDENTITY["id"]


@dataclass
class Running:
    server: RelayServer
    port: int
    pin: bytes

    async def link(self) -> RelayLink:
        return await connect_relay("127.0.0.1", self.port, self.pin)

    async def member(self, cls: int, tag: bytes = TAG) -> tuple[RelayLink, int]:
        link = await self.link()
        await link.send_envelope(EnvelopeType.JOIN, tag, 0, bytes([cls]))
        [welcome, *_] = await link.receive()
        assert welcome.type == EnvelopeType.WELCOME
        return link, welcome.slot


@asynccontextmanager
async def running_relay(ident: RelayIdentity, config: RelayConfig) -> AsyncIterator[Running]:
    ctx: ssl.SSLContext = server_ssl_context(str(ident.cert_path), str(ident.key_path))
    server = RelayServer(config, ctx)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve, "127.0.0.1", 0)
        yield Running(server, port, ident.pin)
        nursery.cancel_scope.cancel()


async def receive_until(link: RelayLink, etype: EnvelopeType) -> list[Envelope]:
    """Everything received up to and including the first envelope of ``etype``."""
    got: list[Envelope] = []
    while not any(e.type == etype for e in got):
        got += await link.receive()
    return got


def error_codes(envelopes: list[Envelope]) -> list[int]:
    return [parse_error(e)[0] for e in envelopes if e.type == EnvelopeType.ERROR]


T = EnvelopeType


@pytest.fixture
def ident(tmp_path_factory: pytest.TempPathFactory) -> RelayIdentity:
    return identity(tmp_path_factory.getbasetemp())


async def test_room_traffic_end_to_end(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig()) as relay:
        speaker, s_slot = await relay.member(0)
        listener, l_slot = await relay.member(1)
        other, o_slot = await relay.member(1)
        assert (s_slot, l_slot, o_slot) == (0, 1, 2)
        got = await receive_until(speaker, T.PEER_JOINED)
        got += [] if len(got) >= 2 else await speaker.receive()
        assert [(e.type, e.slot) for e in got] == [(T.PEER_JOINED, 1), (T.PEER_JOINED, 2)]
        await speaker.send_envelope(T.MEDIA, TAG, 0, b"audio")
        for link in (listener, other):
            [env] = await link.receive()
            assert (env.type, env.slot, env.payload) == (T.MEDIA, s_slot, b"audio")
        await listener.send_envelope(T.UNICAST, TAG, o_slot, b"for you")
        [env] = await other.receive()
        assert (env.type, env.slot, env.payload) == (T.UNICAST, l_slot, b"for you")
        await listener.send_envelope(T.CONTROL, TAG, 0, b"hand up")
        for link in (speaker, listener, other):  # the sender gets its echo (spec §17.3)
            [env] = await link.receive()
            assert (env.type, env.slot, env.payload) == (T.CONTROL, l_slot, b"hand up")
        await listener.send_envelope(T.PING, TAG, 0, b"t1")
        [pong] = await listener.receive()
        assert (pong.type, pong.payload) == (T.PONG, b"t1")
        await other.aclose()
        [left] = await speaker.receive()
        assert (left.type, left.slot) == (T.PEER_LEFT, o_slot)
        assert relay.server.stats.errors == {}


async def test_wrong_pin_is_refused_with_a_clear_error(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig()) as relay:
        wrong = bytes(b ^ 1 for b in relay.pin)
        with pytest.raises(PinMismatch, match="does not match the invite's pin"):
            await connect_relay("127.0.0.1", relay.port, wrong)


async def test_unreachable_relay_is_relay_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(RelayUnavailable):
            await connect_relay("127.0.0.1", port, bytes(32))


BAD_INPUTS = {
    "garbage": (b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n", RelayErrorCode.UNSUPPORTED_VERSION),
    "unknown type": (b"\x01\x55" + bytes(24), RelayErrorCode.UNKNOWN_TYPE),
    "oversized": (
        encode_envelope(T.MEDIA, TAG, 0, b"")[:22] + (10**6).to_bytes(4, "big"),
        RelayErrorCode.TOO_LARGE,
    ),
    "relay-only type": (encode_envelope(T.WELCOME, TAG, 0), RelayErrorCode.UNEXPECTED_TYPE),
    "bad JOIN payload": (encode_envelope(T.JOIN, TAG, 0, b"\x07"), RelayErrorCode.MALFORMED),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
async def test_bad_input_closes_only_the_offender(ident: RelayIdentity, case: str) -> None:
    data, code = BAD_INPUTS[case]
    async with running_relay(ident, RelayConfig(max_payload=65_536)) as relay:
        speaker, s_slot = await relay.member(0)
        listener, _ = await relay.member(1)
        await speaker.receive()  # PEER_JOINED for the listener
        bad = await relay.link()
        await bad.send(data)
        got = []
        with pytest.raises(RelayClosed) as exc:
            while True:
                got += await bad.receive()
        assert error_codes(got) == [code]
        assert exc.value.code == code
        assert relay.server.stats.errors[code.name] == 1
        # nobody else noticed anything: the room goes on
        await speaker.send_envelope(T.MEDIA, TAG, 0, b"still here")
        [env] = await listener.receive()
        assert (env.type, env.slot, env.payload) == (T.MEDIA, s_slot, b"still here")


async def test_truncated_envelope_at_end_of_stream(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig()) as relay:
        link = await relay.link()
        await link.send(encode_envelope(T.CONTROL, TAG, 0, b"abcdef")[:20])
        # half-close the TCP stream under TLS: the relay sees EOF mid-envelope
        socket.socket.shutdown(link.ssl_socket, socket.SHUT_WR)
        got = []
        with pytest.raises(RelayClosed):
            while True:
                got += await link.receive()
        # TLS has failed by then (EOF without close_notify), so the ERROR rarely
        # reaches the peer; the relay counts it and closes (spec §17.6).
        assert error_codes(got) in ([], [RelayErrorCode.TRUNCATED])
        # The client may see the end of its half-closed link before the relay has
        # finished its close path: wait for the relay-side condition itself.
        stats = relay.server.stats
        with trio.fail_after(10):
            while stats.connections_open or not stats.errors["TRUNCATED"]:
                await trio.testing.wait_all_tasks_blocked()
                await trio.sleep(0)
        assert stats.errors["TRUNCATED"] == 1
        assert stats.connections_open == 0


async def test_flood_is_rate_limited(ident: RelayIdentity) -> None:
    config = RelayConfig(envelope_rate=100.0, envelope_burst=50.0)
    async with running_relay(ident, config) as relay:
        calm, _ = await relay.member(0)
        flooder = await relay.link()
        await flooder.send(encode_envelope(T.PING, TAG, 0) * 200)
        got = []
        with pytest.raises(RelayClosed) as exc:
            while True:
                got += await flooder.receive()
        assert exc.value.code == RelayErrorCode.RATE_LIMITED
        assert sum(e.type == T.PONG for e in got) <= 51
        await calm.send_envelope(T.PING, TAG, 0, b"ok")
        [pong] = await calm.receive()
        assert pong.payload == b"ok"


async def test_stalled_handshakes_do_not_block_others(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig(handshake_concurrency=4)) as relay:
        stalled = []
        for _ in range(12):  # three times the handshake concurrency, never speaking
            sock = trio.socket.socket()
            await sock.connect(("127.0.0.1", relay.port))
            stalled.append(sock)
        link, slot = await relay.member(0)
        assert slot == 0
        await link.aclose()
        for sock in stalled:
            sock.close()


async def test_too_many_connections_from_one_address(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig(max_connections_per_address=2)) as relay:
        first, _ = await relay.member(1)
        second, _ = await relay.member(1)  # keep a reference: a dropped link closes
        with pytest.raises(RelayUnavailable):  # closed at accept, before TLS (spec §17.5)
            await relay.link()
        assert relay.server.stats.errors[RelayErrorCode.TOO_MANY_CONNECTIONS.name] == 1
        await first.send_envelope(T.PING, TAG, 0)
        assert (await first.receive())[0].type == T.PONG
        await second.aclose()


async def test_slow_listener_loses_oldest_audio_and_is_told(ident: RelayIdentity) -> None:
    frames, size = 400, 60_000  # 24 MB: more than loopback buffers hold
    # per-source MEDIA allowance and byte bucket out of the way: this is about the
    # listener's queue
    unlimited = {"media_rate": 1e9, "media_burst": 1e9, "media_byte_rate": 1e12}
    config = RelayConfig(
        media_queue_bytes=200_000, media_byte_burst=1e12, byte_rate=1e9, **unlimited
    )
    async with running_relay(ident, config) as relay:
        speaker, _ = await relay.member(0)
        slow, _ = await relay.member(1)
        reader, _ = await relay.member(1)
        heard = {"reader": 0, "reader_lost": 0}

        async def read_all() -> None:
            while heard["reader"] + heard["reader_lost"] < frames:
                for env in await reader.receive():
                    if env.type == T.MEDIA:
                        heard["reader"] += 1
                    elif env.type == T.LOSS:
                        heard["reader_lost"] += parse_loss(env)[0]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for i in range(frames):
                await speaker.send_envelope(T.MEDIA, TAG, 0, i.to_bytes(4, "big") + bytes(size))
        assert relay.server.stats.frames_dropped > 0
        # the slow listener now reads: every frame is either heard or reported lost
        received, lost, last = 0, 0, -1
        while received + lost < frames:
            for env in await slow.receive():
                if env.type == T.MEDIA:
                    received += 1
                    last = int.from_bytes(env.payload[:4], "big")
                elif env.type == T.LOSS:
                    lost += parse_loss(env)[0]
        assert lost > 0 and received + lost == frames
        assert last == frames - 1  # the newest audio survives
        assert relay.server.stats.errors == {}  # nobody was closed


async def test_link_that_cannot_take_reliable_traffic_is_closed(ident: RelayIdentity) -> None:
    config = RelayConfig(reliable_queue_bytes=200_000)
    async with running_relay(ident, config) as relay:
        sender, _ = await relay.member(1)
        stuck, _ = await relay.member(1)
        stuck.ssl_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        got: list[Envelope] = []
        ponged = trio.Event()

        async def read_sender() -> None:  # it reads its echoes (spec §17.3) and the PONG
            while True:
                got.extend(await sender.receive())
                if got and got[-1].type is T.PONG:
                    ponged.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_sender)
            for _ in range(200):
                await sender.send_envelope(T.CONTROL, TAG, 0, bytes(60_000))
                if relay.server.stats.errors["SLOW_CONSUMER"]:
                    break
            assert relay.server.stats.errors["SLOW_CONSUMER"] == 1
            await sender.send_envelope(T.PING, TAG, 0, b"alive")
            with trio.fail_after(10):
                await ponged.wait()
            nursery.cancel_scope.cancel()
        assert got[-1].payload == b"alive"
        assert {e.type for e in got[:-1]} <= {T.CONTROL, T.PEER_LEFT}
        assert relay.server.stats.errors["SLOW_CONSUMER"] == 1, "only the stuck link"


async def test_graceful_shutdown_tells_every_link(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig()) as relay:
        a, _ = await relay.member(0)
        b, _ = await relay.member(1)
        await a.receive()
        await relay.server.shutdown()
        for link in (a, b):
            with pytest.raises(RelayClosed) as exc:
                while True:
                    await link.receive()
            assert exc.value.code == RelayErrorCode.SHUTTING_DOWN
        assert relay.server.stats.connections_open == 0


async def test_metrics_are_aggregate_only(ident: RelayIdentity) -> None:
    from relay.metrics import serve_metrics

    async with running_relay(ident, RelayConfig()) as relay, trio.open_nursery() as nursery:
        a, _ = await relay.member(0)
        b, _ = await relay.member(1)
        await a.send_envelope(T.MEDIA, TAG, 0, b"x")
        await b.receive()
        port = await nursery.start(serve_metrics, relay.server.stats, "127.0.0.1", 0)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        body = b""
        while chunk := await stream.receive_some(65536):
            body += chunk
        text = body.decode()
        assert text.startswith("HTTP/1.1 200 OK")
        assert "hushroom_relay_connections_open 2" in text
        assert "hushroom_relay_rooms_open 1" in text
        assert "hushroom_relay_frames_forwarded_total 1" in text
        assert TAG.hex() not in text and "127.0.0.1" not in text
        nursery.cancel_scope.cancel()


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    # jump virtual time whenever the loop has been idle for 20 ms of real time
    return trio.testing.MockClock(autojump_threshold=0.02)


async def test_handshake_that_never_completes_times_out(
    ident: RelayIdentity, mock_clock: trio.testing.MockClock
) -> None:
    async with running_relay(ident, RelayConfig(handshake_timeout=5.0)) as relay:
        sock = trio.socket.socket()
        await sock.connect(("127.0.0.1", relay.port))
        start = trio.current_time()
        assert await sock.recv(100) == b""  # relay closed without a word
        assert trio.current_time() - start >= 5.0
        assert relay.server.stats.errors["HANDSHAKE_TIMEOUT"] == 1
        assert relay.server.stats.connections_open == 0
        sock.close()


async def test_idle_link_is_closed(
    ident: RelayIdentity, mock_clock: trio.testing.MockClock
) -> None:
    async with running_relay(ident, RelayConfig(idle_timeout=30.0)) as relay:
        link = await relay.link()
        start = trio.current_time()
        with pytest.raises(RelayClosed) as exc:
            while True:
                await link.receive()
        assert exc.value.code == RelayErrorCode.IDLE_TIMEOUT
        assert trio.current_time() - start >= 30.0


def test_state_dir_is_reused_and_private(tmp_path: Path) -> None:
    from relay.state import load_or_create

    first = load_or_create(tmp_path / "state")
    again = load_or_create(tmp_path / "state")
    assert first.pin == again.pin and len(first.pin) == 32
    assert first.key_path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    other = load_or_create(tmp_path / "elsewhere")
    assert other.pin != first.pin


async def test_restart_with_the_same_state_dir_keeps_the_pin(tmp_path: Path) -> None:
    from relay.state import load_or_create

    for _ in range(2):
        ident = load_or_create(tmp_path / "state")
        async with running_relay(ident, RelayConfig()) as relay:
            link = await relay.link()  # pin check passes against the stored key
            await link.aclose()
    assert load_or_create(tmp_path / "state").pin == ident.pin
