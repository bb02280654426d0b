"""``--symbol`` repeated and ``bot.symbols``: the one-line errors a user meets (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import QUOTES
from tests.integration.conftest import run_cli


def _assert_usage_error(proc: object, needle: str) -> None:
    code, err = proc.returncode, proc.stderr  # type: ignore[attr-defined]
    assert code == 2, err
    assert needle in err, err
    assert "Traceback" not in err


def test_ticker_with_several_symbols_is_refused(workdir: Path) -> None:
    proc = run_cli("--replay", str(QUOTES), "--symbol", "BTC/USDT", "--symbol", "ETH/USDT", "--ticker", "BTC",
                   cwd=workdir)  # fmt: skip
    _assert_usage_error(proc, "--ticker BTC with 2 --symbol values")


def test_a_symbol_given_twice_is_refused(workdir: Path) -> None:
    proc = run_cli("--replay", str(QUOTES), "--symbol", "BTC/USDT", "--symbol", "BTC/USDT", cwd=workdir)
    _assert_usage_error(proc, "named twice")


def test_a_malformed_second_symbol_names_itself(workdir: Path) -> None:
    proc = run_cli("--replay", str(QUOTES), "--symbol", "BTC/USDT", "--symbol", "ETHUSDT", cwd=workdir)
    _assert_usage_error(proc, "'ETHUSDT'")


def test_bare_symbols_with_several_venues_must_name_their_venue(workdir: Path) -> None:
    venues = {"spot": {"name": "binance"}, "alt": {"name": "kraken"}}
    config = workdir / "config.json"
    config.write_text(json.dumps({"venues": venues, "bot": {"symbols": ["spot:BTC/USDT", "ETH/USDT"]}}))
    proc = run_cli("--config", str(config), "--paper", cwd=workdir)
    _assert_usage_error(proc, "ETH/USDT names no venue and 2 are configured")


def test_an_unknown_venue_in_a_symbol_gets_did_you_mean(workdir: Path) -> None:
    venues = {"spot": {"name": "binance"}, "alt": {"name": "kraken"}}
    config = workdir / "config.json"
    config.write_text(json.dumps({"venues": venues}))
    proc = run_cli("--config", str(config), "--paper", "--symbol", "spot:BTC/USDT", "--symbol", "spott:ETH/USDT",
                   cwd=workdir)  # fmt: skip
    _assert_usage_error(proc, "did you mean")


def test_a_replay_of_instruments_on_two_venues_is_refused(workdir: Path) -> None:
    venues = {"spot": {"name": "binance"}, "alt": {"name": "binance"}}
    config = workdir / "config.json"
    config.write_text(json.dumps({"venues": venues}))
    proc = run_cli("--config", str(config), "--replay", str(QUOTES), "--symbol", "spot:BTC/USDT",
                   "--symbol", "alt:BTC/USDT", cwd=workdir)  # fmt: skip
    _assert_usage_error(proc, "recorded data replays on one venue")


def test_a_two_leg_strategy_s_unknown_venue_is_reported_under_the_strategy_not_bot_symbol(workdir: Path) -> None:
    proc = run_cli("--strategy", "leg_pair", "--first", "nope:BTC/USDT", "--second", "binance:ETH/USDT",
                   "--quantity", "0.001", "--paper", cwd=workdir)  # fmt: skip
    _assert_usage_error(proc, "strategy leg_pair: its instruments (nope:BTC/USDT, binance:ETH/USDT): unknown venue")
