"""``optimize --report DIR``: ``report.html`` (opens offline) and ``best.json`` (a config file).

``report.html`` holds Optuna's plotly visualisations of each fold's study (optimisation history, parameter
importances, slices, contour), the top trials in and out of sample and the overfitting figures. plotly.js is
embedded once in the page (as in the backtest report), so it needs no network.

``best.json`` is a complete config (``trading_bot.config``) that ``runbot.py --config best.json`` and
``runbot.py backtest --config best.json`` accept as is: the ``--config`` given to ``optimize`` (or the
defaults) with ``strategy`` set to the winning trial's parameters, ``bot.symbol``, the starting cash, the fee
and the slippage of the trials, and the risk settings the trials ran with (the backtest's relaxed defaults
without ``--config``: tighten them before trading live).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["best_config", "write_html"]


def best_config(
    base: Mapping[str, Any],
    *,
    strategy: str,
    params: Mapping[str, Any],
    symbol: str,
    quote: str,
    cash: str,
    fee: str,
    slippage_bps: str,
    risk: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the config document of the winning trial (see the module docstring)."""
    doc: dict[str, Any] = json.loads(json.dumps(base))
    doc.setdefault("bot", {})["symbol"] = symbol
    exchange = doc.setdefault("exchange", {})
    paper = exchange.setdefault("paper", {})
    paper["balances"] = {quote: cash}
    paper["maker_fee"] = paper["taker_fee"] = fee
    paper["slippage_bps"] = slippage_bps
    doc["strategy"] = {"name": strategy, "params": dict(params)}
    doc["risk"] = dict(risk)
    return doc


def _figures(study: Any) -> list[tuple[str, Any]]:
    from optuna import visualization as vis

    names = sorted({k for t in study.trials for k in t.params})
    plots: list[tuple[str, Any]] = []
    makers: list[tuple[str, Any]] = [("optimisation history", vis.plot_optimization_history),
                                     ("parameter importances", vis.plot_param_importances),
                                     ("slices", vis.plot_slice)]  # fmt: skip
    if len(names) >= 2:
        makers.append(("contour", lambda s: vis.plot_contour(s, params=names[:2])))
    for title, make in makers:
        try:
            plots.append((title, make(study)))
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # too few trials for this plot
            plots.append((title, f"not drawn: {exc}"))
    return plots


def write_html(path: Path, *, title: str, sections: Sequence[tuple[str, Any, str]]) -> Path:
    """Write ``report.html``: per section (heading, study, HTML table text) the four plots and the table."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} "
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} .warn{color:#b00}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]  # fmt: skip
    first = True
    for index, (heading, study, table) in enumerate(sections):
        parts.append(f"<h2>{html.escape(heading)}</h2>{table}")
        for plot_index, (name, figure) in enumerate(_figures(study)):
            parts.append(f"<h3>{html.escape(name)}</h3>")
            if isinstance(figure, str):
                parts.append(f"<p>{html.escape(figure)}</p>")
                continue
            parts.append(figure.to_html(full_html=False, include_plotlyjs=first, div_id=f"f{index}-{plot_index}"))
            first = False
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
