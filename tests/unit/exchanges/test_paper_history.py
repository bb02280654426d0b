"""The paper exchange passes its source's bar history on (``--paper`` on live data), and has none on a replay."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from tests.kit.pipeline import SYMBOL
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import quote
from trading_bot.domain import Bar
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol

BAR = Bar(ts_ms=0, open=Decimal(1), high=Decimal(2), low=Decimal(1), close=Decimal(2))


class _LiveSource(ListSource):
    async def fetch_ohlcv(self, symbol: Symbol, timeframe: str, since_ms: int | None = None,
                          limit: int | None = None) -> list[Bar]:  # fmt: skip
        return [BAR] if (symbol, timeframe, limit) == (SYMBOL, "1m", 3) else []


def _paper(source: ListSource) -> PaperExchange:
    return PaperExchange(PaperConfig(), source.clock, source, markets=source.markets)


@pytest.mark.asyncio
async def test_paper_on_a_source_with_history_returns_the_sources_bars() -> None:
    clock = SimulatedClock()
    paper = _paper(_LiveSource([quote(1, "1", "2")], clock))
    assert await paper.fetch_ohlcv(SYMBOL, "1m", limit=3) == [BAR]


@pytest.mark.asyncio
async def test_paper_on_recorded_data_has_no_history() -> None:
    clock = SimulatedClock()
    paper = _paper(ListSource([quote(1, "1", "2")], clock))
    with pytest.raises(NotImplementedError):
        await paper.fetch_ohlcv(SYMBOL, "1m", limit=3)
