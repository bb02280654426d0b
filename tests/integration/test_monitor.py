"""The monitor server over real sockets, against the real supervisor trading on the paper exchange.

Rules guarded (README, "Monitoring and control"): ``/health`` is 200 while the bot trades (an operator's halt
included) and 503 once it is HALTED by a failure; every other route and every control needs the token (401
without, 403 with a wrong one) and read-only mode refuses the controls; a control runs through the bot's
OperatorDesk and is journaled; ``/metrics`` parses and its counters equal the journal's; the session cookie is
HttpOnly and SameSite=Strict; no secret is in any answer; the server binds 127.0.0.1 by default and a port
already taken is refused before the bot starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from risk.config import RiskConfig
from risk.manager import RiskManager
from tests.integration.conftest import run_cli
from tests.kit.pipeline import SYMBOL
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import quote
from trading_bot.config import load_config
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.errors import OperationalError
from trading_bot.log import clear_registered_secrets
from trading_bot.log import register_secret
from trading_bot.monitor import MonitorServer
from trading_bot.monitor import MonitorSettings
from trading_bot.runtime.journal.link import JournalLink
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.supervisor import TradingBot

TOKEN = "monitor-test-token-0123456789abcdef"
API_SECRET = "exchange-api-secret-value-XYZ987"
D = Decimal
READS = ("status", "instruments", "positions", "orders", "fills", "equity", "risk", "config")
CONTROLS = ("halt", "resume", "reduce-only", "cancel-all", "flatten")


class _HoldingSource(ListSource):
    """Plays its events, then keeps the stream open (the bot trades until stopped)."""

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        async for md in super().stream_market_data(symbol):
            yield md
        await asyncio.Event().wait()


def _script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
    """A market buy that fills, a limit buy that rests, and one the RiskManager denies (max_order_notional)."""
    if i == 0:
        return StrategyResult.place(OrderParams(side=OrderSide.BUY, quantity=D("0.001"), order_type=OrderType.MARKET))
    if i == 1:
        return StrategyResult.place(OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("59000")))
    if i == 2:
        return StrategyResult.place(OrderParams(side=OrderSide.BUY, quantity=D("1"), price=D("60000")))
    return None


class Running:
    """A bot trading on the paper exchange with its monitor served on 127.0.0.1 (any free port)."""

    def __init__(self, bot: TradingBot, server: MonitorServer, db_url: str, db_path: Path) -> None:
        self.bot = bot
        self.server = server
        self.db_url = db_url
        self.db_path = db_path
        self.base = f"http://127.0.0.1:{server.port}"

    def auth(self, token: str = TOKEN) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path, *, read_only: bool = False, token: str | None = TOKEN, config: Any = None
) -> AsyncIterator[Running]:
    clock = SimulatedClock()
    events = [quote(1_000 + 1_000 * i, "60000", "60001") for i in range(4)]
    source = _HoldingSource(events, clock)
    exchange = PaperExchange(PaperConfig(balances={"USDT": D(10000)}), clock, source, markets=source.markets)
    db_path = tmp_path / "journal.db"
    db_url = f"sqlite+aiosqlite:///{db_path}"
    settings = MonitorSettings(host="127.0.0.1", port=0, token=None if token is None else SecretStr(token),
                               read_only=read_only)  # fmt: skip
    server = MonitorServer(settings, config, equity_interval_s=0.05)
    server.bind()
    bot = TradingBot(
        bot_id="m1", symbol=SYMBOL, exchange=exchange, strategy=ScriptedStrategy(_script),
        risk=RiskManager(RiskConfig(max_data_age_s=None)), clock=clock, heartbeat_s=0.05,
        journal=JournalLink(db_url, "m1", "hash", venue="paper"), services=[server.serve], on_shutdown="keep",
    )  # fmt: skip
    server.attach(bot)
    running = Running(bot, server, db_url, db_path)
    task = asyncio.create_task(bot.run())
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{running.base}/health") as answer:
                        if answer.status == 200 and len(bot.slots[0].portfolio.fills) == 1 and bot.operator:
                            break
                await asyncio.sleep(0.05)
        yield running
    finally:
        bot.request_stop("test over")
        result = await asyncio.wait_for(task, 30)
        assert result.exit_code in (0, 1), result.reason


async def _get(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, str]:
    async with http.get(url, **kw) as answer:
        return answer.status, await answer.text()


async def _post(http: aiohttp.ClientSession, url: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    async with http.post(url, json=body, **kw) as answer:
        text = await answer.text()
        return answer.status, (await answer.json()) if answer.content_type == "application/json" else text


@pytest.mark.asyncio
async def test_health_is_200_while_trading_and_after_an_operator_halt_503_when_halted_by_a_failure(
    tmp_path: Path,
) -> None:
    """Rule: ready = connected, reconciled, journal writable, not HALTED by a failure (an operator halt passes)."""
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        async with http.get(f"{run.base}/health") as answer:
            body = await answer.json()
            assert answer.status == 200, body
        assert body["connected"] is True
        assert body["reconciled"] is True
        assert body["journal_writable"] is True
        assert body["trading_state"] == "active"
        assert body["data_age_s"] == {"paper:BTC/USDT": 0.0}
        status, _ = await _post(http, f"{run.base}/api/v1/halt", {"reason": "lunch"}, headers=run.auth())
        assert status == 200
        assert (await _get(http, f"{run.base}/health"))[0] == 200  # halted on purpose: still healthy
        run.bot.risk.set_trading_state(TradingState.HALTED, "emergency stop: account loss")
        async with http.get(f"{run.base}/health") as answer:
            body = await answer.json()
            assert answer.status == 503
        assert body["halted_by_failure"] is True
        assert body["status"] == "unavailable"


@pytest.mark.asyncio
async def test_every_route_but_health_needs_the_token_401_without_403_with_a_wrong_one(tmp_path: Path) -> None:
    """Rule: no credential 401 (WWW-Authenticate: Bearer), a wrong one 403, from localhost too; nothing changes."""
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        urls = [f"{run.base}/metrics", f"{run.base}/nowhere"] + [f"{run.base}/api/v1/{r}" for r in READS]
        for url in urls:
            async with http.get(url) as answer:
                assert answer.status == 401, url
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            for wrong in (run.auth("x" * 30), {"Authorization": "Basic abc"}, {"Cookie": "tb_session=forged"}):
                assert (await _get(http, url, headers=wrong))[0] == 403, (url, wrong)
            assert (await _get(http, url, headers=run.auth()))[0] in (200, 404), url
        for control in CONTROLS:
            url = f"{run.base}/api/v1/{control}"
            assert (await _post(http, url, {}))[0] == 401, url
            assert (await _post(http, url, {}, headers=run.auth(TOKEN + "x")))[0] == 403, url
        assert run.bot.risk.trading_state is TradingState.ACTIVE
        assert run.bot.operator.executed == 0


@pytest.mark.asyncio
async def test_halt_through_the_api_halts_the_bot_and_is_journaled_with_who_and_reason(tmp_path: Path) -> None:
    """Rule: a control goes through the OperatorDesk (who = api:<peer>) and lands in operator_actions."""
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        status, outcome = await _post(http, f"{run.base}/api/v1/halt", {"reason": "maintenance"}, headers=run.auth())
        assert status == 200
        assert outcome["ok"] is True
        assert outcome["trading_state"] == "halted"
        assert run.bot.risk.trading_state is TradingState.HALTED
        status, outcome = await _post(http, f"{run.base}/api/v1/halt", {"instrument": "paper:BTC/USDT"},
                                      headers=run.auth())  # fmt: skip
        assert status == 400  # halt is bot-wide
        _, risk = await _get(http, f"{run.base}/api/v1/risk", headers=run.auth())
        assert '"trading_state": "halted"' in risk
    journal = await Journal.open(run.db_url)
    try:
        actions = await journal.operator_actions(bot_id="m1")
    finally:
        await journal.close()
    assert [(a.who, a.action, a.reason, a.ok, a.instrument) for a in actions] == [
        ("api:127.0.0.1", "halt", "maintenance", True, None)
    ]
    listed = run_cli("operator-actions", "--db", str(run.db_path), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(r["who"], r["action"], r["ok"], r["detail"]) for r in json.loads(listed.stdout)] == [
        ("api:127.0.0.1", "halt", True, "trading state halted")
    ]
    table = run_cli("operator-actions", "--db", str(run.db_path))
    assert "api:127.0.0.1  halt" in table.stdout


@pytest.mark.asyncio
async def test_flatten_of_an_unknown_instrument_answers_ok_false_and_flatten_all_closes_the_position(
    tmp_path: Path,
) -> None:
    """Rule: the outcome JSON says what the bot did; an unknown instrument is ok false, nothing traded."""
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        status, outcome = await _post(http, f"{run.base}/api/v1/flatten", {"instrument": "paper:ETH/USDT"},
                                      headers=run.auth())  # fmt: skip
        assert status == 200
        assert outcome["ok"] is False
        assert "unknown instrument" in outcome["detail"]
        assert run.bot.slots[0].portfolio.position.quantity == D("0.001")
        too_long = {"instrument": "x" * 161}  # longer than the audit log's column: refused before the bot sees it
        assert (await _post(http, f"{run.base}/api/v1/cancel-all", too_long, headers=run.auth()))[0] == 400
        status, outcome = await _post(http, f"{run.base}/api/v1/flatten", None, headers=run.auth())
        assert (status, outcome["ok"]) == (200, True), outcome
        assert run.bot.slots[0].portfolio.position.quantity == 0
        assert run.bot.slots[0].tracker.open_orders() == []


@pytest.mark.asyncio
async def test_metrics_parse_and_their_order_fill_and_denial_counters_equal_the_journal(tmp_path: Path) -> None:
    """Rule: /metrics is read from the bot's own state: its counters equal what the journal holds."""
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        for _ in range(100):  # the batching writer commits within a few turns
            if run.bot.journal is not None and run.bot.journal.writer.pending == 0:
                break
            await asyncio.sleep(0.02)
        while run.server.lag.samples == 0:  # the probe's first wake-up (0.25 s)
            await asyncio.sleep(0.05)
        status, text = await _get(http, f"{run.base}/metrics", headers=run.auth())
        assert status == 200
        with sqlite3.connect(f"file:{run.db_path}?mode=ro", uri=True) as conn:
            journal = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                       for t in ("orders", "fills", "risk_decisions")}  # fmt: skip
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    instrument = (("symbol", "BTC/USDT"), ("venue", "paper"))
    assert samples[("trading_bot_fills_total", instrument)] == journal["fills"] == 1
    submitted = (*instrument[:0], ("outcome", "submitted"), *instrument)
    assert samples[("trading_bot_orders_total", tuple(sorted(submitted)))] == journal["orders"] == 2
    assert samples[("trading_bot_denials_total", (("rule", "max_order_notional"),))] == journal["risk_decisions"] == 1
    assert samples[("trading_bot_position", instrument)] == 0.001
    assert samples[("trading_bot_open_orders", instrument)] == 1
    assert samples[("trading_bot_trading_state", (("state", "active"),))] == 1
    assert samples[("trading_bot_info", (("bot_id", "m1"),))] == 1
    assert samples[("trading_bot_venue_up", (("venue", "paper"),))] == 1
    assert samples[("trading_bot_order_round_trip_seconds_count", ())] == 2
    assert samples[("trading_bot_loop_lag_seconds_count", ())] >= 1
    assert samples[("trading_bot_journal_write_seconds_count", ())] >= 1
    assert ("trading_bot_ws_reconnects_total", ()) in samples
    assert ("trading_bot_rate_limit_hits_total", ()) in samples
    assert ("trading_bot_data_age_seconds", instrument) in samples


@pytest.mark.asyncio
async def test_read_only_mode_serves_the_reads_and_refuses_every_control_with_403(tmp_path: Path) -> None:
    """Rule: read_only serves GETs only; without a token the reads are open and the controls still 403."""
    async with running_bot(tmp_path, read_only=True, token=None) as run, aiohttp.ClientSession() as http:
        assert (await _get(http, f"{run.base}/api/v1/positions"))[0] == 200
        for control in CONTROLS:
            assert (await _post(http, f"{run.base}/api/v1/{control}", {}))[0] == 403, control
        assert run.bot.operator.executed == 0


@pytest.mark.asyncio
async def test_login_sets_an_httponly_samesite_strict_session_cookie_that_authorizes_reads_and_controls(
    tmp_path: Path,
) -> None:
    """Rule: POST /api/v1/login with the token gives a random session id (HttpOnly, SameSite=Strict)."""
    jar = aiohttp.CookieJar(unsafe=True)  # aiohttp's client keeps no cookie of an IP host otherwise (browsers do)
    async with running_bot(tmp_path) as run, aiohttp.ClientSession(cookie_jar=jar) as http:
        assert (await _post(http, f"{run.base}/api/v1/login", {"token": "wrong-token-wrong-token"}))[0] == 403
        assert (await _post(http, f"{run.base}/api/v1/login", {}))[0] == 401
        async with http.post(f"{run.base}/api/v1/login", json={"token": TOKEN}) as answer:
            assert answer.status == 200
            cookie = answer.headers["Set-Cookie"]
            body = await answer.text()
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert TOKEN not in cookie
        assert TOKEN not in body
        assert (await _get(http, f"{run.base}/api/v1/orders"))[0] == 200  # the session cookie, no header
        status, outcome = await _post(http, f"{run.base}/api/v1/reduce-only", {"reason": "cookie"})
        assert (status, outcome["trading_state"]) == (200, "reducing")
        assert (await _post(http, f"{run.base}/api/v1/logout"))[0] == 200
        assert (await _get(http, f"{run.base}/api/v1/orders"))[0] == 401


@pytest.mark.asyncio
async def test_no_answer_carries_the_token_or_the_exchange_secret(tmp_path: Path) -> None:
    """Rule: never a secret in a response: config redacted, registered secrets scrubbed from every body."""
    env = {"TRADING_BOT__MONITOR__TOKEN": TOKEN, "TRADING_BOT__EXCHANGE__SECRET": API_SECRET,
           "TRADING_BOT__EXCHANGE__API_KEY": "exchange-api-key-value-ABC"}  # fmt: skip
    config = load_config(None, env=env, dotenv=None)
    for secret in config.secret_values():
        register_secret(secret)
    try:
        async with running_bot(tmp_path, config=config) as run, aiohttp.ClientSession() as http:
            run.bot.risk.set_trading_state(TradingState.REDUCING, f"a reason that echoes {API_SECRET}")
            bodies = [await _get(http, f"{run.base}/health")]
            bodies += [await _get(http, f"{run.base}/metrics", headers=run.auth())]
            bodies += [await _get(http, f"{run.base}/api/v1/{r}", headers=run.auth()) for r in READS]
            bodies += [await _post(http, f"{run.base}/api/v1/{c}", {}, headers=run.auth()) for c in CONTROLS]
            bodies += [await _post(http, f"{run.base}/api/v1/login", {"token": TOKEN})]
            config_body = next(text for status, text in bodies[2:] if '"persistence"' in str(text))
    finally:
        clear_registered_secrets()
    for status, body in bodies:
        assert status in (200, 503), body
        for secret in (TOKEN, API_SECRET, "exchange-api-key-value-ABC"):
            assert secret not in str(body)
    assert '"token": "**********"' in config_body
    assert '"secret": "**********"' in config_body


def _non_loopback_address() -> str | None:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent (UDP connect only picks a route)
        address = str(probe.getsockname()[0])
        if not address.startswith("127.") and address != "0.0.0.0":  # noqa: S104
            return address
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            address = str(info[4][0])
            if not address.startswith("127."):
                return address
    return None


@pytest.mark.asyncio
async def test_the_server_binds_127_0_0_1_by_default_and_is_not_reachable_on_another_address(tmp_path: Path) -> None:
    """Rule: the default host is loopback: a connect to the machine's non-loopback address is refused."""
    from trading_bot.config.monitor import MonitorSection

    assert MonitorSection().host == "127.0.0.1"
    other = _non_loopback_address()
    if other is None:
        pytest.skip("this host has no non-loopback IPv4 address")
    async with running_bot(tmp_path) as run:
        assert run.server.settings.host == "127.0.0.1"
        with pytest.raises((ConnectionRefusedError, TimeoutError)):
            await asyncio.wait_for(asyncio.open_connection(other, run.server.port), 3)


def test_a_port_already_taken_is_a_one_line_operational_error() -> None:
    """Rule: the monitor binds before the bot starts; a taken port fails there, naming the address."""
    first = MonitorServer(MonitorSettings(host="127.0.0.1", port=0, token=SecretStr(TOKEN), read_only=False))
    first.bind()
    try:
        second = MonitorServer(MonitorSettings(host="127.0.0.1", port=first.port, token=None, read_only=True))
        with pytest.raises(OperationalError, match=f"monitor: cannot listen on 127.0.0.1:{first.port}") as info:
            second.bind()
        assert "\n" not in str(info.value)
    finally:
        first.close()


@pytest.mark.asyncio
async def test_the_read_views_show_the_bots_position_orders_fills_equity_and_denials(tmp_path: Path) -> None:
    """Rule: the API reads the bot's own state: one fill, one resting order, one denial, an equity curve."""
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        while not run.server.observer.equity:
            await asyncio.sleep(0.02)

        async def read(path: str) -> Any:
            async with http.get(f"{run.base}/api/v1/{path}", headers=run.auth()) as answer:
                assert answer.status == 200, path
                return await answer.json()

        positions, orders, fills = await read("positions"), await read("orders"), await read("fills?limit=5")
        instruments, equity, risk = await read("instruments"), await read("equity"), await read("risk")
        status = await read("status")
        assert (await _get(http, f"{run.base}/api/v1/fills?limit=x", headers=run.auth()))[0] == 400
        assert (await _get(http, f"{run.base}/api/v1/fills?limit=5000", headers=run.auth()))[0] == 400
    assert [(p["instrument"], p["quantity"], p["fills"]) for p in positions] == [("paper:BTC/USDT", "0.001", 1)]
    assert [(o["side"], o["price"], o["status"]) for o in orders] == [("buy", "59000", "accepted")]
    assert [(f["side"], f["quantity"], f["price"]) for f in fills] == [("buy", "0.001", "60001")]
    assert instruments[0]["kind"] == "spot"
    assert instruments[0]["bid"] == "60000"
    assert equity["points"]
    assert equity["points"][-1]["equity"].replace(".", "").isdigit()
    assert risk["denials_by_rule"] == {"max_order_notional": 1}
    assert risk["recent_denials"][0]["rule"] == "max_order_notional"
    assert status["summary"]["fills"] == 1
    assert status["instruments"] == ["paper:BTC/USDT"]
