"""Optional Prometheus text endpoint (spec §17.7, §23.7): aggregate counts only."""

from __future__ import annotations

from collections import Counter

import trio

from relay.stats import RelayStats

_MAX_REQUEST = 8192

#: the datagram channel's counters (relay.datagram_table, relay.udp): name -> help (spec §23.7)
DATAGRAM_COUNTERS: dict[str, str] = {
    "received": "Datagrams read from the UDP socket.",
    "received_bytes": "Bytes of the datagrams read.",
    "accepted": "Datagrams that opened under their channel's key.",
    "recovered": "Frames delivered from a MEDIA_RED copy because the original was lost.",
    "sent": "Datagrams sent.",
    "sent_bytes": "Bytes of the datagrams sent.",
    "send_dropped": "Datagrams the socket could not take at once (dropped, never queued).",
    "malformed": "Datagrams dropped: bad length, padding, kind, flags or body.",
    "unknown_token": "Datagrams dropped: no channel has their token.",
    "over_rate": "Datagrams dropped unopened: their channel's bucket was empty.",
    "replay": "Datagrams dropped: counter already accepted, too old or too far ahead.",
    "authentication": "Datagrams dropped: they did not open under the channel's key.",
}


def datagram_metrics(counts: Counter[str]) -> str:
    """The datagram counters in Prometheus text format: one counter each, no labels."""
    lines: list[str] = []
    for name, help_text in DATAGRAM_COUNTERS.items():
        metric = f"hushroom_relay_datagrams_{name}_total"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        lines.append(f"{metric} {counts[name]}")
    return "\n".join(lines) + "\n"


async def serve_metrics(
    stats: RelayStats,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer every HTTP request on host:port with ``stats.render()``."""

    async def handler(stream: trio.SocketStream) -> None:
        with trio.move_on_after(5):
            request = b""
            while b"\r\n\r\n" not in request and len(request) < _MAX_REQUEST:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                request += chunk
            body = (stats.render() + datagram_metrics(stats.datagrams)).encode()
            head = (
                "HTTP/1.1 200 OK\r\n"
                "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            try:
                await stream.send_all(head + body)
            except trio.BrokenResourceError:
                pass
        await stream.aclose()

    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handler, listeners)
