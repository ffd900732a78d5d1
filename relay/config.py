"""Relay limits and timeouts (spec §17.5), all configurable from the command line."""

from __future__ import annotations

from dataclasses import dataclass

from e2ee.envelope import DEFAULT_MAX_PAYLOAD


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Every bound the relay enforces (spec §17.5); defaults suit a 5,000-listener room."""

    max_payload: int = DEFAULT_MAX_PAYLOAD
    max_rooms_per_connection: int = 8
    max_members_per_room: int = 10_000
    #: links per client address (IPv6: per /64), pending handshakes included; 0 = none
    max_connections_per_address: int = 64
    #: links in total, pending handshakes included
    max_connections: int = 20_000
    #: TLS handshakes accepted but not finished, in total and per client address
    max_pending_handshakes: int = 512
    max_pending_per_address: int = 64
    #: sustained envelopes per second per connection, and the bucket size (burst)
    envelope_rate: float = 2_000.0
    envelope_burst: float = 20_000.0
    #: sustained bytes per second per connection, and the burst, counted as the
    #: bytes the relay writes because of each envelope (a CONTROL counts once per
    #: recipient); a moderator's re-key of 5,000 members is about 2 MB (spec §17.5)
    byte_rate: float = 16.0 * 1024 * 1024
    byte_burst: float = 64.0 * 1024 * 1024
    #: JOIN and SET_CLASS per second per connection, and the burst: each one makes
    #: the relay notify every stage member or tell the link every occupied slot
    join_rate: float = 10.0
    join_burst: float = 50.0
    #: MEDIA accepted per second from one member of one room tag, in envelopes and
    #: bytes, with their bursts; the excess is dropped at the relay (spec §17.3)
    media_rate: float = 100.0
    media_burst: float = 200.0
    media_byte_rate: float = 32.0 * 1024
    media_byte_burst: float = 64.0 * 1024
    #: bytes of droppable audio a connection may have queued before its oldest is dropped
    media_queue_bytes: int = 65_536
    #: bytes of reliable traffic (control, unicast, notices) queued before the link is closed
    reliable_queue_bytes: int = 4 * 1024 * 1024
    #: bytes read from one link per turn of the event loop before its envelopes
    #: are routed and the reader yields (spec §17.5)
    read_bytes_per_turn: int = 1_048_576
    idle_timeout: float = 60.0
    handshake_timeout: float = 10.0
    #: TLS handshakes in progress at once; bounds how long they can hold the event loop
    handshake_concurrency: int = 16
    #: seconds a closing link gets to flush its final ERROR
    close_grace: float = 1.0
    #: shortest spacing between two audience batches (one Opus frame); 0 = purely
    #: adaptive.  Longer passes under load make the interval grow (spec §17.3).
    audience_min_interval: float = 0.02
    #: UDP port of the datagram channel (spec §23); None: no channel (every
    #: DATAGRAM_OFFER is answered with an empty DATAGRAM_ACCEPT), 0: any free port
    datagram_port: int | None = None
    #: the relay sends a link's audio by datagram only while its latest datagram,
    #: no older than this, said RECEIVING (spec §23.6)
    datagram_path_timeout: float = 0.2
    #: datagrams opened per channel per second, and the burst, before decryption (spec §23.8)
    datagram_rate: float = 2_000.0
    datagram_burst: float = 4_000.0
