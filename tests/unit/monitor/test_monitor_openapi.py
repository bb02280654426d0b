"""``docs/monitor-openapi.yaml`` documents exactly the routes the monitor serves (a guard against drift)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import make_bot
from tests.kit.pipeline import quote
from trading_bot.monitor import MonitorServer
from trading_bot.monitor import MonitorSettings
from trading_bot.monitor.api import ApiContext
from trading_bot.monitor.app import build_app

OPENAPI = Path(__file__).resolve().parents[3] / "docs" / "monitor-openapi.yaml"


def _documented() -> set[tuple[str, str]]:
    routes, path = set(), None
    for line in OPENAPI.read_text(encoding="utf-8").splitlines():
        found = re.fullmatch(r"  (/\S*):", line)
        if found:
            path = found.group(1)
            continue
        method = re.fullmatch(r"    (get|post):.*", line)
        if method and path is not None:
            routes.add((method.group(1).upper(), path))
    return routes


def test_the_openapi_file_lists_every_route_of_the_app_and_no_other() -> None:
    bot, _ = make_bot([quote(1_000, "60000", "60001")], ScriptedStrategy(lambda i, md, s: None))
    server = MonitorServer(MonitorSettings(host="127.0.0.1", port=0, token=SecretStr("x" * 20), read_only=False))
    app = build_app(ApiContext(bot, server.observer, server.auth, None, 5.0), server.metrics)
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert served == _documented()
