"""Optional Prometheus text endpoint (spec §17.7): aggregate counts only."""

from __future__ import annotations

import trio

from relay.stats import RelayStats

_MAX_REQUEST = 8192


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
            body = stats.render().encode()
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
