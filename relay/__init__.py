"""The Hushroom relay: a dumb trio server that forwards opaque envelopes (spec/protocol.md)."""
