"""``Market.order_problem``: the one exchange-filter rule (risk, simulators and emulator use it), and
``decimal_text``: the one plain text form of an exact figure."""

from decimal import Decimal

import pytest

from trading_bot.domain import Market
from trading_bot.domain import MarketFilter
from trading_bot.domain import Symbol
from trading_bot.domain import decimal_text

D = Decimal


def _market(**overrides: Decimal | None) -> Market:
    fields: dict[str, Decimal | None] = {
        "price_increment": D("0.01"),
        "amount_increment": D("0.00001"),
        "min_amount": D("0.0001"),
        "max_amount": D("9000"),
        "min_notional": D("5"),
    }
    fields.update(overrides)
    return Market(symbol=Symbol("BTC/USDT"), base="BTC", quote="USDT", **fields)  # type: ignore[arg-type]


def test_order_problem_when_order_fits_every_filter_returns_none() -> None:
    """An order on the grids and within the limits passes."""
    assert _market().order_problem(D("0.001"), D("60000.01")) is None


@pytest.mark.parametrize(
    ("quantity", "price", "trigger", "reference", "which", "reason"),
    [
        ("0.001", "60000.005", None, None, MarketFilter.TICK, "price 60000.005 is not on the tick grid of 0.01"),
        ("0.001", None, "59000.001", None, MarketFilter.TICK,
         "trigger price 59000.001 is not on the tick grid of 0.01"),
        ("0", "60000", None, None, MarketFilter.LOT_STEP, "quantity 0 is not positive"),
        ("0.000015", "60000", None, None, MarketFilter.LOT_STEP,
         "quantity 0.000015 is not a multiple of the lot step 0.00001"),
        ("0.00005", "600000", None, None, MarketFilter.MIN_AMOUNT,
         "quantity 0.00005 is below the minimum amount 0.0001"),
        ("9000.5", "60000", None, None, MarketFilter.MAX_AMOUNT, "quantity 9000.5 is above the maximum amount 9000"),
        ("0.0001", "40000", None, None, MarketFilter.MIN_NOTIONAL, "notional 4 USDT is below the minimum 5 USDT"),
        ("0.0001", None, "40000", None, MarketFilter.MIN_NOTIONAL, "notional 4 USDT is below the minimum 5 USDT"),
        ("0.0001", None, None, "40000", MarketFilter.MIN_NOTIONAL, "notional 4 USDT is below the minimum 5 USDT"),
    ],
    ids=["tick", "trigger-tick", "zero", "lot-step", "min-amount", "max-amount", "notional-limit",
         "notional-trigger", "notional-reference"],
)  # fmt: skip
def test_order_problem_names_the_first_filter_broken_and_its_figures(
    quantity: str, price: str | None, trigger: str | None, reference: str | None, which: MarketFilter, reason: str
) -> None:
    """Each filter is reported with its kind (the emulator maps it to Binance's filter name) and exact figures."""
    breach = _market().order_problem(
        D(quantity),
        None if price is None else D(price),
        None if trigger is None else D(trigger),
        None if reference is None else D(reference),
    )
    assert breach is not None
    assert (breach.filter, breach.reason) == (which, reason)


def test_order_problem_when_no_price_is_known_skips_the_notional() -> None:
    """A market order without a reference price is not refused for its notional (the caller decides)."""
    assert _market().order_problem(D("0.0001")) is None


def test_order_problem_when_the_market_has_no_grids_checks_none() -> None:
    """A zero tick or lot step (a venue that gives none) checks no grid, and no maximum means none."""
    market = _market(price_increment=D(0), amount_increment=D(0), max_amount=None)
    assert market.order_problem(D("123456.123456789"), D("1.23456789")) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [("1E+1", "10"), ("0.0100", "0.01"), ("0E-8", "0"), ("-0", "0"), ("-0.00", "0"), ("-1.50", "-1.5"),
     ("60000.00000000", "60000"), ("0.00000001", "0.00000001")],
)  # fmt: skip
def test_decimal_text_is_plain_without_exponent_or_trailing_zeros(value: str, text: str) -> None:
    """The one text form of an exact figure: no exponent, no trailing zeros, zero (also -0) as "0"."""
    assert decimal_text(D(value)) == text
