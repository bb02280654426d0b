"""Hypothesis profiles of the fuzz suite: ``ci`` (default: seeded, sized for ~60 s) and ``long`` (deep local runs).

Select with ``HYPOTHESIS_PROFILE=long``. No example database is kept (``database=None``) and hypothesis'
caches go to the temp directory (``HYPOTHESIS_STORAGE_DIRECTORY``), so no ``.hypothesis/`` appears in
the repository.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck
from hypothesis import settings

os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "trading-bot-hypothesis"))

_COMMON = {
    "database": None,
    "deadline": None,  # a run is bounded by its own timeout; hypothesis' deadline would flake on a shared CPU
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
}

settings.register_profile("ci", derandomize=True, max_examples=40, **_COMMON)
settings.register_profile("long", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
