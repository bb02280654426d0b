"""The one matching core of every simulated mode: paper, ``--replay``, ``backtest`` and the Binance emulator.

* ``model.FillModel`` — every fill, latency and queue knob in one place (fees, slippage, latency,
  queue position, partial fills, depth walk).
* ``account.SimAccount`` — the account model: spot balances (free and locked) and the id sequences.
* ``margin.MarginAccount`` — beside it, the account of linear perpetual swaps: wallet, one-way
  positions, marks, order and position margin, funding and liquidation.
* ``core.MatchingCore`` — one market's resting orders and every arrival, matching and settlement rule,
  over any market-data path: discrete quotes, trades and L2 books (``on_market_data``) or bars turned
  into their intrabar path (``bar_hits`` / ``execute``, the rules in ``path``).
* ``orders`` — what every simulated venue says the same way (filters, descriptions, reports, sizing).
"""

from exchanges.sim.account import SimAccount
from exchanges.sim.core import MatchingCore
from exchanges.sim.margin import MarginAccount
from exchanges.sim.model import FillModel

__all__ = ["FillModel", "MarginAccount", "MatchingCore", "SimAccount"]
