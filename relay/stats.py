"""Aggregate counters (spec §17.7): no address, room tag or slot is ever kept here."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

#: upper bounds (seconds) of the audience batch delay histogram
DELAY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)


@dataclass(slots=True)
class RelayStats:
    """Process-wide counts exposed by ``--metrics`` in Prometheus text format."""

    connections_open: int = 0
    connections_total: int = 0
    handshakes_failed: int = 0
    rooms_open: int = 0
    envelopes_received: int = 0
    frames_forwarded: int = 0
    bytes_forwarded: int = 0
    frames_dropped: int = 0
    bytes_dropped: int = 0
    audience_batches: int = 0
    #: MEDIA envelopes dropped because their source exceeded its allowance (spec §17.3)
    media_over_rate: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    #: the datagram channel's counts, by name (relay.datagram_table; rendered by relay.metrics)
    datagrams: Counter[str] = field(default_factory=Counter)
    #: per-bucket counts (last = +Inf) of audience batch delays: from the oldest
    #: envelope's arrival to the end of the pass that wrote it to every member
    batch_delay_counts: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS) + 1))
    batch_delay_sum: float = 0.0

    def observe_batch_delay(self, seconds: float) -> None:
        """Record one audience batch's relay-side delay (spec §17.7)."""
        self.batch_delay_counts[bisect.bisect_left(DELAY_BUCKETS, seconds)] += 1
        self.batch_delay_sum += seconds

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4 (spec §17.7)."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, value: int) -> None:
            lines.append(f"# HELP hushroom_relay_{name} {help_text}")
            lines.append(f"# TYPE hushroom_relay_{name} {kind}")
            lines.append(f"hushroom_relay_{name} {value}")

        metric("connections_open", "gauge", "Links currently open.", self.connections_open)
        metric("connections_total", "counter", "Links accepted.", self.connections_total)
        metric(
            "handshakes_failed_total",
            "counter",
            "TLS handshakes that failed or timed out.",
            self.handshakes_failed,
        )
        metric("rooms_open", "gauge", "Room tags with at least one member.", self.rooms_open)
        metric(
            "envelopes_received_total",
            "counter",
            "Envelopes received from clients.",
            self.envelopes_received,
        )
        metric(
            "frames_forwarded_total",
            "counter",
            "Envelopes delivered (one per recipient).",
            self.frames_forwarded,
        )
        metric(
            "bytes_forwarded_total", "counter", "Envelope bytes delivered.", self.bytes_forwarded
        )
        metric(
            "frames_dropped_total",
            "counter",
            "Audio envelopes dropped for slow listeners.",
            self.frames_dropped,
        )
        metric(
            "bytes_dropped_total",
            "counter",
            "Audio bytes dropped for slow listeners.",
            self.bytes_dropped,
        )
        metric(
            "audience_batches_total", "counter", "Audience batches written.", self.audience_batches
        )
        metric(
            "media_over_rate_total",
            "counter",
            "Audio envelopes dropped because their source sent beyond its allowance.",
            self.media_over_rate,
        )
        name = "hushroom_relay_audience_batch_delay_seconds"
        lines.append(f"# HELP {name} Oldest envelope's arrival to the end of its audience pass.")
        lines.append(f"# TYPE {name} histogram")
        cumulative = 0
        for bound, count in zip(DELAY_BUCKETS, self.batch_delay_counts, strict=False):
            cumulative += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
        cumulative += self.batch_delay_counts[-1]
        lines.append(f'{name}_bucket{{le="+Inf"}} {cumulative}')
        lines.append(f"{name}_sum {self.batch_delay_sum:.6f}")
        lines.append(f"{name}_count {cumulative}")
        lines.append("# HELP hushroom_relay_errors_total Errors by code name.")
        lines.append("# TYPE hushroom_relay_errors_total counter")
        for code, count in sorted(self.errors.items()):
            lines.append(f'hushroom_relay_errors_total{{code="{code}"}} {count}')
        return "\n".join(lines) + "\n"
