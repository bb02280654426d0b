"""Market data dropped at the ccxt boundary: counted per kind, logged, alerted past a threshold."""

from __future__ import annotations

from structlog.testing import capture_logs

from exchanges.ccxt.rejections import MarketDataRejections
from trading_bot.domain import SimulatedClock


def _reject(rejections: MarketDataRejections, clock: SimulatedClock, times_ms: list[int], kind: str = "quote") -> None:
    for ts in times_ms:
        clock.advance_to(ts)
        rejections.reject(kind, "BTC/USDT", "ws", "bid -2 must be > 0")


def test_each_rejection_is_logged_with_kind_symbol_reason_and_counted_per_kind() -> None:
    clock = SimulatedClock()
    rejections = MarketDataRejections(clock)

    with capture_logs() as logs:
        _reject(rejections, clock, [1_000, 2_000])
        _reject(rejections, clock, [3_000], kind="trade")

    assert rejections.counts == {"quote": 2, "trade": 1}
    assert [(e["event"], e["kind"], e["symbol"], e["reason"], e["count"]) for e in logs] == [
        ("market_data_rejected", "quote", "BTC/USDT", "bid -2 must be > 0", 1),
        ("market_data_rejected", "quote", "BTC/USDT", "bid -2 must be > 0", 2),
        ("market_data_rejected", "trade", "BTC/USDT", "bid -2 must be > 0", 1),
    ]
    assert not any(e.get("alert") for e in logs)


def test_ten_rejections_within_sixty_seconds_raise_one_alert_per_window() -> None:
    clock = SimulatedClock()
    rejections = MarketDataRejections(clock, threshold=10, window_s=60)

    with capture_logs() as logs:
        _reject(rejections, clock, [1_000 * i for i in range(1, 31)])  # 30 in 30 s
        _reject(rejections, clock, [1_000 * i for i in range(61, 71)])  # 10 more, a window later

    alerts = [e for e in logs if e.get("alert")]
    assert [a["count"] for a in alerts] == [10, 40]
    assert all(a["log_level"] == "error" and a["event"] == "market_data_rejected" for a in alerts)
    assert rejections.alerts == 2


def test_rejections_spread_wider_than_the_window_raise_no_alert() -> None:
    clock = SimulatedClock()
    rejections = MarketDataRejections(clock, threshold=10, window_s=60)

    with capture_logs() as logs:
        _reject(rejections, clock, [7_000 * i for i in range(1, 40)])  # one every 7 s: 9 per minute

    assert not any(e.get("alert") for e in logs)
    assert rejections.counts == {"quote": 39}
