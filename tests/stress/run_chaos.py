#!/usr/bin/env python3
"""The long chaos run: ``python tests/stress/run_chaos.py [--kills 100] [--seed N] [--perp]``; prints a JSON verdict.

``--perp`` runs it on the emulator's USDⓈ-M venue (a sell grid on BTC/USDT:USDT, funding every 1.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.stress.chaos import describe
from tests.stress.chaos import run_chaos
from tests.stress.harness import SPOT
from tests.stress.harness import USDM


def main() -> None:
    """Run the chaos loop in a temporary directory and print the verdict; exit 1 if a rule broke."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--perp", action="store_true", help="trade the perpetual BTC/USDT:USDT on the USD-M venue")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run_chaos(Path(tmp), args.kills, args.seed, USDM if args.perp else SPOT))
    verdict = describe(result)
    verdict["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(verdict, indent=2))
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
