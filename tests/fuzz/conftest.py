"""Hypothesis profiles of the fuzz suite: ``ci`` (default, derandomized) and ``long`` (HYPOTHESIS_PROFILE=long)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=60)
settings.register_profile("long", deadline=None, max_examples=2_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
