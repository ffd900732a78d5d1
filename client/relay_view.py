"""What the relay sees: every byte each client exchanged with it, decoded as envelopes.

The relay terminates TLS, so what it sees is exactly the plaintext byte stream
of each client link: envelopes (spec §8) with a room tag, a slot and an opaque
payload.  :class:`RelayObserver` records those streams at the client end of
each link (the same bytes the relay reads and writes), and
:meth:`RelayObserver.summary` reports them — and checks that no secret the
caller names (display names, identity keys, Opus packets) occurs anywhere in
them.  The demo prints this summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from e2ee.envelope import Envelope, EnvelopeDecoder, EnvelopeType


@dataclass
class LinkRecord:
    """Both directions of one client's link(s), concatenated."""

    label: str
    to_relay: bytearray = field(default_factory=bytearray)
    from_relay: bytearray = field(default_factory=bytearray)


@dataclass
class Leak:
    what: str
    link: str


class RelayObserver:
    """Collects relay-visible bytes per link; see the module docstring."""

    def __init__(self) -> None:
        self.links: list[LinkRecord] = []

    def link(self, label: str) -> LinkRecord:
        record = LinkRecord(label)
        self.links.append(record)
        return record

    @staticmethod
    def _envelopes(data: bytes | bytearray) -> list[Envelope]:
        decoder = EnvelopeDecoder()
        return decoder.feed(bytes(data))

    def envelopes_to_relay(self) -> list[Envelope]:
        return [env for rec in self.links for env in self._envelopes(rec.to_relay)]

    def leaks(self, secrets: dict[str, bytes]) -> list[Leak]:
        """Every (secret, link) where the secret's bytes occur in relay-visible bytes."""
        found: list[Leak] = []
        for rec in self.links:
            for what, secret in secrets.items():
                if secret and (secret in rec.to_relay or secret in rec.from_relay):
                    found.append(Leak(what, rec.label))
        return found

    def summary(self, secrets: dict[str, bytes], opus_packets: list[bytes]) -> list[str]:
        """Human-readable lines: tags, slots, envelope counts and sizes, leak checks."""
        sent = self.envelopes_to_relay()
        received = [env for rec in self.links for env in self._envelopes(rec.from_relay)]
        tags = Counter(env.room_tag.hex() for env in sent)
        stamped = (EnvelopeType.MEDIA, EnvelopeType.CONTROL, EnvelopeType.UNICAST)
        slots = sorted({env.slot for env in received if env.type in stamped})
        by_type: dict[str, list[int]] = {}
        for env in sent:
            by_type.setdefault(EnvelopeType(env.type).name, []).append(len(env.payload))
        total_up = sum(len(rec.to_relay) for rec in self.links)
        total_down = sum(len(rec.from_relay) for rec in self.links)
        lines = [
            f"links: {len(self.links)}; bytes to the relay: {total_up}, from it: {total_down}",
            "room tags: " + ", ".join(f"{tag} ({count} envelopes)" for tag, count in tags.items()),
            f"source slots stamped by the relay: {', '.join(map(str, slots)) or 'none'}",
            "envelopes sent to the relay, by type (count; payload sizes):",
        ]
        for name, sizes in sorted(by_type.items()):
            distinct = sorted(Counter(sizes).items())
            shown = ", ".join(f"{size}B×{n}" for size, n in distinct[:8])
            more = f", … {len(distinct) - 8} more sizes" if len(distinct) > 8 else ""
            lines.append(f"  {name:9} {len(sizes):6}; {shown}{more}")
        leaks = self.leaks(secrets)
        lines.append(
            f"searched the relay-visible bytes for {len(secrets)} secrets "
            f"(display names, identity keys): {len(leaks)} found"
        )
        for leak in leaks:
            lines.append(f"  LEAK: {leak.what} on link {leak.link}")
        everything = b"".join(bytes(rec.to_relay) for rec in self.links)
        sample = [p for p in opus_packets if len(p) >= 8][:: max(1, len(opus_packets) // 200)]
        audio_hits = sum(1 for p in sample if p in everything)
        lines.append(
            f"searched for {len(sample)} of the Opus packets the speakers encoded: "
            f"{audio_hits} found in clear"
        )
        return lines
