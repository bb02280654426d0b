"""Merging market-data streams: several symbols (or venues) into one stream for the supervisor.

Two ways, for two kinds of clock:

* ``merge_by_arrival`` — live data: one task per stream, events handed on in the order they arrive
  (wall-clock order; there is nothing better to wait for). A stream that ends or fails ends the merge:
  the failure is raised from the merged iterator, the other streams are cancelled.
* exact event-time merges of recorded data live with the simulators that own the simulated clock
  (``PaperExchange`` over several replay files, ``BarExchange`` over several bar files).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["merge_by_arrival"]

T = TypeVar("T")

_QUEUE_DEPTH = 256  # events buffered between the streams and the consumer (back-pressure beyond it)


async def merge_by_arrival(streams: Sequence[AsyncIterator[T]]) -> AsyncIterator[T]:
    """Yield the events of every stream as they arrive; one stream yields through directly.

    Ends when the first stream ends (a live stream ends only when it fails or is closed); an exception
    in any stream is raised here after the others are cancelled.
    """
    if len(streams) == 1:
        async for md in streams[0]:
            yield md
        return
    queue: asyncio.Queue[tuple[T] | BaseException | None] = asyncio.Queue(_QUEUE_DEPTH)

    async def pump(stream: AsyncIterator[T]) -> None:
        try:
            async for item in stream:
                await queue.put((item,))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)
            return
        await queue.put(None)

    tasks = [asyncio.create_task(pump(s), name=f"market_stream_{i}") for i, s in enumerate(streams)]
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item[0]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
