"""``/metrics``: the bot in Prometheus text, from a registry of its own (never the process-global one).

Figures the bot keeps are read from its state at scrape time by :class:`BotCollector` (a custom collector),
so they cannot drift from what the bot, its summary and its journal say. Only what the bot does not keep is
measured by the monitor: the order round-trip histogram and denials by rule (``observer``), the loop lag
(``lag``), reconnects and rate-limit hits (``events``).

Labels: ``venue`` and ``symbol`` on every per-instrument series. Money is in the instrument's quote
currency (a swap's PnL and funding in its settle currency), quantities in base units, times in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import Metric
from prometheus_client.core import SummaryMetricFamily
from prometheus_client.registry import Collector

from trading_bot.domain import TradingState
from trading_bot.monitor.events import RATE_LIMIT_EVENTS
from trading_bot.monitor.events import RECONNECT_EVENTS
from trading_bot.monitor.events import LogEventCounter
from trading_bot.monitor.observer import BotObserver

if TYPE_CHECKING:
    from trading_bot.monitor.lag import LoopLagProbe
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["CONTENT_TYPE", "PREFIX", "BotCollector", "MonitorMetrics"]

PREFIX = "trading_bot"
"""Prefix of every metric name."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format."""

_LABELS = ["venue", "symbol"]
_ROUND_TRIP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class MonitorMetrics:
    """The registry of one bot's metrics and the instruments the monitor measures itself."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.round_trip = Histogram(
            f"{PREFIX}_order_round_trip_seconds",
            "Seconds from an order's submission to the venue's first answer (accepted, rejected, filled)",
            buckets=_ROUND_TRIP_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            f"{PREFIX}_loop_lag_seconds",
            "Seconds an event-loop wake-up came late (a probe task sleeping 0.25 s)",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )

    def register(self, collector: Collector) -> None:
        """Add ``collector`` to the registry."""
        self.registry.register(collector)

    def render(self) -> bytes:
        """Return the registry in the text exposition format."""
        return generate_latest(self.registry)


class BotCollector(Collector):
    """Reads one bot's figures at scrape time (see the module docstring)."""

    def __init__(self, bot: TradingBot, observer: BotObserver, events: LogEventCounter, lag: LoopLagProbe) -> None:
        self._bot = bot
        self._observer = observer
        self._events = events
        self._lag = lag

    def collect(self) -> Iterator[Metric]:
        """Yield every family (a scrape)."""
        yield from self._instrument_families()
        yield from self._bot_families()

    def _instrument_families(self) -> Iterator[Metric]:
        bot = self._bot
        p = PREFIX
        orders = CounterMetricFamily(f"{p}_orders", "Orders by outcome: submitted, denied, rejected, unknown, "
                                     "cancel_requests", labels=[*_LABELS, "outcome"])  # fmt: skip
        fills = CounterMetricFamily(f"{p}_fills", "Fills applied to the position", labels=_LABELS)
        gauges = {
            name: GaugeMetricFamily(f"{p}_{name}", text, labels=_LABELS)
            for name, text in (
                ("fees", "Fees paid (quote currency; negative = rebates)"),
                ("position", "Signed position (base units; short < 0)"),
                ("equity", "Equity of the instrument's account (quote currency)"),
                ("realized_pnl", "Realized PnL (quote currency)"),
                ("unrealized_pnl", "Unrealized PnL at the mark (quote currency)"),
                ("net_pnl", "Net PnL: realized + unrealized - fees + funding (quote currency)"),
                ("funding", "Perpetual swaps: sum of funding payments (settle currency)"),
                ("open_orders", "Open orders"),
                ("data_age_seconds", "Seconds since the instrument's last market event (the bot's clock)"),
            )
        }
        now = bot.clock.now_ms()
        for slot in bot.slots:
            labels = [slot.venue.name, str(slot.market.symbol)]
            portfolio = slot.portfolio
            for outcome, count in slot.orders.stats.items():
                orders.add_metric([*labels, outcome], count)
            fills.add_metric(labels, len(portfolio.fills))
            values: dict[str, Decimal | int | float] = {
                "fees": portfolio.fees, "position": portfolio.position.quantity, "realized_pnl": portfolio.realized_pnl,
                "funding": portfolio.funding, "open_orders": slot.tracker.open_count,
            }  # fmt: skip
            if portfolio.mark is not None:
                values |= {"equity": portfolio.equity(), "unrealized_pnl": portfolio.unrealized_pnl(),
                           "net_pnl": portfolio.net_pnl()}  # fmt: skip
            last = slot.view.last
            if last is not None:
                values["data_age_seconds"] = max(0, now - last.ts_ms) / 1000
            for name, value in values.items():
                gauges[name].add_metric(labels, float(value))
        yield orders
        yield fills
        yield from gauges.values()

    def _bot_families(self) -> Iterator[Metric]:
        bot, observer, p = self._bot, self._observer, PREFIX
        denials = CounterMetricFamily(f"{p}_denials", "Orders the RiskManager denied, by rule", labels=["rule"])
        for rule, count in sorted(observer.denials.items()):
            denials.add_metric([rule], count)
        yield denials
        info = GaugeMetricFamily(f"{p}_info", "The bot's id (always 1)", labels=["bot_id"])
        info.add_metric([bot.bot_id], 1.0)
        yield info
        venues = GaugeMetricFamily(f"{p}_venue_up", "1 while the venue trades, 0 once it failed (HALTED)",
                                   labels=["venue"])  # fmt: skip
        for venue in bot.venues:
            venues.add_metric([venue.name], 0.0 if venue.state is TradingState.HALTED else 1.0)
        yield venues
        state = GaugeMetricFamily(f"{p}_trading_state", "1 for the bot's trading state", labels=["state"])
        for value in TradingState:
            state.add_metric([value.value], 1.0 if bot.risk.trading_state is value else 0.0)
        yield state
        book = bot.book
        if book is not None and book.valued:
            yield GaugeMetricFamily(f"{p}_book_equity", "Equity of every venue's account (quote currencies at par)",
                                    value=float(book.equity()))  # fmt: skip
        yield CounterMetricFamily(f"{p}_market_events", "Market events processed", value=bot.events)
        yield CounterMetricFamily(f"{p}_operator_commands", "Operator commands executed", value=bot.operator.executed)
        yield CounterMetricFamily(f"{p}_ws_reconnects", "WebSocket stream reconnects (market and user streams)",
                                  value=self._events.total(RECONNECT_EVENTS))  # fmt: skip
        yield CounterMetricFamily(f"{p}_rate_limit_hits", "Venue answers asking the bot to slow down (HTTP 429/418)",
                                  value=self._events.total(RATE_LIMIT_EVENTS))  # fmt: skip
        yield GaugeMetricFamily(f"{p}_loop_lag_max_seconds", "Largest event-loop lag seen (seconds)",
                                value=self._lag.max_s)  # fmt: skip
        writer = bot.journal.batch_writer if bot.journal is not None else None
        if writer is not None:
            yield SummaryMetricFamily(f"{p}_journal_write_seconds", "Seconds spent writing journal batches (one "
                                      "transaction each)", count_value=writer.batches_written,
                                      sum_value=writer.write_seconds)  # fmt: skip
            yield CounterMetricFamily(f"{p}_journal_rows_written", "Journal rows written by the batching writer",
                                      value=writer.rows_written)  # fmt: skip
            yield GaugeMetricFamily(f"{p}_journal_pending_rows", "Journal rows queued, not yet written",
                                    value=writer.pending)  # fmt: skip
