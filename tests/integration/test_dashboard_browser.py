"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``) via Selenium.

Rules guarded (issue 14, "Done when"; README, "Dashboard"): the page served by a bot running a paper replay
logs in with the token (the session cookie is HttpOnly), shows positions and orders changing live, and its
Halt button, once confirmed, turns the state HALTED, after which no new order is submitted (the API's submitted
count and the open orders stay as they were); strings from the server are text, never HTML (a halt reason
that is an ``<img onerror>`` shows as text and runs nothing); the token is never in the page. A screenshot is
saved under ``tmp_path`` and, when ``TRADING_BOT_TEST_ARTIFACTS`` is set, in ``tests/artifacts/`` too.

A third test drives an in-process bot in read-only mode: no control is offered, and a RiskManager denial is
listed with its rule.

Without chromium, chromedriver or selenium the tests are skipped locally, and fails in CI (``CI`` set), where
``.ci/run`` installs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import QUOTES
from tests.integration.conftest import ROOT
from tests.integration.conftest import TRADES
from tests.integration.conftest import cli_env

TOKEN = "dashboard-browser-token-0123456789abcdef"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS_ENV = "TRADING_BOT_TEST_ARTIFACTS"
HOSTILE = '<img src=x onerror="window.__xss=1">'  # a halt reason that would run as HTML
QUIET_S = 3.0  # seconds the submitted count must stay put after the halt
REPLAY = ("--strategy", "grid", "--exchange", "binance", "--symbol", "BTC/USDT", "--replay", str(QUOTES),
          "--replay", str(TRADES), "--quantity", "0.001", "--take-profit", "0.02", "--max-orders", "10",
          "--wait-time", "35", "--speed", "15")  # fmt: skip  (11 minutes of data: ~45 s at --speed 15)


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not CHROMEDRIVER.exists():
        return f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, token: str | None = None) -> Any:
    """GET ``url`` (loopback http only) and return its JSON."""
    assert url.startswith("http://127.0.0.1:")
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback http, asserted)
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        return json.load(answer)


def _api(base: str, name: str) -> Any:
    return _get(f"{base}/api/v1/{name}", TOKEN)


@contextlib.contextmanager
def _bot(tmp_path: Path, port: int, args: tuple[str, ...] = REPLAY, **env: str) -> Iterator[subprocess.Popen[str]]:
    log = (tmp_path / "bot.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "runbot.py"), *args, "--monitor", "--monitor-port", str(port),
         "--log-format", "json"],
        cwd=tmp_path, env=cli_env(TRADING_BOT__MONITOR__TOKEN=TOKEN, **env), stdout=log, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                _get(f"http://127.0.0.1:{port}/health")
                break
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def _browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1100", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _save_screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    if os.environ.get(ARTIFACTS_ENV):
        artifacts = ROOT / "tests" / "artifacts"
        artifacts.mkdir(exist_ok=True)
        shutil.copy(path, artifacts / name)
    return path


def _click_row_button(wait: Any, selector: str) -> None:
    """Click what ``selector`` finds, finding it again when the page re-rendered its table in between (the
    rows are rebuilt on every update: a button found just before a refresh is stale by the click)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def attempt(driver: Any) -> bool:
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
        except StaleElementReferenceException:
            return False
        return True

    wait.until(attempt)


def _script_errors(driver: Any) -> list[str]:
    """The page's console errors, less the browser's own lines for an HTTP error status (the 401 before login)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]]  # fmt: skip


def _need_browser() -> None:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(missing)


def _log_in(driver: Any, base: str) -> Any:
    """Open the dashboard, log in with the token, wait for the live feed; return the waiter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 20, poll_frequency=0.1)
    driver.get(base + "/")
    wait.until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(TOKEN)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(ec.visibility_of_element_located((By.ID, "app")))
    wait.until(lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "active")
    wait.until(lambda d: d.find_element(By.ID, "conn").get_attribute("data-mode") == "live")
    return wait


def test_the_dashboard_logs_in_shows_live_changes_and_its_confirmed_halt_stops_new_orders(tmp_path: Path) -> None:
    _need_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with _bot(tmp_path, port) as proc, _browser() as driver:
        assert proc.poll() is None, (tmp_path / "bot.log").read_text()[-3000:]
        try:
            wait = _log_in(driver, base)
            cookies = {c["name"]: c for c in driver.get_cookies()}
            assert cookies["tb_session"]["httpOnly"] is True
            assert cookies["tb_session"]["sameSite"] == "Strict"

            # live updates: the positions row and the open orders both change while the replay trades
            def text(selector: str) -> str:
                return str(driver.find_element(By.CSS_SELECTOR, selector).text)

            first_positions, first_orders = text("#positions tbody"), text("#orders tbody")
            wait.until(lambda _d: text("#positions tbody") != first_positions)
            wait.until(lambda _d: text("#orders tbody") != first_orders)
            assert "binance:BTC/USDT" in text("#positions tbody")

            # halt through the confirmation dialog
            driver.find_element(By.ID, "ctl-halt").click()
            wait.until(ec.visibility_of_element_located((By.ID, "confirm")))
            driver.find_element(By.ID, "confirm-reason").send_keys(HOSTILE)
            driver.find_element(By.ID, "confirm-ok").click()
            wait.until(lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "halted")
            assert driver.find_element(By.ID, "state").text == "HALTED"
            # the reason comes back from the server in the state's reason: shown as text, never run as HTML
            assert HOSTILE in driver.find_element(By.ID, "state-reason").text
            assert driver.execute_script("return window.__xss === undefined")
            assert driver.find_elements(By.CSS_SELECTOR, "#app img") == []
            assert proc.poll() is None, "the replay ended before the halt could be checked"

            submitted = _api(base, "status")["summary"]["orders"]["submitted"]
            open_ids = {o["client_order_id"] for o in _api(base, "orders")}
            time.sleep(QUIET_S)
            assert proc.poll() is None, "the replay ended during the quiet check"
            status = _api(base, "status")
            assert status["trading_state"] == "halted"
            assert status["summary"]["orders"]["submitted"] == submitted, "an order was submitted after the halt"
            assert {o["client_order_id"] for o in _api(base, "orders")} <= open_ids
            rows = driver.find_elements(By.CSS_SELECTOR, "#orders tr[data-coid]")
            shown = {row.get_attribute("data-coid") for row in rows}
            assert shown <= open_ids, "the dashboard shows an order placed after the halt"
            assert "halt: done" in text("#control-result")
            assert TOKEN not in driver.page_source
            assert _script_errors(driver) == []
            shot = _save_screenshot(driver, tmp_path, "dashboard.png")
            assert shot.stat().st_size > 10_000
        except Exception:
            with contextlib.suppress(Exception):
                _save_screenshot(driver, tmp_path, "dashboard-failure.png")
            raise
    log = (tmp_path / "bot.log").read_text()
    assert TOKEN not in log
    assert proc.returncode == 0, log[-3000:]


def test_the_dashboard_shows_every_instrument_and_controls_one_of_them(tmp_path: Path) -> None:
    """Rule: one row per venue:symbol; the filter narrows the orders; a row's Cancel and Flatten act on that
    instrument only; without EventSource the page falls back to polling."""
    _need_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    usdc = tmp_path / "binance_BTCUSDC_quotes_2024-08-08.csv.gz"  # the same quotes as a second symbol
    shutil.copy(QUOTES, usdc)
    args = ("--strategy", "grid", "--exchange", "binance", "--symbol", "BTC/USDT", "--symbol", "BTC/USDC",
            "--replay", str(QUOTES), "--replay", str(TRADES), "--replay", str(usdc), "--quantity", "0.001",
            "--take-profit", "0.02", "--max-orders", "10", "--wait-time", "35", "--speed", "15")  # fmt: skip
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    balances = '{"USDT": 10000, "USDC": 10000}'
    with _bot(tmp_path, port, args, TRADING_BOT__EXCHANGE__PAPER__BALANCES=balances) as proc, _browser() as driver:
        assert proc.poll() is None, (tmp_path / "bot.log").read_text()[-3000:]
        try:
            wait = _log_in(driver, base)
            both = ["binance:BTC/USDT", "binance:BTC/USDC"]

            def rows(selector: str) -> list[str]:
                found = driver.find_elements(By.CSS_SELECTOR, selector)
                return [str(row.get_attribute("data-instrument")) for row in found]

            wait.until(lambda _d: rows("#positions tr[data-instrument]") == both)
            wait.until(lambda _d: set(rows("#orders tr[data-coid]")) == set(both))
            _save_screenshot(driver, tmp_path, "dashboard-two-instruments.png")

            Select(driver.find_element(By.ID, "filter")).select_by_value("binance:BTC/USDC")
            wait.until(lambda _d: rows("#positions tr[data-instrument]") == ["binance:BTC/USDC"])
            wait.until(lambda _d: set(rows("#orders tr[data-coid]")) <= {"binance:BTC/USDC"})

            cancel = 'button[data-action="cancel-all"][data-instrument="binance:BTC/USDC"]'
            _click_row_button(wait, cancel)
            wait.until(ec.visibility_of_element_located((By.ID, "confirm")))
            assert "binance:BTC/USDC" in driver.find_element(By.ID, "confirm-title").text
            driver.find_element(By.ID, "confirm-ok").click()
            wait.until(lambda d: "cancel-all binance:BTC/USDC: done" in d.find_element(By.ID, "control-result").text)
            usdt_orders = [o for o in _api(base, "orders") if o["instrument"] == "binance:BTC/USDT"]
            assert usdt_orders, "the other instrument's orders stay"

            flatten = 'button[data-action="flatten"][data-instrument="binance:BTC/USDC"]'
            _click_row_button(wait, flatten)
            wait.until(ec.visibility_of_element_located((By.ID, "confirm")))
            confirm_text = driver.find_element(By.ID, "confirm-text").text
            assert "Close the position of binance:BTC/USDC at market." in confirm_text
            driver.find_element(By.ID, "confirm-ok").click()
            wait.until(lambda d: "flatten binance:BTC/USDC: done" in d.find_element(By.ID, "control-result").text)
            # one instrument's cancel and flatten restrict no other: the grid releases the exits it lost
            assert _api(base, "status")["trading_state"] == "active"
            log = (tmp_path / "bot.log").read_text()
            assert "strategy_requested_state" not in log
            assert "grid_exit_order_lost" not in log
            assert driver.find_element(By.ID, "state").get_attribute("data-state") == "active"

            # without EventSource the page polls; the session cookie opens it without a new login
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.EventSource;"})
            driver.refresh()
            wait.until(lambda d: d.find_element(By.ID, "conn").get_attribute("data-mode") == "polling")
            assert not driver.find_element(By.ID, "login").is_displayed()
            before = driver.find_element(By.ID, "summary").text
            wait.until(lambda d: d.find_element(By.ID, "summary").text != before)
            assert _script_errors(driver) == []
        except Exception:
            with contextlib.suppress(Exception):
                _save_screenshot(driver, tmp_path, "dashboard-two-instruments-failure.png")
            raise


@pytest.mark.asyncio
async def test_a_read_only_dashboard_shows_no_controls_and_lists_the_last_denial(tmp_path: Path) -> None:
    """Rule: in read-only mode the page offers no control; a RiskManager denial shows with its rule and reason
    (an in-process bot whose script has one order denied by max_order_notional)."""
    _need_browser()
    from selenium.webdriver.common.by import By

    from tests.integration.test_monitor import TOKEN as BOT_TOKEN
    from tests.integration.test_monitor import running_bot

    def drive(base: str) -> tuple[bool, bool, str, str]:
        with _browser() as driver:
            from selenium.webdriver.support.ui import WebDriverWait

            wait = WebDriverWait(driver, 20, poll_frequency=0.1)
            driver.get(base + "/")
            wait.until(lambda d: d.find_element(By.ID, "token").is_displayed())
            driver.find_element(By.ID, "token").send_keys(BOT_TOKEN)
            driver.find_element(By.ID, "login-submit").click()
            wait.until(lambda d: d.find_element(By.ID, "conn").get_attribute("data-mode") == "live")
            wait.until(lambda d: "max_order_notional" in d.find_element(By.CSS_SELECTOR, "#denials tbody").text)
            controls = driver.find_element(By.ID, "controls").is_displayed()
            row_buttons = bool(driver.find_elements(By.CSS_SELECTOR, "#positions button"))
            denials = driver.find_element(By.CSS_SELECTOR, "#denials tbody").text
            by_rule = driver.find_element(By.ID, "denials-by-rule").text
            assert _script_errors(driver) == []
            return controls, row_buttons, denials, by_rule

    async with running_bot(tmp_path, read_only=True) as run:
        controls, row_buttons, denials, by_rule = await asyncio.to_thread(drive, run.base)
    assert controls is False
    assert row_buttons is False
    assert "max_order_notional" in denials
    assert "buy" in denials
    assert "max_order_notional" in by_rule
    assert "1" in by_rule
