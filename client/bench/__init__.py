"""Benchmarks behind ``hushroom bench``: each prints one JSON object with ``--json``."""
