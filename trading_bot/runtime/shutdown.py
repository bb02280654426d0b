"""The shutdown's guarded steps: each runs against a time limit, and whatever goes wrong is logged, not raised.

The supervisor cuts one ``shutdown_timeout_s`` budget into per-step limits (``time_left``) and runs each
step through ``run_step``, so a slow exchange, a full disk or a bug in one step never keeps the next ones
(closing the journal's run row, closing the exchange) from running, and never ends the process with a
traceback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable

from trading_bot.log import get_logger

__all__ = ["run_step", "time_left"]

_log = get_logger(__name__)


def time_left(end: float, floor: float = 0.0) -> float:
    """Return the seconds until ``end`` (a ``time.monotonic()`` value), but at least ``floor`` seconds."""
    return max(end - time.monotonic(), floor)


async def run_step(name: str, step: Callable[[], Awaitable[object]], timeout_s: float) -> str | None:
    """Run ``step()`` for at most ``timeout_s`` seconds; return ``None`` if it succeeded, else what went wrong.

    A step with no time left is not started (``shutdown_step_skipped``); a step that runs out of time is
    cancelled (``shutdown_step_timeout``); a step that raises is logged with its error
    (``shutdown_step_failed``). Only the cancellation of the shutdown itself propagates.

    Args:
        name: the step's name in the log (``orders``, ``save_state``, ...).
        step: makes the step's awaitable (not called when the step is skipped).
        timeout_s: the step's time limit, seconds.
    """
    if timeout_s <= 0:
        _log.error("shutdown_step_skipped", step=name, reason="shutdown_timeout_s used up")
        return "skipped: shutdown_timeout_s used up"
    try:
        async with asyncio.timeout(timeout_s):
            await step()
    except TimeoutError:
        _log.error("shutdown_step_timeout", step=name, timeout_s=round(timeout_s, 3))
        return f"timed out after {timeout_s:.1f} s"
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the shutdown itself is being cancelled
        _log.error("shutdown_step_failed", step=name, error="CancelledError()")  # raised by the step's own code
        return "CancelledError()"
    except Exception as exc:
        _log.error("shutdown_step_failed", step=name, error=repr(exc))
        return repr(exc)
    return None
