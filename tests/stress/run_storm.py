#!/usr/bin/env python3
"""The long fault-storm soak: ``python tests/stress/run_storm.py [--minutes 10] [--seed N] [--keep DIR]``;
prints a JSON verdict and exits 1 if a rule broke."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.stress.storm import describe
from tests.stress.storm import run_storm


def main() -> None:
    """Run the storm in a temporary directory (or ``--keep DIR``) and print the verdict."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="storm length in minutes (default 10)")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep the logs and the journal")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run_storm(args.keep, args.minutes * 60, args.seed))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(run_storm(Path(tmp), args.minutes * 60, args.seed))
    print(json.dumps(describe(result), indent=2))
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
