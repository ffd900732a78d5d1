"""Hypothesis profiles for the whole suite.

The default profile is deterministic (derandomized, no example database), so
the default suite gives the same result on every checkout.  The long profile
explores at random with thousands of examples:

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/room/test_room_hypothesis.py
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("long", max_examples=3000, derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
