"""The client side of the relay link (spec §7): TLS 1.3 to a pinned relay key.

``connect_relay`` opens a TCP connection, runs a TLS 1.3 handshake without
any certificate authority, and accepts the relay only if SHA-256 of its
certificate's DER SubjectPublicKeyInfo equals the 32-byte pin from the invite
(spec §7.2).  The resulting :class:`RelayLink` sends encoded envelopes and
returns decoded ones (spec §8).

The socket is a non-blocking ``ssl.SSLSocket`` driven with
``trio.lowlevel.wait_readable/wait_writable`` (one reader task and one writer
at a time), so encryption runs in C and thousands of links fit in one process
(the fan-out benchmark's load generators use this same class).
"""

from __future__ import annotations

import errno
import hmac
import socket
import ssl
from collections.abc import AsyncIterator

import trio

from e2ee.envelope import (
    DEFAULT_MAX_PAYLOAD,
    RELAY_TYPES,
    Envelope,
    EnvelopeDecoder,
    EnvelopeType,
    RelayErrorCode,
    encode_envelope,
    parse_error,
)
from e2ee.errors import RemoteProtocolError
from relay.wire.pin import PIN_LEN, certificate_pin
from relay.wire.tls_io import drain_ready

_RECV_SIZE = 262_144


class RelayLinkError(Exception):
    """Base class of relay-link failures."""


class RelayUnavailable(RelayLinkError):
    """The relay could not be reached (refused, unreachable, timed out, TLS failed)."""


class PinMismatch(RelayLinkError):
    """The relay's key does not match the pin in the invite: refuse it (spec §7.2)."""


class RelayClosed(RelayLinkError):
    """The link ended; ``code``/``reason`` come from the relay's final ERROR, if any."""

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


def client_ssl_context() -> ssl.SSLContext:
    """TLS 1.3 only; the certificate is checked by pin, not by a CA (spec §7.1)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # authentication is the pin comparison below
    return ctx


async def connect_relay(
    host: str,
    port: int,
    pin: bytes,
    *,
    timeout: float = 10.0,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
    ssl_context: ssl.SSLContext | None = None,
) -> RelayLink:
    """Open a pinned TLS 1.3 link to the relay at host:port (spec §7).

    Raises :class:`PinMismatch` if the relay's key is not the pinned one and
    :class:`RelayUnavailable` if it cannot be reached within ``timeout``.
    """
    if len(pin) != PIN_LEN:
        raise ValueError("a relay pin is 32 bytes")
    ctx = ssl_context or client_ssl_context()
    sock: socket.socket | None = None
    ssock: ssl.SSLSocket | None = None
    try:
        with trio.fail_after(timeout):
            infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            if not infos:
                raise RelayUnavailable(f"cannot resolve {host}")
            family, _, _, _, addr = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                raise OSError(err, errno.errorcode.get(err, str(err)))
            await trio.lowlevel.wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, errno.errorcode.get(err, str(err)))
            ssock = ctx.wrap_socket(sock, server_side=False, do_handshake_on_connect=False)
            while True:
                try:
                    ssock.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await trio.lowlevel.wait_readable(ssock)
                except ssl.SSLWantWriteError:
                    await trio.lowlevel.wait_writable(ssock)
    except trio.TooSlowError:
        _close(ssock or sock)
        raise RelayUnavailable(f"relay {host}:{port} did not answer within {timeout} s") from None
    except (OSError, ssl.SSLError) as exc:
        _close(ssock or sock)
        raise RelayUnavailable(f"cannot reach relay {host}:{port}: {exc}") from None
    except BaseException:
        _close(ssock or sock)
        raise
    der = ssock.getpeercert(binary_form=True)
    if der is None or not hmac.compare_digest(certificate_pin(der), pin):
        _close(ssock)
        raise PinMismatch(
            f"relay {host}:{port} presented a key that does not match the invite's pin; "
            "refusing to connect"
        )
    return RelayLink(ssock, max_payload)


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


class RelayLink:
    """An open, pin-checked link to the relay (spec §7, §8).

    ``send``/``send_envelope`` may be called from several tasks (they are
    serialised); ``receive`` (or iteration) from one task at a time.  The
    relay closes links that send nothing for its idle timeout (60 s by
    default, spec §17.5): send PING every 20 s when otherwise silent.
    """

    def __init__(self, sock: ssl.SSLSocket, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._sock = sock
        self._decoder = EnvelopeDecoder(max_payload, RELAY_TYPES)
        self._send_lock = trio.Lock()
        self._pending: bytes | None = None  # bytes OpenSSL must see again on retry
        self._closed = False
        self._final: tuple[int, str] | None = None

    @property
    def ssl_socket(self) -> ssl.SSLSocket:
        """The underlying non-blocking TLS socket (for load generators)."""
        return self._sock

    async def send(self, data: bytes) -> None:
        """Write encoded envelope bytes (one or several concatenated)."""
        async with self._send_lock:
            if self._closed:
                raise RelayClosed("link is closed")
            if self._pending is not None:
                await self._write(self._pending)
            self._pending = data
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        sock = self._sock
        while True:
            try:
                n = sock.send(data)
            except (ssl.SSLWantWriteError, BlockingIOError):
                await trio.lowlevel.wait_writable(sock)
                continue
            except ssl.SSLWantReadError:
                await trio.sleep(0.001)  # TLS 1.3 post-handshake; the reader makes progress
                continue
            except (ssl.SSLError, OSError) as exc:
                self._closed = True
                raise RelayClosed(f"link broken: {exc}") from None
            if n >= len(data):
                self._pending = None
                return
            data = data[n:]
            self._pending = data

    async def send_envelope(
        self, type: EnvelopeType, room_tag: bytes, slot: int = 0, payload: bytes = b""
    ) -> None:
        """Encode and send one envelope (spec §8.1)."""
        await self.send(encode_envelope(type, room_tag, slot, payload))

    async def receive(self) -> list[Envelope]:
        """Wait for at least one envelope and return all that are available.

        Drains every TLS record that is ready before decoding.  Raises
        :class:`RelayClosed` when the link ends (carrying the relay's final
        ERROR code and reason if it sent one) and ``RemoteProtocolError``
        if the relay sends bytes that do not parse.
        """
        sock = self._sock
        while True:
            if self._closed:
                raise self._closed_error()
            chunks, eof = drain_ready(sock, _RECV_SIZE)
            envelopes = self._decoder.feed(b"".join(chunks)) if chunks else []
            for env in envelopes:
                if env.type == EnvelopeType.ERROR:
                    code, reason = parse_error(env)
                    if code < 0x100:
                        self._final = (code, reason)
            if eof:
                self._closed = True
            if envelopes:
                return envelopes
            if eof:
                raise self._closed_error()
            await trio.lowlevel.wait_readable(sock)

    def _closed_error(self) -> RelayClosed:
        if self._final is not None:
            code, reason = self._final
            try:
                name = RelayErrorCode(code).name
            except ValueError:
                name = str(code)
            return RelayClosed(f"relay closed the link: {name}: {reason}", code, reason)
        return RelayClosed("relay closed the link")

    async def __aiter__(self) -> AsyncIterator[Envelope]:
        """Yield envelopes one by one until the link closes (then stop quietly)."""
        while True:
            try:
                batch = await self.receive()
            except RelayClosed:
                return
            for env in batch:
                yield env

    async def aclose(self) -> None:
        """Close the link (no TLS close_notify round trip; the relay handles EOF)."""
        self._closed = True
        _close(self._sock)
        await trio.lowlevel.checkpoint()


__all__ = [
    "PinMismatch",
    "RelayClosed",
    "RelayLink",
    "RelayLinkError",
    "RelayUnavailable",
    "RemoteProtocolError",
    "client_ssl_context",
    "connect_relay",
]
