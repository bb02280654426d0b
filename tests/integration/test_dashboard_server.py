"""The dashboard's server side over real sockets: its files and the live feed ``GET /api/v1/stream``.

Rules guarded (README, "Dashboard"): ``/`` and ``/dashboard/*`` are served without a credential, from the
package, with a strict Content-Security-Policy, and load nothing from another origin (the page opens offline);
the JavaScript never writes HTML from strings (no ``innerHTML``); every file of ``monitor/static`` is package
data; the stream needs the token like every read (401 without, 403 with a wrong one), pushes snapshots with no
secret in them, ends when the session is logged out, and does not hold up the bot's stop.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import ROOT
from tests.integration.test_monitor import TOKEN
from tests.integration.test_monitor import running_bot
from trading_bot.monitor import stream
from trading_bot.monitor.dashboard import ASSETS

STATIC = ROOT / "trading_bot" / "monitor" / "static"
SNAPSHOT_KEYS = {"status", "instruments", "positions", "orders", "fills", "risk", "equity_now"}


async def _events(answer: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    """Read ``count`` snapshot events of an open stream."""
    found: list[dict[str, Any]] = []
    event = None
    async for raw in answer.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: ") and event == "snapshot":
            found.append(json.loads(line[len("data: "):]))
            if len(found) == count:
                break
    return found


async def _raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation); return the status and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.asyncio
async def test_the_dashboard_files_are_served_without_a_credential_with_a_strict_csp(tmp_path: Path) -> None:
    """Rule: the page holds no data, so it needs no token; it may load only from its own origin."""
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        async with http.get(f"{run.base}/", allow_redirects=False) as answer:
            assert answer.status == 302
            assert answer.headers["Location"] == "/dashboard/"
        for name, kind in ASSETS.items():
            path = "" if name == "index.html" else name
            async with http.get(f"{run.base}/dashboard/{path}") as answer:
                assert answer.status == 200, name
                assert answer.content_type == kind
                csp = answer.headers["Content-Security-Policy"]
                assert "default-src 'none'" in csp
                assert "script-src 'self'" in csp
                assert "frame-ancestors 'none'" in csp
                assert answer.headers["Cache-Control"] == "no-store"
                assert (await answer.read()) == (STATIC / name).read_bytes()
        async with http.get(f"{run.base}/dashboard/nope.js") as answer:
            assert answer.status == 401  # not one of the files: behind the auth like any unknown path
        for path in ("/dashboard/../api/v1/status", "/dashboard/%2e%2e/api/v1/status", "/dashboard/..%2fapi/v1/status",
                     "/dashboard/../auth.py", "/dashboard/%2e%2e%2fapi.py", "/dashboard//api/v1/status"):  # fmt: skip
            status, body = await _raw_get(run.server.port, path)  # sent as is (a client would normalise it)
            assert status in (400, 401, 404), (path, status)
            assert b"bot_id" not in body, path
            assert b"import" not in body, path
        async with http.get(f"{run.base}/api/v1/nowhere") as answer:
            assert answer.status == 401  # the API's unknown routes stay hidden


def test_the_page_loads_nothing_from_another_origin_and_writes_no_html_from_strings() -> None:
    """Rule: opens offline (no CDN: every src/href is relative or data:), and no innerHTML anywhere."""
    page = (STATIC / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links, "the page links its script and stylesheet"
    for link in links:
        assert not re.match(r"^([a-z]+:)?//", link, re.I) or link.startswith("data:"), link
    for name in ASSETS:
        text = (STATIC / name).read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text
    lines = (STATIC / "dashboard.js").read_text().splitlines()
    script = "\n".join(line for line in lines if not line.lstrip().startswith("//"))  # code, not comments
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage"):
        assert forbidden not in script, forbidden


def test_every_static_file_is_package_data() -> None:
    """Rule: ``pip install .`` ships the dashboard (pyproject's package-data covers monitor/static)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["trading_bot"]
    files = [p.relative_to(ROOT / "trading_bot").as_posix() for p in STATIC.iterdir() if p.is_file()]
    assert set(ASSETS) <= {Path(f).name for f in files}
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in patterns), name


@pytest.mark.asyncio
async def test_the_stream_needs_the_token_pushes_snapshots_without_secrets_and_ends_on_logout(
    tmp_path: Path,
) -> None:
    """Rule: the stream is a read like any other (401/403), each event the API's views; a logout ends it."""
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        url = f"{run.base}/api/v1/stream"
        async with http.get(url) as answer:
            assert answer.status == 401
        async with http.get(url, headers=run.auth("y" * 30)) as answer:
            assert answer.status == 403
        async with http.get(url, headers={"Cookie": "tb_session=forged"}) as answer:
            assert answer.status == 403
        async with http.get(url, headers=run.auth()) as answer:
            assert answer.status == 200
            assert answer.content_type == "text/event-stream"
            assert answer.headers["Cache-Control"] == "no-store"
            began = time.monotonic()
            first, second = await asyncio.wait_for(_events(answer, 2), 10)
            assert 0.5 < time.monotonic() - began < 5  # about one a second
        assert set(first) == SNAPSHOT_KEYS
        assert first["status"]["bot_id"] == "m1"
        assert [p["instrument"] for p in first["positions"]] == ["paper:BTC/USDT"]
        assert first["equity_now"]["equity"]
        assert len(first["fills"]) == 1
        assert TOKEN not in json.dumps([first, second])

        async with http.post(f"{run.base}/api/v1/login", json={"token": TOKEN}) as answer:
            assert answer.status == 200
            session = answer.cookies["tb_session"].value
        cookie = {"Cookie": f"tb_session={session}"}
        async with http.get(url, headers=cookie) as answer:
            assert answer.status == 200
            assert len(await asyncio.wait_for(_events(answer, 1), 10)) == 1
            async with http.post(f"{run.base}/api/v1/logout", headers=cookie) as out:
                assert out.status == 200
            rest = await asyncio.wait_for(answer.content.read(), 10)  # the stream ends by itself
            assert b"event: snapshot" not in rest or rest.count(b"event: snapshot") <= 1


@pytest.mark.asyncio
async def test_open_streams_share_one_snapshot_per_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule: the work per second does not grow with the number of open dashboards (one event made, sent to all)."""
    made: list[float] = []
    real = stream.snapshot

    def counted(ctx: Any, summary: dict[str, Any] | None = None) -> dict[str, Any]:
        made.append(time.monotonic())
        return real(ctx, summary)

    monkeypatch.setattr(stream, "snapshot", counted)
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        url = f"{run.base}/api/v1/stream"
        async with http.get(url, headers=run.auth()) as one, http.get(url, headers=run.auth()) as two:
            await asyncio.wait_for(asyncio.gather(_events(one, 3), _events(two, 3)), 10)
    assert 3 <= len(made) <= 4, made  # 6 events sent, about 3 made (one a second)


@pytest.mark.asyncio
async def test_costly_run_figures_are_taken_less_often_but_the_trading_state_is_always_fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule: the summary (its cost grows with the run's fills) takes at most SUMMARY_BUDGET of the loop; the
    trading state, positions and orders in every event are read when the event is made."""
    monkeypatch.setattr(stream, "SUMMARY_BUDGET", 0.04)  # a 0.1 s summary: taken again after 2.5 s
    async with running_bot(tmp_path) as run, aiohttp.ClientSession() as http:
        taken: list[float] = []
        real = run.bot.snapshot

        def slow() -> dict[str, Any]:
            time.sleep(0.1)  # a long run's trade fingerprint
            taken.append(time.monotonic())
            return real()

        monkeypatch.setattr(run.bot, "snapshot", slow)
        async with http.get(f"{run.base}/api/v1/stream", headers=run.auth()) as answer:
            first = (await asyncio.wait_for(_events(answer, 1), 10))[0]
            assert first["status"]["trading_state"] == "active"
            async with http.post(f"{run.base}/api/v1/halt", json={}, headers=run.auth()) as halted:
                assert halted.status == 200
            later = await asyncio.wait_for(_events(answer, 2), 10)
        assert [e["status"]["trading_state"] for e in later] == ["halted", "halted"]
        assert all(e["status"]["summary"] == first["status"]["summary"] for e in later)
        assert len(taken) == 1, taken  # three events in about 2 s, one summary


@pytest.mark.asyncio
async def test_an_open_stream_does_not_hold_up_the_bots_stop(tmp_path: Path) -> None:
    """Rule: the server's shutdown ends every stream at once (not after aiohttp's shutdown timeout)."""
    async with aiohttp.ClientSession() as http:
        async with running_bot(tmp_path) as run:
            answer = await http.get(f"{run.base}/api/v1/stream", headers=run.auth())
            assert answer.status == 200
            await asyncio.wait_for(_events(answer, 1), 10)
            began = time.monotonic()
        stopped_s = time.monotonic() - began
        rest = await asyncio.wait_for(answer.content.read(), 5)
        answer.release()
        assert stopped_s < 3, stopped_s
        assert rest.count(b"event: snapshot") <= 1
