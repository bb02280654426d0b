"""Event-loop lag: how late a sleeping task wakes, measured by a small task beside the bot's own.

Every ``interval_s`` the probe asks to be woken ``interval_s`` later and measures how much later it actually
woke (``loop.time()``, seconds): a blocking call anywhere in the bot's loop shows up as lag.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

__all__ = ["LoopLagProbe"]


class LoopLagProbe:
    """Measures the event loop's wake-up lag (seconds) into ``histogram``; ``last_s`` and ``max_s`` as well."""

    def __init__(self, histogram: Histogram, interval_s: float = 0.25) -> None:
        self.histogram = histogram
        self.interval_s = interval_s
        self.last_s = 0.0
        self.max_s = 0.0
        self.samples = 0

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            scheduled = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, loop.time() - scheduled)
            self.last_s = lag
            self.max_s = max(self.max_s, lag)
            self.samples += 1
            self.histogram.observe(lag)
