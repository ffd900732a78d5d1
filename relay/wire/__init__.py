"""What both ends of the relay link share (spec §7): the pin and reading TLS records.

Neither end owns this package: the relay and the client import it, and it
imports nothing from either of them (only the standard library, the
``cryptography`` package and the envelope codec of ``e2ee``).
"""
